//! The report `socket-connect` prints at the end of a run: [`ConnectReport`], with the
//! failed connects tallied by kind in [`ConnectErrors`], and the readiness line
//! [`Holding`] it prints before it waits to be released.
//!
//! Units are in the field names (`elapsed_ms`, `connect_rate_per_s`) or in the name of the
//! object holding them (`connect_latency_us`). Every field is always present, so scripts can
//! read them without checking.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::LatencySummary;

/// What one `socket-connect` run saw: how many connects were attempted, how many succeeded,
/// why the others failed, how long they took, and what happened while they were held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectReport {
    /// The address dialed: `ip:port` (IPv6 in brackets, names already resolved) or the
    /// unix socket path.
    pub target: String,
    /// The transport: `"tcp"` or `"unix"`.
    pub transport: String,
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
    /// connects, adding up to `errors.other`. Empty when there are none.
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
    /// including those it reset right after accepting them.
    pub closed_by_peer: u64,
    /// `true` when SIGINT or SIGTERM stopped the connect phase early.
    pub interrupted: bool,
}

/// Failed connects by kind. Each is a count of connects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectErrors {
    /// `ECONNREFUSED`: nothing listens there, or a TCP listener's queue overflowed with
    /// `tcp_abort_on_overflow` set.
    pub refused: u64,
    /// No answer within `--timeout` (e.g. a TCP listener whose accept queue is full drops
    /// the SYN; or, with `--wait-for-backlog`, a unix listener that never made room).
    pub timeout: u64,
    /// `EAGAIN` at once: a unix listener's accept queue (backlog) is full.
    pub would_block: u64,
    /// `EADDRNOTAVAIL`: no free local port for this source and destination, or a
    /// `--source` address that is not local.
    pub addr_not_available: u64,
    /// `EMFILE` / `ENFILE`: out of file descriptors, per process or system-wide.
    pub too_many_files: u64,
    /// `ECONNRESET` / `ECONNABORTED` before the handshake completed. A connect whose
    /// handshake completed and that the peer then reset (even before `socket-connect`
    /// confirmed it) counts as `connected` and in `closed_by_peer`, not here.
    pub reset: u64,
    /// `ENETUNREACH` / `EHOSTUNREACH`: no route to the target.
    pub unreachable: u64,
    /// `EACCES` / `EPERM`: e.g. no write permission on the unix socket, or a firewall.
    pub permission_denied: u64,
    /// Anything else.
    pub other: u64,
}

impl ConnectErrors {
    /// The sum of all kinds.
    pub fn total(&self) -> u64 {
        self.named().iter().map(|(_, n)| n).sum()
    }

    /// Every kind with its JSON name, in a fixed order (for text output).
    pub fn named(&self) -> [(&'static str, u64); 9] {
        [
            ("refused", self.refused),
            ("timeout", self.timeout),
            ("would_block", self.would_block),
            ("addr_not_available", self.addr_not_available),
            ("too_many_files", self.too_many_files),
            ("reset", self.reset),
            ("unreachable", self.unreachable),
            ("permission_denied", self.permission_denied),
            ("other", self.other),
        ]
    }
}

/// The line `socket-connect --format json` prints and flushes on stdout once its
/// connections are open, before it waits to be released: `{"event":"holding","open":500}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    fn errors_total_adds_every_kind() {
        let errors = ConnectErrors {
            refused: 1,
            timeout: 2,
            would_block: 3,
            other: 4,
            ..ConnectErrors::default()
        };
        assert_eq!(errors.total(), 10);
        let json = serde_json::to_value(errors).unwrap();
        let names: Vec<&str> = errors.named().iter().map(|(n, _)| *n).collect();
        assert_eq!(json.as_object().unwrap().len(), names.len());
        for name in names {
            assert!(json.get(name).is_some(), "{name}");
        }
    }
}
