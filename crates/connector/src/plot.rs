//! `--plot FILE.svg` for socket-connect (issue 11): the run's data mapped to
//! `listenlab_common::plot` panels. First the percentile spectrum of each measured phase
//! (connect, first byte, complete) on HdrHistogram's log axis, from the collector's
//! histograms, corrected and raw under `--rate`; then latency and counts per interval.
//!
//! The per-interval panels take [`ClientInterval`]s, the fields of socket-connect's
//! `interval` line; [`figure`] is handed the run's intervals, and says so when there are
//! none.

use anyhow::Context;
use hdrhistogram::Histogram;
use listenlab_common::plot::{
    self, ClientInterval, Figure, LatencyUnit, Panel, PlotPath, Series, SeriesKind, XAxis,
    axis::{percentile_top, percentile_x},
};

use crate::collect::{Phase, Tally};
use crate::config::Config;
use crate::exchange::ReadMode;
use crate::interval::IntervalSummary;
use crate::report::ConnectReport;

/// The points of `hist`'s percentile spectrum in `unit`: `[x, latency]` with x = 1/(1-p)
/// (HdrHistogram's five ticks per half-distance), from the minimum at x = 1 to the
/// maximum at `top`. Empty for an empty histogram.
pub fn spectrum(hist: &Histogram<u64>, top: f64, unit: LatencyUnit) -> Vec<[f64; 2]> {
    if hist.is_empty() {
        return Vec::new();
    }
    let y = |us: u64| unit.from_us(us as f64);
    let mut points = vec![[1.0, y(hist.min())]];
    for step in hist.iter_quantiles(5) {
        let x = percentile_x(step.quantile_iterated_to(), top);
        if x >= top {
            break;
        }
        if x > 1.0 {
            points.push([x, y(step.value_iterated_to())]);
        }
    }
    // The last point is the report's `max`, exactly.
    points.push([top, y(hist.max())]);
    points
}

/// One phase's spectrum panel: `corrected` and `raw` under `--rate`, one `latency` series
/// otherwise (the two are the same then).
fn spectrum_panel(name: &str, phase: &Phase, paced: bool) -> Panel {
    let top = percentile_top(phase.corrected.len());
    let unit = LatencyUnit::for_max_us(phase.corrected.max() as f64);
    let mut panel = Panel::new(
        format!("{name} latency: percentile spectrum"),
        XAxis::Percentile { top },
        format!("{name} latency ({})", unit.symbol()),
    )
    .empty_note(format!("no {name} sample"));
    if paced {
        panel.title += " (corrected: from the scheduled start; raw: from the actual start)";
        panel.series = vec![
            Series::new(
                "corrected",
                SeriesKind::Line,
                spectrum(&phase.corrected, top, unit),
            ),
            Series::new("raw", SeriesKind::Line, spectrum(&phase.raw, top, unit)),
        ];
    } else {
        panel.series = vec![Series::new(
            "latency",
            SeriesKind::Line,
            spectrum(&phase.corrected, top, unit),
        )];
    }
    panel
}

/// The whole picture of a run: what ran, the spectra of the measured phases, the
/// per-interval panels of `intervals`.
pub fn figure(
    config: &Config,
    report: &ConnectReport,
    tally: &Tally,
    intervals: &[ClientInterval],
) -> Figure {
    let paced = config.rate.is_some();
    let mut panels = vec![spectrum_panel("connect", &tally.connect, paced)];
    if config.exchange.read.is_some() {
        panels.push(spectrum_panel("first byte", &tally.first_byte, paced));
    }
    if config.exchange.read == Some(ReadMode::Close) {
        panels.push(spectrum_panel("complete", &tally.complete, paced));
    }
    panels.extend(plot::client_panels(intervals, 0.0, "socket-connect"));
    let rate = config.rate.map_or(String::new(), |r| format!(" at {r}/s"));
    Figure {
        title: format!(
            "socket-connect: {} of {} connected to {} ({}){rate}{}",
            report.connected,
            report.attempted,
            report.target,
            report.transport.name(),
            if report.interrupted {
                ", interrupted"
            } else {
                ""
            }
        ),
        subtitle: plot::what_ran(),
        panels,
    }
}

/// The run's intervals as the per-interval panels read them: each [`IntervalSummary`]
/// through its own `interval` line's JSON, so the picture and the line cannot drift apart.
pub fn client_intervals(rows: &[IntervalSummary]) -> Vec<ClientInterval> {
    rows.iter()
        .map(|row| {
            serde_json::to_value(row)
                .and_then(serde_json::from_value)
                .expect("an interval line reads back as a ClientInterval")
        })
        .collect()
}

/// Draws `figure` into the `--plot` file.
pub fn write(path: &PlotPath, figure: &Figure) -> anyhow::Result<()> {
    let svg = plot::render(figure)?;
    path.write(&svg)
        .with_context(|| format!("writing the --plot file '{path}'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::new_histogram;

    #[test]
    fn the_spectrum_runs_from_min_to_max_in_x_order() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.saturating_record(v * 20);
        }
        let top = percentile_top(h.len());
        let points = spectrum(&h, top, LatencyUnit::Millis);
        assert_eq!(points[0], [1.0, 0.02]);
        assert_eq!(*points.last().unwrap(), [top, h.max() as f64 / 1000.0]);
        assert!(
            points
                .windows(2)
                .all(|w| w[0][0] < w[1][0] && w[0][1] <= w[1][1])
        );
        assert!(spectrum(&new_histogram(), top, LatencyUnit::Micros).is_empty());
    }
}
