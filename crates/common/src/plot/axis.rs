//! The two x axes of the pictures and the latency unit.
//!
//! The percentile axis is HdrHistogram's (its `plotFiles.html`, hdr-plot): x = 1/(1-p) on a
//! log scale, so 0%, 90%, 99%, 99.9% … are evenly spaced and the tail gets the room. The
//! maximum (p = 1, x = ∞) is drawn at the axis' top, one decade past the last percentile
//! the samples can resolve, labelled `max`.

use serde::Serialize;

/// What the x axis measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XAxis {
    /// Seconds since the run started.
    Time,
    /// x = 1/(1-p) on a log scale from 1 (p = 0) to `top` (the maximum).
    Percentile {
        /// Where the maximum is drawn: a power of ten, see [`percentile_top`].
        top: f64,
    },
}

impl XAxis {
    /// The axis label, with its unit.
    pub fn label(&self) -> &'static str {
        match self {
            XAxis::Time => "time since start (s)",
            XAxis::Percentile { .. } => "percentile (log scale of 1/(1-p))",
        }
    }
}

/// The top of a percentile axis for `count` samples: the first decade at or past `count`
/// (with 2000 samples p99.95 is the last one below the max, so the max goes at 10⁴, where
/// p99.99 would be); at least 100 so that 90% always shows.
pub fn percentile_top(count: u64) -> f64 {
    let decades = (count.max(1) as f64).log10().ceil().max(2.0);
    10f64.powf(decades)
}

/// Where quantile `q` (0..=1) goes on a percentile axis topped at `top`.
pub fn percentile_x(q: f64, top: f64) -> f64 {
    if q >= 1.0 {
        return top;
    }
    (1.0 / (1.0 - q)).clamp(1.0, top)
}

/// The tick label at x = 10^k on a percentile axis: `0%`, `90%`, `99%`, `99.9%` …,
/// and `max` at the top.
pub fn percentile_label(x: f64, top: f64) -> String {
    if x >= top * 0.999 {
        return "max".into();
    }
    let decades = x.log10().round() as i32;
    if decades <= 0 {
        return "0%".into();
    }
    // 1 - 10^-k as a percentage with k-2 decimals: 90, 99, 99.9, 99.99 ...
    let decimals = (decades - 2).max(0) as usize;
    format!("{:.decimals$}%", 100.0 * (1.0 - 10f64.powi(-decades)))
}

/// The ticks of a percentile axis: every decade from 1 to `top`.
pub fn percentile_ticks(top: f64) -> Vec<f64> {
    let decades = top.log10().round() as i32;
    (0..=decades).map(|k| 10f64.powi(k)).collect()
}

/// Microseconds or milliseconds, whichever keeps the numbers short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyUnit {
    /// µs.
    Micros,
    /// ms.
    Millis,
}

impl LatencyUnit {
    /// Milliseconds from 10 ms up, microseconds below.
    pub fn for_max_us(max_us: f64) -> Self {
        if max_us >= 10_000.0 {
            LatencyUnit::Millis
        } else {
            LatencyUnit::Micros
        }
    }

    /// A microsecond value in this unit.
    pub fn from_us(self, us: f64) -> f64 {
        match self {
            LatencyUnit::Micros => us,
            LatencyUnit::Millis => us / 1000.0,
        }
    }

    /// The unit's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            LatencyUnit::Micros => "µs",
            LatencyUnit::Millis => "ms",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_follow_the_hdr_axis() {
        assert_eq!(percentile_top(1000), 1000.0);
        let top = percentile_top(2000);
        assert_eq!(top, 10_000.0);
        let labels: Vec<String> = percentile_ticks(top)
            .into_iter()
            .map(|x| percentile_label(x, top))
            .collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "max"]);
        assert_eq!(percentile_top(1), 100.0);
        assert_eq!(percentile_x(0.0, top), 1.0);
        assert!((percentile_x(0.99, top) - 100.0).abs() < 1e-6);
        assert_eq!(percentile_x(1.0, top), top);
    }

    #[test]
    fn latency_unit_switches_to_ms_at_ten_ms() {
        assert_eq!(LatencyUnit::for_max_us(9_999.0), LatencyUnit::Micros);
        assert_eq!(LatencyUnit::for_max_us(10_000.0), LatencyUnit::Millis);
        assert_eq!(LatencyUnit::Millis.from_us(2500.0), 2.5);
    }
}
