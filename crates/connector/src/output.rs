//! What goes to stdout: the `{"event":"holding",...}` line, the final report as an aligned
//! text table or one JSON object, and the `.hgrm` file. Diagnostics never come here.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use listenlab_common::Format;

use crate::latency::LatencySummary;
use crate::report::{ConnectReport, Counts, ErrorKind, Holding, Kind};

/// Prints and flushes `{"event":"holding","open":N}` (JSON mode's readiness line).
pub fn print_holding(open: u64) -> io::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, &Holding { open })?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Prints `text` as it is and flushes it.
pub fn print_text(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Prints the report in the chosen format and flushes it.
pub fn print_report(report: &ConnectReport, format: Format) -> io::Result<()> {
    let text = match format {
        Format::Text => render_text(report),
        Format::Json => render_json(report),
    };
    print_text(&text)
}

/// The report as one JSON object on one line, newline-terminated.
pub fn render_json(report: &ConnectReport) -> String {
    let mut line = serde_json::to_string(report).expect("the report serializes");
    line.push('\n');
    line
}

/// The report as an aligned two-column table.
pub fn render_text(r: &ConnectReport) -> String {
    let l = &r.connect_latency_us;
    let pace = match (r.target_rate_per_s, r.duration_ms) {
        (Some(rate), None) => format!("{rate}/s scheduled"),
        (None, None) => "as fast as possible".to_owned(),
        (Some(rate), Some(ms)) => format!(
            "open loop {rate}/s for {}",
            human_duration(Duration::from_millis(ms))
        ),
        (None, Some(ms)) => format!(
            "closed loop for {}",
            human_duration(Duration::from_millis(ms))
        ),
    };
    let mut rows = vec![
        ("target", format!("{} ({})", r.target, r.transport.name())),
        // Only a merged report covers several runs.
        ("runs", format!("{} merged", r.runs)),
        (
            "connects",
            format!(
                "{} attempted, {} connected, {} failed{}{}",
                r.attempted,
                r.connected,
                r.failed,
                match r.unfinished {
                    0 => String::new(),
                    n => format!(", {n} unfinished"),
                },
                if r.interrupted { " (interrupted)" } else { "" }
            ),
        ),
        ("errors", error_summary(r)),
        (
            "dialing",
            format!(
                "concurrency {}, {pace}, timeout {} ms{}",
                r.concurrency,
                r.timeout_ms,
                match r.source_addresses {
                    0 => String::new(),
                    n => format!(", {n} source addresses"),
                }
            ),
        ),
        (
            "connect phase",
            format!(
                "{:.1} ms, {:.0} connections/s",
                r.elapsed_ms, r.connect_rate_per_s
            ),
        ),
    ];
    if r.runs == 1 {
        rows.retain(|(key, _)| *key != "runs");
    }
    if l.count > 0 {
        rows.push(("latency", latency_row(l)));
    }
    for (name, phase) in [
        ("latency raw", &r.connect_latency_raw_us),
        ("first byte", &r.first_byte_latency_us),
        ("first byte raw", &r.first_byte_latency_raw_us),
        ("complete", &r.complete_latency_us),
        ("complete raw", &r.complete_latency_raw_us),
        ("schedule lag", &r.schedule_lag_us),
    ] {
        match phase {
            Some(l) if l.count > 0 => rows.push((name, latency_row(l))),
            Some(_) => rows.push((name, "none".to_owned())),
            None => {}
        }
    }
    if r.request_bytes > 0 || r.first_byte_latency_us.is_some() {
        rows.push((
            "exchange",
            format!(
                "sent {} bytes each, read {} bytes (at most {} per connection), failed {}",
                r.request_bytes,
                r.response_bytes,
                r.response_bytes_max,
                exchange_error_summary(r)
            ),
        ));
    }
    rows.push((
        "held",
        format!(
            "{} ms, {} closed by peer{}",
            r.held_ms,
            r.closed_by_peer,
            match r.unwatched {
                0 => String::new(),
                n => format!(" ({n} not watched: their closes are unknown)"),
            }
        ),
    ));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in rows {
        let _ = writeln!(out, "{key:<width$}  {value}");
    }
    out
}

/// One phase's latencies as its text row: `min 8us  mean 9.5us  p50 9us ...`.
fn latency_row(l: &LatencySummary) -> String {
    let t = |us: u64| human_us(us as f64);
    format!(
        "min {}  mean {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        t(l.min),
        human_us(l.mean),
        t(l.p50),
        t(l.p90),
        t(l.p99),
        t(l.p999),
        t(l.max)
    )
}

/// The failed connects by kind, as the text report's `errors` row shows them: `refused
/// 3, other 2 (EPROTOTYPE 2)`, or `none`.
pub fn error_summary(r: &ConnectReport) -> String {
    counts_summary(&r.errors, |kind, n| match kind {
        ErrorKind::Other if !r.other_errors.is_empty() => {
            format!("other {n} ({})", other_detail(r))
        }
        _ => format!("{} {n}", kind.name()),
    })
}

/// The failed exchanges by kind: `no_response 2, read_timeout 1`, or `none`.
pub fn exchange_error_summary(r: &ConnectReport) -> String {
    counts_summary(&r.exchange_errors, |kind, n| format!("{} {n}", kind.name()))
}

/// The non-zero counts, each as `show` renders it, joined; `none` when all are zero.
fn counts_summary<K: Kind>(counts: &Counts<K>, show: impl Fn(K, u64) -> String) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|&(_, n)| n > 0)
        .map(|(kind, n)| show(kind, n))
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The `other` failures by errno: `EPROTOTYPE 3, ENOENT 1`.
fn other_detail(r: &ConnectReport) -> String {
    r.other_errors
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A duration in the largest unit that keeps it whole: `1h`, `2m`, `10s`, `1500ms` (and
/// Debug's `1.5ms` below a millisecond).
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if d.is_zero() || !d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{d:?}")
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A microsecond value in the unit that keeps it readable: `16us`, `5.01ms`, `19.7s`
/// (JSON keeps plain microseconds).
pub fn human_us(us: f64) -> String {
    if us < 1_000.0 {
        format!("{}us", (us * 10.0).round() / 10.0)
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1_000.0)
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ConnectErrors, Transport};

    fn report() -> ConnectReport {
        let mut errors = ConnectErrors::default();
        errors.add(ErrorKind::Refused);
        let mut latency = crate::latency::new_histogram();
        latency.record_n(10, 1).unwrap();
        latency.record_n(20, 1).unwrap();
        ConnectReport {
            target: listenlab_common::Endpoint::Inet("127.0.0.1:9000".parse().unwrap()),
            transport: Transport::Tcp,
            runs: 1,
            attempted: 3,
            connected: 2,
            failed: 1,
            errors,
            connect_latency_us: LatencySummary::from_histogram(&latency),
            elapsed_ms: 1.5,
            connect_rate_per_s: 1333.3,
            target_rate_per_s: None,
            concurrency: 3,
            timeout_ms: 5000,
            source_addresses: 0,
            held_ms: 0,
            closed_by_peer: 0,
            unwatched: 0,
            interrupted: false,
            other_errors: Default::default(),
            request_bytes: 0,
            exchange_failed: 0,
            exchange_errors: Default::default(),
            response_bytes: 0,
            response_bytes_max: 0,
            first_byte_latency_us: None,
            complete_latency_us: None,
            connect_latency_raw_us: None,
            first_byte_latency_raw_us: None,
            complete_latency_raw_us: None,
            schedule_lag_us: None,
            duration_ms: None,
            unfinished: 0,
        }
    }

    #[test]
    fn duration_runs_say_their_loop_and_what_was_cut() {
        let mut r = report();
        r.duration_ms = Some(10_000);
        r.unfinished = 3;
        let text = render_text(&r);
        assert!(text.contains("closed loop for 10s"), "{text}");
        assert!(text.contains("1 failed, 3 unfinished"), "{text}");
        r.target_rate_per_s = Some(200.0);
        r.duration_ms = Some(1500);
        assert!(render_text(&r).contains("open loop 200/s for 1500ms"));
        r.duration_ms = Some(3_600_000);
        assert!(render_text(&r).contains("open loop 200/s for 1h"));
    }

    #[test]
    fn durations_read_in_the_largest_whole_unit() {
        let table = [
            (Duration::ZERO, "0ns"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(2500), "2500ms"),
            (Duration::from_secs(10), "10s"),
            (Duration::from_secs(150), "150s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(7200), "2h"),
        ];
        for (d, want) in table {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn latencies_read_in_a_fitting_unit() {
        assert_eq!(human_us(16.0), "16us");
        assert_eq!(human_us(39.44), "39.4us");
        assert_eq!(human_us(5_005_311.0), "5.01s");
        assert_eq!(human_us(1_234.0), "1.23ms");
    }

    #[test]
    fn json_is_one_line_ending_in_newline() {
        let json = render_json(&report());
        assert!(json.ends_with("}\n"));
        assert_eq!(json.lines().count(), 1);
        // The same bytes as before the report was typed (issue 10), plus `unwatched`, the
        // exchange fields of issue 7, `runs` and the histograms.
        let histogram = serde_json::to_string(&report().connect_latency_us.histogram).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"target":"127.0.0.1:9000","transport":"tcp","runs":1,"attempted":3,"#,
                r#""connected":2,"#,
                r#""failed":1,"errors":{"refused":1,"timeout":0,"would_block":0,"#,
                r#""addr_not_available":0,"too_many_files":0,"reset":0,"unreachable":0,"#,
                r#""permission_denied":0,"other":0},"other_errors":{},"#,
                r#""connect_latency_us":{"count":2,"min":10,"mean":15.0,"p50":10,"p90":20,"#,
                r#""p99":20,"p999":20,"max":20,"histogram":HIST},"elapsed_ms":1.5,"#,
                r#""connect_rate_per_s":1333.3,"#,
                r#""target_rate_per_s":null,"concurrency":3,"timeout_ms":5000,"#,
                r#""source_addresses":0,"held_ms":0,"closed_by_peer":0,"unwatched":0,"#,
                r#""interrupted":false,"request_bytes":0,"exchange_failed":0,"#,
                r#""exchange_errors":{"no_response":0,"read_timeout":0,"reset":0,"other":0},"#,
                r#""response_bytes":0,"response_bytes_max":0,"first_byte_latency_us":null,"#,
                r#""complete_latency_us":null,"connect_latency_raw_us":null,"#,
                r#""first_byte_latency_raw_us":null,"complete_latency_raw_us":null,"#,
                r#""schedule_lag_us":null,"duration_ms":null,"unfinished":0}"#,
                "\n"
            )
            .replace("HIST", &histogram)
        );
    }

    #[test]
    fn unwatched_connections_show_only_when_there_are_some() {
        let mut r = report();
        assert!(render_text(&r).contains("held           0 ms, 0 closed by peer\n"));
        r.unwatched = 2;
        assert!(
            render_text(&r).contains("0 closed by peer (2 not watched: their closes are unknown)")
        );
    }

    #[test]
    fn text_is_aligned() {
        let text = render_text(&report());
        let starts: Vec<usize> = text
            .lines()
            .map(|line| {
                line.find("  ").unwrap()
                    + line[line.find("  ").unwrap()..].find(|c| c != ' ').unwrap()
            })
            .collect();
        assert!(starts.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(text.contains("errors         refused 1"), "{text}");
        assert!(text.contains("p99 20"), "{text}");
    }

    #[test]
    fn other_failures_name_their_errno() {
        let mut r = report();
        (0..3).for_each(|_| r.errors.add(ErrorKind::Other));
        r.other_errors = [("ENOENT".to_owned(), 1), ("EPROTOTYPE".to_owned(), 2)].into();
        let text = render_text(&r);
        assert!(
            text.contains("errors         refused 1, other 3 (ENOENT 1, EPROTOTYPE 2)"),
            "{text}"
        );
        assert!(render_json(&r).contains(r#""other_errors":{"ENOENT":1,"EPROTOTYPE":2}"#));
    }
}
