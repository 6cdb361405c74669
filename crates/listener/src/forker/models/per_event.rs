//! The original tool's model: one fork per listener readiness event. Each child accepts one
//! connection, serves it and exits. At `--max-children` running, an event is counted as a
//! refused fork instead.
//!
//! With level triggering the parent keeps being woken while a connection waits for a child
//! that has not reached `accept()` yet, so it forks more children than connections: the
//! extra children find nothing (`--accept nonblocking`) or wait until the run stops. With
//! edge triggering Linux reports one event per new connection on a listener (see
//! `epoll-socket-test`), so there is one child per connection.

use std::io;

use super::Model;
use crate::forker::child::ChildLife;
use crate::forker::event::{Event, Exited};
use crate::forker::observer::Observer;
use crate::forker::pool::{Pool, Spawn};

/// One child per event.
#[derive(Debug, Default)]
pub struct PerEvent;

impl Model for PerEvent {
    fn child_life(&self) -> ChildLife {
        ChildLife::OneConnection
    }

    fn on_child_exit(
        &mut self,
        _pool: &mut Pool<'_>,
        _obs: &mut Observer,
        _exited: &Exited,
    ) -> io::Result<Spawn> {
        // One connection per child: nothing to replace.
        Ok(Spawn::Declined)
    }

    fn on_wakeup(&mut self, pool: &mut Pool<'_>, obs: &mut Observer) -> io::Result<Spawn> {
        if pool.running() >= pool.max_children() {
            obs.emit(Event::RefusedFork {
                running: pool.running(),
            })?;
            return Ok(Spawn::Declined);
        }
        pool.fork(obs, false)
    }
}
