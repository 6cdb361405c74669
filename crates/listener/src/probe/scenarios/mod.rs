//! The several-waiters scenarios, one file each, joined by the exhaustive
//! [`Scenario`] enum: [`Scenario::spec`] is the one `match` that names them, and every
//! part of the probe that differs per scenario (the modes it runs with, the files it
//! needs, the run itself, its text details and verdict) asks the scenario's [`Spec`].
//! A new scenario is one new file here plus, in this file, its variant of [`Scenario`]
//! (whose serde name is its JSON name) and the variant's arm in [`Scenario::spec`].
//!
//! - [`own_epoll`] and [`shared_epoll`]: one connect, nobody accepts: how many wake
//!   (both run [`wake_count`]);
//! - [`accept_loop`]: waiters accept until `EAGAIN` over a series of connects;
//! - [`blocking_accept`]: waiters blocked in `accept()`, which one gets each connection;
//! - [`reuseport`]: SO_REUSEPORT listeners and how connections spread over them.

mod accept_loop;
mod blocking_accept;
mod own_epoll;
mod reuseport;
mod shared_epoll;
mod wake_count;

use listenlab_common::Endpoint;
use serde::Serialize;

use super::error::ProbeError;
use super::harness::interrupt::Interrupt;
use super::report::{Mode, WaitersRecord};
use crate::poller::Trigger;
use crate::socket::Family;

/// The several-waiters scenarios; the serde name is the report's `scenario` value. What
/// each one does, and how its rows read, is its own file in this folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Each waiter has its own epoll instance; one connect, nobody accepts.
    OwnEpoll,
    /// All waiters share one epoll instance; one connect, nobody accepts.
    SharedEpoll,
    /// Own epoll instances; each woken waiter accepts until `EAGAIN`.
    AcceptLoop,
    /// Waiters asleep in a blocking `accept()`.
    BlockingAccept,
    /// SO_REUSEPORT listeners, nobody accepting.
    Reuseport,
}

impl Scenario {
    /// Every scenario, in report order (the order they run in); a new variant goes here
    /// too.
    pub const ALL: [Scenario; 5] = [
        Self::OwnEpoll,
        Self::SharedEpoll,
        Self::AcceptLoop,
        Self::BlockingAccept,
        Self::Reuseport,
    ];
}

/// One row to run: where, in which mode, with how many waiters.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    /// The address of the family under test (port 0: the kernel picks one).
    pub endpoint: &'a Endpoint,
    /// One of the modes the scenario lists.
    pub mode: Mode,
    /// Waiter processes (listeners, for `reuseport`).
    pub k: usize,
}

impl Case<'_> {
    /// The row's record with nothing counted yet: what `scenario` fills in.
    pub fn record(&self, scenario: Scenario) -> WaitersRecord {
        WaitersRecord::new(Family::of(self.endpoint), scenario, self.mode, self.k)
    }

    /// The trigger mode, for a scenario whose modes are all trigger modes.
    pub fn trigger(&self) -> Trigger {
        match self.mode {
            Mode::Trigger(trigger) => trigger,
            // Spec::modes lists the modes a scenario runs in, and only those are run.
            other => unreachable!("a scenario of trigger modes was run in mode {other}"),
        }
    }
}

/// What one scenario is. The text output calls [`Spec::details`] and [`Spec::verdict`]
/// only for rows that ran and were observed (`error` is `null`); it words the others
/// itself, the same for every scenario.
pub trait Spec: Sync {
    /// The modes it runs with, in report order: one row each.
    fn modes(&self) -> &'static [Mode];

    /// Open files the probe itself holds at the peak of one run with `k` waiters
    /// (client sockets and listeners; the waiters' own are in their processes).
    fn files_needed(&self, k: usize) -> u64;

    /// Runs one row on a fresh listener. A helper that does not answer in time is an
    /// error that leaves the row unobserved ([`ProbeError::leaves_unobserved`]); a kernel
    /// refusal is a row with `error` set.
    fn run(&self, case: Case<'_>, intr: &Interrupt) -> Result<WaitersRecord, ProbeError>;

    /// The details column of the text table for an observed row.
    fn details(&self, r: &WaitersRecord) -> String;

    /// What an observed row says in the verdicts (families with equal values are grouped).
    fn verdict(&self, r: &WaitersRecord) -> String;
}

impl Scenario {
    /// What this scenario is and does.
    pub fn spec(self) -> &'static dyn Spec {
        match self {
            Self::OwnEpoll => &own_epoll::OWN_EPOLL,
            Self::SharedEpoll => &shared_epoll::SHARED_EPOLL,
            Self::AcceptLoop => &accept_loop::AcceptLoop,
            Self::BlockingAccept => &blocking_accept::BlockingAccept,
            Self::Reuseport => &reuseport::Reuseport,
        }
    }

    /// The most open files any scenario holds with `k` waiters.
    pub fn most_files_needed(k: usize) -> u64 {
        Self::ALL
            .iter()
            .map(|s| s.spec().files_needed(k))
            .max()
            .unwrap_or(0)
    }
}
