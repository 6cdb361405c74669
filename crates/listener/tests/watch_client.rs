//! `listen-watch -- socket-connect ... --format json`: the real socket-connect's report and
//! interval lines on listen-watch's timeline, against a std listener this test holds and
//! never accepts on (so every connection stays in the accept queue).

mod util;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde_json::Value;
use util::run_to_end;

const BIN: &str = env!("CARGO_BIN_EXE_listen-watch");

/// socket-connect, built next to this test's binary by `cargo test --workspace`.
fn socket_connect() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/watch_client-<hash> -> target/<profile>/socket-connect
    let bin = exe.parent()?.parent()?.join("socket-connect");
    if !bin.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "socket-connect not built; run cargo test --workspace"
        );
        eprintln!("socket-connect not built (run cargo test --workspace); skipped");
        return None;
    }
    Some(bin)
}

/// listen-watch `--format FORMAT` on `address` (1 ms samples) wrapping socket-connect
/// with 7 connections paced at 10 per second (about 600 ms of dialing, so several of its
/// intervals have connects), held 300 ms, with `--interval 200ms`.
fn wrapped_run(connect: &Path, address: &str, format: &str) -> (String, i32) {
    let connect = connect.to_str().unwrap();
    let args = [
        "--format",
        format,
        "--interval",
        "1ms",
        "--inet",
        address,
        "--",
        connect,
        "--inet",
        address,
        "--count",
        "7",
        "--rate",
        "10",
        "--hold",
        "300ms",
        "--quiet",
        "--format",
        "json",
        "--interval",
        "200ms",
    ];
    run(&args)
}

/// A finished paced run ([`wrapped_run`]) against a listener of this test.
struct Paced {
    stdout: String,
    address: String,
    _listener: TcpListener,
}

/// The paced run with listen-watch `--format FORMAT`, exit 0 checked; `None` without
/// socket-connect.
fn paced(format: &str) -> Option<Paced> {
    let connect = socket_connect()?;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stdout, code) = wrapped_run(&connect, &address, format);
    assert_eq!(code, 0, "{stdout}");
    Some(Paced {
        stdout,
        address,
        _listener: listener,
    })
}

/// Runs listen-watch with `args` to the end (bounded): its stdout and exit code.
fn run(args: &[&str]) -> (String, i32) {
    let out = run_to_end(BIN, args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    (stdout, out.status.code().unwrap_or(-1))
}

/// Each stdout line as JSON.
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn wrapping_socket_connect_sees_the_queue_reach_the_count() {
    let Some(connect) = socket_connect() else {
        return;
    };
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = l.local_addr().unwrap().to_string();
    let connect = connect.to_str().unwrap();
    let (stdout, code) = run(&[
        "--format",
        "json",
        "--interval",
        "1ms",
        "--inet",
        &address,
        "--",
        connect,
        "--inet",
        &address,
        "--count",
        "7",
        "--hold",
        "200ms",
        "--quiet",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let lines = json_lines(&stdout);
    let text = format!("{lines:#?}");
    // socket-connect's own lines, captured onto the same timeline.
    let report = lines
        .iter()
        .find(|v| v["event"] == "command" && v["output"]["connected"] == 7)
        .unwrap_or_else(|| panic!("no captured report: {text}"));
    assert!(
        lines
            .iter()
            .any(|v| v["event"] == "command" && v["output"]["event"] == "holding"),
        "{text}"
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary", "{text}");
    let s = &summary["listeners"][0];
    assert_eq!(s["max_queue"], 7, "{summary:#}");
    assert_eq!(summary["command_exit_code"], 0);
    // The summary holds the client's report beside the server's queue.
    assert_eq!(summary["client"]["connected"], 7, "{summary:#}");
    assert_eq!(
        summary["client"]["connect_latency_us"]["count"], 7,
        "{summary:#}"
    );
    assert!(report["ts"].as_u64() <= summary["ts"].as_u64(), "{text}");
}

#[test]
fn socket_connect_intervals_sit_beside_the_server_queue_of_the_same_window() {
    let Some(Paced {
        stdout, address, ..
    }) = paced("json")
    else {
        return;
    };
    let lines = json_lines(&stdout);
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary", "{stdout}");
    assert_eq!(summary["listeners"][0]["max_queue"], 7, "{summary:#}");
    // The report join: the client's report beside the server's queue.
    assert_eq!(summary["client"]["connected"], 7, "{summary:#}");
    let windows = summary["client_intervals"].as_array().unwrap();
    let lines_of =
        |event: &str| -> Vec<&Value> { lines.iter().filter(|v| v["event"] == event).collect() };
    // An interval line becomes a client_interval line, not a command line.
    assert!(
        lines_of("command")
            .iter()
            .all(|v| v["output"]["event"] != "interval"),
        "{stdout}"
    );
    let client_lines = lines_of("client_interval");
    assert_eq!(client_lines.len(), windows.len(), "{stdout}");
    // About 600 ms of dialing at 200 ms: three intervals or four; at least two however
    // busy the machine is.
    assert!(windows.len() >= 2, "{summary:#}");
    let connected: u64 = windows
        .iter()
        .map(|w| w["client"]["connected"].as_u64().unwrap())
        .sum();
    assert_eq!(connected, 7, "{summary:#}");
    let mut open_before = 0;
    for w in windows {
        assert_eq!(w["client"]["failed"], 0, "{w:#}");
        // A window holds the samples taken since the previous client line arrived; at a
        // 1 ms interval against 200 ms ones it has some, unless the machine stalls us.
        if let Some(server) = w["listeners"].as_array().unwrap().first() {
            assert_eq!(server["address"], address.as_str(), "{w:#}");
            assert!(server["samples"].as_u64().unwrap() >= 1, "{w:#}");
            // Nothing accepts: the connections open at the end of the previous interval
            // are queued through the whole of this window.
            assert!(
                server["queue_min"].as_u64().unwrap() >= open_before,
                "{open_before} open before: {w:#}"
            );
        }
        open_before = w["client"]["open"].as_u64().unwrap();
        let phase = &w["client"]["connect_latency_us"];
        if phase["count"].as_u64().unwrap() > 0 {
            let (p50, p99, max) = (
                phase["p50"].as_u64(),
                phase["p99"].as_u64(),
                phase["max"].as_u64(),
            );
            assert!(Some(0) < p50 && p50 <= p99 && p99 <= max, "{phase}");
        }
    }
    assert_eq!(open_before, 7, "{summary:#}");
    // Windows in order on listen-watch's clock, each no later than the summary.
    let ts: Vec<u64> = windows.iter().map(|w| w["ts"].as_u64().unwrap()).collect();
    assert!(ts.windows(2).all(|p| p[0] <= p[1]), "{ts:?}");
    assert!(ts.last() <= summary["ts"].as_u64().as_ref(), "{ts:?}");
}

#[test]
fn in_text_mode_socket_connect_lines_pass_through_and_a_client_table_follows() {
    let Some(Paced { stdout, .. }) = paced("text") else {
        return;
    };
    // socket-connect's report, passed on as it printed it, before listen-watch's table.
    let report = stdout
        .lines()
        .position(|l| l.starts_with('{') && l.contains("\"connected\":7"))
        .unwrap_or_else(|| panic!("no report: {stdout}"));
    let table = stdout
        .lines()
        .position(|l| l.starts_with("ADDRESS"))
        .unwrap_or_else(|| panic!("no summary table: {stdout}"));
    assert!(report < table, "{stdout}");
    let heading = "client (socket-connect) per interval";
    let at = stdout.find(heading).unwrap_or_else(|| panic!("{stdout}"));
    let client = &stdout[at..];
    let header = client.lines().nth(1).unwrap();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        &columns[..6],
        &[
            "T_MS",
            "CONNECTED",
            "FAILED",
            "OPEN",
            "CONNECT_P50_US",
            "CONNECT_P99_US"
        ],
        "{client}"
    );
    // One row per interval (one listener), the last with all seven open; the server's
    // queue in a window is at least what was open when the window began.
    let queue_at = columns.iter().position(|c| *c == "QUEUE_MAX").unwrap();
    let rows: Vec<Vec<&str>> = client
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(rows.len() >= 2, "{client}");
    assert_eq!(rows.last().unwrap()[3], "7", "{client}");
    for pair in rows.windows(2) {
        if let Some(queue) = pair[1].get(queue_at).and_then(|q| q.parse::<u64>().ok()) {
            assert!(queue >= pair[0][3].parse().unwrap(), "{client}");
        }
    }
}
