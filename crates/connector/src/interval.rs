//! The interval line (`--interval D`): [`IntervalSummary`], what one interval of a run
//! saw, as `socket-connect --format json` prints it on stdout before the final report,
//! one line per interval, in the shape agreed in the issue-7 schema:
//!
//! ```json
//! {"event":"interval","t_ms":1000.2,"ts":1764680000123,"interval_ms":1000.0,
//!  "attempted":120,"connected":118,"failed":2,"errors":{"refused":2},
//!  "exchange_failed":0,"exchange_errors":{},"open":118,
//!  "connect_latency_us":{"count":118,"p50":21,"p99":90,"max":130},
//!  "first_byte_latency_us":null,"complete_latency_us":null}
//! ```
//!
//! Counts are of events that completed inside the interval, so the intervals of a run add
//! up to its report. The collector builds these (`intervals.rs`); the text table is
//! `interval_text.rs`.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::report::{ErrorKind, ExchangeFailure};

/// One interval of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalSummary {
    /// Always `"interval"`: what tells this line from the final report (which has no
    /// `event`) and from the `holding` line. A field, not serde's `tag`, so that reading
    /// a line back with `deny_unknown_fields` accepts it.
    pub event: IntervalEvent,
    /// The end of the interval, in milliseconds since the run started (to the µs).
    pub t_ms: f64,
    /// The end of the interval, in milliseconds since the Unix epoch.
    pub ts: u64,
    /// How long the interval actually lasted, in milliseconds (to the µs): `--interval`,
    /// give or take the timer's lateness; the last one of a run is usually shorter.
    pub interval_ms: f64,
    /// Connects that finished in the interval, either way (`connected + failed`).
    pub attempted: u64,
    /// Connects that succeeded in the interval.
    pub connected: u64,
    /// Connects that failed in the interval.
    pub failed: u64,
    /// The failed connects by kind; only kinds with a count above zero appear.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Exchanges that failed in the interval (their connects may be from an earlier one).
    pub exchange_failed: u64,
    /// The failed exchanges by kind; only kinds with a count above zero appear.
    pub exchange_errors: BTreeMap<ExchangeFailure, u64>,
    /// Connections open at the end of the interval: held, or waiting for their answer.
    pub open: u64,
    /// Connect latencies of the connects that succeeded in the interval, µs (from the
    /// scheduled start under `--rate`, as the report's `connect_latency_us`).
    pub connect_latency_us: IntervalLatency,
    /// First-byte latencies of the answers whose first byte came in the interval, µs;
    /// `null` without `--read`.
    pub first_byte_latency_us: Option<IntervalLatency>,
    /// Complete latencies of the answers that ended in the interval, µs; `null` without
    /// `--read close`.
    pub complete_latency_us: Option<IntervalLatency>,
}

/// The `event` of an interval line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalEvent {
    /// `"interval"`.
    #[default]
    Interval,
}

/// One phase's latencies in one interval, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalLatency {
    /// Number of samples in the interval.
    pub count: u64,
    /// Median, µs; `null` when there was no sample.
    pub p50: Option<u64>,
    /// 99th percentile, µs; `null` when there was no sample.
    pub p99: Option<u64>,
    /// Largest sample, µs; `null` when there was no sample.
    pub max: Option<u64>,
}

impl IntervalLatency {
    /// Summarises one interval's histogram of microsecond samples.
    pub fn from_histogram(hist: &Histogram<u64>) -> Self {
        let some = |v: u64| (!hist.is_empty()).then_some(v);
        Self {
            count: hist.len(),
            p50: some(hist.value_at_quantile(0.50)),
            p99: some(hist.value_at_quantile(0.99)),
            max: some(hist.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IntervalSummary {
        let mut connect = crate::latency::new_histogram();
        for us in [21, 21, 90, 130] {
            connect.record(us).unwrap();
        }
        IntervalSummary {
            event: IntervalEvent::Interval,
            t_ms: 1000.2,
            ts: 1_764_680_000_123,
            interval_ms: 1000.0,
            attempted: 6,
            connected: 4,
            failed: 2,
            errors: BTreeMap::from([(ErrorKind::Refused, 2)]),
            exchange_failed: 0,
            exchange_errors: BTreeMap::new(),
            open: 4,
            connect_latency_us: IntervalLatency::from_histogram(&connect),
            first_byte_latency_us: Some(IntervalLatency::from_histogram(
                &crate::latency::new_histogram(),
            )),
            complete_latency_us: None,
        }
    }

    #[test]
    fn serializes_to_the_agreed_line() {
        assert_eq!(
            serde_json::to_string(&sample()).unwrap(),
            concat!(
                r#"{"event":"interval","t_ms":1000.2,"ts":1764680000123,"interval_ms":1000.0,"#,
                r#""attempted":6,"connected":4,"failed":2,"errors":{"refused":2},"#,
                r#""exchange_failed":0,"exchange_errors":{},"open":4,"#,
                r#""connect_latency_us":{"count":4,"p50":21,"p99":130,"max":130},"#,
                r#""first_byte_latency_us":{"count":0,"p50":null,"p99":null,"max":null},"#,
                r#""complete_latency_us":null}"#
            )
        );
    }

    #[test]
    fn reads_back_and_rejects_unknown_fields() {
        let line = serde_json::to_string(&sample()).unwrap();
        let back: IntervalSummary = serde_json::from_str(&line).unwrap();
        assert_eq!(back, sample());
        let extra = line.replace(r#""open":4"#, r#""open":4,"extra":1"#);
        assert!(serde_json::from_str::<IntervalSummary>(&extra).is_err());
        let other = line.replace(r#""event":"interval""#, r#""event":"holding""#);
        assert!(serde_json::from_str::<IntervalSummary>(&other).is_err());
    }
}
