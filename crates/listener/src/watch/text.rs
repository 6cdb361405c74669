//! The text output of `listen-watch`: the `--once` table, the live status line (stderr, on
//! a terminal) and the summary table at the end. Tables are the probe's aligned
//! [`Table`].

use super::report::{ListenerView, Owner, Snapshot, Summary, Unreadable};
use super::workers::IdlePlaces;
use crate::table::Table;

/// What the owner column says when no owner is visible to us (not as root).
pub const OWNER_HIDDEN: &str = "owner not visible without privileges";

/// The owner column of a listener whose holders may be among the unreadable processes:
/// without privileges, [`OWNER_HIDDEN`]; as root, which processes refused even root.
fn hidden(u: &Unreadable) -> String {
    if !u.as_root {
        return OWNER_HIDDEN.to_owned();
    }
    let pids: Vec<String> = u.pids.iter().map(u32::to_string).collect();
    let more = if u.processes > u.pids.len() {
        ", ..."
    } else {
        ""
    };
    let which = match u.processes {
        1 => format!("pid {} refuses even root its", pids.join(", ")),
        _ => format!(
            "{} processes (pids {}{more}) refuse even root their",
            u.processes,
            pids.join(", ")
        ),
    };
    format!("owner not visible: {which} open files (ptrace denied)")
}

fn owners(list: &[Owner], owners_hidden: bool, u: &Unreadable) -> String {
    if list.is_empty() {
        return if owners_hidden {
            hidden(u)
        } else {
            "-".to_owned()
        };
    }
    list.iter()
        .map(|o| format!("{} ({})", o.pid, o.process))
        .collect::<Vec<_>>()
        .join(", ")
}

fn places(p: &IdlePlaces) -> String {
    let name = |n: &Option<String>| n.clone().unwrap_or_else(|| "not observed".to_owned());
    format!(
        "idle = asleep in tcp accept: {}, unix accept: {}, epoll_wait on it: {}\n",
        name(&p.tcp_accept),
        name(&p.unix_accept),
        name(&p.epoll_wait)
    )
}

/// The `--once` table.
pub fn snapshot(s: &Snapshot) -> String {
    let mut t = Table::new([
        "FAMILY", "ADDRESS", "QUEUE", "BACKLOG", "WORKERS", "BUSY", "IDLE", "OWNER",
    ]);
    for l in &s.listeners {
        t.row([
            format!("{:?}", l.family).to_lowercase(),
            l.address.clone(),
            l.queue.to_string(),
            l.backlog.to_string(),
            l.workers.to_string(),
            l.busy.to_string(),
            l.idle.to_string(),
            owners(&l.owners, l.owners_hidden, &s.unreadable),
        ]);
    }
    t.render(0) + &places(&s.idle_wchans)
}

/// The live status line: each listener's queue/backlog and busy/workers, one line.
pub fn status(views: &[ListenerView]) -> String {
    views
        .iter()
        .map(|v| {
            format!(
                "{} queue {}/{} busy {}/{}",
                v.address, v.queue, v.backlog, v.busy, v.workers
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The summary table at the end of a run.
pub fn summary(s: &Summary) -> String {
    let mut t = Table::new([
        "ADDRESS",
        "QUEUE",
        "BACKLOG",
        "MAX_QUEUE",
        "AT_MS",
        "P50",
        "P99",
        "MAX_WORKERS",
        "MAX_BUSY",
        "OWNER",
    ]);
    for l in &s.listeners {
        let owner = match (l.pid, &l.process) {
            (Some(pid), Some(name)) => format!("{pid} ({name})"),
            _ if l.owners_hidden => hidden(&s.unreadable),
            _ => "-".to_owned(),
        };
        t.row([
            l.address.clone() + if l.gone { " (gone)" } else { "" },
            l.queue.to_string(),
            l.backlog.to_string(),
            l.max_queue.to_string(),
            format!("{:.0}", l.max_queue_at_ms),
            l.queue_p50.to_string(),
            l.queue_p99.to_string(),
            l.max_workers.to_string(),
            l.max_busy_workers.to_string(),
            owner,
        ]);
    }
    let n = s.netstat;
    format!(
        "{}{} samples in {:.0} ms, every {} ms\nsystem-wide: ListenOverflows +{}, ListenDrops +{}, \
         SyncookiesSent +{}, SyncookiesRecv +{}, SyncookiesFailed +{}\n{}",
        t.render(0),
        s.samples,
        s.elapsed_ms,
        s.interval_ms,
        n.listen_overflows,
        n.listen_drops,
        n.syncookies_sent,
        n.syncookies_recv,
        n.syncookies_failed,
        places(&s.idle_wchans)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_owner_is_explained_by_who_we_are() {
        let user = Unreadable {
            as_root: false,
            processes: 120,
            pids: vec![1, 2, 3, 4, 5],
        };
        assert_eq!(owners(&[], true, &user), OWNER_HIDDEN);
        assert_eq!(owners(&[], false, &user), "-");
        let root = Unreadable {
            as_root: true,
            processes: 1,
            pids: vec![1],
        };
        assert_eq!(
            owners(&[], true, &root),
            "owner not visible: pid 1 refuses even root its open files (ptrace denied)"
        );
        let root = Unreadable {
            as_root: true,
            processes: 7,
            pids: vec![1, 2, 3, 4, 5],
        };
        assert_eq!(
            owners(&[], true, &root),
            "owner not visible: 7 processes (pids 1, 2, 3, 4, 5, ...) refuse even root \
             their open files (ptrace denied)"
        );
    }
}
