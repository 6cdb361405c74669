//! The process-manager models: the policy the event loop consults. The loop owns epoll, the
//! signals, the timers and the reaping; a model decides what to do at the start, on a
//! listener wakeup, after a child exits, and on its maintenance tick. One file per model;
//! a new one is a new file, one [`ModelKind`] arm, and its lines in the matches below:
//! [`build`], [`ModelKind::takes`] (which model-specific flags it takes, checked in one
//! place by [`check_flags`]) and [`ModelKind::default_trigger`].

mod dynamic;
mod ondemand;
mod per_event;
mod respawn;
mod static_;

pub use dynamic::Spares;

use std::io;
use std::time::Duration;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::Config;
use super::child::ChildLife;
use super::event::Exited;
use super::observer::Observer;
use super::pool::{Pool, Spawn};
use crate::poller::Trigger;

/// The process-manager model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// One fork per epoll event; each child accepts one connection, sleeps, exits.
    PerEvent,
    /// PHP-FPM `pm = ondemand`: fork only when no child is idle; children live on.
    Ondemand,
    /// PHP-FPM `pm = static`: `--max-children` children from the start, each replaced when
    /// it exits; the listener is not watched.
    Static,
    /// PHP-FPM `pm = dynamic`: `--start-servers` children at start, then once a second
    /// between `--min-spare-servers` and `--max-spare-servers` idle children.
    Dynamic,
}

/// The PHP-FPM models' default `--child-startup`: none. Measured with
/// `bench/fork/startup.sh` (`perf trace -a`, 20 forks a run, 5 runs, AMD EPYC 2 cores at
/// load 7): from the start of `fork()` to the new child's first `accept()` a PHP-FPM 8.2.36
/// child takes 1.92 ms [run medians 1.58-2.15], ours with `--child-startup 0` and the
/// default 4 MiB `--parent-memory` 2.03 ms [1.63-3.22]: the parent's memory already makes
/// the fork as slow as PHP-FPM's (1.15 vs 1.39 ms), and what the child does after it is
/// short in both. (Issue 8's "about 2 ms" is this whole span; the earlier 1.8 ms default
/// added it on top of a fork that now costs it already.)
pub const PHP_FPM_CHILD_STARTUP: Duration = Duration::ZERO;

/// The PHP-FPM models' default `--request-shutdown`: a PHP-FPM 8.2 child is back in
/// `accept()` 186 us after the syscall that gives the client its EOF (its `fcgi_close`
/// shuts down the write side, then waits for the client to close before it closes and
/// accepts again), ours 93 us (`bench/fork/finishing.sh`, 5 runs of 200 back-to-back
/// requests, medians of the run medians, AMD EPYC 2 cores at load 6): 90 us more makes
/// ours as late.
pub const PHP_FPM_REQUEST_SHUTDOWN: Duration = Duration::from_micros(90);

/// A flag that only some models take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFlag {
    /// `--process-idle-timeout`.
    ProcessIdleTimeout,
    /// `--max-requests`.
    MaxRequests,
    /// `--request-starts`.
    RequestStarts,
    /// `--request-shutdown`.
    RequestShutdown,
    /// `--start-servers`.
    StartServers,
    /// `--min-spare-servers`.
    MinSpareServers,
    /// `--max-spare-servers`.
    MaxSpareServers,
    /// `--max-spawn-rate`.
    MaxSpawnRate,
}

impl ModelFlag {
    /// The flag as typed on the command line.
    pub fn flag(self) -> &'static str {
        match self {
            Self::ProcessIdleTimeout => "--process-idle-timeout",
            Self::MaxRequests => "--max-requests",
            Self::RequestStarts => "--request-starts",
            Self::RequestShutdown => "--request-shutdown",
            Self::StartServers => "--start-servers",
            Self::MinSpareServers => "--min-spare-servers",
            Self::MaxSpareServers => "--max-spare-servers",
            Self::MaxSpawnRate => "--max-spawn-rate",
        }
    }
}

impl ModelKind {
    /// The table of model-specific flags: which ones this model takes. The children of
    /// every PHP-FPM model loop, so all take `--max-requests` and `--request-starts`
    /// (`pm.max_requests` applies to every `pm` in PHP-FPM).
    pub fn takes(self) -> &'static [ModelFlag] {
        match self {
            Self::PerEvent => &[],
            Self::Ondemand => &[
                ModelFlag::ProcessIdleTimeout,
                ModelFlag::MaxRequests,
                ModelFlag::RequestStarts,
                ModelFlag::RequestShutdown,
            ],
            Self::Static => &[
                ModelFlag::MaxRequests,
                ModelFlag::RequestStarts,
                ModelFlag::RequestShutdown,
            ],
            Self::Dynamic => &[
                ModelFlag::MaxRequests,
                ModelFlag::RequestStarts,
                ModelFlag::RequestShutdown,
                ModelFlag::StartServers,
                ModelFlag::MinSpareServers,
                ModelFlag::MaxSpareServers,
                ModelFlag::MaxSpawnRate,
            ],
        }
    }

    /// How the listener is registered when `--trigger` is not given: level for per-event
    /// (the original tool), edge for ondemand, as PHP-FPM registers it. Static and dynamic
    /// do not watch the listener at all (the trigger only shows in the summary).
    pub fn default_trigger(self) -> Trigger {
        match self {
            Self::PerEvent => Trigger::Level,
            Self::Ondemand | Self::Static | Self::Dynamic => Trigger::Edge,
        }
    }

    /// `--child-startup` when not given: none for per-event (the original tool), and for
    /// the PHP-FPM models what a PHP-FPM 8.2 child takes here from `fork()` to its first
    /// `accept()` beyond ours (`PHP_FPM_CHILD_STARTUP`).
    pub fn default_child_startup(self) -> Duration {
        match self {
            Self::PerEvent => Duration::ZERO,
            Self::Ondemand | Self::Static | Self::Dynamic => PHP_FPM_CHILD_STARTUP,
        }
    }

    /// `--request-shutdown` when not given: none for per-event, and for the PHP-FPM models
    /// how long a PHP-FPM 8.2 child stays "finishing" here after it closes a connection
    /// (`PHP_FPM_REQUEST_SHUTDOWN`).
    pub fn default_request_shutdown(self) -> Duration {
        match self {
            Self::PerEvent => Duration::ZERO,
            Self::Ondemand | Self::Static | Self::Dynamic => PHP_FPM_REQUEST_SHUTDOWN,
        }
    }

    /// `--parent-memory` when not given: none for per-event, and for the PHP-FPM models
    /// what makes our `fork()` cost a PHP-FPM 8.2 master's here (4 MiB; see
    /// `ballast::PHP_FPM_PARENT_MEMORY`).
    pub fn default_parent_memory(self) -> u64 {
        match self {
            Self::PerEvent => 0,
            Self::Ondemand | Self::Static | Self::Dynamic => super::ballast::PHP_FPM_PARENT_MEMORY,
        }
    }

    /// The name on the command line and in reports (`per-event`).
    fn name(self) -> String {
        self.to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_owned())
    }
}

/// Checks the model-specific flags `given` against [`ModelKind::takes`]: a flag `model`
/// ignores is a usage message naming the models that take it.
pub fn check_flags(model: ModelKind, given: &[ModelFlag]) -> Result<(), String> {
    let Some(&flag) = given.iter().find(|f| !model.takes().contains(f)) else {
        return Ok(());
    };
    let takers: Vec<String> = ModelKind::value_variants()
        .iter()
        .filter(|m| m.takes().contains(&flag))
        .map(|m| m.name())
        .collect();
    let (flag, first) = (flag.flag(), takers.first().cloned().unwrap_or_default());
    let noun = if takers.len() == 1 { "model" } else { "models" };
    Err(format!(
        "{flag} applies to the {} {noun} only; add --model {first} or drop {flag}",
        listed(&takers)
    ))
}

/// `a`, `a and b`, `a, b and c`.
fn listed(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A process-manager policy. The defaults are the PHP-FPM models' common ground: looping
/// children, the shared respawn rule, no wakeups (static and dynamic never watch the
/// listener).
pub trait Model {
    /// What each child does: serve one connection, or loop.
    fn child_life(&self) -> ChildLife {
        ChildLife::Loop
    }

    /// Whether the loop watches the listener for this model (PHP-FPM's `static` and
    /// `dynamic` do not: their children accept on their own).
    fn watches_listener(&self) -> bool {
        true
    }

    /// Once, right after the readiness line, before the loop's first wait (`static` and
    /// `dynamic` fork their first children here). A failed or throttled fork makes the
    /// loop call [`Model::on_retry`] after a back-off.
    fn on_start(&mut self, _pool: &mut Pool<'_>, _obs: &mut Observer) -> io::Result<Spawn> {
        Ok(Spawn::Declined)
    }

    /// The back-off after a failed or throttled fork has ended (the loop re-arms the
    /// listener too): a model that forks on its own (static) forks what it still lacks.
    fn on_retry(&mut self, _pool: &mut Pool<'_>, _obs: &mut Observer) -> io::Result<Spawn> {
        Ok(Spawn::Declined)
    }

    /// The listener was reported ready once. Returns what came of it; the loop pauses a
    /// level-triggered listener after a wakeup that forked nothing, until a child changes
    /// state or exits, or (a failed or throttled fork) until a retry timer fires, so it
    /// never spins while connections wait.
    fn on_wakeup(&mut self, _pool: &mut Pool<'_>, _obs: &mut Observer) -> io::Result<Spawn> {
        // Only for a model that watches the listener; no wakeup comes to the others.
        Ok(Spawn::Declined)
    }

    /// A child was reaped (already reported and counted): by default PHP-FPM's respawn
    /// rule ([`respawn`]). A failed replacement fork makes the loop call
    /// [`Model::on_retry`] after a back-off.
    fn on_child_exit(
        &mut self,
        pool: &mut Pool<'_>,
        obs: &mut Observer,
        exited: &Exited,
    ) -> io::Result<Spawn> {
        respawn::respawn(pool, obs, exited)
    }

    /// How often [`Model::on_tick`] runs; `None` for never.
    fn tick_every(&self) -> Option<Duration> {
        None
    }

    /// Periodic maintenance (ondemand: the idle timeout).
    fn on_tick(&mut self, _pool: &mut Pool<'_>, _obs: &mut Observer) -> io::Result<()> {
        Ok(())
    }
}

/// Forks until `target` children run (the loop of php-src `fpm_children_make`), stopping
/// at the first fork that does not happen; returns that fork's result (`Forked`, or
/// `Declined` when there was nothing to fork).
pub fn fork_up_to(
    pool: &mut Pool<'_>,
    obs: &mut Observer,
    target: u64,
    replacement: bool,
) -> io::Result<Spawn> {
    let mut last = Spawn::Declined;
    while pool.running() < target && !pool.stopping() {
        last = pool.fork(obs, replacement)?;
        if last != Spawn::Forked {
            break;
        }
    }
    Ok(last)
}

/// The model `config` asks for.
pub fn build(config: &Config) -> Box<dyn Model> {
    match config.model {
        ModelKind::PerEvent => Box::new(per_event::PerEvent),
        ModelKind::Ondemand => Box::new(ondemand::Ondemand::new(config.process_idle_timeout)),
        ModelKind::Static => Box::new(static_::Static),
        ModelKind::Dynamic => Box::new(dynamic::Dynamic::new(config.spares)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_the_model_ignores_names_the_models_that_take_it() {
        assert_eq!(check_flags(ModelKind::PerEvent, &[]), Ok(()));
        assert_eq!(
            check_flags(ModelKind::Ondemand, &[ModelFlag::MaxRequests]),
            Ok(())
        );
        assert_eq!(
            check_flags(ModelKind::PerEvent, &[ModelFlag::MaxRequests]),
            Err(
                "--max-requests applies to the ondemand, static and dynamic models only; add \
                 --model ondemand or drop --max-requests"
                    .to_owned()
            )
        );
        assert_eq!(
            check_flags(ModelKind::Static, &[ModelFlag::ProcessIdleTimeout]),
            Err(
                "--process-idle-timeout applies to the ondemand model only; add --model \
                 ondemand or drop --process-idle-timeout"
                    .to_owned()
            )
        );
    }

    #[test]
    fn names_are_the_command_line_words() {
        assert_eq!(ModelKind::PerEvent.name(), "per-event");
        assert_eq!(ModelKind::Ondemand.name(), "ondemand");
        assert_eq!(ModelKind::Static.name(), "static");
        assert_eq!(ModelKind::Dynamic.name(), "dynamic");
    }
}
