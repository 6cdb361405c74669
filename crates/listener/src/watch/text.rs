//! The text output of `listen-watch`: the `--once` table, the live status line (stderr, on
//! a terminal) and the summary table at the end. Tables are the probe's aligned
//! [`Table`].

use super::report::{ListenerView, Owner, Snapshot, Summary};
use super::workers::IdlePlaces;
use crate::table::Table;

/// What the owner column says when no owner is visible to us.
pub const OWNER_HIDDEN: &str = "owner not visible without privileges";

fn owners(list: &[Owner], hidden: bool) -> String {
    if list.is_empty() {
        return if hidden { OWNER_HIDDEN } else { "-" }.to_owned();
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
            owners(&l.owners, l.owners_hidden),
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
            _ if l.owners_hidden => OWNER_HIDDEN.to_owned(),
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
