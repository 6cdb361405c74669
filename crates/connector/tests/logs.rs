//! The files a run writes (issue 7): `--hlog`, read back with hdrhistogram's own interval
//! log reader, holds one histogram per interval and phase whose counts add up to the
//! report; `--connections-log` holds one JSON line per connect.

mod util;

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde::Deserialize;
use util::{closed_port, greeter, intervals, run_json};

/// Per tag: the number of interval lines and the sum of their histograms' counts.
fn read_hlog(path: &std::path::Path) -> BTreeMap<String, (usize, u64)> {
    let text = std::fs::read(path).unwrap();
    assert!(
        text.starts_with(b"#[Histogram log format version 1.3]\n"),
        "{}",
        String::from_utf8_lossy(&text)
    );
    let mut tags = BTreeMap::new();
    let (mut start_time, mut base_time) = (false, false);
    for entry in IntervalLogIterator::new(&text) {
        match entry.expect("a well-formed interval log") {
            LogEntry::StartTime(_) => start_time = true,
            LogEntry::BaseTime(_) => base_time = true,
            LogEntry::Interval(h) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(h.encoded_histogram())
                    .unwrap();
                let hist: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut bytes.as_slice())
                    .expect("a V2-compressed histogram");
                let tag = h.tag().expect("every line is tagged").as_str().to_owned();
                let e: &mut (usize, u64) = tags.entry(tag).or_default();
                e.0 += 1;
                e.1 += hist.len();
                assert!(hist.is_empty() || h.max() >= 1.0);
            }
        }
    }
    assert!(start_time && base_time);
    tags
}

#[test]
fn the_hlog_reads_back_with_hdrhistograms_reader_and_matches_the_report() {
    let (_listener, addr) = greeter(b"hello");
    let dir = tempfile::tempdir().unwrap();
    let hlog = dir.path().join("run.hlog");
    let (report, done) = run_json(&[
        "--duration",
        "800ms",
        "-c",
        "2",
        "--inet",
        &addr,
        "--read",
        "close",
        "--interval",
        "200ms",
        "--hlog",
        hlog.to_str().unwrap(),
    ]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    let rows = intervals(&done).len();
    let tags = read_hlog(&hlog);
    let first = report.first_byte_latency_us.as_ref().unwrap().count;
    let complete = report.complete_latency_us.as_ref().unwrap().count;
    let want = BTreeMap::from([
        ("complete".to_owned(), (rows, complete)),
        (
            "connect".to_owned(),
            (rows, report.connect_latency_us.count),
        ),
        ("first_byte".to_owned(), (rows, first)),
    ]);
    assert_eq!(tags, want, "{report:?}");
}

#[test]
fn the_hlog_of_a_connect_only_run_has_only_connect_lines() {
    let (_listener, addr) = greeter(b"");
    let dir = tempfile::tempdir().unwrap();
    let hlog = dir.path().join("run.hlog");
    std::fs::write(&hlog, "an older run, overwritten").unwrap();
    let (report, done) = run_json(&[
        "-n",
        "25",
        "--inet",
        &addr,
        "--hold",
        "0",
        "--hlog",
        hlog.to_str().unwrap(),
    ]);
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        read_hlog(&hlog),
        BTreeMap::from([("connect".to_owned(), (1, 25))]),
        "{report:?}"
    );
}

/// A line of `--connections-log`, as a script would read it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    start_unix_ms: f64,
    outcome: String,
    error: Option<String>,
    connect_us: Option<u64>,
    first_byte_us: Option<u64>,
    complete_us: Option<u64>,
    lag_us: u64,
    bytes: u64,
}

fn read_connections_log(path: &std::path::Path) -> Vec<Line> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

#[test]
fn the_connections_log_has_one_line_per_connect() {
    let (_listener, addr) = greeter(b"hello");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("connections.jsonl");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    let (report, done) = run_json(&[
        "-n",
        "30",
        "--rate",
        "300",
        "--inet",
        &addr,
        "--read",
        "close",
        "--connections-log",
        log.to_str().unwrap(),
    ]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    let lines = read_connections_log(&log);
    assert_eq!(lines.len() as u64, report.attempted, "{report:?}");
    assert_eq!(lines.len(), 30);
    for l in &lines {
        assert_eq!((l.outcome.as_str(), &l.error), ("ok", &None), "{l:?}");
        let (connect, first, complete) = (
            l.connect_us.unwrap(),
            l.first_byte_us.unwrap(),
            l.complete_us.unwrap(),
        );
        assert!(connect <= first && first <= complete, "{l:?}");
        assert_eq!(l.bytes, 5);
        assert!(l.start_unix_ms >= before - 1.0, "{l:?} before {before}");
        assert!(l.lag_us < 10_000_000, "{l:?}");
    }
    // Scheduled starts 1/300 s apart, in order of their connects' ends.
    let mut starts: Vec<f64> = lines.iter().map(|l| l.start_unix_ms).collect();
    starts.sort_by(f64::total_cmp);
    let span = starts[29] - starts[0];
    assert!((90.0..=110.0).contains(&span), "29 gaps of 3.33 ms: {span}");
}

#[test]
fn the_connections_log_names_each_failure() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("connections.jsonl");
    let (report, done) = run_json(&[
        "--duration",
        "200ms",
        "-c",
        "2",
        "--inet",
        &closed_port().to_string(),
        "--connections-log",
        log.to_str().unwrap(),
    ]);
    assert!(done.status.success(), "{done:?}");
    let lines = read_connections_log(&log);
    assert_eq!(lines.len() as u64, report.attempted, "{report:?}");
    assert!(report.failed > 0);
    for l in &lines {
        assert_eq!(
            (l.outcome.as_str(), l.error.as_deref(), l.connect_us),
            ("failed", Some("refused"), None),
            "{l:?}"
        );
    }
}
