//! `epoll-listen-fork --model ondemand` end to end: PHP-FPM's `pm = ondemand` behaviour seen
//! from plain std clients, waiting on event lines with bounded waits.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;
use util::Running;
use util::report::ForkSummary;

const BIN: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");

fn start(args: &[&str]) -> Running {
    Running::ondemand(BIN, args)
}

fn stop(run: &mut Running) -> ForkSummary {
    run.signal(Signal::SIGTERM);
    assert!(run.finish().success());
    let s: ForkSummary = serde_json::from_value(run.summary()).expect("summary shape");
    assert_eq!(s.counts.check(), Ok(()), "{s:?}");
    s
}

fn total_accepted(v: &Value) -> u64 {
    v["total_accepted"].as_u64().unwrap_or(0)
}

#[test]
fn three_children_and_six_held_connections_fork_three_warn_once_and_queue_three() {
    let mut run = start(&["--max-children", "3", "--sleep", "60s"]);
    let mut clients = Vec::new();
    for n in 1..=3u64 {
        clients.push(TcpStream::connect(&run.addr).unwrap());
        run.wait_event("child_accepted", |v| total_accepted(v) == n);
    }
    for _ in 0..3 {
        clients.push(TcpStream::connect(&run.addr).unwrap());
    }
    let warning = run.wait_event("max_children", |_| true);
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("server reached max_children setting (3)")
    );
    run.wait_event("queue", |v| v["len"] == 3);
    let s = stop(&mut run);
    assert_eq!(s.counts.forks, 3, "{s:?}");
    assert_eq!(s.counts.max_children_warnings, 1, "{s:?}");
    assert_eq!((s.max_listen_queue, s.pending_at_exit), (3, 3));
    assert_eq!((s.counts.accepted, s.counts.children_busy_at_exit), (3, 3));
    assert_eq!((s.model.as_str(), s.trigger.as_str()), ("ondemand", "edge"));
}

#[test]
fn idle_children_are_told_to_exit_after_the_idle_timeout() {
    let mut run = start(&["--process-idle-timeout", "1s", "--sleep", "0"]);
    let client = TcpStream::connect(&run.addr).unwrap();
    run.wait_event("child_accepted", |v| total_accepted(v) == 1);
    drop(client);
    let kill = run.wait_event("idle_kill", |_| true);
    assert_eq!(kill["signal"], "SIGQUIT");
    assert!(kill["idle_ms"].as_f64().unwrap() >= 1000.0, "{kill}");
    let exited = run.wait_event("child_exited", |_| true);
    assert_eq!(exited["outcome"], "idle_timeout");
    let s = stop(&mut run);
    assert_eq!(
        (
            s.counts.forks,
            s.counts.idle_kills,
            s.counts.idle_timeout_children
        ),
        (1, 1, 1)
    );
    assert_eq!((s.counts.children_replaced, s.counts.served), (0, 1));
}

#[test]
fn max_requests_retires_a_child_and_replaces_it_at_once() {
    let mut run = start(&["--max-requests", "2", "--sleep", "0"]);
    // Sequential clients: an idle child takes each one, so some child reaches two.
    // (A wakeup that finds the child still busy forks another, which is ondemand too.)
    for n in 1..=4u64 {
        let _c = TcpStream::connect(&run.addr).unwrap();
        run.wait_event("child_accepted", |v| total_accepted(v) == n);
    }
    let exited = run.wait_event("child_exited", |v| v["outcome"] == "completed");
    assert_eq!(exited["accepted"], 2);
    let t = exited["t_ms"].as_f64().unwrap();
    run.wait_event("fork", |v| v["t_ms"].as_f64().unwrap() >= t);
    let s = stop(&mut run);
    // Each child that completed was replaced, unless it completed while the run stopped.
    assert!(s.counts.children_replaced >= 1, "{s:?}");
    assert!(
        s.counts.children_replaced <= s.counts.children_completed,
        "{s:?}"
    );
    // The last connection may still be in service when SIGTERM comes (then it counts as
    // interrupted, and check() in stop() holds either way).
    assert_eq!(s.counts.accepted, 4, "{s:?}");
}

#[test]
fn with_first_byte_a_silent_client_keeps_its_child_idle_so_nothing_forks() {
    let mut run = start(&["--request-starts", "first-byte", "--sleep", "30s"]);
    let mut silent = TcpStream::connect(&run.addr).unwrap();
    let accepted = run.wait_event("child_accepted", |v| total_accepted(v) == 1);
    let t0 = accepted["t_ms"].as_f64().unwrap();
    // The only child holds a connection but still counts as idle: the next connection
    // wakes the parent, which sees an idle child and forks nothing; it waits in the queue.
    let _second = TcpStream::connect(&run.addr).unwrap();
    run.wait_event("wakeup", |v| v["t_ms"].as_f64().unwrap() > t0);
    silent.write_all(b"x").unwrap();
    let s = stop(&mut run);
    assert_eq!(s.counts.forks, 1, "{s:?}");
    assert_eq!(
        (s.counts.accepted, s.pending_at_exit, s.max_listen_queue),
        (1, 1, 1)
    );
    assert_eq!(s.counts.children_busy_at_exit, 1);
}

#[test]
fn a_child_that_takes_a_request_after_its_idle_sigquit_finishes_it_and_is_not_killed() {
    let mut run = start(&[
        "--request-starts",
        "first-byte",
        "--process-idle-timeout",
        "1s",
        "--sleep",
        "1500ms",
    ]);
    let mut client = TcpStream::connect(&run.addr).unwrap();
    run.wait_event("child_accepted", |v| total_accepted(v) == 1);
    // Silent, the client leaves its child idle: the idle timeout sends SIGQUIT.
    let quit = run.wait_event("idle_kill", |_| true);
    assert_eq!(quit["signal"], "SIGQUIT");
    // Now the request starts; it lasts past the next maintenance tick, which must not
    // SIGKILL the (busy) child.
    client.write_all(b"x").unwrap();
    let sent = Instant::now();
    client.set_read_timeout(Some(util::WAIT)).unwrap();
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("served to the end, not reset by a SIGKILL");
    // Closed after the whole --sleep, not at the next tick (about 1 s after the byte).
    assert!(
        sent.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        sent.elapsed()
    );
    let exited = run.wait_event("child_exited", |_| true);
    assert_eq!(
        (exited["status"].as_i64(), exited["outcome"].as_str()),
        (Some(0), Some("idle_timeout"))
    );
    let s = stop(&mut run);
    assert_eq!(
        (
            s.counts.idle_kills,
            s.counts.idle_kills_escalated,
            s.counts.served
        ),
        (1, 0, 1),
        "{s:?}"
    );
}

#[test]
fn issue_12_child_accepted_lines_say_how_many_accepts_each_covers() {
    let mut run = start(&["--max-children", "2", "--sleep", "0"]);
    // Connections faster than the parent looks: a child can take several between looks.
    let clients: Vec<_> = (0..200)
        .map(|_| TcpStream::connect(&run.addr).unwrap())
        .collect();
    run.wait_event("child_accepted", |v| total_accepted(v) == 200);
    drop(clients);
    let s = stop(&mut run);
    let lines = run.events("child_accepted");
    let batches: u64 = lines.iter().map(|v| v["batch"].as_u64().unwrap()).sum();
    // The lines account for every accept, however many lines there are.
    assert_eq!(
        (batches, s.counts.accepted),
        (200, 200),
        "{} lines",
        lines.len()
    );
    for v in &lines {
        assert!(v["batch"].as_u64().unwrap() >= 1, "{v}");
    }
}

/// First-byte requests, 1 s idle timeout: the first-byte wait (5 s) outlasts the SIGQUIT
/// (after 1-2 s idle) and the next tick.
fn start_first_byte_idle_1s() -> Running {
    start(&[
        "--request-starts",
        "first-byte",
        "--process-idle-timeout",
        "1s",
        "--sleep",
        "0",
    ])
}

/// A silent client: its child waits for the first byte, which PHP-FPM's scoreboard still
/// calls "accepting", so the idle timeout picks it.
fn silent_child_is_idle_killed(run: &mut Running) -> (TcpStream, Value, Value) {
    let silent = TcpStream::connect(&run.addr).unwrap();
    run.wait_event("child_accepted", |v| total_accepted(v) == 1);
    let quit = run.wait_event("idle_kill", |v| v["signal"] == "SIGQUIT");
    let kill = run.wait_event("idle_kill", |v| v["signal"] == "SIGKILL");
    (silent, quit, kill)
}

#[test]
fn issue_8_a_child_waiting_for_the_first_byte_gets_sigquit_then_sigkill_a_tick_later() {
    let mut run = start_first_byte_idle_1s();
    let (_silent, quit, kill) = silent_child_is_idle_killed(&mut run);
    assert_eq!(
        (quit["child"].as_u64(), kill["child"].as_u64()),
        (Some(1), Some(1))
    );
    let gap = t_ms(&kill) - t_ms(&quit);
    assert!(
        (990.0..2500.0).contains(&gap),
        "SIGKILL {gap} ms after SIGQUIT"
    );
    let exited = run.wait_event("child_exited", |v| v["child"] == 1);
    assert_eq!(
        (exited["status"].as_i64(), exited["outcome"].as_str()),
        (Some(137), Some("idle_timeout"))
    );
    let s = stop(&mut run);
    assert_eq!((s.counts.idle_kills, s.counts.idle_kills_escalated), (1, 1));
    assert_eq!(s.counts.first_byte_timeouts, 0, "{s:?}");
}

#[test]
fn issue_8_an_idle_killed_child_that_died_by_sigkill_is_replaced() {
    let mut run = start_first_byte_idle_1s();
    let (_silent, _, _) = silent_child_is_idle_killed(&mut run);
    let exited = run.wait_event("child_exited", |v| v["child"] == 1);
    assert_eq!(exited["status"], 137);
    let replacement = run.wait_event("fork", |v| v["child"] == 2);
    assert!(t_ms(&replacement) >= t_ms(&exited));
    let s = stop(&mut run);
    assert_eq!(s.counts.children_replaced, 1, "{s:?}");
}

#[test]
fn issue_8_a_client_that_closes_without_sending_is_not_served_and_its_child_accepts_again() {
    // One child at most, 30 s requests: were the closed connection served, the second
    // client would wait 30 s, past every bounded wait here.
    let mut run = start(&[
        "--request-starts",
        "first-byte",
        "--max-children",
        "1",
        "--sleep",
        "30s",
    ]);
    drop(TcpStream::connect(&run.addr).unwrap());
    run.wait_event("child_accepted", |v| total_accepted(v) == 1);
    let mut second = TcpStream::connect(&run.addr).unwrap();
    second.write_all(b"x").unwrap();
    let took = run.wait_event("child_accepted", |v| total_accepted(v) == 2);
    assert_eq!(
        (took["child"].as_u64(), took["child_accepted"].as_u64()),
        (Some(1), Some(2))
    );
    let s = stop(&mut run);
    assert_eq!(
        (
            s.counts.forks,
            s.counts.closed_without_request,
            s.counts.served
        ),
        (1, 1, 0),
        "{s:?}"
    );
    assert_eq!(s.counts.children_busy_at_exit, 1);
}

/// `CLOCK_MONOTONIC` now: the clock the tool's whole-second idle check reads.
fn monotonic() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(Duration::from)
        .unwrap()
}

/// Sleeps until the fractional second of `CLOCK_MONOTONIC` is `at` (a phase, not a
/// readiness wait: at most a second).
fn at_phase(at: Duration) {
    let frac = Duration::from_nanos(u64::from(monotonic().subsec_nanos()));
    let wait = if frac <= at {
        at - frac
    } else {
        Duration::from_secs(1) - frac + at
    };
    std::thread::sleep(wait);
}

#[test]
fn issue_8_the_idle_timeout_compares_whole_seconds() {
    // Ticks at about x.5 s (the run starts then); the child goes idle just after a whole
    // second y.0. Timeout 1 s: an exact check retires it at the tick of y+1.5 (idle about
    // 1.5 s); PHP-FPM's whole seconds (last.tv_sec < now.tv_sec - 1) only from y+2: the
    // tick of y+2.5, idle about 2.5 s.
    at_phase(Duration::from_millis(500));
    let mut run = start(&["--process-idle-timeout", "1s", "--sleep", "0"]);
    at_phase(Duration::from_millis(20));
    let mut client = TcpStream::connect(&run.addr).unwrap();
    client.set_read_timeout(Some(util::WAIT)).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap(); // served and closed: the child is idle again
    let quit = run.wait_event("idle_kill", |_| true);
    let idle = quit["idle_ms"].as_f64().unwrap();
    assert!(
        (2000.0..3200.0).contains(&idle),
        "idle {idle} ms at the SIGQUIT"
    );
    stop(&mut run);
}

#[test]
fn issue_8_a_finishing_child_is_not_idle_so_the_next_connection_forks() {
    let mut run = start(&["--request-shutdown", "3s", "--sleep", "0"]);
    let mut first = TcpStream::connect(&run.addr).unwrap();
    first.set_read_timeout(Some(util::WAIT)).unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap(); // closed; child 1 finishes for 3 s
    let _second = TcpStream::connect(&run.addr).unwrap();
    let took = run.wait_event("child_accepted", |v| total_accepted(v) == 2);
    assert_eq!(
        took["child"], 2,
        "a second child, forked while the first finishes"
    );
    let s = stop(&mut run);
    // The second request may still be in service when SIGTERM comes (then interrupted).
    assert_eq!((s.counts.forks, s.counts.accepted), (2, 2), "{s:?}");
}

fn t_ms(v: &Value) -> f64 {
    v["t_ms"].as_f64().unwrap()
}

#[test]
fn child_startup_delays_a_new_childs_first_accept_and_it_is_not_idle_meanwhile() {
    // 1 s requests: each child holds the first connection it takes, so each takes one.
    let mut run = start(&["--child-startup", "400ms", "--sleep", "1s"]);
    let _first = TcpStream::connect(&run.addr).unwrap();
    run.wait_event("fork", |v| v["child"] == 1);
    // A second connection while child 1 starts: no child is idle, so ondemand forks again.
    let _second = TcpStream::connect(&run.addr).unwrap();
    run.wait_event("fork", |v| v["child"] == 2);
    run.wait_event("child_accepted", |v| total_accepted(v) == 2);
    let s = stop(&mut run);
    for child in [1, 2] {
        let fork = run.wait_event("fork", |v| v["child"] == child);
        let took = run.wait_event("child_accepted", |v| v["child"] == child);
        let waited = took["accepted_at_ms"].as_f64().unwrap() - t_ms(&fork);
        // The parent stamps `fork` after fork() returns, the child starts its 400 ms
        // at once: on a busy machine the parent's stamp can come a time slice late.
        assert!(
            waited >= 350.0,
            "child {child}: first accept {waited} ms after its fork"
        );
    }
    assert_eq!(s.counts.forks, 2, "{s:?}");
}
