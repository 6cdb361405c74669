//! `epoll-socket-test` against the real kernel: the JSON report checked against facts that
//! hold on any modern Linux, the exit codes, and cleanup on bad input and on Ctrl-C.

mod probe_util;

use std::sync::OnceLock;

use probe_util::{
    Report, parse, processes_mentioning, remaining, report, run, spawn_with_progress, wait_output,
};

const FAMILIES: [&str; 3] = ["unix", "inet", "inet6"];

/// One single-waiter run over every family and trigger mode, shared by the tests that
/// only read it.
fn single_matrix() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| report(&["--only", "single"]))
}

/// One run of the several-waiters part with the default 4 waiters.
fn waiters_run() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| report(&["--only", "waiters"]))
}

/// One run of the overflow part with backlog 2.
fn overflow_run() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| report(&["--only", "overflow", "--backlog", "2"]))
}

fn counts(r: &Report, family: &str, trigger: &str, step: &str) -> (u64, u64) {
    let cell = r.cell(family, trigger, step);
    (cell.first, cell.second)
}

#[test]
fn the_matrix_has_every_family_trigger_and_step() {
    let r = single_matrix();
    assert_eq!(r.single_waiter.len(), 3 * 5 * 11);
    assert!(!r.kernel.is_empty());
    assert_eq!(r.connect_from, "child");
    assert_eq!(
        r.differences,
        r.single_waiter.iter().filter(|c| c.differs).count() as u64
    );
}

#[test]
fn level_reports_the_pending_listener_on_every_poll() {
    let r = single_matrix();
    for family in FAMILIES {
        for cell in r
            .single_waiter
            .iter()
            .filter(|c| c.family == family && c.trigger == "level")
        {
            let want = u64::from(cell.queue_len > 0);
            assert_eq!((cell.first, cell.second), (want, want), "{cell:?}");
            if want == 1 {
                assert_eq!(cell.first_flags, ["IN"], "{cell:?}");
            }
        }
    }
}

#[test]
fn edge_reports_once_after_connect_1_and_nothing_on_the_second_poll() {
    let r = single_matrix();
    for family in FAMILIES {
        for trigger in ["edge", "edge-exclusive"] {
            assert_eq!(counts(r, family, trigger, "registered"), (0, 0));
            assert_eq!(
                counts(r, family, trigger, "connect_1"),
                (1, 0),
                "{family} {trigger}"
            );
            for cell in r
                .single_waiter
                .iter()
                .filter(|c| c.family == family && c.trigger == trigger)
            {
                assert_eq!(cell.second, 0, "{cell:?}");
            }
        }
    }
}

#[test]
fn drain_leaves_nothing_to_report() {
    let r = single_matrix();
    for family in FAMILIES {
        for trigger in ["level", "edge", "oneshot", "exclusive", "edge-exclusive"] {
            let cell = r.cell(family, trigger, "drain");
            assert_eq!(
                (cell.first, cell.second, cell.queue_len),
                (0, 0, 0),
                "{cell:?}"
            );
        }
    }
}

#[test]
fn oneshot_reports_once_then_nothing_until_ctl_mod_same_flags() {
    let r = single_matrix();
    for family in FAMILIES {
        let seen: Vec<(u64, u64)> = [
            "connect_1",
            "connect_2",
            "connect_3",
            "connect_after_drain",
            "burst_3_then_poll",
            "ctl_mod_same_flags",
        ]
        .iter()
        .map(|step| counts(r, family, "oneshot", step))
        .collect();
        assert_eq!(
            seen,
            [(1, 0), (0, 0), (0, 0), (0, 0), (0, 0), (1, 0)],
            "{family}"
        );
        assert_eq!(r.cell(family, "oneshot", "ctl_mod_same_flags").error, None);
    }
}

#[test]
fn exclusive_modes_cannot_be_modified_and_say_so() {
    let r = single_matrix();
    for family in FAMILIES {
        for trigger in ["exclusive", "edge-exclusive"] {
            let error = r
                .cell(family, trigger, "ctl_mod_same_flags")
                .error
                .as_deref();
            assert!(
                error.is_some_and(|e| e.contains("EINVAL")),
                "{family} {trigger}: {error:?}"
            );
        }
    }
}

#[test]
fn every_way_of_connecting_sees_the_same_edge_counts() {
    let reference: Vec<(u64, u64)> = single_matrix()
        .single_waiter
        .iter()
        .filter(|c| c.family == "unix" && c.trigger == "edge")
        .map(|c| (c.first, c.second))
        .collect();
    for from in ["same", "thread", "child"] {
        let r = report(&[
            "--only",
            "single",
            "--family",
            "unix",
            "--trigger",
            "edge",
            "--connect-from",
            from,
        ]);
        assert_eq!(r.connect_from, from);
        let seen: Vec<(u64, u64)> = r
            .single_waiter
            .iter()
            .map(|c| (c.first, c.second))
            .collect();
        assert_eq!(seen, reference, "--connect-from {from}");
    }
}

#[test]
fn issue_12_expect_strict_edge_exits_1_says_why_on_stderr_and_still_prints_the_report() {
    let out = run(&[
        "--only",
        "single",
        "--trigger",
        "edge",
        "--expect",
        "strict-edge",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = parse(&out.stdout);
    assert!(r.differences > 0);
    // issue 12: the exit code 1 is explained in one line on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "epoll-socket-test: --expect strict-edge: {} of {} single-waiter cells differ",
            r.differences,
            r.single_waiter.len()
        )) && stderr.contains("(edge)"),
        "{stderr}"
    );
    // Level-triggered cells match the reading, so the same check passes for them.
    let out = run(&[
        "--only",
        "single",
        "--trigger",
        "level",
        "--expect",
        "strict-edge",
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn issue_12_inet_localhost_is_accepted_as_its_hint_suggests() {
    let r = report(&[
        "--only",
        "single",
        "--trigger",
        "level",
        "--inet",
        "localhost:0",
    ]);
    assert!(!r.single_waiter.is_empty());
    for cell in &r.single_waiter {
        let addr: std::net::SocketAddr = cell.address.parse().unwrap();
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{cell:?}");
    }
}

#[test]
fn text_output_shows_the_table_verdicts_and_meaning() {
    let out = run(&[
        "--only",
        "single",
        "--family",
        "inet",
        "--connect-from",
        "same",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "connect_2",
        "edge-exclusive",
        "Verdicts",
        "What this means",
        "*",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[test]
fn bad_input_exits_2_with_one_message_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("/tmp/{}", "x".repeat(120));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let cases: Vec<Vec<String>> = vec![
        vec!["--family".into(), "ipx".into()],
        vec!["--trigger".into(), "sideways".into()],
        vec!["--waiters".into(), "0".into()],
        vec!["--waiters".into(), "65".into()],
        vec!["--backlog".into(), "0".into()],
        vec!["--backlog".into(), "4097".into()],
        vec!["--unix".into(), long],
        vec!["--unix".into(), dir.path().display().to_string()],
        vec!["--inet".into(), busy_addr],
        vec!["--inet".into(), "127.0.0.1".into()],
        vec!["--connect-from".into(), "moon".into()],
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("epoll-socket-test: error: "),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_regular_file_at_unix_is_refused_and_left_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.txt");
    std::fs::write(&path, "keep me").unwrap();
    let out = run(&["--unix", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a socket"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

#[test]
fn a_given_unix_path_is_used_and_removed_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.sock");
    let r = report(&[
        "--only",
        "single",
        "--unix",
        path.to_str().unwrap(),
        "--trigger",
        "level",
    ]);
    assert!(
        r.single_waiter
            .iter()
            .all(|c| c.family == "unix" && c.address == path.to_str().unwrap())
    );
    assert!(!path.exists(), "the socket file is removed");
}

#[test]
fn sigint_stops_the_run_removes_the_socket_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe.sock");
    // The overflow part waits a while for events after its accept: that is when we stop it.
    let (child, lines) = spawn_with_progress(&[
        "--only",
        "overflow",
        "--unix",
        path.to_str().unwrap(),
        "--progress",
        "--format",
        "json",
    ]);
    loop {
        let line = lines
            .recv_timeout(probe_util::RUN_WITHIN)
            .expect("a progress line before the window");
        if line.contains("waiting") {
            break;
        }
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = wait_output(child);
    assert_eq!(out.status.code(), Some(130));
    assert!(out.stdout.is_empty());
    assert!(!path.exists(), "the socket file is removed on Ctrl-C");
    let rest = remaining(&lines);
    assert!(
        rest.iter().any(|l| l.contains("interrupted by SIGINT")),
        "{rest:?}"
    );
}

#[test]
fn own_epoll_level_waiters_all_wake_on_one_connect_while_exclusive_wakes_exactly_one() {
    let r = waiters_run();
    for family in FAMILIES {
        let level = r.waiters(family, "own_epoll", "level");
        assert_eq!(
            (level.woken, level.per_waiter.as_slice()),
            (4, &[1, 1, 1, 1][..]),
            "{level:?}"
        );
        assert_eq!(r.waiters(family, "own_epoll", "edge").woken, 4, "{family}");
        for mode in ["exclusive", "edge-exclusive"] {
            let exclusive = r.waiters(family, "own_epoll", mode);
            assert_eq!(exclusive.woken, 1, "{exclusive:?}");
            assert_eq!(exclusive.per_waiter.iter().sum::<u64>(), 1, "{exclusive:?}");
        }
        // One epoll instance shared by all: edge-triggered wakes one waiter.
        assert_eq!(
            r.waiters(family, "shared_epoll", "edge").woken,
            1,
            "{family}"
        );
    }
}

#[test]
fn every_waiter_was_asleep_before_the_connect() {
    for record in waiters_run()
        .waiters
        .iter()
        .filter(|w| w.scenario != "reuseport")
    {
        assert_eq!(record.blocked_in.len() as u64, record.waiters, "{record:?}");
        assert!(record.error.is_none(), "{record:?}");
    }
}

#[test]
fn blocked_accept_callers_get_connections_in_fifo_order() {
    let r = waiters_run();
    for family in FAMILIES {
        let record = r.waiters(family, "blocking_accept", "accept");
        assert_eq!(record.order, [0, 1, 2, 3, 0, 1, 2, 3], "{family}");
        assert_eq!(record.fifo, Some(true));
        assert_eq!(record.per_waiter, [2, 2, 2, 2]);
    }
}

#[test]
fn the_accept_loop_accepts_every_connection_exactly_once() {
    let r = waiters_run();
    for family in FAMILIES {
        for mode in ["level", "exclusive"] {
            let record = r.waiters(family, "accept_loop", mode);
            assert_eq!(
                record.per_waiter.iter().sum::<u64>(),
                record.connections,
                "{record:?}"
            );
            // Each wakeup accepts until EAGAIN, so it ends with exactly one EAGAIN.
            assert_eq!(
                record.eagain_per_waiter, record.wakeups_per_waiter,
                "{record:?}"
            );
            for (empty, all) in record
                .empty_wakeups_per_waiter
                .iter()
                .zip(&record.wakeups_per_waiter)
            {
                assert!(empty <= all, "{record:?}");
            }
        }
    }
}

#[test]
fn issue_12_accept_loop_reports_woken_and_accepting_waiters_apart() {
    let r = waiters_run();
    let nonzero = |counts: &[u64]| counts.iter().filter(|n| **n > 0).count() as u64;
    for family in FAMILIES {
        for mode in ["level", "exclusive"] {
            let record = r.waiters(family, "accept_loop", mode);
            assert_eq!(
                record.woken,
                nonzero(&record.wakeups_per_waiter),
                "woken counts waiters that woke: {record:?}"
            );
            assert_eq!(
                record.accepting,
                Some(nonzero(&record.per_waiter)),
                "{record:?}"
            );
            assert!(record.accepting <= Some(record.woken), "{record:?}");
        }
        let blocking = r.waiters(family, "blocking_accept", "accept");
        assert_eq!(blocking.accepting, Some(blocking.woken), "{blocking:?}");
        for (scenario, mode) in [("own_epoll", "level"), ("shared_epoll", "edge")] {
            assert_eq!(r.waiters(family, scenario, mode).accepting, None);
        }
    }
}

#[test]
fn unix_refuses_so_reuseport_while_tcp_spreads_connections_over_every_listener() {
    let r = waiters_run();
    let unix = r.waiters("unix", "reuseport", "listeners");
    assert!(
        unix.error
            .as_deref()
            .is_some_and(|e| e.contains("EOPNOTSUPP")),
        "{unix:?}"
    );
    for family in ["inet", "inet6"] {
        let record = r.waiters(family, "reuseport", "listeners");
        assert_eq!(record.per_waiter.len(), 4);
        assert_eq!(record.per_waiter.iter().sum::<u64>(), record.connections);
        assert!(record.per_waiter.iter().all(|n| *n > 0), "{record:?}");
    }
}

#[test]
fn the_waiters_flag_sets_the_number_of_processes() {
    let r = report(&["--only", "waiters", "--family", "unix", "--waiters", "2"]);
    assert!(r.single_waiter.is_empty() && r.overflow.is_empty());
    for record in r.waiters.iter().filter(|w| w.error.is_none()) {
        assert_eq!(record.waiters, 2, "{record:?}");
        assert_eq!(record.per_waiter.len(), 2, "{record:?}");
    }
    assert_eq!(
        r.waiters("unix", "blocking_accept", "accept").order,
        [0, 1, 0, 1]
    );
}

#[test]
fn the_accept_queue_holds_the_backlog_plus_one_with_one_edge_event_per_connection() {
    let r = overflow_run();
    assert_eq!(r.overflow.len(), 3);
    for record in &r.overflow {
        assert!(record.error.is_none(), "{record:?}");
        assert_eq!((record.backlog, record.queue_max), (2, 2), "{record:?}");
        // "Full" is `length > backlog` in the kernel, for TCP and unix alike.
        assert_eq!(record.queue_len, 3, "{record:?}");
        assert_eq!(record.events, u64::from(record.queue_len), "{record:?}");
        assert_eq!(record.queue_len_after_each, [1, 2, 3, 3, 3], "{record:?}");
        assert_eq!(record.queue_len_after_accept, 2, "{record:?}");
        let indexes: Vec<u64> = record.extra_connects.iter().map(|c| c.index).collect();
        assert_eq!(indexes, [3, 4, 5]);
    }
}

#[test]
fn a_full_unix_backlog_refuses_with_eagain_and_tcp_leaves_the_handshake_pending() {
    let r = overflow_run();
    for record in &r.overflow {
        let beyond: Vec<(&str, &str)> = record.extra_connects[1..]
            .iter()
            .map(|c| (c.result.as_str(), c.state.as_str()))
            .collect();
        if record.family == "unix" {
            assert_eq!(beyond, [("would_block", "not_connected"); 2], "{record:?}");
            assert_eq!(record.listen_overflows_delta, None);
        } else {
            assert_eq!(beyond, [("in_progress", "pending"); 2], "{record:?}");
            // System-wide counters: other traffic can only add to them.
            assert!(record.listen_overflows_delta >= Some(2), "{record:?}");
            assert!(record.listen_drops_delta >= Some(2), "{record:?}");
        }
    }
}

#[test]
fn sigint_among_forked_waiters_reaps_every_child() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("waiters-marker.sock");
    let marker = path.to_str().unwrap().to_owned();
    let (child, lines) = spawn_with_progress(&[
        "--only",
        "waiters",
        "--waiters",
        "64",
        "--unix",
        &marker,
        "--progress",
        "--format",
        "json",
    ]);
    let first = lines
        .recv_timeout(probe_util::RUN_WITHIN)
        .expect("a progress line");
    assert!(first.contains("waiters: unix own_epoll level"), "{first}");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = wait_output(child);
    assert_eq!(out.status.code(), Some(130), "{:?}", remaining(&lines));
    assert!(out.stdout.is_empty());
    assert!(!path.exists(), "the socket file is removed on Ctrl-C");
    assert_eq!(
        processes_mentioning(&marker),
        Vec::<String>::new(),
        "no waiter outlives the probe"
    );
}

/// issue 12: the README's sample is a real run (bench/probe/readme-sample.sh), not one
/// with rows collapsed into notes the tool never prints.
#[test]
fn issue_12_the_readme_sample_has_every_row_the_probe_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md next to the workspace");
    let sample = readme
        .split("### Sample (")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .expect("a sample block after the sample heading");
    assert!(
        sample.starts_with("\nepoll-socket-test on Linux "),
        "{sample}"
    );
    for family in ["unix  /", "inet  127.0.0.1:", "inet6  [::1]:"] {
        let heading = format!("\n  {family}");
        assert!(
            sample.contains(&heading),
            "no single-waiter table for {family}"
        );
    }
    let waiter_rows = sample
        .lines()
        .filter(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() > 2
                && FAMILIES.contains(&words[0])
                && [
                    "own_epoll",
                    "shared_epoll",
                    "accept_loop",
                    "blocking_accept",
                    "reuseport",
                ]
                .contains(&words[1])
        })
        .count();
    assert_eq!(waiter_rows, 3 * 10, "every several-waiters row, per family");
    assert!(
        !sample.contains("\n  ("),
        "no note in place of rows (wrapped verdicts are indented further)"
    );
    assert!(sample.contains("\nVerdicts\n"));
}
