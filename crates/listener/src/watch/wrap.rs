//! The wrapped load, `listen-watch [targets] -- COMMAND ARGS...`: started with our stdin,
//! stdout and stderr, its exit code reported the way a shell does (128+signal when
//! killed), and never left behind: dropping it kills and reaps it.
//!
//! It is spawned before listen-watch blocks SIGINT and SIGTERM for its signalfd, so it
//! starts with the default signal mask (a blocked mask survives execve(2)).

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A running command.
pub struct Wrapped {
    child: Child,
    code: Option<i32>,
}

/// The exit code a shell shows for `status`.
fn shell_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

impl Wrapped {
    /// Starts `command` (program and arguments).
    pub fn spawn(command: &[OsString]) -> std::io::Result<Self> {
        let (program, args) = command
            .split_first()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command"))?;
        let child = Command::new(program).args(args).spawn()?;
        Ok(Self { child, code: None })
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
