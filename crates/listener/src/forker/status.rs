//! `--status-every D`: a `status` line with the fields of PHP-FPM's status page
//! (`/status?json`, php-src `sapi/fpm/fpm/fpm_status.c`) under their own JSON names, so a
//! run can be read beside a real pool's status. The values come from what the loop already
//! knows: the scoreboard (idle, active, total), the counts (accepted, `max_children`
//! warnings) and the accept queue.

use std::time::{Duration, Instant};

use super::event::StatusPage;
use super::models::ModelKind;
use super::pool::Pool;
use crate::queue::accept_queue;
use crate::socket::Listener;

/// The pool name the status shows: PHP-FPM's default pool (`[www]`), since the simulator
/// runs one unnamed pool.
pub const POOL_NAME: &str = "www";

/// Tracks what the status page shows beyond a snapshot: the most active children seen at a
/// status line. PHP-FPM updates it once a second, at its maintenance heartbeat; sampling
/// more often would also count children caught starting right after a fork.
#[derive(Debug, Default)]
pub struct StatusTracker {
    max_active: u64,
}

/// What the status line needs from the run besides the pool.
#[derive(Debug, Clone, Copy)]
pub struct RunState {
    /// The model.
    pub model: ModelKind,
    /// When the run started.
    pub start: Instant,
    /// Connections accepted so far.
    pub accepted: u64,
    /// `max_children` warnings so far.
    pub max_children_warnings: u64,
    /// Longest accept queue sampled so far.
    pub max_listen_queue: u64,
}

impl StatusTracker {
    /// Counts idle and active children now, keeping the most active for `max active
    /// processes`.
    fn note(&mut self, pool: &Pool<'_>) -> (u64, u64) {
        let census = pool.census();
        self.max_active = self.max_active.max(census.active);
        (census.idle, census.active)
    }

    /// The status page now.
    pub fn page(&mut self, pool: &Pool<'_>, listener: &Listener, run: RunState) -> StatusPage {
        let (idle, active) = self.note(pool);
        let queue = accept_queue(listener).ok();
        let listen_queue = queue.map_or(0, |q| u64::from(q.len));
        StatusPage {
            pool: POOL_NAME,
            model: run.model,
            start_since: Duration::from_secs(run.start.elapsed().as_secs()),
            accepted_conn: run.accepted,
            listen_queue,
            max_listen_queue: run.max_listen_queue.max(listen_queue),
            listen_queue_len: queue.map_or(0, |q| u64::from(q.max)),
            idle_processes: idle,
            active_processes: active,
            total_processes: pool.running(),
            max_active_processes: self.max_active,
            max_children_reached: run.max_children_warnings,
        }
    }
}
