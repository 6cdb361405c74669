//! What `epoll-listen-fork` prints: one [`ForkEvent`] line per thing that happens (text, or
//! JSON lines with `--format json`), after the [`crate::Listening`] readiness line, and a
//! closing [`ForkSummary`].
//!
//! Times are milliseconds since the listener was bound (`t_ms`, with microsecond
//! resolution). Children are numbered from 1 in fork order (`child`); `pid` is the OS
//! process id. Counts are plain integers.

use serde::{Deserialize, Serialize};

/// How a child ended, as the parent classified it when it reaped it. Every forked child ends
/// in exactly one of these, so their counts add up to `forks` in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildOutcome {
    /// Exited on its own after serving: per-event, its one connection; ondemand, after
    /// `--max-requests` connections.
    Completed,
    /// Found nothing to accept (`--accept nonblocking`, `EAGAIN`).
    Empty,
    /// Told to exit by the ondemand idle timeout (SIGQUIT, then SIGKILL one tick later if still idle).
    IdleTimeout,
    /// Still waiting for a connection (blocked in accept, or starting) when the run stopped.
    KilledAtExit,
    /// Serving a connection when the run stopped.
    BusyAtExit,
    /// Anything else: killed by a signal we did not send (e.g. SIGKILL from outside, status
    /// 137), an error, or a panic.
    Died,
}

impl ChildOutcome {
    /// The snake_case name used in JSON and text.
    pub fn name(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Empty => "empty",
            Self::IdleTimeout => "idle_timeout",
            Self::KilledAtExit => "killed_at_exit",
            Self::BusyAtExit => "busy_at_exit",
            Self::Died => "died",
        }
    }
}

/// One event line. JSON: `{"event":"fork","t_ms":1.234,"child":1,"pid":4242,"running":1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ForkEvent {
    /// `epoll_wait` returned with the listener ready.
    Wakeup {
        /// Milliseconds since start.
        t_ms: f64,
        /// Ready events this `epoll_wait` returned (listener, signals and child notices).
        ready: u32,
    },
    /// A child was forked.
    Fork {
        /// Milliseconds since start.
        t_ms: f64,
        /// Child number (1-based, fork order).
        child: u64,
        /// Process id.
        pid: i32,
        /// Children running after this fork.
        running: u64,
    },
    /// Per-event: a listener event arrived with `--max-children` children running, so no
    /// child was forked for it.
    RefusedFork {
        /// Milliseconds since start.
        t_ms: f64,
        /// Children running.
        running: u64,
    },
    /// `fork()` failed (e.g. `EAGAIN`: process limit); counted, not fatal.
    ForkFailed {
        /// Milliseconds since start.
        t_ms: f64,
        /// The error.
        error: String,
    },
    /// More than 10 children died within 1 s (e.g. each accept failed with `EMFILE`), so
    /// no child is forked for a while: no fork storm. After PHP-FPM's
    /// `emergency_restart_threshold` / `emergency_restart_interval`.
    ForkThrottled {
        /// Milliseconds since start.
        t_ms: f64,
        /// Children that died within the window.
        died: u64,
        /// The window, in milliseconds.
        within_ms: f64,
        /// How long forking stays off, in milliseconds.
        backoff_ms: f64,
    },
    /// A child accepted one or more connections since the parent last looked at its
    /// scoreboard slot: one line per look, not per accept (a busy ondemand child can accept
    /// several between two looks; `batch` says how many this line covers, and the lines'
    /// `batch` values add up to `accepted`).
    ChildAccepted {
        /// Milliseconds since start, when the parent saw it.
        t_ms: f64,
        /// Child number.
        child: u64,
        /// Process id.
        pid: i32,
        /// Milliseconds since start at which the child accepted the latest of the batch.
        accepted_at_ms: f64,
        /// Connections this line reports: how much the child's counter grew since the
        /// parent's previous look (1 unless the child accepted faster than it was watched).
        batch: u64,
        /// Connections this child has accepted so far.
        child_accepted: u64,
        /// Connections accepted by all children so far.
        total_accepted: u64,
    },
    /// A child found nothing to accept and exited (`--accept nonblocking`).
    ChildEmpty {
        /// Milliseconds since start.
        t_ms: f64,
        /// Child number.
        child: u64,
        /// Process id.
        pid: i32,
    },
    /// A child was reaped.
    ChildExited {
        /// Milliseconds since start.
        t_ms: f64,
        /// Child number.
        child: u64,
        /// Process id.
        pid: i32,
        /// Exit status as a shell shows it: the exit code, or 128+signal (137 = SIGKILL).
        status: i32,
        /// Milliseconds from fork to reap.
        lifetime_ms: f64,
        /// How the parent classified the exit.
        outcome: ChildOutcome,
        /// Connections this child accepted in its life.
        accepted: u64,
    },
    /// Ondemand: a wakeup found `--max-children` children running. Logged once until the
    /// next fork, like PHP-FPM's `server reached max_children setting (N)`.
    MaxChildren {
        /// Milliseconds since start.
        t_ms: f64,
        /// The `--max-children` setting.
        max_children: u64,
        /// The message, as PHP-FPM words it.
        message: String,
    },
    /// Ondemand: a child idle longer than `--process-idle-timeout` was told to exit.
    IdleKill {
        /// Milliseconds since start.
        t_ms: f64,
        /// Child number.
        child: u64,
        /// Process id.
        pid: i32,
        /// Milliseconds the child had been idle.
        idle_ms: f64,
        /// `SIGQUIT` first; `SIGKILL` one tick later if it was still alive.
        signal: String,
    },
    /// The accept-queue length changed (sampled every 10 ms while anything is pending).
    Queue {
        /// Milliseconds since start.
        t_ms: f64,
        /// Connections waiting to be accepted.
        len: u32,
        /// The effective backlog.
        max: u32,
    },
    /// The run is stopping: no more forks; children get SIGTERM, then SIGKILL after a grace.
    Stopping {
        /// Milliseconds since start.
        t_ms: f64,
        /// `SIGINT`, `SIGTERM`, `duration` or `exit-after`.
        reason: String,
        /// Children still running.
        running: u64,
    },
}

impl ForkEvent {
    /// The `event` tag, as in JSON (`fork`, `child_exited`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Wakeup { .. } => "wakeup",
            Self::Fork { .. } => "fork",
            Self::RefusedFork { .. } => "refused_fork",
            Self::ForkFailed { .. } => "fork_failed",
            Self::ForkThrottled { .. } => "fork_throttled",
            Self::ChildAccepted { .. } => "child_accepted",
            Self::ChildEmpty { .. } => "child_empty",
            Self::ChildExited { .. } => "child_exited",
            Self::MaxChildren { .. } => "max_children",
            Self::IdleKill { .. } => "idle_kill",
            Self::Queue { .. } => "queue",
            Self::Stopping { .. } => "stopping",
        }
    }

    /// The event's time, in milliseconds since start.
    pub fn t_ms(&self) -> f64 {
        match self {
            Self::Wakeup { t_ms, .. }
            | Self::Fork { t_ms, .. }
            | Self::RefusedFork { t_ms, .. }
            | Self::ForkFailed { t_ms, .. }
            | Self::ForkThrottled { t_ms, .. }
            | Self::ChildAccepted { t_ms, .. }
            | Self::ChildEmpty { t_ms, .. }
            | Self::ChildExited { t_ms, .. }
            | Self::MaxChildren { t_ms, .. }
            | Self::IdleKill { t_ms, .. }
            | Self::Queue { t_ms, .. }
            | Self::Stopping { t_ms, .. } => *t_ms,
        }
    }
}

/// The counts of a run. The observer updates them as it reports each event, so every line
/// printed is counted once; the summary carries them (flattened into its JSON object).
/// Accounting identities, checked by [`ForkCounts::check`] once every child is reaped:
/// - `forks = children_completed + empty_children + idle_timeout_children +
///   children_killed_at_exit + children_busy_at_exit + children_died`;
/// - `accepted = served + first_byte_timeouts + interrupted_connections`: every accepted
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
    /// Ondemand: children forked at once to replace one that exited (PHP-FPM restarts every
    /// child that exits, unless the idle timeout killed it).
    pub children_replaced: u64,
    /// Most children running at once.
    pub max_concurrent_children: u64,
    /// Ondemand: `server reached max_children setting` warnings (once until the next fork).
    pub max_children_warnings: u64,
    /// Ondemand: children told to exit by the idle timeout (SIGQUIT).
    pub idle_kills: u64,
    /// Ondemand: idle-killed children still idle one tick later, sent SIGKILL.
    pub idle_kills_escalated: u64,
}

/// What a reaped child contributes to the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildEnd {
    /// How it ended.
    pub outcome: ChildOutcome,
    /// Connections it accepted.
    pub accepted: u64,
    /// Connections it served to the end.
    pub served: u64,
    /// Connections it closed for want of a first byte.
    pub first_byte_timeouts: u64,
    /// Connections it held when it exited (stopped, or died while holding one).
    pub interrupted: u64,
}

impl ForkCounts {
    /// The counts as `(name, value)` pairs in declaration order, named as in JSON (for the
    /// text summary table).
    pub fn fields(&self) -> [(&'static str, u64); 21] {
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
        ]
    }

    /// Counts a reaped child. Its accepted connections were already counted one by one as
    /// they were seen; here come its counts of how they ended, each kept on its own, so
    /// [`ForkCounts::check`] compares independent numbers.
    pub fn child_ended(&mut self, end: ChildEnd) {
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
        let ended = self.served + self.first_byte_timeouts + self.interrupted_connections;
        if self.accepted != ended {
            return Err(format!(
                "accepted {} != served {} + first-byte timeouts {} + interrupted {}",
                self.accepted, self.served, self.first_byte_timeouts, self.interrupted_connections
            ));
        }
        Ok(())
    }
}

/// The last line: `{"event":"summary",...}`, with the [`ForkCounts`] as top-level fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename = "summary")]
pub struct ForkSummary {
    /// `per-event` or `ondemand`.
    pub model: String,
    /// `level` or `edge`: how the listener was registered with epoll.
    pub trigger: String,
    /// `blocking` or `nonblocking`: the children's accept.
    pub accept: String,
    /// The bound address.
    pub addr: String,
    /// The `--backlog` passed to `listen(2)`, in connections.
    pub backlog_requested: u32,
    /// The backlog the kernel applies, read back from it after `listen(2)` (TCP_INFO or
    /// sock_diag): the request capped at `net.core.somaxconn`. `null` if unreadable.
    pub backlog_effective: Option<u32>,
    /// The counts (flattened: `forks`, `accepted`, ... are fields of the summary itself).
    #[serde(flatten)]
    pub counts: ForkCounts,
    /// Longest accept queue sampled, in connections.
    pub max_listen_queue: u64,
    /// Accept-queue length when the run stopped: connections no child accepted.
    pub pending_at_exit: u64,
    /// Growth of `TcpExt: ListenOverflows` in `/proc/net/netstat` over the run (system-wide;
    /// TCP only: `null` for a unix listener, which no such counter covers).
    pub listen_overflows_delta: Option<u64>,
    /// Growth of `TcpExt: ListenDrops` over the run (system-wide; TCP only, `null` for unix).
    pub listen_drops_delta: Option<u64>,
    /// Why the run stopped: `SIGINT`, `SIGTERM`, `duration` or `exit-after`.
    pub stop_reason: String,
    /// Event lines dropped because stdout was not read fast enough (the tool never blocks
    /// on its output); 0 when the reader kept up.
    pub output_lines_dropped: u64,
    /// Milliseconds from bind to the end of the run (children reaped).
    pub elapsed_ms: f64,
}

impl ForkSummary {
    /// Every field as `(name, shown value)` in the JSON's order, counts flattened, without
    /// the `event` tag: what the text summary table prints.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("model", self.model.clone()),
            ("trigger", self.trigger.clone()),
            ("accept", self.accept.clone()),
            ("addr", self.addr.clone()),
            ("backlog_requested", self.backlog_requested.to_string()),
            (
                "backlog_effective",
                shown(self.backlog_effective.map(u64::from)),
            ),
        ];
        out.extend(
            self.counts
                .fields()
                .into_iter()
                .map(|(name, v)| (name, v.to_string())),
        );
        out.extend([
            ("max_listen_queue", self.max_listen_queue.to_string()),
            ("pending_at_exit", self.pending_at_exit.to_string()),
            ("listen_overflows_delta", shown(self.listen_overflows_delta)),
            ("listen_drops_delta", shown(self.listen_drops_delta)),
            ("stop_reason", self.stop_reason.clone()),
            (
                "output_lines_dropped",
                self.output_lines_dropped.to_string(),
            ),
            ("elapsed_ms", self.elapsed_ms.to_string()),
        ]);
        out
    }
}

/// A count that may not apply, as the text table shows it (`null`, as in JSON).
fn shown(value: Option<u64>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_snake_case_lines() {
        let line = serde_json::to_string(&ForkEvent::Fork {
            t_ms: 1.5,
            child: 1,
            pid: 42,
            running: 1,
        })
        .unwrap();
        assert_eq!(
            line,
            r#"{"event":"fork","t_ms":1.5,"child":1,"pid":42,"running":1}"#
        );
        let back: ForkEvent = serde_json::from_str(&line).unwrap();
        assert_eq!(back.t_ms(), 1.5);
        let exited = ForkEvent::ChildExited {
            t_ms: 2.0,
            child: 1,
            pid: 42,
            status: 137,
            lifetime_ms: 1.0,
            outcome: ChildOutcome::Died,
            accepted: 0,
        };
        let json = serde_json::to_value(&exited).unwrap();
        assert_eq!(json["event"], "child_exited");
        assert_eq!(json["outcome"], ChildOutcome::Died.name());
    }

    fn end(outcome: ChildOutcome, accepted: u64, served: u64, interrupted: u64) -> ChildEnd {
        ChildEnd {
            outcome,
            accepted,
            served,
            first_byte_timeouts: 0,
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
    fn summary_flattens_the_counts_and_round_trips() {
        let summary = ForkSummary {
            model: "ondemand".into(),
            trigger: "edge".into(),
            accept: "blocking".into(),
            addr: "127.0.0.1:1".into(),
            backlog_requested: 128,
            backlog_effective: Some(128),
            counts: ForkCounts {
                forks: 3,
                ..ForkCounts::default()
            },
            max_listen_queue: 3,
            pending_at_exit: 3,
            listen_overflows_delta: None,
            listen_drops_delta: None,
            stop_reason: "SIGTERM".into(),
            output_lines_dropped: 0,
            elapsed_ms: 1.5,
        };
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["event"], "summary");
        assert_eq!(json["forks"], 3);
        assert!(json.get("counts").is_none());
        let back: ForkSummary = serde_json::from_value(json).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn summary_fields_match_the_json_names_order_and_values() {
        let summary = ForkSummary {
            model: "per-event".into(),
            trigger: "level".into(),
            accept: "blocking".into(),
            addr: "/tmp/s".into(),
            backlog_requested: 5000,
            backlog_effective: None,
            counts: ForkCounts {
                wakeups: 1,
                idle_kills_escalated: 20,
                ..ForkCounts::default()
            },
            max_listen_queue: 21,
            pending_at_exit: 22,
            listen_overflows_delta: Some(23),
            listen_drops_delta: Some(24),
            stop_reason: "duration".into(),
            output_lines_dropped: 25,
            elapsed_ms: 1.25,
        };
        // serde_json's Map is sorted, so take the key order from the text itself.
        let json = serde_json::to_string(&summary).unwrap();
        let value = serde_json::to_value(&summary).unwrap();
        let mut keys: Vec<(usize, &str)> = value
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "event")
            .map(|k| (json.find(&format!("\"{k}\":")).unwrap(), k.as_str()))
            .collect();
        keys.sort();
        let fields = summary.fields();
        let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, keys.iter().map(|(_, k)| *k).collect::<Vec<_>>());
        for (name, shown) in fields {
            let v = &value[name];
            assert_eq!(
                shown,
                v.as_str().map_or_else(|| v.to_string(), str::to_owned)
            );
        }
    }

    #[test]
    fn event_names_are_the_json_tags() {
        let events = [
            ForkEvent::Wakeup {
                t_ms: 0.0,
                ready: 1,
            },
            ForkEvent::Fork {
                t_ms: 0.0,
                child: 1,
                pid: 1,
                running: 1,
            },
            ForkEvent::RefusedFork {
                t_ms: 0.0,
                running: 1,
            },
            ForkEvent::ForkFailed {
                t_ms: 0.0,
                error: "x".into(),
            },
            ForkEvent::ForkThrottled {
                t_ms: 0.0,
                died: 11,
                within_ms: 1000.0,
                backoff_ms: 1000.0,
            },
            ForkEvent::ChildAccepted {
                t_ms: 0.0,
                child: 1,
                pid: 1,
                accepted_at_ms: 0.0,
                batch: 1,
                child_accepted: 1,
                total_accepted: 1,
            },
            ForkEvent::ChildEmpty {
                t_ms: 0.0,
                child: 1,
                pid: 1,
            },
            ForkEvent::ChildExited {
                t_ms: 0.0,
                child: 1,
                pid: 1,
                status: 0,
                lifetime_ms: 0.0,
                outcome: ChildOutcome::Completed,
                accepted: 0,
            },
            ForkEvent::MaxChildren {
                t_ms: 0.0,
                max_children: 1,
                message: "m".into(),
            },
            ForkEvent::IdleKill {
                t_ms: 0.0,
                child: 1,
                pid: 1,
                idle_ms: 0.0,
                signal: "SIGQUIT".into(),
            },
            ForkEvent::Queue {
                t_ms: 0.0,
                len: 0,
                max: 1,
            },
            ForkEvent::Stopping {
                t_ms: 0.0,
                reason: "SIGTERM".into(),
                running: 0,
            },
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["event"], event.name(), "{event:?}");
        }
    }
}
