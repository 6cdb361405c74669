//! socket-connect's `interval` line as its readers see it (listen-watch's timeline and both
//! tools' `--plot` panels): the fields of `{"event":"interval",...}` that socket-connect
//! `--interval D --format json` prints (its typed writer is the connector's
//! `IntervalSummary`). Reading is tolerant: a field this version does not know is kept in
//! [`ClientInterval::other`], a field the schema marks optional may be missing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One latency phase of one client interval, microseconds; `p50`, `p99` and `max` are
/// `null` when the phase had no sample in the interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseInterval {
    /// Samples in the interval, count.
    pub count: u64,
    /// Median, microseconds.
    pub p50: Option<u64>,
    /// 99th percentile, microseconds.
    pub p99: Option<u64>,
    /// Longest, microseconds.
    pub max: Option<u64>,
}

/// One socket-connect interval line (the agreed schema), without its `event` field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientInterval {
    /// End of the interval, milliseconds since socket-connect's run started.
    pub t_ms: f64,
    /// Unix time at the end of the interval, milliseconds (socket-connect's clock).
    pub ts: u64,
    /// The interval's actual length, milliseconds.
    pub interval_ms: f64,
    /// Connects attempted that completed in this interval, count.
    pub attempted: u64,
    /// Connects that succeeded, count.
    pub connected: u64,
    /// Connects that failed, count.
    pub failed: u64,
    /// Failed connects by kind (only non-zero kinds), count.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Exchanges that failed, count.
    #[serde(default)]
    pub exchange_failed: u64,
    /// Failed exchanges by kind (only non-zero kinds), count.
    #[serde(default)]
    pub exchange_errors: BTreeMap<String, u64>,
    /// Connections open at the end of the interval, count.
    pub open: u64,
    /// Connect latency; `null` when not measured in this run.
    #[serde(default)]
    pub connect_latency_us: Option<PhaseInterval>,
    /// Time to the first byte of the answer; `null` when not measured.
    #[serde(default)]
    pub first_byte_latency_us: Option<PhaseInterval>,
    /// Time to the complete answer; `null` when not measured.
    #[serde(default)]
    pub complete_latency_us: Option<PhaseInterval>,
    /// Any field this version does not know, kept as socket-connect printed it.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl ClientInterval {
    /// The phases that are measured, with their names as in the report.
    pub fn phases(&self) -> [(&'static str, Option<&PhaseInterval>); 3] {
        [
            ("connect", self.connect_latency_us.as_ref()),
            ("first_byte", self.first_byte_latency_us.as_ref()),
            ("complete", self.complete_latency_us.as_ref()),
        ]
    }
}
