//! The connect phase against listeners made in the test: counts match what the listener
//! saw, failures are classified, latencies are ordered, options take effect.

mod util;

use std::collections::BTreeSet;

use util::{
    Errors, closed_port, drain_tcp, drain_unix, parse_report, run, run_json, socket_path,
    tcp_listener, unix_listener,
};

#[test]
fn tcp_connections_match_what_the_listener_accepted() {
    let listener = tcp_listener(1024);
    let addr = listener.local_addr().unwrap().to_string();
    let (report, done) = run_json(&["--count", "500", "--inet", &addr]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!(report.target, addr);
    assert_eq!(report.transport, "tcp");
    assert_eq!(
        (report.attempted, report.connected, report.failed),
        (500, 500, 0)
    );
    assert_eq!(drain_tcp(&listener).len(), 500);
    assert!(
        report.elapsed_ms > 0.0 && report.connect_rate_per_s > 0.0,
        "{report:?}"
    );
    assert_eq!(report.concurrency, 128);
    assert_eq!(report.timeout_ms, 5000);
    assert_eq!(report.target_rate_per_s, None);
    assert!(!report.interrupted);
}

#[test]
fn unix_connections_match_what_the_listener_accepted() {
    let (_dir, path) = socket_path();
    let listener = unix_listener(&path, 512);
    let path = path.to_str().unwrap();
    let (report, done) = run_json(&["--count", "300", "--unix", path, "--hold", "0"]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!(
        (report.target.as_str(), report.transport.as_str()),
        (path, "unix")
    );
    assert_eq!(report.connected, 300);
    assert_eq!(drain_unix(&listener), 300);
}

#[test]
fn ipv6_loopback_works_when_available() {
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let addr = listener.local_addr().unwrap().to_string();
    let (report, _) = run_json(&["--count", "5", "--inet", &addr, "--hold", "0"]);
    assert_eq!(report.connected, 5);
    assert!(report.target.starts_with("[::1]:"), "{}", report.target);
    // IP_BIND_ADDRESS_NO_PORT is a SOL_IP option that IPv6 TCP sockets take too.
    let args = ["-n", "4", "--inet", &addr, "--source", "::1", "--hold", "0"];
    let (report, _) = run_json(&args);
    assert_eq!(
        (report.connected, report.source_addresses),
        (4, 1),
        "{report:?}"
    );
}

#[test]
fn a_closed_port_is_refused_and_the_run_still_succeeds() {
    let addr = closed_port().to_string();
    let (report, done) = run_json(&["--count", "4", "--inet", &addr]);
    assert!(
        done.status.success(),
        "failed connects are report data: {done:?}"
    );
    report.check_invariants();
    assert_eq!(report.connected, 0);
    assert_eq!(
        report.errors,
        Errors {
            refused: 4,
            ..Errors::default()
        }
    );
    assert_eq!(report.connect_latency_us.count, 0);
}

#[test]
fn require_all_exits_1_when_a_connect_fails() {
    let addr = closed_port().to_string();
    let (report, done) = run_json(&["-n", "2", "--inet", &addr, "--require-all"]);
    assert_eq!(done.status.code(), Some(1));
    assert_eq!(report.errors.refused, 2);
    let listener = tcp_listener(16);
    let addr = listener.local_addr().unwrap().to_string();
    let (_, done) = run_json(&["-n", "2", "--inet", &addr, "--require-all", "--hold", "0"]);
    assert_eq!(done.status.code(), Some(0));
    assert!(!done.stderr.contains("--require-all"), "{}", done.stderr);
}

#[test]
fn issue_12_require_all_says_in_one_line_why_it_exits_1() {
    // Once exit 1 with nothing on stderr.
    let addr = closed_port().to_string();
    let (_, done) = run_json(&["-n", "3", "--inet", &addr, "--require-all"]);
    assert_eq!(done.status.code(), Some(1), "{done:?}");
    assert_eq!(
        done.stderr,
        "socket-connect: --require-all: 0 of 3 connected; 3 failed (refused 3)\n"
    );
}

#[test]
fn full_unix_backlog_counts_would_block() {
    let (_dir, path) = socket_path();
    let _listener = unix_listener(&path, 1); // never accepts
    let path = path.to_str().unwrap();
    let (report, done) = run_json(&["--count", "6", "--unix", path, "--hold", "0"]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert!(
        report.connected >= 1,
        "the queue takes the first ones: {report:?}"
    );
    assert!(report.errors.would_block >= 1, "{report:?}");
    assert_eq!(
        report.connected + report.errors.would_block,
        6,
        "{report:?}"
    );
}

/// Runs `args` (which make `n` connects against a listener that never accepts) and checks
/// that the connects the queue held succeeded and every other one timed out.
fn run_until_queue_full(args: &[&str], n: u64) -> util::Report {
    let (report, done) = run_json(args);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert!(report.connected >= 1, "{report:?}");
    assert!(report.errors.timeout >= 1, "{report:?}");
    assert_eq!(report.connected + report.errors.timeout, n, "{report:?}");
    report
}

#[test]
fn full_unix_backlog_times_out_when_waiting_for_it() {
    let (_dir, path) = socket_path();
    let _listener = unix_listener(&path, 1);
    let path = path.to_str().unwrap();
    let args = [
        "-n",
        "6",
        "--unix",
        path,
        "--wait-for-backlog",
        "--timeout",
        "200ms",
        "--hold",
        "0",
    ];
    let report = run_until_queue_full(&args, 6);
    assert!(report.elapsed_ms >= 200.0, "{report:?}");
}

#[test]
fn full_tcp_accept_queue_times_out() {
    // Linux drops a SYN while the accept queue is full, so those connects hang until
    // --timeout. The queue holds backlog + 1.
    let listener = tcp_listener(1);
    let addr = listener.local_addr().unwrap().to_string();
    let args = [
        "-n",
        "6",
        "--inet",
        &addr,
        "--timeout",
        "300ms",
        "--hold",
        "0",
    ];
    run_until_queue_full(&args, 6);
}

#[test]
fn source_addresses_are_used_round_robin() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let args = [
        "-n",
        "10",
        "--inet",
        &addr,
        "--source",
        "127.0.0.2,127.0.0.3",
        "--hold",
        "0",
    ];
    let (report, done) = run_json(&args);
    assert!(done.status.success(), "{done:?}");
    assert_eq!((report.connected, report.source_addresses), (10, 2));
    let peers = drain_tcp(&listener);
    assert_eq!(peers.len(), 10);
    let ips: BTreeSet<String> = peers.iter().map(|(_, a)| a.ip().to_string()).collect();
    let want: BTreeSet<String> = ["127.0.0.2", "127.0.0.3"].map(String::from).into();
    assert_eq!(ips, want);
}

#[test]
fn source_range_form_is_accepted() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let args = [
        "-n",
        "8",
        "--inet",
        &addr,
        "--source",
        "127.0.0.2-127.0.0.5",
        "--hold",
        "0",
    ];
    let (report, _) = run_json(&args);
    assert_eq!((report.connected, report.source_addresses), (8, 4));
    assert_eq!(drain_tcp(&listener).len(), 8);
}

#[test]
fn a_timeout_of_a_year_still_connects() {
    // The longest --timeout accepted; a longer one once overflowed `Instant` in every dial
    // task, which reported 0 attempted with exit 0.
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let args = [
        "-n",
        "3",
        "--timeout",
        "365d",
        "--inet",
        &addr,
        "--hold",
        "0",
    ];
    let (report, done) = run_json(&args);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!((report.attempted, report.connected), (3, 3), "{report:?}");
    assert_eq!(report.timeout_ms, 365 * 24 * 3600 * 1000);
}

#[test]
fn issue_12_a_datagram_unix_target_names_the_errno() {
    // A stream connect to a SOCK_DGRAM socket fails with EPROTOTYPE; once counted as
    // `other` with no errno anywhere in the report.
    let (_dir, path) = socket_path();
    let _dgram = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let path = path.to_str().unwrap();
    let (report, done) = run_json(&["-n", "3", "--unix", path]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!((report.failed, report.errors.other), (3, 3), "{report:?}");
    assert_eq!(
        report.other_errors,
        std::collections::BTreeMap::from([("EPROTOTYPE".to_owned(), 3)])
    );
    let done = run(&["-n", "3", "--unix", path]);
    let errors = done
        .stdout
        .iter()
        .find(|l| l.starts_with("errors"))
        .unwrap();
    assert!(errors.ends_with("other 3 (EPROTOTYPE 3)"), "{errors}");
}

#[test]
fn issue_12_the_shortest_timeouts_are_reported_as_applied() {
    // The timer counts whole milliseconds: 1ms is 1, 1.5ms fires at 2 (once shown as 1).
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    for (timeout, ms) in [("1ms", 1), ("1500us", 2)] {
        let args = ["--timeout", timeout, "--inet", &addr, "--hold", "0"];
        let (report, done) = run_json(&args);
        assert!(done.status.success(), "{done:?}");
        assert_eq!(report.timeout_ms, ms, "{timeout}: {report:?}");
    }
}

#[test]
fn rate_spaces_the_connects_on_a_schedule() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let args = ["-n", "11", "--rate", "200", "--inet", &addr, "--hold", "0"];
    let (report, _) = run_json(&args);
    report.check_invariants();
    assert_eq!(report.connected, 11);
    assert_eq!(report.target_rate_per_s, Some(200.0));
    // The last of 11 is scheduled 10 x 5 ms after the first.
    assert!(report.elapsed_ms >= 50.0, "{report:?}");
}

#[test]
fn concurrency_is_reported_and_capped_by_count() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let (report, _) = run_json(&["-n", "20", "-c", "4", "--inet", &addr, "--hold", "0"]);
    assert_eq!((report.connected, report.concurrency), (20, 4));
    let (report, _) = run_json(&["-n", "3", "-c", "50", "--inet", &addr, "--hold", "0"]);
    assert_eq!((report.connected, report.concurrency), (3, 3));
}

#[test]
fn hgrm_file_holds_the_distribution() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("connect.hgrm");
    let args = [
        "-n",
        "50",
        "--inet",
        &addr,
        "--hold",
        "0",
        "--hgrm",
        file.to_str().unwrap(),
    ];
    let (report, _) = run_json(&args);
    assert_eq!(report.connected, 50);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.trim_start().starts_with("Value"), "{text}");
    assert!(text.contains("Total count    =           50]"), "{text}");
}

#[test]
fn text_report_is_a_readable_table() {
    let listener = tcp_listener(64);
    let addr = listener.local_addr().unwrap().to_string();
    let done = run(&["-n", "7", "--inet", &addr, "--hold", "0"]);
    assert!(done.status.success(), "{done:?}");
    let text = done.stdout.join("\n");
    for want in [
        format!("target         {addr} (tcp)"),
        "connects       7 attempted, 7 connected, 0 failed".to_owned(),
        "errors         none".to_owned(),
        "latency        min ".to_owned(),
        "held           0 ms, 0 closed by peer".to_owned(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn names_are_resolved_once() {
    let listener = tcp_listener(64);
    let port = listener.local_addr().unwrap().port();
    let target = format!("localhost:{port}");
    let (report, _) = run_json(&["-n", "3", "--inet", &target, "--hold", "0"]);
    assert_eq!(report.target, format!("127.0.0.1:{port}"));
    assert_eq!(report.connected, 3);
}

#[test]
fn port_range_warning_names_the_fix() {
    // One connect more than half of this machine's port range, to one closed port: warned
    // before dialing; the connects themselves fail fast.
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let (low, high) = match range.split_whitespace().collect::<Vec<_>>()[..] {
        [low, high] => (low.parse::<u64>().unwrap(), high.parse::<u64>().unwrap()),
        _ => panic!("unreadable ip_local_port_range {range:?}"),
    };
    let ports = high - low + 1;
    let n = (ports / 2).max(1) + 1;
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    // socket-connect's RESERVED_FDS: it refuses a --count above the hard limit minus 32.
    if n + 32 > hard {
        eprintln!(
            "port_range_warning_names_the_fix skipped: -n {n} (half of the port range \
             {low}-{high}, plus one) does not fit the hard open-file limit {hard}"
        );
        return;
    }
    let addr = closed_port().to_string();
    let n_arg = n.to_string();
    let done = run(&[
        "-n", &n_arg, "-c", "64", "--inet", &addr, "--hold", "0", "--format", "json",
    ]);
    assert!(done.status.success(), "{done:?}");
    let warning = format!("socket-connect: warning: {n} connections to {addr}");
    assert!(done.stderr.contains(&warning), "{}", done.stderr);
    assert!(
        done.stderr.contains("--source 127.0.0.2-127.0.0.3"),
        "{}",
        done.stderr
    );
    let report = parse_report(&done);
    report.check_invariants();
    assert_eq!((report.attempted, report.failed), (n, n), "{report:?}");
}

#[test]
fn current_thread_runtime_gives_the_same_counts() {
    let listener = tcp_listener(1024);
    let addr = listener.local_addr().unwrap().to_string();
    let (report, _) = run_json(&[
        "-n",
        "400",
        "--threads",
        "1",
        "--inet",
        &addr,
        "--hold",
        "0",
    ]);
    report.check_invariants();
    assert_eq!(report.connected, 400);
    assert_eq!(drain_tcp(&listener).len(), 400);
}

#[test]
fn rate_latency_counts_from_the_scheduled_start() {
    // A listener that stalls for 200 ms with its queue full (backlog 0 holds one). With
    // one connect in flight, connect #2 (scheduled at 2 ms) can only start once #1 got in
    // after the stall, so counted from its scheduled start it took over 150 ms as well,
    // where counting from its actual start would hide the stall (coordinated omission).
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let (_dir, path) = socket_path();
    let listener = unix_listener(&path, 0);
    let path = path.to_str().unwrap().to_owned();
    let server = std::thread::spawn(move || {
        let mut ready = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut ready, PollTimeout::from(20_000u16)).unwrap(), 1);
        std::thread::sleep(std::time::Duration::from_millis(200)); // the stall itself
        (0..3)
            .map(|_| listener.accept().unwrap().0)
            .collect::<Vec<_>>()
    });
    let args = [
        "-n",
        "3",
        "-c",
        "1",
        "--rate",
        "500",
        "--unix",
        &path,
        "--wait-for-backlog",
        "--hold",
        "0",
    ];
    let (report, done) = run_json(&args);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!(report.connected, 3, "{report:?}");
    let l = &report.connect_latency_us;
    assert!(l.p50 >= 150_000 && l.max >= 150_000, "{l:?}");
    // #3, scheduled at 4 ms, waited for the one slot until the stall ended.
    let lag = report.schedule_lag_us.as_ref().unwrap();
    assert!(lag.max >= 150_000, "{lag:?}");
    let raw = report.connect_latency_raw_us.as_ref().unwrap();
    assert!(raw.min <= l.min && raw.max <= l.max, "{raw:?} vs {l:?}");
    assert_eq!(server.join().unwrap().len(), 3);
}

#[test]
fn issue_7_a_paced_run_reports_raw_phases_and_schedule_lag_and_an_unpaced_one_does_not() {
    // Whether the pacer adds a timer floor (tokio's `sleep_until` fires on whole-ms
    // ticks) is a speed figure: bench/connect's pacer row measures it against unpaced
    // runs and a C pacer in one invocation. A timed assertion here failed on a machine
    // with both cores busy; what is checked is the report's shape and order.
    let listener = tcp_listener(256);
    let addr = listener.local_addr().unwrap().to_string();
    let args = ["-n", "40", "--rate", "300", "--inet", &addr, "--hold", "0"];
    let (report, done) = run_json(&args);
    drain_tcp(&listener);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!(report.connected, 40);
    let lag = report.schedule_lag_us.as_ref().unwrap();
    assert_eq!(lag.count, 40);
    let raw = report.connect_latency_raw_us.as_ref().unwrap();
    let l = &report.connect_latency_us;
    assert_eq!(raw.count, 40);
    assert!(raw.p50 <= l.p50 && raw.max <= l.max, "{l:?} vs raw {raw:?}");
    // Without --rate there is nothing to correct: no raw phases, no lag.
    let (unpaced, _) = run_json(&["-n", "3", "--inet", &addr, "--hold", "0"]);
    assert!(unpaced.connect_latency_raw_us.is_none());
    assert!(unpaced.schedule_lag_us.is_none());
}
