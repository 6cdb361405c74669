//! The text report: one aligned table per family for the single-waiter matrix (observed
//! counts with the strict-edge prediction beside them), the several-waiters and overflow
//! tables, then the verdicts ([`super::verdict`]) and "What this means"
//! ([`super::meaning`]). A several-waiters row's details are its scenario's own
//! ([`crate::probe::scenarios::Spec::details`]).

use std::fmt::Write as _;

use super::meaning::WHAT_THIS_MEANS;
use super::verdict;
use super::words::{connect_outcome, distinct, join, join_all, not_counted, wrap};
use crate::probe::report::{
    ConnectFrom, OverflowRecord, ProbeReport, SingleWaiterRecord, WaitersRecord,
};
use crate::table::Table;

/// The whole text report.
pub fn text(report: &ProbeReport) -> String {
    let mut out = format!(
        "epoll-socket-test on Linux {}, single-waiter connects from {}, {} ms\n",
        report.kernel,
        connect_from_words(report.connect_from),
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

fn connect_from_words(from: ConnectFrom) -> &'static str {
    match from {
        ConnectFrom::Same => "the probe itself",
        ConnectFrom::Child => "a forked child",
        ConnectFrom::Thread => "a thread",
    }
}

/// One cell: `first second (predicted first second)`, `*` where they differ, `!` where
/// the step's syscall was refused.
fn cell(r: &SingleWaiterRecord) -> String {
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
    for family in distinct(records, |r| r.family) {
        let rows: Vec<&SingleWaiterRecord> =
            records.iter().filter(|r| r.family == family).collect();
        let _ = writeln!(out, "\n  {family}  {}", rows[0].address);
        let triggers = distinct(&rows, |r| r.trigger);
        let mut header = vec!["step".to_owned(), "queue".to_owned()];
        header.extend(triggers.iter().map(ToString::to_string));
        let mut table = Table::new(header);
        for step in distinct(&rows, |r| r.step) {
            let in_step: Vec<&&SingleWaiterRecord> =
                rows.iter().filter(|r| r.step == step).collect();
            let mut line = vec![step.to_string(), in_step[0].queue_len.to_string()];
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
        let flags = distinct(&rows, |r| r.first_flags.to_string());
        let flags: Vec<&str> = flags
            .iter()
            .map(String::as_str)
            .filter(|f| !f.is_empty())
            .collect();
        if !flags.is_empty() {
            let _ = writeln!(out, "  flags returned: {}", flags.join(", "));
        }
        for (step, error) in distinct(&rows, |r| (r.step, r.error.as_deref())) {
            let Some(error) = error else { continue };
            let who: Vec<_> = rows
                .iter()
                .filter(|r| r.step == step && r.error.as_deref() == Some(error))
                .map(|r| r.trigger)
                .collect();
            let _ = writeln!(out, "  ! {step}: {error} ({})", join_all(&who, ", "));
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
            r.family.to_string(),
            r.scenario.to_string(),
            r.mode.to_string(),
            woken,
            per_waiter,
            waiters_details(r),
        ]);
    }
    out.push_str(&table.render(2));
    out
}

fn waiters_details(r: &WaitersRecord) -> String {
    not_counted(r, "error").unwrap_or_else(|| r.scenario.spec().details(r))
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
            table.row([r.family.to_string(), format!("error: {error}")]);
            continue;
        }
        let extra: Vec<String> = r
            .extra_connects
            .iter()
            .map(|c| format!("#{} {}", c.index, connect_outcome(c.result, c.state)))
            .collect();
        let delta = |d: Option<u64>| d.map_or_else(|| "n/a".to_owned(), |d| format!("+{d}"));
        let after: Vec<String> = r
            .events_after_accept
            .iter()
            .map(|e| format!("{} at {} ms", e.flags, e.at_ms))
            .collect();
        table.row([
            r.family.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::Trigger;
    use crate::probe::single::Step;
    use crate::probe::text::fixtures::{record, report};

    #[test]
    fn cells_show_the_prediction_and_mark_differences_and_refusals() {
        assert_eq!(
            cell(&record(Trigger::Edge, Step::Connect2, (1, 0), (0, 0))),
            "1 0 (0 0)*"
        );
        assert_eq!(
            cell(&record(Trigger::Level, Step::Connect2, (1, 1), (1, 1))),
            "1 1 (1 1)"
        );
        let mut refused = record(Trigger::Exclusive, Step::CtlModSameFlags, (1, 1), (1, 1));
        refused.error = Some("epoll_ctl(EPOLL_CTL_MOD): EINVAL".into());
        assert_eq!(cell(&refused), "1 1 (1 1)!");
    }

    #[test]
    fn the_single_table_has_a_column_per_trigger_and_lists_refusals() {
        let mut refused = record(Trigger::Exclusive, Step::CtlModSameFlags, (1, 1), (1, 1));
        refused.error = Some("epoll_ctl(EPOLL_CTL_MOD): EINVAL".into());
        let text = text(&report(vec![
            record(Trigger::Level, Step::CtlModSameFlags, (1, 1), (1, 1)),
            record(Trigger::Edge, Step::CtlModSameFlags, (1, 0), (0, 0)),
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
}
