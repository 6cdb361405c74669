//! The text form of a run's intervals: a compact table printed after the summary when
//! the run lasted more than one interval, one row per interval, the phases that were not
//! measured left out:
//!
//! ```text
//! intervals
//!       t  attempted  connected  failed  exchange failed  open  connect p50  p99  first byte p50  p99
//!  1.00s        100        100       0                0     0         46us  1.14ms ...
//! ```
//!
//! A run of more intervals than the table shows has them rolled up (`rollup.rs`), and the
//! first line says so: `intervals: 3601 of 1s, rolled up into 61 rows of 1m (every
//! interval: --format json)`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::interval::{IntervalLatency, IntervalSummary};
use crate::intervals::IntervalRows;
use crate::output::human_us;

/// The table, or `None` for a run of one interval (the summary says it all).
pub fn render_table(intervals: &IntervalRows) -> Option<String> {
    match &intervals.rolled_up {
        Some(rolled) => render_rows(&rolled.title(), rolled.row_length(), &rolled.rows),
        None => render_rows("intervals", intervals.every, &intervals.each),
    }
}

/// `title`, then a head line and one line per row of `step`; `None` for fewer than two
/// rows. `t` is to the millisecond for rows shorter than 10 ms, else to 10 ms.
fn render_rows(title: &str, step: Duration, rows: &[IntervalSummary]) -> Option<String> {
    let decimals = if step < Duration::from_millis(10) {
        3
    } else {
        2
    };
    let first = rows.first()?;
    if rows.len() < 2 {
        return None;
    }
    let mut head = vec![
        "t",
        "attempted",
        "connected",
        "failed",
        "exchange failed",
        "open",
        "connect p50",
        "p99",
    ];
    let first_byte = first.first_byte_latency_us.is_some();
    let complete = first.complete_latency_us.is_some();
    if first_byte {
        head.extend(["first byte p50", "p99"]);
    }
    if complete {
        head.extend(["complete p50", "p99"]);
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                format!("{:.decimals$}s", r.t_ms / 1e3),
                r.attempted.to_string(),
                r.connected.to_string(),
                r.failed.to_string(),
                r.exchange_failed.to_string(),
                r.open.to_string(),
            ];
            cells.extend(percentiles(Some(&r.connect_latency_us)));
            if first_byte {
                cells.extend(percentiles(r.first_byte_latency_us.as_ref()));
            }
            if complete {
                cells.extend(percentiles(r.complete_latency_us.as_ref()));
            }
            cells
        })
        .collect();
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            body.iter()
                .map(|row| row[i].len())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!("{title}\n");
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let row: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:>w$}"))
            .collect();
        let _ = writeln!(out, "{}", row.join("  "));
    };
    line(&mut head.iter().copied());
    for row in &body {
        line(&mut row.iter().map(String::as_str));
    }
    Some(out)
}

/// A phase's p50 and p99 cells: `-` when it had no sample.
fn percentiles(l: Option<&IntervalLatency>) -> [String; 2] {
    let cell = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |us| human_us(us as f64));
    match l {
        Some(l) => [cell(l.p50), cell(l.p99)],
        None => ["-".to_owned(), "-".to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t_ms: f64, connected: u64, p50: Option<u64>) -> IntervalSummary {
        IntervalSummary {
            event: crate::interval::IntervalEvent::Interval,
            t_ms,
            ts: 0,
            interval_ms: 1000.0,
            attempted: connected,
            connected,
            failed: 0,
            errors: Default::default(),
            exchange_failed: 0,
            exchange_errors: Default::default(),
            open: 0,
            connect_latency_us: IntervalLatency {
                count: connected,
                p50,
                p99: p50,
                max: p50,
            },
            first_byte_latency_us: None,
            complete_latency_us: None,
        }
    }

    #[test]
    fn one_aligned_row_per_interval_and_none_for_a_single_one() {
        let table = |each: Vec<IntervalSummary>| {
            render_table(&IntervalRows {
                each,
                every: Duration::from_secs(1),
                rolled_up: None,
            })
        };
        assert_eq!(table(vec![row(3.0, 1, Some(9))]), None);
        let text = table(vec![row(1000.0, 120, Some(21)), row(1500.4, 0, None)]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "intervals");
        assert_eq!(
            lines[1],
            "    t  attempted  connected  failed  exchange failed  open  connect p50   p99"
        );
        assert_eq!(
            lines[2],
            "1.00s        120        120       0                0     0         21us  21us"
        );
        assert!(lines[3].ends_with("-     -"), "{}", lines[3]);
        assert!(lines.iter().skip(1).all(|l| l.len() == lines[1].len()));
    }

    #[test]
    fn rows_shorter_than_10ms_show_t_to_the_millisecond() {
        let rows = IntervalRows {
            each: vec![row(1.2, 1, Some(9)), row(2.1, 1, Some(9))],
            every: Duration::from_millis(1),
            rolled_up: None,
        };
        let text = render_table(&rows).unwrap();
        let t: Vec<&str> = text.lines().skip(2).map(|l| &l[..6]).collect();
        assert_eq!(t, ["0.001s", "0.002s"]);
    }
}
