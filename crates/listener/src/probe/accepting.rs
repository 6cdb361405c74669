//! Several waiters over a series of connections, this time accepting them.
//!
//! `accept_loop`: each waiter has its own epoll instance and, when woken, accepts until
//! `EAGAIN`. Connections are made one at a time; before each, every waiter is asleep
//! again, so each connection meets the same crowd. Per waiter: wakeups, accepts, EAGAINs.
//!
//! `blocking_accept`: waiters are forked one at a time and each is confirmed asleep in a
//! blocking `accept()` before the next is forked, so they queue in fork order. Each
//! connection is accepted by one of them, which reports and blocks again (confirmed asleep
//! before the next connect). The kernel's accept wait queue is exclusive (wake-one) and
//! FIFO (`prepare_to_wait_exclusive` adds at the tail), so the expected order is 0, 1, ...,
//! K-1, 0, 1, ...; the probe records what it observes.

use std::io;
use std::time::{Duration, Instant};

use listenlab_common::Endpoint;
use listenlab_common::report::probe::WaitersRecord;

use super::crew::{Crew, Report, Reporter, START_WITHIN};
use super::error::ProbeError;
use super::interrupt::Interrupt;
use super::settle;
use super::waiters::{blank_record, wait_once, waiters_listener, watch};
use crate::poller::Trigger;
use crate::socket::{ListenOptions, Listener};

/// The modes the accept loop runs with.
pub const ACCEPT_LOOP_MODES: [Trigger; 2] = [Trigger::Level, Trigger::Exclusive];
/// Connections per waiter in the accept loop; blocking accept makes two rounds.
const PER_WAITER: usize = 4;
/// How long an accepted connection may take to be reported.
const ACCEPT_WITHIN: Duration = Duration::from_secs(2);

/// The accept-loop scenario with `k` waiters registered with `mode`.
pub fn accept_loop(
    endpoint: &Endpoint,
    mode: Trigger,
    k: usize,
    intr: &Interrupt,
) -> Result<WaitersRecord, ProbeError> {
    let listener = waiters_listener(endpoint)?;
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
                Some(report) => tally.record(&report)?,
                None if taken && crew.others_asleep(&vec![false; k]) => break,
                None => {}
            }
        }
    }
    // Everyone is asleep, so every line has been written: read the last ones.
    while let Some(report) = crew.next(Duration::ZERO, intr)? {
        tally.record(&report)?;
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
        ..blank_record(listener.family(), "accept_loop", mode.name(), k)
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

    fn record(&mut self, r: &Report) -> Result<(), ProbeError> {
        let w = r.waiter;
        match r.what.as_str() {
            "woke" => {
                self.wakeups[w] += 1;
                self.got_since_wake[w] = false;
            }
            "accepted" => {
                self.accepted[w] += 1;
                if !std::mem::replace(&mut self.got_since_wake[w], true) {
                    self.fruitful[w] += 1;
                }
            }
            "eagain" => self.eagain[w] += 1,
            "error" => return Err(waiter_error(w, &r.detail)),
            _ => {}
        }
        Ok(())
    }
}

/// A waiter of the accept loop: wait, accept until `EAGAIN`, report each, repeat.
fn accept_loop_waiter(listener: &Listener, mode: Trigger, report: &Reporter<'_>) -> i32 {
    let epoll = match watch(listener, mode) {
        Ok(epoll) => epoll,
        Err(e) => {
            report.send(&format!("error {e}"));
            return 1;
        }
    };
    report.send("ready");
    loop {
        match wait_once(&epoll) {
            Ok((0, _)) => return 0,
            Ok(_) => report.send("woke"),
            Err(e) => {
                report.send(&format!("error {e}"));
                return 1;
            }
        }
        loop {
            match listener.accept() {
                Ok(_connection) => report.send("accepted"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    report.send("eagain");
                    break;
                }
                Err(e) => {
                    report.send(&format!("error accept: {e}"));
                    return 1;
                }
            }
        }
    }
}

/// The blocking-accept scenario with `k` waiters.
pub fn blocking_accept(
    endpoint: &Endpoint,
    k: usize,
    intr: &Interrupt,
) -> Result<WaitersRecord, ProbeError> {
    let listener = Listener::bind(
        endpoint,
        ListenOptions {
            backlog: 1024,
            reuseport: false,
            nonblocking: false,
        },
    )?;
    let mut crew = Crew::new()?;
    let mut blocked_in = Vec::with_capacity(k);
    for index in 0..k {
        crew.spawn(|report| blocking_waiter(&listener, report))?;
        blocked_in.extend(crew.await_asleep(&[index], intr)?);
    }
    let connections = 2 * k;
    let mut order = Vec::with_capacity(connections);
    let mut accepted = vec![0u64; k];
    let mut clients = Vec::with_capacity(connections);
    for n in 1..=connections {
        intr.check()?;
        clients.push(connect(&listener)?);
        let got = loop {
            match crew.next(ACCEPT_WITHIN, intr)? {
                Some(r) if r.what == "accepted" => break r.waiter,
                Some(r) if r.what == "error" => return Err(waiter_error(r.waiter, &r.detail)),
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
        ..blank_record(listener.family(), "blocking_accept", "accept", k)
    })
}

/// A waiter blocked in `accept()`: report each connection, block again.
fn blocking_waiter(listener: &Listener, report: &Reporter<'_>) -> i32 {
    report.send("ready");
    loop {
        match listener.accept() {
            Ok(_connection) => report.send("accepted"),
            Err(e) => {
                report.send(&format!("error accept: {e}"));
                return 1;
            }
        }
    }
}

/// How many of the per-waiter counts are not zero.
fn at_least_once(counts: &[u64]) -> u64 {
    counts.iter().filter(|n| **n > 0).count() as u64
}

fn connect(listener: &Listener) -> Result<std::os::fd::OwnedFd, ProbeError> {
    listener
        .connect()
        .map_err(|e| ProbeError::io(format!("connecting to {}", listener.endpoint()), e))
}

fn waiter_error(waiter: usize, detail: &str) -> ProbeError {
    ProbeError::Helper(format!("waiter {waiter}: {detail}"))
}
