//! What the user asked to watch ([`Target`]) and which listeners each one selects; when a
//! target selects none, the message that says so and lists the nearest listening ports or
//! paths, so that a typo is fixed in one step.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::diag::{DiagListener, ListenAddr};

/// One `--inet`, `--port`, `--unix` or `--pid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The TCP listener on this address, or on the wildcard address of its port.
    Inet(SocketAddr),
    /// Every TCP listener on this port.
    Port(u16),
    /// The unix listener bound to this path.
    Unix(PathBuf),
    /// Every listener this process holds.
    Pid(u32),
}

impl Target {
    /// The families a sample must dump for this target: (tcp, unix).
    pub fn families(&self) -> (bool, bool) {
        match self {
            Target::Inet(_) | Target::Port(_) => (true, false),
            Target::Unix(_) => (false, true),
            Target::Pid(_) => (true, true),
        }
    }

    /// True when this target selects `l`. `held_by_pid` gives the socket inodes a process
    /// holds (from the last owner scan), for `--pid`.
    pub fn selects(&self, l: &DiagListener, held_by_pid: impl Fn(u32) -> bool) -> bool {
        match (self, &l.addr) {
            (Target::Inet(want), ListenAddr::Tcp(have)) => {
                // A listener on 0.0.0.0:P serves every IPv4 address on P, one on [::]:P
                // every address (dual stack) unless IPV6_V6ONLY: it is the one to watch.
                have == want
                    || (have.port() == want.port()
                        && have.ip().is_unspecified()
                        && (have.is_ipv6() || want.is_ipv4()))
            }
            (Target::Port(port), ListenAddr::Tcp(have)) => have.port() == *port,
            (Target::Unix(want), ListenAddr::UnixPath(have)) => same_path(want, have),
            (Target::Pid(pid), _) => held_by_pid(*pid),
            _ => false,
        }
    }

    /// The one-line message for a target that selects no listener in `all`, listing the
    /// nearest listening ports (TCP) or paths (unix).
    pub fn no_match(&self, all: &[DiagListener]) -> String {
        match self {
            Target::Inet(addr) => format!(
                "--inet {addr}: no TCP listener there; {}",
                nearest_ports(addr.port(), all)
            ),
            Target::Port(port) => format!(
                "--port {port}: no TCP listener on that port; {}",
                nearest_ports(*port, all)
            ),
            Target::Unix(path) => format!(
                "--unix {}: no unix listener bound to that path; {}",
                path.display(),
                nearest_paths(path, all)
            ),
            Target::Pid(pid) => format!(
                "--pid {pid}: that process holds no listening socket; give the pid of a \
                 server process"
            ),
        }
    }
}

fn same_path(want: &Path, have: &Path) -> bool {
    if want == have {
        return true;
    }
    // The kernel reports the path as given to bind(), which may be relative to the
    // server's directory: compare resolved paths only when both resolve here.
    match (want.canonicalize(), have.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// How many alternatives a no-match message lists.
const NEAREST: usize = 5;

/// The values once each, in order (several listeners share a port: IPv4 and IPv6).
fn distinct<T: Ord>(values: impl Iterator<Item = T>) -> Vec<T> {
    values.collect::<BTreeSet<T>>().into_iter().collect()
}

fn nearest_ports(port: u16, all: &[DiagListener]) -> String {
    let mut ports = distinct(all.iter().filter_map(|l| match l.addr {
        ListenAddr::Tcp(a) => Some(a.port()),
        _ => None,
    }));
    if ports.is_empty() {
        return "no TCP listener on this machine".to_owned();
    }
    ports.sort_by_key(|p| (p.abs_diff(port), *p));
    ports.truncate(NEAREST);
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    format!("nearest listening ports: {}", list.join(", "))
}

fn nearest_paths(path: &Path, all: &[DiagListener]) -> String {
    let want = path.to_string_lossy();
    let mut paths = distinct(all.iter().filter_map(|l| match &l.addr {
        ListenAddr::UnixPath(p) => Some(p.to_string_lossy().into_owned()),
        _ => None,
    }));
    if paths.is_empty() {
        return "no unix listener bound to a path on this machine".to_owned();
    }
    // Nearest = the longest common prefix (same directory first), then alphabetical.
    let common = |p: &String| {
        p.bytes()
            .zip(want.bytes())
            .take_while(|(a, b)| a == b)
            .count()
    };
    paths.sort_by(|a, b| common(b).cmp(&common(a)).then_with(|| a.cmp(b)));
    paths.truncate(NEAREST);
    format!("nearest listening paths: {}", paths.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(addr: &str) -> DiagListener {
        DiagListener {
            inode: 1,
            addr: ListenAddr::Tcp(addr.parse().unwrap()),
            queue: 0,
            backlog: 1,
            cookie: [0; 8],
        }
    }

    #[test]
    fn an_inet_target_selects_the_wildcard_listener_of_its_port() {
        let want = Target::Inet("127.0.0.1:8080".parse().unwrap());
        let none = |_| false;
        assert!(want.selects(&tcp("127.0.0.1:8080"), none));
        assert!(want.selects(&tcp("0.0.0.0:8080"), none));
        assert!(want.selects(&tcp("[::]:8080"), none));
        assert!(!want.selects(&tcp("127.0.0.2:8080"), none));
        assert!(!want.selects(&tcp("127.0.0.1:8081"), none));
        assert!(Target::Port(8080).selects(&tcp("[::1]:8080"), none));
    }

    #[test]
    fn no_match_lists_the_nearest_ports() {
        let all = [tcp("127.0.0.1:22"), tcp("0.0.0.0:8081"), tcp("[::]:9000")];
        let msg = Target::Port(8080).no_match(&all);
        assert_eq!(
            msg,
            "--port 8080: no TCP listener on that port; nearest listening ports: 8081, 9000, 22"
        );
    }
}
