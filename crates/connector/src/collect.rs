//! The one collector of the pipeline: dial tasks send a [`DialOutcome`] per connect (and
//! the exchange after it), and this task alone owns the latency histograms (connect,
//! first byte, complete), the error tallies, the byte counts, the progress bar and the
//! descriptors of the connections being held, (with `--read`) the set of connections
//! waiting for their answers (`responses.rs`), the current interval's figures and the run's
//! one interval timer (`intervals.rs`), and the `--hlog` and `--connections-log` writers.
//! No locks, no shared counters.
//!
//! In a closed-loop run (`--duration` without `--rate`) the collector also hands the
//! `--concurrency` slots back: a slot is free again once its connection's story ended
//! (failed connect, ended exchange, or a connection closed at once without `--read`).

use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use crate::connlog::{ConnLog, ConnLogError};
use crate::dial::DialError;
use crate::ending::EndSignal;
use crate::exchange::{Dialed, Exchanged};
use crate::hlog::{HlogError, HlogFile};
use crate::intervals::{IntervalError, IntervalRows, Intervals};
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
    /// Connections whose exchange the end of the run (`--duration`, SIGINT/SIGTERM) cut
    /// while their answer was awaited; they are in `connected`, in no failure kind and
    /// in no latency after the connect. (`app` adds the connects the dial tasks cut.)
    pub unfinished: u64,
    /// The run's intervals, in order (`--interval`), and the text table's rows.
    pub intervals: IntervalRows,
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

/// Builds the progress bar for `count` connects (`None`: a `--duration` run, shown as a
/// running count): drawn on stderr only when stderr is a terminal and `visible` (neither
/// `--quiet` nor `--format json`); hidden otherwise.
pub fn progress_bar(count: Option<u64>, visible: bool) -> ProgressBar {
    if !visible || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(count, ProgressDrawTarget::stderr_with_hz(10));
    let template = match count {
        Some(_) => "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} connects ({rate}) {msg}",
        None => "{spinner} [{elapsed_precise}] {pos} connects ({rate}) {msg}",
    };
    let style = ProgressStyle::with_template(template)
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

/// Why the collector stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Waiting on the set of connections awaiting answers failed.
    #[error("waiting for answers")]
    Wait(#[source] io::Error),
    /// An interval could not be passed on (stdout, `--hlog`).
    #[error(transparent)]
    Interval(#[from] IntervalError),
    /// The `--connections-log` file could not be written.
    #[error(transparent)]
    ConnLog(#[from] ConnLogError),
}

impl From<HlogError> for CollectError {
    fn from(e: HlogError) -> Self {
        Self::Interval(e.into())
    }
}

/// What the collector works with besides the outcomes.
#[derive(Debug)]
pub struct Setup {
    /// The progress bar (hidden unless wanted).
    pub bar: ProgressBar,
    /// Held descriptors to make room for up front (`--count`), so the vector never
    /// reallocates while dialing.
    pub capacity: usize,
    /// With `--read`, the set the connections wait in for their answers.
    pub responses: Option<Responses>,
    /// The end of the run: the collector then stops waiting for answers (their
    /// connections are counted `unfinished`).
    pub end: EndSignal,
    /// Hold the connections (a `--count` run) or close each once its exchange is over
    /// (a `--duration` run).
    pub hold: bool,
    /// Closed loop: the slots to hand back as connections end.
    pub slots: Option<Arc<Semaphore>>,
    /// The interval figures.
    pub intervals: Intervals,
    /// `--hlog`, opened.
    pub hlog: Option<HlogFile>,
    /// `--connections-log`, opened.
    pub connlog: Option<ConnLog>,
}

/// The collector's state while it runs.
struct Collector {
    tally: Tally,
    intervals: Intervals,
    connlog: Option<ConnLog>,
    slots: Option<Arc<Semaphore>>,
    hold: bool,
    /// `--read`: connections wait for answers (once the run ended, no longer).
    reads: bool,
}

/// Receives outcomes until every sender is gone and no answer is still awaited; closes an
/// interval on every tick meanwhile, and the last one at the end. The end of the run
/// (`setup.end`) abandons the answers still awaited. Fails when waiting on the set of
/// answers fails or an output cannot be written.
pub async fn collect(
    mut outcomes: mpsc::Receiver<DialOutcome>,
    setup: Setup,
) -> Result<Tally, CollectError> {
    let Setup {
        bar,
        capacity,
        mut responses,
        mut end,
        hold,
        slots,
        intervals,
        hlog: mut hlog_file,
        connlog,
    } = setup;
    let mut ticker = intervals.ticker();
    let _close_slots = CloseSlots(slots.clone());
    let mut c = Collector {
        tally: Tally {
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
            unfinished: 0,
            intervals: IntervalRows::default(),
        },
        intervals,
        connlog,
        slots,
        hold,
        reads: responses.is_some(),
    };
    let mut hlog = match hlog_file.as_mut() {
        Some(file) => Some(file.begin(c.intervals.clock())?),
        None => None,
    };
    let mut batch = Vec::with_capacity(256);
    let (mut done, mut cut) = (Vec::new(), Vec::new());
    let (mut open, mut ended) = (true, false);
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
                    c.add_outcome(outcome, responses.as_mut())?;
                }
                c.tally.last_outcome = Some(Instant::now());
                bar.set_position(c.tally.attempted());
            }
            stepped = step(responses.as_mut(), &mut done), if waiting > 0 => {
                stepped.map_err(CollectError::Wait)?;
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                if let Some(r) = responses.as_mut() {
                    r.expire(Instant::now(), &mut done);
                }
            }
            () = end.ended(), if !ended => {
                ended = true;
                // Outcomes still in the channel come from connects that finished before
                // the end; their exchanges are not waited for either.
                if let Some(mut r) = responses.take() {
                    r.abandon(&mut cut);
                }
            }
            _ = ticker.tick() => {
                let open_now = c.open(responses.as_ref());
                c.intervals.close(Instant::now(), open_now, hlog.as_mut())?;
            }
        }
        for ex in done.drain(..) {
            c.add_exchange(ex)?;
        }
        for ex in cut.drain(..) {
            c.cut(ex)?;
        }
    }
    bar.finish_and_clear();
    let Collector {
        mut tally,
        intervals,
        connlog,
        ..
    } = c;
    tally.intervals = intervals.finish(Instant::now(), tally.held.len() as u64, hlog.as_mut())?;
    drop(hlog);
    if let Some(file) = hlog_file {
        file.finish()?;
    }
    if let Some(log) = connlog {
        log.finish()?;
    }
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

/// Closes the closed loop's slots when the collector ends. It ends normally once every
/// dial task has (the channel closed), but it can also stop on an error (a broken stdout
/// pipe); the tasks of a closed loop, which wait for a slot only the collector hands
/// back, then end at once instead of at the end of `--duration`.
struct CloseSlots(Option<Arc<Semaphore>>);

impl Drop for CloseSlots {
    fn drop(&mut self) {
        if let Some(slots) = &self.0 {
            slots.close();
        }
    }
}

impl Collector {
    /// Connections open now: held, or waiting for their answers.
    fn open(&self, responses: Option<&Responses>) -> u64 {
        (self.tally.held.len() + responses.map_or(0, Responses::len)) as u64
    }

    /// Hands a closed-loop slot back: its connection is done.
    fn release(&self) {
        if let Some(slots) = &self.slots {
            slots.add_permits(1);
        }
    }

    fn add_outcome(
        &mut self,
        outcome: DialOutcome,
        responses: Option<&mut Responses>,
    ) -> Result<(), CollectError> {
        let t = &mut self.tally;
        match outcome.result {
            Ok(sent) => {
                t.connect.record(outcome.latency, outcome.lag);
                latency::record(&mut t.lag, outcome.lag);
                t.connected += 1;
                self.intervals.connected(outcome.latency);
                let dialed = Dialed {
                    started: outcome.started,
                    connect: outcome.latency,
                    lag: outcome.lag,
                };
                let ex = match (sent, responses) {
                    (Err(failure), _) => Exchanged::failed(failure, dialed),
                    (Ok(fd), Some(r)) => match r.add(fd, dialed) {
                        Ok(()) => return Ok(()),
                        Err(ex) => ex,
                    },
                    // The run ended: its answer is no longer waited for.
                    (Ok(fd), None) if self.reads => return self.cut(Exchanged::held(fd, dialed)),
                    (Ok(fd), None) => Exchanged::held(fd, dialed),
                };
                self.add_exchange(ex)
            }
            Err(err) => {
                t.errors.add(err.kind);
                if err.kind == ErrorKind::Other {
                    *t.other_errnos.entry(err.errno).or_default() += 1;
                }
                self.intervals.failed(err.kind);
                if let Some(log) = self.connlog.as_mut() {
                    log.failed(outcome.started, outcome.lag, err.kind)?;
                }
                self.release();
                Ok(())
            }
        }
    }

    /// A connection whose exchange ended (or that had none).
    fn add_exchange(&mut self, ex: Exchanged) -> Result<(), CollectError> {
        let t = &mut self.tally;
        if let Some(time) = ex.first_byte {
            t.first_byte.record(time, ex.dialed.lag);
        }
        if let Some(time) = ex.complete {
            t.complete.record(time, ex.dialed.lag);
        }
        if let Some(failure) = ex.failure {
            t.exchange_errors.add(failure);
        }
        t.response_bytes += ex.bytes;
        t.response_bytes_max = t.response_bytes_max.max(ex.bytes);
        self.intervals.exchanged(&ex);
        if let Some(log) = self.connlog.as_mut() {
            log.exchanged(&ex, false)?;
        }
        // Without holding (a --duration run) the connection closes here.
        if let Some(fd) = ex.keep
            && self.hold
        {
            self.tally.held.push(fd);
        }
        self.release();
        Ok(())
    }

    /// A connection whose exchange the end of the run cut; it is closed.
    fn cut(&mut self, ex: Exchanged) -> Result<(), CollectError> {
        self.tally.unfinished += 1;
        if let Some(log) = self.connlog.as_mut() {
            log.exchanged(&ex, true)?;
        }
        self.release();
        Ok(())
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
        let end = crate::ending::RunEnd::new(None);
        let clock = crate::clock::RunClock::now();
        let measured = crate::intervals::Measured {
            first_byte: false,
            complete: false,
        };
        let setup = Setup {
            bar: ProgressBar::hidden(),
            capacity: 4,
            responses: None,
            end: end.signal(),
            hold: true,
            slots: None,
            intervals: Intervals::new(clock, Duration::from_secs(60), measured, false),
            hlog: None,
            connlog: None,
        };
        let collector = tokio::spawn(collect(rx, setup));
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
        let [interval] = &tally.intervals.each[..] else {
            panic!("one interval: {:?}", tally.intervals)
        };
        assert_eq!((interval.attempted, interval.connected), (5, 1));
        assert_eq!(interval.errors.values().sum::<u64>(), 4);
    }
}
