//! The validated configuration of one run: what `cli.rs` hands to `app.rs` once every flag
//! has been checked against the others and against the machine.
//!
//! Durations stay [`Duration`]s here; they become integers with a unit in their name only
//! in the report.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use listenlab_common::plot::PlotPath;
use listenlab_common::{Endpoint, Format};

use crate::exchange::Exchange;
use crate::report::Transport;

/// Everything a run needs, already checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to connect: a unix socket path that exists and is a socket, or a resolved
    /// inet address.
    pub target: Endpoint,
    /// Connections to open (at least 1); in a `--duration` run, the default 1, unused.
    pub count: u64,
    /// `--duration`: run for this long (more than zero) instead of making `count`
    /// connects; nothing is held.
    pub duration: Option<Duration>,
    /// Most connects in flight at once (at least 1, at most `count` in a `--count` run);
    /// in a closed-loop `--duration` run, the slots each reconnecting once its
    /// connection is done.
    pub concurrency: usize,
    /// Connects per second on a fixed schedule, or `None` for as fast as possible.
    pub rate: Option<f64>,
    /// How long one connect may take before it counts as a timeout (more than zero).
    pub timeout: Duration,
    /// On a full unix backlog (`EAGAIN`), retry until `timeout` instead of failing at once.
    pub wait_for_backlog: bool,
    /// How long to keep the connections open once dialed.
    pub hold: Hold,
    /// Report format.
    pub format: Format,
    /// Where to write the `.hgrm` latency distribution, if anywhere.
    pub hgrm: Option<PathBuf>,
    /// Where to draw the `--plot` SVG picture, if anywhere (checked writable).
    pub plot: Option<PlotPath>,
    /// The length of one interval of live figures (at least 1 ms).
    pub interval: Duration,
    /// Where to write HdrHistogram's interval log, if anywhere (checked: a regular file
    /// or a new one in an existing directory).
    pub hlog: Option<PathBuf>,
    /// Where to write one JSON line per connection, if anywhere (checked likewise).
    pub connections_log: Option<PathBuf>,
    /// Exit 1 unless every connect succeeded.
    pub require_all: bool,
    /// No progress bar, no status lines on stderr.
    pub quiet: bool,
    /// Local source addresses to spread TCP connects over, round-robin; empty lets the
    /// kernel choose. Same family as the target.
    pub sources: Vec<IpAddr>,
    /// Runtime worker threads (1: a current-thread runtime).
    pub threads: usize,
    /// What to send and read on each connection once it is connected.
    pub exchange: Exchange,
}

/// How long the open connections are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Until a line or EOF on stdin, or SIGINT/SIGTERM.
    UntilReleased,
    /// For this long (zero closes them right away); SIGINT/SIGTERM end it early.
    For(Duration),
}

impl Config {
    /// Most connections open at once that the run can plan for: `count` in a `--count`
    /// run, the `--concurrency` slots in a `--duration` run (an open-loop run with
    /// `--read` can have more waiting for answers; past the open-file limit those count
    /// as `too_many_files`).
    pub fn open_at_most(&self) -> u64 {
        match self.duration {
            Some(_) => self.concurrency as u64,
            None => self.count,
        }
    }

    /// A closed-loop run: `--duration` without `--rate`.
    pub fn closed_loop(&self) -> bool {
        self.duration.is_some() && self.rate.is_none()
    }

    /// The target's transport, as the report names it.
    pub fn transport(&self) -> Transport {
        match self.target {
            Endpoint::Unix(_) => Transport::Unix,
            Endpoint::Inet(_) => Transport::Tcp,
        }
    }
}
