//! `socket-connect` against the real `epoll-listen-fork` (needs `cargo test --workspace`,
//! which builds it next to this test). What the connector reports must match what the
//! listener accepted.

mod util;

use std::path::PathBuf;

use util::{Connector, Holding, ListenFork, listen_fork_bin, parse_report, run_json};

/// The listener binary; without it the test is skipped with a note (CI builds it).
fn listener() -> Option<PathBuf> {
    let bin = listen_fork_bin();
    if bin.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "epoll-listen-fork not built; run cargo test --workspace"
        );
        eprintln!("epoll-listen-fork not built (run cargo test --workspace); skipped");
    }
    bin
}

#[test]
fn per_event_listener_accepts_every_tcp_connection() {
    let Some(bin) = listener() else { return };
    let fork = ListenFork::start(
        &bin,
        &[
            "--inet",
            "127.0.0.1:0",
            "--sleep",
            "0",
            "--exit-after",
            "30",
        ],
    );
    let (report, done) = run_json(&["--count", "30", "--inet", &fork.addr, "--hold", "0"]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!(report.connected, 30);
    let summary = fork.summary();
    assert_eq!(summary["accepted"], 30, "{summary}");
}

#[test]
fn ondemand_listener_closes_are_counted_while_holding() {
    let Some(bin) = listener() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fork.sock");
    let fork = ListenFork::start(
        &bin,
        &[
            "--unix",
            path.to_str().unwrap(),
            "--model",
            "ondemand",
            "--max-children",
            "4",
            "--sleep",
            "10ms",
            "--exit-after",
            "20",
        ],
    );
    let mut c = Connector::spawn(&["-n", "20", "--unix", &fork.addr, "--format", "json"]);
    let holding: Holding = serde_json::from_str(&c.next_event_line()).unwrap();
    assert_eq!(holding.open, 20);
    // The listener serves all 20 and exits; by its summary every connection is closed.
    let summary = fork.summary();
    assert_eq!(summary["accepted"], 20, "{summary}");
    c.send_line();
    let done = c.finish();
    let report = parse_report(&done);
    report.check_invariants();
    assert_eq!(report.connected, 20);
    assert_eq!(report.closed_by_peer, 20, "{report:?}");
}

#[test]
fn ondemand_queue_wait_shows_in_first_byte_not_in_connect_latency() {
    // 2 children, each greeting right after accept and serving 1 s: of 6 connections the
    // kernel completes every handshake at once, and the first bytes come at about 0, 1
    // and 2 s, two at a time, as children free up (the wait for a worker, issue 7).
    let Some(bin) = listener() else { return };
    let fork = ListenFork::start(
        &bin,
        &[
            "--inet",
            "127.0.0.1:0",
            "--model",
            "ondemand",
            "--max-children",
            "2",
            "--sleep",
            "1s",
            "--greet",
            "--exit-after",
            "6",
        ],
    );
    let (report, done) = run_json(&[
        "-n",
        "6",
        "--inet",
        &fork.addr,
        "--read",
        "first-byte",
        "--hold",
        "0",
    ]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!(
        (report.connected, report.exchange_failed),
        (6, 0),
        "{report:?}"
    );
    assert_eq!((report.response_bytes, report.response_bytes_max), (6, 1));
    let fb = report.first_byte_latency_us.as_ref().unwrap();
    let connect = &report.connect_latency_us;
    assert_eq!(fb.count, 6, "{report:?}");
    // Generous bounds (both cores may be busy); the groups are 1 s apart by construction:
    // the 3rd and 4th are greeted only after a child served 1 s, the last two after 2 s.
    assert!(fb.min < 900_000, "first group greeted at once: {fb:?}");
    assert!(fb.p50 >= 990_000, "3rd byte waited for a child: {fb:?}");
    assert!(fb.max >= 1_980_000, "last waited for two turns: {fb:?}");
    assert!(fb.p50 < fb.max, "{fb:?}");
    // The handshake is the kernel's: no wait for a worker there.
    assert!(connect.p50 < 100_000, "{connect:?}");
    assert!(connect.max < fb.p50, "{connect:?} vs {fb:?}");
    let summary = fork.summary();
    assert_eq!(summary["accepted"], 6, "{summary}");
}
