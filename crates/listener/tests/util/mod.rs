//! Helpers shared by the listener's integration tests: start a binary with piped stdio,
//! read its JSON lines with bounded waits, signal it, and kill it in `Drop` so a failing
//! test leaves no process behind.

#![allow(dead_code)] // each test file uses a different subset

pub mod report;

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use listenlab_common::testing::{output_within, pump_lines, wait_bounded};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// The longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// Starts `bin` with `args`, stdout and stderr piped.
fn spawn(bin: &str, args: &[&str], stdin: Stdio) -> Child {
    spawn_with(bin, args, stdin, |_| {})
}

/// As [`spawn`], after `configure` had its say on the command (limits, credentials).
fn spawn_with(
    bin: &str,
    args: &[&str],
    stdin: Stdio,
    configure: impl FnOnce(&mut Command),
) -> Child {
    let mut command = Command::new(bin);
    command
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure(&mut command);
    command.spawn().expect("spawn")
}

/// Runs `bin` with `args` to completion (stdin closed), bounded by [`WAIT`].
pub fn run_to_end(bin: &str, args: &[&str]) -> Output {
    output_within(spawn(bin, args, Stdio::null()), WAIT)
}

/// A running binary that prints JSON lines, with everything it printed so far.
pub struct Running {
    child: Option<Child>,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    /// Every JSON line read so far, in order.
    pub seen: Vec<Value>,
    /// The address from the readiness line.
    pub addr: String,
}

impl Running {
    /// Starts `bin` with `args` and waits (bounded) for its `listening` line.
    pub fn start(bin: &str, args: &[&str]) -> Running {
        Self::start_with(bin, args, |_| {})
    }

    /// Starts `epoll-listen-fork` (`bin`) as an ondemand pool on `127.0.0.1:0` with JSON
    /// output and the `extra` flags.
    pub fn ondemand(bin: &str, extra: &[&str]) -> Running {
        let mut all = vec![
            "--format",
            "json",
            "--inet",
            "127.0.0.1:0",
            "--model",
            "ondemand",
        ];
        all.extend_from_slice(extra);
        Self::start(bin, &all)
    }

    /// As [`Running::start`], with `configure` applied to the command first (e.g. a
    /// `pre_exec` that lowers a resource limit).
    pub fn start_with(bin: &str, args: &[&str], configure: impl FnOnce(&mut Command)) -> Running {
        let mut running = Self::spawn(bin, args, configure);
        let first = running.next_line().expect("a listening line");
        assert_eq!(first["event"], "listening", "first line: {first}");
        running.addr = first["addr"].as_str().unwrap().to_owned();
        running
    }

    /// Starts `bin` with `args` (after `configure`) without waiting for a readiness line,
    /// for a binary whose first line is something else (listen-watch's `listener` line).
    pub fn spawn(bin: &str, args: &[&str], configure: impl FnOnce(&mut Command)) -> Running {
        let mut child = spawn_with(bin, args, Stdio::piped(), configure);
        let lines = pump_lines(child.stdout.take().unwrap());
        let stderr = pump_lines(child.stderr.take().unwrap());
        Running {
            child: Some(child),
            lines,
            stderr,
            seen: Vec::new(),
            addr: String::new(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().unwrap().id() as i32)
    }

    fn next_line(&mut self) -> Option<Value> {
        self.next_line_by(Instant::now() + WAIT)
    }

    /// The next line, waiting until `deadline` at most (then the test fails).
    fn next_line_by(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                self.seen.push(value.clone());
                Some(value)
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "not within {WAIT:?}; seen so far: {:#?}\nstderr: {}",
                self.seen,
                self.stderr_so_far()
            ),
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Reads lines until one satisfies `pred` (bounded by [`WAIT`] in all, however many
    /// other lines come meanwhile); returns it.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.next_line_by(deadline) {
                Some(v) if pred(&v) => return v,
                Some(_) => {}
                None => panic!("exited before {what}; seen: {:#?}", self.seen),
            }
        }
    }

    /// Reads lines until an event named `event` satisfies `pred`.
    pub fn wait_event(&mut self, event: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(event, |v| v["event"] == event && pred(v))
    }

    /// All lines seen so far with this event name.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.seen
            .iter()
            .filter(|v| v["event"] == event)
            .cloned()
            .collect()
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal");
    }

    /// Reads every remaining line and waits (bounded) for the exit.
    pub fn finish(&mut self) -> ExitStatus {
        while self.next_line().is_some() {}
        let mut child = self.child.take().unwrap();
        wait_bounded(&mut child, WAIT).unwrap_or_else(|| panic!("no exit within {WAIT:?}"))
    }

    /// The last line, which must be the summary.
    pub fn summary(&self) -> Value {
        let last = self.seen.last().expect("some output").clone();
        assert_eq!(last["event"], "summary", "last line: {last}");
        last
    }

    /// What the process wrote on stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Running {
    /// SIGTERM first, so the binary stops its children and removes its socket file; SIGKILL
    /// if it has not exited within [`WAIT`] (its children then die with it, by
    /// `PR_SET_PDEATHSIG`).
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            if wait_bounded(&mut child, WAIT).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// True when no process `pid` with this command name (`comm`, truncated by the kernel to
/// 15 bytes) exists any more, zombie or not: it was reaped. A reused pid running something
/// else counts as gone.
pub fn gone(pid: i32, comm: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let name = stat
        .split_once('(')
        .and_then(|(_, rest)| rest.rsplit_once(')'))
        .map_or("", |(name, _)| name);
    !comm.starts_with(name) || name.is_empty()
}

/// `count` non-blocking connects to the unix socket at `path`, so that a full backlog (a
/// stalled server) cannot block the test: `EAGAIN` is ignored. The sockets stay open until
/// the returned descriptors drop.
pub fn unix_burst(path: &std::path::Path, count: usize) -> Vec<std::os::fd::OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
    use std::os::fd::AsRawFd;
    let addr = UnixAddr::new(path).unwrap();
    (0..count)
        .map(|_| {
            let fd = socket(
                AddressFamily::Unix,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                None,
            )
            .unwrap();
            let _ = connect(fd.as_raw_fd(), &addr);
            fd
        })
        .collect()
}

/// Polls `check` until it holds, at most [`WAIT`]; true if it did.
pub fn eventually(check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    check()
}
