//! Backlog overflow: `backlog + 3` non-blocking connects to a listener nobody accepts on,
//! per family, then one accept on each and a bounded wait for what follows.
//!
//! Non-blocking, because a blocking unix connect to a full backlog sleeps until there is
//! room (`unix_wait_for_peer`), and a TCP one retries its SYN for a long time. The listener
//! is edge-triggered in one epoll instance, polled after every connect. TCP's
//! `ListenOverflows`/`ListenDrops` are system-wide: the deltas cover only the connect
//! phase, and other traffic on the machine could add to them.
//!
//! The kernel tests "full" as `queue length > backlog` (`sk_acceptq_is_full()` for TCP,
//! `unix_recvq_full()` for unix), so the queue holds `backlog + 1`; the report shows what
//! this kernel does. A dropped TCP SYN is retransmitted after about a second (the initial
//! RTO), which is why the wait after the accept lasts [`WINDOW`].

use std::time::{Duration, Instant};

use listenlab_common::Endpoint;

use super::error::ProbeError;
use super::harness::client::{Attempt, connect_nonblocking, connect_state};
use super::harness::interrupt::Interrupt;
use super::harness::progress::Progress;
use super::harness::settle::queue_reaches;
use super::report::{ConnectState, ExtraConnect, Flags, OverflowRecord, TimedEvent};
use crate::netstat::ListenCounters;
use crate::poller::{Poller, Trigger};
use crate::queue::accept_queue;
use crate::socket::{Family, ListenOptions, Listener};

/// How long events are collected after the accept: long enough for a SYN retransmit.
pub const WINDOW: Duration = Duration::from_millis(1500);
/// How long a TCP handshake may take on loopback before it counts as stalled (normally it
/// completes, or its SYN is dropped, inside `connect()`).
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(1);
/// Connects beyond the backlog.
const EXTRA: u32 = 3;

/// One family's listener, its clients and what was seen so far.
struct Run {
    listener: Listener,
    _attempts: Vec<Attempt>,
    record: OverflowRecord,
}

/// Runs the overflow for every endpoint (one per family) and returns one record each.
pub fn run(
    endpoints: &[Endpoint],
    backlog: u32,
    progress: Progress,
    intr: &Interrupt,
) -> Result<Vec<OverflowRecord>, ProbeError> {
    let mut poller = Poller::new().map_err(|e| ProbeError::io("creating an epoll instance", e))?;
    let mut runs = Vec::with_capacity(endpoints.len());
    for (token, endpoint) in endpoints.iter().enumerate() {
        let family = Family::of(endpoint);
        progress.start(format_args!("overflow: {family} backlog {backlog}"), intr)?;
        runs.push(fill(endpoint, backlog, token as u64, &mut poller, intr)?);
    }
    for run in &mut runs {
        drop(
            run.listener
                .accept()
                .map_err(|e| ProbeError::io("accepting one", e))?,
        );
        run.record.queue_len_after_accept = queue_len(&run.listener)?;
    }
    progress.note(format_args!(
        "overflow: waiting {} ms for events after accept_one",
        WINDOW.as_millis()
    ));
    let start = Instant::now();
    loop {
        let left = WINDOW.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        intr.check()?;
        // Short slices, so that Ctrl-C is noticed within 20 ms.
        let ready = poller
            .wait(Some(left.min(Duration::from_millis(20))))
            .map_err(|e| ProbeError::io("epoll_wait", e))?;
        for event in ready {
            if let Some(run) = runs.get_mut(event.token as usize) {
                run.record.events_after_accept.push(TimedEvent {
                    at_ms: start.elapsed().as_millis() as u64,
                    flags: Flags(event.flags),
                });
            }
        }
    }
    runs.into_iter()
        .map(|mut run| {
            run.record.window_ms = WINDOW.as_millis() as u64;
            run.record.queue_len_after_window = queue_len(&run.listener)?;
            Ok(run.record)
        })
        .collect()
}

/// Binds one family's listener and makes `backlog + 3` connects, observing after each.
fn fill(
    endpoint: &Endpoint,
    backlog: u32,
    token: u64,
    poller: &mut Poller,
    intr: &Interrupt,
) -> Result<Run, ProbeError> {
    let listener = Listener::bind(
        endpoint,
        ListenOptions {
            backlog,
            reuseport: false,
            nonblocking: true,
        },
    )?;
    poller
        .add(&listener, Trigger::Edge.flags(), token)
        .map_err(|e| ProbeError::io("registering the listener", e))?;
    let tcp = listener.family() != Family::Unix;
    let counters =
        || ListenCounters::read().map_err(|e| ProbeError::io("reading /proc/net/netstat", e));
    let before = if tcp { Some(counters()?) } else { None };
    let mut attempts = Vec::new();
    let mut queue_after = Vec::new();
    let mut events_after = Vec::new();
    let mut queued = 0;
    for _ in 0..backlog + EXTRA {
        intr.check()?;
        let just_before = if tcp { Some(counters()?) } else { None };
        let attempt = connect_nonblocking(listener.endpoint())?;
        if let Some(just_before) = just_before {
            settle_handshake(&attempt, just_before, intr)?;
        }
        if connect_state(&attempt) == ConnectState::Established {
            // The listener queues the connection when it has the final ACK.
            queued = queue_reaches(&listener, queued + 1, HANDSHAKE_WITHIN, intr)?;
        } else {
            queued = queue_len(&listener)?;
        }
        queue_after.push(queued);
        let ready = poller
            .poll_now()
            .map_err(|e| ProbeError::io("epoll_wait", e))?;
        events_after.push(ready.iter().filter(|r| r.token == token).count() as u64);
        attempts.push(attempt);
    }
    let deltas = match before {
        Some(before) => Some(counters()?.since(before)),
        None => None,
    };
    let queue =
        accept_queue(&listener).map_err(|e| ProbeError::io("reading the accept queue", e))?;
    let extra_connects = attempts
        .iter()
        .enumerate()
        .skip(backlog as usize)
        .map(|(i, attempt)| ExtraConnect {
            index: i as u64 + 1,
            result: attempt.result,
            state: connect_state(attempt),
        })
        .collect();
    let record = OverflowRecord {
        family: listener.family(),
        address: listener.endpoint().to_string(),
        backlog,
        queue_len: queue.len,
        queue_max: queue.max,
        events: events_after.iter().sum(),
        queue_len_after_each: queue_after,
        events_after_each: events_after,
        extra_connects,
        listen_overflows_delta: deltas.map(|d| d.overflows),
        listen_drops_delta: deltas.map(|d| d.drops),
        queue_len_after_accept: 0,
        window_ms: 0,
        events_after_accept: Vec::new(),
        queue_len_after_window: 0,
        error: None,
    };
    Ok(Run {
        listener,
        _attempts: attempts,
        record,
    })
}

/// Waits, bounded, until a TCP connect has completed its handshake or the kernel has
/// counted a listen drop since `before` (its SYN or ACK was dropped: a full queue). On
/// loopback either happens inside `connect()` unless softirq work was deferred.
fn settle_handshake(
    attempt: &Attempt,
    before: ListenCounters,
    intr: &Interrupt,
) -> Result<(), ProbeError> {
    let deadline = Instant::now() + HANDSHAKE_WITHIN;
    loop {
        if connect_state(attempt) != ConnectState::Pending || Instant::now() >= deadline {
            return Ok(());
        }
        let now =
            ListenCounters::read().map_err(|e| ProbeError::io("reading /proc/net/netstat", e))?;
        if now.since(before).drops > 0 {
            return Ok(());
        }
        intr.pause(Duration::from_micros(200))?;
    }
}

fn queue_len(listener: &Listener) -> Result<u32, ProbeError> {
    accept_queue(listener)
        .map(|q| q.len)
        .map_err(|e| ProbeError::io("reading the accept queue", e))
}
