//! Real PHP-FPM and `epoll-listen-fork` side by side (where `php-fpm8.2` is installed;
//! otherwise each test says it is skipped): the same load on both, the simulator with the
//! PHP-FPM models' default costs, compared within PHP-FPM's own run-to-run range (issue 8).
//! Each test states the range measured on the development machine (AMD EPYC, 2 cores
//! shared with other builds, load average 4-6, PHP 8.2.36); the bounds are PHP-FPM's range
//! there, widened so that the suite holds with both cores busy.

mod fpm_util;
mod util;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fpm_util::log::{self, What};
use fpm_util::{Fpm, Pool, fastcgi};
use nix::sys::signal::Signal;
use serde_json::Value;
use util::Running;

const BIN: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");

/// Sends `n` requests one after another on fresh connections, each read to its end (the
/// server's close; the simulator does not read the request, so its close may come as a
/// reset, and a write may find it closed already).
fn one_after_another(socket: &Path, request: &fastcgi::Request, n: usize) {
    let bytes = request.encode();
    for _ in 0..n {
        let mut stream = UnixStream::connect(socket).expect("connect");
        stream
            .set_read_timeout(Some(fpm_util::WAIT))
            .expect("read timeout");
        match stream.write_all(&bytes) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::BrokenPipe => continue,
            Err(e) => panic!("write: {e}"),
        }
        let mut sink = Vec::new();
        match stream.read_to_end(&mut sink) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// The simulator on a unix socket in `dir`, JSON lines, with `args`.
fn simulator(dir: &Path, args: &[&str]) -> Running {
    let socket = dir.join("sim.sock");
    let mut all = vec!["--format", "json", "--unix", socket.to_str().unwrap()];
    all.extend_from_slice(args);
    Running::start(BIN, &all)
}

/// Reads (bounded) until an `event` line later than every line of that event seen so far.
fn next_event(run: &mut Running, event: &str) -> Value {
    let last = run
        .events(event)
        .last()
        .map_or(-1.0, |v| v["t_ms"].as_f64().unwrap());
    run.wait_event(event, |v| v["t_ms"].as_f64().unwrap() > last)
}

/// The median of `xs` (sorted in place).
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// How many children serve 36 one-millisecond requests sent one after another to an
/// ondemand pool of 10 with `pm.max_requests = 3`, on PHP-FPM (`log` the children
/// started) and on the simulator (its forks), once every respawn the load caused is done:
/// after PHP-FPM's next maintenance tick, after the simulator's next two status lines.
fn max_requests_children(php_fpm: bool) -> Option<f64> {
    const N: usize = 36;
    if php_fpm {
        let fpm = Fpm::start(&Pool::ondemand(10).set("pm.max_requests", 3))?;
        one_after_another(&fpm.socket, &fpm.sleep_request(Duration::from_millis(1)), N);
        let from = fpm.log().len();
        let lines = fpm.wait_log_from(from, "a tick after the load", |w| {
            matches!(w, What::Tick { .. })
        });
        let started = log::started(&lines).len();
        assert!(fpm.stop().is_empty());
        return Some(started as f64);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut run = simulator(
        dir.path(),
        &[
            "--model",
            "ondemand",
            "--max-children",
            "10",
            "--max-requests",
            "3",
            "--sleep",
            "1ms",
            "--status-every",
            "100ms",
        ],
    );
    let request = fastcgi::Request {
        script_filename: "/sleep.php".into(),
        script_name: "/sleep.php".into(),
        query: "us=1000".into(),
    };
    one_after_another(&dir.path().join("sim.sock"), &request, N);
    for _ in 0..2 {
        next_event(&mut run, "status");
    }
    run.signal(Signal::SIGTERM);
    assert!(run.finish().success());
    Some(run.summary()["forks"].as_f64().unwrap())
}

#[test]
fn issue_8_max_requests_three_back_to_back_starts_as_many_children_as_php_fpm() {
    // Measured (21 runs of PHP-FPM): 14-18 children (median 15); the simulator 14-15
    // with the defaults (10 runs; 15-17 with the earlier --child-startup 1800us, 14-16
    // with --request-shutdown 0 as well). 36 / 3 = 12 would be the fewest: a
    // connection that arrives while the only child is finishing or being replaced forks.
    if fpm_util::php_fpm().is_none() {
        return;
    }
    let runs = 5;
    let mut fpm: Vec<f64> = (0..runs)
        .filter_map(|_| max_requests_children(true))
        .collect();
    let mut sim: Vec<f64> = (0..runs)
        .filter_map(|_| max_requests_children(false))
        .collect();
    eprintln!("children started: php-fpm {fpm:?}, simulator {sim:?}");
    let (lo, hi) = range(&fpm);
    let sim_median = median(&mut sim);
    assert!(
        sim.iter().all(|&n| n >= 12.0) && fpm.iter().all(|&n| n >= 12.0),
        "never fewer than 36 / 3: php-fpm {fpm:?}, simulator {sim:?}"
    );
    assert!(
        (lo - 2.0..=hi + 2.0).contains(&sim_median),
        "simulator median {sim_median} outside PHP-FPM's range {lo}-{hi} (+-2): php-fpm \
         {fpm:?}, simulator {sim:?}; fpm median {}",
        median(&mut fpm)
    );
}

/// Seconds since midnight now, in UTC.
fn utc_time_of_day() -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    Duration::from_secs_f64(now.as_secs_f64() % 86_400.0)
}

/// The wall-clock times of PHP-FPM's log are local time: the offset to UTC, as a multiple
/// of 15 minutes (every time zone is), from a line logged just now.
fn log_offset(line_at: Duration, now_utc: Duration) -> f64 {
    let diff = line_at.as_secs_f64() - now_utc.as_secs_f64();
    (diff / 900.0).round() * 900.0
}

/// 50 ms between connects: each finds every child busy and forks (connects closer
/// together can merge into one edge-triggered event). Pacing the load, not a wait.
fn pace() {
    std::thread::sleep(Duration::from_millis(50));
}

/// Three 300 ms requests 50 ms apart to an ondemand pool of 3 with a
/// 1 s idle timeout; returns the seconds from the end of the load to the idle kill of each
/// child forked.
fn idle_kill_delays(php_fpm: bool) -> Option<Vec<f64>> {
    let sleep = Duration::from_millis(300);
    if php_fpm {
        let fpm = Fpm::start(&Pool::ondemand(3).set("pm.process_idle_timeout", "1s"))?;
        let ready = fpm.wait_log("ready", |w| *w == What::Ready);
        let offset = log_offset(ready.last().unwrap().at, utc_time_of_day());
        let request = fpm.sleep_request(sleep);
        let streams: Vec<UnixStream> = (0..3)
            .map(|_| {
                pace();
                fastcgi::send(&fpm.socket, &request).expect("send")
            })
            .collect();
        for mut stream in streams {
            fastcgi::read_response(&mut stream).expect("a response");
        }
        let end = utc_time_of_day().as_secs_f64() + offset;
        // Each kill found after the one before (a predicate that counts would count the
        // same line again on every poll of the log).
        let children = log::started(&fpm.log()).len();
        let mut lines = Vec::new();
        for _ in 0..children {
            lines = fpm.wait_log_from(lines.len(), "an idle kill", |w| {
                matches!(w, What::KilledByPm { .. })
            });
        }
        let kills = lines
            .iter()
            .filter(|l| matches!(l.what, What::KilledByPm { .. }))
            .map(|l| l.at.as_secs_f64() - end)
            .collect();
        assert!(fpm.stop().is_empty());
        return Some(kills);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut run = simulator(
        dir.path(),
        &[
            "--model",
            "ondemand",
            "--max-children",
            "3",
            "--process-idle-timeout",
            "1s",
            "--sleep",
            "300ms",
        ],
    );
    let t0 = Instant::now();
    let streams: Vec<UnixStream> = (0..3)
        .map(|_| {
            pace();
            UnixStream::connect(dir.path().join("sim.sock")).expect("connect")
        })
        .collect();
    for mut stream in streams {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    let end_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let next_quit = |run: &mut Running| loop {
        let kill = next_event(run, "idle_kill");
        if kill["signal"] == "SIGQUIT" {
            break kill;
        }
    };
    // Every fork precedes the first kill (lines are read as they are waited for).
    let mut kills = vec![next_quit(&mut run)];
    let children = run.events("fork").len();
    while kills.len() < children {
        kills.push(next_quit(&mut run));
    }
    run.signal(Signal::SIGTERM);
    assert!(run.finish().success());
    Some(
        kills
            .iter()
            .map(|v| (v["t_ms"].as_f64().unwrap() - end_ms) / 1000.0)
            .collect(),
    )
}

/// The smallest and largest of `xs`.
fn range(xs: &[f64]) -> (f64, f64) {
    (
        xs.iter().copied().fold(f64::MAX, f64::min),
        xs.iter().copied().fold(f64::MIN, f64::max),
    )
}

#[test]
fn issue_8_ondemand_idle_kills_come_as_late_as_php_fpm_s() {
    // PHP-FPM kills one idle child per 1 s tick once `last.tv_sec < now.tv_sec - 1`: so
    // the first 1-3 s after the load, the others a tick apart. Measured (3 runs each, s
    // after the load, connects 50 ms apart): PHP-FPM's first kill 1.55-2.55 s, the next
    // 1.00-1.01 s apart; the simulator's 1.54-2.55 s, 1.00 s apart (the fraction is where
    // the load ends between two ticks, the same on both).
    if fpm_util::php_fpm().is_none() {
        return;
    }
    let runs = 3;
    let fpm: Vec<Vec<f64>> = (0..runs).filter_map(|_| idle_kill_delays(true)).collect();
    let sim: Vec<Vec<f64>> = (0..runs).filter_map(|_| idle_kill_delays(false)).collect();
    eprintln!("idle kill delays: php-fpm {fpm:?}, simulator {sim:?}");
    for kills in fpm.iter().chain(&sim) {
        // Three children, fewer when a connect lands before the parent waits again (two
        // merge into one event) on busy cores; each killed in turn.
        assert!(!kills.is_empty() && kills.len() <= 3, "{fpm:?} {sim:?}");
        // One per tick: a tick apart, or two when the children's last requests straddle
        // a second boundary (whole seconds compared); generous for busy cores.
        for pair in kills.windows(2) {
            let gap = pair[1] - pair[0];
            assert!((0.5..=2.3).contains(&gap), "gap {gap}: {fpm:?} {sim:?}");
        }
    }
    let firsts = |runs: &[Vec<f64>]| runs.iter().map(|k| k[0]).collect::<Vec<f64>>();
    let (lo, hi) = range(&firsts(&fpm));
    let mut sim_first = firsts(&sim);
    let sim_median = median(&mut sim_first);
    // PHP-FPM's range over a few runs is narrower than its possible window (1-3 s): the
    // simulator's median must be in that window and within one tick (1 s, plus 50 ms of
    // scheduling on busy cores) of PHP-FPM's range. Whole seconds are compared, so a kill
    // lands on one tick or the next by where the load ended: seen with both cores busy,
    // PHP-FPM 2.548-2.568 s in all three runs, the simulator 1.547 s in two.
    assert!(
        (0.9..=3.3).contains(&sim_median) && (lo - 1.05..=hi + 1.05).contains(&sim_median),
        "first kill: simulator median {sim_median} s, PHP-FPM {lo}-{hi} s: {fpm:?} {sim:?}"
    );
}

/// What happened at start (`[0]`) and at each maintenance tick after it, as words:
/// `fork`, `seems_busy S/I/T` (spawning, idle, total).
type Ticks = Vec<Vec<String>>;

/// Dynamic 10 / 2 / 1 / 3 with ten connections held busy, until the first `seems busy`
/// tick: PHP-FPM's log, cut at its tick lines.
fn php_fpm_dynamic_ticks() -> Option<Ticks> {
    let fpm = Fpm::start(&Pool::dynamic(10, 2, 1, 3))?;
    let request = fpm.sleep_request(Duration::from_secs(8));
    let _held: Vec<UnixStream> = (0..10)
        .map(|_| fastcgi::send(&fpm.socket, &request).expect("send"))
        .collect();
    let lines = fpm.wait_log("seems busy", |w| matches!(w, What::SeemsBusy { .. }));
    // The fork of the seems-busy tick comes right after the warning.
    let from = lines.len();
    let lines = fpm.wait_log_from(from, "its fork", |w| matches!(w, What::Started { .. }));
    let mut ticks: Ticks = vec![Vec::new()];
    for line in &lines {
        match &line.what {
            What::Tick { .. } => ticks.push(Vec::new()),
            What::Started { .. } => ticks.last_mut().unwrap().push("fork".into()),
            What::SeemsBusy {
                spawning,
                idle,
                total,
            } => ticks
                .last_mut()
                .unwrap()
                .push(format!("seems_busy {spawning}/{idle}/{total}")),
            _ => {}
        }
    }
    assert!(fpm.stop().is_empty());
    Some(ticks)
}

/// The same on the simulator, cut at its `spawn_rate` lines (one per tick).
fn simulator_dynamic_ticks() -> Ticks {
    let dir = tempfile::tempdir().unwrap();
    let mut run = simulator(
        dir.path(),
        &[
            "--model",
            "dynamic",
            "--max-children",
            "10",
            "--start-servers",
            "2",
            "--min-spare-servers",
            "1",
            "--max-spare-servers",
            "3",
            "--sleep",
            "8s",
        ],
    );
    let _held: Vec<UnixStream> = (0..10)
        .map(|_| UnixStream::connect(dir.path().join("sim.sock")).expect("connect"))
        .collect();
    let busy = run.wait_event("seems_busy", |_| true);
    let busy_ms = busy["t_ms"].as_f64().unwrap();
    run.wait_event("fork", |v| v["t_ms"].as_f64().unwrap() > busy_ms);
    let mut ticks: Ticks = vec![Vec::new()];
    for v in &run.seen {
        match v["event"].as_str().unwrap_or_default() {
            "spawn_rate" => ticks.push(Vec::new()),
            "fork" => ticks.last_mut().unwrap().push("fork".into()),
            "seems_busy" => ticks.last_mut().unwrap().push(format!(
                "seems_busy {}/{}/{}",
                v["spawning"], v["idle"], v["total"]
            )),
            _ => {}
        }
    }
    ticks
}

#[test]
fn issue_8_dynamic_grows_tick_by_tick_as_php_fpm_does() {
    // Measured: PHP-FPM and the simulator alike, every run: two forks at start, one per
    // tick for ticks 1-4, `seems busy` (spawning 8, 0 idle, 5 total) at tick 4. No
    // run-to-run range: the rule is deterministic once every child is busy.
    let Some(fpm) = php_fpm_dynamic_ticks() else {
        return;
    };
    let sim = simulator_dynamic_ticks();
    let want: Ticks = vec![
        vec!["fork".into(), "fork".into()],
        vec!["fork".into()],
        vec!["fork".into()],
        vec!["fork".into()],
        vec!["seems_busy 8/0/5".into(), "fork".into()],
    ];
    assert_eq!(fpm, want, "PHP-FPM");
    assert_eq!(sim, want, "the simulator");
}
