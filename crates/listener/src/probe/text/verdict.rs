//! The verdicts: one line per trigger mode and per scenario, summarising across families
//! what the tables show (where the kernel differs from the strict-edge reading, how many
//! waiters woke, whether accept() is FIFO, what the backlog holds). What an observed
//! several-waiters row says is its scenario's own ([`crate::probe::scenarios::Spec::verdict`]).

use super::words::{connect_outcome, distinct, grouped, join_all, not_counted};
use crate::poller::Trigger;
use crate::probe::report::{ConnectState, ProbeReport, WaitersRecord};
use crate::socket::Family;

/// The verdict lines for `report`, in report order.
pub fn lines(report: &ProbeReport) -> Vec<String> {
    let mut out = single(report);
    out.extend(waiters(&report.waiters));
    out.extend(overflow(report));
    out.extend(unobserved(&report.waiters));
    out
}

/// Names the rows whose scenario could not be observed, so nobody reads their empty counts
/// as a finding; nothing when every row was observed.
fn unobserved(records: &[WaitersRecord]) -> Option<String> {
    let rows: Vec<String> = records
        .iter()
        .filter(|r| !r.observed)
        .map(|r| format!("{} {} {}", r.family, r.scenario, r.mode))
        .collect();
    (!rows.is_empty()).then(|| {
        format!(
            "not observed (a helper timed out, see the details): {}; every other row was \
             observed",
            rows.join(", ")
        )
    })
}

/// The trigger modes with at least one single-waiter cell that differs from the
/// strict-edge reading, in report order.
pub fn differing_triggers(report: &ProbeReport) -> Vec<Trigger> {
    let differing: Vec<_> = report.single_waiter.iter().filter(|r| r.differs).collect();
    distinct(&differing, |r| r.trigger)
}

fn single(report: &ProbeReport) -> Vec<String> {
    let records = &report.single_waiter;
    distinct(records, |r| r.trigger)
        .into_iter()
        .map(|trigger| {
            let mine: Vec<_> = records.iter().filter(|r| r.trigger == trigger).collect();
            let differing: Vec<_> = mine.iter().filter(|r| r.differs).collect();
            if differing.is_empty() {
                return format!(
                    "{trigger}: matches the strict-edge reading in all {} cells",
                    mine.len()
                );
            }
            let kinds: Vec<_> = differing
                .iter()
                .map(|r| {
                    let more = (r.first, r.second) > (r.strict_edge_first, r.strict_edge_second);
                    let kind = if more {
                        "an event where the strict reading predicts none"
                    } else {
                        "fewer events than the strict reading predicts"
                    };
                    (r.step, kind)
                })
                .collect();
            let families = join_all(&distinct(&differing, |r| r.family), ", ");
            let by_kind: Vec<String> = distinct(&kinds, |(_, k)| *k)
                .into_iter()
                .map(|kind| {
                    let steps: Vec<_> = distinct(&kinds, |&(s, k)| (s, k))
                        .into_iter()
                        .filter(|(_, k)| *k == kind)
                        .map(|(s, _)| s)
                        .collect();
                    format!("{kind} after {}", join_all(&steps, ", "))
                })
                .collect();
            format!(
                "{trigger}: {} of {} cells differ ({families}): {}",
                differing.len(),
                mine.len(),
                by_kind.join("; ")
            )
        })
        .collect()
}

fn waiters(records: &[WaitersRecord]) -> Vec<String> {
    distinct(records, |r| (r.scenario, r.mode))
        .into_iter()
        .map(|(scenario, mode)| {
            let pairs: Vec<(Family, String)> = records
                .iter()
                .filter(|r| r.scenario == scenario && r.mode == mode)
                .map(|r| (r.family, waiters_value(r)))
                .collect();
            format!("{scenario} {mode}: {}", grouped(&pairs))
        })
        .collect()
}

fn waiters_value(r: &WaitersRecord) -> String {
    not_counted(r, "not run").unwrap_or_else(|| r.scenario.spec().verdict(r))
}

fn overflow(report: &ProbeReport) -> Vec<String> {
    let pairs: Vec<(Family, String)> = report
        .overflow
        .iter()
        .map(|r| {
            let value = match &r.error {
                Some(error) => format!("not run: {error}"),
                None => {
                    let beyond: Vec<String> = r
                        .extra_connects
                        .iter()
                        .filter(|c| c.state != ConnectState::Established)
                        .map(|c| connect_outcome(c.result, c.state))
                        .collect();
                    let beyond = distinct(&beyond, |o| o.as_str()).join("/");
                    let late = match r.events_after_accept.first() {
                        Some(e) => format!(", and one got in {} ms after accept_one", e.at_ms),
                        None => String::new(),
                    };
                    format!(
                        "backlog {} held {} connections; the connects beyond: {}{late}",
                        r.backlog,
                        r.queue_len,
                        if beyond.is_empty() { "none" } else { &beyond },
                    )
                }
            };
            (r.family, value)
        })
        .collect();
    if pairs.is_empty() {
        Vec::new()
    } else {
        vec![format!("overflow: {}", grouped(&pairs))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::report::Mode;
    use crate::probe::scenarios::Scenario;
    use crate::probe::single::Step;
    use crate::probe::text::fixtures::{record, report};

    #[test]
    fn a_mode_that_matches_says_so_and_one_that_differs_names_the_steps() {
        let lines = lines(&report(vec![
            record(Trigger::Level, Step::Connect2, (1, 1), (1, 1)),
            record(Trigger::Edge, Step::Connect1, (1, 0), (1, 0)),
            record(Trigger::Edge, Step::Connect2, (1, 0), (0, 0)),
            record(Trigger::Edge, Step::Connect3, (1, 0), (0, 0)),
        ]));
        assert_eq!(
            lines[0],
            "level: matches the strict-edge reading in all 1 cells"
        );
        assert_eq!(
            lines[1],
            "edge: 2 of 3 cells differ (unix): an event where the strict reading predicts \
             none after connect_2, connect_3"
        );
    }

    #[test]
    fn rows_that_could_not_be_observed_are_named() {
        let row = |family| {
            WaitersRecord::new(family, Scenario::OwnEpoll, Mode::Trigger(Trigger::Edge), 4)
        };
        let lost = WaitersRecord::unobserved(
            row(Family::Inet),
            "a waiter did not get ready within 5s".into(),
        );
        let mut r = report(Vec::new());
        r.waiters = vec![row(Family::Unix), lost];
        let said = lines(&r);
        assert!(
            said[0].contains("not observed: a waiter did not get ready within 5s (inet)"),
            "{said:?}"
        );
        assert!(
            said.last()
                .unwrap()
                .contains("not observed (a helper timed out")
                && said.last().unwrap().contains("inet own_epoll edge"),
            "{said:?}"
        );
        r.waiters.pop();
        assert!(!lines(&r).iter().any(|l| l.contains("timed out")));
    }
}
