//! The one collector of the pipeline: dial tasks send a [`DialOutcome`] per connect (and
//! the exchange after it), and this task alone owns the latency histograms (connect,
//! first byte, complete), the error tallies, the byte counts, the progress bar and the
//! descriptors of the connections being held. No locks, no shared counters.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::os::fd::OwnedFd;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::dial::DialError;
use crate::exchange::Exchanged;
use crate::latency::{self, new_histogram};
use crate::report::{ConnectErrors, ErrorKind, ExchangeErrors};

/// What one connect came to.
#[derive(Debug)]
pub struct DialOutcome {
    /// What the exchange on the connected socket came to, or why the connect failed.
    pub result: Result<Exchanged, DialError>,
    /// From the connect's start (or scheduled start, with `--rate`) to its end.
    pub latency: Duration,
}

/// Everything the collector learned, once every dial task is done.
#[derive(Debug)]
pub struct Tally {
    /// Connect latencies of the successful connects, in microseconds.
    pub histogram: Histogram<u64>,
    /// Times to the first byte read, in microseconds.
    pub first_byte: Histogram<u64>,
    /// Times to the peer's close after its answer, in microseconds.
    pub complete: Histogram<u64>,
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

impl Tally {
    /// Connects that finished, either way.
    pub fn attempted(&self) -> u64 {
        self.connected + self.errors.total()
    }
}

impl Tally {
    fn add_exchange(&mut self, ex: Exchanged) {
        if let Some(t) = ex.first_byte {
            latency::record(&mut self.first_byte, t);
        }
        if let Some(t) = ex.complete {
            latency::record(&mut self.complete, t);
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

/// Receives outcomes until every sender is gone. `capacity` sizes the vector of held
/// descriptors up front, so it never reallocates while dialing.
pub async fn collect(
    mut outcomes: mpsc::Receiver<DialOutcome>,
    bar: ProgressBar,
    capacity: usize,
) -> Tally {
    let mut tally = Tally {
        histogram: new_histogram(),
        first_byte: new_histogram(),
        complete: new_histogram(),
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
    while outcomes.recv_many(&mut batch, 256).await > 0 {
        for outcome in batch.drain(..) {
            match outcome.result {
                Ok(exchanged) => {
                    latency::record(&mut tally.histogram, outcome.latency);
                    tally.connected += 1;
                    tally.add_exchange(exchanged);
                }
                Err(err) => {
                    tally.errors.add(err.kind);
                    if err.kind == ErrorKind::Other {
                        *tally.other_errnos.entry(err.errno).or_default() += 1;
                    }
                }
            }
        }
        tally.last_outcome = Some(Instant::now());
        bar.set_position(tally.attempted());
    }
    bar.finish_and_clear();
    tally
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
        let collector = tokio::spawn(collect(rx, ProgressBar::hidden(), 4));
        let fd = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        let outcomes = [
            (Ok(Exchanged::held(fd)), 30),
            (Err(failed(libc::ECONNREFUSED)), 0),
            (Err(failed(libc::ETIMEDOUT)), 0),
            (Err(failed(libc::EPROTOTYPE)), 0),
            (Err(failed(libc::EPROTOTYPE)), 0),
        ];
        for (result, us) in outcomes {
            let latency = Duration::from_micros(us);
            tx.send(DialOutcome { result, latency }).await.unwrap();
        }
        drop(tx);
        let tally = collector.await.unwrap();
        assert_eq!(tally.attempted(), 5);
        assert_eq!(tally.errors.get(ErrorKind::Other), 2);
        assert_eq!(
            tally.other_errnos,
            BTreeMap::from([(Some(libc::EPROTOTYPE), 2)])
        );
        assert_eq!((tally.held.len(), tally.connected), (1, 1));
        assert_eq!(tally.errors.get(ErrorKind::Refused), 1);
        assert_eq!(tally.errors.get(ErrorKind::Timeout), 1);
        assert_eq!(tally.histogram.len(), 1);
        assert_eq!(tally.histogram.max(), 30);
        assert!(tally.last_outcome.is_some());
    }
}
