//! The text format of the forker's output: one line per event (time, event name, details)
//! and the summary as an aligned table. Enum values are shown by their JSON words
//! ([`label`]), so text and JSON agree.

use std::io::{self, Write};

use super::report::{ForkEvent, ForkSummary, label};

/// One text line: time, event name, details.
pub fn line(event: &ForkEvent) -> String {
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
            label(outcome)
        ),
        ForkEvent::MaxChildren { message, .. } | ForkEvent::SeemsBusy { message, .. } => {
            message.clone()
        }
        ForkEvent::Status {
            process_manager,
            accepted_conn,
            listen_queue,
            idle_processes,
            active_processes,
            total_processes,
            max_children_reached,
            ..
        } => format!(
            "{}: accepted conn {accepted_conn}, listen queue {listen_queue}, idle \
             {idle_processes}, active {active_processes}, total {total_processes}, max \
             children reached {max_children_reached}",
            label(process_manager)
        ),
        ForkEvent::SpawnRate {
            active,
            idle,
            running,
            rate,
            ..
        } => format!("{active} active, {idle} idle, {running} running children; spawn rate {rate}"),
        ForkEvent::IdleKill {
            child,
            pid,
            idle_ms,
            signal,
            ..
        } => format!(
            "child {child} pid {pid} idle {idle_ms:.0} ms: {}",
            label(signal)
        ),
        ForkEvent::Queue { len, max, .. } => format!("accept queue {len}/{max}"),
        ForkEvent::Stopping {
            reason, running, ..
        } => format!("{}: stopping {running} children", label(reason)),
    };
    format!("{:>10.3} ms  {:<14} {detail}", event.t_ms(), event.name())
}

/// The summary as an aligned table: `summary`, then one `name  value` row per field.
pub fn summary_table(out: &mut impl Write, summary: &ForkSummary) -> io::Result<()> {
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
    use crate::forker::event::MaxChildrenSetting;
    use crate::forker::observer::max_children_message;

    #[test]
    fn text_lines_name_the_event_and_time() {
        let fork = line(&ForkEvent::Fork {
            t_ms: 1.25,
            child: 2,
            pid: 7,
            running: 2,
        });
        assert_eq!(
            fork,
            "     1.250 ms  fork           child 2 pid 7 (running 2)"
        );
        let warn = line(&ForkEvent::MaxChildren {
            t_ms: 0.0,
            max_children: 3,
            message: max_children_message(MaxChildrenSetting::OnAccept, 3),
        });
        assert!(
            warn.contains("server reached max_children setting (3)"),
            "{warn}"
        );
    }
}
