//! Bounded waits for kernel state that has no notification of its own: a listener's
//! accept queue reaching a length, and a helper process being asleep in a system call.
//!
//! A TCP connect on loopback returns once the client is established; the listener queues
//! the connection when it processes the final ACK, normally before `connect()` returns
//! but not guaranteed to be. So before each observation the probe waits, bounded, until
//! the kernel reports the queue length the step should produce.
//!
//! "Blocked in epoll_wait" cannot be reported by the waiter itself (it is asleep). It
//! reports "about to wait" on a pipe, and the probe then reads `/proc/<pid>/stat` until
//! the state is `S` (interruptible sleep), bounded. Between that report and the wait the
//! waiter makes no other sleeping call, so `S` means it sleeps in the wait; the probe
//! also records `/proc/<pid>/wchan` (e.g. `ep_poll`) as evidence.

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::interrupt::Interrupt;
use crate::probe::error::ProbeError;
use crate::queue::accept_queue;
use crate::socket::Listener;

/// How often bounded polls of kernel state look again.
const STEP: Duration = Duration::from_micros(200);

/// Waits up to `within` until `listener`'s accept queue holds `want` connections, and
/// returns the length last seen (which differs from `want` only if the time ran out).
pub fn queue_reaches(
    listener: &Listener,
    want: u32,
    within: Duration,
    intr: &Interrupt,
) -> Result<u32, ProbeError> {
    let deadline = Instant::now() + within;
    loop {
        let len = accept_queue(listener)
            .map_err(|e| ProbeError::io("reading the accept queue", e))?
            .len;
        if len == want || Instant::now() >= deadline {
            return Ok(len);
        }
        intr.pause(STEP)?;
    }
}

/// The scheduler state letter of `pid` (`R`, `S`, `D`, `Z`, ...), from `/proc/<pid>/stat`.
pub fn proc_state(pid: Pid) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything; the state follows
    // the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Where `pid` sleeps in the kernel (`/proc/<pid>/wchan`), or `"?"` when it is not shown.
pub fn wchan(pid: Pid) -> String {
    match std::fs::read_to_string(format!("/proc/{pid}/wchan")) {
        Ok(name) if !name.is_empty() && name != "0" => name,
        _ => "?".to_owned(),
    }
}

/// Waits up to `within` until `pid` sleeps interruptibly, and returns its wchan.
pub fn asleep(pid: Pid, within: Duration, intr: &Interrupt) -> Result<String, ProbeError> {
    let deadline = Instant::now() + within;
    loop {
        if proc_state(pid) == Some('S') {
            // The kernel shows 0 when it cannot unwind the sleeping stack at that moment;
            // look a few more times while the waiter still sleeps.
            for _ in 0..10 {
                let place = wchan(pid);
                if place != "?" || proc_state(pid) != Some('S') {
                    return Ok(place);
                }
                intr.pause(STEP)?;
            }
            return Ok(wchan(pid));
        }
        if Instant::now() >= deadline {
            return Err(ProbeError::Helper(format!(
                "waiter {pid} was not asleep within {within:?} (state {:?})",
                proc_state(pid)
            )));
        }
        intr.pause(STEP)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_state() {
        // This thread is running while it reads its own state (/proc/<tid> works too).
        assert_eq!(proc_state(nix::unistd::gettid()), Some('R'));
        assert_eq!(proc_state(Pid::from_raw(i32::MAX)), None);
    }
}
