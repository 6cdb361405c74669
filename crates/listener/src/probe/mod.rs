//! `epoll-socket-test`: how epoll reports pending connections on a listening socket,
//! observed live on the running kernel (issue 3).
//!
//! [`run`] takes a validated [`Config`] (see [`cli`]) and returns a
//! [`ProbeReport`]; [`render`] turns it into
//! the text table. The parts, one module each:
//! - [`single`]: one waiter, every trigger mode, the steps of [`step::Step`], with the
//!   strict-edge prediction of [`predict`] beside each count;
//! - [`waiters`]: several forked waiters on one connect (own or shared epoll);
//! - [`accepting`]: accept loops and blocking `accept()` callers over many connects;
//! - [`reuseport`]: SO_REUSEPORT listeners and how connections spread over them;
//! - [`overflow`]: more connects than the backlog allows.
//!
//! Helpers: [`client`] (who connects), [`crew`] (forked waiters), [`ipc`] (line pipes
//! to helpers), [`settle`] (bounded waits for kernel state), [`interrupt`]
//! (SIGINT/SIGTERM/SIGHUP via signalfd), [`limits`] (open-file headroom), [`error`]. Output:
//! [`render`] with [`table`], [`verdict`] and [`meaning`].

pub mod accepting;
pub mod cli;
pub mod client;
pub mod crew;
pub mod error;
pub mod interrupt;
pub mod ipc;
pub mod limits;
pub mod meaning;
pub mod overflow;
pub mod predict;
pub mod render;
pub mod reuseport;
pub mod settle;
pub mod single;
pub mod step;
pub mod table;
pub mod verdict;
pub mod waiters;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Instant;

use listenlab_common::report::probe::{ProbeReport, WaitersRecord};
use listenlab_common::{Endpoint, Format};

pub use client::ConnectFrom;
pub use error::ProbeError;
pub use interrupt::Interrupt;

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

/// The addresses to probe: one per family, with the temp directory that holds the unix
/// socket (removed when this drops).
#[derive(Debug)]
struct Targets {
    _dir: Option<tempfile::TempDir>,
    list: Vec<Endpoint>,
}

impl Targets {
    fn resolve(cfg: &Config) -> Result<Self, ProbeError> {
        let mut dir = None;
        let mut list = Vec::new();
        for family in &cfg.families {
            let given = cfg
                .inet
                .filter(|addr| Family::of(&Endpoint::Inet(*addr)) == *family);
            let endpoint = match family {
                Family::Unix => Endpoint::Unix(match &cfg.unix {
                    Some(path) => path.clone(),
                    None => {
                        let tmp = tempfile::Builder::new()
                            .prefix("epoll-socket-test.")
                            .tempdir()
                            .map_err(|e| ProbeError::io("creating a temp directory", e))?;
                        let path = tmp.path().join("probe.sock");
                        dir = Some(tmp);
                        path
                    }
                }),
                Family::Inet => {
                    Endpoint::Inet(given.unwrap_or(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0)))
                }
                Family::Inet6 => {
                    Endpoint::Inet(given.unwrap_or(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 0)))
                }
            };
            list.push(endpoint);
        }
        Ok(Self { _dir: dir, list })
    }
}

/// Progress lines on stderr, one per scenario, when asked for.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Prints `what` as `epoll-socket-test: <what>` on stderr if enabled.
    pub fn note(self, what: impl std::fmt::Display) {
        if self.enabled {
            listenlab_common::cli::stderr_line(format_args!("epoll-socket-test: {what}"));
        }
    }

    /// The start of a scenario: stops here if SIGINT/SIGTERM/SIGHUP arrived, else notes `what`.
    pub fn start(self, what: impl std::fmt::Display, intr: &Interrupt) -> Result<(), ProbeError> {
        intr.check()?;
        self.note(what);
        Ok(())
    }
}

/// The kernel release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Runs the parts `cfg` selects and returns what was observed. Forks helpers and waiters
/// (never while a thread of ours runs), reaps them all, and removes every temp socket,
/// also when interrupted or failing.
pub fn run(cfg: &Config, intr: &Interrupt) -> Result<ProbeReport, ProbeError> {
    let started = Instant::now();
    let progress = Progress {
        enabled: cfg.progress,
    };
    let targets = Targets::resolve(cfg)?;
    let mut report = ProbeReport {
        kernel: kernel_release(),
        connect_from: cfg.connect_from.name().to_owned(),
        single_waiter: Vec::new(),
        waiters: Vec::new(),
        overflow: Vec::new(),
        differences: 0,
        elapsed_ms: 0,
    };
    if cfg.runs(Part::Single) {
        for endpoint in &targets.list {
            for &trigger in &cfg.triggers {
                let family = Family::of(endpoint);
                progress.start(format_args!("single waiter: {family} {trigger}"), intr)?;
                let records = single::run(endpoint, trigger, cfg.connect_from, intr)?;
                report.single_waiter.extend(records);
            }
        }
    }
    if cfg.runs(Part::Waiters) {
        for endpoint in &targets.list {
            report
                .waiters
                .extend(run_waiters(endpoint, cfg, progress, intr)?);
        }
    }
    if cfg.runs(Part::Overflow) {
        report.overflow = overflow::run(&targets.list, cfg.backlog, progress, intr)?;
    }
    report.differences = report.single_waiter.iter().filter(|r| r.differs).count() as u64;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Every several-waiters scenario for one family, in report order. A scenario whose
/// helpers time out becomes a row with `observed: false` and the reason in `error`; the
/// others still run (issue 12: under CPU contention one timeout used to end the run).
fn run_waiters(
    endpoint: &Endpoint,
    cfg: &Config,
    progress: Progress,
    intr: &Interrupt,
) -> Result<Vec<WaitersRecord>, ProbeError> {
    let family = Family::of(endpoint);
    let k = cfg.waiters as usize;
    let mut records = Vec::new();
    let mut run = |scenario: &str,
                   mode: &str,
                   body: &mut dyn FnMut() -> Result<WaitersRecord, ProbeError>|
     -> Result<(), ProbeError> {
        progress.start(format_args!("waiters: {family} {scenario} {mode}"), intr)?;
        records.push(match body() {
            Err(err) if err.leaves_unobserved() => WaitersRecord {
                error: Some(err.to_string()),
                observed: false,
                ..waiters::blank_record(family, scenario, mode, k)
            },
            other => other?,
        });
        Ok(())
    };
    for sharing in [waiters::Sharing::Own, waiters::Sharing::Shared] {
        for &mode in sharing.modes() {
            run(sharing.scenario(), mode.name(), &mut || {
                waiters::wake_count(endpoint, sharing, mode, k, intr)
            })?;
        }
    }
    for mode in accepting::ACCEPT_LOOP_MODES {
        run("accept_loop", mode.name(), &mut || {
            accepting::accept_loop(endpoint, mode, k, intr)
        })?;
    }
    run("blocking_accept", "accept", &mut || {
        accepting::blocking_accept(endpoint, k, intr)
    })?;
    run("reuseport", "listeners", &mut || {
        reuseport::spread(endpoint, k, intr)
    })?;
    Ok(records)
}
