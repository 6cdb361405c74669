//! socket-connect's per-interval panels: latency over time (p50, p99 and max of each
//! measured phase) and connects and failures per interval. socket-connect draws them from
//! its own intervals; listen-watch from the `interval` lines of a wrapped socket-connect,
//! on its own time axis. [`ClientInterval`] has the fields of that line (socket-connect
//! `--interval D --format json`), so either side can deserialize the line into it.

pub use crate::interval::{ClientInterval, PhaseInterval};

use super::axis::LatencyUnit;
use super::{Panel, Series, SeriesKind, XAxis};

/// What the panels say when there is no interval.
pub const NO_INTERVALS: &str = "no intervals (socket-connect --interval D records them)";

/// The per-interval panels of `intervals`, timed from `offset_s` (seconds between the
/// picture's start and the client's; 0 for socket-connect itself). One latency panel per
/// phase measured in some interval, then the counts; a single panel that says so when
/// there is no interval. `who` starts each caption (`socket-connect`, or `client`).
pub fn client_panels(intervals: &[ClientInterval], offset_s: f64, who: &str) -> Vec<Panel> {
    if intervals.is_empty() {
        return vec![
            Panel::new(
                format!("{who}: latency and connects per interval"),
                XAxis::Time,
                "latency",
            )
            .empty_note(NO_INTERVALS),
        ];
    }
    let x = |i: &ClientInterval| offset_s + i.t_ms / 1000.0;
    type Pick = fn(&ClientInterval) -> Option<PhaseInterval>;
    let phases: [(&str, Pick); 3] = [
        ("connect", |i| i.connect_latency_us),
        ("first byte", |i| i.first_byte_latency_us),
        ("complete", |i| i.complete_latency_us),
    ];
    let mut panels = Vec::new();
    for (name, pick) in phases {
        if intervals.iter().all(|i| pick(i).is_none()) {
            continue;
        }
        let max_us = intervals
            .iter()
            .filter_map(|i| pick(i).and_then(|p| p.max))
            .max()
            .unwrap_or(0);
        let unit = LatencyUnit::for_max_us(max_us as f64);
        let mut panel = Panel::new(
            format!("{who}: {name} latency per interval"),
            XAxis::Time,
            format!("{name} latency ({})", unit.symbol()),
        )
        .empty_note(format!("no {name} sample in any interval"));
        type Stat = fn(&PhaseInterval) -> Option<u64>;
        let stats: [(&str, Stat); 3] = [("p50", |p| p.p50), ("p99", |p| p.p99), ("max", |p| p.max)];
        for (stat, get) in stats {
            let points = intervals
                .iter()
                .filter_map(|i| {
                    let v = pick(i).as_ref().and_then(get)?;
                    Some([x(i), unit.from_us(v as f64)])
                })
                .collect();
            panel
                .series
                .push(Series::new(stat, SeriesKind::Line, points));
        }
        panels.push(panel);
    }
    let mut counts = Panel::new(
        format!("{who}: connects and failures per interval"),
        XAxis::Time,
        "per interval (count)",
    );
    type Count = fn(&ClientInterval) -> u64;
    let kinds: [(&str, Count); 3] = [
        ("connected", |i| i.connected),
        ("failed", |i| i.failed),
        ("exchange failed", |i| i.exchange_failed),
    ];
    for (name, get) in kinds {
        let points = intervals.iter().map(|i| [x(i), get(i) as f64]).collect();
        counts
            .series
            .push(Series::new(name, SeriesKind::Line, points));
    }
    panels.push(counts);
    panels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agreed_interval_line_deserializes() {
        let line = r#"{"event":"interval","t_ms":1000.2,"ts":1764680000123,"interval_ms":1000.0,
 "attempted":120,"connected":118,"failed":2,"errors":{"refused":2},
 "exchange_failed":0,"exchange_errors":{},"open":118,
 "connect_latency_us":{"count":118,"p50":21,"p99":90,"max":130},
 "first_byte_latency_us":{"count":0,"p50":null,"p99":null,"max":null},
 "complete_latency_us":null}"#;
        let i: ClientInterval = serde_json::from_str(line).unwrap();
        assert_eq!((i.connected, i.failed), (118, 2));
        assert_eq!(i.connect_latency_us.unwrap().max, Some(130));
        assert_eq!(i.first_byte_latency_us.unwrap().p50, None);
        assert_eq!(i.complete_latency_us, None);
        let panels = client_panels(&[i], 0.0, "socket-connect");
        // connect and first byte (measured, though empty here), then the counts.
        assert_eq!(panels.len(), 3);
        assert_eq!(panels[0].series[2].points, vec![[1.0002, 130.0]]);
        assert!(panels[1].is_empty());
        assert_eq!(panels[2].series[1].points, vec![[1.0002, 2.0]]);
    }

    #[test]
    fn no_intervals_is_one_panel_that_says_so() {
        let panels = client_panels(&[], 0.0, "client");
        assert_eq!(panels.len(), 1);
        assert!(panels[0].is_empty());
        assert_eq!(panels[0].empty, NO_INTERVALS);
    }
}
