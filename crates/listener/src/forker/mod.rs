//! `epoll-listen-fork`: a forking-server simulator. One single-threaded parent listens,
//! waits in one epoll loop (`event_loop`) on the listener, a signalfd and the children's
//! doorbell, and lets a process-manager `models::Model` decide when to fork (one file per
//! model in `models`). Children publish their state in a shared `scoreboard`; the pool,
//! the models and the loop emit typed `event`s, which the `observer` counts
//! (`counts`) and prints (`text`, or JSON: the `report` types).
//!
//! - `cli`: flags and their validation into a [`Config`];
//! - `child`: what a child does, and its exit codes;
//! - `pool`: forking, reaping and classifying children;
//! - `throttle`: no fork storm when children keep dying;
//! - `sample`: the accept queue and netstat counters, read by the loop;
//! - `output`: event lines queued in front of stdout, never blocking the loop;
//! - `plot`: the `--plot` picture, from a timeline the observer keeps.
//!
//! The modules are private (their docs: `cargo doc --document-private-items`); this file
//! re-exports what the binary and the tests need.

mod ballast;
mod child;
mod cli;
mod counts;
mod event;
mod event_loop;
mod models;
mod observer;
mod output;
mod plot;
mod pool;
mod report;
mod sample;
mod scoreboard;
mod status;
mod text;
mod throttle;

use std::time::Duration;

use listenlab_common::{Endpoint, Format};

use crate::poller::Trigger;
use crate::socket::{ListenError, ListenOptions, Listener};

pub use cli::{Cli, usage_error};
pub use counts::ForkCounts;
pub use event_loop::{RunError, run};
pub use models::ModelKind;
pub use output::Output;
pub use report::{ChildOutcome, ForkEvent, ForkSummary, IdleSignal, StopReason};

/// How children accept.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AcceptMode {
    /// Blocking `accept()` (the original tool): a child with nothing to take waits.
    #[default]
    Blocking,
    /// `O_NONBLOCK` on the (shared) listener: a per-event child that finds nothing exits at
    /// once and is counted as empty.
    Nonblocking,
}

/// When an accepted connection makes an ondemand child busy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RequestStarts {
    /// As soon as it is accepted.
    #[default]
    Accept,
    /// When the client sends its first byte (at most 5 s later), as a PHP-FPM child: until
    /// then the child still counts as idle.
    FirstByte,
}

/// A validated run configuration (built by [`cli::Cli::into_config`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (resolved).
    pub endpoint: Endpoint,
    /// How the listener is registered with epoll (level or edge).
    pub trigger: Trigger,
    /// How long a child holds each connection.
    pub sleep: Duration,
    /// The model.
    pub model: ModelKind,
    /// Most children at once.
    pub max_children: usize,
    /// The listen backlog.
    pub backlog: u32,
    /// Output format.
    pub format: Format,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many accepted connections.
    pub exit_after: Option<u64>,
    /// Blocking or non-blocking accept.
    pub accept: AcceptMode,
    /// Children write one byte right after accept.
    pub greet: bool,
    /// Ondemand: retire children idle longer than this.
    pub process_idle_timeout: Duration,
    /// Ondemand: a child exits after this many connections.
    pub max_requests: Option<u64>,
    /// Ondemand: when a connection makes a child busy.
    pub request_starts: RequestStarts,
    /// Bytes of private memory the parent maps and touches before listening.
    pub parent_memory: u64,
    /// How long a new child waits before its first accept.
    pub child_startup: Duration,
    /// Emit a `status` line this often.
    pub status_every: Option<Duration>,
    /// PHP-FPM models: how long a child stays finishing after closing a connection.
    pub request_shutdown: Duration,
    /// Dynamic: start, min and max spare servers, max spawn rate.
    pub spares: models::Spares,
    /// Where to draw the run as an SVG picture (`--plot`), checked writable.
    pub plot: Option<listenlab_common::plot::PlotPath>,
}

impl Config {
    /// Binds the listener this configuration describes (non-blocking with
    /// `--accept nonblocking`).
    pub fn bind(&self) -> Result<Listener, ListenError> {
        Listener::bind(
            &self.endpoint,
            ListenOptions {
                backlog: self.backlog,
                reuseport: false,
                nonblocking: self.accept == AcceptMode::Nonblocking,
            },
        )
    }
}
