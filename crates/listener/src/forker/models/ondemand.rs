//! PHP-FPM's `pm = ondemand`, as in php-src `sapi/fpm/fpm/fpm_process_ctl.c` and
//! `fpm_children.c`:
//!
//! - `fpm_pctl_on_socket_accept` (run on each wakeup of the listener, which PHP-FPM registers
//!   with `EPOLLIN|EPOLLET`): if `running_children >= pm.max_children`, log "server reached
//!   max_children setting (N)" once (`warn_max_children`, cleared by the next fork) and
//!   return; else if any child is idle (`fpm_request_is_idle`: its scoreboard stage is
//!   "accepting"), return; else clear the warning and fork one child.
//! - `fpm_pctl_perform_idle_server_maintenance` (a 1 s heartbeat): among the idle children,
//!   take the one started first (`last_idle_child`, by `child->started`), and if its last
//!   activity is older than `pm.process_idle_timeout`, send it SIGQUIT (`idle_kill`). One
//!   child per tick at most. PHP-FPM's children handle SIGQUIT, finishing a request they
//!   have started; we add a SIGKILL one tick later if it is still alive *and still idle*
//!   (a child that took a connection meanwhile is left to finish it), so a stuck child
//!   cannot outlive the run's accounting.
//! - `fpm_children_bury`: every child that exits is replaced at once, unless it was
//!   idle-killed: the shared rule of [`super::respawn`].

use std::io;
use std::time::Duration;

use super::{Model, respawn};
use crate::forker::child::ChildLife;
use crate::forker::event::{Event, Exited, MaxChildrenSetting};
use crate::forker::observer::Observer;
use crate::forker::pool::{Pool, Spawn};
use crate::forker::report::IdleSignal;
use crate::forker::scoreboard::SlotState;

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
    fn child_life(&self) -> ChildLife {
        ChildLife::Loop
    }

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

    fn on_child_exit(
        &mut self,
        pool: &mut Pool<'_>,
        obs: &mut Observer,
        exited: &Exited,
    ) -> io::Result<Spawn> {
        respawn::respawn(pool, obs, exited)
    }

    fn tick_every(&self) -> Option<Duration> {
        Some(MAINTENANCE_EVERY)
    }

    fn on_tick(&mut self, pool: &mut Pool<'_>, obs: &mut Observer) -> io::Result<()> {
        // Children told to quit a tick ago and still idle get SIGKILL. One that took a
        // connection since (busy, or holding one while it waits for the first byte) saw the
        // SIGQUIT and leaves once that request is done, as a PHP-FPM child does: killing it
        // would reset its client.
        let stuck: Vec<_> = pool
            .children()
            .filter(|c| {
                c.idle_kill.is_some_and(|k| !k.escalated)
                    && c.slot.state == SlotState::Idle
                    && !c.slot.holding
            })
            .map(|c| (c.pid, pool.in_state_for(&c)))
            .collect();
        for (pid, idle) in stuck {
            pool.idle_kill(pid, idle, IdleSignal::Sigkill, obs)?;
        }
        // PHP-FPM's last_idle_child: the idle child started first.
        let oldest_idle = pool
            .children()
            .filter(|c| c.slot.state == SlotState::Idle)
            .min_by_key(|c| c.forked_at);
        if let Some(child) = oldest_idle
            && child.idle_kill.is_none()
        {
            let idle = pool.in_state_for(&child);
            if idle > self.idle_timeout {
                pool.idle_kill(child.pid, idle, IdleSignal::Sigquit, obs)?;
            }
        }
        Ok(())
    }
}
