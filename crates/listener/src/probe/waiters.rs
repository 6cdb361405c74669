//! Several waiters, one connect, nobody accepts: how many wake?
//!
//! `own_epoll`: each forked waiter creates its own epoll instance after the fork and
//! registers the listener (level, edge, exclusive, edge-exclusive). `shared_epoll`: the
//! probe creates one epoll instance before forking and every waiter waits on it (level,
//! edge); EPOLLEXCLUSIVE is only meaningful across separate instances, so it is not run
//! shared. All waiters are confirmed asleep before the connect (see [`super::crew`]).
//!
//! Counting: after the connect the probe waits up to [`FIRST_WAKE_WITHIN`] for a first
//! waiter to report, then keeps collecting until every waiter has reported or
//! [`SETTLE`] has passed with all the others asleep again (a woken waiter is runnable,
//! not asleep, until it has reported), bounded by [`COLLECT_WITHIN`].

use std::time::{Duration, Instant};

use listenlab_common::Endpoint;
use listenlab_common::report::probe::WaitersRecord;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollTimeout};

use super::crew::{Crew, Reporter};
use super::error::ProbeError;
use super::interrupt::Interrupt;
use crate::events;
use crate::poller::Trigger;
use crate::socket::{Family, ListenOptions, Listener};

/// How long the first waiter may take to report after the connect.
pub const FIRST_WAKE_WITHIN: Duration = Duration::from_secs(2);
/// How long the others are given after the first report, if they are all asleep.
pub const SETTLE: Duration = Duration::from_millis(30);
/// The most the collection may take in all.
pub const COLLECT_WITHIN: Duration = Duration::from_secs(3);
/// A waiter gives up waiting after this long (it is killed long before, normally).
const WAITER_GIVES_UP_MS: u16 = 10_000;

/// Who owns the epoll instance the waiters wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Each waiter creates its own after the fork.
    Own,
    /// The probe creates one before forking; all waiters share it.
    Shared,
}

impl Sharing {
    /// The scenario name in reports.
    pub fn scenario(self) -> &'static str {
        match self {
            Self::Own => "own_epoll",
            Self::Shared => "shared_epoll",
        }
    }

    /// The modes each sharing is run with.
    pub fn modes(self) -> &'static [Trigger] {
        match self {
            Self::Own => &[
                Trigger::Level,
                Trigger::Edge,
                Trigger::Exclusive,
                Trigger::EdgeExclusive,
            ],
            Self::Shared => &[Trigger::Level, Trigger::Edge],
        }
    }
}

/// A record of `k` waiters in `scenario`/`mode` with nothing counted yet: the base the
/// scenarios fill in.
pub fn blank_record(family: Family, scenario: &str, mode: &str, k: usize) -> WaitersRecord {
    WaitersRecord {
        family: family.name().to_owned(),
        scenario: scenario.to_owned(),
        mode: mode.to_owned(),
        waiters: k as u64,
        connections: 0,
        woken: 0,
        accepting: None,
        per_waiter: Vec::new(),
        wakeups_per_waiter: Vec::new(),
        empty_wakeups_per_waiter: Vec::new(),
        eagain_per_waiter: Vec::new(),
        order: Vec::new(),
        fifo: None,
        blocked_in: Vec::new(),
        error: None,
        observed: true,
    }
}

/// A listener set up for waiters: non-blocking, room for every connect.
pub fn waiters_listener(endpoint: &Endpoint) -> Result<Listener, ProbeError> {
    Ok(Listener::bind(
        endpoint,
        ListenOptions {
            backlog: 1024,
            reuseport: false,
            nonblocking: true,
        },
    )?)
}

/// An epoll instance (new, close-on-exec) watching `listener` with `mode`'s flags.
pub fn watch(listener: &Listener, mode: Trigger) -> Result<Epoll, String> {
    let epoll =
        Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll_create: {e}"))?;
    epoll
        .add(listener, EpollEvent::new(mode.flags(), 1))
        .map_err(|e| format!("epoll_ctl(ADD): {e}"))?;
    Ok(epoll)
}

/// One `epoll_wait` with the waiter's give-up timeout: the number of events and their flags.
pub fn wait_once(epoll: &Epoll) -> Result<(usize, String), String> {
    let mut events = [EpollEvent::empty(); 8];
    let n = epoll
        .wait(&mut events, EpollTimeout::from(WAITER_GIVES_UP_MS))
        .map_err(|e| format!("epoll_wait: {e}"))?;
    Ok((
        n,
        events
            .first()
            .map_or("-".into(), |e| events::describe(e.events())),
    ))
}

/// Runs one wake-count scenario with `k` waiters and returns its record.
pub fn wake_count(
    endpoint: &Endpoint,
    sharing: Sharing,
    mode: Trigger,
    k: usize,
    intr: &Interrupt,
) -> Result<WaitersRecord, ProbeError> {
    let listener = waiters_listener(endpoint)?;
    let shared = match sharing {
        Sharing::Own => None,
        Sharing::Shared => Some(watch(&listener, mode).map_err(ProbeError::Helper)?),
    };
    let mut crew = Crew::new()?;
    for _ in 0..k {
        crew.spawn(|report: &Reporter<'_>| {
            let own;
            let epoll = match &shared {
                Some(epoll) => epoll,
                None => match watch(&listener, mode) {
                    Ok(epoll) => {
                        own = epoll;
                        &own
                    }
                    Err(e) => {
                        report.send(&format!("error {e}"));
                        return 1;
                    }
                },
            };
            report.send("ready");
            match wait_once(epoll) {
                Ok((0, _)) => report.send("timeout"),
                Ok((n, flags)) => report.send(&format!("woke {n} {flags}")),
                Err(e) => report.send(&format!("error {e}")),
            }
            0
        })?;
    }
    let all: Vec<usize> = (0..k).collect();
    let blocked_in = crew.await_asleep(&all, intr)?;
    let _client = crate::socket::connect(listener.endpoint())
        .map_err(|e| ProbeError::io(format!("connecting to {}", listener.endpoint()), e))?;
    let woke = collect_wakeups(&mut crew, intr)?;
    Ok(WaitersRecord {
        connections: 1,
        woken: woke.iter().filter(|w| **w).count() as u64,
        per_waiter: woke.iter().map(|w| u64::from(*w)).collect(),
        blocked_in,
        ..blank_record(listener.family(), sharing.scenario(), mode.name(), k)
    })
}

/// Collects `woke` reports after the connect (see the module docs for the bounds).
fn collect_wakeups(crew: &mut Crew, intr: &Interrupt) -> Result<Vec<bool>, ProbeError> {
    let start = Instant::now();
    let mut woke = vec![false; crew.len()];
    let mut first_at = None;
    loop {
        let now = Instant::now();
        if woke.iter().all(|w| *w) || now >= start + COLLECT_WITHIN {
            break;
        }
        let wait = match first_at {
            None => (start + FIRST_WAKE_WITHIN).saturating_duration_since(now),
            Some(first) => {
                let settled = now >= first + SETTLE;
                if settled && crew.others_asleep(&woke) {
                    break;
                }
                Duration::from_millis(1)
            }
        };
        match crew.next(wait, intr)? {
            Some(report) if report.what == "woke" => {
                woke[report.waiter] = true;
                first_at.get_or_insert_with(Instant::now);
            }
            Some(report) if report.what == "error" => {
                return Err(ProbeError::Helper(format!(
                    "waiter {}: {}",
                    report.waiter, report.detail
                )));
            }
            Some(_) => {}
            None if first_at.is_none() => break,
            None => {}
        }
    }
    Ok(woke)
}
