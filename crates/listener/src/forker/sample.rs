//! What the event loop reads from the kernel about its listener: the accept queue, sampled
//! while anything is pending and reported when its length changes, and the system-wide
//! netstat counters at the start and the end of the run.

use std::io;

use super::event::Event;
use super::observer::Observer;
use crate::netstat::ListenCounters;
use crate::queue::accept_queue;
use crate::socket::{Family, Listener};

/// The accept-queue samples of one run.
#[derive(Debug, Default)]
pub struct QueueSampler {
    last_len: Option<u32>,
    max_len: u32,
}

impl QueueSampler {
    /// Samples the queue; reports it when the length changed. Returns the length (0 when
    /// the kernel offers no sock_diag: the queue is then unknown).
    pub fn sample(&mut self, listener: &Listener, obs: &mut Observer) -> io::Result<u32> {
        let Ok(queue) = accept_queue(listener) else {
            return Ok(0);
        };
        self.max_len = self.max_len.max(queue.len);
        if self.last_len != Some(queue.len) {
            self.last_len = Some(queue.len);
            obs.emit(Event::Queue {
                len: queue.len,
                max: queue.max,
            })?;
        }
        Ok(queue.len)
    }

    /// The longest queue sampled.
    pub fn max_len(&self) -> u32 {
        self.max_len
    }
}

/// The netstat counters read when the run started.
#[derive(Debug, Clone, Copy)]
pub struct NetstatStart(Option<ListenCounters>);

impl NetstatStart {
    /// Reads the counters now.
    pub fn read() -> Self {
        Self(ListenCounters::read().ok())
    }

    /// Their growth since the start, for a TCP listener: the counters say nothing about a
    /// unix one. `None` too when either read failed.
    pub fn delta(self, listener: &Listener) -> Option<ListenCounters> {
        match (self.0, ListenCounters::read().ok()) {
            (Some(start), Some(end)) if listener.family() != Family::Unix => Some(end.since(start)),
            _ => None,
        }
    }
}
