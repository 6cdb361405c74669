//! `listen-watch` against real listeners that this test holds and never accepts on: the
//! queue and backlog it reads, the owner it finds, its bad-input messages, live sampling
//! stopped by `--duration` and by SIGINT, and wrapping a command.

mod util;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use listenlab_common::Endpoint;
use listenlab_common::testing::output_within;
use nix::sys::signal::Signal;
use serde_json::Value;
use util::{WAIT, run_to_end};

const BIN: &str = env!("CARGO_BIN_EXE_listen-watch");

/// A listener this test holds and never accepts on: a plain socket through nix, so that
/// the backlog and `SO_REUSEPORT` can be chosen (std listens with 128). Closed on drop; a
/// unix socket's file lives in the test's temp dir.
struct Listener {
    _fd: OwnedFd,
    endpoint: Endpoint,
}

/// Listen options of a test listener.
#[derive(Clone, Copy)]
struct ListenOptions {
    backlog: i32,
    reuseport: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            backlog: 128,
            reuseport: false,
        }
    }
}

impl Listener {
    fn bind(endpoint: &Endpoint, opts: ListenOptions) -> nix::Result<Listener> {
        use nix::sys::socket::{
            AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, UnixAddr, bind,
            getsockname, listen, setsockopt, socket, sockopt,
        };
        let family = match endpoint {
            Endpoint::Inet(a) if a.is_ipv4() => AddressFamily::Inet,
            Endpoint::Inet(_) => AddressFamily::Inet6,
            Endpoint::Unix(_) => AddressFamily::Unix,
        };
        let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
        if opts.reuseport {
            setsockopt(&fd, sockopt::ReusePort, &true)?;
        }
        match endpoint {
            Endpoint::Inet(a) => bind(fd.as_raw_fd(), &SockaddrStorage::from(*a))?,
            Endpoint::Unix(p) => bind(fd.as_raw_fd(), &UnixAddr::new(p)?)?,
        }
        listen(&fd, Backlog::new(opts.backlog)?)?;
        let endpoint = match endpoint {
            Endpoint::Inet(_) => {
                let bound: SockaddrStorage = getsockname(fd.as_raw_fd())?;
                let real = bound
                    .as_sockaddr_in()
                    .map(|a| std::net::SocketAddr::V4((*a).into()))
                    .or_else(|| {
                        bound
                            .as_sockaddr_in6()
                            .map(|a| std::net::SocketAddr::V6((*a).into()))
                    })
                    .expect("an inet address");
                Endpoint::Inet(real)
            }
            Endpoint::Unix(p) => Endpoint::Unix(p.clone()),
        };
        Ok(Listener { _fd: fd, endpoint })
    }

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A blocking client connection to it.
    fn connect(&self) -> std::io::Result<OwnedFd> {
        Ok(match &self.endpoint {
            Endpoint::Inet(a) => std::net::TcpStream::connect(a)?.into(),
            Endpoint::Unix(p) => std::os::unix::net::UnixStream::connect(p)?.into(),
        })
    }
}

fn listener(endpoint: Endpoint, backlog: i32) -> Listener {
    Listener::bind(
        &endpoint,
        ListenOptions {
            backlog,
            ..Default::default()
        },
    )
    .unwrap()
}

fn tcp(backlog: i32) -> Listener {
    listener(Endpoint::Inet("127.0.0.1:0".parse().unwrap()), backlog)
}

fn unix(dir: &Path, backlog: i32) -> (Listener, PathBuf) {
    let path = dir.join("w.sock");
    (listener(Endpoint::Unix(path.clone()), backlog), path)
}

fn addr(l: &Listener) -> String {
    match l.endpoint() {
        Endpoint::Inet(a) => a.to_string(),
        Endpoint::Unix(p) => p.display().to_string(),
    }
}

/// `n` connections left in `l`'s accept queue (loopback TCP and unix connects complete
/// before `connect()` returns).
fn queue_up(l: &Listener, n: usize) -> Vec<OwnedFd> {
    (0..n).map(|_| l.connect().unwrap()).collect()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `listen-watch --format json ARGS` to the end (bounded); its lines and exit code.
fn json_run(args: &[&str]) -> (Vec<Value>, Option<i32>) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = run_to_end(BIN, &all);
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (lines, out.status.code())
}

fn by_address<'a>(listeners: &'a Value, address: &str) -> &'a Value {
    listeners
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["address"] == address)
        .unwrap_or_else(|| panic!("{address} not in {listeners:#}"))
}

#[test]
fn once_reads_queue_backlog_and_owner_of_tcp_and_unix_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let t = tcp(16);
    let (u, path) = unix(dir.path(), 16);
    let _held = (queue_up(&t, 7), queue_up(&u, 7));
    let out = run_to_end(
        BIN,
        &[
            "--once",
            "--format",
            "json",
            "--inet",
            &addr(&t),
            "--unix",
            path.to_str().unwrap(),
        ],
    );
    let report = json(&out);
    let listeners = &report["listeners"];
    assert_eq!(listeners.as_array().unwrap().len(), 2, "{report:#}");
    for (l, family) in [(&t, "tcp"), (&u, "unix")] {
        let seen = by_address(listeners, &addr(l));
        assert_eq!(seen["family"], family);
        assert_eq!(
            (seen["queue"].as_u64(), seen["backlog"].as_u64()),
            (Some(7), Some(16))
        );
        assert_eq!(seen["owners"][0]["pid"], std::process::id(), "{seen:#}");
        assert_eq!(seen["owners_hidden"], false);
        // The test process is the only owner. Workers are not checked exactly: a child this
        // test binary is spawning holds every fd between fork and exec, and would count.
        assert_eq!(seen["owners"].as_array().unwrap().len(), 1, "{seen:#}");
        assert!(seen["workers"].as_u64().unwrap() >= 1, "{seen:#}");
    }
    assert!(
        report["idle_wchans"]["tcp_accept"].is_string(),
        "{report:#}"
    );

    let text = run_to_end(BIN, &["--once", "--inet", &addr(&t)]);
    assert!(text.status.success());
    let table = String::from_utf8(text.stdout).unwrap();
    let row = table.lines().find(|l| l.contains(&addr(&t))).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..4],
        &["tcp", addr(&t).as_str(), "7", "16"],
        "{table}"
    );
}

#[test]
fn once_without_targets_lists_every_listener_including_ours() {
    let t = tcp(16);
    let _held = queue_up(&t, 2);
    let report = json(&run_to_end(BIN, &["--once", "--format", "json"]));
    let seen = by_address(&report["listeners"], &addr(&t));
    assert_eq!(seen["queue"], 2);
}

const FORK: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");

/// `listen-watch --once --format json --inet ADDR`: the one listener it reports.
fn once(address: &str) -> Value {
    let report = json(&run_to_end(
        BIN,
        &["--once", "--format", "json", "--inet", address],
    ));
    by_address(&report["listeners"], address).clone()
}

/// Polls `--once` (bounded by [`WAIT`]) until `pred` holds for the listener; returns it.
fn once_until(address: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = once(address);
        if pred(&seen) || Instant::now() >= deadline {
            return seen;
        }
    }
}

/// `epoll-listen-fork --model ondemand` on an ephemeral TCP port, with these children and
/// service time, started (bounded) up to its readiness line.
fn ondemand(max_children: &str, sleep: &str) -> util::Running {
    util::Running::ondemand(FORK, &["--max-children", max_children, "--sleep", sleep])
}

#[test]
fn ondemand_children_holding_long_connections_are_busy_workers() {
    let mut fork = ondemand("3", "30s");
    let address = fork.addr.clone();
    // One at a time, as the forker's own test does: each makes the master fork a child
    // that accepts it (an edge-triggered event per connection); the last three queue.
    let mut held = Vec::new();
    for n in 1..=3u64 {
        held.push(std::net::TcpStream::connect(&address).unwrap());
        fork.wait_event("child_accepted", |v| v["total_accepted"] == n);
    }
    for _ in 0..3 {
        held.push(std::net::TcpStream::connect(&address).unwrap());
    }
    let seen = once_until(&address, |l| l["workers"] == 3 && l["queue"] == 3);
    assert_eq!(seen["workers"], 3, "{seen:#}");
    assert_eq!(seen["busy"], 3, "{seen:#}");
    assert_eq!(seen["idle"], 0, "{seen:#}");
    assert_eq!(seen["queue"], 3, "{seen:#}");
    assert_eq!(seen["owners"][0]["pid"], fork.pid().as_raw(), "{seen:#}");
    assert_eq!(seen["owners"].as_array().unwrap().len(), 1, "{seen:#}");
}

#[test]
fn a_child_asleep_in_accept_is_an_idle_worker() {
    let mut fork = ondemand("1", "0");
    let address = fork.addr.clone();
    // One connection makes the master fork a child; served at once, the child goes back
    // to a blocking accept: idle.
    drop(std::net::TcpStream::connect(&address).unwrap());
    fork.wait_event("child_accepted", |v| v["total_accepted"] == 1);
    let seen = once_until(&address, |l| l["workers"] == 1 && l["idle"] == 1);
    assert_eq!(
        (seen["workers"].as_u64(), seen["idle"].as_u64()),
        (Some(1), Some(1)),
        "{seen:#}"
    );
    assert_eq!(seen["busy"], 0, "{seen:#}");
}

fn usage_error(args: &[&str]) -> String {
    let out = run_to_end(BIN, args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    assert!(out.stdout.is_empty(), "{args:?}: stdout {out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    stderr
}

#[test]
fn a_target_that_matches_nothing_is_refused_with_the_nearest_listeners() {
    let t = tcp(16);
    let port = {
        let gone = tcp(1);
        match gone.endpoint() {
            Endpoint::Inet(a) => a.port(),
            Endpoint::Unix(_) => unreachable!(),
        }
    };
    let ours = match t.endpoint() {
        Endpoint::Inet(a) => a.port(),
        Endpoint::Unix(_) => unreachable!(),
    };
    let msg = usage_error(&["--once", "--port", &port.to_string()]);
    assert!(
        msg.contains(&format!("--port {port}: no TCP listener")),
        "{msg}"
    );
    assert!(msg.contains("nearest listening ports: "), "{msg}");
    // Our listener's port is listed when it is among the five nearest, which it is
    // unless four other listeners sit closer: check the form, and ours when in range.
    let msg = usage_error(&["--once", "--inet", &format!("127.0.0.1:{port}")]);
    assert!(msg.contains("no TCP listener there"), "{msg}");
    if port.abs_diff(ours) < 3 {
        assert!(msg.contains(&ours.to_string()), "{msg}");
    }

    let dir = tempfile::tempdir().unwrap();
    let (_u, path) = unix(dir.path(), 4);
    let wrong = dir.path().join("v.sock");
    let msg = usage_error(&["--once", "--unix", wrong.to_str().unwrap()]);
    assert!(msg.contains("no unix listener bound to that path"), "{msg}");
    assert!(
        msg.contains(path.to_str().unwrap()),
        "nearest path listed: {msg}"
    );
}

#[test]
fn bad_pids_and_intervals_are_usage_errors() {
    let msg = usage_error(&["--once", "--pid", "abc"]);
    assert!(
        msg.contains("invalid value 'abc' for '--pid <PID>'"),
        "{msg}"
    );
    // pid_max is at most 4194304 (PID_MAX_LIMIT), so this pid never exists.
    let msg = usage_error(&["--once", "--pid", "4194304"]);
    assert!(msg.contains("--pid 4194304: no such process"), "{msg}");
    let msg = usage_error(&["--port", "80", "--interval", "0"]);
    assert!(
        msg.contains("invalid value '0' for '--interval <D>'"),
        "{msg}"
    );
    // A bare number: seconds for the other tools' durations, refused here (issue 9).
    let msg = usage_error(&["--port", "80", "--interval", "1"]);
    assert!(
        msg.contains("invalid value '1' for '--interval <D>': a bare number has no unit"),
        "{msg}"
    );
    assert!(msg.contains("e.g. 1ms or 1s"), "{msg}");
    let msg = usage_error(&[]);
    assert!(msg.contains("no target"), "{msg}");
}

/// A running `listen-watch --format json ARGS` (killed when dropped).
fn watch(args: &[&str]) -> util::Running {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    util::Running::spawn(BIN, &all, |_| {})
}

/// Waits for the summary line and the exit; returns (summary, exit code).
fn finish(w: &mut util::Running) -> (Value, Option<i32>) {
    let status = w.finish();
    (w.summary(), status.code())
}

#[test]
fn sampling_reports_found_changes_and_a_summary_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let (u, path) = unix(dir.path(), 16);
    let _first = queue_up(&u, 3);
    let mut w = watch(&["--interval", "1ms", "--unix", path.to_str().unwrap()]);
    // The `listener` line is the readiness line: sampling has started.
    let found = w.wait_event("listener", |_| true);
    assert_eq!(found["state"], "found");
    assert_eq!(
        (found["queue"].as_u64(), found["backlog"].as_u64()),
        (Some(3), Some(16))
    );
    assert_eq!(found["owners"][0]["pid"], std::process::id());
    let _more = queue_up(&u, 2);
    let changed = w.wait_event("sample", |v| v["queue"] == 5);
    assert_eq!(changed["queue"], 5, "{changed}");
    // Sample lines only on change: every one differs from the one before.
    let interval = w.wait_event("interval", |_| true);
    let l = &interval["listeners"][0];
    assert!(
        l["queue_min"].as_u64() <= l["queue_max"].as_u64(),
        "{interval}"
    );
    assert!(l["queue_max"].as_u64().unwrap() <= 5);
    w.signal(Signal::SIGINT);
    let (summary, code) = finish(&mut w);
    assert_eq!(code, Some(0));
    let s = &summary["listeners"][0];
    assert_eq!(
        (s["queue"].as_u64(), s["max_queue"].as_u64()),
        (Some(5), Some(5)),
        "{summary:#}"
    );
    assert_eq!(s["backlog"], 16);
    assert_eq!(s["pid"], std::process::id());
    assert!(s["queue_p50"].as_u64() <= s["queue_p99"].as_u64());
    assert!(summary["samples"].as_u64().unwrap() >= 2, "{summary:#}");
    // Its own cost: some CPU (start-up alone reads /proc), at most two cores' worth, and
    // the percentage is that over the elapsed time.
    let (cpu, elapsed) = (
        summary["own_cpu_ms"].as_f64().unwrap(),
        summary["elapsed_ms"].as_f64().unwrap(),
    );
    assert!(cpu > 0.0 && cpu <= 2.0 * elapsed + 50.0, "{summary:#}");
    let percent = summary["own_cpu_percent"].as_f64().unwrap();
    assert!(
        (percent - 100.0 * cpu / elapsed).abs() < 1e-6,
        "{summary:#}"
    );
    let samples: Vec<&Value> = w.seen.iter().filter(|v| v["event"] == "sample").collect();
    let values =
        |v: &Value| ["queue", "backlog", "workers", "busy"].map(|k| v[k].as_u64().unwrap());
    for pair in samples.windows(2) {
        assert_ne!(values(pair[0]), values(pair[1]), "{samples:#?}");
    }
}

/// Two unix listeners or more are read from one unix dump per sample (not one lookup
/// each): their counts still change on their own, and one that closes is gone while the
/// other is still sampled.
#[test]
fn several_unix_listeners_are_sampled_each_and_one_that_closes_is_gone() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, path_a) = unix(dir_a.path(), 16);
    let (b, path_b) = unix(dir_b.path(), 8);
    let _held_a = queue_up(&a, 1);
    let mut w = watch(&[
        "--interval",
        "1ms",
        "--unix",
        path_a.to_str().unwrap(),
        "--unix",
        path_b.to_str().unwrap(),
    ]);
    let (name_a, name_b) = (path_a.to_str().unwrap(), path_b.to_str().unwrap());
    w.wait_event("listener", |v| v["address"] == name_a);
    w.wait_event("listener", |v| v["address"] == name_b);
    let _held_b = queue_up(&b, 2);
    let changed = w.wait_event("sample", |v| v["address"] == name_b && v["queue"] == 2);
    assert_eq!(changed["backlog"], 8, "{changed}");
    drop(a);
    let gone = w.wait_event("listener", |v| v["state"] == "gone");
    assert_eq!(gone["address"], name_a, "{gone}");
    let _more_b = queue_up(&b, 3);
    w.wait_event("sample", |v| v["address"] == name_b && v["queue"] == 5);
    w.signal(Signal::SIGINT);
    let (summary, code) = finish(&mut w);
    assert_eq!(code, Some(0));
    let (sa, sb) = (
        by_address(&summary["listeners"], name_a),
        by_address(&summary["listeners"], name_b),
    );
    assert_eq!(
        (sa["gone"].as_bool(), sa["max_queue"].as_u64()),
        (Some(true), Some(1))
    );
    assert_eq!(
        (sb["gone"].as_bool(), sb["max_queue"].as_u64()),
        (Some(false), Some(5))
    );
}

#[test]
fn a_duration_ends_the_run_and_a_listener_that_closes_is_gone() {
    let t = tcp(16);
    let address = addr(&t);
    let _held = queue_up(&t, 4);
    let mut w = watch(&["--interval", "2ms", "--duration", "30s", "--inet", &address]);
    w.wait_event("listener", |v| v["state"] == "found");
    drop(t);
    let gone = w.wait_event("listener", |v| v["state"] == "gone");
    assert_eq!(gone["state"], "gone");
    w.signal(Signal::SIGTERM);
    let (summary, code) = finish(&mut w);
    assert_eq!(code, Some(0));
    assert_eq!(summary["listeners"][0]["gone"], true);
    assert_eq!(summary["listeners"][0]["max_queue"], 4);

    let t = tcp(8);
    let args = [
        "--interval",
        "5ms",
        "--duration",
        "50ms",
        "--inet",
        &addr(&t),
    ];
    let (lines, code) = json_run(&args);
    assert_eq!(code, Some(0), "{lines:#?}");
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "summary");
    assert!(last["elapsed_ms"].as_f64().unwrap() >= 50.0, "{last}");
    assert!(last["command_exit_code"].is_null());
}

#[test]
fn wrapping_a_command_exits_with_its_code() {
    let t = tcp(16);
    let (lines, code) = json_run(&["--inet", &addr(&t), "--", "sh", "-c", "echo hi; exit 3"]);
    assert_eq!(code, Some(3), "{lines:#?}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["command_exit_code"], 3);
    assert!(summary["client"].is_null(), "{summary}");
    // A line that is not JSON is captured as text.
    assert!(
        lines
            .iter()
            .any(|v| v["event"] == "command" && v["output"] == "hi"),
        "{lines:#?}"
    );

    let out = run_to_end(BIN, &["--inet", &addr(&t), "--", "/nonexistent/command"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot run '/nonexistent/command'"),
        "{stderr}"
    );
}

#[test]
fn another_users_listener_shows_its_queue_but_not_its_owner() {
    // Needs root to run listen-watch as another user (nobody, 65534); CI runs as root.
    // /proc/self belongs to the effective uid.
    let euid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
    if euid != 0 {
        eprintln!("not root: cannot run listen-watch as another user; skipped");
        return;
    }
    use std::os::unix::process::CommandExt;
    let t = tcp(16);
    let _held = queue_up(&t, 2);
    let address = addr(&t);
    let nobody = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .uid(65534)
            .gid(65534)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    let once = |format: &'static str| ["--once", "--format", format, "--inet", &address];
    // The binary must be reachable by nobody: a checkout under a private directory is not.
    match nobody(&once("json")) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("{BIN} is not executable by nobody ({e}); skipped");
            return;
        }
        other => drop(output_within(other.unwrap(), WAIT)),
    }
    let as_nobody = |format: &'static str| output_within(nobody(&once(format)).unwrap(), WAIT);
    // --pid of a process whose files nobody may read: said so, not guessed.
    let me = std::process::id().to_string();
    let out = output_within(nobody(&["--once", "--pid", &me]).unwrap(), WAIT);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let want = format!("--pid {me}: its open files are not visible without privileges");
    assert!(stderr.contains(&want), "{stderr}");
    let report = json(&as_nobody("json"));
    let seen = by_address(&report["listeners"], &addr(&t));
    // sock_diag shows every user's listeners; /proc/<pid>/fd of ours is closed to nobody.
    assert_eq!(
        (seen["queue"].as_u64(), seen["backlog"].as_u64()),
        (Some(2), Some(16))
    );
    assert_eq!(seen["owners"], serde_json::json!([]), "{seen:#}");
    assert_eq!(seen["owners_hidden"], true, "{seen:#}");
    let text = as_nobody("text");
    assert!(text.status.success(), "{text:?}");
    let table = String::from_utf8(text.stdout).unwrap();
    assert!(
        table.contains("owner not visible without privileges"),
        "{table}"
    );
}

fn port_of(l: &Listener) -> u16 {
    match l.endpoint() {
        Endpoint::Inet(a) => a.port(),
        Endpoint::Unix(_) => unreachable!(),
    }
}

#[test]
fn a_listener_that_appears_later_is_found_by_the_next_dump() {
    let v4 = tcp(16);
    let port = port_of(&v4);
    let mut w = watch(&["--interval", "1ms", "--port", &port.to_string()]);
    w.wait_event("listener", |v| v["address"] == addr(&v4));
    // The same port on IPv6 loopback: free unless another process holds it (then skip).
    let Ok(v6) = Listener::bind(
        &Endpoint::Inet(format!("[::1]:{port}").parse().unwrap()),
        ListenOptions::default(),
    ) else {
        eprintln!("[::1]:{port} is taken; skipped");
        return;
    };
    let found = w.wait_event("listener", |v| v["address"] == addr(&v6));
    assert_eq!(found["state"], "found");
    w.signal(Signal::SIGTERM);
    let (summary, _) = finish(&mut w);
    assert_eq!(
        summary["listeners"].as_array().unwrap().len(),
        2,
        "{summary:#}"
    );
}

#[test]
fn reuseport_listeners_on_one_port_are_both_sampled_and_never_gone() {
    let reuse = ListenOptions {
        backlog: 16,
        reuseport: true,
    };
    let a = Listener::bind(&Endpoint::Inet("127.0.0.1:0".parse().unwrap()), reuse).unwrap();
    let b = Listener::bind(a.endpoint(), reuse).unwrap();
    let _held = queue_up(&a, 4);
    let mut w = watch(&["--interval", "1ms", "--port", &port_of(&a).to_string()]);
    // Two interval lines with both listeners: a second of samples went by.
    for _ in 0..2 {
        let interval = w.wait_event("interval", |v| {
            v["listeners"].as_array().unwrap().len() == 2
        });
        for l in interval["listeners"].as_array().unwrap() {
            assert!(l["samples"].as_u64().unwrap() > 1, "{interval}");
        }
    }
    w.signal(Signal::SIGTERM);
    let (summary, code) = finish(&mut w);
    assert_eq!(code, Some(0));
    let gone = w
        .events("listener")
        .into_iter()
        .filter(|v| v["state"] == "gone")
        .count();
    assert_eq!(gone, 0, "{:#?}", w.seen);
    let queued: u64 = summary["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["queue"].as_u64().unwrap())
        .sum();
    // The 4 connections went to one or both members, as the kernel's reuseport hash chose.
    assert_eq!(queued, 4, "{summary:#}");
    drop(b);
}

#[test]
fn a_server_asleep_in_epoll_wait_on_its_listener_is_idle() {
    // per-event epoll-listen-fork with no connection: the master alone holds the listener
    // (its own worker) and sleeps in epoll_wait with the listener in its epoll set.
    let fork = util::Running::start(FORK, &["--format", "json", "--inet", "127.0.0.1:0"]);
    let seen = once_until(&fork.addr, |l| l["idle"] == 1);
    assert_eq!(
        (seen["workers"].as_u64(), seen["idle"].as_u64()),
        (Some(1), Some(1)),
        "{seen:#}"
    );
    assert_eq!(seen["owners"][0]["pid"], fork.pid().as_raw(), "{seen:#}");
}
