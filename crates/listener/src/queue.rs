//! Reads a listener's accept-queue length from the kernel, without accepting anything.
//!
//! - TCP: `getsockopt(TCP_INFO)`. On a listening socket the kernel reuses two fields:
//!   `tcpi_unacked` is the accept-queue length (`sk_ack_backlog`) and `tcpi_sacked` the
//!   backlog limit (`sk_max_ack_backlog`); see `tcp_get_info()` in net/ipv4/tcp.c.
//! - Unix: the `sock_diag` netlink interface with `UDIAG_SHOW_RQLEN`; for a listener,
//!   `UNIX_DIAG_RQLEN` carries the queue length and the backlog (`sk_diag_show_rqlen()` in
//!   net/unix/diag.c). This is what `ss -xl` prints as Recv-Q / Send-Q.
//!
//! The same unix `sock_diag` interface also tells whether a live socket is bound to a given
//! file ([`unix_socket_bound_to`], `UDIAG_SHOW_VFS`): what [`crate::socket`] asks before it
//! removes a socket file it takes for stale.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

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

// From <linux/sock_diag.h> and <linux/unix_diag.h>; libc does not carry them.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_RQLEN: u16 = 4;
const TCP_LISTEN: u32 = 10;
const NLMSG_HDR_LEN: usize = 16;
const UNIX_DIAG_MSG_LEN: usize = 16;
const UDIAG_SHOW_VFS: u32 = 0x02;
const UNIX_DIAG_VFS: u16 = 1;

fn sock_diag_socket() -> io::Result<std::os::fd::OwnedFd> {
    Ok(socket::socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?)
}

/// True when some live unix socket on this machine (any state: listening, or only bound)
/// is bound to the file with this device and inode, as `stat(2)` reports them. A socket
/// file whose socket was closed has none: only then is the file stale. Dumps every unix
/// socket (`NLM_F_DUMP`, the kernel's `unix_diag_dump()`), since the lookup by socket
/// inode needs the socket's inode, which the file does not give.
pub fn unix_socket_bound_to(dev: u64, ino: u64) -> io::Result<bool> {
    let nl = sock_diag_socket()?;
    let mut request = unix_diag_header(libc::NLM_F_REQUEST | libc::NLM_F_DUMP);
    request.extend_from_slice(&u32::MAX.to_ne_bytes()); // udiag_states: all
    request.extend_from_slice(&0u32.to_ne_bytes()); // udiag_ino: any
    request.extend_from_slice(&UDIAG_SHOW_VFS.to_ne_bytes()); // udiag_show
    request.extend_from_slice(&[0; 8]); // udiag_cookie
    socket::sendto(
        nl.as_raw_fd(),
        &request,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut found = false;
    loop {
        let n = socket::recv(nl.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        match scan_vfs_dump(&buf[..n], dev, ino)? {
            Dump::More(hit) => found |= hit,
            Dump::Done => return Ok(found),
        }
    }
}

enum Dump {
    More(bool),
    Done,
}

/// One datagram of a dump: true in `More` if a socket bound to (`dev`, `ino`) is in it.
fn scan_vfs_dump(buf: &[u8], dev: u64, ino: u64) -> io::Result<Dump> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed sock_diag reply");
    let mut found = false;
    let mut msg = 0;
    while msg + NLMSG_HDR_LEN <= buf.len() {
        let msg_len = u32_at(buf, msg).ok_or_else(bad)? as usize;
        let msg_type = u16_at(buf, msg + 4).ok_or_else(bad)?;
        if msg_len < NLMSG_HDR_LEN {
            return Err(bad());
        }
        if msg_type == libc::NLMSG_DONE as u16 {
            return Ok(Dump::Done);
        }
        if msg_type == libc::NLMSG_ERROR as u16 {
            let errno = u32_at(buf, msg + NLMSG_HDR_LEN).ok_or_else(bad)? as i32;
            return Err(Errno::from_raw(-errno).into());
        }
        let end = (msg + msg_len).min(buf.len());
        // struct unix_diag_vfs { __u32 udiag_vfs_ino; __u32 udiag_vfs_dev; }. The device is
        // the kernel's internal dev_t (MKDEV: major << 20 | minor), not stat(2)'s encoding
        // (seen live: 0xfe00000 for st_dev 0xfe00).
        if let Some((vfs_ino, vfs_dev)) = attr_pair(buf, msg, end, UNIX_DIAG_VFS)? {
            let same_dev = (vfs_dev >> 20, vfs_dev & 0xf_ffff)
                == (libc::major(dev) as u32, libc::minor(dev) as u32);
            found |= u64::from(vfs_ino) == ino && same_dev;
        }
        msg += msg_len.div_ceil(4) * 4; // messages too (NLMSG_ALIGN)
    }
    Ok(Dump::More(found))
}

fn unix_queue(fd: &impl AsFd) -> io::Result<QueueLen> {
    let ino = nix::sys::stat::fstat(fd.as_fd())?.st_ino as u32;
    let nl = sock_diag_socket()?;
    let request = unix_diag_request(ino);
    socket::sendto(
        nl.as_raw_fd(),
        &request,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )?;
    let mut buf = [0u8; 8192];
    let n = socket::recv(nl.as_raw_fd(), &mut buf, MsgFlags::empty())?;
    parse_unix_diag_reply(&buf[..n])
}

/// `nlmsghdr` + the start of a `unix_diag_req` (family, protocol, pad), with these flags;
/// the caller appends states, inode, show and cookie (20 bytes).
fn unix_diag_header(flags: libc::c_int) -> Vec<u8> {
    let mut msg = Vec::with_capacity(NLMSG_HDR_LEN + 24);
    msg.extend_from_slice(&((NLMSG_HDR_LEN + 24) as u32).to_ne_bytes()); // nlmsg_len
    msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes()); // nlmsg_type
    msg.extend_from_slice(&(flags as u16).to_ne_bytes()); // nlmsg_flags
    msg.extend_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
    msg.push(libc::AF_UNIX as u8); // sdiag_family
    msg.push(0); // sdiag_protocol
    msg.extend_from_slice(&0u16.to_ne_bytes()); // pad
    msg
}

/// `nlmsghdr` + `unix_diag_req` asking for one socket by inode, with its queue lengths.
fn unix_diag_request(ino: u32) -> Vec<u8> {
    let mut msg = unix_diag_header(libc::NLM_F_REQUEST);
    msg.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes()); // udiag_states
    msg.extend_from_slice(&ino.to_ne_bytes()); // udiag_ino
    msg.extend_from_slice(&UDIAG_SHOW_RQLEN.to_ne_bytes()); // udiag_show
    // udiag_cookie: all ones means "no cookie" (INET_DIAG_NOCOOKIE) for an exact lookup.
    msg.extend_from_slice(&[0xff; 8]);
    msg
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

/// The first two `u32`s of attribute `wanted` in the `unix_diag_msg` that starts at `msg`
/// and ends at `end`, if it has one.
fn attr_pair(buf: &[u8], msg: usize, end: usize, wanted: u16) -> io::Result<Option<(u32, u32)>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed sock_diag reply");
    let mut at = msg + NLMSG_HDR_LEN + UNIX_DIAG_MSG_LEN;
    while at + 4 <= end {
        let attr_len = u16_at(buf, at).ok_or_else(bad)? as usize;
        let attr_type = u16_at(buf, at + 2).ok_or_else(bad)?;
        if attr_len < 4 {
            break;
        }
        if attr_type == wanted {
            let first = u32_at(buf, at + 4).ok_or_else(bad)?;
            let second = u32_at(buf, at + 8).ok_or_else(bad)?;
            return Ok(Some((first, second)));
        }
        at += attr_len.div_ceil(4) * 4; // attributes are 4-byte aligned (RTA_ALIGN)
    }
    Ok(None)
}

fn parse_unix_diag_reply(buf: &[u8]) -> io::Result<QueueLen> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed sock_diag reply");
    let msg_len = u32_at(buf, 0).ok_or_else(bad)? as usize;
    let msg_type = u16_at(buf, 4).ok_or_else(bad)?;
    if msg_type == libc::NLMSG_ERROR as u16 {
        let errno = u32_at(buf, NLMSG_HDR_LEN).ok_or_else(bad)? as i32;
        return Err(Errno::from_raw(-errno).into());
    }
    let end = msg_len.min(buf.len());
    if let Some((len, max)) = attr_pair(buf, 0, end, UNIX_DIAG_RQLEN)? {
        return Ok(QueueLen { len, max });
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "sock_diag reply has no UNIX_DIAG_RQLEN",
    ))
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
        assert!(!unix_socket_bound_to(meta.dev(), meta.ino()).unwrap());
    }

    #[test]
    fn tcp_queue_counts_pending_connections() {
        check_counts_pending(Endpoint::Inet("127.0.0.1:0".parse().unwrap()));
    }
}
