//! The text report: one aligned table per family for the single-waiter matrix (observed
//! counts with the strict-edge prediction beside them), the several-waiters and overflow
//! tables, then the verdicts ([`super::verdict`]) and "What this means"
//! ([`super::meaning`]). JSON output is the report itself, serialised.

use std::fmt::Write as _;

use listenlab_common::report::probe::{
    OverflowRecord, ProbeReport, SingleWaiterRecord, WaitersRecord,
};

use super::meaning::WHAT_THIS_MEANS;
use super::table::Table;
use super::verdict;

/// The whole text report.
pub fn text(report: &ProbeReport) -> String {
    let mut out = format!(
        "epoll-socket-test on Linux {}, single-waiter connects from {}, {} ms\n",
        report.kernel,
        connect_from_words(&report.connect_from),
        report.elapsed_ms
    );
    if !report.single_waiter.is_empty() {
        out.push_str(&single_section(&report.single_waiter));
    }
    if !report.waiters.is_empty() {
        out.push_str(&waiters_section(&report.waiters));
    }
    if !report.overflow.is_empty() {
        out.push_str(&overflow_section(&report.overflow));
    }
    out.push_str("\nVerdicts\n");
    for line in verdict::lines(report) {
        out.push_str(&wrap(&line, 90, "  - ", "    "));
    }
    out.push_str("\nWhat this means\n");
    out.push_str(WHAT_THIS_MEANS);
    out
}

fn connect_from_words(from: &str) -> &'static str {
    match from {
        "same" => "the probe itself",
        "thread" => "a thread",
        _ => "a forked child",
    }
}

/// The distinct values of `key` over `items`, in first-seen order.
pub fn distinct<'a, T, K: PartialEq>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Vec<K> {
    let mut seen = Vec::new();
    for item in items {
        let k = key(item);
        if !seen.contains(&k) {
            seen.push(k);
        }
    }
    seen
}

/// One cell: `first second (predicted first second)`, `*` where they differ, `!` where
/// the step's syscall was refused.
pub fn cell(r: &SingleWaiterRecord) -> String {
    format!(
        "{} {} ({} {}){}{}",
        r.first,
        r.second,
        r.strict_edge_first,
        r.strict_edge_second,
        if r.differs { "*" } else { "" },
        if r.error.is_some() { "!" } else { "" },
    )
}

fn single_section(records: &[SingleWaiterRecord]) -> String {
    let mut out = String::from(
        "\nSingle waiter: after each step, epoll_wait(timeout 0) twice. Each cell shows both\n\
         counts, then (what the strict \"edge = empty to non-empty\" reading predicts);\n\
         * marks a difference, ! a syscall the kernel refused. queue = accept-queue length.\n",
    );
    for family in distinct(records, |r| r.family.as_str()) {
        let rows: Vec<&SingleWaiterRecord> =
            records.iter().filter(|r| r.family == family).collect();
        let _ = writeln!(out, "\n  {family}  {}", rows[0].address);
        let triggers = distinct(&rows, |r| r.trigger.as_str());
        let mut header = vec!["step", "queue"];
        header.extend(triggers.iter().copied());
        let mut table = Table::new(header);
        for step in distinct(&rows, |r| r.step.as_str()) {
            let in_step: Vec<&&SingleWaiterRecord> =
                rows.iter().filter(|r| r.step == step).collect();
            let mut line = vec![step.to_owned(), in_step[0].queue_len.to_string()];
            for trigger in &triggers {
                line.push(
                    in_step
                        .iter()
                        .find(|r| r.trigger == *trigger)
                        .map_or_else(String::new, |r| cell(r)),
                );
            }
            table.row(line);
        }
        out.push_str(&table.render(2));
        let flags = distinct(&rows, |r| r.first_flags.join("|"));
        let flags: Vec<&str> = flags
            .iter()
            .map(String::as_str)
            .filter(|f| !f.is_empty())
            .collect();
        if !flags.is_empty() {
            let _ = writeln!(out, "  flags returned: {}", flags.join(", "));
        }
        for (step, error) in distinct(&rows, |r| (r.step.as_str(), r.error.as_deref())) {
            let Some(error) = error else { continue };
            let who: Vec<&str> = rows
                .iter()
                .filter(|r| r.step == step && r.error.as_deref() == Some(error))
                .map(|r| r.trigger.as_str())
                .collect();
            let _ = writeln!(out, "  ! {step}: {error} ({})", who.join(", "));
        }
    }
    out
}

fn waiters_section(records: &[WaitersRecord]) -> String {
    let k = records.first().map_or(0, |r| r.waiters);
    let mut out = format!(
        "\nSeveral waiters: {k} forked processes, each confirmed asleep before the connect.\n\
         own_epoll/shared_epoll: one connect, nobody accepts; woken = returned from epoll_wait.\n\
         accept_loop: each woken waiter accepts until EAGAIN (woken and accepting waiters are\n\
         counted apart). blocking_accept: processes asleep in accept(), which one gets each\n\
         connection. reuseport: {k} SO_REUSEPORT listeners.\n\n",
    );
    let mut table = Table::new([
        "family",
        "scenario",
        "mode",
        "woken",
        "per waiter",
        "details",
    ]);
    for r in records {
        let (woken, per_waiter) = if r.error.is_some() {
            ("-".to_owned(), String::new())
        } else {
            (format!("{}/{}", r.woken, r.waiters), join(&r.per_waiter))
        };
        table.row([
            r.family.clone(),
            r.scenario.clone(),
            r.mode.clone(),
            woken,
            per_waiter,
            waiters_details(r),
        ]);
    }
    out.push_str(&table.render(2));
    out
}

fn waiters_details(r: &WaitersRecord) -> String {
    match &r.error {
        Some(error) if !r.observed => return format!("not observed: {error}"),
        Some(error) => return format!("error: {error}"),
        None => {}
    }
    match r.scenario.as_str() {
        "accept_loop" => format!(
            "{} connections, accepted by {}/{}; wakeups {}, of which empty {}",
            r.connections,
            r.accepting.unwrap_or(0),
            r.waiters,
            join(&r.wakeups_per_waiter),
            join(&r.empty_wakeups_per_waiter)
        ),
        "blocking_accept" => format!(
            "order {} ({})",
            join(&r.order),
            if r.fifo == Some(true) {
                "FIFO"
            } else {
                "not FIFO"
            }
        ),
        "reuseport" => format!("{} connections over {} listeners", r.connections, r.waiters),
        _ => format!(
            "asleep in {}",
            distinct(&r.blocked_in, |w| w.as_str()).join(", ")
        ),
    }
}

fn overflow_section(records: &[OverflowRecord]) -> String {
    let backlog = records.first().map_or(0, |r| r.backlog);
    let mut out = format!(
        "\nBacklog overflow: listen(backlog {backlog}), {} non-blocking connects, nobody\n\
         accepting; events = edge-triggered events over the connects; then one accept.\n\n",
        backlog + 3
    );
    let mut table = Table::new([
        "family",
        "queue/max",
        "events",
        "connects beyond the backlog",
        "ListenOverflows",
        "ListenDrops",
        "after accept_one",
    ]);
    for r in records {
        if let Some(error) = &r.error {
            table.row([r.family.clone(), format!("error: {error}")]);
            continue;
        }
        let extra: Vec<String> = r
            .extra_connects
            .iter()
            .map(|c| format!("#{} {}", c.index, connect_outcome(&c.result, &c.state)))
            .collect();
        let delta = |d: Option<u64>| d.map_or_else(|| "n/a".to_owned(), |d| format!("+{d}"));
        let after: Vec<String> = r
            .events_after_accept
            .iter()
            .map(|e| format!("{} at {} ms", e.flags.join("|"), e.at_ms))
            .collect();
        table.row([
            r.family.clone(),
            format!("{}/{}", r.queue_len, r.queue_max),
            r.events.to_string(),
            extra.join(", "),
            delta(r.listen_overflows_delta),
            delta(r.listen_drops_delta),
            format!(
                "queue {} -> {} in {} ms; events: {}",
                r.queue_len_after_accept,
                r.queue_len_after_window,
                r.window_ms,
                if after.is_empty() {
                    "none".to_owned()
                } else {
                    after.join(", ")
                }
            ),
        ]);
    }
    out.push_str(&table.render(2));
    out
}

/// Numbers joined with spaces.
pub fn join(values: &[u64]) -> String {
    values
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Word-wraps `text` to `width` columns: `first` before the first line, `rest` before
/// the others; newline-terminated.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_owned();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// A connect's outcome in a word or two: `connected`, `established`, `pending` (TCP
/// handshake not complete: the SYN was dropped), `EAGAIN`, or `result/state`.
pub fn connect_outcome(result: &str, state: &str) -> String {
    match (result, state) {
        ("connected", _) => "connected".to_owned(),
        ("in_progress", "established" | "pending") => state.to_owned(),
        ("would_block", _) => "EAGAIN".to_owned(),
        _ => format!("{result}/{state}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(
        trigger: &str,
        step: &str,
        seen: (u64, u64),
        predicted: (u64, u64),
    ) -> SingleWaiterRecord {
        SingleWaiterRecord {
            family: "unix".into(),
            address: "/tmp/x.sock".into(),
            trigger: trigger.into(),
            connect_from: "same".into(),
            step: step.into(),
            first: seen.0,
            second: seen.1,
            first_flags: if seen.0 > 0 {
                vec!["IN".into()]
            } else {
                Vec::new()
            },
            second_flags: Vec::new(),
            strict_edge_first: predicted.0,
            strict_edge_second: predicted.1,
            differs: seen != predicted,
            queue_len: 2,
            error: None,
        }
    }

    pub(crate) fn report(single: Vec<SingleWaiterRecord>) -> ProbeReport {
        ProbeReport {
            kernel: "6.0".into(),
            connect_from: "same".into(),
            single_waiter: single,
            waiters: Vec::new(),
            overflow: Vec::new(),
            differences: 0,
            elapsed_ms: 5,
        }
    }

    #[test]
    fn cells_show_the_prediction_and_mark_differences_and_refusals() {
        assert_eq!(
            cell(&record("edge", "connect_2", (1, 0), (0, 0))),
            "1 0 (0 0)*"
        );
        assert_eq!(
            cell(&record("level", "connect_2", (1, 1), (1, 1))),
            "1 1 (1 1)"
        );
        let mut refused = record("exclusive", "ctl_mod_same_flags", (1, 1), (1, 1));
        refused.error = Some("epoll_ctl(EPOLL_CTL_MOD): EINVAL".into());
        assert_eq!(cell(&refused), "1 1 (1 1)!");
    }

    #[test]
    fn the_single_table_has_a_column_per_trigger_and_lists_refusals() {
        let mut refused = record("exclusive", "ctl_mod_same_flags", (1, 1), (1, 1));
        refused.error = Some("epoll_ctl(EPOLL_CTL_MOD): EINVAL".into());
        let text = text(&report(vec![
            record("level", "ctl_mod_same_flags", (1, 1), (1, 1)),
            record("edge", "ctl_mod_same_flags", (1, 0), (0, 0)),
            refused,
        ]));
        let header = text
            .lines()
            .find(|l| l.trim_start().starts_with("step"))
            .unwrap();
        assert_eq!(
            header.split_whitespace().collect::<Vec<_>>(),
            ["step", "queue", "level", "edge", "exclusive"]
        );
        let row = text
            .lines()
            .find(|l| l.contains("ctl_mod_same_flags  "))
            .unwrap();
        assert!(
            row.contains("1 0 (0 0)*") && row.contains("1 1 (1 1)!"),
            "{row}"
        );
        assert!(
            text.contains("! ctl_mod_same_flags: epoll_ctl(EPOLL_CTL_MOD): EINVAL (exclusive)")
        );
        assert!(text.contains("flags returned: IN"));
        assert!(text.contains("What this means"));
    }

    #[test]
    fn wrap_breaks_between_words() {
        assert_eq!(wrap("aa bb cc", 7, "- ", "  "), "- aa bb\n  cc\n");
    }

    #[test]
    fn connect_outcomes_read_as_words() {
        assert_eq!(connect_outcome("would_block", "not_connected"), "EAGAIN");
        assert_eq!(connect_outcome("in_progress", "pending"), "pending");
        assert_eq!(
            connect_outcome("ECONNREFUSED", "not_connected"),
            "ECONNREFUSED/not_connected"
        );
    }
}
