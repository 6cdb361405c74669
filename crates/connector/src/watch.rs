//! Counting the held connections that the peer closed or reset, without a task, a buffer
//! or a tokio registration per connection, and at no cost during the connect phase.
//!
//! Once the connect phase is over, every held socket is added to one epoll set of our
//! own for `EPOLLRDHUP` (the peer sent FIN) plus the always-reported `EPOLLHUP` /
//! `EPOLLERR` (reset), with `EPOLLONESHOT` so that each reports at most once; data the
//! peer sends (`EPOLLIN`, not asked for) is not an event. See epoll_ctl(2). These states
//! persist on the socket, so registering late loses nothing (`EPOLL_CTL_ADD` reports a
//! socket that is already closed), and one zero-timeout drain at release time counts
//! every close that happened before it. A held connection costs us its descriptor and the
//! kernel's epoll entry, nothing more.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

/// The epoll set of held connections.
#[derive(Debug)]
pub struct PeerCloseWatch {
    epoll: Epoll,
    watched: u64,
}

impl PeerCloseWatch {
    /// Creates an epoll set watching `held`. A socket that cannot be added (the kernel's
    /// `fs.epoll.max_user_watches`) only goes uncounted; [`Self::watched`] tells how many
    /// were added.
    pub fn new(held: &[OwnedFd]) -> io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let flags = EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLONESHOT;
        let watched = held
            .iter()
            .filter(|fd| epoll.add(fd.as_fd(), EpollEvent::new(flags, 0)).is_ok())
            .count() as u64;
        Ok(Self { epoll, watched })
    }

    /// How many of the held sockets are watched.
    pub fn watched(&self) -> u64 {
        self.watched
    }

    /// Counts the watched connections that the peer has closed or reset so far. Each is
    /// counted once over the life of the set (the registrations are one-shot).
    pub fn count_closed(&self) -> io::Result<u64> {
        let mut events = [EpollEvent::empty(); 256];
        let mut total = 0;
        loop {
            let n = self.epoll.wait(&mut events, EpollTimeout::ZERO)?;
            total += n as u64;
            if n < events.len() {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    #[test]
    fn counts_peer_closes_once_and_ignores_data() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accept each at once: std's listener has a backlog of only 128.
        let (clients, mut servers): (Vec<TcpStream>, Vec<TcpStream>) = (0..300)
            .map(|_| {
                (
                    TcpStream::connect(addr).unwrap(),
                    listener.accept().unwrap().0,
                )
            })
            .unzip();
        // One closed before the watch starts, as during the connect phase.
        servers.swap_remove(299);
        let fds: Vec<OwnedFd> = clients.into_iter().map(OwnedFd::from).collect();
        let watch = PeerCloseWatch::new(&fds).unwrap();
        assert_eq!(watch.watched(), 300);
        servers[0].write_all(b"hello").unwrap();
        servers.truncate(40); // closes 259 more, more than one drain buffer
        // Wait (bounded) until the kernel has delivered the FIN of the last one closed.
        let mut last = TcpStream::from(fds[298].try_clone().unwrap());
        last.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(last.read(&mut [0u8; 1]).unwrap(), 0);
        assert_eq!(watch.count_closed().unwrap(), 260);
        assert_eq!(watch.count_closed().unwrap(), 0, "each close counts once");
    }
}
