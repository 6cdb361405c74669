//! socket-connect on listen-watch's timeline: recognising the wrapped command as
//! socket-connect `--format json`, and reading its stdout lines, the per-interval lines
//! (`{"event":"interval",...}`, printed with its `--interval D`) and the final report (the
//! one object without an `event` field).
//!
//! The interval line is parsed against the schema the connector and listen-watch agreed
//! on (its typed form is the connector's `IntervalSummary`; listen-watch does not link the
//! tokio crate, so the fields are read here). Parsing is tolerant: a field this version
//! does not know is kept as is ([`ClientInterval::other`]) and passed on, a field the
//! schema marks optional may be missing, and a line that does not parse is an ordinary
//! `command` line, never an error.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The program name that marks the wrapped command as socket-connect.
const SOCKET_CONNECT: &str = "socket-connect";

/// True when `command` (program and arguments) is socket-connect with `--format json`:
/// then its stdout is captured, also in text mode, for the client table.
pub fn is_socket_connect_json(command: &[OsString]) -> bool {
    let Some((program, args)) = command.split_first() else {
        return false;
    };
    if Path::new(program).file_name() != Some(SOCKET_CONNECT.as_ref()) {
        return false;
    }
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    // The last --format wins, as clap takes it.
    let format = args.iter().enumerate().rev().find_map(|(i, a)| match *a {
        "--format" => args.get(i + 1).copied(),
        _ => a.strip_prefix("--format="),
    });
    format == Some("json")
}

/// One latency phase of one client interval, microseconds; `p50`, `p99` and `max` are
/// `null` when the phase had no sample in the interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub connect_latency_us: Option<Phase>,
    /// Time to the first byte of the answer; `null` when not measured.
    #[serde(default)]
    pub first_byte_latency_us: Option<Phase>,
    /// Time to the complete answer; `null` when not measured.
    #[serde(default)]
    pub complete_latency_us: Option<Phase>,
    /// Any field this version does not know, kept as socket-connect printed it.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl ClientInterval {
    /// The phases that are measured, with their names as in the report.
    pub fn phases(&self) -> [(&'static str, Option<&Phase>); 3] {
        [
            ("connect", self.connect_latency_us.as_ref()),
            ("first_byte", self.first_byte_latency_us.as_ref()),
            ("complete", self.complete_latency_us.as_ref()),
        ]
    }
}

/// What one captured line of socket-connect is.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientLine {
    /// An interval line.
    Interval(Box<ClientInterval>),
    /// Its final report: a JSON object without an `event` field.
    Report(serde_json::Value),
    /// Any other JSON (its `holding` line, or an interval line that does not parse).
    Json(serde_json::Value),
    /// Not JSON.
    Text(String),
}

/// Reads one stdout line of the wrapped command.
pub fn classify(text: &str) -> ClientLine {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return ClientLine::Text(text.to_owned());
    };
    let Some(object) = value.as_object() else {
        return ClientLine::Json(value);
    };
    match object.get("event").and_then(|e| e.as_str()) {
        None => ClientLine::Report(value),
        Some("interval") => {
            let mut object = object.clone();
            object.remove("event");
            match serde_json::from_value::<ClientInterval>(object.into()) {
                Ok(interval) => ClientLine::Interval(Box::new(interval)),
                Err(_) => ClientLine::Json(value),
            }
        }
        Some(_) => ClientLine::Json(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema's own example, with a phase not measured and one without samples.
    const LINE: &str = r#"{"event":"interval","t_ms":1000.2,"ts":1764680000123,"interval_ms":1000.0,"attempted":120,"connected":118,"failed":2,"errors":{"refused":2},"exchange_failed":0,"exchange_errors":{},"open":118,"connect_latency_us":{"count":118,"p50":21,"p99":90,"max":130},"first_byte_latency_us":{"count":0,"p50":null,"p99":null,"max":null},"complete_latency_us":null}"#;

    #[test]
    fn reads_the_agreed_interval_line() {
        let ClientLine::Interval(i) = classify(LINE) else {
            panic!("not an interval: {LINE}");
        };
        assert_eq!(
            (i.t_ms, i.ts, i.interval_ms),
            (1000.2, 1764680000123, 1000.0)
        );
        assert_eq!(
            (i.attempted, i.connected, i.failed, i.open),
            (120, 118, 2, 118)
        );
        assert_eq!(i.errors, BTreeMap::from([("refused".to_owned(), 2)]));
        assert_eq!(i.exchange_failed, 0);
        let connect = Phase {
            count: 118,
            p50: Some(21),
            p99: Some(90),
            max: Some(130),
        };
        assert_eq!(i.connect_latency_us, Some(connect));
        let empty = Phase {
            count: 0,
            p50: None,
            p99: None,
            max: None,
        };
        assert_eq!(i.first_byte_latency_us, Some(empty));
        assert_eq!(i.complete_latency_us, None);
        assert!(i.other.is_empty(), "{:?}", i.other);
    }

    #[test]
    fn keeps_unknown_fields_and_tolerates_missing_optional_ones() {
        let line = r#"{"event":"interval","t_ms":500,"ts":1,"interval_ms":500,"attempted":1,"connected":1,"failed":0,"open":1,"connect_latency_us":{"count":1,"p50":5,"p99":5,"max":5},"lag_us":{"p50":3},"new_kind":7}"#;
        let ClientLine::Interval(i) = classify(line) else {
            panic!("not an interval: {line}");
        };
        assert_eq!(i.other["new_kind"], 7);
        assert_eq!(i.other["lag_us"]["p50"], 3);
        assert!(i.errors.is_empty() && i.first_byte_latency_us.is_none());
        // Passed on with the unknown fields, without the event tag.
        let back = serde_json::to_value(&*i).unwrap();
        assert_eq!(back["new_kind"], 7);
        assert!(back.get("event").is_none());
    }

    #[test]
    fn tells_the_report_and_other_lines_apart() {
        let report = r#"{"attempted":9,"connected":9,"connect_latency_us":{"count":9}}"#;
        assert!(matches!(classify(report), ClientLine::Report(_)));
        assert!(matches!(
            classify(r#"{"event":"holding","open":9}"#),
            ClientLine::Json(_)
        ));
        // An interval line this version cannot read (a count that is not a number) stays
        // a plain JSON line.
        let broken = r#"{"event":"interval","t_ms":1,"ts":1,"interval_ms":1,"attempted":"x","connected":0,"failed":0,"open":0}"#;
        assert!(matches!(classify(broken), ClientLine::Json(_)));
        assert_eq!(classify("hi"), ClientLine::Text("hi".to_owned()));
    }

    #[test]
    fn recognises_socket_connect_with_json_output() {
        let cmd = |args: &[&str]| -> Vec<OsString> { args.iter().map(OsString::from).collect() };
        assert!(is_socket_connect_json(&cmd(&[
            "/x/socket-connect",
            "--count",
            "9",
            "--format",
            "json"
        ])));
        assert!(is_socket_connect_json(&cmd(&[
            "socket-connect",
            "--format=json"
        ])));
        assert!(!is_socket_connect_json(&cmd(&[
            "socket-connect",
            "--count",
            "9"
        ])));
        assert!(!is_socket_connect_json(&cmd(&[
            "socket-connect",
            "--format",
            "json",
            "--format",
            "text"
        ])));
        assert!(!is_socket_connect_json(&cmd(&["sh", "--format", "json"])));
        assert!(!is_socket_connect_json(&[]));
    }
}
