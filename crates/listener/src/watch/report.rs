//! What `listen-watch` prints, as plain serde structs: the `--once` [`Snapshot`], and the
//! JSON lines of a sampling run ([`Line`]: `listener`, `sample`, `interval`, `summary`).
//!
//! Units are in the field names: `ts` is unix time in milliseconds, `*_ms` milliseconds,
//! queue lengths and backlogs are connections, workers are processes.

use serde::Serialize;

use super::client::ClientInterval;
use super::workers::IdlePlaces;
use crate::netstat::ListenCounters;

/// The family of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// A TCP listener (IPv4 or IPv6).
    Tcp,
    /// A unix stream or seqpacket listener.
    Unix,
}

/// A process holding a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// Its pid.
    pub pid: u32,
    /// Its name (`/proc/<pid>/comm`).
    pub process: String,
}

/// One listener at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerView {
    /// `tcp` or `unix`.
    pub family: Family,
    /// `ip:port` (IPv6 in brackets), the unix path, `@name` (abstract) or `(unnamed)`.
    pub address: String,
    /// The socket inode (`socket:[inode]` in `/proc/<pid>/fd`): tells apart two listeners
    /// on one address.
    pub inode: u64,
    /// Connections waiting in the accept queue.
    pub queue: u32,
    /// The effective backlog (the `listen()` argument capped by `net.core.somaxconn`).
    pub backlog: u32,
    /// The processes holding it whose parent does not: the server (master) processes.
    pub owners: Vec<Owner>,
    /// `true` when no owner was found and some processes' open files could not be read
    /// (see [`Unreadable`]): the owner may be one of them (text: "owner not visible
    /// without privileges", or as root which processes refused even root). Never a guess.
    pub owners_hidden: bool,
    /// Worker processes: holders whose parent holds it too, or the owners themselves when
    /// there are none.
    pub workers: u32,
    /// Workers not asleep waiting for a connection on it.
    pub busy: u32,
    /// Workers asleep in accept (or epoll_wait) on it.
    pub idle: u32,
}

/// The processes whose open files could not be read at the last `/proc` scan: a
/// listener's owner may be among them (`owners_hidden`), never guessed at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// listen-watch ran as root: these processes refused even root their fd links (ptrace
    /// access denied, e.g. a process with capabilities we lack); otherwise they are
    /// mostly other users' processes, visible with privileges.
    pub as_root: bool,
    /// How many processes, count.
    pub processes: usize,
    /// The lowest of their pids, at most [`Unreadable::LISTED`].
    pub pids: Vec<u32>,
}

impl Unreadable {
    /// How many pids are listed.
    pub const LISTED: usize = 5;
}

/// `--once`: every selected listener.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// The listeners, TCP first, then unix, each by address.
    pub listeners: Vec<ListenerView>,
    /// The processes whose open files could not be read.
    pub unreadable: Unreadable,
    /// The wchan names counted as idle, observed on this kernel at start-up.
    pub idle_wchans: IdlePlaces,
}

/// Whether a `listener` line reports a listener appearing or going away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// First seen (at start, or it appeared later).
    Found,
    /// No longer listening.
    Gone,
}

/// One JSON line of a sampling run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Line {
    /// A selected listener was found or is gone.
    Listener {
        /// Unix time, milliseconds.
        ts: u64,
        /// Found or gone.
        state: Presence,
        /// The listener when found, or as last seen.
        #[serde(flatten)]
        view: ListenerView,
    },
    /// A value of one listener changed since its previous sample.
    Sample {
        /// Unix time, milliseconds.
        ts: u64,
        /// The listener's address.
        address: String,
        /// The listener's inode.
        inode: u64,
        /// Connections in the accept queue.
        queue: u32,
        /// The effective backlog.
        backlog: u32,
        /// Worker processes.
        workers: u32,
        /// Busy workers.
        busy: u32,
    },
    /// The roll-up of one second of samples.
    Interval {
        /// Unix time at the end of the second, milliseconds.
        ts: u64,
        /// Per listener.
        listeners: Vec<IntervalListener>,
    },
    /// One interval line of the wrapped socket-connect, beside the watched listeners over
    /// the same window.
    ClientInterval(Box<ClientWindow>),
    /// A line the wrapped command printed on stdout (captured with `--format json`).
    Command {
        /// Unix time the line arrived, milliseconds.
        ts: u64,
        /// The line: its JSON value when it is JSON (socket-connect's `holding` line or
        /// report; its interval lines are `client_interval` lines instead), else the text.
        output: CommandOutput,
    },
    /// The end of the run.
    Summary(Box<Summary>),
}

/// One captured line of the wrapped command.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CommandOutput {
    /// A JSON value.
    Json(serde_json::Value),
    /// Anything else, as text.
    Text(String),
}

/// One interval of the wrapped socket-connect and the server over the same window: the
/// samples taken since its previous interval line arrived (or since the start), so the
/// window is the client's interval, shifted by the time its line takes to reach us (at
/// most one `--interval`: captured lines are read before each sample).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientWindow {
    /// Unix time the client's line arrived, milliseconds (listen-watch's clock).
    pub ts: u64,
    /// The client's interval as socket-connect printed it (its own `ts`, `t_ms`, counts
    /// and phase percentiles in microseconds), unknown fields kept.
    pub client: ClientInterval,
    /// Each watched listener over the window (the fields of the `interval` roll-up).
    pub listeners: Vec<IntervalListener>,
}

/// One listener over one second (or one client window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalListener {
    /// The listener's address.
    pub address: String,
    /// The listener's inode.
    pub inode: u64,
    /// Samples taken in this second.
    pub samples: u64,
    /// Shortest accept queue seen, connections.
    pub queue_min: u32,
    /// Longest accept queue seen, connections.
    pub queue_max: u32,
    /// Mean accept queue over the samples, connections.
    pub queue_mean: f64,
    /// Most workers seen.
    pub workers_max: u32,
    /// Most busy workers seen.
    pub busy_max: u32,
    /// Mean busy workers over the samples.
    pub busy_mean: f64,
}

/// The summary line (JSON) or table (text) at the end of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Unix time at the end, milliseconds.
    pub ts: u64,
    /// From the first sample to the last, milliseconds.
    pub elapsed_ms: f64,
    /// Samples taken (each reads every selected listener once).
    pub samples: u64,
    /// The `--interval`, milliseconds.
    pub interval_ms: f64,
    /// listen-watch's own CPU time over the run (user + system, every thread; not the
    /// wrapped command's), milliseconds: what watching cost, start-up included.
    pub own_cpu_ms: f64,
    /// `own_cpu_ms` as a share of one core over `elapsed_ms`, percent.
    pub own_cpu_percent: f64,
    /// Every listener seen during the run.
    pub listeners: Vec<SummaryListener>,
    /// The processes whose open files could not be read, at the last scan.
    pub unreadable: Unreadable,
    /// Growth of the system-wide TCP listen counters of `/proc/net/netstat` over the run
    /// (all TCP listeners on the machine add to them, not only the watched ones).
    pub netstat: NetstatDeltas,
    /// The wchan names counted as idle, observed on this kernel at start-up.
    pub idle_wchans: IdlePlaces,
    /// The wrapped command's exit code (128+signal if killed); `null` without a command.
    pub command_exit_code: Option<i32>,
    /// The wrapped command's report: the last JSON object it printed that is not an event
    /// line (has no `event` field), verbatim. For socket-connect `--format json` that is its
    /// report (connect counts, errors, `connect_latency_us` percentiles), owned and
    /// documented by socket-connect; `null` when there is none.
    pub client: Option<serde_json::Value>,
    /// Every interval line of the wrapped socket-connect, each beside the server over the
    /// same window; empty without one (or when it prints none: without `--interval`).
    pub client_intervals: Vec<ClientWindow>,
}

/// One listener over the whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryListener {
    /// `tcp` or `unix`.
    pub family: Family,
    /// The listener's address.
    pub address: String,
    /// The listener's inode.
    pub inode: u64,
    /// Samples of this listener.
    pub samples: u64,
    /// The accept queue at the last sample, connections.
    pub queue: u32,
    /// The effective backlog at the last sample.
    pub backlog: u32,
    /// The longest accept queue seen, connections.
    pub max_queue: u32,
    /// When `max_queue` was first seen, milliseconds since the first sample.
    pub max_queue_at_ms: f64,
    /// Median accept queue over the samples, connections.
    pub queue_p50: u64,
    /// 99th percentile of the accept queue over the samples, connections.
    pub queue_p99: u64,
    /// Most workers seen at once.
    pub max_workers: u32,
    /// Most busy workers seen at once.
    pub max_busy_workers: u32,
    /// The first owner's pid; `null` when none is visible.
    pub pid: Option<u32>,
    /// The first owner's name; `null` when none is visible.
    pub process: Option<String>,
    /// `true` when no owner is visible and some processes could not be read (as in
    /// [`ListenerView::owners_hidden`]).
    pub owners_hidden: bool,
    /// `true` when it stopped listening during the run.
    pub gone: bool,
}

/// Growth of the `TcpExt:` listen counters over the run, each a count of events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetstatDeltas {
    /// `ListenOverflows`: connections completed while an accept queue was full.
    pub listen_overflows: u64,
    /// `ListenDrops`: SYNs or ACKs a listener dropped (overflows included).
    pub listen_drops: u64,
    /// `SyncookiesSent`: SYNs answered with a cookie (SYN queue full).
    pub syncookies_sent: u64,
    /// `SyncookiesRecv`: cookie ACKs that checked.
    pub syncookies_recv: u64,
    /// `SyncookiesFailed`: cookie ACKs that did not.
    pub syncookies_failed: u64,
}

impl From<ListenCounters> for NetstatDeltas {
    fn from(c: ListenCounters) -> Self {
        Self {
            listen_overflows: c.overflows,
            listen_drops: c.drops,
            syncookies_sent: c.syncookies_sent,
            syncookies_recv: c.syncookies_recv,
            syncookies_failed: c.syncookies_failed,
        }
    }
}
