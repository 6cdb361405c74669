//! `blocking_accept`: waiters are forked one at a time and each is confirmed asleep in a
//! blocking `accept()` before the next is forked, so they queue in fork order. Each
//! connection is accepted by one of them, which reports and blocks again (confirmed asleep
//! before the next connect). The kernel's accept wait queue is exclusive (wake-one) and
//! FIFO (`prepare_to_wait_exclusive` adds at the tail), so the expected order is 0, 1, ...,
//! K-1, 0, 1, ...; the probe records what it observes.

use std::time::Duration;

use super::{Case, Scenario, Spec};
use crate::probe::error::ProbeError;
use crate::probe::harness::crew::{Crew, Reporter, START_WITHIN, Said};
use crate::probe::harness::interrupt::Interrupt;
use crate::probe::harness::settle;
use crate::probe::harness::waiter::{at_least_once, connect, waiters_listener};
use crate::probe::report::{Mode, WaitersRecord};
use crate::probe::text::words::join;
use crate::socket::Listener;

/// Rounds of connections: each waiter gets two, if the queue is FIFO.
const ROUNDS: usize = 2;
/// How long an accepted connection may take to be reported.
const ACCEPT_WITHIN: Duration = Duration::from_secs(2);

/// The `blocking_accept` scenario.
#[derive(Debug)]
pub struct BlockingAccept;

impl Spec for BlockingAccept {
    fn modes(&self) -> &'static [Mode] {
        &[Mode::Accept]
    }

    /// The listener and every client, kept open until the end.
    fn files_needed(&self, k: usize) -> u64 {
        (ROUNDS * k + 1) as u64
    }

    fn run(&self, case: Case<'_>, intr: &Interrupt) -> Result<WaitersRecord, ProbeError> {
        blocking_accept(case, intr)
    }

    fn details(&self, r: &WaitersRecord) -> String {
        let fifo = if r.fifo == Some(true) {
            "FIFO"
        } else {
            "not FIFO"
        };
        format!("order {} ({fifo})", join(&r.order))
    }

    fn verdict(&self, r: &WaitersRecord) -> String {
        match r.fifo {
            Some(true) => "first in, first out".to_owned(),
            _ => format!("not FIFO: {}", join(&r.order)),
        }
    }
}

/// The blocking-accept scenario with `k` waiters.
fn blocking_accept(case: Case<'_>, intr: &Interrupt) -> Result<WaitersRecord, ProbeError> {
    let k = case.k;
    let listener = waiters_listener(case.endpoint, false)?;
    let mut crew = Crew::new()?;
    let mut blocked_in = Vec::with_capacity(k);
    for index in 0..k {
        crew.spawn(|report| blocking_waiter(&listener, report))?;
        blocked_in.extend(crew.await_asleep(&[index], intr)?);
    }
    let connections = ROUNDS * k;
    let mut order = Vec::with_capacity(connections);
    let mut accepted = vec![0u64; k];
    let mut clients = Vec::with_capacity(connections);
    for n in 1..=connections {
        intr.check()?;
        clients.push(connect(&listener)?);
        let got = loop {
            match crew.next(ACCEPT_WITHIN, intr)? {
                Some(r) if r.said == Said::Accepted => break r.waiter,
                Some(r) if r.said == Said::Error => return Err(r.into_error()),
                Some(_) => {}
                None => {
                    return Err(ProbeError::Helper(format!(
                        "connection {n} was not accepted within {ACCEPT_WITHIN:?}"
                    )));
                }
            }
        };
        order.push(got as u64);
        accepted[got] += 1;
        // Back in accept() (at the tail of the queue) before the next connect.
        settle::asleep(crew.pid(got), START_WITHIN, intr)?;
    }
    let fifo = order.iter().enumerate().all(|(i, w)| *w as usize == i % k);
    Ok(WaitersRecord {
        connections: connections as u64,
        // Returning from a blocking accept() is getting a connection.
        woken: at_least_once(&accepted),
        accepting: Some(at_least_once(&accepted)),
        per_waiter: accepted,
        order,
        fifo: Some(fifo),
        blocked_in,
        ..case.record(Scenario::BlockingAccept)
    })
}

/// A waiter blocked in `accept()`: report each connection, block again.
fn blocking_waiter(listener: &Listener, report: &Reporter<'_>) -> i32 {
    report.say(Said::Ready);
    loop {
        match listener.accept() {
            Ok(_connection) => report.say(Said::Accepted),
            Err(e) => {
                report.say_with(Said::Error, &format!("accept: {e}"));
                return 1;
            }
        }
    }
}
