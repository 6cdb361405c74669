//! Reads a listener's accept-queue length from the kernel, without accepting anything.
//!
//! - TCP: `getsockopt(TCP_INFO)`. On a listening socket the kernel reuses two fields:
//!   `tcpi_unacked` is the accept-queue length (`sk_ack_backlog`) and `tcpi_sacked` the
//!   backlog limit (`sk_max_ack_backlog`); see `tcp_get_info()` in net/ipv4/tcp.c.
//! - Unix: the `sock_diag` netlink interface with `UDIAG_SHOW_RQLEN`; for a listener,
//!   `UNIX_DIAG_RQLEN` carries the queue length and the backlog (`sk_diag_show_rqlen()` in
//!   net/unix/diag.c). This is what `ss -xl` prints as Recv-Q / Send-Q.

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

fn unix_queue(fd: &impl AsFd) -> io::Result<QueueLen> {
    let ino = nix::sys::stat::fstat(fd.as_fd())?.st_ino as u32;
    let nl = socket::socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?;
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

/// `nlmsghdr` + `unix_diag_req` asking for one socket by inode, with its queue lengths.
fn unix_diag_request(ino: u32) -> Vec<u8> {
    let mut msg = Vec::with_capacity(NLMSG_HDR_LEN + 24);
    msg.extend_from_slice(&((NLMSG_HDR_LEN + 24) as u32).to_ne_bytes()); // nlmsg_len
    msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes()); // nlmsg_type
    msg.extend_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes()); // nlmsg_flags
    msg.extend_from_slice(&1u32.to_ne_bytes()); // nlmsg_seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
    msg.push(libc::AF_UNIX as u8); // sdiag_family
    msg.push(0); // sdiag_protocol
    msg.extend_from_slice(&0u16.to_ne_bytes()); // pad
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

fn parse_unix_diag_reply(buf: &[u8]) -> io::Result<QueueLen> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed sock_diag reply");
    let msg_len = u32_at(buf, 0).ok_or_else(bad)? as usize;
    let msg_type = u16_at(buf, 4).ok_or_else(bad)?;
    if msg_type == libc::NLMSG_ERROR as u16 {
        let errno = u32_at(buf, NLMSG_HDR_LEN).ok_or_else(bad)? as i32;
        return Err(Errno::from_raw(-errno).into());
    }
    let end = msg_len.min(buf.len());
    let mut at = NLMSG_HDR_LEN + UNIX_DIAG_MSG_LEN;
    while at + 4 <= end {
        let attr_len = u16_at(buf, at).ok_or_else(bad)? as usize;
        let attr_type = u16_at(buf, at + 2).ok_or_else(bad)?;
        if attr_len < 4 {
            break;
        }
        if attr_type == UNIX_DIAG_RQLEN {
            let len = u32_at(buf, at + 4).ok_or_else(bad)?;
            let max = u32_at(buf, at + 8).ok_or_else(bad)?;
            return Ok(QueueLen { len, max });
        }
        at += attr_len.div_ceil(4) * 4; // attributes are 4-byte aligned (RTA_ALIGN)
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
    fn tcp_queue_counts_pending_connections() {
        check_counts_pending(Endpoint::Inet("127.0.0.1:0".parse().unwrap()));
    }
}
