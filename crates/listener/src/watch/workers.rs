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
//!
//! Each sample reads `wchan` first and `stat` only when the wchan alone does not decide:
//! the kernel shows a wchan only for a task that is not running (`get_wchan()` returns 0
//! for a running or waking one, and `proc_pid_wchan()` prints `0` then, or when ptrace
//! access is denied), so a wchan that is none of the idle places means asleep elsewhere:
//! busy, whatever the state. `stat` is the dearer file (`do_task_stat()` formats 52 fields,
//! the memory sizes among them): about 3.5 us of the 5 us the pair cost here.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
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
    let files = TaskFiles::open(&format!("/proc/self/task/{tid}"));
    let deadline = Instant::now() + OBSERVE_WITHIN;
    let mut seen = None;
    // A bounded poll for a sleep, which has no readiness signal: after the send the
    // thread's next sleep is the blocking call itself.
    while let Some(files) = &files
        && Instant::now() < deadline
    {
        if let Some(now) = files.now(|_| true)
            && now.state == Some(b'S')
            && !now.wchan().is_empty()
        {
            seen = Some(now.wchan().to_owned());
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    release();
    let _ = thread.join();
    seen
}

/// A task's `stat` and `wchan` files in `/proc`, kept open and re-read from offset 0 on
/// each sample: two `pread`s instead of an open, a read and a close of each. An open file
/// keeps naming the task it was opened for: once that task exits, reads fail (and a new
/// process that reuses the pid is never taken for it).
#[derive(Debug)]
pub struct TaskFiles {
    stat: File,
    wchan: File,
}

/// What a task is doing at one moment.
#[derive(Debug, Clone, Copy)]
pub struct TaskNow {
    /// The state letter of `stat` (`R`, `S`, `D`, ...); `None` when it was not read, the
    /// wchan deciding alone.
    pub state: Option<u8>,
    wchan: [u8; 128],
    wchan_len: usize,
}

impl TaskNow {
    /// Where it sleeps; empty when running, or when the kernel does not show it to us.
    pub fn wchan(&self) -> &str {
        let text = std::str::from_utf8(&self.wchan[..self.wchan_len]).unwrap_or("");
        if text == "0" { "" } else { text.trim() }
    }
}

impl TaskFiles {
    /// Opens the files of the task whose `/proc` directory is `dir` (`/proc/<pid>`).
    pub fn open(dir: &str) -> Option<Self> {
        Some(Self {
            stat: File::open(format!("{dir}/stat")).ok()?,
            wchan: File::open(format!("{dir}/wchan")).ok()?,
        })
    }

    /// Reads `wchan` now, and `stat` too when `need_state(wchan)`; `None` once the task is
    /// gone.
    pub fn now(&self, need_state: impl Fn(&str) -> bool) -> Option<TaskNow> {
        let mut wchan = [0u8; 128];
        let wchan_len = self.wchan.read_at(&mut wchan, 0).ok()?;
        let mut now = TaskNow {
            state: None,
            wchan,
            wchan_len,
        };
        if need_state(now.wchan()) {
            let mut stat = [0u8; 1024];
            let n = self.stat.read_at(&mut stat, 0).ok()?;
            let stat = &stat[..n];
            // The name in parentheses may contain anything: the state follows the last ')'.
            let close = stat.iter().rposition(|&b| b == b')')?;
            now.state = Some(*stat.get(close + 2)?);
        }
        Some(now)
    }
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
    /// True when a worker seen asleep at `wchan` (empty: running, or hidden) may be idle,
    /// so that its state decides: `wchan` is empty or one of the idle places.
    pub fn needs_state(&self, wchan: &str) -> bool {
        wchan.is_empty()
            || [&self.tcp_accept, &self.unix_accept, &self.epoll_wait]
                .into_iter()
                .any(|place| place.as_deref() == Some(wchan))
    }

    /// The state of a worker of a listener (`unix` family or TCP) seen as `now` (`None`:
    /// unreadable); `epoll_watches` tells whether one of its epoll instances watches the
    /// listener.
    pub fn classify(&self, now: Option<TaskNow>, unix: bool, epoll_watches: bool) -> WorkerState {
        let Some(now) = now else {
            return WorkerState::Unknown;
        };
        let wchan = now.wchan();
        if !self.needs_state(wchan) {
            return WorkerState::Busy; // asleep, somewhere else (module docs)
        }
        if now.state != Some(b'S') {
            return WorkerState::Busy;
        }
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
        // A thread of ours asleep on a channel (a futex), not in accept: busy. (Not the
        // harness's main thread: under load it is sometimes running when read.)
        let (tid_tx, tid_rx) = mpsc::channel();
        let (release, wait) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            tid_tx.send(nix::unistd::gettid().as_raw()).unwrap();
            let _ = wait.recv();
        });
        let tid = tid_rx.recv().unwrap();
        let files = TaskFiles::open(&format!("/proc/self/task/{tid}")).unwrap();
        let deadline = Instant::now() + OBSERVE_WITHIN;
        // A bounded poll for the sleep, which has no readiness signal.
        let now = loop {
            let now = files.now(|w| places.needs_state(w));
            if now.is_some_and(|n| !n.wchan().is_empty()) || Instant::now() >= deadline {
                break now;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        release.send(()).unwrap();
        thread.join().unwrap();
        assert_eq!(places.classify(now, false, false), WorkerState::Busy);
        // Asleep on a futex: the wchan alone decides, stat is not read.
        assert_eq!(now.unwrap().state, None, "{:?}", now.unwrap().wchan());
        assert_eq!(places.classify(None, false, false), WorkerState::Unknown);
    }
}
