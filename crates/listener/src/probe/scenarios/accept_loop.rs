//! `accept_loop`: several waiters over a series of connections, this time accepting them.
//! Each waiter has its own epoll instance and, when woken, accepts until `EAGAIN`.
//! Connections are made one at a time; before each, every waiter is asleep again, so
//! each connection meets the same crowd. Per waiter: wakeups, accepts, EAGAINs.

use std::io;
use std::time::{Duration, Instant};

use super::{Case, Scenario, Spec};
use crate::poller::Trigger;
use crate::probe::error::ProbeError;
use crate::probe::harness::crew::{Crew, Report, Reporter, Said};
use crate::probe::harness::interrupt::Interrupt;
use crate::probe::harness::waiter::{at_least_once, connect, wait_once, waiters_listener, watch};
use crate::probe::report::{Mode, WaitersRecord};
use crate::probe::text::words::join;
use crate::socket::Listener;

/// Connections per waiter.
const PER_WAITER: usize = 4;
/// How long an accepted connection may take to be reported.
const ACCEPT_WITHIN: Duration = Duration::from_secs(2);

/// The `accept_loop` scenario.
#[derive(Debug)]
pub struct AcceptLoop;

impl Spec for AcceptLoop {
    fn modes(&self) -> &'static [Mode] {
        &[
            Mode::Trigger(Trigger::Level),
            Mode::Trigger(Trigger::Exclusive),
        ]
    }

    /// The listener and every client, kept open until the end.
    fn files_needed(&self, k: usize) -> u64 {
        (PER_WAITER * k + 1) as u64
    }

    fn run(&self, case: Case<'_>, intr: &Interrupt) -> Result<WaitersRecord, ProbeError> {
        accept_loop(case, intr)
    }

    fn details(&self, r: &WaitersRecord) -> String {
        format!(
            "{} connections, accepted by {}/{}; wakeups {}, of which empty {}",
            r.connections,
            r.accepting.unwrap_or(0),
            r.waiters,
            join(&r.wakeups_per_waiter),
            join(&r.empty_wakeups_per_waiter)
        )
    }

    fn verdict(&self, r: &WaitersRecord) -> String {
        format!(
            "{} connections took {} wakeups, {} of them empty; {} of {} waiters woke, {} \
             accepted",
            r.connections,
            r.wakeups_per_waiter.iter().sum::<u64>(),
            r.empty_wakeups_per_waiter.iter().sum::<u64>(),
            r.woken,
            r.waiters,
            r.accepting.unwrap_or(0)
        )
    }
}

/// The accept-loop scenario with `k` waiters registered with `mode`.
fn accept_loop(case: Case<'_>, intr: &Interrupt) -> Result<WaitersRecord, ProbeError> {
    let (mode, k) = (case.trigger(), case.k);
    let listener = waiters_listener(case.endpoint, true)?;
    let mut crew = Crew::new()?;
    for _ in 0..k {
        crew.spawn(|report| accept_loop_waiter(&listener, mode, report))?;
    }
    let all: Vec<usize> = (0..k).collect();
    let blocked_in = crew.await_asleep(&all, intr)?;
    let connections = PER_WAITER * k;
    let mut tally = Tally::new(k);
    let mut clients = Vec::with_capacity(connections);
    for n in 1..=connections {
        intr.check()?;
        clients.push(connect(&listener)?);
        // Until this connection is accepted and every waiter is asleep again.
        let deadline = Instant::now() + ACCEPT_WITHIN;
        loop {
            if Instant::now() >= deadline {
                return Err(ProbeError::Helper(format!(
                    "connection {n}: not accepted, or the waiters not asleep again, within \
                     {ACCEPT_WITHIN:?}"
                )));
            }
            let taken = tally.accepted.iter().sum::<u64>() as usize >= n;
            let wait = if taken {
                Duration::from_millis(1)
            } else {
                deadline.saturating_duration_since(Instant::now())
            };
            match crew.next(wait, intr)? {
                Some(report) => tally.record(report)?,
                None if taken && crew.others_asleep(&vec![false; k]) => break,
                None => {}
            }
        }
    }
    // Everyone is asleep, so every line has been written: read the last ones.
    while let Some(report) = crew.next(Duration::ZERO, intr)? {
        tally.record(report)?;
    }
    Ok(WaitersRecord {
        connections: connections as u64,
        woken: at_least_once(&tally.wakeups),
        accepting: Some(at_least_once(&tally.accepted)),
        empty_wakeups_per_waiter: tally
            .wakeups
            .iter()
            .zip(&tally.fruitful)
            .map(|(w, f)| w - f)
            .collect(),
        per_waiter: tally.accepted,
        wakeups_per_waiter: tally.wakeups,
        eagain_per_waiter: tally.eagain,
        blocked_in,
        ..WaitersRecord::new(
            listener.family(),
            Scenario::AcceptLoop,
            Mode::Trigger(mode),
            k,
        )
    })
}

/// What the accept-loop waiters reported, per waiter.
struct Tally {
    wakeups: Vec<u64>,
    accepted: Vec<u64>,
    eagain: Vec<u64>,
    /// Wakeups that got at least one connection.
    fruitful: Vec<u64>,
    got_since_wake: Vec<bool>,
}

impl Tally {
    fn new(k: usize) -> Self {
        Self {
            wakeups: vec![0; k],
            accepted: vec![0; k],
            eagain: vec![0; k],
            fruitful: vec![0; k],
            got_since_wake: vec![false; k],
        }
    }

    fn record(&mut self, r: Report) -> Result<(), ProbeError> {
        let w = r.waiter;
        match r.said {
            Said::Woke => {
                self.wakeups[w] += 1;
                self.got_since_wake[w] = false;
            }
            Said::Accepted => {
                self.accepted[w] += 1;
                if !std::mem::replace(&mut self.got_since_wake[w], true) {
                    self.fruitful[w] += 1;
                }
            }
            Said::Eagain => self.eagain[w] += 1,
            Said::Error => return Err(r.into_error()),
            // `ready` came before the first connect; an accept-loop waiter that gives up
            // waiting exits without a word.
            Said::Ready | Said::Timeout => {}
        }
        Ok(())
    }
}

/// A waiter of the accept loop: wait, accept until `EAGAIN`, report each, repeat.
fn accept_loop_waiter(listener: &Listener, mode: Trigger, report: &Reporter<'_>) -> i32 {
    let epoll = match watch(listener, mode) {
        Ok(epoll) => epoll,
        Err(e) => {
            report.say_with(Said::Error, &e);
            return 1;
        }
    };
    report.say(Said::Ready);
    loop {
        match wait_once(&epoll) {
            Ok((0, _)) => return 0,
            Ok(_) => report.say(Said::Woke),
            Err(e) => {
                report.say_with(Said::Error, &e);
                return 1;
            }
        }
        loop {
            match listener.accept() {
                Ok(_connection) => report.say(Said::Accepted),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    report.say(Said::Eagain);
                    break;
                }
                Err(e) => {
                    report.say_with(Said::Error, &format!("accept: {e}"));
                    return 1;
                }
            }
        }
    }
}
