//! `reuseport`: `k` SO_REUSEPORT listening sockets bound to one port, and how the kernel
//! spreads a few hundred connections over them (by a hash of the connection's addresses
//! and ports). The listeners live in this one process: the spread is per socket, and which
//! process holds a socket does not change it. Nobody accepts; each listener's accept-queue
//! length is its share. Unix sockets have no SO_REUSEPORT: the record carries the kernel's refusal.

use std::time::{Duration, Instant};

use super::{Case, Scenario, Spec};
use crate::probe::error::ProbeError;
use crate::probe::harness::interrupt::Interrupt;
use crate::probe::harness::waiter::{at_least_once, connect};
use crate::probe::report::{Mode, WaitersRecord};
use crate::queue::accept_queue;
use crate::socket::{ListenError, ListenOptions, Listener};

/// How long the queues may take to show every connection.
const SETTLE: Duration = Duration::from_secs(2);

/// Connections to spread over `k` listeners: a few hundred, at least 8 per listener.
fn connections_for(k: usize) -> usize {
    300.max(8 * k)
}

/// The `reuseport` scenario.
#[derive(Debug)]
pub struct Reuseport;

impl Spec for Reuseport {
    fn modes(&self) -> &'static [Mode] {
        &[Mode::Listeners]
    }

    /// Every client and every listener, kept open until the end.
    fn files_needed(&self, k: usize) -> u64 {
        (connections_for(k) + k) as u64
    }

    fn run(&self, case: Case<'_>, intr: &Interrupt) -> Result<WaitersRecord, ProbeError> {
        spread(case, intr)
    }

    fn details(&self, r: &WaitersRecord) -> String {
        format!("{} connections over {} listeners", r.connections, r.waiters)
    }

    fn verdict(&self, r: &WaitersRecord) -> String {
        let min = r.per_waiter.iter().min().copied().unwrap_or(0);
        let max = r.per_waiter.iter().max().copied().unwrap_or(0);
        format!(
            "{} connections spread {min}..{max} per listener",
            r.connections
        )
    }
}

/// The reuseport scenario with `k` listeners at `endpoint`.
fn spread(case: Case<'_>, intr: &Interrupt) -> Result<WaitersRecord, ProbeError> {
    let (endpoint, k) = (case.endpoint, case.k);
    let connections = connections_for(k);
    let mut record = case.record(Scenario::Reuseport);
    let opts = ListenOptions {
        backlog: connections as u32,
        reuseport: true,
        nonblocking: true,
    };
    let first = match Listener::bind(endpoint, opts) {
        Ok(listener) => listener,
        // The kernel's answer for unix sockets (EOPNOTSUPP) is the finding, not a failure.
        Err(ListenError::Io { source, .. }) => {
            let errno = source.raw_os_error().map(nix::errno::Errno::from_raw);
            record.error = Some(match errno {
                Some(errno) => format!("setsockopt(SO_REUSEPORT): {errno:?} ({})", errno.desc()),
                None => format!("setsockopt(SO_REUSEPORT): {source}"),
            });
            return Ok(record);
        }
        Err(e) => return Err(e.into()),
    };
    // The others bind the port the first one got.
    let mut listeners = vec![first];
    while listeners.len() < k {
        listeners.push(Listener::bind(listeners[0].endpoint(), opts)?);
    }
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        intr.check()?;
        clients.push(connect(&listeners[0])?);
    }
    let deadline = Instant::now() + SETTLE;
    let per_listener = loop {
        let lens = listeners
            .iter()
            .map(|l| accept_queue(l).map(|q| u64::from(q.len)))
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|e| ProbeError::io("reading an accept queue", e))?;
        if lens.iter().sum::<u64>() >= connections as u64 || Instant::now() >= deadline {
            break lens;
        }
        intr.pause(Duration::from_micros(200))?;
    };
    record.connections = connections as u64;
    record.woken = at_least_once(&per_listener);
    record.per_waiter = per_listener;
    Ok(record)
}
