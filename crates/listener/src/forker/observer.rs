//! The observer: turns each typed [`Event`] the loop, the pool and the models emit into an
//! event line (text via [`super::text`], or JSON lines with `--format json`) with
//! milliseconds since start, has [`ForkCounts::count`] count it, and writes the summary.
//! It reads nothing from the kernel: the loop samples the queue and netstat ([`super::sample`]).
//!
//! Output is queued ([`Output`]) and flushed by the loop once per turn (and right after the
//! readiness line), so a storm costs one write per turn, not one per line, and a stalled
//! reader never blocks the loop.

use std::io;
use std::time::{Duration, Instant};

use listenlab_common::{Endpoint, Format, Listening};

use super::AcceptMode;
use super::counts::ForkCounts;
use super::event::{Event, MaxChildrenSetting, Spawning};
use super::models::ModelKind;
use super::output::{FINAL_FLUSH, Output};
use super::plot::Timeline;
use super::report::{ChildOutcome, ForkEvent, ForkSummary, StopReason};
use super::text;
use crate::netstat::ListenCounters;
use crate::poller::Trigger;

/// PHP-FPM's warning at the cap, worded as `fpm_pctl_on_socket_accept` (ondemand) or
/// `fpm_pctl_perform_idle_server_maintenance` (dynamic) words it.
pub fn max_children_message(setting: MaxChildrenSetting, max: u64) -> String {
    let name = match setting {
        MaxChildrenSetting::OnAccept => "max_children",
        MaxChildrenSetting::OnMaintenance => "pm.max_children",
    };
    format!("server reached {name} setting ({max}), consider raising it")
}

/// PHP-FPM's `seems busy` warning (`fpm_pctl_perform_idle_server_maintenance`).
pub fn seems_busy_message(s: &Spawning) -> String {
    format!(
        "seems busy (you may need to increase pm.start_servers, or pm.min/max_spare_servers), \
         spawning {} children, there are {} idle, and {} total children",
        s.rate, s.idle, s.total
    )
}

/// What the summary needs besides the counts: the run's settings and what the loop read
/// from the kernel.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The model.
    pub model: ModelKind,
    /// How the listener was registered.
    pub trigger: Trigger,
    /// The children's accept.
    pub accept: AcceptMode,
    /// Bound address.
    pub addr: String,
    /// Why the run stopped.
    pub stop_reason: StopReason,
    /// Queue length at stop.
    pub pending_at_exit: u64,
    /// Longest accept queue sampled.
    pub max_listen_queue: u64,
    /// Growth of the netstat counters over the run (TCP only; `None` when unreadable).
    pub netstat: Option<ListenCounters>,
    /// The backlog asked of `listen(2)`.
    pub backlog_requested: u32,
    /// The backlog the kernel applies, as read back from it.
    pub backlog_effective: Option<u32>,
}

/// Reports events and keeps the counts.
pub struct Observer {
    out: Output,
    format: Format,
    start: Instant,
    counts: ForkCounts,
    /// What `--plot` draws, when asked for.
    timeline: Option<Timeline>,
}

impl Observer {
    /// An observer writing to `out`, timing from `start`.
    pub fn new(out: Output, format: Format, start: Instant) -> Self {
        Self {
            out,
            format,
            start,
            counts: ForkCounts::default(),
            timeline: None,
        }
    }

    /// Keeps a [`Timeline`] of the run for `--plot` (printing stays as it is).
    pub fn record_timeline(&mut self) {
        self.timeline = Some(Timeline::default());
    }

    /// True when a timeline is kept.
    pub fn records_timeline(&self) -> bool {
        self.timeline.is_some()
    }

    /// Notes the pool's census (`active`: starting or busy; `idle`: in accept) on the
    /// timeline, if one is kept.
    pub fn census(&mut self, active: u64, idle: u64) {
        let t_ms = self.now_ms();
        if let Some(t) = &mut self.timeline {
            t.census(t_ms, active, idle);
        }
    }

    /// The timeline kept so far, taken out.
    pub fn take_timeline(&mut self) -> Option<Timeline> {
        self.timeline.take()
    }

    /// The counts so far.
    pub fn counts(&self) -> &ForkCounts {
        &self.counts
    }

    /// Milliseconds since start, with microsecond resolution.
    fn now_ms(&self) -> f64 {
        ms(self.start.elapsed())
    }

    /// The readiness line, always JSON (pattern 14), flushed at once.
    pub fn listening(&mut self, endpoint: &Endpoint) -> io::Result<()> {
        let line = Listening {
            addr: endpoint.to_string(),
        };
        self.out.line(&json_line(&line)?);
        self.out.flush()
    }

    /// Writes what stdout takes now, without blocking.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The output, for the loop to watch for writability while lines wait.
    pub fn output(&self) -> &Output {
        &self.out
    }

    /// Counts `event` and queues its line (two for a child that found nothing: `child_empty`
    /// before its `child_exited`).
    pub fn emit(&mut self, event: Event) -> io::Result<()> {
        self.counts.count(&event);
        let t_ms = self.now_ms();
        if let Some(t) = &mut self.timeline {
            t.record(t_ms, &event);
        }
        let line = match event {
            Event::Wakeup { ready } => ForkEvent::Wakeup { t_ms, ready },
            Event::Forked(f) => ForkEvent::Fork {
                t_ms,
                child: f.child,
                pid: f.pid,
                running: f.running,
            },
            Event::RefusedFork { running } => ForkEvent::RefusedFork { t_ms, running },
            Event::ForkFailed(error) => ForkEvent::ForkFailed {
                t_ms,
                error: error.to_string(),
            },
            Event::ForkThrottled(t) => ForkEvent::ForkThrottled {
                t_ms,
                died: t.died,
                within_ms: ms(t.within),
                backoff_ms: ms(t.backoff),
            },
            Event::Accepted(a) => ForkEvent::ChildAccepted {
                t_ms,
                child: a.child,
                pid: a.pid,
                accepted_at_ms: ms(a.accepted_at),
                batch: a.batch,
                child_accepted: a.child_accepted,
                total_accepted: self.counts.accepted,
            },
            Event::Exited(e) => {
                if e.end.outcome == ChildOutcome::Empty {
                    self.write(&ForkEvent::ChildEmpty {
                        t_ms,
                        child: e.child,
                        pid: e.pid,
                    })?;
                }
                ForkEvent::ChildExited {
                    t_ms,
                    child: e.child,
                    pid: e.pid,
                    status: e.status,
                    lifetime_ms: ms(e.lifetime),
                    outcome: e.end.outcome,
                    accepted: e.end.accepted,
                }
            }
            Event::MaxChildren { max, setting } => ForkEvent::MaxChildren {
                t_ms,
                max_children: max,
                message: max_children_message(setting, max),
            },
            Event::SeemsBusy(s) => ForkEvent::SeemsBusy {
                t_ms,
                spawning: s.rate,
                idle: s.idle,
                total: s.total,
                message: seems_busy_message(&s),
            },
            Event::Status(p) => ForkEvent::Status {
                t_ms,
                pool: p.pool.to_owned(),
                process_manager: p.model,
                start_since: p.start_since.as_secs(),
                accepted_conn: p.accepted_conn,
                listen_queue: p.listen_queue,
                max_listen_queue: p.max_listen_queue,
                listen_queue_len: p.listen_queue_len,
                idle_processes: p.idle_processes,
                active_processes: p.active_processes,
                total_processes: p.total_processes,
                max_active_processes: p.max_active_processes,
                max_children_reached: p.max_children_reached,
            },
            Event::SpawnRate(c) => ForkEvent::SpawnRate {
                t_ms,
                active: c.active,
                idle: c.idle,
                running: c.running,
                rate: c.rate,
            },
            Event::IdleKill(k) => ForkEvent::IdleKill {
                t_ms,
                child: k.child,
                pid: k.pid,
                idle_ms: ms(k.idle),
                signal: k.signal,
            },
            Event::Queue { len, max } => ForkEvent::Queue { t_ms, len, max },
            Event::Stopping { reason, running } => ForkEvent::Stopping {
                t_ms,
                reason,
                running,
            },
        };
        self.write(&line)
    }

    fn write(&mut self, event: &ForkEvent) -> io::Result<()> {
        let line = match self.format {
            Format::Json => json_line(event)?,
            Format::Text => format!("{}\n", text::line(event)).into_bytes(),
        };
        self.out.line(&line);
        Ok(())
    }

    /// Writes the summary (JSON line, or an aligned table) and returns it.
    pub fn summary(mut self, info: RunInfo) -> io::Result<ForkSummary> {
        let summary = ForkSummary {
            model: info.model,
            trigger: info.trigger,
            accept: info.accept,
            addr: info.addr,
            backlog_requested: info.backlog_requested,
            backlog_effective: info.backlog_effective,
            counts: self.counts,
            max_listen_queue: info.max_listen_queue,
            pending_at_exit: info.pending_at_exit,
            listen_overflows_delta: info.netstat.map(|n| n.overflows),
            listen_drops_delta: info.netstat.map(|n| n.drops),
            stop_reason: info.stop_reason,
            output_lines_dropped: self.out.dropped_lines(),
            elapsed_ms: self.now_ms(),
        };
        let text = match self.format {
            Format::Json => json_line(&summary)?,
            Format::Text => {
                let mut table = Vec::new();
                text::summary_table(&mut table, &summary)?;
                table
            }
        };
        self.out.line(&text);
        let unwritten = self.out.finish(FINAL_FLUSH)?;
        let dropped = self.out.dropped_lines();
        if dropped > 0 || unwritten > 0 {
            // Said on stderr too: the summary itself may be what was lost.
            listenlab_common::cli::stderr_line(format_args!(
                "epoll-listen-fork: stdout was not read fast enough: {dropped} output lines \
                 dropped{}",
                if unwritten > 0 {
                    format!(", {unwritten} bytes (the summary) not written")
                } else {
                    String::new()
                }
            ));
        }
        Ok(summary)
    }
}

/// One JSON line with its newline.
fn json_line(value: &impl serde::Serialize) -> io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    Ok(line)
}

/// Milliseconds with microsecond resolution, as every `_ms` field shows them.
fn ms(d: Duration) -> f64 {
    (d.as_nanos() / 1_000) as f64 / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forker::event::{Accepted, ChildEnd, Exited, Forked};
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A `Write` the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_text_summary_lists_every_field_in_json_order() {
        let buf = Shared::default();
        let obs = Observer::new(
            Output::writer(Box::new(buf.clone())),
            Format::Text,
            Instant::now(),
        );
        let summary = obs
            .summary(RunInfo {
                model: ModelKind::Ondemand,
                trigger: Trigger::Edge,
                accept: AcceptMode::Blocking,
                addr: "127.0.0.1:1".into(),
                stop_reason: StopReason::Duration,
                pending_at_exit: 2,
                max_listen_queue: 2,
                netstat: Some(ListenCounters::default()),
                backlog_requested: 128,
                backlog_effective: Some(128),
            })
            .unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("summary"));
        let names: Vec<&str> = lines
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        let want: Vec<&str> = summary.fields().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, want);
        assert_eq!(names[0], "model");
        assert!(
            text.contains("  pending_at_exit") && text.contains("ondemand"),
            "{text}"
        );
    }

    #[test]
    fn json_output_counts_each_event_once() {
        let buf = Shared::default();
        let mut obs = Observer::new(
            Output::writer(Box::new(buf.clone())),
            Format::Json,
            Instant::now(),
        );
        obs.listening(&Endpoint::Unix("/tmp/x".into())).unwrap();
        obs.emit(Event::Wakeup { ready: 1 }).unwrap();
        obs.emit(Event::Forked(Forked {
            child: 1,
            pid: 10,
            running: 1,
            replacement: false,
        }))
        .unwrap();
        obs.emit(Event::Accepted(Accepted {
            child: 1,
            pid: 10,
            accepted_at: Duration::from_millis(1),
            child_accepted: 1,
            batch: 1,
        }))
        .unwrap();
        obs.emit(Event::Exited(Exited {
            child: 1,
            pid: 10,
            status: 0,
            signal: None,
            lifetime: Duration::from_millis(3),
            end: ChildEnd {
                outcome: ChildOutcome::Completed,
                accepted: 1,
                served: 1,
                first_byte_timeouts: 0,
                closed_without_request: 0,
                interrupted: 0,
            },
        }))
        .unwrap();
        assert_eq!(obs.counts().check(), Ok(()));
        let summary = obs
            .summary(RunInfo {
                model: ModelKind::PerEvent,
                trigger: Trigger::Edge,
                accept: AcceptMode::Blocking,
                addr: "/tmp/x".into(),
                stop_reason: StopReason::Sigterm,
                pending_at_exit: 0,
                max_listen_queue: 0,
                netstat: None,
                backlog_requested: 128,
                backlog_effective: None,
            })
            .unwrap();
        assert_eq!(
            (
                summary.counts.forks,
                summary.counts.accepted,
                summary.counts.served
            ),
            (1, 1, 1)
        );
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], r#"{"event":"listening","addr":"/tmp/x"}"#);
        assert!(lines.last().unwrap().starts_with(r#"{"event":"summary","#));
        assert_eq!(lines.len(), 6);
    }
}
