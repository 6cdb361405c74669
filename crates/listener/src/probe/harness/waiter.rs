//! What the several-waiters scenarios share about one waiter: the listener it waits on,
//! its epoll instance, one bounded `epoll_wait`, and how its answers are counted.

use std::os::fd::OwnedFd;

use listenlab_common::Endpoint;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollTimeout};

use crate::events;
use crate::poller::Trigger;
use crate::probe::error::ProbeError;
use crate::socket::{ListenOptions, Listener};

/// A waiter gives up waiting after this long (it is killed long before, normally).
const WAITER_GIVES_UP_MS: u16 = 10_000;

/// A listener set up for waiters: room for every connect; non-blocking unless the
/// waiters block in `accept()` on it.
pub fn waiters_listener(endpoint: &Endpoint, nonblocking: bool) -> Result<Listener, ProbeError> {
    Ok(Listener::bind(
        endpoint,
        ListenOptions {
            backlog: 1024,
            reuseport: false,
            nonblocking,
        },
    )?)
}

/// An epoll instance (new, close-on-exec) watching `listener` with `mode`'s flags.
pub fn watch(listener: &Listener, mode: Trigger) -> Result<Epoll, String> {
    let epoll =
        Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll_create: {e}"))?;
    epoll
        .add(listener, EpollEvent::new(mode.flags(), 1))
        .map_err(|e| format!("epoll_ctl(ADD): {e}"))?;
    Ok(epoll)
}

/// One `epoll_wait` with the waiter's give-up timeout: the number of events and their flags.
pub fn wait_once(epoll: &Epoll) -> Result<(usize, String), String> {
    let mut events = [EpollEvent::empty(); 8];
    let n = epoll
        .wait(&mut events, EpollTimeout::from(WAITER_GIVES_UP_MS))
        .map_err(|e| format!("epoll_wait: {e}"))?;
    Ok((
        n,
        events
            .first()
            .map_or("-".into(), |e| events::describe(e.events())),
    ))
}

/// A client connection to `listener`, kept open by the caller so that it stays queued.
pub fn connect(listener: &Listener) -> Result<OwnedFd, ProbeError> {
    listener
        .connect()
        .map_err(|e| ProbeError::io(format!("connecting to {}", listener.endpoint()), e))
}

/// How many of the per-waiter counts are not zero.
pub fn at_least_once(counts: &[u64]) -> u64 {
    counts.iter().filter(|n| **n > 0).count() as u64
}
