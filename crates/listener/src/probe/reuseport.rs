//! SO_REUSEPORT: `k` listening sockets bound to one port, and how the kernel spreads a few
//! hundred connections over them (by a hash of the connection's addresses and ports). The
//! listeners live in this one process: the spread is per socket, and which process holds
//! a socket does not change it. Nobody accepts; each listener's accept-queue length is its
//! share. Unix sockets have no SO_REUSEPORT: the record carries the kernel's refusal.

use std::time::{Duration, Instant};

use listenlab_common::Endpoint;
use listenlab_common::report::probe::WaitersRecord;

use super::error::ProbeError;
use super::interrupt::Interrupt;
use super::waiters::blank_record;
use crate::queue::accept_queue;
use crate::socket::{ListenError, ListenOptions, Listener};

/// How long the queues may take to show every connection.
const SETTLE: Duration = Duration::from_secs(2);

/// Connections to spread over `k` listeners: a few hundred, at least 8 per listener.
pub fn connections_for(k: usize) -> usize {
    300.max(8 * k)
}

/// The reuseport scenario with `k` listeners at `endpoint`.
pub fn spread(
    endpoint: &Endpoint,
    k: usize,
    intr: &Interrupt,
) -> Result<WaitersRecord, ProbeError> {
    let connections = connections_for(k);
    let mut record = blank_record(
        crate::socket::Family::of(endpoint),
        "reuseport",
        "listeners",
        k,
    );
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
        clients.push(listeners[0].connect().map_err(|e| {
            ProbeError::io(format!("connecting to {}", listeners[0].endpoint()), e)
        })?);
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
    record.woken = per_listener.iter().filter(|n| **n > 0).count() as u64;
    record.per_waiter = per_listener;
    Ok(record)
}
