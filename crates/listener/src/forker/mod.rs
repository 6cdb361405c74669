//! `epoll-listen-fork`: a forking-server simulator. One single-threaded parent listens,
//! waits in one epoll loop ([`event_loop`]) on the listener, a signalfd and the children's
//! doorbell, and lets a process-manager [`model::Model`] decide when to fork: [`per_event`]
//! (the original tool) or [`ondemand`] (PHP-FPM's `pm = ondemand`). Children publish their
//! state in a shared [`scoreboard`]; the [`observer`] reports every event and the summary.
//!
//! - [`cli`]: flags and their validation into a [`Config`];
//! - [`child`]: what a child does, and its exit codes;
//! - [`pool`]: forking, reaping and classifying children;
//! - [`throttle`]: no fork storm when children keep dying;
//! - [`output`]: event lines queued in front of stdout, never blocking the loop.
//!
//! The counts and their accounting identities are `listenlab_common::report::fork::ForkCounts`.

pub mod child;
pub mod cli;
pub mod event_loop;
pub mod model;
pub mod observer;
pub mod ondemand;
pub mod output;
pub mod per_event;
pub mod pool;
pub mod scoreboard;
pub mod throttle;

use std::time::Duration;

use listenlab_common::{Endpoint, Format};

use crate::poller::Trigger;
use crate::socket::{ListenError, ListenOptions, Listener};

pub use event_loop::{RunError, run};

/// The process-manager model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    /// One fork per epoll event; each child accepts one connection, sleeps, exits.
    PerEvent,
    /// PHP-FPM `pm = ondemand`: fork only when no child is idle; children live on.
    Ondemand,
}

/// How children accept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AcceptMode {
    /// Blocking `accept()` (the original tool): a child with nothing to take waits.
    #[default]
    Blocking,
    /// `O_NONBLOCK` on the (shared) listener: a per-event child that finds nothing exits at
    /// once and is counted as empty.
    Nonblocking,
}

impl AcceptMode {
    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Blocking => "blocking",
            Self::Nonblocking => "nonblocking",
        }
    }
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
