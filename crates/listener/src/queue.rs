//! Reads a listener's accept-queue length from the kernel, without accepting anything.
//!
//! - TCP: `getsockopt(TCP_INFO)`. On a listening socket the kernel reuses two fields:
//!   `tcpi_unacked` is the accept-queue length (`sk_ack_backlog`) and `tcpi_sacked` the
//!   backlog limit (`sk_max_ack_backlog`); see `tcp_get_info()` in net/ipv4/tcp.c.
//! - Unix: `UNIX_DIAG_RQLEN` from the `sock_diag` netlink interface ([`crate::diag`], shared
//!   with listen-watch). This is what `ss -xl` prints as Recv-Q / Send-Q.
//!
//! The same unix `sock_diag` interface also tells whether a live socket is bound to a given
//! file ([`unix_socket_bound_to`], `UDIAG_SHOW_VFS`): what [`crate::socket`] asks before it
//! removes a socket file it takes for stale.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use crate::diag::Diag;
use crate::socket::{Family, Listener};

/// An accept queue: connections waiting for `accept()` and the limit the kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueLen {
    /// Connections fully established and waiting to be accepted.
    pub len: u32,
    /// The effective backlog (the `listen()` argument, capped by `somaxconn`).
    pub max: u32,
}

/// The accept queue of `listener` right now.
pub fn accept_queue(listener: &Listener) -> io::Result<QueueLen> {
    match listener.family() {
        Family::Unix => unix_queue(listener),
        Family::Inet | Family::Inet6 => tcp_queue(listener),
    }
}

fn tcp_queue(fd: &impl AsFd) -> io::Result<QueueLen> {
    // SAFETY: an all-zero tcp_info is a valid value of a plain C struct.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the fd is a live socket for the duration of the borrow; `info` and `len`
    // point to writable memory of the size we pass. nix has no TCP_INFO option.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(QueueLen {
        len: info.tcpi_unacked,
        max: info.tcpi_sacked,
    })
}

/// True when some live unix socket on this machine (any state: listening, or only bound)
/// is bound to the file with this device and inode, as `stat(2)` reports them. A socket
/// file whose socket was closed has none: only then is the file stale.
pub fn unix_socket_bound_to(dev: u64, ino: u64) -> io::Result<bool> {
    Diag::open()?.unix_bound_to(dev, ino)
}

fn unix_queue(fd: &impl AsFd) -> io::Result<QueueLen> {
    let ino = nix::sys::stat::fstat(fd.as_fd())?.st_ino as u32;
    match Diag::open()?.unix_listener(ino)? {
        Some(l) => Ok(QueueLen {
            len: l.queue,
            max: l.backlog,
        }),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            "sock_diag reply has no UNIX_DIAG_RQLEN",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::ListenOptions;
    use listenlab_common::Endpoint;

    fn check_counts_pending(endpoint: Endpoint) {
        let l = Listener::bind(
            &endpoint,
            ListenOptions {
                backlog: 8,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(accept_queue(&l).unwrap(), QueueLen { len: 0, max: 8 });
        let clients: Vec<_> = (0..3).map(|_| l.connect().unwrap()).collect();
        // TCP completes the handshake in softirq context before connect() returns on
        // loopback, so the queue is already 3 here, as it is for unix sockets.
        assert_eq!(accept_queue(&l).unwrap().len, 3);
        drop(l.accept().unwrap());
        assert_eq!(accept_queue(&l).unwrap().len, 2);
        drop(clients);
    }

    #[test]
    fn unix_queue_counts_pending_connections() {
        let dir = tempfile::tempdir().unwrap();
        check_counts_pending(Endpoint::Unix(dir.path().join("q.sock")));
    }

    #[test]
    fn a_bound_socket_is_found_by_its_file_and_a_closed_one_is_not() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.sock");
        let bound = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(unix_socket_bound_to(meta.dev(), meta.ino()).unwrap());
        drop(bound);
        // Another test of this binary may fork (wrap.rs) while `bound` is open;
        // the child's copy keeps the socket alive until it exits or execs, so poll (bounded).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while unix_socket_bound_to(meta.dev(), meta.ino()).unwrap() {
            assert!(
                std::time::Instant::now() < deadline,
                "the closed socket is still bound after 10 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn tcp_queue_counts_pending_connections() {
        check_counts_pending(Endpoint::Inet("127.0.0.1:0".parse().unwrap()));
    }
}
