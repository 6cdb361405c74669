//! The run `own_epoll` and `shared_epoll` share: several waiters, one connect, nobody
//! accepts: how many wake?
//!
//! `own_epoll`: each forked waiter creates its own epoll instance after the fork and
//! registers the listener. `shared_epoll`: the probe creates one epoll instance before
//! forking and every waiter waits on it. All waiters are confirmed asleep before the
//! connect (see [`crate::probe::harness::crew`]).
//!
//! Counting: after the connect the probe waits up to [`FIRST_WAKE_WITHIN`] for a first
//! waiter to report, then keeps collecting until every waiter has reported or
//! [`SETTLE`] has passed with all the others asleep again (a woken waiter is runnable,
//! not asleep, until it has reported), bounded by [`COLLECT_WITHIN`].

use std::time::{Duration, Instant};

use nix::sys::epoll::Epoll;

use super::{Case, Scenario, Spec};
use crate::poller::Trigger;
use crate::probe::error::ProbeError;
use crate::probe::harness::crew::{Crew, Reporter, Said};
use crate::probe::harness::interrupt::Interrupt;
use crate::probe::harness::waiter::{connect, wait_once, waiters_listener, watch};
use crate::probe::report::{Mode, WaitersRecord};
use crate::probe::text::words::distinct;
use crate::socket::Listener;

/// How long the first waiter may take to report after the connect.
const FIRST_WAKE_WITHIN: Duration = Duration::from_secs(2);
/// How long the others are given after the first report, if they are all asleep.
const SETTLE: Duration = Duration::from_millis(30);
/// The most the collection may take in all.
const COLLECT_WITHIN: Duration = Duration::from_secs(3);

/// Who owns the epoll instance the waiters wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Each waiter creates its own after the fork.
    Own,
    /// The probe creates one before forking; all waiters share it.
    Shared,
}

/// A wake-count scenario: which one, who owns the epoll instance, and its modes.
#[derive(Debug)]
pub struct WakeCount {
    /// The scenario it is.
    pub scenario: Scenario,
    /// Who owns the epoll instance.
    pub sharing: Sharing,
    /// The trigger modes it runs with, in report order.
    pub modes: &'static [Mode],
}

/// Open files the probe holds for a wake count: the listener, one client, the shared
/// epoll instance.
const FILES: u64 = 3;

impl Spec for WakeCount {
    fn modes(&self) -> &'static [Mode] {
        self.modes
    }

    fn files_needed(&self, _k: usize) -> u64 {
        FILES
    }

    fn run(&self, case: Case<'_>, intr: &Interrupt) -> Result<WaitersRecord, ProbeError> {
        let (trigger, k) = (case.trigger(), case.k);
        let listener = waiters_listener(case.endpoint, true)?;
        let shared = match self.sharing {
            Sharing::Own => None,
            Sharing::Shared => Some(watch(&listener, trigger).map_err(ProbeError::Helper)?),
        };
        let mut crew = Crew::new()?;
        for _ in 0..k {
            crew.spawn(|report: &Reporter<'_>| {
                waiter(shared.as_ref(), &listener, trigger, report)
            })?;
        }
        let all: Vec<usize> = (0..k).collect();
        let blocked_in = crew.await_asleep(&all, intr)?;
        let _client = connect(&listener)?;
        let woke = collect_wakeups(&mut crew, intr)?;
        Ok(WaitersRecord {
            connections: 1,
            woken: woke.iter().filter(|w| **w).count() as u64,
            per_waiter: woke.iter().map(|w| u64::from(*w)).collect(),
            blocked_in,
            ..case.record(self.scenario)
        })
    }

    /// Where the waiters slept.
    fn details(&self, r: &WaitersRecord) -> String {
        format!(
            "asleep in {}",
            distinct(&r.blocked_in, |w| w.as_str()).join(", ")
        )
    }

    /// How many woke.
    fn verdict(&self, r: &WaitersRecord) -> String {
        format!("{} of {} waiters woke", r.woken, r.waiters)
    }
}

/// One waiter: its own epoll instance unless `shared`, one wait, and what it saw.
fn waiter(
    shared: Option<&Epoll>,
    listener: &Listener,
    trigger: Trigger,
    report: &Reporter<'_>,
) -> i32 {
    let own;
    let epoll = match shared {
        Some(epoll) => epoll,
        None => match watch(listener, trigger) {
            Ok(epoll) => {
                own = epoll;
                &own
            }
            Err(e) => {
                report.say_with(Said::Error, &e);
                return 1;
            }
        },
    };
    report.say(Said::Ready);
    match wait_once(epoll) {
        Ok((0, _)) => report.say(Said::Timeout),
        Ok((n, flags)) => report.say_with(Said::Woke, &format!("{n} {flags}")),
        Err(e) => report.say_with(Said::Error, &e),
    }
    0
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
            Some(report) if report.said == Said::Woke => {
                woke[report.waiter] = true;
                first_at.get_or_insert_with(Instant::now);
            }
            Some(report) if report.said == Said::Error => return Err(report.into_error()),
            Some(_) => {}
            None if first_at.is_none() => break,
            None => {}
        }
    }
    Ok(woke)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::scenarios::own_epoll::OWN_EPOLL;
    use crate::socket::Family;

    #[test]
    fn details_name_each_sleeping_place_once() {
        let r = WaitersRecord {
            blocked_in: vec!["ep_poll".into(), "ep_poll".into(), "do_epoll_wait".into()],
            woken: 1,
            ..WaitersRecord::new(
                Family::Unix,
                Scenario::OwnEpoll,
                Mode::Trigger(Trigger::Edge),
                3,
            )
        };
        assert_eq!(OWN_EPOLL.details(&r), "asleep in ep_poll, do_epoll_wait");
        assert_eq!(OWN_EPOLL.verdict(&r), "1 of 3 waiters woke");
    }
}
