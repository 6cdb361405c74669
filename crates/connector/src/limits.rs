//! The machine's limits that decide whether N connections can be opened at all: the
//! open-file limit (`RLIMIT_NOFILE`) and the local port range
//! (`/proc/sys/net/ipv4/ip_local_port_range`).
//!
//! The open-file rule is the workspace's one ([`listenlab_common::limits`]): the soft limit
//! is raised to the hard one before dialing, and a count that does not fit even then is
//! refused up front; this file only says what `--count N` needs ([`open_files`]).

use std::ops::RangeInclusive;

use listenlab_common::limits::OpenFiles;

/// File descriptors the process needs besides the connections: stdio, the runtime's epoll
/// and wakers, the signal pipe, the peer-close epoll, an `.hgrm` file, with room to spare.
pub const RESERVED_FDS: u64 = 32;

/// The open files `count` connections need: one each plus [`RESERVED_FDS`]. `flag` drives
/// the number: `--count`, or `--concurrency` for the slots of a `--duration` run.
pub fn open_files(flag: &'static str, count: u64) -> OpenFiles {
    OpenFiles {
        flag,
        value: count,
        what: "connections",
        reserved: RESERVED_FDS,
        driven: count,
        per_value: Some(1),
    }
}

/// Grows the process's descriptor table to hold `count` more descriptors now, while the
/// process has one thread. The kernel doubles the table as descriptors are allocated, and
/// once several threads share it each growth waits for an RCU grace period
/// (`expand_fdtable` in fs/file.c); doing it once up front keeps that out of the connect
/// phase (as tokio's `prewarm-fd-table` example does). The table never shrinks.
pub fn prewarm_fd_table(count: u64) -> std::io::Result<()> {
    use nix::fcntl::{FcntlArg, fcntl};
    use std::os::fd::{FromRawFd, OwnedFd};
    let Ok(highest) = i32::try_from(count.saturating_add(RESERVED_FDS) - 1) else {
        return Ok(());
    };
    let null = std::fs::File::open("/dev/null")?;
    let fd = fcntl(&null, FcntlArg::F_DUPFD_CLOEXEC(highest))?;
    // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` just returned this new descriptor, which nothing
    // else owns; the `OwnedFd` closes it at once.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}

/// Reads the ephemeral port range connect() picks local ports from.
pub fn local_port_range() -> Option<RangeInclusive<u16>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    parse_port_range(&text)
}

fn parse_port_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut parts = text.split_whitespace().map(str::parse::<u16>);
    let (lo, hi) = (parts.next()?.ok()?, parts.next()?.ok()?);
    (lo <= hi).then_some(lo..=hi)
}

/// A warning with the fix when more than half of the port range would be used towards one
/// destination from one source address, where Linux's port search slows down sharply
/// (it tries even ports first and scans for odd ones after). `None` when it fits.
pub fn port_range_warning(
    count: u64,
    sources: usize,
    target: std::net::SocketAddr,
    range: RangeInclusive<u16>,
) -> Option<String> {
    let ports = u64::from(*range.end() - *range.start()) + 1;
    // A range of one port (low == high) still takes one connection per source address.
    let half = (ports / 2).max(1);
    let per_source = count.div_ceil(sources.max(1) as u64);
    if per_source <= half {
        return None;
    }
    let needed = count.div_ceil(half).max(2);
    let fix = match loopback_sources(target, needed) {
        Some((first, last)) => {
            format!("spread them with --source {first}-{last} (loopback answers from all of 127/8)")
        }
        None => format!("spread them over {needed} or more local addresses with --source"),
    };
    let fate = if per_source > ports {
        format!("the connects past {ports} will fail with EADDRNOTAVAIL")
    } else {
        format!("connects will slow down sharply past about {half}")
    };
    Some(format!(
        "{per_source} connections to {target} from each source address exceed half of the \
         local port range {}-{} ({ports} ports): {fate}; {fix}, or widen \
         net.ipv4.ip_local_port_range",
        range.start(),
        range.end()
    ))
}

/// `needed` consecutive loopback source addresses from 127.0.0.2 for an IPv4 loopback
/// target, or `None` when the target is elsewhere or 127/8 cannot hold that many (the
/// last usable one is 127.255.255.254; .255 is the broadcast address).
fn loopback_sources(
    target: std::net::SocketAddr,
    needed: u64,
) -> Option<(std::net::Ipv4Addr, std::net::Ipv4Addr)> {
    use std::net::{IpAddr, Ipv4Addr};
    let IpAddr::V4(ip) = target.ip() else {
        return None;
    };
    if !ip.is_loopback() {
        return None;
    }
    let first = Ipv4Addr::new(127, 0, 0, 2);
    let last = u64::from(first.to_bits()) + needed - 1;
    let last = u32::try_from(last).ok()?;
    (last <= Ipv4Addr::new(127, 255, 255, 254).to_bits())
        .then(|| (first, Ipv4Addr::from_bits(last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_port_range() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_port_range("9 3"), None);
        assert_eq!(parse_port_range("x"), None);
        assert!(local_port_range().is_some(), "Linux has the sysctl");
    }

    #[test]
    fn warns_past_half_the_port_range() {
        let target = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(port_range_warning(14_116, 1, target, 32768..=60999), None);
        let warning = port_range_warning(19_000, 1, target, 32768..=60999).unwrap();
        assert!(warning.contains("19000 connections"), "{warning}");
        assert!(
            warning.contains("--source 127.0.0.2-127.0.0.3"),
            "{warning}"
        );
        assert_eq!(port_range_warning(19_000, 2, target, 32768..=60999), None);
        let over = port_range_warning(40_000, 1, target, 32768..=60999).unwrap();
        assert!(over.contains("EADDRNOTAVAIL"), "{over}");
        let remote = port_range_warning(19_000, 1, "10.1.1.1:80".parse().unwrap(), 32768..=60999);
        assert!(remote.unwrap().contains("2 or more local addresses"));
    }

    #[test]
    fn a_one_port_range_does_not_divide_by_zero() {
        let target = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(port_range_warning(1, 1, target, 5000..=5000), None);
        let warning = port_range_warning(3, 1, target, 5000..=5000).unwrap();
        assert!(warning.contains("5000-5000 (1 ports)"), "{warning}");
        assert!(warning.contains("EADDRNOTAVAIL"), "{warning}");
        assert!(
            warning.contains("--source 127.0.0.2-127.0.0.4"),
            "{warning}"
        );
    }

    #[test]
    fn suggested_loopback_range_crosses_octets_and_stays_in_127_8() {
        let target = "127.0.0.1:9000".parse().unwrap();
        // 1000 connects, 2 per address: 500 addresses, 127.0.0.2 to 127.0.1.245.
        let warning = port_range_warning(1000, 1, target, 5000..=5003).unwrap();
        assert!(
            warning.contains("--source 127.0.0.2-127.0.1.245"),
            "{warning}"
        );
        // More addresses than 127/8 holds: the generic advice instead.
        let huge = port_range_warning(u64::from(u32::MAX), 1, target, 5000..=5000).unwrap();
        assert!(
            huge.contains("4294967295 or more local addresses"),
            "{huge}"
        );
        let last = loopback_sources(target, (1 << 24) - 3).unwrap();
        assert_eq!(last.1, std::net::Ipv4Addr::new(127, 255, 255, 254));
        assert_eq!(loopback_sources(target, (1 << 24) - 2), None);
        assert_eq!(loopback_sources("[::1]:9000".parse().unwrap(), 2), None);
    }

    /// The message for a `--count` that does not fit, or `None` when it does.
    fn nofile_shortfall(count: u64, hard: u64) -> Option<String> {
        open_files("--count", count)
            .shortfall(hard)
            .map(|s| s.to_string())
    }

    #[test]
    fn shortfall_names_both_numbers() {
        assert_eq!(nofile_shortfall(100, 20_000), None);
        let msg = nofile_shortfall(30_000, 20_000).unwrap();
        assert_eq!(
            msg,
            "--count 30000 needs 30032 open files (the connections plus 32), but the hard \
             open-file limit is 20000; raise it (ulimit -Hn 30032 as root, or LimitNOFILE= / \
             limits.conf) or lower --count to 19968"
        );
        let msg = nofile_shortfall(2, 33).unwrap();
        assert!(msg.ends_with("or lower --count to 1"), "{msg}");
    }

    #[test]
    fn issue_12_no_lower_count_is_suggested_when_none_fits() {
        for hard in [0, 20, RESERVED_FDS] {
            let msg = nofile_shortfall(1, hard).unwrap();
            assert!(!msg.contains("lower --count"), "{msg}");
            assert!(msg.contains("leaves no room for connections"), "{msg}");
            assert!(msg.contains("ulimit -Hn 33"), "{msg}");
        }
    }

    #[test]
    fn prewarming_fits_under_the_raised_limit() {
        let hard = listenlab_common::limits::raise_nofile().unwrap();
        prewarm_fd_table(hard - RESERVED_FDS).unwrap();
    }
}
