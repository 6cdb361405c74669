//! What `epoll-listen-fork` prints: one [`ForkEvent`] line per thing that happens (text, or
//! JSON lines with `--format json`), after the `listenlab_common::Listening` readiness
//! line, and a closing [`ForkSummary`]. Typed with enums whose serde names are the JSON
//! words, so no string mirrors an enum; [`label`] gives the same word to the text output.
//!
//! Times are milliseconds since the listener was bound (`t_ms`, with microsecond
//! resolution). Children are numbered from 1 in fork order (`child`); `pid` is the OS
//! process id. Counts are plain integers ([`super::counts::ForkCounts`]).

use serde::{Deserialize, Serialize};

use super::AcceptMode;
use super::counts::ForkCounts;
use super::models::ModelKind;
use crate::poller::Trigger;

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
    /// Retired for idleness by the manager (ondemand's idle timeout, dynamic's
    /// `--max-spare-servers`): SIGQUIT, then SIGKILL a tick later if still idle.
    IdleTimeout,
    /// Still waiting for a connection (blocked in accept, or starting) when the run stopped.
    KilledAtExit,
    /// Serving a connection when the run stopped.
    BusyAtExit,
    /// Anything else: killed by a signal we did not send (e.g. SIGKILL from outside, status
    /// 137), an error, or a panic.
    Died,
}

/// The signal an idle kill sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum IdleSignal {
    /// The first notice: finish and exit.
    Sigquit,
    /// One tick later, to a child still idle.
    Sigkill,
}

/// Why the run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// Ctrl-C.
    #[serde(rename = "SIGINT")]
    Sigint,
    /// `kill`.
    #[serde(rename = "SIGTERM")]
    Sigterm,
    /// `--duration` elapsed.
    #[serde(rename = "duration")]
    Duration,
    /// `--exit-after` connections were accepted.
    #[serde(rename = "exit-after")]
    ExitAfter,
}

/// The JSON word of a unit enum value (`"idle_timeout"` for [`ChildOutcome::IdleTimeout`]),
/// for the text output, so text and JSON cannot name a value differently.
pub fn label(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(word)) => word,
        Ok(other) => other.to_string(),
        Err(e) => format!("<{e}>"),
    }
}

/// One event line. JSON: `{"event":"fork","t_ms":1.234,"child":1,"pid":4242,"running":1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
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
    /// Ondemand: a wakeup found `--max-children` children running; dynamic: a maintenance
    /// tick found too few idle children with `--max-children` running. Logged once until
    /// the next fork, like PHP-FPM's `server reached max_children setting (N)` (dynamic:
    /// `pm.max_children`).
    MaxChildren {
        /// Milliseconds since start.
        t_ms: f64,
        /// The `--max-children` setting.
        max_children: u64,
        /// The message, as PHP-FPM words it.
        message: String,
    },
    /// Dynamic: a maintenance tick forks with a spawn rate of 8 or more, PHP-FPM's `seems
    /// busy` warning.
    SeemsBusy {
        /// Milliseconds since start.
        t_ms: f64,
        /// The spawn rate (PHP-FPM's "spawning N children"; the tick forks at most the
        /// missing spare children).
        spawning: u64,
        /// Idle children.
        idle: u64,
        /// Children running.
        total: u64,
        /// The message, as PHP-FPM words it.
        message: String,
    },
    /// Dynamic: one line per maintenance tick, what it found before acting (PHP-FPM's
    /// debug line `currently N active children, N spare children, N running children.
    /// Spawning rate N`).
    SpawnRate {
        /// Milliseconds since start.
        t_ms: f64,
        /// Children starting or busy.
        active: u64,
        /// Children waiting in accept.
        idle: u64,
        /// Children running.
        running: u64,
        /// The spawn rate: forks this tick may make (1, doubled after each tick that
        /// forks, up to `--max-spawn-rate`).
        rate: u64,
    },
    /// `--status-every D`: PHP-FPM's status page (`/status?json`) under its own field
    /// names, every D.
    Status {
        /// Milliseconds since start.
        t_ms: f64,
        /// The pool name (`www`).
        pool: String,
        /// The model (`ondemand`, `static`, `dynamic`, `per-event`).
        #[serde(rename = "process manager")]
        process_manager: ModelKind,
        /// Whole seconds since the start.
        #[serde(rename = "start since")]
        start_since: u64,
        /// Connections accepted so far.
        #[serde(rename = "accepted conn")]
        accepted_conn: u64,
        /// Connections waiting in the accept queue now.
        #[serde(rename = "listen queue")]
        listen_queue: u64,
        /// The longest accept queue sampled so far.
        #[serde(rename = "max listen queue")]
        max_listen_queue: u64,
        /// The effective backlog, in connections.
        #[serde(rename = "listen queue len")]
        listen_queue_len: u64,
        /// Children waiting in accept.
        #[serde(rename = "idle processes")]
        idle_processes: u64,
        /// Children starting, busy or finishing.
        #[serde(rename = "active processes")]
        active_processes: u64,
        /// Children running.
        #[serde(rename = "total processes")]
        total_processes: u64,
        /// The most active children seen at a status line.
        #[serde(rename = "max active processes")]
        max_active_processes: u64,
        /// `max_children` warnings so far.
        #[serde(rename = "max children reached")]
        max_children_reached: u64,
    },
    /// Ondemand and dynamic: an idle child was told to exit (ondemand: idle longer than
    /// `--process-idle-timeout`; dynamic: more idle children than `--max-spare-servers`).
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
        signal: IdleSignal,
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
        reason: StopReason,
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
            Self::SeemsBusy { .. } => "seems_busy",
            Self::SpawnRate { .. } => "spawn_rate",
            Self::Status { .. } => "status",
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
            | Self::SeemsBusy { t_ms, .. }
            | Self::SpawnRate { t_ms, .. }
            | Self::Status { t_ms, .. }
            | Self::IdleKill { t_ms, .. }
            | Self::Queue { t_ms, .. }
            | Self::Stopping { t_ms, .. } => *t_ms,
        }
    }
}

/// The last line: `{"event":"summary",...}`, with the [`ForkCounts`] as top-level fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename = "summary")]
pub struct ForkSummary {
    /// `per-event`, `ondemand`, `static` or `dynamic`.
    pub model: ModelKind,
    /// `level` or `edge`: how the listener was registered with epoll.
    pub trigger: Trigger,
    /// `blocking` or `nonblocking`: the children's accept.
    pub accept: AcceptMode,
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
    pub stop_reason: StopReason,
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
            ("model", label(&self.model)),
            ("trigger", label(&self.trigger)),
            ("accept", label(&self.accept)),
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
            ("stop_reason", label(&self.stop_reason)),
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
        assert_eq!(json["outcome"], label(&ChildOutcome::Died));
    }

    #[test]
    fn enums_are_the_words_the_json_always_had() {
        let words = [
            (label(&ModelKind::PerEvent), "per-event"),
            (label(&ModelKind::Ondemand), "ondemand"),
            (label(&ModelKind::Static), "static"),
            (label(&ModelKind::Dynamic), "dynamic"),
            (label(&Trigger::Level), "level"),
            (label(&Trigger::Edge), "edge"),
            (label(&AcceptMode::Blocking), "blocking"),
            (label(&AcceptMode::Nonblocking), "nonblocking"),
            (label(&StopReason::Sigint), "SIGINT"),
            (label(&StopReason::Sigterm), "SIGTERM"),
            (label(&StopReason::Duration), "duration"),
            (label(&StopReason::ExitAfter), "exit-after"),
            (label(&IdleSignal::Sigquit), "SIGQUIT"),
            (label(&IdleSignal::Sigkill), "SIGKILL"),
            (label(&ChildOutcome::IdleTimeout), "idle_timeout"),
            (label(&ChildOutcome::KilledAtExit), "killed_at_exit"),
        ];
        for (got, want) in words {
            assert_eq!(got, want);
        }
    }

    fn summary() -> ForkSummary {
        ForkSummary {
            model: ModelKind::Ondemand,
            trigger: Trigger::Edge,
            accept: AcceptMode::Blocking,
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
            stop_reason: StopReason::Sigterm,
            output_lines_dropped: 0,
            elapsed_ms: 1.5,
        }
    }

    #[test]
    fn summary_flattens_the_counts_and_round_trips() {
        let summary = summary();
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["event"], "summary");
        assert_eq!(json["forks"], 3);
        assert_eq!(
            (&json["model"], &json["stop_reason"]),
            (&"ondemand".into(), &"SIGTERM".into())
        );
        assert!(json.get("counts").is_none());
        let back: ForkSummary = serde_json::from_value(json).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn summary_fields_match_the_json_names_order_and_values() {
        let summary = ForkSummary {
            model: ModelKind::PerEvent,
            trigger: Trigger::Level,
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
            stop_reason: StopReason::Duration,
            output_lines_dropped: 25,
            elapsed_ms: 1.25,
            ..summary()
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
            ForkEvent::SeemsBusy {
                t_ms: 0.0,
                spawning: 8,
                idle: 0,
                total: 5,
                message: "m".into(),
            },
            ForkEvent::SpawnRate {
                t_ms: 0.0,
                active: 1,
                idle: 0,
                running: 1,
                rate: 2,
            },
            ForkEvent::IdleKill {
                t_ms: 0.0,
                child: 1,
                pid: 1,
                idle_ms: 0.0,
                signal: IdleSignal::Sigquit,
            },
            ForkEvent::Queue {
                t_ms: 0.0,
                len: 0,
                max: 1,
            },
            ForkEvent::Stopping {
                t_ms: 0.0,
                reason: StopReason::Sigterm,
                running: 0,
            },
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["event"], event.name(), "{event:?}");
        }
    }
}
