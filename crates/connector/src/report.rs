//! The report `socket-connect` prints at the end of a run: [`ConnectReport`], with the
//! failed connects tallied by [`ErrorKind`] in [`ConnectErrors`], and the readiness line
//! [`Holding`] it prints before it waits to be released.
//!
//! Units are in the field names (`elapsed_ms`, `connect_rate_per_s`) or in the name of the
//! object holding them (`connect_latency_us`). Every field is always present, so scripts can
//! read them without checking. Names come from serde (`rename_all`), once: the text output
//! takes them from the same place ([`ErrorKind::name`]).

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use listenlab_common::Endpoint;

use crate::latency::LatencySummary;

/// What one `socket-connect` run saw: how many connects were attempted, how many succeeded,
/// why the others failed, how long they took, and what happened while they were held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectReport {
    /// The address dialed: `ip:port` (IPv6 in brackets, names already resolved) or the
    /// unix socket path (the endpoint's `Display`).
    pub target: Endpoint,
    /// The transport: `"tcp"` or `"unix"`.
    pub transport: Transport,
    /// Connects made, each either connected or failed: `--count`, unless SIGINT/SIGTERM
    /// interrupted the connect phase (connects then still in flight are not counted).
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
    /// `true` when SIGINT or SIGTERM stopped the connect phase early.
    pub interrupted: bool,
}

/// The transport of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP over IPv4 or IPv6.
    Tcp,
    /// A unix stream socket.
    Unix,
}

/// Why a connect failed, as the report counts it. The JSON name of each kind is its
/// snake_case name (`would_block`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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

/// Failed connects by kind, each a count of connects. Serialized as an object with every
/// kind present, in [`ErrorKind::ALL`] order: `{"refused":0,"timeout":2,...}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectErrors([u64; ErrorKind::ALL.len()]);

impl ConnectErrors {
    /// Counts one failed connect of `kind`.
    pub fn add(&mut self, kind: ErrorKind) {
        self.0[kind as usize] += 1;
    }

    /// The failed connects of `kind`.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind as usize]
    }

    /// Every kind with its count, in report order.
    pub fn iter(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::ALL
            .into_iter()
            .map(|kind| (kind, self.get(kind)))
    }

    /// The sum of all kinds.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl Serialize for ConnectErrors {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(ErrorKind::ALL.len()))?;
        for (kind, n) in self.iter() {
            map.serialize_entry(&kind, &n)?;
        }
        map.end()
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
    fn transports_are_lowercase() {
        assert_eq!(serde_json::to_string(&Transport::Tcp).unwrap(), r#""tcp""#);
        assert_eq!(
            serde_json::to_string(&Transport::Unix).unwrap(),
            r#""unix""#
        );
        assert_eq!(Transport::Unix.name(), "unix");
    }
}
