//! Who holds a listener: every process with an fd that links to `socket:[inode]` in
//! `/proc/<pid>/fd` (proc(5)), with its parent and name, and whether one of its epoll
//! instances watches the listener (`tfd:` lines of `/proc/<pid>/fdinfo/<epfd>` carry the
//! watched file's inode, `ino:` in hex).
//!
//! Owners and workers: a holder whose parent does not hold the socket is an owner (the
//! master of PHP-FPM, gunicorn, nginx, or a single-process server); a holder whose parent
//! holds it is a worker. A server with no such children is its own worker.
//!
//! Without privileges, other users' `/proc/<pid>/fd` cannot be read: those processes are
//! counted as hidden and never guessed at.
//!
//! A full scan reads every fd link of every process, the dearest part of a run: 1.5-4 ms
//! on a quiet machine, but a quarter of a second here when two other processes held 20000
//! and 8000 fds. [`Scanner`] makes refreshes partial: it reads again only the processes
//! that held a wanted socket, the hidden ones, and the pids that are new since the last
//! refresh (a master's freshly forked workers). A process that held none of the wanted
//! sockets can come to hold one without a new pid only by receiving the fd (`SCM_RIGHTS`,
//! `pidfd_getfd`): a sweep started every [`FULL_SCAN`] reads every other process too, a
//! slice of at most [`SWEEP_BUDGET`] per refresh (a process once begun is read to its
//! end), so that no refresh stalls the samples for long. Only the first refresh, and one
//! that wants a socket not wanted before, is a full scan at once.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::time::{Duration, Instant};

/// How often a sweep of every process starts (module docs).
pub const FULL_SCAN: Duration = Duration::from_secs(5);

/// How long one refresh spends on the sweep, at most (module docs).
pub const SWEEP_BUDGET: Duration = Duration::from_millis(2);

/// A process that holds a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its pid.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// Its name (`/proc/<pid>/comm`).
    pub process: String,
    /// True when one of its epoll instances watches the listener.
    pub epoll_watches: bool,
}

/// The holders of each listener, from one scan of `/proc`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerMap {
    /// Holders by socket inode, in pid order.
    pub by_inode: BTreeMap<u64, Vec<Holder>>,
    /// Processes whose fd table could not be read (other users' without privileges).
    pub hidden: usize,
    /// Their pids.
    hidden_pids: HashSet<u32>,
}

impl OwnerMap {
    /// The holders of `inode` (empty when none is visible).
    pub fn holders(&self, inode: u64) -> &[Holder] {
        self.by_inode.get(&inode).map_or(&[], Vec::as_slice)
    }

    /// True when `pid` holds `inode`.
    #[cfg(test)]
    pub fn holds(&self, pid: u32, inode: u64) -> bool {
        self.holders(inode).iter().any(|h| h.pid == pid)
    }

    /// The pids of the processes whose fd links could not be read, lowest first, at most
    /// `limit` of them.
    pub fn hidden_pids(&self, limit: usize) -> Vec<u32> {
        let mut pids: Vec<u32> = self.hidden_pids.iter().copied().collect();
        pids.sort_unstable();
        pids.truncate(limit);
        pids
    }

    /// The owners and the workers of `inode` (see the module docs).
    pub fn roles(&self, inode: u64) -> (Vec<&Holder>, Vec<&Holder>) {
        let holders = self.holders(inode);
        let holds = |pid: u32| holders.iter().any(|h| h.pid == pid);
        let (workers, owners): (Vec<&Holder>, Vec<&Holder>) =
            holders.iter().partition(|h| holds(h.ppid));
        if workers.is_empty() {
            (owners.clone(), owners)
        } else {
            (owners, workers)
        }
    }
}

/// Refreshes an [`OwnerMap`], fully or partly (module docs).
#[derive(Debug, Default)]
pub struct Scanner {
    /// The pids that existed at the last full scan.
    seen: HashSet<u32>,
    /// The sockets wanted then.
    wanted: HashSet<u64>,
    /// When the last full scan or sweep started.
    full_at: Option<Instant>,
    /// The pids the current sweep has still to read, the next last.
    sweep: Vec<u32>,
}

impl Scanner {
    /// The holders of `wanted` at `now`, starting from `previous` (this scanner's last
    /// answer).
    pub fn refresh(
        &mut self,
        wanted: &HashSet<u64>,
        previous: &OwnerMap,
        now: Instant,
    ) -> OwnerMap {
        let full = self.full_at.is_none() || !wanted.is_subset(&self.wanted);
        // Listed before reading: a process born during the scan is new at the next one.
        let listed: Vec<u32> = pids().collect();
        let mut map = OwnerMap::default();
        if full {
            self.wanted = wanted.clone();
            self.full_at = Some(now);
            self.sweep.clear();
            scan_some(wanted, listed.iter().copied(), &mut map);
        } else {
            if self.sweep.is_empty()
                && self
                    .full_at
                    .is_some_and(|at| now.duration_since(at) >= FULL_SCAN)
            {
                self.full_at = Some(now);
                self.sweep = listed.iter().rev().copied().collect();
            }
            let holders: HashSet<u32> = previous
                .by_inode
                .values()
                .flatten()
                .map(|h| h.pid)
                .collect();
            let must = |pid: &u32| {
                !self.seen.contains(pid)
                    || holders.contains(pid)
                    || previous.hidden_pids.contains(pid)
            };
            let read: HashSet<u32> = listed.iter().copied().filter(must).collect();
            scan_some(wanted, read.iter().copied(), &mut map);
            let started = Instant::now();
            while started.elapsed() < SWEEP_BUDGET
                && let Some(pid) = self.sweep.pop()
            {
                if !read.contains(&pid) {
                    scan_some(wanted, [pid], &mut map);
                }
            }
            // Holders in pid order, whichever part of the refresh found them.
            for holders in map.by_inode.values_mut() {
                holders.sort_by_key(|h| h.pid);
            }
        }
        map.hidden = map.hidden_pids.len();
        self.seen.extend(listed);
        map
    }
}

/// The sockets among `among` that process `pid` holds (its own fd table); empty when it
/// holds none, is gone, or cannot be read.
pub fn sockets_of(pid: u32, among: &HashSet<u64>) -> HashSet<u64> {
    match held(pid, among) {
        Ok(Some((inodes, _))) => inodes.into_iter().collect(),
        _ => HashSet::new(),
    }
}

/// Whether `pid`'s fd links can be read: `Err` with `PermissionDenied` when its
/// `/proc/<pid>/fd` cannot be listed, or listed but not followed (the first link refused),
/// `NotFound` when there is no such process.
pub fn fds_readable(pid: u32) -> io::Result<()> {
    if let Some(fd) = fs::read_dir(format!("/proc/{pid}/fd"))?.flatten().next() {
        match fs::read_link(fd.path()) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(e),
            _ => {} // read, or closed meanwhile
        }
    }
    Ok(())
}

/// True when listen-watch runs as root (the effective uid), which changes what an
/// unreadable process means: not another user's, but one that refuses even root.
pub fn as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Every pid in `/proc` now.
fn pids() -> impl Iterator<Item = u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
}

/// Reads the processes `pids` into `map`: the holders of `wanted` among them, and those
/// that cannot be read. In a partial refresh the processes not read are those that held
/// none of the sockets (see [`Scanner::refresh`]), so nothing of them is kept.
fn scan_some(wanted: &HashSet<u64>, pids: impl IntoIterator<Item = u32>, map: &mut OwnerMap) {
    for pid in pids {
        match held(pid, wanted) {
            Ok(Some((inodes, epolls))) => {
                let Some((ppid, process)) = identity(pid) else {
                    continue; // exited meanwhile
                };
                let watched = epoll_targets(pid, &epolls);
                for inode in inodes {
                    // /proc lists pids in ascending order: a full scan keeps holders in
                    // pid order (a partial refresh sorts them after).
                    map.by_inode.entry(inode).or_default().push(Holder {
                        pid,
                        ppid,
                        process: process.clone(),
                        epoll_watches: watched.contains(&inode),
                    });
                }
            }
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                map.hidden_pids.insert(pid);
            }
            Err(_) => {} // the process exited while we looked
        }
    }
}

/// The wanted socket inodes `pid` holds and its epoll fds, or `None` if it holds none.
fn held(pid: u32, wanted: &HashSet<u64>) -> io::Result<Option<(Vec<u64>, Vec<String>)>> {
    let mut inodes = Vec::new();
    let mut epolls = Vec::new();
    for fd in fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
        let link = match fs::read_link(fd.path()) {
            Ok(link) => link,
            // The directory may be listable while its links are not (a process we may not
            // ptrace, seen here for pid 1 in a container): hidden, like an unreadable
            // directory, and one refusal is enough, not one per fd.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(e),
            Err(_) => continue, // closed meanwhile
        };
        let link = link.to_string_lossy();
        if let Some(inode) = link
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
            .and_then(|s| s.parse::<u64>().ok())
        {
            if wanted.contains(&inode) && !inodes.contains(&inode) {
                inodes.push(inode);
            }
        } else if link == "anon_inode:[eventpoll]" {
            epolls.push(fd.file_name().to_string_lossy().into_owned());
        }
    }
    Ok((!inodes.is_empty()).then_some((inodes, epolls)))
}

/// The parent pid and name of `pid`.
fn identity(pid: u32) -> Option<(u32, String)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name in parentheses may itself contain spaces and ')': fields follow the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
    let process = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some((ppid, process.trim_end().to_owned()))
}

/// The inodes of the files `pid`'s epoll instances `epolls` watch.
fn epoll_targets(pid: u32, epolls: &[String]) -> HashSet<u64> {
    let mut out = HashSet::new();
    for fd in epolls {
        let Ok(info) = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
            continue;
        };
        // "tfd:        5 events:       19 data:                5  pos:0 ino:1c2f3 sdev:8"
        for line in info.lines().filter(|l| l.starts_with("tfd:")) {
            if let Some(ino) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ino:"))
                .and_then(|h| u64::from_str_radix(h, 16).ok())
            {
                out.insert(ino);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn finds_this_process_and_its_epoll_watch() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = nix::sys::stat::fstat(l.as_fd()).unwrap().st_ino;
        let ep =
            nix::sys::epoll::Epoll::new(nix::sys::epoll::EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
        ep.add(
            &l,
            nix::sys::epoll::EpollEvent::new(nix::sys::epoll::EpollFlags::EPOLLIN, 0),
        )
        .unwrap();
        let map = Scanner::default().refresh(
            &HashSet::from([inode]),
            &OwnerMap::default(),
            Instant::now(),
        );
        let me = std::process::id();
        let holders = map.holders(inode);
        assert_eq!(holders.len(), 1, "{holders:?}");
        assert_eq!(holders[0].pid, me);
        assert!(holders[0].epoll_watches);
        let (owners, workers) = map.roles(inode);
        assert_eq!(owners[0].pid, me);
        assert_eq!(workers[0].pid, me);
    }

    #[test]
    fn a_partial_refresh_reads_the_holders_again() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = nix::sys::stat::fstat(l.as_fd()).unwrap().st_ino;
        let wanted = HashSet::from([inode]);
        let mut scanner = Scanner::default();
        let start = Instant::now();
        let full = scanner.refresh(&wanted, &OwnerMap::default(), start);
        assert!(full.holds(std::process::id(), inode));
        // Within FULL_SCAN and the same wanted set: partial. We held it, so we are read
        // again: still a holder, then no longer once it is closed.
        let partial = scanner.refresh(&wanted, &full, start + Duration::from_millis(1));
        assert!(partial.holds(std::process::id(), inode), "{partial:?}");
        drop(l);
        let partial = scanner.refresh(&wanted, &partial, start + Duration::from_millis(2));
        assert!(partial.holders(inode).is_empty(), "{partial:?}");
    }

    #[test]
    fn a_sweep_finds_a_holder_that_no_partial_refresh_reads() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = nix::sys::stat::fstat(l.as_fd()).unwrap().st_ino;
        let wanted = HashSet::from([inode]);
        let me = std::process::id();
        let mut scanner = Scanner::default();
        let start = Instant::now();
        assert!(
            scanner
                .refresh(&wanted, &OwnerMap::default(), start)
                .holds(me, inode)
        );
        // As if we had held none of them before (the fd received later, SCM_RIGHTS):
        // not new, not a holder, not hidden, so a partial refresh does not read us...
        let none = OwnerMap::default();
        let partial = scanner.refresh(&wanted, &none, start + Duration::from_millis(1));
        assert!(!partial.holds(me, inode), "{partial:?}");
        // ...until the sweep started after FULL_SCAN reaches us, a slice per refresh.
        let later = start + FULL_SCAN + Duration::from_millis(1);
        let pids = pids().count();
        let found = (0..=pids).any(|_| scanner.refresh(&wanted, &none, later).holds(me, inode));
        assert!(found, "no sweep found us among {pids} processes");
    }
}
