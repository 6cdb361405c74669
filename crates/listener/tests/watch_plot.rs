//! `listen-watch --plot FILE.svg` (issue 11): real listeners held by this test, a real
//! wrapped command, the picture read back with an XML parser and checked against the
//! summary: queue and backlog per listener, and the wrapped client's `interval` lines
//! (socket-connect's agreed line, printed here by `sh`) as its per-interval panels.

mod util;

use std::os::unix::net::{UnixListener, UnixStream};

use listenlab_common::plot::read::PlotFile;
use nix::sys::signal::Signal;
use util::{Running, run_to_end};

const BIN: &str = env!("CARGO_BIN_EXE_listen-watch");

/// Two interval lines as socket-connect `--interval 100ms --format json` prints them.
const CLIENT: &str = r#"now=$(date +%s%3N)
printf '{"event":"interval","t_ms":100.0,"ts":%s,"interval_ms":100.0,"attempted":10,"connected":8,"failed":2,"errors":{"refused":2},"exchange_failed":0,"exchange_errors":{},"open":8,"connect_latency_us":{"count":8,"p50":20,"p99":90,"max":130},"first_byte_latency_us":null,"complete_latency_us":null}\n' "$now"
printf '{"event":"interval","t_ms":200.0,"ts":%s,"interval_ms":100.0,"attempted":5,"connected":5,"failed":0,"errors":{},"exchange_failed":0,"exchange_errors":{},"open":13,"connect_latency_us":{"count":5,"p50":25,"p99":95,"max":140},"first_byte_latency_us":null,"complete_latency_us":null}\n' "$((now + 100))"
"#;

fn ys(points: &[[f64; 2]]) -> Vec<f64> {
    points.iter().map(|p| p[1]).collect()
}

#[test]
fn the_queue_and_a_wrapped_clients_intervals_are_drawn_as_the_summary_says() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("w.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let _queued: Vec<UnixStream> = (0..3)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    let file = dir.path().join("watch.svg");
    let args = [
        "--format",
        "json",
        "--interval",
        "2ms",
        "--unix",
        sock.to_str().unwrap(),
        "--plot",
        file.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        CLIENT,
    ];
    let out = run_to_end(BIN, &args);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let s = &summary["listeners"][0];

    let plot = PlotFile::read(&file);
    let address = sock.to_str().unwrap();
    let title = plot.figure["title"].as_str().unwrap();
    assert!(
        title.starts_with(&format!("listen-watch: {address}")),
        "{title}"
    );
    let queue = plot.panel(&format!("{address}: accept queue and backlog"));
    let lengths = ys(&PlotFile::points(queue, "accept queue"));
    assert_eq!(
        lengths.iter().copied().fold(0.0, f64::max),
        s["max_queue"].as_f64().unwrap()
    );
    assert_eq!(s["max_queue"], 3);
    let backlog = ys(&PlotFile::points(queue, "backlog"));
    assert!(
        backlog.iter().all(|&b| b == s["backlog"].as_f64().unwrap()),
        "{backlog:?}"
    );
    // Workers as the summary counted them (this test process owns the listener).
    let workers = plot.panel(&format!("{address}: workers"));
    let busy = ys(&PlotFile::points(workers, "busy"));
    assert_eq!(
        busy.iter().copied().fold(0.0, f64::max),
        s["max_busy_workers"].as_f64().unwrap()
    );

    let latency = plot.panel("client: connect latency per interval");
    assert_eq!(ys(&PlotFile::points(latency, "p99")), [90.0, 95.0]);
    assert_eq!(ys(&PlotFile::points(latency, "max")), [130.0, 140.0]);
    let p50 = PlotFile::points(latency, "p50");
    assert!(p50[0][0] < p50[1][0], "{p50:?}");
    // Placed by their unix time on the run's own axis.
    let end = summary["elapsed_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        p50.iter().all(|p| p[0] > -1.0 && p[0] < end + 1.0),
        "{p50:?} {end}"
    );
    let counts = plot.panel("client: connects and failures per interval");
    assert_eq!(ys(&PlotFile::points(counts, "connected")), [8.0, 5.0]);
    assert_eq!(ys(&PlotFile::points(counts, "failed")), [2.0, 0.0]);
    for label in [
        "time since start (s)",
        "connections",
        "workers (processes)",
        "connect latency (µs)",
    ] {
        assert!(plot.has_text(label), "{label}: {:?}", plot.texts);
    }
    drop(listener);
}

#[test]
fn sigint_writes_the_picture_without_client_panels_when_nothing_is_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("w.sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    let file = dir.path().join("watch.svg");
    let args = [
        "--format",
        "json",
        "--unix",
        sock.to_str().unwrap(),
        "--plot",
        file.to_str().unwrap(),
    ];
    let mut w = Running::spawn(BIN, &args, |_| {});
    w.wait_event("listener", |v| v["state"] == "found");
    w.signal(Signal::SIGINT);
    assert!(w.finish().success());
    let plot = PlotFile::read(&file);
    assert!(
        plot.titles().iter().all(|t| !t.starts_with("client")),
        "{:?}",
        plot.titles()
    );
    plot.panel("listen overflows and drops");
}

#[test]
fn plot_paths_that_cannot_be_written_and_once_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("w.sock");
    let _listener = UnixListener::bind(&sock).unwrap();
    let missing = dir.path().join("no/such.svg");
    let ok = dir.path().join("ok.svg");
    for (path, extra, why) in [
        (missing.to_str().unwrap(), None, "does not exist"),
        ("/dev/null", None, "not a regular file"),
        (ok.to_str().unwrap(), Some("--once"), "cannot be used with"),
    ] {
        let mut args = vec!["--unix", sock.to_str().unwrap(), "--plot", path];
        args.extend(extra);
        let out = run_to_end(BIN, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--plot") && stderr.contains(why),
            "{stderr}"
        );
    }
    assert!(!ok.exists());
}
