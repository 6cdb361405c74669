//! Helpers for running the real `socket-connect` binary against listeners made in the
//! test: a child that is killed when dropped, stdout read line by line on a thread, every
//! wait bounded, stdin always piped (CI gives none), and the JSON report parsed into
//! test-local structs that reject unknown fields.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use listenlab_common::testing::{pump_lines, wait_bounded};
use serde::Deserialize;
use socket2::{Domain, SockAddr, Socket, Type};

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_socket-connect")
}

/// A running `socket-connect`.
pub struct Connector {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// Every stdout line not yet taken with `next_line`.
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Connector {
    /// Starts the binary with piped stdin, stdout and stderr.
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(bin())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning socket-connect");
        let lines = pump_lines(child.stdout.take().unwrap());
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line; panics after `WAIT` or if stdout closes first.
    pub fn next_line(&mut self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no stdout line within {WAIT:?}: {e}"))
    }

    /// The next stdout line that is not an interval line (those are checked to parse,
    /// then dropped); panics as [`Self::next_line`] does.
    pub fn next_event_line(&mut self) -> String {
        loop {
            let line = self.next_line();
            if !line.starts_with(r#"{"event":"interval""#) {
                return line;
            }
            let _: Interval =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad interval {line}: {e}"));
        }
    }

    /// Writes a newline to stdin from a helper thread, keeping stdin open.
    pub fn send_line(&mut self) {
        let mut stdin = self.stdin.take().expect("stdin still open");
        let writer = std::thread::spawn(move || {
            stdin.write_all(b"\n").expect("writing the release line");
            stdin.flush().unwrap();
            stdin
        });
        self.stdin = Some(writer.join().unwrap());
    }

    /// Writes `bytes` to stdin from a helper thread, then closes it (EOF). The thread is
    /// not waited for: a process that exits without reading ends it with EPIPE.
    pub fn feed_stdin(&mut self, bytes: Vec<u8>) {
        let mut stdin = self.stdin.take().expect("stdin still open");
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }

    /// Closes stdin (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits (at most `WAIT`) for the process to exit; collects the rest of its output.
    pub fn finish(mut self) -> Finished {
        let status = wait_bounded(&mut self.child, WAIT)
            .unwrap_or_else(|| panic!("socket-connect did not exit within {WAIT:?}"));
        let mut stdout = Vec::new();
        loop {
            match self.lines.recv_timeout(WAIT) {
                Ok(line) => stdout.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("stdout stayed open after exit"),
            }
        }
        let stderr = self.stderr.take().unwrap().join().unwrap();
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs to completion with stdin closed at once (as in CI).
pub fn run(args: &[&str]) -> Finished {
    let mut c = Connector::spawn(args);
    c.close_stdin();
    c.finish()
}

/// Runs to completion with `stdin` written to stdin, then EOF.
pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Finished {
    let mut c = Connector::spawn(args);
    c.feed_stdin(stdin.to_vec());
    c.finish()
}

/// Checks that `done` (of `args`) was refused as bad input: exit 2, nothing on stdout,
/// one stderr line `socket-connect: error: ...` containing `reason`; returns that line.
pub fn assert_refused(args: &[&str], done: &Finished, reason: &str) -> String {
    assert_eq!(done.status.code(), Some(2), "{args:?}: {done:?}");
    assert!(done.stdout.is_empty(), "{args:?}: stdout {:?}", done.stdout);
    assert_eq!(done.stderr.lines().count(), 1, "{args:?}: {}", done.stderr);
    let first = done.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("socket-connect: error: "),
        "{args:?}: {}",
        done.stderr
    );
    assert!(
        first.contains(reason),
        "{args:?}: want {reason:?} in {first:?}"
    );
    first.to_owned()
}

/// Runs `args` and checks they are refused as bad input (see [`assert_refused`]).
pub fn assert_usage_error(args: &[&str], reason: &str) -> String {
    assert_refused(args, &run(args), reason)
}

/// Runs with `--format json` and stdin closed; returns the report, checking stdout holds
/// at most one holding line and then exactly one report line.
pub fn run_json(args: &[&str]) -> (Report, Finished) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let done = run(&all);
    let report = parse_report(&done);
    (report, done)
}

/// Parses stdout: interval lines, an optional holding line, then exactly one report
/// object; the interval lines must each parse (see [`intervals`]).
pub fn parse_report(done: &Finished) -> Report {
    let (_, rest) = split_intervals(done);
    let report_line = match rest {
        [report] => report,
        [holding, report] => {
            let h: Holding = serde_json::from_str(holding).expect("holding line");
            assert_eq!(h.event, "holding");
            report
        }
        _ => panic!(
            "expected one or two stdout lines after the intervals, got {:?}\nstderr: {}",
            done.stdout, done.stderr
        ),
    };
    serde_json::from_str(report_line).unwrap_or_else(|e| panic!("bad report {report_line}: {e}"))
}

/// The interval lines at the start of stdout, parsed, and the lines after them.
pub fn split_intervals(done: &Finished) -> (Vec<Interval>, &[String]) {
    let n = done
        .stdout
        .iter()
        .take_while(|l| l.starts_with(r#"{"event":"interval""#))
        .count();
    let intervals = done.stdout[..n]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad interval {l}: {e}")))
        .collect();
    (intervals, &done.stdout[n..])
}

/// The interval lines of a `--format json` run, parsed.
pub fn intervals(done: &Finished) -> Vec<Interval> {
    split_intervals(done).0
}

/// `{"event":"interval",...}`, as a script would read it (the agreed schema).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    pub event: String,
    pub t_ms: f64,
    pub ts: u64,
    pub interval_ms: f64,
    pub attempted: u64,
    pub connected: u64,
    pub failed: u64,
    pub errors: std::collections::BTreeMap<String, u64>,
    pub exchange_failed: u64,
    pub exchange_errors: std::collections::BTreeMap<String, u64>,
    pub open: u64,
    pub connect_latency_us: IntervalLatency,
    pub first_byte_latency_us: Option<IntervalLatency>,
    pub complete_latency_us: Option<IntervalLatency>,
}

/// One phase of an interval line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalLatency {
    pub count: u64,
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub max: Option<u64>,
}

/// `{"event":"holding","open":N}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holding {
    pub event: String,
    pub open: u64,
}

/// The report, as a script would read it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub target: String,
    pub transport: String,
    pub runs: u64,
    pub attempted: u64,
    pub connected: u64,
    pub failed: u64,
    pub errors: Errors,
    pub other_errors: std::collections::BTreeMap<String, u64>,
    pub connect_latency_us: Latency,
    pub elapsed_ms: f64,
    pub connect_rate_per_s: f64,
    pub target_rate_per_s: Option<f64>,
    pub concurrency: u64,
    pub timeout_ms: u64,
    pub source_addresses: u64,
    pub held_ms: u64,
    pub closed_by_peer: u64,
    pub unwatched: u64,
    pub interrupted: bool,
    pub request_bytes: u64,
    pub exchange_failed: u64,
    pub exchange_errors: ExchangeErrors,
    pub response_bytes: u64,
    pub response_bytes_max: u64,
    pub first_byte_latency_us: Option<Latency>,
    pub complete_latency_us: Option<Latency>,
    pub connect_latency_raw_us: Option<Latency>,
    pub first_byte_latency_raw_us: Option<Latency>,
    pub complete_latency_raw_us: Option<Latency>,
    pub schedule_lag_us: Option<Latency>,
    pub duration_ms: Option<u64>,
    pub unfinished: u64,
}

#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeErrors {
    pub no_response: u64,
    pub read_timeout: u64,
    pub reset: u64,
    pub other: u64,
}

#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    pub refused: u64,
    pub timeout: u64,
    pub would_block: u64,
    pub addr_not_available: u64,
    pub too_many_files: u64,
    pub reset: u64,
    pub unreachable: u64,
    pub permission_denied: u64,
    pub other: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// Base64 of the V2-compressed HDR histogram.
    pub histogram: String,
}

/// A report's `histogram` string decoded: base64 of the V2-compressed serialization.
pub fn decode_histogram(histogram: &str) -> hdrhistogram::Histogram<u64> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(histogram)
        .expect("histogram is base64");
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("histogram is a V2 serialization")
}

impl Report {
    /// Checks what holds for every report: counts add up, latencies are ordered.
    pub fn check_invariants(&self) {
        assert_eq!(self.attempted, self.connected + self.failed, "{self:?}");
        assert!(self.runs >= 1, "{self:?}");
        let e = &self.errors;
        let kinds = e.refused
            + e.timeout
            + e.would_block
            + e.addr_not_available
            + e.too_many_files
            + e.reset
            + e.unreachable
            + e.permission_denied
            + e.other;
        assert_eq!(kinds, self.failed, "{self:?}");
        assert_eq!(self.other_errors.values().sum::<u64>(), e.other, "{self:?}");
        let x = &self.exchange_errors;
        assert_eq!(
            x.no_response + x.read_timeout + x.reset + x.other,
            self.exchange_failed,
            "{self:?}"
        );
        assert!(self.response_bytes_max <= self.response_bytes, "{self:?}");
        let l = &self.connect_latency_us;
        assert_eq!(l.count, self.connected, "{self:?}");
        let phases = [
            self.first_byte_latency_us.as_ref(),
            self.complete_latency_us.as_ref(),
        ];
        for l in std::iter::once(l).chain(phases.into_iter().flatten()) {
            assert!(l.count <= self.connected, "{self:?}");
            if l.count > 0 {
                assert!(0 < l.p50 && l.p50 <= l.p99 && l.p99 <= l.max, "{l:?}");
                assert!(l.min <= l.p50 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
            }
        }
    }
}

/// A TCP listener on 127.0.0.1:0 with a deep accept queue (`backlog`), accepting only
/// when the test asks.
pub fn tcp_listener(backlog: i32) -> TcpListener {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(backlog).unwrap();
    TcpListener::from(OwnedFd::from(socket))
}

/// A TCP listener on 127.0.0.1:0 whose thread accepts every connection, writes
/// `greeting` to it (nothing when empty) and closes it, for as long as the test process
/// lives. Returns the listener (kept open by the caller) and its address.
pub fn greeter(greeting: &'static [u8]) -> (TcpListener, String) {
    let listener = tcp_listener(1024);
    let addr = listener.local_addr().unwrap().to_string();
    let accepting = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        while let Ok((mut stream, _)) = accepting.accept() {
            let _ = stream.write_all(greeting);
        }
    });
    (listener, addr)
}

/// A unix listener at `path` with the given backlog, accepting only when the test asks.
pub fn unix_listener(path: &Path, backlog: i32) -> UnixListener {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    socket.bind(&SockAddr::unix(path).unwrap()).unwrap();
    socket.listen(backlog).unwrap();
    UnixListener::from(OwnedFd::from(socket))
}

/// Accepts every connection already queued on a TCP listener, without waiting for more.
pub fn drain_tcp(listener: &TcpListener) -> Vec<(std::net::TcpStream, SocketAddr)> {
    listener.set_nonblocking(true).unwrap();
    let mut out = Vec::new();
    while let Ok(pair) = listener.accept() {
        out.push(pair);
    }
    out
}

/// Accepts every connection already queued on a unix listener, without waiting for more.
pub fn drain_unix(listener: &UnixListener) -> usize {
    listener.set_nonblocking(true).unwrap();
    let mut n = 0;
    while listener.accept().is_ok() {
        n += 1;
    }
    n
}

/// Waits (bounded by `WAIT`) until the kernel has processed the FIN or RST of every
/// connection from `clients` to `server` on the client side: none of them is still
/// ESTABLISHED in /proc/net/tcp{,6}. A FIN leaves it in CLOSE_WAIT, a reset removes it.
///
/// Closing our end sends the FIN or RST, but whether the peer's receive path has run when
/// close() returns depends on the softirq: on loopback it usually runs inline, but it can
/// be deferred to ksoftirqd under load, so a test must not assume it. The state change
/// and the wakeup that queues the epoll event run together, under the socket lock, in
/// that receive path (`tcp_fin`, `tcp_reset`).
pub fn wait_until_not_established(clients: &[SocketAddr], server: SocketAddr) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = established(clients, server);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still ESTABLISHED after {WAIT:?}: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Those of the TCP connections from `clients` to `server` whose client side is
/// ESTABLISHED, per /proc/net/tcp{,6} (each as its `local remote` pair there).
pub fn established(clients: &[SocketAddr], server: SocketAddr) -> Vec<String> {
    let wanted: Vec<String> = clients
        .iter()
        .map(|c| format!("{} {}", proc_net_addr(*c), proc_net_addr(server)))
        .collect();
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            // sl local_address rem_address st ...; st 01 is TCP_ESTABLISHED.
            let f: Vec<&str> = line.split_whitespace().take(4).collect();
            if let [_, local, remote, "01"] = f[..] {
                let pair = format!("{local} {remote}");
                if wanted.contains(&pair) {
                    found.push(pair);
                }
            }
        }
    }
    found
}

/// An address as /proc/net/tcp{,6} prints it: each 32-bit word of the address in network
/// byte order printed as a native integer (`%08X`), then the port (`%04X`).
fn proc_net_addr(addr: SocketAddr) -> String {
    let words: String = match addr.ip() {
        std::net::IpAddr::V4(ip) => format!("{:08X}", u32::from_ne_bytes(ip.octets())),
        std::net::IpAddr::V6(ip) => ip
            .octets()
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes(w.try_into().unwrap())))
            .collect(),
    };
    format!("{words}:{:04X}", addr.port())
}

/// A TCP port on 127.0.0.1 that nothing listens on: bound, then closed.
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A path for a unix socket in a fresh temporary directory (kept alive by the returned
/// guard).
pub fn socket_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("listen.sock");
    (dir, path)
}

/// The real `epoll-listen-fork`, built next to the test executable by
/// `cargo test --workspace`; `None` when it has not been built.
pub fn listen_fork_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/epoll-listen-fork
    let bin = exe.parent()?.parent()?.join("epoll-listen-fork");
    bin.is_file().then_some(bin)
}

/// A running `epoll-listen-fork --format json`, killed when dropped.
pub struct ListenFork {
    child: Child,
    lines: Receiver<String>,
    /// The address from its readiness line.
    pub addr: String,
}

impl ListenFork {
    /// Starts it and waits (bounded) for `{"event":"listening","addr":...}`.
    pub fn start(bin: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(bin)
            .args(["--format", "json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning epoll-listen-fork");
        let lines = pump_lines(child.stdout.take().unwrap());
        let first: serde_json::Value =
            serde_json::from_str(&lines.recv_timeout(WAIT).expect("readiness line")).unwrap();
        assert_eq!(first["event"], "listening", "{first}");
        let addr = first["addr"].as_str().unwrap().to_owned();
        Self { child, lines, addr }
    }

    /// Reads event lines until the summary (bounded by `WAIT`), then waits for the exit.
    pub fn summary(mut self) -> serde_json::Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no summary within {WAIT:?}: {e}"));
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["event"] == "summary" {
                let status = self.child.wait().unwrap();
                assert!(status.success(), "epoll-listen-fork exited {status:?}");
                return v;
            }
        }
    }
}

impl Drop for ListenFork {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
