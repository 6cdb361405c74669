//! The text output of `listen-watch`: the `--once` table, the live status line (stderr, on
//! a terminal), the summary table at the end, and under it, for a wrapped socket-connect
//! with interval lines, the client's intervals beside the server's. Tables are the probe's
//! aligned [`Table`].

use super::report::{ClientWindow, ListenerView, Owner, Snapshot, Summary, Unreadable};
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
        "{}{} samples in {:.0} ms, every {} ms; listen-watch used {:.0} ms of CPU ({:.1}% of one core)\nsystem-wide: ListenOverflows +{}, ListenDrops +{}, \
         SyncookiesSent +{}, SyncookiesRecv +{}, SyncookiesFailed +{}\n{}{}",
        t.render(0),
        s.samples,
        s.elapsed_ms,
        s.interval_ms,
        s.own_cpu_ms,
        s.own_cpu_percent,
        n.listen_overflows,
        n.listen_drops,
        n.syncookies_sent,
        n.syncookies_recv,
        n.syncookies_failed,
        places(&s.idle_wchans),
        client_intervals(&s.client_intervals)
    )
}

/// The client's intervals, one row per interval and listener: socket-connect's counts and
/// the percentiles of each phase it measures (microseconds; `-` without a sample), then
/// the listener over the same window. Empty without interval lines.
fn client_intervals(windows: &[ClientWindow]) -> String {
    let Some(first) = windows.first() else {
        return String::new();
    };
    // The phases measured in this run: null in one interval is null in all.
    let phases: Vec<&str> = first
        .client
        .phases()
        .into_iter()
        .filter(|(_, p)| p.is_some())
        .map(|(name, _)| name)
        .collect();
    let mut header: Vec<String> = ["T_MS", "CONNECTED", "FAILED", "OPEN"]
        .map(String::from)
        .into();
    for name in &phases {
        let name = name.to_uppercase();
        header.extend([format!("{name}_P50_US"), format!("{name}_P99_US")]);
    }
    header.extend(["ADDRESS", "QUEUE_MAX", "QUEUE_MEAN", "BUSY_MAX", "WORKERS"].map(String::from));
    let mut t = Table::new(header);
    let us = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for w in windows {
        let c = &w.client;
        let mut left = vec![
            format!("{:.0}", c.t_ms),
            c.connected.to_string(),
            c.failed.to_string(),
            c.open.to_string(),
        ];
        for (name, phase) in c.phases() {
            if phases.contains(&name) {
                left.push(us(phase.and_then(|p| p.p50)));
                left.push(us(phase.and_then(|p| p.p99)));
            }
        }
        if w.listeners.is_empty() {
            t.row(left.iter().cloned().chain(["-".to_owned()]));
        }
        for l in &w.listeners {
            t.row(left.iter().cloned().chain([
                l.address.clone(),
                l.queue_max.to_string(),
                format!("{:.1}", l.queue_mean),
                l.busy_max.to_string(),
                l.workers_max.to_string(),
            ]));
        }
    }
    format!(
        "client (socket-connect) per interval, beside the server over the same window:\n{}",
        t.render(0)
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
