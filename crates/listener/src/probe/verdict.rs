//! The verdicts: one line per trigger mode and per scenario, summarising across families
//! what the tables show (where the kernel differs from the strict-edge reading, how many
//! waiters woke, whether accept() is FIFO, what the backlog holds).

use listenlab_common::report::probe::{ProbeReport, WaitersRecord};

use super::render::{connect_outcome, distinct, join};

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
pub fn differing_triggers(report: &ProbeReport) -> Vec<&str> {
    let differing: Vec<_> = report.single_waiter.iter().filter(|r| r.differs).collect();
    distinct(&differing, |r| r.trigger.as_str())
}

/// `value (family, family), other (family)`: families grouped by equal values.
pub fn grouped(pairs: &[(String, String)]) -> String {
    distinct(pairs, |(_, value)| value.as_str())
        .into_iter()
        .map(|value| {
            let families: Vec<&str> = pairs
                .iter()
                .filter(|(_, v)| v == value)
                .map(|(f, _)| f.as_str())
                .collect();
            format!("{value} ({})", families.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn single(report: &ProbeReport) -> Vec<String> {
    let records = &report.single_waiter;
    distinct(records, |r| r.trigger.as_str())
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
            let kinds: Vec<(String, String)> = differing
                .iter()
                .map(|r| {
                    let more = (r.first, r.second) > (r.strict_edge_first, r.strict_edge_second);
                    let kind = if more {
                        "an event where the strict reading predicts none"
                    } else {
                        "fewer events than the strict reading predicts"
                    };
                    (r.step.clone(), kind.to_owned())
                })
                .collect();
            let families = distinct(&differing, |r| r.family.as_str()).join(", ");
            let by_kind: Vec<String> = distinct(&kinds, |(_, k)| k.as_str())
                .into_iter()
                .map(|kind| {
                    let steps: Vec<&str> = distinct(&kinds, |(s, k)| (s.as_str(), k.as_str()))
                        .into_iter()
                        .filter(|(_, k)| *k == kind)
                        .map(|(s, _)| s)
                        .collect();
                    format!("{kind} after {}", steps.join(", "))
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
    distinct(records, |r| (r.scenario.as_str(), r.mode.as_str()))
        .into_iter()
        .map(|(scenario, mode)| {
            let pairs: Vec<(String, String)> = records
                .iter()
                .filter(|r| r.scenario == scenario && r.mode == mode)
                .map(|r| (r.family.clone(), waiters_value(r)))
                .collect();
            format!("{scenario} {mode}: {}", grouped(&pairs))
        })
        .collect()
}

fn waiters_value(r: &WaitersRecord) -> String {
    match &r.error {
        Some(error) if !r.observed => return format!("not observed: {error}"),
        Some(error) => return format!("not run: {error}"),
        None => {}
    }
    match r.scenario.as_str() {
        "accept_loop" => format!(
            "{} connections took {} wakeups, {} of them empty; {} of {} waiters woke, {} \
             accepted",
            r.connections,
            r.wakeups_per_waiter.iter().sum::<u64>(),
            r.empty_wakeups_per_waiter.iter().sum::<u64>(),
            r.woken,
            r.waiters,
            r.accepting.unwrap_or(0)
        ),
        "blocking_accept" => match r.fifo {
            Some(true) => "first in, first out".to_owned(),
            _ => format!("not FIFO: {}", join(&r.order)),
        },
        "reuseport" => {
            let min = r.per_waiter.iter().min().copied().unwrap_or(0);
            let max = r.per_waiter.iter().max().copied().unwrap_or(0);
            format!(
                "{} connections spread {min}..{max} per listener",
                r.connections
            )
        }
        _ => format!("{} of {} waiters woke", r.woken, r.waiters),
    }
}

fn overflow(report: &ProbeReport) -> Vec<String> {
    let pairs: Vec<(String, String)> = report
        .overflow
        .iter()
        .map(|r| {
            let value = match &r.error {
                Some(error) => format!("not run: {error}"),
                None => {
                    let beyond: Vec<String> = r
                        .extra_connects
                        .iter()
                        .filter(|c| c.state != "established")
                        .map(|c| connect_outcome(&c.result, &c.state))
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
            (r.family.clone(), value)
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
    use crate::probe::render::tests::{record, report};

    #[test]
    fn a_mode_that_matches_says_so_and_one_that_differs_names_the_steps() {
        let lines = lines(&report(vec![
            record("level", "connect_2", (1, 1), (1, 1)),
            record("edge", "connect_1", (1, 0), (1, 0)),
            record("edge", "connect_2", (1, 0), (0, 0)),
            record("edge", "connect_3", (1, 0), (0, 0)),
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
        use crate::probe::waiters::blank_record;
        use crate::socket::Family;
        let mut lost = blank_record(Family::Inet, "own_epoll", "edge", 4);
        lost.error = Some("a waiter did not get ready within 5s".into());
        lost.observed = false;
        let mut r = report(Vec::new());
        r.waiters = vec![blank_record(Family::Unix, "own_epoll", "edge", 4), lost];
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

    #[test]
    fn families_with_equal_values_are_grouped() {
        let pairs = [
            ("unix".to_owned(), "1 of 4".to_owned()),
            ("inet".to_owned(), "2 of 4".to_owned()),
            ("inet6".to_owned(), "1 of 4".to_owned()),
        ];
        assert_eq!(grouped(&pairs), "1 of 4 (unix, inet6); 2 of 4 (inet)");
    }
}
