//! PHP-FPM's `pm = dynamic`, as php-src 8.2 has it:
//!
//! - start (`fpm_children_make(wp, 0, 0, 1)`): fork `pm.start_servers` children; the
//!   listener is never watched (the children accept on their own);
//! - `fpm_pctl_perform_idle_server_maintenance`, on a 1 s heartbeat re-armed from its
//!   firing time: count the idle children (waiting in accept, `fpm_request_is_idle`; a
//!   starting child is not idle). If more than `pm.max_spare_servers` are idle, retire the
//!   idle child started first (`fpm_pctl_kill_idle_child`: SIGQUIT, or SIGKILL if it was
//!   already told and is still idle) and reset the spawn rate to 1. Else if fewer than
//!   `pm.min_spare_servers` are idle: at `pm.max_children` running, warn `server reached
//!   pm.max_children setting (N), consider raising it` once (until the next fork) and
//!   reset the rate; otherwise warn `seems busy ...` when the rate is 8 or more, fork
//!   min(rate, min spare - idle, max children - running) children, and double the rate
//!   while it is below `pm.max_spawn_rate`. Else reset the rate to 1;
//! - `fpm_children_bury`: the shared respawn rule ([`super::respawn`]).
//!
//! The values are checked as `fpm_conf.c` (`fpm_conf_process_all_pools`) checks them, with
//! its messages ([`Spares::new`], [`SparesError`]).

use std::io;
use std::time::Duration;

use super::{Model, fork_up_to};
use crate::forker::event::{Census, Event, MaxChildrenSetting, Spawning};
use crate::forker::observer::Observer;
use crate::forker::pool::{Pool, Spawn};

/// How often the maintenance runs (`FPM_IDLE_SERVER_MAINTENANCE_HEARTBEAT`, 1 s).
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(1);

/// `pm.max_spawn_rate`'s default (php-src `fpm_conf.c`: 32).
pub const DEFAULT_MAX_SPAWN_RATE: u64 = 32;

/// The spawn rate from which a forking tick warns `seems busy` (a constant in php-src).
pub const SEEMS_BUSY_RATE: u64 = 8;

/// The dynamic manager's settings, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spares {
    /// `pm.start_servers`: children forked at start.
    pub start: u64,
    /// `pm.min_spare_servers`: fork while fewer are idle.
    pub min: u64,
    /// `pm.max_spare_servers`: retire while more are idle.
    pub max: u64,
    /// `pm.max_spawn_rate`: the spawn rate doubles up to this.
    pub max_spawn_rate: u64,
}

impl Default for Spares {
    /// The values of PHP-FPM's shipped `www.conf` (start 2, min 1, max 3).
    fn default() -> Self {
        Self {
            start: 2,
            min: 1,
            max: 3,
            max_spawn_rate: DEFAULT_MAX_SPAWN_RATE,
        }
    }
}

impl Spares {
    /// Checks the values as `fpm_conf.c` (`fpm_conf_process_all_pools`) does, in its order.
    /// `start` absent, 0 or less means PHP-FPM's default, min + (max - min) / 2. Signed, as
    /// a configuration file may hold negative values (PHP-FPM's `int`s).
    pub fn new(
        max_children: i64,
        start: Option<i64>,
        min: i64,
        max: i64,
        max_spawn_rate: i64,
    ) -> Result<Self, SparesError> {
        if min <= 0 {
            return Err(SparesError::MinNotPositive(min));
        }
        if max <= 0 {
            return Err(SparesError::MaxNotPositive(max));
        }
        if min > max_children || max > max_children {
            return Err(SparesError::AboveMaxChildren {
                min,
                max,
                max_children,
            });
        }
        if max < min {
            return Err(SparesError::MaxBelowMin { min, max });
        }
        let start = match start {
            None => min + (max - min) / 2,
            Some(s) if s <= 0 => min + (max - min) / 2,
            Some(s) if s < min || s > max => {
                return Err(SparesError::StartOutOfRange { start: s, min, max });
            }
            Some(s) => s,
        };
        if max_spawn_rate < 1 {
            return Err(SparesError::SpawnRateNotPositive(max_spawn_rate));
        }
        // All positive here.
        Ok(Self {
            start: start.unsigned_abs(),
            min: min.unsigned_abs(),
            max: max.unsigned_abs(),
            max_spawn_rate: max_spawn_rate.unsigned_abs(),
        })
    }
}

/// Dynamic settings that PHP-FPM refuses; `Display` gives `fpm_conf.c`'s words, and
/// [`SparesError::flags`] the command-line flags involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SparesError {
    /// `pm.min_spare_servers` below 1.
    #[error("pm.min_spare_servers({0}) must be a positive value")]
    MinNotPositive(i64),
    /// `pm.max_spare_servers` below 1.
    #[error("pm.max_spare_servers({0}) must be a positive value")]
    MaxNotPositive(i64),
    /// A spare-server bound above `pm.max_children`.
    #[error(
        "pm.min_spare_servers({min}) and pm.max_spare_servers({max}) cannot be greater than \
         pm.max_children({max_children})"
    )]
    AboveMaxChildren {
        /// `pm.min_spare_servers`.
        min: i64,
        /// `pm.max_spare_servers`.
        max: i64,
        /// `pm.max_children`.
        max_children: i64,
    },
    /// `pm.max_spare_servers` below `pm.min_spare_servers`.
    #[error("pm.max_spare_servers({max}) must not be less than pm.min_spare_servers({min})")]
    MaxBelowMin {
        /// `pm.min_spare_servers`.
        min: i64,
        /// `pm.max_spare_servers`.
        max: i64,
    },
    /// `pm.start_servers` outside min..=max spare.
    #[error(
        "pm.start_servers({start}) must not be less than pm.min_spare_servers({min}) and not \
         greater than pm.max_spare_servers({max})"
    )]
    StartOutOfRange {
        /// `pm.start_servers`.
        start: i64,
        /// `pm.min_spare_servers`.
        min: i64,
        /// `pm.max_spare_servers`.
        max: i64,
    },
    /// `pm.max_spawn_rate` below 1.
    #[error("pm.max_spawn_rate must be a positive value")]
    SpawnRateNotPositive(i64),
}

impl SparesError {
    /// The flags and values involved, as typed (`--min-spare-servers 3, --max-spare-servers
    /// 2`), to put before the message on the command line.
    pub fn flags(&self) -> String {
        match *self {
            Self::MinNotPositive(min) => format!("--min-spare-servers {min}"),
            Self::MaxNotPositive(max) => format!("--max-spare-servers {max}"),
            Self::AboveMaxChildren {
                min,
                max,
                max_children,
            } => format!(
                "--min-spare-servers {min}, --max-spare-servers {max}, --max-children \
                 {max_children}"
            ),
            Self::MaxBelowMin { min, max } => {
                format!("--min-spare-servers {min}, --max-spare-servers {max}")
            }
            Self::StartOutOfRange { start, .. } => format!("--start-servers {start}"),
            Self::SpawnRateNotPositive(rate) => format!("--max-spawn-rate {rate}"),
        }
    }
}

/// The dynamic manager.
#[derive(Debug)]
pub struct Dynamic {
    spares: Spares,
    /// `wp->idle_spawn_rate`.
    rate: u64,
    /// `wp->warn_max_children`.
    warned_max_children: bool,
}

impl Dynamic {
    /// A dynamic manager with these settings (already validated).
    pub fn new(spares: Spares) -> Self {
        Self {
            spares,
            rate: 1,
            warned_max_children: false,
        }
    }

    /// At `pm.max_children`: warn once until the next fork, and reset the rate.
    fn at_max_children(&mut self, pool: &Pool<'_>, obs: &mut Observer) -> io::Result<()> {
        if !self.warned_max_children {
            obs.emit(Event::MaxChildren {
                max: pool.max_children(),
                setting: MaxChildrenSetting::OnMaintenance,
            })?;
            self.warned_max_children = true;
        }
        self.rate = 1;
        Ok(())
    }
}

impl Model for Dynamic {
    fn watches_listener(&self) -> bool {
        false
    }

    fn on_start(&mut self, pool: &mut Pool<'_>, obs: &mut Observer) -> io::Result<Spawn> {
        fork_up_to(pool, obs, self.spares.start, false)
    }

    fn tick_every(&self) -> Option<Duration> {
        Some(MAINTENANCE_EVERY)
    }

    fn on_tick(&mut self, pool: &mut Pool<'_>, obs: &mut Observer) -> io::Result<()> {
        let census = pool.census();
        let running = pool.running();
        obs.emit(Event::SpawnRate(Census {
            active: census.active,
            idle: census.idle,
            running,
            rate: self.rate,
        }))?;
        if census.idle > self.spares.max
            && let Some(oldest) = census.oldest_idle
        {
            pool.kill_idle_child(&oldest, obs)?;
            self.rate = 1;
            return Ok(());
        }
        if census.idle >= self.spares.min {
            self.rate = 1;
            return Ok(());
        }
        let max_children = pool.max_children();
        if running >= max_children {
            return self.at_max_children(pool, obs);
        }
        if self.rate >= SEEMS_BUSY_RATE {
            obs.emit(Event::SeemsBusy(Spawning {
                rate: self.rate,
                idle: census.idle,
                total: running,
            }))?;
        }
        let to_fork = self
            .rate
            .min(self.spares.min - census.idle)
            .min(max_children - running);
        self.warned_max_children = false;
        // A fork that fails or is throttled ends this tick's forking; the next tick tries
        // again, as PHP-FPM ignores `fpm_children_make`'s result here.
        fork_up_to(pool, obs, running + to_fork, false)?;
        if self.rate < self.spares.max_spawn_rate {
            self.rate *= 2;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_servers_are_checked_in_php_fpm_order_and_words() {
        assert_eq!(Spares::new(10, None, 1, 3, 32), Ok(Spares::default()));
        assert_eq!(Spares::new(10, Some(0), 2, 6, 32).unwrap().start, 4);
        assert_eq!(Spares::new(10, Some(3), 1, 3, 1).unwrap().start, 3);
        let err = |r: Result<Spares, SparesError>| {
            let e = r.unwrap_err();
            format!("{}: {e}", e.flags())
        };
        assert_eq!(
            err(Spares::new(10, Some(5), 1, 3, 32)),
            "--start-servers 5: pm.start_servers(5) must not be less than \
             pm.min_spare_servers(1) and not greater than pm.max_spare_servers(3)"
        );
        assert_eq!(
            err(Spares::new(10, None, 4, 3, 32)),
            "--min-spare-servers 4, --max-spare-servers 3: pm.max_spare_servers(3) must not \
             be less than pm.min_spare_servers(4)"
        );
        assert_eq!(
            err(Spares::new(2, None, 1, 3, 32)),
            "--min-spare-servers 1, --max-spare-servers 3, --max-children 2: \
             pm.min_spare_servers(1) and pm.max_spare_servers(3) cannot be greater than \
             pm.max_children(2)"
        );
        assert!(err(Spares::new(10, None, 0, 3, 32)).starts_with("--min-spare-servers 0:"));
        assert_eq!(
            err(Spares::new(10, None, 1, 3, 0)),
            "--max-spawn-rate 0: pm.max_spawn_rate must be a positive value"
        );
    }
}
