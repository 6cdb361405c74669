//! A thin wrapper over `nix::sys::epoll::Epoll`: the trigger modes we study, registration
//! by token, and a wait that retries on `EINTR` and never rounds a timeout down to zero.
//!
//! See epoll(7) and epoll_ctl(2) for the flags; mio's `selector/epoll.rs` for the EINTR and
//! timeout-rounding discipline.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

/// How a listener is registered with epoll.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// `EPOLLIN`: reported on every wait while a connection is pending.
    Level,
    /// `EPOLLIN | EPOLLET`: reported on new readiness (for listeners: every new connection).
    Edge,
    /// `EPOLLIN | EPOLLONESHOT`: reported once, then disabled until `EPOLL_CTL_MOD`.
    Oneshot,
    /// `EPOLLIN | EPOLLEXCLUSIVE`: level-triggered, but one wakeup wakes one of the epoll
    /// instances that share the file (only valid with `EPOLL_CTL_ADD`).
    Exclusive,
    /// `EPOLLIN | EPOLLET | EPOLLEXCLUSIVE`: what nginx uses with `accept_mutex off`.
    EdgeExclusive,
}

impl Trigger {
    /// Every mode, in the order reports list them.
    pub const ALL: [Trigger; 5] = [
        Self::Level,
        Self::Edge,
        Self::Oneshot,
        Self::Exclusive,
        Self::EdgeExclusive,
    ];

    /// The epoll flags this mode registers with.
    pub fn flags(self) -> EpollFlags {
        let base = EpollFlags::EPOLLIN;
        match self {
            Self::Level => base,
            Self::Edge => base | EpollFlags::EPOLLET,
            Self::Oneshot => base | EpollFlags::EPOLLONESHOT,
            Self::Exclusive => base | EpollFlags::EPOLLEXCLUSIVE,
            Self::EdgeExclusive => base | EpollFlags::EPOLLET | EpollFlags::EPOLLEXCLUSIVE,
        }
    }

    /// The name used on the command line and in reports (`edge-exclusive`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Level => "level",
            Self::Edge => "edge",
            Self::Oneshot => "oneshot",
            Self::Exclusive => "exclusive",
            Self::EdgeExclusive => "edge-exclusive",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One readiness event: the token it was registered with and the flags the kernel returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// The token given to [`Poller::add`].
    pub token: u64,
    /// The flags the kernel returned.
    pub flags: EpollFlags,
}

/// An epoll instance. Create it *after* any fork: an inherited epoll fd shares its
/// interest list with the parent (epoll(7), "Questions and answers" 6).
#[derive(Debug)]
pub struct Poller {
    epoll: Epoll,
    buf: Vec<EpollEvent>,
}

impl Poller {
    /// A new, close-on-exec epoll instance returning up to 64 events per wait.
    pub fn new() -> nix::Result<Self> {
        Ok(Self {
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            buf: vec![EpollEvent::empty(); 64],
        })
    }

    /// Registers `fd` with `flags` under `token` (`EPOLL_CTL_ADD`).
    pub fn add(&self, fd: impl AsFd, flags: EpollFlags, token: u64) -> nix::Result<()> {
        self.epoll.add(fd, EpollEvent::new(flags, token))
    }

    /// Re-registers `fd` (`EPOLL_CTL_MOD`), which also re-arms a fired `EPOLLONESHOT`.
    /// The kernel refuses `EPOLLEXCLUSIVE` here with `EINVAL`.
    pub fn modify(&self, fd: impl AsFd, flags: EpollFlags, token: u64) -> nix::Result<()> {
        self.epoll.modify(fd, &mut EpollEvent::new(flags, token))
    }

    /// Removes `fd` (`EPOLL_CTL_DEL`).
    pub fn delete(&self, fd: impl AsFd) -> nix::Result<()> {
        self.epoll.delete(fd)
    }

    /// Waits up to `timeout` (`None`: forever) and returns the events. Retries on `EINTR`
    /// with the time that is left; rounds sub-millisecond timeouts up, so a short timeout
    /// never turns into a busy poll.
    pub fn wait(&mut self, timeout: Option<Duration>) -> nix::Result<Vec<Ready>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match self.epoll.wait(&mut self.buf, to_epoll_timeout(left)) {
                Ok(n) => {
                    return Ok(self.buf[..n]
                        .iter()
                        .map(|e| Ready {
                            token: e.data(),
                            flags: e.events(),
                        })
                        .collect());
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// `epoll_wait` with timeout 0: what is ready right now.
    pub fn poll_now(&mut self) -> nix::Result<Vec<Ready>> {
        self.wait(Some(Duration::ZERO))
    }
}

/// Milliseconds for `epoll_wait` or `poll` (nix's `EpollTimeout` is its `PollTimeout`),
/// rounding up (1 µs waits 1 ms, not 0, so a short wait never becomes a busy loop) and
/// saturating; `None` waits forever.
pub fn to_epoll_timeout(timeout: Option<Duration>) -> EpollTimeout {
    match timeout {
        None => EpollTimeout::NONE,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            EpollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(EpollTimeout::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn rounds_timeouts_up_not_down() {
        assert_eq!(
            i32::from(to_epoll_timeout(Some(Duration::from_micros(1)))),
            1
        );
        assert_eq!(i32::from(to_epoll_timeout(Some(Duration::ZERO))), 0);
        assert_eq!(
            i32::from(to_epoll_timeout(Some(Duration::from_millis(5)))),
            5
        );
        assert_eq!(i32::from(to_epoll_timeout(None)), -1);
    }

    #[test]
    fn reports_readiness_with_token_and_respects_oneshot() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut poller = Poller::new().unwrap();
        poller.add(&b, Trigger::Oneshot.flags(), 7).unwrap();
        assert!(poller.poll_now().unwrap().is_empty());
        a.write_all(b"x").unwrap();
        let ready = poller.wait(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].token, 7);
        assert!(crate::events::is_readable(ready[0].flags));
        // Oneshot: disabled until re-armed, although the byte is still unread.
        assert!(poller.poll_now().unwrap().is_empty());
        poller.modify(&b, Trigger::Oneshot.flags(), 8).unwrap();
        assert_eq!(poller.poll_now().unwrap()[0].token, 8);
    }

    #[test]
    fn exclusive_cannot_be_modified() {
        let (_a, b) = UnixStream::pair().unwrap();
        let poller = Poller::new().unwrap();
        poller.add(&b, Trigger::Exclusive.flags(), 1).unwrap();
        assert_eq!(
            poller.modify(&b, Trigger::Exclusive.flags(), 1),
            Err(Errno::EINVAL)
        );
    }
}
