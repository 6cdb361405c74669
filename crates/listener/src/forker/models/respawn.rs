//! The one respawn rule the PHP-FPM models share, as php-src `fpm_children_bury`
//! (`sapi/fpm/fpm/fpm_children.c`) has it: a child that exits is replaced at once
//! (`fpm_children_make(wp, 1, 1, 0)`) unless the process manager killed it for being idle
//! (`child->idle_kill`: ondemand's idle timeout, dynamic's spare-server limit) *and* it
//! exited normally or died by SIGQUIT. An idle-killed child that died by another signal
//! (the SIGKILL a tick after an ignored SIGQUIT) is replaced like any other. Static never
//! idle-kills, so every exit there is replaced. No child is forked while the run stops.
//! That is also how `pm.max_requests` recycles children. Children that keep dying are not
//! replaced for a while ([`crate::forker::throttle`], after PHP-FPM's
//! `emergency_restart_threshold`).

use std::io;

use nix::sys::signal::Signal;

use crate::forker::event::Exited;
use crate::forker::observer::Observer;
use crate::forker::pool::{Pool, Spawn};
use crate::forker::report::ChildOutcome;

/// True when `fpm_children_bury` would restart `exited`.
pub fn restarts(exited: &Exited) -> bool {
    let idle_killed = exited.end.outcome == ChildOutcome::IdleTimeout;
    let quiet_end = exited.signal.is_none_or(|s| s == Signal::SIGQUIT as i32);
    !(idle_killed && quiet_end)
}

/// Replaces `exited` if the rule says so. A replacement that fails or is throttled is
/// retried by the loop's back-off ([`crate::forker::models::Model::on_retry`]) for the
/// models that fork on their own; ondemand forks on the next wakeup instead.
pub fn respawn(pool: &mut Pool<'_>, obs: &mut Observer, exited: &Exited) -> io::Result<Spawn> {
    if pool.stopping() || !restarts(exited) {
        return Ok(Spawn::Declined);
    }
    pool.fork(obs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forker::event::ChildEnd;
    use std::time::Duration;

    fn exited(outcome: ChildOutcome, status: i32, signal: Option<Signal>) -> Exited {
        Exited {
            child: 1,
            pid: 2,
            status,
            signal: signal.map(|s| s as i32),
            lifetime: Duration::ZERO,
            end: ChildEnd {
                outcome,
                accepted: 0,
                served: 0,
                first_byte_timeouts: 0,
                closed_without_request: 0,
                interrupted: 0,
            },
        }
    }

    #[test]
    fn only_an_idle_kill_that_ended_quietly_is_not_replaced() {
        use ChildOutcome::*;
        let table = [
            (exited(IdleTimeout, 0, None), false),
            (exited(IdleTimeout, 4, None), false),
            (exited(IdleTimeout, 131, Some(Signal::SIGQUIT)), false),
            (exited(IdleTimeout, 137, Some(Signal::SIGKILL)), true),
            (exited(Completed, 0, None), true),
            (exited(Died, 137, Some(Signal::SIGKILL)), true),
            (exited(Died, 131, Some(Signal::SIGQUIT)), true),
        ];
        for (e, want) in table {
            assert_eq!(restarts(&e), want, "{e:?}");
        }
    }
}
