//! socket-connect on listen-watch's timeline: recognising the wrapped command as
//! socket-connect `--format json`, and reading its stdout lines, the per-interval lines
//! (`{"event":"interval",...}`, printed with its `--interval D`) and the final report (the
//! one object without an `event` field).
//!
//! The interval line is read into common's [`ClientInterval`] (the one reader type of the
//! line, which the `--plot` panels of both tools use too; its writer is the connector's
//! `IntervalSummary`). Parsing is tolerant: a field this version does not know is kept as
//! is ([`ClientInterval::other`]) and passed on, a field the schema marks optional may be
//! missing, and a line that does not parse is an ordinary `command` line, never an error.

use std::ffi::OsString;
use std::path::Path;

pub use listenlab_common::interval::ClientInterval;

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
    use std::collections::BTreeMap;

    use listenlab_common::interval::PhaseInterval as Phase;

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
