//! PHP-FPM's `pm = ondemand`, as in php-src `sapi/fpm/fpm/fpm_process_ctl.c` and
//! `fpm_children.c`:
//!
//! - `fpm_pctl_on_socket_accept` (run on each wakeup of the listener, which PHP-FPM registers
//!   with `EPOLLIN|EPOLLET`): if `running_children >= pm.max_children`, log "server reached
//!   max_children setting (N)" once (`warn_max_children`, cleared by the next fork) and
//!   return; else if any child is idle (`fpm_request_is_idle`: its scoreboard stage is
//!   "accepting"), return; else clear the warning and fork one child.
//! - `fpm_pctl_perform_idle_server_maintenance` (a 1 s heartbeat): among the idle children
//!   (scoreboard stage "accepting", which includes a child waiting for the first byte of a
//!   connection it accepted), take the one started first (`last_idle_child`, by
//!   `child->started`), and if its last activity is older than `pm.process_idle_timeout`
//!   in whole seconds (`last.tv_sec < now.tv_sec - timeout`), retire it with 8.2's
//!   `fpm_pctl_kill_idle_child`: SIGQUIT, or SIGKILL if it was told before (a SIGQUIT
//!   only restarts a child's wait for the first byte). One child per tick at most. A child
//!   that took a request after its SIGQUIT is busy, so no tick picks it: it finishes the
//!   request and exits.
//! - `fpm_children_bury`: every child that exits is replaced at once, unless it was
//!   idle-killed and exited normally or by SIGQUIT (a SIGKILLed one is replaced): the
//!   shared rule of [`super::respawn`].

use std::io;
use std::time::Duration;

use super::Model;
use crate::forker::event::{Event, MaxChildrenSetting};
use crate::forker::observer::Observer;
use crate::forker::pool::{Pool, Spawn};

/// How often the maintenance runs (`FPM_IDLE_SERVER_MAINTENANCE_HEARTBEAT`, 1 s).
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(1);

/// The ondemand manager.
#[derive(Debug)]
pub struct Ondemand {
    idle_timeout: Duration,
    warned_max_children: bool,
}

impl Ondemand {
    /// An ondemand manager that retires children idle longer than `idle_timeout`.
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            idle_timeout,
            warned_max_children: false,
        }
    }
}

impl Model for Ondemand {
    fn on_wakeup(&mut self, pool: &mut Pool<'_>, obs: &mut Observer) -> io::Result<Spawn> {
        if pool.running() >= pool.max_children() {
            if !self.warned_max_children {
                obs.emit(Event::MaxChildren {
                    max: pool.max_children(),
                    setting: MaxChildrenSetting::OnAccept,
                })?;
                self.warned_max_children = true;
            }
            return Ok(Spawn::Declined);
        }
        if pool.any_idle() {
            return Ok(Spawn::Declined);
        }
        self.warned_max_children = false;
        pool.fork(obs, false)
    }

    fn tick_every(&self) -> Option<Duration> {
        Some(MAINTENANCE_EVERY)
    }

    fn on_tick(&mut self, pool: &mut Pool<'_>, obs: &mut Observer) -> io::Result<()> {
        // PHP-FPM's last_idle_child: the idle child started first. A child waiting for its
        // first byte still counts (its scoreboard stage is still "accepting"), so a SIGQUIT
        // that only restarted that wait is followed by SIGKILL on a later tick.
        let Some(oldest) = pool.census().oldest_idle else {
            return Ok(());
        };
        let (last, now) = pool.state_and_now_seconds(&oldest);
        if timed_out(last, now, self.idle_timeout.as_secs()) {
            pool.kill_idle_child(&oldest, obs)?;
        }
        Ok(())
    }
}

/// `last.tv_sec < now.tv_sec - pm_process_idle_timeout`: whole seconds, so a child idle
/// from x.99 s is timed out up to a second before one idle from x.00 s.
fn timed_out(last_sec: u64, now_sec: u64, timeout_sec: u64) -> bool {
    last_sec.saturating_add(timeout_sec) < now_sec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_check_compares_whole_seconds() {
        // Idle since 5.x s, timeout 1 s: not at 6.y, yes from 7.0 (1.01 to 2 s idle).
        assert!(!timed_out(5, 5, 1));
        assert!(!timed_out(5, 6, 1));
        assert!(timed_out(5, 7, 1));
        assert!(!timed_out(5, 15, 10));
        assert!(timed_out(5, 16, 10));
    }
}
