//! The dial tasks of the connect phase: `concurrency` tasks share the N connects, each
//! sending the request (`exchange.rs`) on its connection and then one [`DialOutcome`]
//! per connect to the collector, which waits for the answers. (One connect is `dial.rs`;
//! the whole run is `app.rs`.)
//!
//! The tasks take connect numbers from one atomic ticket counter rather than one task
//! being spawned per connect: a free task takes the next number at once, so a connect
//! stuck until its timeout delays no other, and there is no per-connect allocation. The
//! counter hands out work only; all statistics stay in the collector.
//!
//! With `--rate R`, connect `i` is scheduled at `start + i/R`. A task sleeps until that
//! time if it is early, and starts at once if it is late; either way the latency is counted
//! from the scheduled time, so when the listener stalls (and all tasks are busy) the
//! delay shows up in the latency instead of silently lowering the rate (coordinated
//! omission, as wrk2 corrects it). How late each started is sent along (`lag`), so the
//! report also gives each phase raw, from the actual start, and the lag itself. The
//! wait has no timer floor: see [`pace_until`].
//!
//! Every task watches the end of the run (`ending.rs`): it starts no connect at or after
//! it (with `--rate`, none scheduled at or after it), and gives up the connect (or
//! request) it has under way, counting it: what a task returns is the number it cut. In
//! a closed-loop run (`--duration` without `--rate`) a task first takes one of the
//! `--concurrency` slots, which the collector hands back once that connection is done,
//! so each slot reconnects as soon as its exchange ended.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::collect::DialOutcome;
use crate::dial::Dialer;
use crate::ending::EndSignal;
use crate::exchange::Exchange;

/// When connects start: as soon as a task is free, or on a fixed schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// The start of the connect phase.
    pub start: Instant,
    /// Connects per second, or `None` for as fast as possible.
    pub rate: Option<f64>,
}

/// The longest a `--rate` schedule may run, from the first scheduled connect to the last:
/// the ceiling every duration flag has.
pub const MAX_SCHEDULE: Duration = listenlab_common::duration::MAX_DURATION;

/// How long `count` connects at `rate` per second take to schedule (`(count - 1) / rate`
/// seconds), or `None` when that is longer than [`MAX_SCHEDULE`] or than a `Duration`
/// holds at all.
pub fn schedule_span(count: u64, rate: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(count.saturating_sub(1) as f64 / rate)
        .ok()
        .filter(|span| *span <= MAX_SCHEDULE)
}

impl Schedule {
    /// The scheduled start of connect `i`, or `None` without `--rate`.
    pub fn at(&self, i: u64) -> Option<Instant> {
        let rate = self.rate?;
        // `cli` rejects a rate whose schedule outlasts MAX_SCHEDULE (`schedule_span`); the
        // clamp only keeps an unchecked one from panicking. A monotonic instant plus a year
        // cannot overflow.
        let offset = Duration::try_from_secs_f64(i as f64 / rate)
            .map_or(MAX_SCHEDULE, |offset| offset.min(MAX_SCHEDULE));
        Some(self.start + offset)
    }
}

/// What every dial task shares.
#[derive(Debug)]
pub struct Plan {
    /// Opens the connections.
    pub dialer: Dialer,
    /// Source addresses, used round-robin by connect number; empty for the kernel's choice.
    pub sources: Vec<IpAddr>,
    /// Total connects (`u64::MAX` in a `--duration` run, which the end bounds).
    pub count: u64,
    /// When each connect starts.
    pub schedule: Schedule,
    /// What to send and read on each connection once connected.
    pub exchange: Exchange,
    /// The end of the run, which every task watches.
    pub end: EndSignal,
    /// Closed loop: a slot to take before each connect (the collector hands it back).
    pub slots: Option<Arc<Semaphore>>,
}

/// A dial task panicked (a bug, such as an overflowing time calculation). Its connects are
/// missing from the tally, so the run fails (exit 1) instead of reporting wrong counts.
#[derive(Debug, thiserror::Error)]
#[error(
    "a dial task panicked ({message}); its connects would be missing from the counts, so there is no report"
)]
pub struct DialTaskPanicked {
    message: String,
}

/// Waits for every task in `tasks` to end and returns how many connects the end of the
/// run cut. Tasks cancelled with `abort_all` are expected; the first one found to have
/// panicked is returned as an error. Cancel-safe: dropping the future leaves the
/// unfinished tasks in the set (and loses the count of those that ended).
pub async fn join_dialers(tasks: &mut JoinSet<u64>) -> Result<u64, DialTaskPanicked> {
    let mut cut = 0;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(n) => cut += n,
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                let payload = e.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_owned());
                return Err(DialTaskPanicked { message });
            }
        }
    }
    Ok(cut)
}

/// Spawns `concurrency` dial tasks into a `JoinSet` (aborting it cancels the connects in
/// flight). The collector's channel closes when the last task ends.
pub fn spawn_dialers(
    plan: Plan,
    concurrency: usize,
    outcomes: mpsc::Sender<DialOutcome>,
) -> JoinSet<u64> {
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        tasks.spawn(dial_loop(
            Arc::clone(&plan),
            Arc::clone(&next),
            outcomes.clone(),
        ));
    }
    tasks
}

/// How long before a scheduled start the pacer stops sleeping and spins (yielding to
/// other tasks). tokio's timer counts whole milliseconds and fires at the first tick
/// after the deadline, so `sleep_until` alone starts a connect up to 1 ms late and more,
/// and with `--rate` that lateness was counted into every latency (issue 7: a connect
/// p50 of 1.36 ms at `--rate 100` against 8 us unpaced). Sleeping until 2 ms before,
/// then spinning, leaves a timer that is a tick late still early.
const SPIN: Duration = Duration::from_millis(2);

/// Waits until `at`: sleeps coarsely, then finishes the last [`SPIN`] precisely.
async fn pace_until(at: Instant) {
    if let Some(coarse) = at.checked_sub(SPIN)
        && Instant::now() < coarse
    {
        tokio::time::sleep_until(coarse).await;
    }
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

/// One dial task: connects until the tickets run out or the run ends; returns the
/// connects it cut (0 or 1).
async fn dial_loop(
    plan: Arc<Plan>,
    next: Arc<AtomicU64>,
    outcomes: mpsc::Sender<DialOutcome>,
) -> u64 {
    let mut end = plan.end.clone();
    loop {
        if end.has_ended() {
            return 0;
        }
        if let Some(slots) = &plan.slots {
            tokio::select! {
                // `Err` only once the semaphore is closed, which nothing does.
                permit = slots.acquire() => match permit {
                    Ok(permit) => permit.forget(),
                    Err(_closed) => return 0,
                },
                () = end.ended() => return 0,
            }
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.count {
            return 0;
        }
        let (started, lag) = match plan.schedule.at(i) {
            Some(at) => {
                if end.at().is_some_and(|last| at >= last) {
                    return 0; // scheduled past the end of the run
                }
                tokio::select! {
                    () = pace_until(at) => {}
                    () = end.ended() => return 0,
                }
                (at, Instant::now().saturating_duration_since(at))
            }
            None => (Instant::now(), Duration::ZERO),
        };
        // The end may have come while this task waited for a slot (a slot the end of the
        // run freed) or paced: start nothing after it.
        if end.has_ended() {
            return 0;
        }
        let source = match plan.sources.len() {
            0 => None,
            n => Some(plan.sources[(i % n as u64) as usize]),
        };
        // The connect latency ends when the connect does, before the exchange.
        let connect_and_send = async {
            match plan.dialer.dial(source).await {
                Ok(fd) => {
                    let latency = started.elapsed();
                    (Ok(plan.exchange.send(fd).await), latency)
                }
                Err(err) => (Err(err), started.elapsed()),
            }
        };
        let (result, latency) = tokio::select! {
            // Polled first: a connect that completes at once (loopback) is never cut.
            biased;
            done = connect_and_send => done,
            () = end.ended() => return 1,
        };
        let outcome = DialOutcome {
            result,
            started,
            latency,
            lag,
        };
        if outcomes.send(outcome).await.is_err() {
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spaces_connects_evenly() {
        let start = Instant::now();
        let paced = Schedule {
            start,
            rate: Some(4.0),
        };
        assert_eq!(paced.at(0), Some(start));
        assert_eq!(paced.at(2), Some(start + Duration::from_millis(500)));
        assert_eq!(Schedule { start, rate: None }.at(7), None);
        let slow = Schedule {
            start,
            rate: Some(1e-20),
        };
        assert_eq!(slow.at(1), Some(start + MAX_SCHEDULE), "clamped, no panic");
    }

    #[test]
    fn schedule_span_fits_a_year_or_is_refused() {
        assert_eq!(schedule_span(11, 200.0), Some(Duration::from_millis(50)));
        assert_eq!(schedule_span(1, 1e-300), Some(Duration::ZERO));
        let a_year = MAX_SCHEDULE.as_secs_f64();
        assert_eq!(schedule_span(2, 1.0 / a_year), Some(MAX_SCHEDULE));
        assert_eq!(schedule_span(3, 1.0 / a_year), None);
        assert_eq!(schedule_span(2, 1e-20), None);
        assert_eq!(
            schedule_span(2, f64::MIN_POSITIVE),
            None,
            "infinite seconds"
        );
    }

    #[tokio::test]
    async fn every_connect_is_made_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listenlab_common::Endpoint::Inet(listener.local_addr().unwrap());
        let end = crate::ending::RunEnd::new(None);
        let plan = Plan {
            dialer: Dialer::new(&target, Duration::from_secs(5), false).unwrap(),
            sources: Vec::new(),
            count: 20,
            schedule: Schedule {
                start: Instant::now(),
                rate: None,
            },
            exchange: Exchange::default(),
            end: end.signal(),
            slots: None,
        };
        let (tx, mut rx) = mpsc::channel(64);
        let mut tasks = spawn_dialers(plan, 3, tx);
        assert_eq!(join_dialers(&mut tasks).await.unwrap(), 0);
        let mut connected = 0;
        while let Ok(outcome) = rx.try_recv() {
            connected += u32::from(outcome.result.is_ok());
        }
        assert_eq!(connected, 20);
    }

    #[tokio::test]
    async fn a_panicking_task_is_an_error_and_a_cancelled_one_is_not() {
        let mut tasks = JoinSet::new();
        tasks.spawn(std::future::pending::<u64>());
        tasks.abort_all();
        tasks.spawn(async { 1 });
        assert_eq!(join_dialers(&mut tasks).await.unwrap(), 1);
        tasks.spawn(async { panic!("overflow when adding duration to instant") });
        let err = join_dialers(&mut tasks).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("a dial task panicked (overflow when adding duration to instant)"),
            "{err}"
        );
    }
}
