//! The one collector of the pipeline: dial tasks send a [`DialOutcome`] per connect (and
//! the exchange after it), and this task alone owns the latency histograms (connect,
//! first byte, complete), the error tallies, the byte counts, the progress bar and the
//! descriptors of the connections being held, and (with `--read`) the set of connections
//! waiting for their answers (`responses.rs`). No locks, no shared counters.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::os::fd::OwnedFd;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::dial::DialError;
use crate::exchange::Exchanged;
use crate::latency::{self, new_histogram};
use crate::report::{ConnectErrors, ErrorKind, ExchangeErrors, ExchangeFailure};
use crate::responses::Responses;

/// What one connect came to.
#[derive(Debug)]
pub struct DialOutcome {
    /// The connected socket with the request sent (`Ok(Ok)`), a connected socket whose
    /// request could not be sent (`Ok(Err)`, the socket is closed), or why the connect
    /// failed.
    pub result: Result<Result<OwnedFd, ExchangeFailure>, DialError>,
    /// The connect's start (its scheduled start, with `--rate`): the answer's phases
    /// count from it.
    pub started: Instant,
    /// From `started` to the end of the connect.
    pub latency: Duration,
    /// How late the connect started after `started` (zero without `--rate`).
    pub lag: Duration,
}

/// Everything the collector learned, once every dial task is done.
#[derive(Debug)]
pub struct Tally {
    /// Connect latencies of the successful connects.
    pub connect: Phase,
    /// Times to the first byte read.
    pub first_byte: Phase,
    /// Times to the peer's close after its answer.
    pub complete: Phase,
    /// How late connects started after their scheduled start (`--rate`), in microseconds.
    pub lag: Histogram<u64>,
    /// Connects that succeeded (whatever their exchange came to).
    pub connected: u64,
    /// Failed connects by kind.
    pub errors: ConnectErrors,
    /// Failed exchanges by kind.
    pub exchange_errors: ExchangeErrors,
    /// Bytes read, over all connections.
    pub response_bytes: u64,
    /// The most bytes read from one connection.
    pub response_bytes_max: u64,
    /// The `other` failures by errno (`None`: no errno).
    pub other_errnos: BTreeMap<Option<i32>, u64>,
    /// The open connections, held until they are dropped.
    pub held: Vec<OwnedFd>,
    /// When the last outcome arrived (`None` when none did).
    pub last_outcome: Option<Instant>,
}

/// One phase's times, in microseconds: counted from the scheduled start (`corrected`, the
/// report's `<phase>_us`) and from the actual start (`raw`, `<phase>_raw_us`). Without
/// `--rate` the two are the same.
#[derive(Debug)]
pub struct Phase {
    /// From the scheduled start (the actual one without `--rate`).
    pub corrected: Histogram<u64>,
    /// From the actual start.
    pub raw: Histogram<u64>,
}

impl Phase {
    fn new() -> Self {
        Self {
            corrected: new_histogram(),
            raw: new_histogram(),
        }
    }

    /// Records a time `t` counted from the scheduled start of a connect that started
    /// `lag` late.
    fn record(&mut self, t: Duration, lag: Duration) {
        latency::record(&mut self.corrected, t);
        latency::record(&mut self.raw, t.saturating_sub(lag));
    }
}

impl Tally {
    /// Connects that finished, either way.
    pub fn attempted(&self) -> u64 {
        self.connected + self.errors.total()
    }
}

impl Tally {
    fn add_exchange(&mut self, ex: Exchanged) {
        if let Some(t) = ex.first_byte {
            self.first_byte.record(t, ex.lag);
        }
        if let Some(t) = ex.complete {
            self.complete.record(t, ex.lag);
        }
        if let Some(failure) = ex.failure {
            self.exchange_errors.add(failure);
        }
        self.response_bytes += ex.bytes;
        self.response_bytes_max = self.response_bytes_max.max(ex.bytes);
        if let Some(fd) = ex.keep {
            self.held.push(fd);
        }
    }
}

/// Builds the progress bar for `count` connects: drawn on stderr only when stderr is a
/// terminal and `visible` (neither `--quiet` nor `--format json`); hidden otherwise.
pub fn progress_bar(count: u64, visible: bool) -> ProgressBar {
    if !visible || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(count), ProgressDrawTarget::stderr_with_hz(10));
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} connects ({rate}) {msg}",
    )
    .expect("the progress template is valid")
    // indicatif's own {per_sec} prints four decimals; whole connects per second suffice.
    .with_key(
        "rate",
        |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", state.per_sec());
        },
    );
    bar.set_style(style);
    bar
}

/// Receives outcomes until every sender is gone and no answer is still awaited.
/// `capacity` sizes the vector of held descriptors up front, so it never reallocates
/// while dialing. With `--read`, `responses` is the set the connections wait in for their
/// answers; `stop` firing (SIGINT/SIGTERM) abandons those still waiting. Fails only when
/// waiting on that set fails.
pub async fn collect(
    mut outcomes: mpsc::Receiver<DialOutcome>,
    bar: ProgressBar,
    capacity: usize,
    mut responses: Option<Responses>,
    mut stop: oneshot::Receiver<()>,
) -> io::Result<Tally> {
    let mut tally = Tally {
        connect: Phase::new(),
        first_byte: Phase::new(),
        complete: Phase::new(),
        lag: new_histogram(),
        connected: 0,
        errors: ConnectErrors::default(),
        exchange_errors: ExchangeErrors::default(),
        response_bytes: 0,
        response_bytes_max: 0,
        other_errnos: BTreeMap::new(),
        held: Vec::with_capacity(capacity),
        last_outcome: None,
    };
    let mut batch = Vec::with_capacity(256);
    let mut ended = Vec::new();
    let (mut open, mut stop_seen) = (true, false);
    loop {
        let waiting = responses.as_ref().map_or(0, Responses::len);
        if !open && waiting == 0 {
            break;
        }
        let deadline = responses.as_mut().and_then(Responses::next_deadline);
        tokio::select! {
            n = outcomes.recv_many(&mut batch, 256), if open => {
                if n == 0 {
                    open = false;
                    continue;
                }
                for outcome in batch.drain(..) {
                    tally.add_outcome(outcome, responses.as_mut());
                }
                tally.last_outcome = Some(Instant::now());
                bar.set_position(tally.attempted());
            }
            stepped = step(responses.as_mut(), &mut ended), if waiting > 0 => stepped?,
            () = sleep_until(deadline), if deadline.is_some() => {
                if let Some(r) = responses.as_mut() {
                    r.expire(Instant::now(), &mut ended);
                }
            }
            asked = &mut stop, if !stop_seen => {
                stop_seen = true;
                // `Err`: the run ended normally and dropped the sender. Outcomes still in
                // the channel after a stop are held as dialed (and closed at the end).
                if asked.is_ok() && let Some(mut r) = responses.take() {
                    r.abandon();
                }
            }
        }
        for ex in ended.drain(..) {
            tally.add_exchange(ex);
        }
    }
    bar.finish_and_clear();
    Ok(tally)
}

/// One step of the wait for answers; never ready without a set.
async fn step(responses: Option<&mut Responses>, ended: &mut Vec<Exchanged>) -> io::Result<()> {
    match responses {
        Some(r) => r.step(ended).await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline`; never ready without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Tally {
    fn add_outcome(&mut self, outcome: DialOutcome, responses: Option<&mut Responses>) {
        match outcome.result {
            Ok(sent) => {
                self.connect.record(outcome.latency, outcome.lag);
                latency::record(&mut self.lag, outcome.lag);
                self.connected += 1;
                let ex = match (sent, responses) {
                    (Err(failure), _) => Exchanged::failed(failure),
                    (Ok(fd), None) => Exchanged::held(fd),
                    (Ok(fd), Some(r)) => match r.add(fd, outcome.started, outcome.lag) {
                        Ok(()) => return,
                        Err(ex) => ex,
                    },
                };
                self.add_exchange(ex);
            }
            Err(err) => {
                self.errors.add(err.kind);
                if err.kind == ErrorKind::Other {
                    *self.other_errnos.entry(err.errno).or_default() += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(errno: i32) -> DialError {
        DialError::classify(&std::io::Error::from_raw_os_error(errno))
    }

    #[tokio::test]
    async fn tallies_successes_and_failures() {
        let (tx, rx) = mpsc::channel(8);
        let (_stop, stop) = oneshot::channel();
        let collector = tokio::spawn(collect(rx, ProgressBar::hidden(), 4, None, stop));
        let fd = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        let outcomes = [
            (Ok(Ok(fd)), 30),
            (Err(failed(libc::ECONNREFUSED)), 0),
            (Err(failed(libc::ETIMEDOUT)), 0),
            (Err(failed(libc::EPROTOTYPE)), 0),
            (Err(failed(libc::EPROTOTYPE)), 0),
        ];
        for (result, us) in outcomes {
            let latency = Duration::from_micros(us);
            let started = Instant::now();
            let outcome = DialOutcome {
                result,
                started,
                latency,
                lag: Duration::ZERO,
            };
            tx.send(outcome).await.unwrap();
        }
        drop(tx);
        let tally = collector.await.unwrap().unwrap();
        assert_eq!(tally.attempted(), 5);
        assert_eq!(tally.errors.get(ErrorKind::Other), 2);
        assert_eq!(
            tally.other_errnos,
            BTreeMap::from([(Some(libc::EPROTOTYPE), 2)])
        );
        assert_eq!((tally.held.len(), tally.connected), (1, 1));
        assert_eq!(tally.errors.get(ErrorKind::Refused), 1);
        assert_eq!(tally.errors.get(ErrorKind::Timeout), 1);
        assert_eq!(tally.connect.corrected.len(), 1);
        assert_eq!(tally.connect.corrected.max(), 30);
        assert!(tally.last_outcome.is_some());
    }
}
