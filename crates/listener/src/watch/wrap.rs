//! The wrapped load, `listen-watch [targets] -- COMMAND ARGS...`: started with our stdin,
//! stdout and stderr, its exit code reported the way a shell does (128+signal when
//! killed), and never left behind: dropping it kills and reaps it.
//!
//! It is spawned before listen-watch blocks SIGINT and SIGTERM for its signalfd, so it
//! starts with the default signal mask (a blocked mask survives execve(2)).
//!
//! With `capture` (listen-watch `--format json`), its stdout is a pipe read line by line on
//! a helper thread, each line stamped with the unix time it arrived, so that the sampling
//! loop can put the command's lines (socket-connect's JSON) on its own timeline instead of
//! letting them interleave unmarked. stdin and stderr are always passed through.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A running command.
pub struct Wrapped {
    child: Child,
    code: Option<i32>,
    lines: Option<Receiver<(u64, String)>>,
}

/// How long to wait, after the command exited, for the last of its captured output (a
/// process it left behind may hold the pipe open).
const LAST_LINES_WITHIN: Duration = Duration::from_secs(1);

/// The exit code a shell shows for `status`.
fn shell_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

impl Wrapped {
    /// Starts `command` (program and arguments); with `capture`, its stdout is read into
    /// [`Wrapped::captured`] instead of passed through.
    pub fn spawn(command: &[OsString], capture: bool) -> std::io::Result<Self> {
        let (program, args) = command
            .split_first()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command"))?;
        let mut cmd = Command::new(program);
        cmd.args(args);
        if capture {
            cmd.stdout(Stdio::piped());
        }
        let mut child = cmd.spawn()?;
        let lines = child.stdout.take().map(|out| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send((super::stats::unix_ms(), line)).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        Ok(Self {
            child,
            code: None,
            lines,
        })
    }

    /// The captured lines that arrived so far, each with its unix time in ms. Once the
    /// command has exited, waits (bounded) for the rest, up to the end of its output.
    pub fn captured(&mut self) -> Vec<(u64, String)> {
        let Some(rx) = &self.lines else {
            return Vec::new();
        };
        let mut out: Vec<(u64, String)> = rx.try_iter().collect();
        if self.code.is_some() {
            let deadline = Instant::now() + LAST_LINES_WITHIN;
            while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                out.push(line);
            }
            self.lines = None;
        }
        out
    }

    /// Its exit code if it has exited (reaping it), without blocking.
    pub fn try_exit(&mut self) -> std::io::Result<Option<i32>> {
        if self.code.is_none()
            && let Some(status) = self.child.try_wait()?
        {
            self.code = Some(shell_code(status));
        }
        Ok(self.code)
    }

    /// Sends `signal` to it (if it still runs).
    pub fn signal(&self, signal: Signal) {
        if self.code.is_none() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), signal);
        }
    }

    /// Waits up to `grace` for it to exit, then kills it; returns its exit code.
    pub fn finish(&mut self, grace: Duration) -> std::io::Result<i32> {
        let deadline = Instant::now() + grace;
        loop {
            if let Some(code) = self.try_exit()? {
                return Ok(code);
            }
            if Instant::now() >= deadline {
                self.signal(Signal::SIGKILL);
                let code = shell_code(self.child.wait()?);
                self.code = Some(code);
                return Ok(code);
            }
            // A bounded poll for an exit, which has no readiness line.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Wrapped {
    fn drop(&mut self) {
        if self.code.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
