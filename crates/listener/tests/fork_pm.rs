//! `epoll-listen-fork --model static|dynamic` end to end: PHP-FPM's `pm = static` and
//! `pm = dynamic` seen from plain std clients. Every wait is bounded and waits on an event
//! line; the dynamic tests count maintenance ticks by their `spawn_rate` lines (one per
//! tick), so they assert orders and counts per tick, not times.

mod util;

use std::net::TcpStream;

use listenlab_listener::forker::ForkEvent;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use util::Running;
use util::report::ForkSummary;

const BIN: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");

fn start(args: &[&str]) -> Running {
    let mut all = vec!["--format", "json", "--inet", "127.0.0.1:0"];
    all.extend_from_slice(args);
    Running::start(BIN, &all)
}

fn stop(run: &mut Running) -> ForkSummary {
    run.signal(Signal::SIGTERM);
    assert!(run.finish().success());
    for line in &run.seen[1..run.seen.len() - 1] {
        serde_json::from_value::<ForkEvent>(line.clone())
            .unwrap_or_else(|e| panic!("not a known event line ({e}): {line}"));
    }
    let s: ForkSummary = serde_json::from_value(run.summary()).expect("summary shape");
    assert_eq!(s.counts.check(), Ok(()), "{s:?}");
    s
}

fn clients(run: &Running, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(&run.addr).unwrap())
        .collect()
}

fn t_ms(v: &Value) -> f64 {
    v["t_ms"].as_f64().unwrap()
}

/// The lines seen so far cut at each `spawn_rate` line: `ticks[0]` is what came before
/// the first tick, `ticks[k]` starts with tick k's `spawn_rate` line.
fn by_tick(seen: &[Value]) -> Vec<Vec<Value>> {
    let mut ticks = vec![Vec::new()];
    for v in seen {
        if v["event"] == "spawn_rate" {
            ticks.push(Vec::new());
        }
        ticks.last_mut().unwrap().push(v.clone());
    }
    ticks
}

fn named<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["event"] == event).collect()
}

fn dynamic(extra: &[&str]) -> Running {
    let mut all = vec![
        "--model",
        "dynamic",
        "--start-servers",
        "2",
        "--min-spare-servers",
        "1",
    ];
    all.extend_from_slice(extra);
    start(&all)
}

#[test]
fn static_forks_max_children_at_start_and_replaces_a_killed_child() {
    let mut run = start(&["--model", "static", "--max-children", "3", "--sleep", "0"]);
    let forks: Vec<Value> = (1..=3u64)
        .map(|n| run.wait_event("fork", |v| v["child"] == n))
        .collect();
    // The children accept on their own: the listener is not watched.
    let _client = TcpStream::connect(&run.addr).unwrap();
    run.wait_event("child_accepted", |v| v["total_accepted"] == 1);
    let victim = forks[1]["pid"].as_i64().unwrap() as i32;
    kill(Pid::from_raw(victim), Signal::SIGKILL).unwrap();
    let exited = run.wait_event("child_exited", |v| v["pid"] == victim);
    assert_eq!(
        (exited["status"].as_i64(), exited["outcome"].as_str()),
        (Some(137), Some("died"))
    );
    let replacement = run.wait_event("fork", |v| v["child"] == 4);
    assert_eq!(replacement["running"], 3);
    assert!(t_ms(&replacement) >= t_ms(&exited));
    let s = stop(&mut run);
    // Three at start, one replacement, nothing else: no wakeup, warning or idle kill.
    assert_eq!(
        (s.counts.forks, s.counts.children_replaced, s.counts.wakeups),
        (4, 1, 0),
        "{s:?}"
    );
    assert_eq!(
        (
            s.counts.max_concurrent_children,
            s.counts.max_children_warnings,
            s.counts.idle_kills
        ),
        (3, 0, 0)
    );
    assert_eq!((s.model.as_str(), s.counts.accepted), ("static", 1));
}

#[test]
fn static_replaces_a_child_that_reached_max_requests() {
    let mut run = start(&[
        "--model",
        "static",
        "--max-children",
        "1",
        "--sleep",
        "0",
        "--max-requests",
        "1",
    ]);
    run.wait_event("fork", |v| v["child"] == 1);
    let _client = TcpStream::connect(&run.addr).unwrap();
    let done = run.wait_event("child_exited", |v| v["child"] == 1);
    assert_eq!(done["outcome"], "completed");
    run.wait_event("fork", |v| v["child"] == 2);
    let s = stop(&mut run);
    assert_eq!((s.counts.forks, s.counts.children_replaced), (2, 1));
}

/// Waits for `n` maintenance ticks (their `spawn_rate` lines) in all; returns the last.
fn wait_ticks(run: &mut Running, n: usize) -> Value {
    let mut last = -1.0;
    let mut line = Value::Null;
    for _ in 0..n {
        line = run.wait_event("spawn_rate", |v| t_ms(v) > last);
        last = t_ms(&line);
    }
    line
}

/// Consecutive ticks are at least a second apart (re-armed from the firing time; a timer
/// may be late, never early).
fn assert_ticks_a_second_apart(ticks: &[Vec<Value>]) {
    let times: Vec<f64> = ticks[1..].iter().map(|t| t_ms(&t[0])).collect();
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= 990.0, "ticks at {times:?}");
    }
}

/// Ten held connections, seven children at most: every child is busy, so each tick finds
/// no idle child. Ticks 1-5 (rates 1, 2, 4, 8, 16) fork one child each (min spare 1 - idle
/// 0 = 1), ticks 4 and 5 with `seems busy`; tick 6 finds 7 running and warns
/// `pm.max_children` once (rate back to 1); tick 7 does not warn again.
#[test]
fn dynamic_grows_one_child_per_tick_says_seems_busy_from_the_fourth_and_warns_once_at_max() {
    let mut run = dynamic(&[
        "--max-children",
        "7",
        "--max-spare-servers",
        "3",
        "--sleep",
        "60s",
    ]);
    let _held = clients(&run, 10);
    wait_ticks(&mut run, 7);
    let s = stop(&mut run);
    let ticks = by_tick(&run.seen);
    assert_ticks_a_second_apart(&ticks);
    assert_eq!(named(&ticks[0], "fork").len(), 2, "start_servers at start");
    let rates: Vec<u64> = ticks[1..=7]
        .iter()
        .map(|t| t[0]["rate"].as_u64().unwrap())
        .collect();
    assert_eq!(rates, [1, 2, 4, 8, 16, 32, 1]);
    for (k, tick) in ticks.iter().enumerate().take(8).skip(1) {
        let forks = named(tick, "fork").len();
        let busy = named(tick, "seems_busy");
        let warned = named(tick, "max_children").len();
        assert_eq!(tick[0]["idle"], 0, "tick {k}: {tick:?}");
        assert_eq!(forks, usize::from(k <= 5), "tick {k}: {tick:?}");
        assert_eq!(
            busy.len(),
            usize::from(k == 4 || k == 5),
            "tick {k}: {tick:?}"
        );
        assert_eq!(warned, usize::from(k == 6), "tick {k}: {tick:?}");
        if k == 4 {
            assert_eq!(
                busy[0]["message"],
                "seems busy (you may need to increase pm.start_servers, or \
                 pm.min/max_spare_servers), spawning 8 children, there are 0 idle, and 5 \
                 total children"
            );
        }
    }
    let warning = &named(&run.seen, "max_children")[0];
    assert_eq!(
        warning["message"],
        "server reached pm.max_children setting (7), consider raising it"
    );
    assert_eq!(
        (
            s.counts.forks,
            s.counts.seems_busy_warnings,
            s.counts.max_children_warnings
        ),
        (7, 2, 1)
    );
    assert_eq!((s.model.as_str(), s.counts.wakeups), ("dynamic", 0));
}

/// Issue 8's load: max children 10, start 2, min spare 1, max spare 3, 50 one-second
/// requests at once. Every child is busy at ticks 1-8 (each request ends 100 ms after a
/// tick: `--child-startup 100ms` keeps the children's phase off the ticks'), so each of
/// them forks one child, and ticks 4-8 (rates 8, 16, 32, 32, 32) say `seems busy`, as
/// PHP-FPM does. 2+3+...+9 = 44 requests have started by tick 8, so the load ends during
/// the ninth second: no tick after the eighth forks, and idle children are retired one per
/// tick from the ninth on.
#[test]
fn issue_8_dynamic_under_fifty_one_second_requests_grows_one_child_per_tick() {
    let mut run = dynamic(&[
        "--max-children",
        "10",
        "--max-spare-servers",
        "3",
        "--sleep",
        "1s",
        "--child-startup",
        "100ms",
    ]);
    let _load = clients(&run, 50);
    wait_ticks(&mut run, 10);
    let s = stop(&mut run);
    let ticks = by_tick(&run.seen);
    assert_ticks_a_second_apart(&ticks);
    assert_eq!(named(&ticks[0], "fork").len(), 2);
    for (k, tick) in ticks.iter().enumerate().take(11).skip(1) {
        let (forks, busy, kills) = (
            named(tick, "fork").len(),
            named(tick, "seems_busy").len(),
            named(tick, "idle_kill").len(),
        );
        assert_eq!(forks, usize::from(k <= 8), "tick {k}: {tick:?}");
        assert_eq!(
            busy,
            usize::from((4..=8).contains(&k)),
            "tick {k}: {tick:?}"
        );
        assert!(kills <= usize::from(k >= 9), "tick {k}: {tick:?}");
    }
    let rates: Vec<u64> = ticks[1..=8]
        .iter()
        .map(|t| t[0]["rate"].as_u64().unwrap())
        .collect();
    assert_eq!(rates, [1, 2, 4, 8, 16, 32, 32, 32]);
    assert_eq!(
        (s.counts.forks, s.counts.seems_busy_warnings),
        (10, 5),
        "{s:?}"
    );
    assert_eq!(s.counts.accepted, 50, "{s:?}");
}

/// Four 2.5 s requests, max spare 2: ticks 1 and 2 fork children 3 and 4 for the third
/// and fourth request. Once the requests end one by one, a tick that finds 3 idle
/// children (more than 2) retires the idle child started first, one per tick: children 1
/// then 2, on two consecutive ticks, and neither is replaced.
#[test]
fn dynamic_retires_one_idle_child_per_tick_after_the_load_oldest_first() {
    let mut run = dynamic(&[
        "--max-children",
        "4",
        "--max-spare-servers",
        "2",
        "--sleep",
        "2500ms",
    ]);
    let _load = clients(&run, 4);
    let first = run.wait_event("idle_kill", |_| true);
    let second = run.wait_event("idle_kill", |v| t_ms(v) > t_ms(&first));
    for (kill, child) in [(&first, 1), (&second, 2)] {
        assert_eq!(
            (kill["child"].as_u64(), kill["signal"].as_str()),
            (Some(child), Some("SIGQUIT"))
        );
        let exited = run.wait_event("child_exited", |v| v["child"] == child);
        assert_eq!(exited["outcome"], "idle_timeout");
    }
    // The tick after the second retirement finds 2 idle: nothing more to retire.
    let after = run.wait_event("spawn_rate", |v| t_ms(v) > t_ms(&second));
    let s = stop(&mut run);
    assert_eq!(after["idle"], 2, "{after}");
    let ticks = by_tick(&run.seen);
    assert_ticks_a_second_apart(&ticks);
    let kill_ticks: Vec<usize> = ticks
        .iter()
        .enumerate()
        .filter(|(_, t)| !named(t, "idle_kill").is_empty())
        .map(|(k, t)| {
            assert_eq!(named(t, "idle_kill").len(), 1, "one per tick: {t:?}");
            assert_eq!(t[0]["idle"], 3, "{t:?}");
            k
        })
        .collect();
    assert_eq!(kill_ticks.len(), 2);
    assert_eq!(kill_ticks[1], kill_ticks[0] + 1, "consecutive ticks");
    assert_eq!(
        (
            s.counts.forks,
            s.counts.children_replaced,
            s.counts.idle_kills
        ),
        (4, 0, 2),
        "{s:?}"
    );
    assert_eq!((s.counts.served, s.counts.idle_timeout_children), (4, 2));
}

#[test]
fn dynamic_spare_servers_out_of_order_are_a_usage_error_in_php_fpm_words() {
    let table: [(&[&str], &str); 4] = [
        (
            &["--start-servers", "5"],
            "pm.start_servers(5) must not be less than pm.min_spare_servers(1) and not \
             greater than pm.max_spare_servers(3)",
        ),
        (
            &["--min-spare-servers", "4"],
            "pm.max_spare_servers(3) must not be less than pm.min_spare_servers(4)",
        ),
        (
            &["--max-children", "2"],
            "pm.min_spare_servers(1) and pm.max_spare_servers(3) cannot be greater than \
             pm.max_children(2)",
        ),
        (
            &["--max-spawn-rate", "0"],
            "pm.max_spawn_rate must be a positive value",
        ),
    ];
    for (extra, words) in table {
        let mut args = vec!["--inet", "127.0.0.1:0", "--model", "dynamic"];
        args.extend_from_slice(extra);
        let out = util::run_to_end(BIN, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
        assert!(stderr.contains(extra[0]), "names the flag: {stderr}");
    }
}

#[test]
fn status_lines_carry_php_fpm_status_page_fields() {
    let mut run = start(&[
        "--model",
        "static",
        "--max-children",
        "2",
        "--sleep",
        "30s",
        "--status-every",
        "200ms",
    ]);
    run.wait_event("status", |v| v["idle processes"] == 2);
    let _busy = TcpStream::connect(&run.addr).unwrap();
    run.wait_event("child_accepted", |v| v["total_accepted"] == 1);
    let page = run.wait_event("status", |v| v["accepted conn"] == 1);
    stop(&mut run);
    assert_eq!(page["pool"], "www");
    assert_eq!(page["process manager"], "static");
    assert_eq!(
        (
            &page["idle processes"],
            &page["active processes"],
            &page["total processes"]
        ),
        (&1.into(), &1.into(), &2.into()),
        "{page}"
    );
    assert_eq!(
        (&page["max active processes"], &page["max children reached"]),
        (&1.into(), &0.into())
    );
    assert_eq!(page["listen queue len"], 128);
    for field in ["start since", "listen queue", "max listen queue"] {
        assert!(page[field].is_u64(), "{field}: {page}");
    }
}
