//! Busy or idle: a worker is idle when it sleeps (`/proc/<pid>/stat` state `S`) waiting for
//! a connection on the listener, which `/proc/<pid>/wchan` shows as the kernel function it
//! sleeps in. Which function that is depends on the kernel and the family, so the names are
//! observed live at start-up ([`IdlePlaces::observe`]): a thread of ours blocks in `accept`
//! on a TCP and on a unix listener, and in `epoll_wait` on a listener, and we read its
//! wchan. Seen on Linux 6.18: `inet_csk_accept` (TCP accept), `__skb_wait_for_more_packets`
//! (unix accept), `do_epoll_wait` (epoll).
//!
//! A worker asleep in `epoll_wait` counts as idle only when one of its epoll instances
//! watches this listener ([`super::owners`]); one in `poll`/`select` or anywhere else counts
//! as busy. Only the process's main thread is looked at. A worker whose wchan cannot be read
//! (another user's process) is neither busy nor idle: unknown.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// The wchan names that mean "waiting for a connection", as observed on this kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IdlePlaces {
    /// Where a thread blocked in `accept` on a TCP listener sleeps; `null` if not observed.
    pub tcp_accept: Option<String>,
    /// Where a thread blocked in `accept` on a unix listener sleeps.
    pub unix_accept: Option<String>,
    /// Where a thread blocked in `epoll_wait` on a listener sleeps.
    pub epoll_wait: Option<String>,
}

/// How long start-up waits for a probe thread to fall asleep.
const OBSERVE_WITHIN: Duration = Duration::from_secs(2);

impl IdlePlaces {
    /// Observes the three names on this kernel (a few milliseconds).
    pub fn observe() -> Self {
        let dir = tempfile::tempdir().ok();
        Self {
            tcp_accept: TcpListener::bind("127.0.0.1:0").ok().and_then(|l| {
                let addr = l.local_addr().ok()?;
                sleeping_in(move || drop(l.accept()), || drop(TcpStream::connect(addr)))
            }),
            unix_accept: dir.as_ref().and_then(|d| {
                let path = d.path().join("observe.sock");
                let l = UnixListener::bind(&path).ok()?;
                sleeping_in(
                    move || drop(l.accept()),
                    || drop(UnixStream::connect(&path)),
                )
            }),
            epoll_wait: TcpListener::bind("127.0.0.1:0").ok().and_then(|l| {
                use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
                let addr = l.local_addr().ok()?;
                let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).ok()?;
                ep.add(&l, EpollEvent::new(EpollFlags::EPOLLIN, 0)).ok()?;
                sleeping_in(
                    move || {
                        let mut events = [EpollEvent::empty()];
                        let _ = ep.wait(&mut events, 5000u16);
                        drop(l);
                    },
                    || drop(TcpStream::connect(addr)),
                )
            }),
        }
    }
}

/// Runs `block` on a thread, reads its wchan once it sleeps, then runs `release` (which
/// must unblock it) and joins it.
fn sleeping_in(block: impl FnOnce() + Send + 'static, release: impl FnOnce()) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(nix::unistd::gettid().as_raw());
        block();
    });
    let tid = rx.recv().ok()?;
    let deadline = Instant::now() + OBSERVE_WITHIN;
    let mut seen = None;
    // A bounded poll for a sleep, which has no readiness signal: after the send the
    // thread's next sleep is the blocking call itself.
    while Instant::now() < deadline {
        let task = format!("/proc/self/task/{tid}");
        if state_of(&format!("{task}/stat")) == Some('S') {
            seen = read_wchan(&format!("{task}/wchan"));
            if seen.is_some() {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    release();
    let _ = thread.join();
    seen
}

fn state_of(stat_path: &str) -> Option<char> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// The wchan at `path`; `None` when empty or `0` (running, or not visible to us).
fn read_wchan(path: &str) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    let text = text.trim();
    (!text.is_empty() && text != "0").then(|| text.to_owned())
}

/// What a worker is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Asleep waiting for a connection on the listener.
    Idle,
    /// Anything else: running, or asleep somewhere else (serving a request).
    Busy,
    /// Its state or wchan cannot be read (exited, or another user's process).
    Unknown,
}

impl IdlePlaces {
    /// The state of worker `pid` of a listener (`unix` family or TCP); `epoll_watches`
    /// tells whether one of its epoll instances watches the listener.
    pub fn worker_state(&self, pid: u32, unix: bool, epoll_watches: bool) -> WorkerState {
        let Some(state) = state_of(&format!("/proc/{pid}/stat")) else {
            return WorkerState::Unknown;
        };
        if state != 'S' {
            return WorkerState::Busy;
        }
        let Ok(raw) = std::fs::read_to_string(format!("/proc/{pid}/wchan")) else {
            return WorkerState::Unknown;
        };
        let wchan = raw.trim();
        if wchan.is_empty() {
            // Asleep, but the kernel hides where from us (no ptrace access).
            return WorkerState::Unknown;
        }
        let accept = if unix {
            &self.unix_accept
        } else {
            &self.tcp_accept
        };
        let idle = accept.as_deref() == Some(wchan)
            || (epoll_watches && self.epoll_wait.as_deref() == Some(wchan));
        if idle {
            WorkerState::Idle
        } else {
            WorkerState::Busy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observes_distinct_accept_and_epoll_places() {
        let places = IdlePlaces::observe();
        let tcp = places.tcp_accept.clone().expect("tcp accept observed");
        let unix = places.unix_accept.clone().expect("unix accept observed");
        let epoll = places.epoll_wait.clone().expect("epoll wait observed");
        assert_ne!(tcp, epoll);
        assert_ne!(unix, epoll);
        // This test binary's main thread sleeps on a futex waiting for the tests: busy.
        assert_eq!(
            places.worker_state(std::process::id(), false, false),
            WorkerState::Busy
        );
    }
}
