//! The process-manager model: the policy the event loop consults. The loop owns epoll, the
//! signals, the timers and the reaping; a model only decides what to do on a listener
//! wakeup, after a child exits, and on its maintenance tick. PHP-FPM's `static` and
//! `dynamic` managers would be further implementations of [`Model`], with no change to
//! the loop.

use std::io;
use std::time::Duration;

use super::child::ChildLife;
use super::observer::{Exited, Observer};
use super::pool::{Pool, Spawn};
use super::{Config, ModelKind};

/// A process-manager policy.
pub trait Model {
    /// The name reports use (`per-event`, `ondemand`).
    fn name(&self) -> &'static str;

    /// What each child does: serve one connection, or loop.
    fn child_life(&self) -> ChildLife;

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
        ModelKind::PerEvent => Box::new(super::per_event::PerEvent),
        ModelKind::Ondemand => {
            Box::new(super::ondemand::Ondemand::new(config.process_idle_timeout))
        }
    }
}
