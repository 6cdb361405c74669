//! Latency summaries: [`LatencySummary`] (min/mean/p50/p90/p99/p99.9/max in microseconds)
//! from an HDR histogram, and the full distribution in HdrHistogram's `.hgrm` text format.
//!
//! Recording goes into `hdrhistogram::Histogram<u64>` in microseconds, never into a vector
//! of samples; see [`new_histogram`].

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::hdr_encoding::EncodedHistogram;

/// The longest latency a histogram tracks: one hour, in microseconds. Longer samples are
/// recorded as one hour (a connect timeout is far shorter).
pub const MAX_TRACKED_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds with 3 significant digits and fixed bounds
/// (1 µs to [`MAX_TRACKED_US`]), about 200 KiB. Fixed bounds matter: hdrhistogram's
/// `saturating_record` never grows an auto-resizing histogram, it clamps to its current
/// top (about 2 ms for a fresh one), which would silently turn slow samples into 2 ms.
pub fn new_histogram() -> Histogram<u64> {
    // 3 significant figures is what wrk, oha and HdrHistogram's own tools use.
    Histogram::new_with_bounds(1, MAX_TRACKED_US, 3)
        .expect("1 us .. 1 h at 3 significant figures is a valid histogram")
}

/// Records one latency sample in microseconds: sub-microsecond samples count as 1 µs (the
/// histogram's unit), samples beyond [`MAX_TRACKED_US`] as that maximum.
pub fn record(hist: &mut Histogram<u64>, latency: Duration) {
    let us = u64::try_from(latency.as_micros())
        .unwrap_or(u64::MAX)
        .max(1);
    hist.saturating_record(us);
}

/// Percentiles of a latency distribution. Every value is in microseconds (the report field
/// that holds it says so, e.g. `connect_latency_us`); `count` is a number of samples.
/// The full distribution goes along in `histogram`, so that reports can be merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample, µs (0 when there are none).
    pub min: u64,
    /// Arithmetic mean, µs, to 0.1 µs.
    pub mean: f64,
    /// Median, µs.
    pub p50: u64,
    /// 90th percentile, µs.
    pub p90: u64,
    /// 99th percentile, µs.
    pub p99: u64,
    /// 99.9th percentile, µs.
    pub p999: u64,
    /// Largest sample, µs.
    pub max: u64,
    /// Every sample: base64 of HdrHistogram's V2-compressed serialization of the
    /// microsecond histogram the figures above come from (see `hdr_encoding`).
    pub histogram: EncodedHistogram,
}

impl LatencySummary {
    /// Summarises a histogram of microsecond samples and carries it along. An empty
    /// histogram gives all zeros.
    pub fn from_histogram(hist: &Histogram<u64>) -> Self {
        let histogram = EncodedHistogram::encode(hist);
        if hist.is_empty() {
            return Self {
                count: 0,
                min: 0,
                mean: 0.0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
                histogram,
            };
        }
        Self {
            count: hist.len(),
            min: hist.min(),
            mean: (hist.mean() * 10.0).round() / 10.0,
            p50: hist.value_at_quantile(0.50),
            p90: hist.value_at_quantile(0.90),
            p99: hist.value_at_quantile(0.99),
            p999: hist.value_at_quantile(0.999),
            max: hist.max(),
            histogram,
        }
    }
}

/// Renders the percentile distribution in HdrHistogram's `.hgrm` text format (what
/// `HistogramLogProcessor` and wrk2 print, and what the HdrHistogram plotter reads).
/// `scale` divides raw values for display: 1.0 keeps microseconds, 1000.0 shows ms.
pub fn to_hgrm(hist: &Histogram<u64>, scale: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if !hist.is_empty() {
        let mut total = 0u64;
        // Five ticks per half-distance is the reference implementation's default.
        for step in hist.iter_quantiles(5) {
            total += step.count_since_last_iteration();
            let value = step.value_iterated_to() as f64 / scale;
            let q = step.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev) = if hist.is_empty() {
        (0.0, 0.0)
    } else {
        (hist.mean(), hist.stdev())
    };
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        mean / scale,
        stdev / scale
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        hist.max() as f64 / scale,
        hist.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        hist.distinct_values()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_ordered_and_counts_samples() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.saturating_record(v);
        }
        let s = LatencySummary::from_histogram(&h);
        assert_eq!(s.count, 1000);
        assert_eq!(s.min, 1);
        assert_eq!(s.max, 1000);
        assert!(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.p999);
        assert!(s.p999 <= s.max);
        assert!((s.p50 as i64 - 500).abs() <= 1, "{s:?}");
        assert!((s.mean - 500.5).abs() < 1.0, "{s:?}");
    }

    #[test]
    fn slow_and_tiny_samples_are_kept_not_clamped() {
        let mut h = new_histogram();
        for us in [2, 208_000, 5_000_000] {
            record(&mut h, Duration::from_micros(us));
        }
        record(&mut h, Duration::from_nanos(300));
        record(&mut h, Duration::from_secs(7200));
        assert_eq!(h.len(), 5);
        assert_eq!(h.min(), 1);
        assert!(
            h.equivalent(h.value_at_quantile(0.7), 5_000_000),
            "{}",
            h.value_at_quantile(0.7)
        );
        assert!(h.equivalent(h.max(), MAX_TRACKED_US));
    }

    #[test]
    fn empty_histogram_gives_zeros() {
        let s = LatencySummary::from_histogram(&new_histogram());
        assert_eq!(
            (s.count, s.min, s.mean, s.p50, s.p99, s.max),
            (0, 0, 0.0, 0, 0, 0)
        );
        assert!(s.histogram.decode().unwrap().is_empty());
    }

    #[test]
    fn hgrm_has_header_rows_and_footer() {
        let mut h = new_histogram();
        for v in [10u64, 20, 30, 40, 1000] {
            h.saturating_record(v);
        }
        let text = to_hgrm(&h, 1.0);
        let mut lines = text.lines();
        assert!(lines.next().unwrap().trim_start().starts_with("Value"));
        assert!(text.contains("#[Max     =     1000.000, Total count    =            5]"));
        let last_row = text
            .lines()
            .rev()
            .find(|l| !l.starts_with('#') && !l.is_empty())
            .unwrap();
        let cols: Vec<&str> = last_row.split_whitespace().collect();
        assert_eq!(cols[1], "1.000000000000");
        assert_eq!(cols[2], "5");
    }
}
