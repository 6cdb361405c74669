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
//!
//! A socket the kernel refuses to add (`ENOSPC` past `fs.epoll.max_user_watches`, see
//! epoll(7)) cannot be counted; the watch says how many there were
//! ([`PeerCloseWatch::unwatched`]), and the report shows them as `unwatched` rather than
//! letting them pass for connections the peer left open (issue 10).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

/// The epoll set of held connections.
#[derive(Debug)]
pub struct PeerCloseWatch {
    epoll: Epoll,
    unwatched: u64,
}

impl PeerCloseWatch {
    /// Creates an epoll set watching `held`. A socket that cannot be added is left out
    /// and counted in [`Self::unwatched`]; only failing to create the set is an error.
    pub fn new(held: &[OwnedFd]) -> io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let flags = EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLONESHOT;
        let unwatched = held
            .iter()
            .filter(|fd| epoll.add(fd.as_fd(), EpollEvent::new(flags, 0)).is_err())
            .count() as u64;
        Ok(Self { epoll, unwatched })
    }

    /// How many of the held sockets could not be watched: their peer closes go uncounted.
    pub fn unwatched(&self) -> u64 {
        self.unwatched
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
        assert_eq!(watch.unwatched(), 0);
        servers[0].write_all(b"hello").unwrap();
        servers.truncate(40); // closes 259 more, more than one drain buffer
        // Wait (bounded) until the kernel has delivered the FIN of the last one closed.
        let mut last = TcpStream::from(fds[298].try_clone().unwrap());
        last.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(last.read(&mut [0u8; 1]).unwrap(), 0);
        assert_eq!(watch.count_closed().unwrap(), 260);
        assert_eq!(watch.count_closed().unwrap(), 0, "each close counts once");
    }

    #[test]
    fn issue_10_what_cannot_be_watched_is_counted_not_dropped() {
        // epoll refuses a regular file with EPERM (epoll_ctl(2)), as it refuses a socket
        // past fs.epoll.max_user_watches with ENOSPC: either way it is not watched, and
        // the watch must say so instead of reporting it as not closed.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let file = tempfile::tempfile().unwrap();
        let held = [OwnedFd::from(client), OwnedFd::from(file)];
        let watch = PeerCloseWatch::new(&held).unwrap();
        assert_eq!(watch.unwatched(), 1);
        drop(server);
        let mut client = TcpStream::from(held[0].try_clone().unwrap());
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(client.read(&mut [0u8; 1]).unwrap(), 0, "the FIN arrived");
        assert_eq!(watch.count_closed().unwrap(), 1);
    }
}
