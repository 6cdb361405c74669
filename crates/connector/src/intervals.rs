//! The live figures of a run (`--interval D`), kept by the collector alone: the counts and
//! phase histograms of the current interval, closed on each tick of one timer for the
//! whole run into an [`IntervalSummary`], which is printed at once as a JSON line (with
//! `--format json`), written to the `--hlog` file, and kept for the `--plot` picture and
//! the text table (whose rows a long run rolls up, `rollup.rs`).
//!
//! An interval counts what completed in it: a connect when it finishes, an exchange (its
//! first byte and its close) when it ends. The last interval of a run ends with the
//! collector and is usually shorter; it is closed when it counted anything (or when it is
//! the only one), so the intervals of a run always add up to its report.

use std::io::{self, Write};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::clock::{RunClock, round_ms};
use crate::exchange::Exchanged;
use crate::hlog::{Hlog, HlogError, PhaseTag};
use crate::interval::{IntervalEvent, IntervalSummary};
use crate::latency::{self, new_histogram};
use crate::report::{ConnectErrors, ErrorKind, ExchangeErrors, Kind};
use crate::rollup::{PhaseHistograms, RolledUp, Rollup};

/// A failure passing an interval on.
#[derive(Debug, thiserror::Error)]
pub enum IntervalError {
    /// Printing the JSON line failed (a broken pipe among others).
    #[error("writing an interval line to stdout")]
    Stdout(#[source] io::Error),
    /// Writing the `--hlog` file failed.
    #[error(transparent)]
    Hlog(#[from] HlogError),
}

/// Which phases a run measures, beyond the connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// `--read`: the first byte.
    pub first_byte: bool,
    /// `--read close`: the close.
    pub complete: bool,
}

/// The current interval and the closed ones.
#[derive(Debug)]
pub struct Intervals {
    clock: RunClock,
    every: Duration,
    /// Where the current interval started.
    from: Instant,
    connect: Histogram<u64>,
    first_byte: Option<Histogram<u64>>,
    complete: Option<Histogram<u64>>,
    connected: u64,
    errors: ConnectErrors,
    exchanges: u64,
    exchange_errors: ExchangeErrors,
    /// Print each closed interval on stdout (`--format json`).
    print: bool,
    rows: Vec<IntervalSummary>,
    /// The text table's rows (not with `--format json`, which prints no table).
    rollup: Option<Rollup>,
}

/// What a run's intervals came to.
#[derive(Debug, Default)]
pub struct IntervalRows {
    /// Every interval, in order.
    pub each: Vec<IntervalSummary>,
    /// `--interval`.
    pub every: Duration,
    /// The text table's rows when the run had too many intervals to show each (`None`
    /// with `--format json`, or when the table shows every interval).
    pub rolled_up: Option<RolledUp>,
}

impl Intervals {
    /// Intervals of `every` from the run's start, for the phases `measured`; `print`
    /// writes each one to stdout as it closes (and leaves out the text table's rows).
    pub fn new(clock: RunClock, every: Duration, measured: Measured, print: bool) -> Self {
        Self {
            clock,
            every,
            from: clock.start,
            connect: new_histogram(),
            first_byte: measured.first_byte.then(new_histogram),
            complete: measured.complete.then(new_histogram),
            connected: 0,
            errors: ConnectErrors::default(),
            exchanges: 0,
            exchange_errors: ExchangeErrors::default(),
            print,
            rows: Vec::new(),
            rollup: (!print).then(|| Rollup::new(every)),
        }
    }

    /// The run's clock.
    pub fn clock(&self) -> RunClock {
        self.clock
    }

    /// The run's one interval timer: ticks at every multiple of the interval after the
    /// start; a tick missed while the collector was busy is skipped, not made up.
    pub fn ticker(&self) -> Interval {
        let mut ticker = tokio::time::interval_at(self.clock.start + self.every, self.every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        ticker
    }

    /// A connect that succeeded after `latency` (from its scheduled start).
    pub fn connected(&mut self, latency: Duration) {
        self.connected += 1;
        latency::record(&mut self.connect, latency);
    }

    /// A connect that failed.
    pub fn failed(&mut self, kind: ErrorKind) {
        self.errors.add(kind);
    }

    /// An exchange that ended.
    pub fn exchanged(&mut self, ex: &Exchanged) {
        self.exchanges += 1;
        if let (Some(hist), Some(t)) = (self.first_byte.as_mut(), ex.first_byte) {
            latency::record(hist, t);
        }
        if let (Some(hist), Some(t)) = (self.complete.as_mut(), ex.complete) {
            latency::record(hist, t);
        }
        if let Some(failure) = ex.failure {
            self.exchange_errors.add(failure);
        }
    }

    /// Closes the current interval at `now`, with `open` connections open.
    pub fn close(
        &mut self,
        now: Instant,
        open: u64,
        hlog: Option<&mut Hlog<'_>>,
    ) -> Result<(), IntervalError> {
        let failed = self.errors.total();
        let phases = PhaseHistograms {
            connect: &self.connect,
            first_byte: self.first_byte.as_ref(),
            complete: self.complete.as_ref(),
        };
        let (connect_latency_us, first_byte_latency_us, complete_latency_us) = phases.latencies();
        let row = IntervalSummary {
            event: IntervalEvent::Interval,
            t_ms: self.clock.since_start_ms(now),
            ts: self.clock.unix_ms(now),
            interval_ms: round_ms(now.saturating_duration_since(self.from)),
            attempted: self.connected + failed,
            connected: self.connected,
            failed,
            errors: nonzero(&self.errors),
            exchange_failed: self.exchange_errors.total(),
            exchange_errors: nonzero(&self.exchange_errors),
            open,
            connect_latency_us,
            first_byte_latency_us,
            complete_latency_us,
        };
        if self.print {
            print_line(&row).map_err(IntervalError::Stdout)?;
        }
        let start = self.from.saturating_duration_since(self.clock.start);
        if let Some(rollup) = self.rollup.as_mut() {
            rollup.add(start, &row, phases);
        }
        if let Some(log) = hlog {
            let length = now.saturating_duration_since(self.from);
            let phases = [
                (PhaseTag::Connect, Some(&self.connect)),
                (PhaseTag::FirstByte, self.first_byte.as_ref()),
                (PhaseTag::Complete, self.complete.as_ref()),
            ];
            for (tag, hist) in phases {
                if let Some(hist) = hist {
                    log.write(tag, hist, start, length)?;
                }
            }
        }
        self.rows.push(row);
        self.reset(now);
        Ok(())
    }

    /// Closes the last interval at `now` if it counted anything or is the run's only
    /// one, and returns every row (and the text table's, rolled up).
    pub fn finish(
        mut self,
        now: Instant,
        open: u64,
        hlog: Option<&mut Hlog<'_>>,
    ) -> Result<IntervalRows, IntervalError> {
        let counted = self.connected + self.errors.total() + self.exchanges > 0;
        if counted || self.rows.is_empty() {
            self.close(now, open, hlog)?;
        }
        Ok(IntervalRows {
            each: self.rows,
            every: self.every,
            rolled_up: self.rollup.and_then(Rollup::finish),
        })
    }

    fn reset(&mut self, now: Instant) {
        self.from = now;
        self.connect.reset();
        for hist in [self.first_byte.as_mut(), self.complete.as_mut()]
            .into_iter()
            .flatten()
        {
            hist.reset();
        }
        self.connected = 0;
        self.errors = ConnectErrors::default();
        self.exchanges = 0;
        self.exchange_errors = ExchangeErrors::default();
    }
}

/// The kinds with a count above zero.
fn nonzero<K: Kind + Ord>(counts: &crate::report::Counts<K>) -> std::collections::BTreeMap<K, u64> {
    counts.iter().filter(|&(_, n)| n > 0).collect()
}

/// Prints one interval line on stdout and flushes it, so a reader sees it at once.
fn print_line(row: &IntervalSummary) -> io::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, row)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Dialed;
    use crate::report::ExchangeFailure;

    #[test]
    fn counts_per_interval_and_starts_afresh() {
        let clock = RunClock::now();
        let measured = Measured {
            first_byte: true,
            complete: false,
        };
        let mut iv = Intervals::new(clock, Duration::from_secs(1), measured, false);
        iv.connected(Duration::from_micros(20));
        iv.failed(ErrorKind::Refused);
        let mut ex = Exchanged::failed(ExchangeFailure::ReadTimeout, Dialed::at(clock.start));
        ex.first_byte = Some(Duration::from_millis(3));
        iv.exchanged(&ex);
        iv.close(clock.start + Duration::from_secs(1), 1, None)
            .unwrap();
        let rows = iv
            .finish(clock.start + Duration::from_millis(1500), 0, None)
            .unwrap()
            .each;
        assert_eq!(rows.len(), 1, "an empty last interval is not closed");
        let row = &rows[0];
        assert_eq!((row.t_ms, row.interval_ms), (1000.0, 1000.0));
        assert_eq!(
            (row.attempted, row.connected, row.failed, row.open),
            (2, 1, 1, 1)
        );
        assert_eq!(row.errors, [(ErrorKind::Refused, 1)].into());
        assert_eq!(
            row.exchange_errors,
            [(ExchangeFailure::ReadTimeout, 1)].into()
        );
        assert_eq!(row.first_byte_latency_us.unwrap().count, 1);
        assert_eq!(row.complete_latency_us, None);
    }

    #[test]
    fn a_run_shorter_than_one_interval_still_has_one() {
        let clock = RunClock::now();
        let measured = Measured {
            first_byte: false,
            complete: false,
        };
        let iv = Intervals::new(clock, Duration::from_secs(1), measured, false);
        let rows = iv
            .finish(clock.start + Duration::from_millis(3), 0, None)
            .unwrap()
            .each;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].interval_ms, 3.0);
        assert_eq!(rows[0].connect_latency_us.p50, None);
    }
}
