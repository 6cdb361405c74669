//! The report `epoll-socket-test` prints: [`ProbeReport`], with one record per observed
//! cell of the single-waiter matrix ([`SingleWaiterRecord`]), per several-waiters scenario
//! and mode ([`WaitersRecord`]) and per family for the backlog overflow
//! ([`OverflowRecord`]).
//!
//! Families, trigger modes, steps, scenarios and connect outcomes are enums whose serde
//! names are the JSON values (`"unix"`, `"edge"`, `"connect_1"`, `"own_epoll"`); that one
//! spelling is also what the text output prints (their `Display`), so no table maps an
//! enum to a string by hand. Counts are plain numbers of events, processes or
//! connections; times carry their unit in the field name (`at_ms`, `window_ms`).
//!
//! This module holds data only: what a step does is in [`super::single`]; the
//! [`Scenario`] enum lives with the scenarios ([`super::scenarios`]), so that a new
//! scenario is written in that folder alone.

use std::fmt;

use nix::errno::Errno;
use nix::sys::epoll::EpollFlags;
use serde::{Serialize, Serializer};

use super::scenarios::Scenario;
use super::single::step::Step;
use crate::events;
use crate::poller::Trigger;
use crate::socket::Family;

/// Everything one probe run observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// The kernel release (`uname -r`), e.g. `"6.18.44"`.
    pub kernel: String,
    /// Who made the single-waiter connects.
    pub connect_from: ConnectFrom,
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

/// Who connects to the listener in the single-waiter matrix (`--connect-from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ConnectFrom {
    /// The probe process itself, inline (the original's `-DINLINE_CONNECT`).
    Same,
    /// A forked child process, commanded over a pipe (the original's default).
    #[default]
    Child,
    /// A thread of the probe process.
    Thread,
}

/// One step of the single-waiter matrix: what two `epoll_wait(timeout 0)` calls returned
/// right after the step, and what a strict "edge = empty to non-empty transition" reading
/// of epoll(7) predicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SingleWaiterRecord {
    /// `"unix"`, `"inet"` or `"inet6"`.
    pub family: Family,
    /// The listener's address: a socket path or `ip:port`.
    pub address: String,
    /// `"level"`, `"edge"`, `"oneshot"`, `"exclusive"` or `"edge-exclusive"`.
    pub trigger: Trigger,
    /// Who connected: `"same"`, `"child"` or `"thread"`.
    pub connect_from: ConnectFrom,
    /// The step: `"registered"`, `"connect_1"`, ... `"client_close_queued"`.
    pub step: Step,
    /// Events returned by the first `epoll_wait(0)` after the step.
    pub first: u64,
    /// Events returned by the second `epoll_wait(0)`, right after the first.
    pub second: u64,
    /// The flags of the first wait's event (`["IN"]`), empty when it returned none.
    pub first_flags: Flags,
    /// The flags of the second wait's event, empty when it returned none.
    pub second_flags: Flags,
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

/// What the waiters of a scenario wait with: a trigger mode (`"level"`, ...), a blocking
/// `"accept"`, or, for `reuseport`, nobody waiting on the `"listeners"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Blocking `accept()` (`blocking_accept`).
    Accept,
    /// The SO_REUSEPORT listeners themselves (`reuseport`).
    Listeners,
    /// The waiters registered with this trigger mode; its name is the JSON value.
    #[serde(untagged)]
    Trigger(Trigger),
}

/// One several-waiters scenario: `waiters` processes (or listeners, for `reuseport`) and
/// what each one got. The fields a scenario does not fill stay empty (`[]`, `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitersRecord {
    /// `"unix"`, `"inet"` or `"inet6"`.
    pub family: Family,
    /// `"own_epoll"`, `"shared_epoll"`, `"accept_loop"`, `"blocking_accept"` or
    /// `"reuseport"`.
    pub scenario: Scenario,
    /// The trigger mode the waiters registered with, or `"accept"` (blocking accept) or
    /// `"listeners"` (reuseport).
    pub mode: Mode,
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

impl WaitersRecord {
    /// A record of `waiters` waiters in `scenario`/`mode` with nothing counted yet: the
    /// base every scenario fills in with the fields it observes.
    pub fn new(family: Family, scenario: Scenario, mode: Mode, waiters: usize) -> Self {
        Self {
            family,
            scenario,
            mode,
            waiters: waiters as u64,
            connections: 0,
            woken: 0,
            accepting: None,
            per_waiter: Vec::new(),
            wakeups_per_waiter: Vec::new(),
            empty_wakeups_per_waiter: Vec::new(),
            eagain_per_waiter: Vec::new(),
            order: Vec::new(),
            fifo: None,
            blocked_in: Vec::new(),
            error: None,
            observed: true,
        }
    }

    /// The same record, counting nothing, as one that could not be observed: `why` says
    /// which helper did not answer in time.
    pub fn unobserved(self, why: String) -> Self {
        Self {
            error: Some(why),
            observed: false,
            ..Self::new(self.family, self.scenario, self.mode, self.waiters as usize)
        }
    }
}

/// The backlog overflow of one family: `backlog + 3` non-blocking connects, nobody
/// accepting, then one accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverflowRecord {
    /// `"unix"`, `"inet"` or `"inet6"`.
    pub family: Family,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtraConnect {
    /// Its number among all connects, from 1.
    pub index: u64,
    /// What `connect()` returned.
    pub result: ConnectResult,
    /// Its state once the connects were done.
    pub state: ConnectState,
}

/// What a non-blocking `connect()` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectResult {
    /// `"connected"`: connected at once (a unix socket with room in the backlog).
    Connected,
    /// `"in_progress"`: `EINPROGRESS`, TCP completes the handshake on its own.
    InProgress,
    /// `"would_block"`: `EAGAIN`, a unix listener's backlog is full.
    WouldBlock,
    /// Another error, as its errno name (`"ECONNREFUSED"`).
    #[serde(untagged, serialize_with = "errno_name")]
    Failed(Errno),
}

impl ConnectResult {
    /// True when the connect went ahead (at once or in progress).
    pub fn started(self) -> bool {
        matches!(self, Self::Connected | Self::InProgress)
    }
}

/// Where a non-blocking connect stands once the connects are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectState {
    /// `"established"`: writable, no socket error.
    Established,
    /// `"pending"`: the handshake has not completed (the listener dropped the SYN or ACK).
    Pending,
    /// `"not_connected"`: the connect failed or never started.
    NotConnected,
}

/// An event seen during a bounded wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimedEvent {
    /// When it arrived, in milliseconds from the start of the wait.
    pub at_ms: u64,
    /// Its flags, e.g. `["IN"]`.
    pub flags: Flags,
}

/// The epoll flags of one event, serialised as their names (`["IN", "RDHUP"]`, see
/// `events::flag_names`); no flags (no event) is `[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub EpollFlags);

impl Flags {
    /// The flag names, in strace order.
    pub fn names(self) -> Vec<String> {
        events::flag_names(self.0)
    }
}

impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.names())
    }
}

/// The names joined with `|` (`IN|RDHUP`); nothing for no flags.
impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join("|"))
    }
}

/// An errno as its name (`ECONNREFUSED`), the way nix's `Debug` spells it.
fn errno_name<S: Serializer>(errno: &Errno, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("{errno:?}"))
}

/// The JSON value of an enum that serialises as a string: serde's spelling is the one
/// spelling, in JSON and in text.
fn serde_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        // Every type this is used for serialises as a string (see `by_serde_name!`).
        _ => "?".to_owned(),
    }
}

/// `Display` through [`serde_name`], for the enums of this report.
macro_rules! by_serde_name {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&serde_name(self))
            }
        }
    )*};
}

by_serde_name!(
    ConnectFrom,
    Scenario,
    Mode,
    ConnectResult,
    ConnectState,
    Step
);

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: impl Serialize) -> String {
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn enums_print_as_their_json_names() {
        assert_eq!(json(Step::Connect1), r#""connect_1""#);
        assert_eq!(json(Step::Burst3ThenPoll), r#""burst_3_then_poll""#);
        assert_eq!(
            json(Mode::Trigger(Trigger::EdgeExclusive)),
            r#""edge-exclusive""#
        );
        assert_eq!(json(Mode::Listeners), r#""listeners""#);
        assert_eq!(json(Scenario::BlockingAccept), r#""blocking_accept""#);
        assert_eq!(
            json(ConnectResult::Failed(Errno::ECONNREFUSED)),
            r#""ECONNREFUSED""#
        );
        assert_eq!(json(ConnectResult::WouldBlock), r#""would_block""#);
        assert_eq!(json(ConnectState::NotConnected), r#""not_connected""#);
        assert_eq!(json(ConnectFrom::Thread), r#""thread""#);
        assert_eq!(Step::ClientWriteQueued.to_string(), "client_write_queued");
        assert_eq!(Mode::Trigger(Trigger::Edge).to_string(), "edge");
        assert_eq!(ConnectResult::Failed(Errno::ENOENT).to_string(), "ENOENT");
        let flags = Flags(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP);
        assert_eq!(serde_json::to_string(&flags).unwrap(), r#"["IN","RDHUP"]"#);
        assert_eq!(flags.to_string(), "IN|RDHUP");
        assert_eq!(
            serde_json::to_string(&Flags(EpollFlags::empty())).unwrap(),
            "[]"
        );
    }
}
