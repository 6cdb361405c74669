//! The rows of the end-of-run text table of a long run (`--interval D` without `--format
//! json`): at most [`MAX_ROWS`]. A run of that many intervals or fewer gets one row per
//! interval; a longer one (an hour at `1s` is 3600) has its intervals rolled up into rows
//! of k intervals each, k the first of 2, 10, 20, 60, 120, 600, 1200, 3600 (then times
//! ten) that fits, so rows of `1s` intervals become `10s`, `1m` or `20m` ones. A row's
//! counts are its intervals' summed and its percentiles those of its intervals'
//! histograms added together (never percentiles averaged), so the rows still add up to
//! the report. The JSON interval lines and the `--hlog` file keep every interval.
//!
//! Rows are aligned on the run's start: row `i` of k holds the intervals that started in
//! `[i k D, (i + 1) k D)`, so a tick the collector skipped leaves its row one interval
//! short instead of shifting the rest. Rolling up to the next k merges whole rows (each k
//! is a multiple of the one before). Memory is bounded: at most `MAX_ROWS + 1` rows, each
//! with one histogram per measured phase that grows only to its largest sample.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::interval::{IntervalLatency, IntervalSummary};
use crate::output::human_duration;

/// Most rows the end-of-run table shows.
pub const MAX_ROWS: usize = 100;

/// Intervals per row, in order; past the last, ten times the one before. Each is a
/// multiple of the one before, so a row of one always falls inside a row of the next.
const PER_ROW: [u64; 9] = [1, 2, 10, 20, 60, 120, 600, 1200, 3600];

/// One interval's histograms (µs), as [`Rollup::add`] takes them.
#[derive(Debug, Clone, Copy)]
pub struct PhaseHistograms<'a> {
    /// The connects that succeeded in the interval.
    pub connect: &'a Histogram<u64>,
    /// The first bytes that came in it (`--read`).
    pub first_byte: Option<&'a Histogram<u64>>,
    /// The answers that ended in it (`--read close`).
    pub complete: Option<&'a Histogram<u64>>,
}

impl PhaseHistograms<'_> {
    /// The connect, first-byte and complete latencies of an interval row, from these.
    pub fn latencies(
        &self,
    ) -> (
        IntervalLatency,
        Option<IntervalLatency>,
        Option<IntervalLatency>,
    ) {
        (
            IntervalLatency::from_histogram(self.connect),
            self.first_byte.map(IntervalLatency::from_histogram),
            self.complete.map(IntervalLatency::from_histogram),
        )
    }
}

/// The rows so far, kept by the collector's [`crate::intervals::Intervals`].
#[derive(Debug)]
pub struct Rollup {
    every: Duration,
    /// Intervals per row (one of [`PER_ROW`] or beyond).
    per_row: u64,
    /// Intervals added.
    intervals: u64,
    rows: Vec<Row>,
}

/// One row: its index (at `per_row`), its counts and its histograms.
#[derive(Debug)]
struct Row {
    index: u64,
    /// The counts summed; the latencies are filled in from the histograms at the end.
    sum: IntervalSummary,
    connect: Histogram<u64>,
    first_byte: Option<Histogram<u64>>,
    complete: Option<Histogram<u64>>,
}

/// The table's rows when the run had more than [`MAX_ROWS`] intervals.
#[derive(Debug)]
pub struct RolledUp {
    /// How many intervals the run had.
    pub intervals: u64,
    /// `--interval`.
    pub every: Duration,
    /// Intervals per row.
    pub per_row: u64,
    /// The rows, in order: counts summed, `t_ms`, `ts` and `open` those of the row's last
    /// interval, `interval_ms` the rows' lengths summed.
    pub rows: Vec<IntervalSummary>,
}

impl RolledUp {
    /// How long a row is: `per_row` intervals.
    pub fn row_length(&self) -> Duration {
        self.every
            .saturating_mul(u32::try_from(self.per_row).unwrap_or(u32::MAX))
    }

    /// The line above the table saying what it shows: `intervals: 3601 of 1s, rolled up
    /// into 61 rows of 1m (every interval: --format json)`.
    pub fn title(&self) -> String {
        let row = self.row_length();
        format!(
            "intervals: {} of {}, rolled up into {} rows of {} (every interval: --format json)",
            self.intervals,
            human_duration(self.every),
            self.rows.len(),
            human_duration(row),
        )
    }
}

/// A histogram to add interval histograms into: the same unit and precision as
/// [`crate::latency::new_histogram`], growing to the largest sample added instead of
/// taking 200 KiB at once.
fn row_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is a valid auto-resizing histogram")
}

/// Adds `from` into `into`.
fn add(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    // An auto-resizing histogram takes any histogram of the same lowest value (1 µs);
    // the only failure is a size that does not fit a usize, which 1 h in µs at 3
    // significant figures (about 23 000 counts) never reaches.
    into.add(from)
        .expect("an auto-resizing histogram takes any microsecond histogram");
}

/// Adds the counts of `b` into those of `a`.
fn add_counts<K: Ord + Copy>(a: &mut BTreeMap<K, u64>, b: &BTreeMap<K, u64>) {
    for (&kind, &n) in b {
        *a.entry(kind).or_default() += n;
    }
}

impl Row {
    fn new(index: u64, first: &IntervalSummary, phases: &PhaseHistograms<'_>) -> Self {
        Self {
            index,
            sum: IntervalSummary {
                attempted: 0,
                connected: 0,
                failed: 0,
                errors: BTreeMap::new(),
                exchange_failed: 0,
                exchange_errors: BTreeMap::new(),
                interval_ms: 0.0,
                ..first.clone()
            },
            connect: row_histogram(),
            first_byte: phases.first_byte.map(|_| row_histogram()),
            complete: phases.complete.map(|_| row_histogram()),
        }
    }

    /// Adds one interval (or a row of intervals: `row` with its histograms).
    fn absorb(&mut self, row: &IntervalSummary, phases: &PhaseHistograms<'_>) {
        let s = &mut self.sum;
        s.t_ms = row.t_ms;
        s.ts = row.ts;
        s.interval_ms = ((s.interval_ms + row.interval_ms) * 1e3).round() / 1e3;
        s.attempted += row.attempted;
        s.connected += row.connected;
        s.failed += row.failed;
        add_counts(&mut s.errors, &row.errors);
        s.exchange_failed += row.exchange_failed;
        add_counts(&mut s.exchange_errors, &row.exchange_errors);
        s.open = row.open;
        add(&mut self.connect, phases.connect);
        for (into, from) in [
            (self.first_byte.as_mut(), phases.first_byte),
            (self.complete.as_mut(), phases.complete),
        ] {
            if let (Some(into), Some(from)) = (into, from) {
                add(into, from);
            }
        }
    }

    fn phases(&self) -> PhaseHistograms<'_> {
        PhaseHistograms {
            connect: &self.connect,
            first_byte: self.first_byte.as_ref(),
            complete: self.complete.as_ref(),
        }
    }

    /// The row as the table shows it, its latencies from its histograms.
    fn into_summary(self) -> IntervalSummary {
        let (connect_latency_us, first_byte_latency_us, complete_latency_us) =
            self.phases().latencies();
        IntervalSummary {
            connect_latency_us,
            first_byte_latency_us,
            complete_latency_us,
            ..self.sum
        }
    }
}

impl Rollup {
    /// No rows yet, for intervals of `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            per_row: 1,
            intervals: 0,
            rows: Vec::new(),
        }
    }

    /// Adds the interval `row` that started `start` after the run, with its histograms.
    pub fn add(&mut self, start: Duration, row: &IntervalSummary, phases: PhaseHistograms<'_>) {
        self.intervals += 1;
        // `every` is at least 1 ms (cli), so the division is defined.
        let interval = u64::try_from(start.as_nanos() / self.every.as_nanos()).unwrap_or(u64::MAX);
        let index = interval / self.per_row;
        match self.rows.last_mut() {
            Some(last) if last.index == index => last.absorb(row, &phases),
            _ => {
                let mut new = Row::new(index, row, &phases);
                new.absorb(row, &phases);
                self.rows.push(new);
            }
        }
        while self.rows.len() > MAX_ROWS {
            self.coarsen();
        }
    }

    /// Rolls the rows up to the next number of intervals per row.
    fn coarsen(&mut self) {
        let next = PER_ROW
            .iter()
            .copied()
            .find(|&k| k > self.per_row)
            .unwrap_or(self.per_row.saturating_mul(10));
        let ratio = next / self.per_row;
        let mut rows: Vec<Row> = Vec::with_capacity(self.rows.len() / 2 + 1);
        for row in self.rows.drain(..) {
            let index = row.index / ratio;
            match rows.last_mut() {
                Some(last) if last.index == index => last.absorb(&row.sum, &row.phases()),
                _ => rows.push(Row { index, ..row }),
            }
        }
        self.rows = rows;
        self.per_row = next;
    }

    /// The rows, rolled up; `None` when the run had at most [`MAX_ROWS`] intervals and
    /// the table shows each.
    pub fn finish(self) -> Option<RolledUp> {
        (self.intervals > MAX_ROWS as u64).then(|| RolledUp {
            intervals: self.intervals,
            every: self.every,
            per_row: self.per_row,
            rows: self.rows.into_iter().map(Row::into_summary).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interval::IntervalEvent;
    use crate::latency::new_histogram;
    use crate::report::ErrorKind;

    /// Interval `i` of 1 s: `i + 1` connects of `i + 1` µs, one refused.
    fn interval(i: u64) -> (IntervalSummary, Histogram<u64>) {
        let mut hist = new_histogram();
        hist.record_n(i + 1, i + 1).unwrap();
        let row = IntervalSummary {
            event: IntervalEvent::Interval,
            t_ms: (i + 1) as f64 * 1e3,
            ts: 1_000_000 + (i + 1) * 1000,
            interval_ms: 1000.0,
            attempted: i + 2,
            connected: i + 1,
            failed: 1,
            errors: BTreeMap::from([(ErrorKind::Refused, 1)]),
            exchange_failed: 0,
            exchange_errors: BTreeMap::new(),
            open: i,
            connect_latency_us: IntervalLatency::from_histogram(&hist),
            first_byte_latency_us: None,
            complete_latency_us: None,
        };
        (row, hist)
    }

    fn rolled(n: u64, skip: &[u64]) -> Option<RolledUp> {
        let mut rollup = Rollup::new(Duration::from_secs(1));
        for i in (0..n).filter(|i| !skip.contains(i)) {
            let (row, hist) = interval(i);
            let phases = PhaseHistograms {
                connect: &hist,
                first_byte: None,
                complete: None,
            };
            // Started a little after its tick, as the collector closes them.
            let start = Duration::from_secs(i) + Duration::from_micros(300);
            rollup.add(start, &row, phases);
        }
        rollup.finish()
    }

    #[test]
    fn up_to_the_cap_every_interval_is_its_own_row() {
        assert!(rolled(MAX_ROWS as u64, &[]).is_none());
        assert!(rolled(3, &[]).is_none());
    }

    #[test]
    fn an_hour_of_seconds_rolls_up_into_minutes_that_add_up() {
        let r = rolled(3601, &[]).unwrap();
        assert_eq!((r.intervals, r.per_row, r.rows.len()), (3601, 60, 61));
        assert_eq!(
            r.title(),
            "intervals: 3601 of 1s, rolled up into 61 rows of 1m (every interval: --format json)"
        );
        let first = &r.rows[0];
        // Intervals 0..60: 1 + 2 + ... + 60 connects, 60 refused.
        assert_eq!(
            (first.connected, first.failed, first.attempted),
            (1830, 60, 1890)
        );
        assert_eq!(first.errors, BTreeMap::from([(ErrorKind::Refused, 60)]));
        assert_eq!(
            (first.t_ms, first.open, first.interval_ms),
            (60_000.0, 59, 60_000.0)
        );
        let l = first.connect_latency_us;
        assert_eq!((l.count, l.max), (1830, Some(60)));
        // The median of the samples together: value v holds v samples, 915 is reached at 43.
        assert_eq!(l.p50, Some(43));
        let last = r.rows.last().unwrap();
        assert_eq!((last.connected, last.t_ms), (3601, 3_601_000.0));
        let total: u64 = r.rows.iter().map(|row| row.connected).sum();
        assert_eq!(total, 3601 * 3602 / 2);
        let samples: u64 = r.rows.iter().map(|row| row.connect_latency_us.count).sum();
        assert_eq!(samples, total);
    }

    #[test]
    fn rows_stay_aligned_on_the_start_when_ticks_are_skipped() {
        // 250 s of 1 s intervals, two of them skipped: 25 rows of 10 s.
        let r = rolled(250, &[3, 4]).unwrap();
        assert_eq!((r.intervals, r.per_row, r.rows.len()), (248, 10, 25));
        assert_eq!(r.rows[0].t_ms, 10_000.0);
        assert_eq!(r.rows[0].interval_ms, 8_000.0, "two intervals short");
        assert_eq!(r.rows[1].t_ms, 20_000.0);
        assert_eq!(r.rows[1].interval_ms, 10_000.0);
    }
}
