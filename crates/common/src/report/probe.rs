//! The report `epoll-socket-test` prints: [`ProbeReport`], with one record per observed
//! cell of the single-waiter matrix ([`SingleWaiterRecord`]), per several-waiters scenario
//! ([`WaitersRecord`]) and per family for the backlog overflow ([`OverflowRecord`]).
//!
//! Families, trigger modes and scenarios are plain strings here (`"unix"`, `"edge"`,
//! `"own_epoll"`), the names the command line uses, so that this crate needs nothing from
//! the listener. Counts are plain numbers of events, processes or connections; times carry
//! their unit in the field name (`at_ms`, `window_ms`).

use serde::{Deserialize, Serialize};

/// Everything one probe run observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The kernel release (`uname -r`), e.g. `"6.18.44"`.
    pub kernel: String,
    /// Who made the single-waiter connects: `"same"`, `"child"` or `"thread"`.
    pub connect_from: String,
    /// One record per family x trigger mode x step, in run order.
    pub single_waiter: Vec<SingleWaiterRecord>,
    /// One record per family x scenario x mode, in run order.
    pub waiters: Vec<WaitersRecord>,
    /// One record per family.
    pub overflow: Vec<OverflowRecord>,
    /// Single-waiter cells where the kernel differs from the strict-edge reading (a count
    /// of records whose `differs` is true).
    pub differences: u64,
    /// Wall-clock time of the whole run, in milliseconds.
    pub elapsed_ms: u64,
}

/// One step of the single-waiter matrix: what two `epoll_wait(timeout 0)` calls returned
/// right after the step, and what a strict "edge = empty to non-empty transition" reading
/// of epoll(7) predicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingleWaiterRecord {
    /// `"unix"`, `"inet"` or `"inet6"`.
    pub family: String,
    /// The listener's address: a socket path or `ip:port`.
    pub address: String,
    /// `"level"`, `"edge"`, `"oneshot"`, `"exclusive"` or `"edge-exclusive"`.
    pub trigger: String,
    /// Who connected: `"same"`, `"child"` or `"thread"`.
    pub connect_from: String,
    /// The step: `"registered"`, `"connect_1"`, ... `"client_close_queued"`.
    pub step: String,
    /// Events returned by the first `epoll_wait(0)` after the step.
    pub first: u64,
    /// Events returned by the second `epoll_wait(0)`, right after the first.
    pub second: u64,
    /// The flags of the first wait's event (`["IN"]`), empty when it returned none.
    pub first_flags: Vec<String>,
    /// The flags of the second wait's event, empty when it returned none.
    pub second_flags: Vec<String>,
    /// What the strict-edge reading predicts for `first`.
    pub strict_edge_first: u64,
    /// What the strict-edge reading predicts for `second`.
    pub strict_edge_second: u64,
    /// True when `first` or `second` differs from the prediction.
    pub differs: bool,
    /// Connections waiting in the accept queue after the step (as the kernel reports it).
    pub queue_len: u32,
    /// Why the step's own syscall failed, e.g. `"epoll_ctl(EPOLL_CTL_MOD): EINVAL"`;
    /// `null` when it succeeded. The two waits are made either way.
    pub error: Option<String>,
}

/// One several-waiters scenario: `waiters` processes (or listeners, for `reuseport`) and
/// what each one got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitersRecord {
    /// `"unix"`, `"inet"` or `"inet6"`.
    pub family: String,
    /// `"own_epoll"`, `"shared_epoll"`, `"accept_loop"`, `"blocking_accept"` or
    /// `"reuseport"`.
    pub scenario: String,
    /// The trigger mode the waiters registered with, or `"accept"` (blocking accept) or
    /// `"listeners"` (reuseport).
    pub mode: String,
    /// Number of waiter processes (for `reuseport`: listening sockets).
    pub waiters: u64,
    /// Connections made in the scenario.
    pub connections: u64,
    /// Waiters that woke at least once: returned from `epoll_wait` (`own_epoll`,
    /// `shared_epoll`, `accept_loop`) or from `accept()` (`blocking_accept`, where
    /// returning means getting a connection). `reuseport`: listeners that received at
    /// least one connection (nobody waits there).
    pub woken: u64,
    /// Waiters that accepted at least one connection (`accept_loop`, `blocking_accept`);
    /// `null` where nobody accepts (`own_epoll`, `shared_epoll`, `reuseport`). In
    /// `accept_loop` it can be below `woken`: a woken waiter can find the queue empty.
    pub accepting: Option<u64>,
    /// Per waiter, in fork order: 1 if it woke, else 0 (`own_epoll`, `shared_epoll`);
    /// connections accepted (`accept_loop`, `blocking_accept`); connections queued on
    /// that listener (`reuseport`).
    pub per_waiter: Vec<u64>,
    /// `accept_loop` only: per waiter, how often `epoll_wait` returned the listener.
    pub wakeups_per_waiter: Vec<u64>,
    /// `accept_loop` only: per waiter, wakeups that found nothing to accept (the first
    /// accept after the wakeup failed with `EAGAIN`: another waiter had been faster).
    pub empty_wakeups_per_waiter: Vec<u64>,
    /// `accept_loop` only: per waiter, accepts that failed with `EAGAIN` (each wakeup ends
    /// with one: the waiter accepts until the queue is empty).
    pub eagain_per_waiter: Vec<u64>,
    /// `blocking_accept` only: the waiter (fork order, from 0) that got each connection.
    pub order: Vec<u64>,
    /// `blocking_accept` only: true when `order` is first-in first-out (the waiters
    /// took turns in the order they blocked); `null` for other scenarios.
    pub fifo: Option<bool>,
    /// Where each waiter was blocked just before the connect, from `/proc/<pid>/wchan`
    /// (e.g. `"ep_poll"`), in fork order; empty for `reuseport`.
    pub blocked_in: Vec<String>,
    /// Why the scenario could not run (e.g. SO_REUSEPORT on a unix socket) or could not be
    /// observed (see `observed`); `null` when it ran.
    pub error: Option<String>,
    /// False when the scenario could not be observed: a waiter or helper did not answer
    /// within its bound (e.g. under heavy CPU contention), so the counts are empty and
    /// `error` says what timed out. True otherwise, also when the kernel refused the
    /// scenario (that refusal, in `error`, is itself the finding).
    pub observed: bool,
}

/// The backlog overflow of one family: `backlog + 3` non-blocking connects, nobody
/// accepting, then one accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowRecord {
    /// `"unix"`, `"inet"` or `"inet6"`.
    pub family: String,
    /// The listener's address.
    pub address: String,
    /// The `listen()` backlog asked for.
    pub backlog: u32,
    /// Connections in the accept queue after all connects, as the kernel reports it
    /// (TCP: `TCP_INFO`; unix: sock_diag `UNIX_DIAG_RQLEN`).
    pub queue_len: u32,
    /// The queue limit the kernel reports alongside (the effective backlog).
    pub queue_max: u32,
    /// Edge-triggered events seen over all connects (an `epoll_wait(0)` after each).
    pub events: u64,
    /// Per connect, in order: the queue length right after it.
    pub queue_len_after_each: Vec<u32>,
    /// Per connect, in order: the edge-triggered events seen right after it.
    pub events_after_each: Vec<u64>,
    /// The connects beyond the backlog (`backlog + 1` to `backlog + 3`).
    pub extra_connects: Vec<ExtraConnect>,
    /// Growth of `TcpExt: ListenOverflows` over the connects (system-wide); `null` for
    /// unix sockets, which have no such counter.
    pub listen_overflows_delta: Option<u64>,
    /// Growth of `TcpExt: ListenDrops` over the connects (system-wide); `null` for unix.
    pub listen_drops_delta: Option<u64>,
    /// The queue length right after accepting one connection.
    pub queue_len_after_accept: u32,
    /// How long events were collected after that accept, in milliseconds.
    pub window_ms: u64,
    /// Events seen in that window, in order.
    pub events_after_accept: Vec<TimedEvent>,
    /// The queue length at the end of the window.
    pub queue_len_after_window: u32,
    /// Why this family's overflow could not run; `null` when it ran.
    pub error: Option<String>,
}

/// One connect beyond the backlog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraConnect {
    /// Its number among all connects, from 1.
    pub index: u64,
    /// What `connect()` returned: `"connected"`, `"in_progress"` (`EINPROGRESS`),
    /// `"would_block"` (`EAGAIN`) or another errno name.
    pub result: String,
    /// Its state once the connects were done: `"established"`, `"pending"` (the
    /// handshake has not completed: the listener dropped the SYN or ACK) or `"failed"`.
    pub state: String,
}

/// An event seen during a bounded wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedEvent {
    /// When it arrived, in milliseconds from the start of the wait.
    pub at_ms: u64,
    /// Its flags, e.g. `["IN"]`.
    pub flags: Vec<String>,
}
