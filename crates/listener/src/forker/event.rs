//! The typed events the pool, the models and the loop hand the observer: one struct per
//! kind, with named fields and `Duration`s, so no call site passes same-type integers by
//! position. [`super::counts`] counts them and the observer turns them into
//! [`super::report::ForkEvent`] lines.

use std::time::Duration;

use super::models::ModelKind;
use super::report::{ChildOutcome, IdleSignal, StopReason};

/// Something that happened in the run.
#[derive(Debug, Clone)]
pub enum Event {
    /// `epoll_wait` returned `ready` events, the listener among them.
    Wakeup {
        /// Ready events this wait returned.
        ready: u32,
    },
    /// A child was forked.
    Forked(Forked),
    /// An event came at the cap and no child was forked for it.
    RefusedFork {
        /// Children running.
        running: u64,
    },
    /// `fork()` failed.
    ForkFailed(nix::Error),
    /// Children kept dying, so forking pauses.
    ForkThrottled(Throttled),
    /// A child's accept counter grew.
    Accepted(Accepted),
    /// A child was reaped.
    Exited(Exited),
    /// A model found `max` children running (logged once until the next fork).
    MaxChildren {
        /// The `--max-children` setting.
        max: u64,
        /// The setting's name in PHP-FPM's message for this model.
        setting: MaxChildrenSetting,
    },
    /// Dynamic: a maintenance tick forks at a spawn rate of 8 or more.
    SeemsBusy(Spawning),
    /// Dynamic: what a maintenance tick found, before it acts.
    SpawnRate(Census),
    /// `--status-every`: PHP-FPM's status page now.
    Status(StatusPage),
    /// An idle child was told to exit.
    IdleKill(IdleKilled),
    /// The accept queue changed length.
    Queue {
        /// Connections waiting.
        len: u32,
        /// The effective backlog.
        max: u32,
    },
    /// The run is stopping.
    Stopping {
        /// Why.
        reason: StopReason,
        /// Children still running.
        running: u64,
    },
}

/// How PHP-FPM names `pm.max_children` in its warning: `fpm_pctl_on_socket_accept`
/// (ondemand) says `max_children`, `fpm_pctl_perform_idle_server_maintenance` (dynamic)
/// says `pm.max_children`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxChildrenSetting {
    /// `server reached max_children setting (N)`.
    OnAccept,
    /// `server reached pm.max_children setting (N)`.
    OnMaintenance,
}

/// Dynamic: a tick that forks `spawning` children at a high spawn rate.
#[derive(Debug, Clone, Copy)]
pub struct Spawning {
    /// The spawn rate (PHP-FPM's `spawning %d children`: the rate, not the forks).
    pub rate: u64,
    /// Idle children.
    pub idle: u64,
    /// Children running.
    pub total: u64,
}

/// Dynamic: the pool as one maintenance tick counts it (PHP-FPM's debug line `currently
/// %d active children, %d spare children, %d running children. Spawning rate %d`).
#[derive(Debug, Clone, Copy)]
pub struct Census {
    /// Children not idle (starting or busy).
    pub active: u64,
    /// Children waiting in accept.
    pub idle: u64,
    /// Children running.
    pub running: u64,
    /// The spawn rate this tick starts with.
    pub rate: u64,
}

/// PHP-FPM's status page (`fpm_status.c`), as [`super::status`] fills it.
#[derive(Debug, Clone, Copy)]
pub struct StatusPage {
    /// `pool`.
    pub pool: &'static str,
    /// `process manager`.
    pub model: ModelKind,
    /// `start since`: whole seconds since the start.
    pub start_since: Duration,
    /// `accepted conn`.
    pub accepted_conn: u64,
    /// `listen queue`: connections waiting now.
    pub listen_queue: u64,
    /// `max listen queue`.
    pub max_listen_queue: u64,
    /// `listen queue len`: the effective backlog.
    pub listen_queue_len: u64,
    /// `idle processes`.
    pub idle_processes: u64,
    /// `active processes`.
    pub active_processes: u64,
    /// `total processes`.
    pub total_processes: u64,
    /// `max active processes`.
    pub max_active_processes: u64,
    /// `max children reached`.
    pub max_children_reached: u64,
}

/// A child was forked.
#[derive(Debug, Clone, Copy)]
pub struct Forked {
    /// Child number.
    pub child: u64,
    /// Process id.
    pub pid: i32,
    /// Children running, this one included.
    pub running: u64,
    /// It replaces a child that exited.
    pub replacement: bool,
}

/// Forking is throttled: `died` children within `within`, no fork for `backoff`.
#[derive(Debug, Clone, Copy)]
pub struct Throttled {
    /// Children that died within the window.
    pub died: u64,
    /// The window.
    pub within: Duration,
    /// How long forking stays off.
    pub backoff: Duration,
}

/// A child's accept counter grew by `batch` (to `child_accepted`): one event for the batch,
/// since the scoreboard keeps the time of the latest accept only.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    /// Child number.
    pub child: u64,
    /// Process id.
    pub pid: i32,
    /// When (since start) it accepted the latest of the batch.
    pub accepted_at: Duration,
    /// Its accept counter now.
    pub child_accepted: u64,
    /// How much the counter grew since the parent's previous look.
    pub batch: u64,
}

/// A reaped child, as the pool describes it.
#[derive(Debug, Clone, Copy)]
pub struct Exited {
    /// Child number.
    pub child: u64,
    /// Process id.
    pub pid: i32,
    /// Exit status as a shell shows it (128+signal for a signal).
    pub status: i32,
    /// The signal that killed it, if one did (`WIFSIGNALED`): the respawn rule tells an
    /// exit from a death by signal without guessing from `status`.
    pub signal: Option<i32>,
    /// Fork to reap.
    pub lifetime: Duration,
    /// Its counts and outcome.
    pub end: ChildEnd,
}

/// What a reaped child contributes to the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildEnd {
    /// How it ended.
    pub outcome: ChildOutcome,
    /// Connections it accepted.
    pub accepted: u64,
    /// Connections it served to the end.
    pub served: u64,
    /// Connections it closed for want of a first byte.
    pub first_byte_timeouts: u64,
    /// Connections its clients closed without sending anything (first-byte mode).
    pub closed_without_request: u64,
    /// Connections it held when it exited (stopped, or died while holding one).
    pub interrupted: u64,
}

/// An idle child was sent `signal` after `idle` in that state.
#[derive(Debug, Clone, Copy)]
pub struct IdleKilled {
    /// Child number.
    pub child: u64,
    /// Process id.
    pub pid: i32,
    /// How long it had been idle.
    pub idle: Duration,
    /// SIGQUIT, or SIGKILL a tick later if it was still idle.
    pub signal: IdleSignal,
}
