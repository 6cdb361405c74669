//! Ctrl-C without losing cleanup: SIGINT, SIGTERM and SIGHUP (a closed terminal, an ssh
//! session that drops) are blocked at start and read from a signalfd, which the probe checks between steps and inside every bounded wait. An
//! interrupt becomes [`ProbeError::Interrupted`], which unwinds normally, so listeners
//! remove their socket files and `crate::process::ChildSet` reaps every child.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;

use super::error::ProbeError;
use crate::signals;

/// The signals that stop a run, read from a signalfd (or nothing, in helper processes).
#[derive(Debug)]
pub struct Interrupt {
    fd: Option<SignalFd>,
}

impl Interrupt {
    /// Blocks SIGINT, SIGTERM and SIGHUP for this thread (call it before any thread or child
    /// exists, so they inherit the mask) and watches them through a signalfd.
    pub fn install() -> nix::Result<Self> {
        Ok(Self {
            fd: Some(signals::signal_fd(&[
                Signal::SIGINT,
                Signal::SIGTERM,
                Signal::SIGHUP,
            ])?),
        })
    }

    /// Watches nothing: for forked helpers and threads, which the parent stops itself.
    pub fn none() -> Self {
        Self { fd: None }
    }

    /// `Err(Interrupted)` if SIGINT, SIGTERM or SIGHUP has arrived.
    pub fn check(&self) -> Result<(), ProbeError> {
        match self
            .fd
            .as_ref()
            .and_then(|fd| signals::drain(fd).first().copied())
        {
            Some(signal) => Err(ProbeError::Interrupted(signal)),
            None => Ok(()),
        }
    }

    /// Waits up to `timeout` for `fd` to become readable (or hung up). `Ok(true)` when it
    /// is, `Ok(false)` when the time ran out, `Err(Interrupted)` on SIGINT, SIGTERM or SIGHUP.
    pub fn wait_readable(&self, fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool, ProbeError> {
        self.poll(Some(fd), timeout)
    }

    /// Pauses for `duration` unless interrupted: the step of a bounded poll of some state
    /// the kernel offers no notification for (a queue length, `/proc/<pid>/stat`).
    pub fn pause(&self, duration: Duration) -> Result<(), ProbeError> {
        self.poll(None, duration).map(drop)
    }

    fn poll(&self, fd: Option<BorrowedFd<'_>>, timeout: Duration) -> Result<bool, ProbeError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check()?;
            let mut fds = Vec::with_capacity(2);
            if let Some(fd) = fd {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            if let Some(sig) = &self.fd {
                fds.push(PollFd::new(sig.as_fd(), PollFlags::POLLIN));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = crate::poller::to_epoll_timeout(Some(left));
            let n = if fds.is_empty() {
                std::thread::sleep(left);
                0
            } else {
                match poll(&mut fds, ms) {
                    Ok(n) => n,
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(ProbeError::io("waiting", e)),
                }
            };
            let ready = fd.is_some() && fds[0].any().unwrap_or(false);
            if ready {
                return Ok(true);
            }
            if n == 0 && Instant::now() >= deadline {
                self.check()?;
                return Ok(false);
            }
        }
    }
}
