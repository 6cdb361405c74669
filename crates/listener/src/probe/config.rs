//! A validated probe configuration ([`Config`]), built by [`super::cli::Cli::into_config`],
//! and the choices it holds that are not report values: the parts to run ([`Part`]) and
//! the check to make ([`Expect`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use listenlab_common::Format;

use super::report::ConnectFrom;
use crate::poller::Trigger;
use crate::socket::Family;

/// The parts of a run, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Part {
    /// The single-waiter matrix.
    Single,
    /// Several waiters: own and shared epoll, accept loops, blocking accept, reuseport.
    Waiters,
    /// Backlog overflow.
    Overflow,
}

/// A check `--expect` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Expect {
    /// Every single-waiter cell matches the strict "edge = empty to non-empty" reading.
    StrictEdge,
}

/// A validated probe configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The families to probe, in report order, each at most once.
    pub families: Vec<Family>,
    /// A unix socket path to use instead of a temporary one.
    pub unix: Option<PathBuf>,
    /// An inet address to use instead of an ephemeral loopback port (its family is
    /// `inet` or `inet6`).
    pub inet: Option<SocketAddr>,
    /// The trigger modes of the single-waiter matrix, in report order.
    pub triggers: Vec<Trigger>,
    /// Who connects in the single-waiter matrix.
    pub connect_from: ConnectFrom,
    /// Waiter processes per several-waiters scenario (1 to 64).
    pub waiters: u32,
    /// The backlog of the overflow listener (1 to 4096).
    pub backlog: u32,
    /// The parts to run.
    pub parts: Vec<Part>,
    /// The output format.
    pub format: Format,
    /// A check that makes the run exit 1 when it does not hold.
    pub expect: Option<Expect>,
    /// Print a line on stderr as each scenario starts.
    pub progress: bool,
}

impl Config {
    /// Whether `part` runs.
    pub fn runs(&self, part: Part) -> bool {
        self.parts.contains(&part)
    }
}
