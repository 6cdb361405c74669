//! The one respawn rule the PHP-FPM models share: a child that exits is replaced at once
//! (`fpm_children_bury` calls `fpm_children_make(wp, 1, 1, 0)`), unless the idle timeout
//! killed it, or the run is stopping. That is how `pm.max_requests` recycles children.
//! Children that keep dying are not replaced for a while ([`crate::forker::throttle`],
//! after PHP-FPM's `emergency_restart_threshold`).

use std::io;

use crate::forker::event::Exited;
use crate::forker::observer::Observer;
use crate::forker::pool::Pool;
use crate::forker::report::ChildOutcome;

/// Replaces `exited` if the rule says so. A replacement that fails or is throttled is not
/// retried as such: the next wakeup forks on demand (the loop re-arms the listener when the
/// back-off ends).
pub fn respawn(pool: &mut Pool<'_>, obs: &mut Observer, exited: &Exited) -> io::Result<()> {
    if !pool.stopping() && exited.end.outcome != ChildOutcome::IdleTimeout {
        pool.fork(obs, true)?;
    }
    Ok(())
}
