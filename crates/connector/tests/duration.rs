//! Sustained runs (issue 7): `--duration` closed loop (each `--concurrency` slot
//! reconnects once its connection is done) and open loop (`--rate`), bounded by the
//! duration and ended early by SIGINT with a report; the interval lines add up to it.

mod util;

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use util::{
    Connector, Finished, Interval, Report, closed_port, greeter, intervals, parse_report, run_json,
};

/// Sums the interval lines' counts and checks them against the report.
fn check_intervals_add_up(report: &Report, rows: &[Interval]) {
    assert!(!rows.is_empty(), "{report:?}");
    let sum = |f: fn(&Interval) -> u64| rows.iter().map(f).sum::<u64>();
    assert_eq!(sum(|r| r.attempted), report.attempted, "{rows:?}");
    assert_eq!(sum(|r| r.connected), report.connected, "{rows:?}");
    assert_eq!(sum(|r| r.failed), report.failed, "{rows:?}");
    assert_eq!(sum(|r| r.exchange_failed), report.exchange_failed);
    assert_eq!(
        sum(|r| r.connect_latency_us.count),
        report.connect_latency_us.count
    );
    let phase = |r: &Interval| r.first_byte_latency_us.as_ref().map(|l| l.count);
    if let Some(total) = &report.first_byte_latency_us {
        assert_eq!(rows.iter().filter_map(phase).sum::<u64>(), total.count);
    } else {
        assert!(rows.iter().all(|r| phase(r).is_none()));
    }
    let phase = |r: &Interval| r.complete_latency_us.as_ref().map(|l| l.count);
    if let Some(total) = &report.complete_latency_us {
        assert_eq!(rows.iter().filter_map(phase).sum::<u64>(), total.count);
    }
    for r in rows {
        assert_eq!(r.event, "interval");
        assert_eq!(r.attempted, r.connected + r.failed, "{r:?}");
        assert_eq!(r.errors.values().sum::<u64>(), r.failed, "{r:?}");
        assert!(
            r.errors.values().all(|&n| n > 0),
            "only non-zero kinds: {r:?}"
        );
        assert_eq!(r.exchange_errors.values().sum::<u64>(), r.exchange_failed);
        let l = &r.connect_latency_us;
        match (l.count, l.p50, l.p99, l.max) {
            (0, None, None, None) => {}
            (_, Some(p50), Some(p99), Some(max)) => assert!(0 < p50 && p50 <= p99 && p99 <= max),
            _ => panic!("{r:?}"),
        }
    }
    for pair in rows.windows(2) {
        assert!(
            pair[0].t_ms < pair[1].t_ms && pair[0].ts <= pair[1].ts,
            "{pair:?}"
        );
    }
}

#[test]
fn a_closed_loop_keeps_its_slots_busy_for_the_duration_and_holds_nothing() {
    let (_listener, addr) = greeter(b"hello");
    let started = Instant::now();
    let (report, done) = run_json(&[
        "--duration",
        "1500ms",
        "-c",
        "3",
        "--inet",
        &addr,
        "--read",
        "close",
        "--interval",
        "250ms",
    ]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert!(started.elapsed() < util::WAIT);
    assert_eq!(report.duration_ms, Some(1500), "{report:?}");
    assert!(!report.interrupted);
    // Each slot reconnects as soon as its answer is complete: far more than 3 connects.
    assert!(report.attempted > 30, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(report.exchange_failed, 0, "{report:?}");
    // Every answer was read to the close, except those the end cut.
    let complete = report.complete_latency_us.as_ref().unwrap();
    assert_eq!(
        complete.count + report.unfinished,
        report.connected,
        "{report:?}"
    );
    assert!(report.unfinished <= 3, "at most one per slot: {report:?}");
    assert_eq!(report.response_bytes, 5 * complete.count);
    // The last outcome comes from a connect started before the end (generous for load).
    assert!(report.elapsed_ms <= 1500.0 + 2000.0, "{report:?}");
    assert_eq!((report.held_ms, report.closed_by_peer), (0, 0));
    let rows = intervals(&done);
    check_intervals_add_up(&report, &rows);
    // About 6 intervals of 250 ms; a tick the collector was too busy for is skipped.
    assert!(rows.len() >= 3, "{rows:?}");
    assert!(
        rows.iter().all(|r| r.open <= 3),
        "no more than the slots: {rows:?}"
    );
    assert!(rows.iter().all(|r| r.interval_ms <= 1000.0), "{rows:?}");
    // After the report, nothing: no holding line in a --duration run.
    assert!(done.stdout.last().unwrap().starts_with(r#"{"target""#));
}

#[test]
fn a_closed_loop_against_a_closed_port_counts_every_refusal() {
    let (report, done) = run_json(&[
        "--duration",
        "300ms",
        "-c",
        "2",
        "--inet",
        &closed_port().to_string(),
    ]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert!(report.failed > 10, "{report:?}");
    assert_eq!(
        (report.connected, report.errors.refused),
        (0, report.failed)
    );
    check_intervals_add_up(&report, &intervals(&done));
}

#[test]
fn an_open_loop_makes_rate_times_duration_connects() {
    let (_listener, addr) = greeter(b"");
    let (report, done) = run_json(&[
        "--duration",
        "2s",
        "--rate",
        "100",
        "--inet",
        &addr,
        "--interval",
        "500ms",
    ]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    // 200 scheduled (at 0, 10 ms, ... 1990 ms); loose bounds for busy cores.
    assert!(
        (180..=200).contains(&report.attempted),
        "{} attempted",
        report.attempted
    );
    assert_eq!(report.connected, report.attempted, "{report:?}");
    assert_eq!(report.target_rate_per_s, Some(100.0));
    assert!(report.schedule_lag_us.is_some() && report.connect_latency_raw_us.is_some());
    let rows = intervals(&done);
    check_intervals_add_up(&report, &rows);
    // Each full interval of 500 ms holds about 50 connects.
    for row in rows
        .iter()
        .filter(|r| (400.0..600.0).contains(&r.interval_ms))
    {
        assert!((25..=75).contains(&row.attempted), "{row:?}");
    }
}

#[test]
fn a_count_run_also_has_intervals_which_add_up() {
    let (_listener, addr) = greeter(b"!");
    let (report, done) = run_json(&[
        "-n",
        "40",
        "--inet",
        &addr,
        "--read",
        "first-byte",
        "--hold",
        "0",
    ]);
    assert!(done.status.success(), "{done:?}");
    report.check_invariants();
    assert_eq!((report.attempted, report.duration_ms), (40, None));
    let rows = intervals(&done);
    assert_eq!(rows.len(), 1, "a short run has one interval: {rows:?}");
    check_intervals_add_up(&report, &rows);
    assert_eq!(rows[0].complete_latency_us.as_ref().map(|l| l.count), None);
}

/// Starts a long closed-loop run and sends `signal` once its first interval line is out.
fn interrupt_a_long_run(addr: &str, signal: nix::sys::signal::Signal) -> Finished {
    let mut c = Connector::spawn(&[
        "--duration",
        "60s",
        "-c",
        "2",
        "--inet",
        addr,
        "--read",
        "close",
        "--format",
        "json",
        "--interval",
        "100ms",
    ]);
    // The first interval line says the run is under way (readiness, not a sleep).
    let first = c.next_line();
    assert!(first.starts_with(r#"{"event":"interval""#), "{first}");
    let pid = nix::unistd::Pid::from_raw(c.pid() as i32);
    nix::sys::signal::kill(pid, signal).unwrap();
    let mut done = c.finish();
    done.stdout.insert(0, first);
    done
}

#[test]
fn sigint_and_sigterm_end_a_duration_run_early_with_a_report() {
    let (_listener, addr) = greeter(b"hello");
    for signal in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
    ] {
        let started = Instant::now();
        let done = interrupt_a_long_run(&addr, signal);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "well before 60 s"
        );
        assert!(done.status.success(), "{signal}: {done:?}");
        let report = parse_report(&done);
        report.check_invariants();
        assert!(report.interrupted, "{signal}: {report:?}");
        assert_eq!(report.duration_ms, Some(60_000));
        assert!(report.elapsed_ms < 30_000.0, "{report:?}");
        assert!(report.unfinished <= 2, "{report:?}");
        check_intervals_add_up(&report, &intervals(&done));
    }
}

#[test]
fn sigint_while_a_slot_waits_for_an_answer_counts_it_unfinished() {
    // A listener that never accepts: the connects complete (the kernel queues them) and
    // each slot then waits for an answer that cannot come.
    let listener = util::tcp_listener(16);
    let addr = listener.local_addr().unwrap().to_string();
    let c = Connector::spawn(&[
        "--duration",
        "60s",
        "-c",
        "2",
        "--inet",
        &addr,
        "--read",
        "first-byte",
        "--format",
        "json",
    ]);
    // Two queued connections: both slots are waiting for their answer.
    let deadline = Instant::now() + util::WAIT;
    let mut queued = 0;
    listener.set_nonblocking(true).unwrap();
    let mut accepted = Vec::new();
    while queued < 2 {
        let mut ready = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        assert_eq!(
            poll(&mut ready, PollTimeout::from(ms)).unwrap(),
            1,
            "2 connects"
        );
        while let Ok(pair) = listener.accept() {
            accepted.push(pair);
            queued += 1;
        }
    }
    let pid = nix::unistd::Pid::from_raw(c.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let done = c.finish();
    assert!(done.status.success(), "{done:?}");
    let report = parse_report(&done);
    report.check_invariants();
    assert!(report.interrupted);
    assert_eq!((report.connected, report.unfinished), (2, 2), "{report:?}");
    assert_eq!(report.first_byte_latency_us.as_ref().unwrap().count, 0);
    assert_eq!(report.exchange_failed, 0, "cut, not failed: {report:?}");
    check_intervals_add_up(&report, &intervals(&done));
}

#[test]
fn a_reader_that_goes_away_ends_a_long_run_at_once_with_exit_0() {
    use std::io::BufRead;
    let (_listener, addr) = greeter(b"hello");
    let mut child = std::process::Command::new(util::bin())
        .args(["--duration", "60s", "-c", "2", "--inet", &addr])
        .args(["--read", "close", "--format", "json", "--interval", "50ms"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with(r#"{"event":"interval""#), "{first}");
    // The reader is gone (as `| head -1`); the next interval line meets a broken pipe.
    let out = listenlab_common::testing::output_within(child, util::WAIT);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not at the end of 60 s"
    );
}

#[test]
fn a_long_text_run_rolls_its_interval_table_up_and_says_so() {
    let (_listener, addr) = greeter(b"hi");
    // 1500 intervals of 1 ms (fewer when busy cores make the collector skip ticks), far
    // more than the 100 rows the table shows.
    let args = [
        "--duration",
        "1500ms",
        "--rate",
        "400",
        "--inet",
        &addr,
        "--read",
        "close",
        "--interval",
        "1ms",
        "--quiet",
    ];
    let done = util::run(&args);
    assert!(done.status.success(), "{done:?}");
    let out = &done.stdout;
    let at = out
        .iter()
        .position(|l| l.starts_with("intervals"))
        .unwrap_or_else(|| panic!("no interval table: {out:?}"));
    // `intervals: 1497 of 1ms, rolled up into 75 rows of 20ms (every interval: --format json)`
    let title = &out[at];
    let words: Vec<&str> = title.split_whitespace().collect();
    assert_eq!(
        (words[0], words[2], words[3], words[5], words[6], words[9]),
        ("intervals:", "of", "1ms,", "up", "into", "of"),
        "{title}"
    );
    assert!(
        title.ends_with(" (every interval: --format json)"),
        "{title}"
    );
    let count: usize = words[1].parse().unwrap();
    let shown: usize = words[7].parse().unwrap();
    assert!(count > 100, "{title}");
    let rows = &out[at + 2..];
    assert_eq!(rows.len(), shown, "{out:?}");
    assert!((2..=100).contains(&shown), "{title}");
    let per_row: u64 = words[10].trim_end_matches("ms").parse().unwrap();
    assert!([2, 10, 20, 60, 120].contains(&per_row), "{title}");
    assert!(out[at + 1].contains("first byte p50") && out[at + 1].contains("complete p50"));
    // The rows add up to the report: `connects  600 attempted, 600 connected, 0 failed`.
    let connects = out.iter().find(|l| l.starts_with("connects ")).unwrap();
    let total = |what: &str| -> u64 {
        let words: Vec<&str> = connects.split_whitespace().collect();
        let i = words
            .iter()
            .position(|w| w.trim_end_matches(',') == what)
            .unwrap_or_else(|| panic!("{what} in {connects}"));
        words[i - 1].parse().unwrap()
    };
    let column = |i: usize| -> u64 {
        rows.iter()
            .map(|r| r.split_whitespace().nth(i).unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(column(1), total("attempted"), "{out:?}");
    assert_eq!(column(2), total("connected"), "{out:?}");
    assert_eq!(column(3), total("failed"), "{out:?}");
    // Rows end on multiples of the row's length, in order (the last one at the end).
    let ends: Vec<f64> = rows
        .iter()
        .map(|r| {
            r.split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('s')
                .parse()
                .unwrap()
        })
        .collect();
    // In order. Two ends may print the same: a row ends with its last interval, and with
    // both cores busy skipped timer ticks leave some rows a few intervals long, so two ends
    // can fall within the column's rounding (10 ms here: seen `0.28s, 0.28s`).
    assert!(ends.windows(2).all(|w| w[0] <= w[1]), "{ends:?}");

    // JSON keeps every interval.
    let (report, json) = run_json(&args);
    assert!(json.status.success(), "{json:?}");
    let lines = intervals(&json);
    assert!(lines.len() > 100, "{} interval lines", lines.len());
    check_intervals_add_up(&report, &lines);
}
