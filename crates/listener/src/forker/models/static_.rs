//! PHP-FPM's `pm = static`, as php-src `sapi/fpm/fpm/fpm_children.c` has it:
//! `fpm_children_make` forks `pm.max_children` children at start (for static, `max` is
//! `pm_max_children` whether starting or not), the listener is never watched (the children
//! accept on their own), no maintenance tick acts on static pools
//! (`fpm_pctl_perform_idle_server_maintenance` returns early for them), so there is no
//! warning and no idle kill, and `fpm_children_bury` replaces every child that exits
//! ([`super::respawn`]).

use std::io;

use super::Model;
use crate::forker::observer::Observer;
use crate::forker::pool::{Pool, Spawn};

/// The static manager.
#[derive(Debug, Default)]
pub struct Static;

impl Model for Static {
    fn watches_listener(&self) -> bool {
        false
    }

    fn on_start(&mut self, pool: &mut Pool<'_>, obs: &mut Observer) -> io::Result<Spawn> {
        let target = pool.max_children();
        super::fork_up_to(pool, obs, target, false)
    }

    fn on_retry(&mut self, pool: &mut Pool<'_>, obs: &mut Observer) -> io::Result<Spawn> {
        // A replacement that failed or was throttled: the pool is short of children.
        let target = pool.max_children();
        super::fork_up_to(pool, obs, target, true)
    }
}
