//! Counting the held connections that the peer closes or resets, without a task, a buffer
//! or a tokio registration per connection.
//!
//! Each connected socket is added to one epoll set of our own for `EPOLLRDHUP` (the peer
//! sent FIN) plus the always-reported `EPOLLHUP`/`EPOLLERR` (reset), with `EPOLLONESHOT`
//! so that each connection reports at most once and data the peer sends (`EPOLLIN`, not
//! asked for) wakes nobody. See epoll_ctl(2). The epoll descriptor itself is pollable, so
//! one tokio task watches it through `AsyncFd` and drains it with zero-timeout waits.
//! What a held connection costs us is then its descriptor and the kernel's epoll entry.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The epoll set of held connections; cheap to share between dial tasks.
#[derive(Debug, Clone)]
pub struct PeerCloseWatch {
    epoll: Arc<Epoll>,
}

/// The running watcher: stop it to learn how many connections the peer closed.
#[derive(Debug)]
pub struct Watching {
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<u64>>,
}

/// Lets tokio register the shared epoll descriptor.
struct EpollFd(Arc<Epoll>);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.0.as_raw_fd()
    }
}

impl PeerCloseWatch {
    /// Creates the (empty) epoll set.
    pub fn new() -> io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        Ok(Self {
            epoll: Arc::new(epoll),
        })
    }

    /// Starts watching one connected socket. A failure (the kernel's `max_user_watches`)
    /// only means that this connection's close goes uncounted, so it is returned for the
    /// caller to ignore knowingly.
    pub fn watch(&self, fd: BorrowedFd<'_>) -> nix::Result<()> {
        let flags = EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLONESHOT;
        self.epoll.add(fd, EpollEvent::new(flags, 0))
    }

    /// Spawns the task that counts peer closes until [`Watching::stop`]. Must be called
    /// inside the runtime.
    pub fn start(&self) -> io::Result<Watching> {
        let epoll = EpollFd(Arc::clone(&self.epoll));
        // SAFETY: the `Epoll` owns its descriptor and the `Arc` keeps it alive (and the same)
        // for as long as the `AsyncFd` holds this clone.
        let fd = unsafe { AsyncFd::register_with_interest(epoll, Interest::READABLE) }
            .map_err(io::Error::from)?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut closed = 0;
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    guard = fd.readable() => {
                        let mut guard = guard?;
                        closed += drain(fd.get_ref())?;
                        guard.clear_ready();
                    }
                }
            }
            // Closes that arrived just before the release still count.
            Ok(closed + drain(fd.get_ref())?)
        });
        Ok(Watching { stop, task })
    }
}

/// Collects every pending event without blocking; returns how many there were.
fn drain(fd: &EpollFd) -> io::Result<u64> {
    let mut events = [EpollEvent::empty(); 256];
    let mut total = 0;
    loop {
        let n = fd.0.wait(&mut events, EpollTimeout::ZERO)?;
        total += n as u64;
        if n < events.len() {
            return Ok(total);
        }
    }
}

impl Watching {
    /// Stops counting and returns the number of connections the peer closed or reset.
    pub async fn stop(self) -> io::Result<u64> {
        let _ = self.stop.send(());
        self.task.await.map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    #[tokio::test]
    async fn counts_peer_closes_once_and_ignores_data() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let watch = PeerCloseWatch::new().unwrap();
        let clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        for c in &clients {
            watch.watch(c.as_fd()).unwrap();
        }
        let mut servers: Vec<TcpStream> = (0..3).map(|_| listener.accept().unwrap().0).collect();
        let watching = watch.start().unwrap();
        servers[0].write_all(b"hello").unwrap();
        servers.truncate(1); // closes two of them
        // Wait (bounded) until the kernel has delivered both FINs to the clients.
        let mut buf = [0u8; 1];
        for c in &clients[1..] {
            c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            assert_eq!(std::io::Read::read(&mut &*c, &mut buf).unwrap(), 0);
        }
        assert_eq!(watching.stop().await.unwrap(), 2);
    }
}
