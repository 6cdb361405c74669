//! One run of the probe: the addresses of every family, the parts in order, and the
//! several-waiters scenarios in the order of [`Scenario::ALL`], each in every mode it
//! lists. Progress lines go to stderr as each scenario starts.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use listenlab_common::Endpoint;

use super::config::{Config, Part};
use super::error::ProbeError;
use super::harness::interrupt::Interrupt;
use super::harness::progress::Progress;
use super::report::{ProbeReport, WaitersRecord};
use super::scenarios::{Case, Scenario};
use super::{overflow, single};
use crate::socket::Family;

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

/// The kernel release, as `uname -r` prints it.
fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Runs the parts `cfg` selects and returns what was observed. Forks helpers and waiters
/// (never while a thread of ours runs), reaps them all, and removes every temp socket,
/// also when interrupted or failing.
pub fn run(cfg: &Config, intr: &Interrupt) -> Result<ProbeReport, ProbeError> {
    let started = Instant::now();
    let progress = Progress::new(cfg.progress);
    let targets = Targets::resolve(cfg)?;
    let mut report = ProbeReport {
        kernel: kernel_release(),
        connect_from: cfg.connect_from,
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
    for scenario in Scenario::ALL {
        let spec = scenario.spec();
        for &mode in spec.modes() {
            progress.start(format_args!("waiters: {family} {scenario} {mode}"), intr)?;
            let case = Case { endpoint, mode, k };
            records.push(match spec.run(case, intr) {
                Err(err) if err.leaves_unobserved() => {
                    WaitersRecord::unobserved(case.record(scenario), err.to_string())
                }
                other => other?,
            });
        }
    }
    Ok(records)
}
