//! The observer: turns everything the loop and the models do into event lines (text, or JSON
//! lines with `--format json`) with milliseconds since start, counts each one in the
//! [`ForkCounts`], samples the accept queue, reads the netstat counters at start and end, and
//! writes the summary.
//!
//! Output is queued ([`Output`]) and flushed by the loop once per turn (and right after the
//! readiness line), so a storm costs one write per turn, not one per line, and a stalled
//! reader never blocks the loop.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use listenlab_common::report::fork::{ChildEnd, ChildOutcome, ForkCounts, ForkEvent, ForkSummary};
use listenlab_common::{Endpoint, Format, Listening};

use super::output::{FINAL_FLUSH, Output};
use crate::netstat::ListenCounters;
use crate::queue::accept_queue;
use crate::socket::Listener;

/// PHP-FPM's warning, worded as `fpm_pctl_on_socket_accept` words it.
pub fn max_children_message(max: u64) -> String {
    format!("server reached max_children setting ({max}), consider raising it")
}

/// A reaped child, as the pool describes it to the observer.
#[derive(Debug, Clone, Copy)]
pub struct Exited {
    /// Child number.
    pub child: u64,
    /// Process id.
    pub pid: i32,
    /// Exit status as a shell shows it (128+signal for a signal).
    pub status: i32,
    /// Fork to reap.
    pub lifetime: Duration,
    /// Its counts and outcome.
    pub end: ChildEnd,
}

/// What the summary needs besides the counts.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Model name.
    pub model: &'static str,
    /// Trigger name.
    pub trigger: &'static str,
    /// Accept mode name.
    pub accept: &'static str,
    /// Bound address.
    pub addr: String,
    /// Why the run stopped.
    pub stop_reason: String,
    /// Queue length at stop.
    pub pending_at_exit: u64,
    /// A TCP listener (the netstat deltas apply), not a unix one.
    pub tcp: bool,
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
    last_queue_len: Option<u32>,
    max_queue_len: u32,
    netstat_start: Option<ListenCounters>,
}

impl Observer {
    /// An observer writing to `out`, timing from `start`. Reads the netstat counters now.
    pub fn new(out: Output, format: Format, start: Instant) -> Self {
        Self {
            out,
            format,
            start,
            counts: ForkCounts::default(),
            last_queue_len: None,
            max_queue_len: 0,
            netstat_start: ListenCounters::read().ok(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> &ForkCounts {
        &self.counts
    }

    /// Milliseconds since start, with microsecond resolution.
    pub fn now_ms(&self) -> f64 {
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

    fn emit(&mut self, event: ForkEvent) -> io::Result<()> {
        let line = match self.format {
            Format::Json => json_line(&event)?,
            Format::Text => format!("{}\n", text_line(&event)).into_bytes(),
        };
        self.out.line(&line);
        Ok(())
    }

    /// `epoll_wait` returned `ready` events, the listener among them.
    pub fn wakeup(&mut self, ready: u32) -> io::Result<()> {
        self.counts.wakeups += 1;
        self.counts.events += 1;
        self.emit(ForkEvent::Wakeup {
            t_ms: self.now_ms(),
            ready,
        })
    }

    /// A child was forked; `running` counts it.
    pub fn forked(
        &mut self,
        child: u64,
        pid: i32,
        running: u64,
        replacement: bool,
    ) -> io::Result<()> {
        self.counts.forks += 1;
        self.counts.children_replaced += u64::from(replacement);
        self.counts.max_concurrent_children = self.counts.max_concurrent_children.max(running);
        self.emit(ForkEvent::Fork {
            t_ms: self.now_ms(),
            child,
            pid,
            running,
        })
    }

    /// An event came at the cap and no child was forked for it.
    pub fn refused_fork(&mut self, running: u64) -> io::Result<()> {
        self.counts.refused_forks += 1;
        self.emit(ForkEvent::RefusedFork {
            t_ms: self.now_ms(),
            running,
        })
    }

    /// `fork()` failed.
    pub fn fork_failed(&mut self, error: nix::Error) -> io::Result<()> {
        self.counts.fork_failures += 1;
        self.emit(ForkEvent::ForkFailed {
            t_ms: self.now_ms(),
            error: error.to_string(),
        })
    }

    /// `died` children within `within` throttled forking for `backoff`.
    pub fn fork_throttled(
        &mut self,
        died: u64,
        within: Duration,
        backoff: Duration,
    ) -> io::Result<()> {
        self.counts.fork_throttles += 1;
        self.emit(ForkEvent::ForkThrottled {
            t_ms: self.now_ms(),
            died,
            within_ms: ms(within),
            backoff_ms: ms(backoff),
        })
    }

    /// A child's accept counter grew by `new` (to `child_accepted`): one line for the batch,
    /// since the scoreboard keeps the time of the latest accept only.
    pub fn accepted(
        &mut self,
        child: u64,
        pid: i32,
        accepted_at: Duration,
        child_accepted: u64,
        new: u64,
    ) -> io::Result<()> {
        self.counts.accepted += new;
        self.emit(ForkEvent::ChildAccepted {
            t_ms: self.now_ms(),
            child,
            pid,
            accepted_at_ms: ms(accepted_at),
            batch: new,
            child_accepted,
            total_accepted: self.counts.accepted,
        })
    }

    /// A child was reaped.
    pub fn exited(&mut self, exited: Exited) -> io::Result<()> {
        self.counts.child_ended(exited.end);
        let t_ms = self.now_ms();
        if exited.end.outcome == ChildOutcome::Empty {
            self.emit(ForkEvent::ChildEmpty {
                t_ms,
                child: exited.child,
                pid: exited.pid,
            })?;
        }
        self.emit(ForkEvent::ChildExited {
            t_ms,
            child: exited.child,
            pid: exited.pid,
            status: exited.status,
            lifetime_ms: ms(exited.lifetime),
            outcome: exited.end.outcome,
            accepted: exited.end.accepted,
        })
    }

    /// Ondemand reached `max` children (the caller logs it once until the next fork).
    pub fn max_children(&mut self, max: u64) -> io::Result<()> {
        self.counts.max_children_warnings += 1;
        self.emit(ForkEvent::MaxChildren {
            t_ms: self.now_ms(),
            max_children: max,
            message: max_children_message(max),
        })
    }

    /// An idle child was told to exit with `signal` (SIGQUIT, or SIGKILL a tick later if still idle).
    pub fn idle_kill(
        &mut self,
        child: u64,
        pid: i32,
        idle: Duration,
        escalated: bool,
    ) -> io::Result<()> {
        if escalated {
            self.counts.idle_kills_escalated += 1;
        } else {
            self.counts.idle_kills += 1;
        }
        self.emit(ForkEvent::IdleKill {
            t_ms: self.now_ms(),
            child,
            pid,
            idle_ms: ms(idle),
            signal: if escalated { "SIGKILL" } else { "SIGQUIT" }.to_owned(),
        })
    }

    /// Samples the accept queue; reports it when the length changed. Returns the length.
    pub fn sample_queue(&mut self, listener: &Listener) -> io::Result<u32> {
        let Ok(queue) = accept_queue(listener) else {
            return Ok(0); // not every kernel offers sock_diag; the queue is then unknown
        };
        self.max_queue_len = self.max_queue_len.max(queue.len);
        if self.last_queue_len != Some(queue.len) {
            self.last_queue_len = Some(queue.len);
            self.emit(ForkEvent::Queue {
                t_ms: self.now_ms(),
                len: queue.len,
                max: queue.max,
            })?;
        }
        Ok(queue.len)
    }

    /// The run is stopping.
    pub fn stopping(&mut self, reason: &str, running: u64) -> io::Result<()> {
        self.emit(ForkEvent::Stopping {
            t_ms: self.now_ms(),
            reason: reason.to_owned(),
            running,
        })
    }

    /// Writes the summary (JSON line, or an aligned table) and returns it.
    pub fn summary(mut self, info: RunInfo) -> io::Result<ForkSummary> {
        // TCP only: the counters say nothing about a unix listener (None when unreadable).
        let netstat = match (self.netstat_start, ListenCounters::read().ok()) {
            (Some(start), Some(end)) if info.tcp => Some(end.since(start)),
            _ => None,
        };
        let summary = ForkSummary {
            model: info.model.to_owned(),
            trigger: info.trigger.to_owned(),
            accept: info.accept.to_owned(),
            addr: info.addr,
            backlog_requested: info.backlog_requested,
            backlog_effective: info.backlog_effective,
            counts: self.counts,
            max_listen_queue: u64::from(self.max_queue_len),
            pending_at_exit: info.pending_at_exit,
            listen_overflows_delta: netstat.map(|n| n.overflows),
            listen_drops_delta: netstat.map(|n| n.drops),
            stop_reason: info.stop_reason,
            output_lines_dropped: self.out.dropped_lines(),
            elapsed_ms: self.now_ms(),
        };
        let text = match self.format {
            Format::Json => json_line(&summary)?,
            Format::Text => {
                let mut table = Vec::new();
                write_summary_table(&mut table, &summary)?;
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

fn ms(d: Duration) -> f64 {
    (d.as_nanos() / 1_000) as f64 / 1_000.0
}

/// One text line: time, event name, details.
fn text_line(event: &ForkEvent) -> String {
    let detail = match event {
        ForkEvent::Wakeup { ready, .. } => {
            format!("listener ready (epoll_wait returned {ready} events)")
        }
        ForkEvent::Fork {
            child,
            pid,
            running,
            ..
        } => format!("child {child} pid {pid} (running {running})"),
        ForkEvent::RefusedFork { running, .. } => {
            format!("at --max-children, no fork (running {running})")
        }
        ForkEvent::ForkFailed { error, .. } => error.clone(),
        ForkEvent::ForkThrottled {
            died,
            within_ms,
            backoff_ms,
            ..
        } => {
            format!("{died} children died within {within_ms:.0} ms: no fork for {backoff_ms:.0} ms")
        }
        ForkEvent::ChildAccepted {
            child,
            pid,
            accepted_at_ms,
            batch,
            child_accepted,
            total_accepted,
            ..
        } => format!(
            "child {child} pid {pid} accepted {batch}, the last at {accepted_at_ms:.3} ms (its #{child_accepted}, #{total_accepted} in all)"
        ),
        ForkEvent::ChildEmpty { child, pid, .. } => {
            format!("child {child} pid {pid} found nothing to accept")
        }
        ForkEvent::ChildExited {
            child,
            pid,
            status,
            lifetime_ms,
            outcome,
            accepted,
            ..
        } => format!(
            "child {child} pid {pid} status {status} after {lifetime_ms:.3} ms: {} (accepted {accepted})",
            outcome.name()
        ),
        ForkEvent::MaxChildren { message, .. } => message.clone(),
        ForkEvent::IdleKill {
            child,
            pid,
            idle_ms,
            signal,
            ..
        } => format!("child {child} pid {pid} idle {idle_ms:.0} ms: {signal}"),
        ForkEvent::Queue { len, max, .. } => format!("accept queue {len}/{max}"),
        ForkEvent::Stopping {
            reason, running, ..
        } => format!("{reason}: stopping {running} children"),
    };
    format!("{:>10.3} ms  {:<14} {detail}", event.t_ms(), event.name())
}

fn write_summary_table(out: &mut impl Write, summary: &ForkSummary) -> io::Result<()> {
    let fields = summary.fields();
    let width = fields.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    writeln!(out, "summary")?;
    for (name, shown) in fields {
        writeln!(out, "  {name:<width$}  {shown}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn text_lines_name_the_event_and_time() {
        let line = text_line(&ForkEvent::Fork {
            t_ms: 1.25,
            child: 2,
            pid: 7,
            running: 2,
        });
        assert_eq!(
            line,
            "     1.250 ms  fork           child 2 pid 7 (running 2)"
        );
        let warn = text_line(&ForkEvent::MaxChildren {
            t_ms: 0.0,
            max_children: 3,
            message: max_children_message(3),
        });
        assert!(
            warn.contains("server reached max_children setting (3)"),
            "{warn}"
        );
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
                model: "ondemand",
                trigger: "edge",
                accept: "blocking",
                addr: "127.0.0.1:1".into(),
                stop_reason: "duration".into(),
                pending_at_exit: 2,
                tcp: true,
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
        obs.wakeup(1).unwrap();
        obs.forked(1, 10, 1, false).unwrap();
        obs.accepted(1, 10, Duration::from_millis(1), 1, 1).unwrap();
        obs.exited(Exited {
            child: 1,
            pid: 10,
            status: 0,
            lifetime: Duration::from_millis(3),
            end: ChildEnd {
                outcome: ChildOutcome::Completed,
                accepted: 1,
                served: 1,
                first_byte_timeouts: 0,
                interrupted: 0,
            },
        })
        .unwrap();
        assert_eq!(obs.counts().check(), Ok(()));
        let summary = obs
            .summary(RunInfo {
                model: "per-event",
                trigger: "edge",
                accept: "blocking",
                addr: "/tmp/x".into(),
                stop_reason: "SIGTERM".into(),
                pending_at_exit: 0,
                tcp: false,
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
