//! `epoll-listen-fork` end to end, per-event model and safety: the real binary with
//! `--format json`, plain std sockets as clients, and waits on event lines (never sleeps for
//! readiness; every wait is bounded by `util::WAIT`).

mod util;

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;

use listenlab_listener::forker::ForkEvent;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use util::report::ForkSummary;
use util::{Running, gone, run_to_end};

const BIN: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");
/// How the kernel names the children (`comm` is cut to 15 bytes).
const COMM: &str = "epoll-listen-fo";

fn start(args: &[&str]) -> Running {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    Running::start(BIN, &all)
}

/// Per-event over TCP with this trigger, plus `extra`.
fn start_tcp(trigger: &str, extra: &[&str]) -> Running {
    let mut all = vec!["--inet", "127.0.0.1:0", "--trigger", trigger];
    all.extend_from_slice(extra);
    start(&all)
}

fn stop(run: &mut Running) -> ForkSummary {
    run.signal(Signal::SIGTERM);
    let status = run.finish();
    assert!(status.success(), "exit status {status:?}");
    for line in &run.seen[1..run.seen.len() - 1] {
        serde_json::from_value::<ForkEvent>(line.clone())
            .unwrap_or_else(|e| panic!("bad event line {line}: {e}"));
    }
    serde_json::from_value(run.summary()).expect("summary shape")
}

fn total_accepted(v: &Value) -> u64 {
    v["total_accepted"].as_u64().unwrap_or(0)
}

fn child_pids(run: &Running) -> Vec<i32> {
    run.events("fork")
        .iter()
        .map(|f| f["pid"].as_i64().unwrap() as i32)
        .collect()
}

fn assert_adds_up(s: &ForkSummary) {
    assert_eq!(s.counts.check(), Ok(()), "{s:?}");
}

#[test]
fn per_event_edge_forks_exactly_one_child_per_connection() {
    let mut run = start_tcp("edge", &["--sleep", "30s"]);
    let mut clients = Vec::new();
    for n in 1..=5u64 {
        clients.push(TcpStream::connect(&run.addr).unwrap());
        // Spaced: the next connection comes once this one has its child.
        run.wait_event("child_accepted", |v| total_accepted(v) == n);
    }
    let s = stop(&mut run);
    assert_eq!(
        (s.counts.forks, s.counts.accepted, s.counts.wakeups),
        (5, 5, 5),
        "{s:?}"
    );
    assert_eq!(
        (
            s.counts.children_busy_at_exit,
            s.counts.interrupted_connections
        ),
        (5, 5)
    );
    assert_eq!(
        (s.model.as_str(), s.trigger.as_str()),
        ("per-event", "edge")
    );
    assert_eq!(s.stop_reason, "SIGTERM");
    assert_adds_up(&s);
}

/// Five connections at once, held, against per-event level triggering plus `extra`; stops
/// once all five are accepted.
fn five_held_connections_level(extra: &[&str]) -> (Running, ForkSummary) {
    let mut run = start_tcp("level", extra);
    let _clients: Vec<_> = (0..5)
        .map(|_| TcpStream::connect(&run.addr).unwrap())
        .collect();
    run.wait_event("child_accepted", |v| total_accepted(v) == 5);
    let s = stop(&mut run);
    assert_eq!(
        (s.counts.accepted, s.counts.children_busy_at_exit),
        (5, 5),
        "{s:?}"
    );
    assert_adds_up(&s);
    (run, s)
}

#[test]
fn per_event_level_forks_extra_children_and_reports_them_killed_at_exit() {
    let (_, s) = five_held_connections_level(&["--sleep", "30s"]);
    assert!(s.counts.forks >= 5, "{s:?}");
    assert_eq!(
        s.counts.forks,
        s.counts.accepted + s.counts.children_killed_at_exit,
        "{s:?}"
    );
}

#[test]
fn per_event_level_with_nonblocking_accept_counts_extra_children_as_empty() {
    let (run, s) = five_held_connections_level(&["--accept", "nonblocking", "--sleep", "30s"]);
    let extra = s.counts.empty_children + s.counts.children_killed_at_exit;
    assert_eq!(s.counts.forks, s.counts.accepted + extra, "{s:?}");
    assert_eq!(
        run.events("child_empty").len() as u64,
        s.counts.empty_children
    );
}

#[test]
fn per_event_level_at_the_cap_refuses_forks_without_spinning() {
    let mut run = start_tcp("level", &["--max-children", "2", "--sleep", "30s"]);
    let _clients: Vec<_> = (0..4)
        .map(|_| TcpStream::connect(&run.addr).unwrap())
        .collect();
    run.wait_event("child_accepted", |v| total_accepted(v) == 2);
    run.wait_event("refused_fork", |_| true);
    run.wait_event("queue", |v| v["len"] == 2);
    let s = stop(&mut run);
    assert_eq!(
        (s.counts.forks, s.counts.accepted, s.pending_at_exit),
        (2, 2, 2),
        "{s:?}"
    );
    assert_eq!(s.counts.max_concurrent_children, 2);
    // The paused listener is re-armed only when a child changes state: a handful of
    // wakeups, not a spin.
    assert!(
        s.counts.refused_forks >= 1 && s.counts.wakeups < 20,
        "{s:?}"
    );
    assert_adds_up(&s);
}

#[test]
fn sigterm_removes_the_socket_file_and_leaves_no_child() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fork.sock");
    let unix = [
        "--unix",
        path.to_str().unwrap(),
        "--trigger",
        "edge",
        "--sleep",
        "30s",
    ];
    let mut run = start(&unix);
    assert_eq!(run.addr, path.to_str().unwrap());
    let mut clients = Vec::new();
    for n in 1..=3u64 {
        clients.push(UnixStream::connect(&path).unwrap());
        run.wait_event("child_accepted", |v| total_accepted(v) == n);
    }
    let pids = child_pids(&run);
    assert_eq!(pids.len(), 3);
    let s = stop(&mut run);
    assert!(!path.exists(), "socket file left behind");
    assert_eq!(run.events("child_exited").len(), 3);
    for pid in pids {
        assert!(gone(pid, COMM), "child {pid} still exists");
    }
    assert_adds_up(&s);
}

#[test]
fn sigint_stops_the_run_like_sigterm() {
    let mut run = start_tcp("edge", &["--sleep", "30s"]);
    let _client = TcpStream::connect(&run.addr).unwrap();
    run.wait_event("child_accepted", |v| total_accepted(v) == 1);
    run.signal(Signal::SIGINT);
    assert!(run.finish().success());
    let s: ForkSummary = serde_json::from_value(run.summary()).unwrap();
    assert_eq!(s.stop_reason, "SIGINT");
    assert_eq!(
        (
            s.counts.children_busy_at_exit,
            s.counts.interrupted_connections
        ),
        (1, 1)
    );
    assert_adds_up(&s);
}

#[test]
fn a_sigkilled_child_is_reaped_and_reported_with_status_137() {
    let mut run = start_tcp("edge", &["--sleep", "30s"]);
    let _client = TcpStream::connect(&run.addr).unwrap();
    let fork = run.wait_event("fork", |_| true);
    let pid = fork["pid"].as_i64().unwrap() as i32;
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let exited = run.wait_event("child_exited", |v| v["pid"] == pid);
    assert_eq!(exited["status"], 137);
    assert_eq!(exited["outcome"], "died");
    assert!(gone(pid, COMM));
    let s = stop(&mut run);
    assert_eq!((s.counts.forks, s.counts.children_died), (1, 1));
    assert_adds_up(&s);
}

#[test]
fn a_child_killed_from_outside_during_the_stop_is_reported_as_died() {
    let mut run = start_tcp("edge", &["--sleep", "30s"]);
    let _client = TcpStream::connect(&run.addr).unwrap();
    run.wait_event("child_accepted", |v| total_accepted(v) == 1);
    let pid = Pid::from_raw(child_pids(&run)[0]);
    // Stopped, the child cannot act on the parent's SIGTERM; SIGKILL from outside then
    // ends it inside the parent's stop, with a 137 the parent did not send.
    kill(pid, Signal::SIGSTOP).unwrap();
    run.signal(Signal::SIGTERM);
    run.wait_event("stopping", |_| true);
    kill(pid, Signal::SIGKILL).unwrap();
    assert!(run.finish().success());
    let s: ForkSummary = serde_json::from_value(run.summary()).unwrap();
    let exited = run.wait_event("child_exited", |v| v["pid"] == pid.as_raw());
    assert_eq!(
        (exited["status"].as_i64(), exited["outcome"].as_str()),
        (Some(137), Some("died"))
    );
    // It died holding its connection: counted interrupted by the parent, from the slot.
    assert_eq!(
        (
            s.counts.children_died,
            s.counts.children_busy_at_exit,
            s.counts.interrupted_connections
        ),
        (1, 0, 1),
        "{s:?}"
    );
    assert_adds_up(&s);
}

#[test]
fn exit_after_stops_once_that_many_connections_were_accepted() {
    let mut run = start_tcp("edge", &["--sleep", "0", "--exit-after", "3"]);
    for n in 1..=3u64 {
        let _c = TcpStream::connect(&run.addr).unwrap();
        run.wait_event("child_accepted", |v| total_accepted(v) == n);
    }
    let status = run.finish();
    assert!(status.success());
    let s: ForkSummary = serde_json::from_value(run.summary()).unwrap();
    assert_eq!(
        (s.stop_reason.as_str(), s.counts.accepted),
        ("exit-after", 3)
    );
    assert_adds_up(&s);
}

#[test]
fn greet_writes_one_byte_right_after_accept() {
    let mut run = start(&["--inet", "127.0.0.1:0", "--greet", "--sleep", "0"]);
    let mut client = TcpStream::connect(&run.addr).unwrap();
    client.set_read_timeout(Some(util::WAIT)).unwrap();
    let mut byte = [0u8; 1];
    client.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"!");
    run.wait_event("child_exited", |v| v["outcome"] == "completed");
    let s = stop(&mut run);
    assert_eq!(
        (
            s.counts.accepted,
            s.counts.served,
            s.counts.children_completed
        ),
        (1, 1, 1)
    );
}

#[test]
fn duration_ends_the_run_with_a_summary() {
    let mut run = start(&["--inet", "0", "--duration", "200ms"]);
    assert!(run.addr.starts_with("127.0.0.1:"), "{}", run.addr);
    assert!(run.finish().success());
    let s: ForkSummary = serde_json::from_value(run.summary()).unwrap();
    assert_eq!((s.stop_reason.as_str(), s.counts.forks), ("duration", 0));
    assert!(s.elapsed_ms >= 200.0);
}

#[test]
fn summary_has_the_fixed_field_names() {
    let mut run = start(&["--inet", "127.0.0.1:0", "--duration", "0"]);
    run.finish();
    let summary = run.summary();
    for name in [
        "model",
        "trigger",
        "wakeups",
        "events",
        "forks",
        "refused_forks",
        "accepted",
        "empty_children",
        "children_killed_at_exit",
        "max_concurrent_children",
        "max_children_warnings",
        "idle_kills",
        "max_listen_queue",
        "listen_overflows_delta",
        "listen_drops_delta",
        "elapsed_ms",
    ] {
        assert!(
            summary.get(name).is_some(),
            "summary lacks {name}: {summary}"
        );
    }
}

#[test]
fn text_format_starts_with_the_readiness_line() {
    let out = run_to_end(BIN, &["--inet", "127.0.0.1:0", "--duration", "0"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(r#"{"event":"listening","addr":"127.0.0.1:"#),
        "{first}"
    );
    assert!(text.contains("stop_reason"), "{text}");
}

#[test]
fn bad_inputs_exit_2_with_a_message_and_no_output() {
    let long = format!("/tmp/{}", "x".repeat(120));
    let table: &[&[&str]] = &[
        &[],
        &["--unix", "/tmp/a.sock", "--inet", "0"],
        &["--inet", "65536"],
        &["--inet", "127.0.0.1:-1"],
        &["--inet", "nohost"],
        &["--unix", &long],
        &["--inet", "0", "--sleep", "forever"],
        &["--inet", "0", "--duration", "2x"],
        &["--inet", "0", "--max-children", "0"],
        &["--inet", "0", "--max-requests", "2"],
        &["--inet", "0", "--trigger", "sideways"],
        &["--inet", "192.0.2.1:0"],
    ];
    for args in table {
        let out = run_to_end(BIN, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("epoll-listen-fork: error: "),
            "{args:?}: {stderr}"
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?}: stdout {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn a_regular_file_at_the_unix_path_is_refused_and_left_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.txt");
    std::fs::write(&path, b"keep me").unwrap();
    let out = run_to_end(BIN, &["--unix", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

#[test]
fn a_live_socket_is_refused_as_in_use_and_a_stale_one_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.sock");
    let p = path.to_str().unwrap();
    let mut first = start(&["--unix", p]);
    let out = run_to_end(BIN, &["--unix", p]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
    stop(&mut first);
    // A stale socket file (bound, nobody listening) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let mut again = start(&["--unix", p]);
    stop(&mut again);
    assert!(!path.exists());
}

#[test]
fn issue_12_a_unix_run_reports_no_tcp_netstat_deltas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.sock");
    let mut run = start(&["--unix", path.to_str().unwrap(), "--duration", "0"]);
    assert!(run.finish().success());
    let summary = run.summary();
    for name in ["listen_overflows_delta", "listen_drops_delta"] {
        assert!(summary[name].is_null(), "{name} for unix: {summary}");
    }
    // A TCP run still reports them (system-wide counters, as a number).
    let mut run = start(&["--inet", "127.0.0.1:0", "--duration", "0"]);
    assert!(run.finish().success());
    let summary = run.summary();
    assert!(summary["listen_overflows_delta"].is_u64(), "{summary}");
}

#[test]
fn issue_12_a_socket_bound_but_not_listening_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bound.sock");
    // Bound by this process, never listened on: connects are refused as for a stale file,
    // but the socket is alive.
    let fd = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    let addr = nix::sys::socket::UnixAddr::new(&path).unwrap();
    nix::sys::socket::bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).unwrap();
    let out = run_to_end(BIN, &["--unix", path.to_str().unwrap(), "--duration", "0"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bound by another process"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        std::fs::symlink_metadata(&path).is_ok(),
        "the live socket's file was deleted"
    );
    drop(fd);
}

#[test]
fn issue_12_a_backlog_above_4096_reaches_the_kernel_and_is_reported() {
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for args in [
        ["--inet", "127.0.0.1:0"],
        ["--unix", ""], // filled in below
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.sock");
        let mut args = args.to_vec();
        if args[0] == "--unix" {
            args[1] = path.to_str().unwrap();
        }
        args.extend(["--backlog", "100000", "--duration", "0"]);
        let mut run = start(&args);
        assert!(run.finish().success(), "{}", run.stderr_so_far());
        let s: ForkSummary = serde_json::from_value(run.summary()).unwrap();
        assert_eq!(s.backlog_requested, 100_000);
        // The kernel caps it at somaxconn, as read back from the kernel.
        assert_eq!(
            s.backlog_effective,
            Some(somaxconn.min(100_000)),
            "{args:?}"
        );
    }
}

#[test]
fn issue_12_a_failed_report_write_names_stdout_once() {
    let out = std::process::Command::new(BIN)
        .args(["--inet", "127.0.0.1:0", "--duration", "0"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("writing the report to stdout"), "{stderr}");
}

#[test]
fn issue_12_a_failed_bind_names_the_address_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("s.sock");
    let p = path.to_str().unwrap();
    let out = run_to_end(BIN, &["--unix", p, "--duration", "0"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(stderr.matches(p).count(), 1, "{stderr}");
    assert!(!stderr.contains("--backlog"), "{stderr}");
}

#[test]
fn issue_12_exit_after_stops_accepting_at_the_count() {
    for model in [
        &["--model", "per-event"][..],
        &["--model", "ondemand", "--max-children", "8"][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.sock");
        let mut args = vec!["--unix", path.to_str().unwrap(), "--sleep", "0"];
        args.extend(["--exit-after", "100", "--backlog", "400"]);
        args.extend_from_slice(model);
        let mut run = start(&args);
        // A storm well past the count: before the fix, children went on accepting while
        // the parent noticed the count (103-104 of 100).
        let _clients = util::unix_burst(&path, 300);
        assert!(run.finish().success(), "{}", run.stderr_so_far());
        let s: ForkSummary = serde_json::from_value(run.summary()).unwrap();
        assert_eq!(
            (s.stop_reason.as_str(), s.counts.accepted),
            ("exit-after", 100),
            "{model:?}: {s:?}"
        );
        assert_adds_up(&s);
    }
}
