//! The process-manager models: the policy the event loop consults. The loop owns epoll, the
//! signals, the timers and the reaping; a model decides what to do at the start, on a
//! listener wakeup, after a child exits, and on its maintenance tick. One file per model;
//! a new one (PHP-FPM's `static`, `dynamic`) is a new file, one [`ModelKind`] arm, and its
//! lines in the matches below: [`build`], [`ModelKind::takes`] (which model-specific flags
//! it takes, checked in one place by [`check_flags`]) and [`ModelKind::default_trigger`].

mod ondemand;
mod per_event;
mod respawn;

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
}

/// A flag that only some models take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFlag {
    /// `--process-idle-timeout`.
    ProcessIdleTimeout,
    /// `--max-requests`.
    MaxRequests,
    /// `--request-starts`.
    RequestStarts,
}

impl ModelFlag {
    /// The flag as typed on the command line.
    pub fn flag(self) -> &'static str {
        match self {
            Self::ProcessIdleTimeout => "--process-idle-timeout",
            Self::MaxRequests => "--max-requests",
            Self::RequestStarts => "--request-starts",
        }
    }
}

impl ModelKind {
    /// The table of model-specific flags: which ones this model takes.
    pub fn takes(self) -> &'static [ModelFlag] {
        match self {
            Self::PerEvent => &[],
            Self::Ondemand => &[
                ModelFlag::ProcessIdleTimeout,
                ModelFlag::MaxRequests,
                ModelFlag::RequestStarts,
            ],
        }
    }

    /// How the listener is registered when `--trigger` is not given: level for per-event
    /// (the original tool), edge for the PHP-FPM models, as PHP-FPM registers it.
    pub fn default_trigger(self) -> Trigger {
        match self {
            Self::PerEvent => Trigger::Level,
            Self::Ondemand => Trigger::Edge,
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
        takers.join(" and ")
    ))
}

/// A process-manager policy.
pub trait Model {
    /// What each child does: serve one connection, or loop.
    fn child_life(&self) -> ChildLife;

    /// Whether the loop watches the listener for this model (PHP-FPM's `static` and
    /// `dynamic` do not: their children accept on their own).
    fn watches_listener(&self) -> bool {
        true
    }

    /// Once, right after the readiness line, before the loop's first wait (`static` and
    /// `dynamic` fork their first children here).
    fn on_start(&mut self, _pool: &mut Pool<'_>, _obs: &mut Observer) -> io::Result<()> {
        Ok(())
    }

    /// The listener was reported ready once. Returns what came of it; the loop pauses a
    /// level-triggered listener after a wakeup that forked nothing, until a child changes
    /// state or exits, or (a failed or throttled fork) until a retry timer fires, so it
    /// never spins while connections wait.
    fn on_wakeup(&mut self, pool: &mut Pool<'_>, obs: &mut Observer) -> io::Result<Spawn>;

    /// A child was reaped (already reported and counted).
    fn on_child_exit(
        &mut self,
        _pool: &mut Pool<'_>,
        _obs: &mut Observer,
        _exited: &Exited,
    ) -> io::Result<()> {
        Ok(())
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

/// The model `config` asks for.
pub fn build(config: &Config) -> Box<dyn Model> {
    match config.model {
        ModelKind::PerEvent => Box::new(per_event::PerEvent),
        ModelKind::Ondemand => Box::new(ondemand::Ondemand::new(config.process_idle_timeout)),
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
                "--max-requests applies to the ondemand model only; add --model ondemand or \
                 drop --max-requests"
                    .to_owned()
            )
        );
    }

    #[test]
    fn names_are_the_command_line_words() {
        assert_eq!(ModelKind::PerEvent.name(), "per-event");
        assert_eq!(ModelKind::Ondemand.name(), "ondemand");
    }
}
