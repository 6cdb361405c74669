//! Signals as file descriptors: block the signals a loop handles and read them from a
//! `signalfd` registered with epoll, so `SIGCHLD`, `SIGINT` and `SIGTERM` arrive as events
//! in the loop instead of interrupting it (signalfd(2)).
//!
//! Block before any thread or child exists: threads inherit the mask, and children reset
//! it in [`crate::process::fork_child`].

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Blocks `signals` for this thread and returns a non-blocking, close-on-exec signalfd
/// that reports them.
pub fn signal_fd(signals: &[Signal]) -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    for signal in signals {
        mask.add(*signal);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// Reads every pending signal from `fd` (it is non-blocking) and returns them in order.
/// Several `SIGCHLD`s may be merged into one: reap with `WNOHANG` in a loop.
pub fn drain(fd: &SignalFd) -> Vec<Signal> {
    let mut out = Vec::new();
    while let Ok(Some(info)) = fd.read_signal() {
        if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
            out.push(signal);
        }
    }
    out
}
