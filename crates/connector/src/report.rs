//! The report `socket-connect` prints at the end of a run: [`ConnectReport`], with the
//! failed connects tallied by [`ErrorKind`] in [`ConnectErrors`], and the readiness line
//! [`Holding`] it prints before it waits to be released.
//!
//! Exchange failures (issue 7) have their own [`ExchangeFailure`] kinds, counted in
//! [`ExchangeErrors`] the same way.
//!
//! Units are in the field names (`elapsed_ms`, `connect_rate_per_s`) or in the name of the
//! object holding them (`connect_latency_us`). Every field is always present, so scripts can
//! read them without checking. Names come from serde (`rename_all`), once: the text output
//! takes them from the same place ([`ErrorKind::name`]).

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use listenlab_common::Endpoint;

use crate::latency::LatencySummary;

/// What one `socket-connect` run saw: how many connects were attempted, how many succeeded,
/// why the others failed, how long they took, and what happened while they were held.
/// `Deserialize` reads a report back for `socket-connect merge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectReport {
    /// The address dialed: `ip:port` (IPv6 in brackets, names already resolved) or the
    /// unix socket path (the endpoint's `Display`).
    pub target: Endpoint,
    /// The transport: `"tcp"` or `"unix"`.
    pub transport: Transport,
    /// How many runs this report covers: 1 for a run of `socket-connect`, the number of
    /// reports added up for one of `socket-connect merge` (whose counts are sums and whose
    /// histograms hold every run's samples).
    pub runs: u64,
    /// Connects made, each either connected or failed: `--count`, unless SIGINT/SIGTERM
    /// interrupted the connect phase (connects then still in flight are not counted, see
    /// `unfinished`); in a `--duration` run, those that finished within it.
    pub attempted: u64,
    /// Connects that completed; these connections were then held.
    pub connected: u64,
    /// Connects that failed (`attempted - connected`); see `errors` for why.
    pub failed: u64,
    /// Failed connects by kind; the counts add up to `failed`.
    pub errors: ConnectErrors,
    /// The connects counted in `errors.other`, by errno name as `<errno.h>` spells it
    /// (`{"EPROTOTYPE": 3}`: the unix socket is not a stream socket); each a count of
    /// connects, adding up to `errors.other`. Empty when there are none. Keyed by name,
    /// not by an enum: any errno can turn up here.
    pub other_errors: BTreeMap<String, u64>,
    /// Latency of the successful connects, in microseconds: from the start of the connect
    /// (or, with `--rate`, from its scheduled start) to the connection being established.
    pub connect_latency_us: LatencySummary,
    /// Duration of the connect phase, in milliseconds: from the first connect started to the
    /// last one finished (succeeded or failed).
    pub elapsed_ms: f64,
    /// Connections established per second over the connect phase (`connected / elapsed`).
    pub connect_rate_per_s: f64,
    /// The `--rate` asked for, in connects per second; `null` when dialing as fast as
    /// `--concurrency` allows.
    pub target_rate_per_s: Option<f64>,
    /// Most connects in flight at once (`--concurrency`).
    pub concurrency: u64,
    /// The per-connect timeout (`--timeout`, at least 1 ms), in milliseconds, rounded up
    /// to a whole millisecond as the connect timer applies it.
    pub timeout_ms: u64,
    /// Number of local source addresses the connects were spread over (`--source`); 0 when
    /// the kernel chose the source address.
    pub source_addresses: u64,
    /// How long the open connections were held before being closed, in milliseconds.
    pub held_ms: u64,
    /// Held connections that the peer closed (FIN) or reset (RST) before we released them,
    /// including those it reset right after accepting them. Only watched connections are
    /// counted: see `unwatched`.
    pub closed_by_peer: u64,
    /// Held connections that could not be added to the peer-close watch (epoll_ctl(2)
    /// failed, e.g. `ENOSPC` past `fs.epoll.max_user_watches`): whether the peer closed
    /// them is unknown, and they are missing from `closed_by_peer`. Normally 0.
    pub unwatched: u64,
    /// `true` when SIGINT or SIGTERM stopped the connect phase, or the wait for answers
    /// (`--read`), early; answers not waited for count in neither `exchange_errors` nor
    /// the latencies.
    pub interrupted: bool,
    /// Bytes sent on each connection right after its connect (`--send`, `--send-file`,
    /// `--fastcgi`); 0 when nothing is sent.
    pub request_bytes: u64,
    /// Established connections whose exchange (sending, then `--read`) failed; see
    /// `exchange_errors` for why. They are counted in `connected`, not in `failed`.
    pub exchange_failed: u64,
    /// Failed exchanges by kind; the counts add up to `exchange_failed`.
    pub exchange_errors: ExchangeErrors,
    /// Bytes read from all connections together (with `--read`; their content is not kept).
    pub response_bytes: u64,
    /// The most bytes read from one connection.
    pub response_bytes_max: u64,
    /// With `--read`: from the start of the connect (scheduled start under `--rate`) to the
    /// first byte of the answer, in microseconds, over the connections that got one;
    /// `null` without `--read`.
    pub first_byte_latency_us: Option<LatencySummary>,
    /// With `--read close`: from the start of the connect to the peer's close after it
    /// answered, in microseconds; `null` otherwise.
    pub complete_latency_us: Option<LatencySummary>,
    /// With `--rate`: `connect_latency_us` counted from each connect's actual start
    /// instead of its scheduled one, in microseconds (what the connect itself took);
    /// `null` without `--rate`.
    pub connect_latency_raw_us: Option<LatencySummary>,
    /// With `--rate` and `--read`: `first_byte_latency_us` from the actual start, µs.
    pub first_byte_latency_raw_us: Option<LatencySummary>,
    /// With `--rate` and `--read close`: `complete_latency_us` from the actual start, µs.
    pub complete_latency_raw_us: Option<LatencySummary>,
    /// With `--rate`: how late each successful connect started after its scheduled
    /// start, in microseconds (the pacer's own lateness plus any wait for a free
    /// `--concurrency` slot); under 1 µs counts as 1. `null` without `--rate`.
    pub schedule_lag_us: Option<LatencySummary>,
    /// The `--duration` asked for, in milliseconds; `null` in a `--count` run.
    pub duration_ms: Option<u64>,
    /// Connections the end of the run (`--duration`, or SIGINT/SIGTERM) cut: connects
    /// still in flight (not in `attempted`) plus connected connections whose answer
    /// (`--read`) was still awaited (in `connected`, in no failure kind, and with no
    /// latency after the connect). 0 when the run ended on its own.
    pub unfinished: u64,
}

/// The transport of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP over IPv4 or IPv6.
    Tcp,
    /// A unix stream socket.
    Unix,
}

/// Why a connect failed, as the report counts it. The JSON name of each kind is its
/// snake_case name (`would_block`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// `ECONNREFUSED`: nothing listens there, or a TCP listener's queue overflowed with
    /// `tcp_abort_on_overflow` set.
    Refused,
    /// No answer within `--timeout` (e.g. a TCP listener whose accept queue is full drops
    /// the SYN; or, with `--wait-for-backlog`, a unix listener that never made room).
    Timeout,
    /// `EAGAIN` at once: a unix listener's accept queue (backlog) is full.
    WouldBlock,
    /// `EADDRNOTAVAIL`: no free local port for this source and destination, or a
    /// `--source` address that is not local.
    AddrNotAvailable,
    /// `EMFILE` / `ENFILE`: out of file descriptors, per process or system-wide.
    TooManyFiles,
    /// `ECONNRESET` / `ECONNABORTED` before the handshake completed. A connect whose
    /// handshake completed and that the peer then reset (even before `socket-connect`
    /// confirmed it) counts as `connected` and in `closed_by_peer`, not here.
    Reset,
    /// `ENETUNREACH` / `EHOSTUNREACH`: no route to the target.
    Unreachable,
    /// `EACCES` / `EPERM`: e.g. no write permission on the unix socket, or a firewall.
    PermissionDenied,
    /// Anything else; `other_errors` names the errno.
    Other,
}

impl ErrorKind {
    /// Every kind, in the report's order.
    pub const ALL: [Self; 9] = [
        Self::Refused,
        Self::Timeout,
        Self::WouldBlock,
        Self::AddrNotAvailable,
        Self::TooManyFiles,
        Self::Reset,
        Self::Unreachable,
        Self::PermissionDenied,
        Self::Other,
    ];

    /// The kind's name in the report (`would_block`).
    pub fn name(self) -> String {
        serde_name(self)
    }
}

impl Transport {
    /// The transport's name in the report (`tcp`).
    pub fn name(self) -> String {
        serde_name(self)
    }
}

/// The JSON name of a unit enum variant, so that the text output and the JSON take names
/// from one place (the `rename_all` on the enum) and cannot disagree.
fn serde_name(variant: impl Serialize + std::fmt::Debug + Copy) -> String {
    match serde_json::to_value(variant) {
        Ok(serde_json::Value::String(name)) => name,
        other => unreachable!("{variant:?} is a unit variant, a string in JSON, not {other:?}"),
    }
}

/// A kind a report counts by: the report's order of kinds and their JSON names (the
/// `rename_all` on the enum).
pub trait Kind: Copy + Serialize + 'static {
    /// Every kind, in the report's order; [`Kind::index`] is a kind's position in it.
    const ALL: &'static [Self];
    /// The kind's position in [`Self::ALL`].
    fn index(self) -> usize;
}

impl Kind for ErrorKind {
    const ALL: &'static [Self] = &ErrorKind::ALL;
    fn index(self) -> usize {
        self as usize
    }
}

impl Kind for ExchangeFailure {
    const ALL: &'static [Self] = &ExchangeFailure::ALL;
    fn index(self) -> usize {
        self as usize
    }
}

/// Most kinds one [`Counts`] holds.
const MAX_KINDS: usize = 16;

/// Counts by kind. Serialized as an object with every kind present, in [`Kind::ALL`]
/// order: `{"refused":0,"timeout":2,...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts<K> {
    counts: [u64; MAX_KINDS],
    kinds: std::marker::PhantomData<K>,
}

impl<K> Default for Counts<K> {
    fn default() -> Self {
        Self {
            counts: [0; MAX_KINDS],
            kinds: std::marker::PhantomData,
        }
    }
}

/// Failed connects by kind, each a count of connects.
pub type ConnectErrors = Counts<ErrorKind>;

/// Failed exchanges by kind, each a count of connections.
pub type ExchangeErrors = Counts<ExchangeFailure>;

impl<K: Kind> Counts<K> {
    /// Counts one of `kind`.
    pub fn add(&mut self, kind: K) {
        self.counts[kind.index()] += 1;
    }

    /// The count of `kind`.
    pub fn get(&self, kind: K) -> u64 {
        self.counts[kind.index()]
    }

    /// Every kind with its count, in report order.
    pub fn iter(&self) -> impl Iterator<Item = (K, u64)> + '_ {
        K::ALL.iter().map(|&kind| (kind, self.get(kind)))
    }

    /// The sum of all kinds.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Adds every kind's count (merging reports).
impl<K> std::ops::AddAssign<&Self> for Counts<K> {
    fn add_assign(&mut self, other: &Self) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
    }
}

/// Reads back the object `Serialize` writes; a kind it lacks counts 0, a kind it does
/// not know is an error.
impl<'de, K: Kind + Ord + Deserialize<'de>> Deserialize<'de> for Counts<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut counts = Self::default();
        for (kind, n) in BTreeMap::<K, u64>::deserialize(deserializer)? {
            counts.counts[kind.index()] = n;
        }
        Ok(counts)
    }
}

impl<K: Kind> Serialize for Counts<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(K::ALL.len()))?;
        for (kind, n) in self.iter() {
            map.serialize_entry(&kind, &n)?;
        }
        map.end()
    }
}

/// Why the exchange on an established connection failed (issue 7). The JSON name of
/// each kind is its snake_case name (`no_response`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeFailure {
    /// The peer closed the connection before sending any byte.
    NoResponse,
    /// The answer (the first byte with `--read first-byte`, the close with `--read
    /// close`) did not come within `--read-timeout`.
    ReadTimeout,
    /// `ECONNRESET` (or `EPIPE` while sending) during the exchange.
    Reset,
    /// Any other error while sending or reading.
    Other,
}

impl ExchangeFailure {
    /// Every kind, in the report's order.
    pub const ALL: [Self; 4] = [
        Self::NoResponse,
        Self::ReadTimeout,
        Self::Reset,
        Self::Other,
    ];

    /// The kind's name in the report (`no_response`).
    pub fn name(self) -> String {
        serde_name(self)
    }
}

/// The line `socket-connect --format json` prints and flushes on stdout once its
/// connections are open, before it waits to be released: `{"event":"holding","open":500}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename = "holding")]
pub struct Holding {
    /// Connections established and now held (a count).
    pub open: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holding_line_has_the_agreed_shape() {
        let line = serde_json::to_string(&Holding { open: 3 }).unwrap();
        assert_eq!(line, r#"{"event":"holding","open":3}"#);
    }

    #[test]
    fn errors_are_an_object_with_every_kind_in_order() {
        let mut errors = ConnectErrors::default();
        for kind in [ErrorKind::Refused, ErrorKind::WouldBlock, ErrorKind::Other] {
            errors.add(kind);
        }
        errors.add(ErrorKind::Other);
        assert_eq!(errors.total(), 4);
        assert_eq!(errors.get(ErrorKind::Other), 2);
        assert_eq!(
            serde_json::to_string(&errors).unwrap(),
            r#"{"refused":1,"timeout":0,"would_block":1,"addr_not_available":0,"too_many_files":0,"reset":0,"unreachable":0,"permission_denied":0,"other":2}"#
        );
        assert_eq!(ErrorKind::AddrNotAvailable.name(), "addr_not_available");
        assert!(
            ErrorKind::ALL
                .iter()
                .enumerate()
                .all(|(i, k)| *k as usize == i)
        );
    }

    #[test]
    fn counts_read_back_and_add_up() {
        let mut errors = ConnectErrors::default();
        errors.add(ErrorKind::Timeout);
        let json = serde_json::to_string(&errors).unwrap();
        let mut back: ConnectErrors = serde_json::from_str(&json).unwrap();
        assert_eq!(back, errors);
        back += &errors;
        assert_eq!((back.get(ErrorKind::Timeout), back.total()), (2, 2));
        assert!(serde_json::from_str::<ConnectErrors>(r#"{"bogus":1}"#).is_err());
    }

    #[test]
    fn transports_are_lowercase() {
        assert_eq!(serde_json::to_string(&Transport::Tcp).unwrap(), r#""tcp""#);
        assert_eq!(
            serde_json::to_string(&Transport::Unix).unwrap(),
            r#""unix""#
        );
        assert_eq!(Transport::Unix.name(), "unix");
    }
}
