//! Reads the kernel's listen-queue counters from `/proc/net/netstat` (the `TcpExt:` lines):
//! `ListenOverflows` (a connection completed but the accept queue was full) and
//! `ListenDrops` (any SYN or ACK dropped by a listener, overflows included), and the SYN
//! cookie counters (`SyncookiesSent`: a SYN answered with a cookie because the SYN queue
//! was full; `SyncookiesRecv` / `SyncookiesFailed`: cookie ACKs that checked / did not).
//!
//! They are system-wide and TCP-only: unix sockets have no such counter, and other
//! traffic on the machine adds to them, so reports show deltas over a short window.

use std::io;

/// A snapshot of the listen counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenCounters {
    /// `TcpExt: ListenOverflows`.
    pub overflows: u64,
    /// `TcpExt: ListenDrops`.
    pub drops: u64,
    /// `TcpExt: SyncookiesSent`.
    pub syncookies_sent: u64,
    /// `TcpExt: SyncookiesRecv`.
    pub syncookies_recv: u64,
    /// `TcpExt: SyncookiesFailed`.
    pub syncookies_failed: u64,
}

impl ListenCounters {
    /// Reads `/proc/net/netstat` now.
    pub fn read() -> io::Result<Self> {
        Self::parse(&std::fs::read_to_string("/proc/net/netstat")?)
    }

    /// Parses the text of `/proc/net/netstat`: a header line of names, then a line of values,
    /// per protocol group.
    pub fn parse(text: &str) -> io::Result<Self> {
        let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
        let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no TcpExt lines in /proc/net/netstat",
            ));
        };
        let mut counters = Self::default();
        for (name, value) in names
            .split_whitespace()
            .zip(values.split_whitespace())
            .skip(1)
        {
            let value = value.parse().unwrap_or(0);
            match name {
                "ListenOverflows" => counters.overflows = value,
                "ListenDrops" => counters.drops = value,
                "SyncookiesSent" => counters.syncookies_sent = value,
                "SyncookiesRecv" => counters.syncookies_recv = value,
                "SyncookiesFailed" => counters.syncookies_failed = value,
                _ => {}
            }
        }
        Ok(counters)
    }

    /// How much each counter grew since `earlier` (0 if it went backwards).
    pub fn since(self, earlier: Self) -> Self {
        Self {
            overflows: self.overflows.saturating_sub(earlier.overflows),
            drops: self.drops.saturating_sub(earlier.drops),
            syncookies_sent: self.syncookies_sent.saturating_sub(earlier.syncookies_sent),
            syncookies_recv: self.syncookies_recv.saturating_sub(earlier.syncookies_recv),
            syncookies_failed: self
                .syncookies_failed
                .saturating_sub(earlier.syncookies_failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcpext_and_computes_deltas() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                    TcpExt: 0 7 9\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        let c = ListenCounters::parse(text).unwrap();
        assert_eq!(
            c,
            ListenCounters {
                overflows: 7,
                drops: 9,
                syncookies_sent: 0,
                ..Default::default()
            }
        );
        let later = ListenCounters {
            overflows: 10,
            drops: 9,
            ..Default::default()
        };
        assert_eq!(
            later.since(c),
            ListenCounters {
                overflows: 3,
                drops: 0,
                ..Default::default()
            }
        );
        assert!(ListenCounters::parse("IpExt: a\nIpExt: 1\n").is_err());
    }

    #[test]
    fn reads_this_machine() {
        ListenCounters::read().unwrap();
    }
}
