//! The counting rule: [`ForkCounts`], what each [`Event`] adds to it (the one place that
//! counts, so every line printed is counted once), and the accounting identities checked
//! once every child is reaped.

use serde::{Deserialize, Serialize};

use super::event::{ChildEnd, Event};
use super::report::{ChildOutcome, IdleSignal};

/// The counts of a run. [`ForkCounts::count`] updates them as the observer reports each event, so every line
/// printed is counted once; the summary carries them (flattened into its JSON object).
/// Accounting identities, checked by [`ForkCounts::check`] once every child is reaped:
/// - `forks = children_completed + empty_children + idle_timeout_children +
///   children_killed_at_exit + children_busy_at_exit + children_died`;
/// - `accepted = served + first_byte_timeouts + closed_without_request +
///   interrupted_connections`: every accepted
///   connection is counted once, by how it ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkCounts {
    /// `epoll_wait` returns that reported the listener ready (one `wakeup` line each).
    pub wakeups: u64,
    /// Listener readiness events handled. Equal to `wakeups` by construction: the tool
    /// registers one listener, once, and epoll reports a registered fd at most once per
    /// `epoll_wait` (its readiness is merged into one event), so each wakeup brings exactly
    /// one listener event. Kept as its own field because the original tool's summary names
    /// both; a tool with several listeners would see them differ.
    pub events: u64,
    /// Children forked.
    pub forks: u64,
    /// Per-event: listener events at the `--max-children` cap, for which no child was forked.
    pub refused_forks: u64,
    /// `fork()` calls that failed (e.g. `EAGAIN`).
    pub fork_failures: u64,
    /// Times forking was throttled after a burst of children dying (`fork_throttled`).
    pub fork_throttles: u64,
    /// Connections accepted by children.
    pub accepted: u64,
    /// Accepted connections served to the end (`--sleep` elapsed, then closed).
    pub served: u64,
    /// Ondemand `--request-starts first-byte`: connections closed after 5 s without a byte.
    pub first_byte_timeouts: u64,
    /// `--request-starts first-byte`: connections the client closed without sending a
    /// byte; the child accepts again at once (PHP-FPM's failed read), nothing is served.
    pub closed_without_request: u64,
    /// Accepted connections whose child exited before serving them to the end (stopped or
    /// died while holding one). Counted on their own, not derived: the child counts one
    /// before it leaves on SIGTERM, and the parent counts one for a child that died (a
    /// signal, a panic) while its scoreboard slot said it held a connection.
    pub interrupted_connections: u64,
    /// Children that exited on their own after serving (per-event: one connection; ondemand:
    /// `--max-requests`).
    pub children_completed: u64,
    /// Children forked that found nothing to accept.
    pub empty_children: u64,
    /// Ondemand children that exited because of the idle timeout.
    pub idle_timeout_children: u64,
    /// Children still waiting for a connection when the run stopped (killed at exit).
    pub children_killed_at_exit: u64,
    /// Children serving a connection when the run stopped.
    pub children_busy_at_exit: u64,
    /// Children that ended otherwise (a signal we did not send, an error, a panic).
    pub children_died: u64,
    /// PHP-FPM models: children forked at once to replace one that exited (PHP-FPM restarts
    /// every child that exits, unless it retired it for idleness and it exited quietly).
    pub children_replaced: u64,
    /// Most children running at once.
    pub max_concurrent_children: u64,
    /// Ondemand and dynamic: `server reached (pm.)max_children setting` warnings (once until
    /// the next fork).
    pub max_children_warnings: u64,
    /// Ondemand and dynamic: idle children told to exit (SIGQUIT).
    pub idle_kills: u64,
    /// Ondemand and dynamic: idle-killed children still idle one tick later, sent SIGKILL.
    pub idle_kills_escalated: u64,
    /// Dynamic: PHP-FPM's `seems busy` warnings (a tick forking at a spawn rate of 8 or
    /// more).
    pub seems_busy_warnings: u64,
}

impl ForkCounts {
    /// The counts as `(name, value)` pairs in declaration order, named as in JSON (for the
    /// text summary table).
    pub fn fields(&self) -> [(&'static str, u64); 23] {
        [
            ("wakeups", self.wakeups),
            ("events", self.events),
            ("forks", self.forks),
            ("refused_forks", self.refused_forks),
            ("fork_failures", self.fork_failures),
            ("fork_throttles", self.fork_throttles),
            ("accepted", self.accepted),
            ("served", self.served),
            ("first_byte_timeouts", self.first_byte_timeouts),
            ("closed_without_request", self.closed_without_request),
            ("interrupted_connections", self.interrupted_connections),
            ("children_completed", self.children_completed),
            ("empty_children", self.empty_children),
            ("idle_timeout_children", self.idle_timeout_children),
            ("children_killed_at_exit", self.children_killed_at_exit),
            ("children_busy_at_exit", self.children_busy_at_exit),
            ("children_died", self.children_died),
            ("children_replaced", self.children_replaced),
            ("max_concurrent_children", self.max_concurrent_children),
            ("max_children_warnings", self.max_children_warnings),
            ("idle_kills", self.idle_kills),
            ("idle_kills_escalated", self.idle_kills_escalated),
            ("seems_busy_warnings", self.seems_busy_warnings),
        ]
    }

    /// Counts one event: the only place a count changes.
    pub fn count(&mut self, event: &Event) {
        match event {
            Event::Wakeup { .. } => {
                self.wakeups += 1;
                self.events += 1;
            }
            Event::Forked(f) => {
                self.forks += 1;
                self.children_replaced += u64::from(f.replacement);
                self.max_concurrent_children = self.max_concurrent_children.max(f.running);
            }
            Event::RefusedFork { .. } => self.refused_forks += 1,
            Event::ForkFailed(_) => self.fork_failures += 1,
            Event::ForkThrottled(_) => self.fork_throttles += 1,
            Event::Accepted(a) => self.accepted += a.batch,
            Event::Exited(e) => self.child_ended(e.end),
            Event::MaxChildren { .. } => self.max_children_warnings += 1,
            Event::IdleKill(k) => match k.signal {
                IdleSignal::Sigquit => self.idle_kills += 1,
                IdleSignal::Sigkill => self.idle_kills_escalated += 1,
            },
            Event::SeemsBusy(_) => self.seems_busy_warnings += 1,
            Event::SpawnRate(_)
            | Event::Status(_)
            | Event::Queue { .. }
            | Event::Stopping { .. } => {}
        }
    }

    /// Counts a reaped child. Its accepted connections were already counted one by one as
    /// they were seen; here come its counts of how they ended, each kept on its own, so
    /// [`ForkCounts::check`] compares independent numbers.
    fn child_ended(&mut self, end: ChildEnd) {
        let count = match end.outcome {
            ChildOutcome::Completed => &mut self.children_completed,
            ChildOutcome::Empty => &mut self.empty_children,
            ChildOutcome::IdleTimeout => &mut self.idle_timeout_children,
            ChildOutcome::KilledAtExit => &mut self.children_killed_at_exit,
            ChildOutcome::BusyAtExit => &mut self.children_busy_at_exit,
            ChildOutcome::Died => &mut self.children_died,
        };
        *count += 1;
        self.served += end.served;
        self.first_byte_timeouts += end.first_byte_timeouts;
        self.closed_without_request += end.closed_without_request;
        self.interrupted_connections += end.interrupted;
    }

    /// Children reaped so far, over all outcomes.
    pub fn children_ended(&self) -> u64 {
        self.children_completed
            + self.empty_children
            + self.idle_timeout_children
            + self.children_killed_at_exit
            + self.children_busy_at_exit
            + self.children_died
    }

    /// The accounting identities (see the type's docs), once every child has been reaped.
    /// Returns the first one that fails.
    pub fn check(&self) -> Result<(), String> {
        if self.forks != self.children_ended() {
            return Err(format!(
                "forks {} != children ended {} ({self:?})",
                self.forks,
                self.children_ended()
            ));
        }
        let ended = self.served
            + self.first_byte_timeouts
            + self.closed_without_request
            + self.interrupted_connections;
        if self.accepted != ended {
            return Err(format!(
                "accepted {} != served {} + first-byte timeouts {} + closed without request {} \
                 + interrupted {}",
                self.accepted,
                self.served,
                self.first_byte_timeouts,
                self.closed_without_request,
                self.interrupted_connections
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(outcome: ChildOutcome, accepted: u64, served: u64, interrupted: u64) -> ChildEnd {
        ChildEnd {
            outcome,
            accepted,
            served,
            first_byte_timeouts: 0,
            closed_without_request: 0,
            interrupted,
        }
    }

    #[test]
    fn per_event_counts_add_up_over_every_outcome() {
        let mut t = ForkCounts::default();
        // Six forks: two served, one empty, one blocked at exit, one busy at exit, one killed
        // from outside before accepting.
        let ends = [
            end(ChildOutcome::Completed, 1, 1, 0),
            end(ChildOutcome::Completed, 1, 1, 0),
            end(ChildOutcome::Empty, 0, 0, 0),
            end(ChildOutcome::KilledAtExit, 0, 0, 0),
            end(ChildOutcome::BusyAtExit, 1, 0, 1),
            end(ChildOutcome::Died, 0, 0, 0),
        ];
        t.forks = ends.len() as u64;
        t.accepted = 3; // counted one by one as seen
        for e in ends {
            t.child_ended(e);
        }
        assert_eq!(t.check(), Ok(()));
        assert_eq!((t.served, t.interrupted_connections), (2, 1));
        let idle = t.empty_children + t.children_killed_at_exit + t.children_died;
        assert_eq!(t.forks, t.accepted + idle);
    }

    #[test]
    fn ondemand_counts_add_up_with_first_byte_timeouts() {
        let mut t = ForkCounts {
            forks: 2,
            accepted: 7,
            ..ForkCounts::default()
        };
        t.child_ended(ChildEnd {
            outcome: ChildOutcome::IdleTimeout,
            accepted: 4,
            served: 3,
            first_byte_timeouts: 1,
            closed_without_request: 0,
            interrupted: 0,
        });
        t.child_ended(end(ChildOutcome::BusyAtExit, 3, 2, 1));
        assert_eq!(t.check(), Ok(()));
        assert_eq!(t.interrupted_connections, 1);
    }

    #[test]
    fn a_missing_child_or_connection_is_caught() {
        let mut t = ForkCounts {
            forks: 2,
            accepted: 1,
            ..ForkCounts::default()
        };
        t.child_ended(end(ChildOutcome::Completed, 1, 1, 0));
        assert!(t.check().unwrap_err().contains("forks 2"));
        t.child_ended(end(ChildOutcome::Empty, 0, 0, 0));
        assert_eq!(t.check(), Ok(()));
        t.accepted += 1;
        assert!(t.check().unwrap_err().contains("accepted 2"));
        // A connection whose end nobody counted is caught: interrupted is not derived.
        let mut lost = ForkCounts {
            forks: 1,
            accepted: 1,
            ..ForkCounts::default()
        };
        lost.child_ended(end(ChildOutcome::BusyAtExit, 1, 0, 0));
        assert!(lost.check().unwrap_err().contains("interrupted 0"));
    }

    #[test]
    fn each_event_moves_exactly_its_counts() {
        use crate::forker::event::{
            Accepted, Census, Exited, Forked, IdleKilled, MaxChildrenSetting, Spawning, Throttled,
        };
        use crate::forker::report::StopReason;
        use std::time::Duration;
        let d = Duration::from_millis(1);
        let table: Vec<(Event, &[(&str, u64)])> = vec![
            (Event::Wakeup { ready: 2 }, &[("wakeups", 1), ("events", 1)]),
            (
                Event::Forked(Forked {
                    child: 1,
                    pid: 9,
                    running: 4,
                    replacement: true,
                }),
                &[
                    ("forks", 1),
                    ("children_replaced", 1),
                    ("max_concurrent_children", 4),
                ],
            ),
            (Event::RefusedFork { running: 3 }, &[("refused_forks", 1)]),
            (
                Event::ForkFailed(nix::Error::EAGAIN),
                &[("fork_failures", 1)],
            ),
            (
                Event::ForkThrottled(Throttled {
                    died: 11,
                    within: d,
                    backoff: d,
                }),
                &[("fork_throttles", 1)],
            ),
            (
                Event::Accepted(Accepted {
                    child: 1,
                    pid: 9,
                    accepted_at: d,
                    child_accepted: 5,
                    batch: 3,
                }),
                &[("accepted", 3)],
            ),
            (
                Event::Exited(Exited {
                    child: 1,
                    pid: 9,
                    status: 0,
                    signal: None,
                    lifetime: d,
                    end: end(ChildOutcome::BusyAtExit, 2, 1, 1),
                }),
                &[
                    ("children_busy_at_exit", 1),
                    ("served", 1),
                    ("interrupted_connections", 1),
                ],
            ),
            (
                Event::MaxChildren {
                    max: 3,
                    setting: MaxChildrenSetting::OnMaintenance,
                },
                &[("max_children_warnings", 1)],
            ),
            (
                Event::IdleKill(IdleKilled {
                    child: 1,
                    pid: 9,
                    idle: d,
                    signal: IdleSignal::Sigquit,
                }),
                &[("idle_kills", 1)],
            ),
            (
                Event::IdleKill(IdleKilled {
                    child: 1,
                    pid: 9,
                    idle: d,
                    signal: IdleSignal::Sigkill,
                }),
                &[("idle_kills_escalated", 1)],
            ),
            (
                Event::SeemsBusy(Spawning {
                    rate: 8,
                    idle: 0,
                    total: 5,
                }),
                &[("seems_busy_warnings", 1)],
            ),
            (
                Event::SpawnRate(Census {
                    active: 1,
                    idle: 0,
                    running: 1,
                    rate: 2,
                }),
                &[],
            ),
            (Event::Queue { len: 1, max: 2 }, &[]),
            (
                Event::Stopping {
                    reason: StopReason::Sigterm,
                    running: 1,
                },
                &[],
            ),
        ];
        for (event, want) in table {
            let mut counts = ForkCounts::default();
            counts.count(&event);
            for (name, value) in counts.fields() {
                let expected = want.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| *v);
                assert_eq!(value, expected, "{name} after {event:?}");
            }
        }
    }
}
