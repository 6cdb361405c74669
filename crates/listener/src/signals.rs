//! Signals as file descriptors: block the signals a loop handles and read them from a
//! `signalfd` registered with epoll, so `SIGCHLD`, `SIGINT` and `SIGTERM` arrive as events
//! in the loop instead of interrupting it (signalfd(2)). A loop that only sleeps between
//! ticks waits for them blocked with a timeout instead ([`wait_for`], sigtimedwait(2)).
//!
//! Block before any thread or child exists: threads inherit the mask, and children reset
//! it in [`crate::process::fork_child`].

use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::time::TimeSpec;

/// Blocks `signals` for this thread and returns a non-blocking, close-on-exec signalfd
/// that reports them.
pub fn signal_fd(signals: &[Signal]) -> nix::Result<SignalFd> {
    let mask = block(signals)?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// Blocks `signals` for this thread and returns them as a set, for [`wait_for`].
pub fn block(signals: &[Signal]) -> nix::Result<SigSet> {
    let mut mask = SigSet::empty();
    for signal in signals {
        mask.add(*signal);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
    Ok(mask)
}

/// Waits at most `timeout` (zero: does not wait) for one of the signals of `mask`
/// (blocked, [`block`]) and takes it off the pending set; `None` when the time passed
/// first (or another signal interrupted the wait). One syscall per wait, where a poll of
/// a signalfd with a timeout and the read that follows it are two: a sampling loop at
/// 1 kHz waits this way (nix does not wrap sigtimedwait(2)).
pub fn wait_for(mask: &SigSet, timeout: Duration) -> Option<Signal> {
    let timeout = TimeSpec::from_duration(timeout);
    // SAFETY: both pointers are to live values for the duration of the call, and a null
    // siginfo pointer is allowed (the signal number is the return value).
    let signo =
        unsafe { libc::sigtimedwait(mask.as_ref(), std::ptr::null_mut(), timeout.as_ref()) };
    // -1: EAGAIN (the timeout passed) or EINTR, both "no signal of ours".
    Signal::try_from(signo).ok()
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
