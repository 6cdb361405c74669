//! Opening one connection: a nonblocking unix or TCP connect with a timeout, its failure
//! classified into a [`DialError`] (the report's [`ErrorKind`] plus the errno).
//!
//! The socket is made with socket2 rather than through tokio's `TcpStream::connect`, so
//! that a `--source` address can be bound first and so that a connect that is already
//! established when `connect(2)` returns costs no epoll registration: on loopback the
//! whole handshake runs inside the `connect` call (the SYN, SYN-ACK and ACK are processed
//! in softirq context before it returns, even though it reports `EINPROGRESS`), so asking
//! again finds it connected. Only a connect still in progress is handed to tokio to wait
//! for. A connect then costs `socket` + two `connect` calls, against `socket` + `connect`
//! for a blocking client.
//!
//! Unix sockets: a nonblocking connect to a listener whose accept queue is full returns
//! `EAGAIN` at once (unix(7); the kernel has no readiness event for "the queue has room").
//! By default that counts as [`ErrorKind::WouldBlock`], which is what nonblocking
//! clients such as nginx see (`connect() ... failed (11: Resource temporarily
//! unavailable)`). With `--wait-for-backlog` the connect is retried with a short backoff
//! until the timeout, which is what a blocking client sees; one that never gets in counts
//! as [`ErrorKind::Timeout`].

use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use listenlab_common::Endpoint;
use socket2::{Domain, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

use crate::report::ErrorKind;
use crate::source::bind_source;

/// Why a connect failed: the kind the report counts it under, and the errno it came
/// with, which the report's `other_errors` names for [`ErrorKind::Other`] (e.g.
/// `EPROTOTYPE` from a unix datagram socket; issue 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialError {
    /// The report's kind.
    pub kind: ErrorKind,
    /// The errno (`None`: the error carried none, or the timeout was ours).
    pub errno: Option<i32>,
}

impl DialError {
    /// `--timeout` elapsed first.
    const TIMEOUT: Self = Self {
        kind: ErrorKind::Timeout,
        errno: None,
    };

    /// Classifies an error from socket(), bind() or connect().
    pub fn classify(err: &io::Error) -> Self {
        let errno = err.raw_os_error();
        let kind = match errno {
            Some(libc::ECONNREFUSED) => ErrorKind::Refused,
            Some(libc::ETIMEDOUT) => ErrorKind::Timeout,
            Some(libc::EAGAIN) => ErrorKind::WouldBlock,
            Some(libc::EADDRNOTAVAIL) => ErrorKind::AddrNotAvailable,
            Some(libc::EMFILE | libc::ENFILE) => ErrorKind::TooManyFiles,
            // Before the handshake completed; a reset after it is a connection the peer
            // closed (see `reset_after_handshake`).
            Some(libc::ECONNRESET | libc::ECONNABORTED) => ErrorKind::Reset,
            Some(libc::ENETUNREACH | libc::EHOSTUNREACH) => ErrorKind::Unreachable,
            Some(libc::EACCES | libc::EPERM) => ErrorKind::PermissionDenied,
            _ => ErrorKind::Other,
        };
        Self { kind, errno }
    }
}

/// The name of an errno as `<errno.h>` spells it (`EPROTOTYPE`), as the report's
/// `other_errors` keys it; `errno N` for a number nix does not know, `none` when the
/// error carried no errno.
pub fn errno_name(errno: Option<i32>) -> String {
    match errno.map(nix::errno::Errno::from_raw) {
        None => "none".to_owned(),
        Some(nix::errno::Errno::UnknownErrno) => format!("errno {}", errno.unwrap_or(0)),
        Some(known) => format!("{known:?}"),
    }
}

impl From<io::Error> for DialError {
    fn from(err: io::Error) -> Self {
        Self::classify(&err)
    }
}

/// First and longest pause between retries of a unix connect that met a full backlog.
const BACKLOG_RETRY: (Duration, Duration) = (Duration::from_millis(1), Duration::from_millis(20));

/// Opens connections to one target; shared by every dial task.
#[derive(Debug)]
pub struct Dialer {
    domain: Domain,
    addr: SockAddr,
    timeout: Duration,
    wait_for_backlog: bool,
}

impl Dialer {
    /// A dialer for `target`, giving up on each connect after `timeout`.
    pub fn new(target: &Endpoint, timeout: Duration, wait_for_backlog: bool) -> io::Result<Self> {
        let (domain, addr) = match target {
            Endpoint::Unix(path) => (Domain::UNIX, SockAddr::unix(path)?),
            Endpoint::Inet(addr) => (Domain::for_address(*addr), SockAddr::from(*addr)),
        };
        Ok(Self {
            domain,
            addr,
            timeout,
            wait_for_backlog,
        })
    }

    /// Opens one connection, from `source` when given (TCP only). Returns the connected
    /// socket's descriptor, which the caller holds.
    pub async fn dial(&self, source: Option<IpAddr>) -> Result<OwnedFd, DialError> {
        // `None` when the timeout reaches past what `Instant` can hold: no deadline.
        let deadline = Instant::now().checked_add(self.timeout);
        // socket2 sets SOCK_CLOEXEC itself; NONBLOCK rides on the same socket(2) call.
        let socket = Socket::new(self.domain, Type::STREAM.nonblocking(), None)?;
        if let Some(ip) = source {
            bind_source(&socket, ip)?;
        }
        let mut pause = BACKLOG_RETRY.0;
        loop {
            match socket.connect(&self.addr) {
                Ok(()) => return Ok(socket.into()),
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                    return wait_connected(socket, &self.addr, deadline).await;
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && self.wait_for_backlog => {
                    backlog_pause(deadline, &mut pause).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Sleeps before retrying a unix connect that met a full backlog, or fails with
/// `Timeout` when the deadline (`None`: none) leaves no time. The pause doubles from 1 ms
/// to 20 ms.
async fn backlog_pause(deadline: Option<Instant>, pause: &mut Duration) -> Result<(), DialError> {
    let now = Instant::now();
    if deadline.is_some_and(|d| now >= d) {
        return Err(DialError::TIMEOUT);
    }
    let wake = now + *pause; // at most 20 ms ahead
    tokio::time::sleep_until(deadline.map_or(wake, |d| wake.min(d))).await;
    *pause = (*pause * 2).min(BACKLOG_RETRY.1);
    Ok(())
}

/// Finishes a connect that returned `EINPROGRESS`. A second `connect(2)` on the socket
/// answers in one system call: 0 once the handshake is done (Linux moves the socket to
/// connected), the pending error if it failed, `EALREADY` while it is still in progress.
/// Only then is the socket registered with tokio, to wait for writability and read the
/// outcome from `SO_ERROR` (connect(2), "EINPROGRESS"). `deadline` `None` waits as long
/// as the kernel keeps trying.
async fn wait_connected(
    socket: Socket,
    addr: &SockAddr,
    deadline: Option<Instant>,
) -> Result<OwnedFd, DialError> {
    match socket.connect(addr) {
        Ok(()) => return Ok(socket.into()),
        Err(e) if e.raw_os_error() == Some(libc::EISCONN) => return Ok(socket.into()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EALREADY | libc::EINPROGRESS)) => {}
        Err(e) if reset_after_handshake(&e) => return Ok(socket.into()),
        Err(e) => return Err(e.into()),
    }
    // Not the safe-looking `AsyncFd::with_interest`: tokio 1.54 deprecates it as unsound
    // (no I/O safety, tokio-rs/tokio#8587; `-D warnings` rejects it) and it is this same
    // call inside. The contract is ours to keep either way.
    // SAFETY: `Socket` owns its descriptor (an `OwnedFd` inside), so `as_raw_fd` always
    // returns the same open descriptor; nothing here closes or replaces it while the
    // `AsyncFd` holds the socket (on every path it is either dropped whole or given back by
    // `into_inner`, which deregisters it first).
    let fd = unsafe { AsyncFd::register_with_interest(socket, Interest::WRITABLE) }
        .map_err(io::Error::from)?;
    // `poll_write_ready` keeps its waker in tokio's registration; the `writable()` future
    // would add a 160-byte waiter node to every dial task's state (issue 7 counts the
    // memory of each connection waiting on a slow peer).
    let writable = std::future::poll_fn(|cx| fd.poll_write_ready(cx));
    let writable = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, writable)
            .await
            .map_err(|_elapsed| DialError::TIMEOUT)?,
        None => writable.await,
    };
    drop(writable?);
    let socket = fd.into_inner();
    match socket.take_error()? {
        None => Ok(socket.into()),
        Some(err) if reset_after_handshake(&err) => Ok(socket.into()),
        Some(err) => Err(err.into()),
    }
}

/// True for the `ECONNRESET` that the confirming `connect(2)` (or `SO_ERROR`) reports when
/// the peer accepted and reset the connection before we asked: the handshake completed,
/// so the connect succeeded and the peer then closed it (issue 12). The kernel tells the
/// two apart: an RST answering our SYN (state `SYN_SENT`) sets `ECONNREFUSED`, and only an
/// RST on a connection past the SYN-ACK sets `ECONNRESET` (`tcp_reset` in
/// net/ipv4/tcp_input.c). Such a socket is held like any other; it is in `TCP_CLOSE`,
/// which polls as `EPOLLHUP`, so the peer-close watch counts it in `closed_by_peer`.
fn reset_after_handshake(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ECONNRESET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_errno_values() {
        let table = [
            (libc::ECONNREFUSED, ErrorKind::Refused),
            (libc::ETIMEDOUT, ErrorKind::Timeout),
            (libc::EAGAIN, ErrorKind::WouldBlock),
            (libc::EADDRNOTAVAIL, ErrorKind::AddrNotAvailable),
            (libc::EMFILE, ErrorKind::TooManyFiles),
            (libc::ENFILE, ErrorKind::TooManyFiles),
            (libc::ECONNRESET, ErrorKind::Reset),
            (libc::EHOSTUNREACH, ErrorKind::Unreachable),
            (libc::EACCES, ErrorKind::PermissionDenied),
            (libc::ENOENT, ErrorKind::Other),
            (libc::EPROTOTYPE, ErrorKind::Other),
        ];
        for (errno, kind) in table {
            let err = DialError::classify(&io::Error::from_raw_os_error(errno));
            assert_eq!(
                err,
                DialError {
                    kind,
                    errno: Some(errno)
                }
            );
        }
        assert_eq!(DialError::classify(&io::Error::other("x")).errno, None);
    }

    #[test]
    fn errnos_are_named_as_errno_h_spells_them() {
        assert_eq!(errno_name(Some(libc::EPROTOTYPE)), "EPROTOTYPE");
        assert_eq!(errno_name(Some(libc::ENOENT)), "ENOENT");
        assert_eq!(errno_name(Some(100_000)), "errno 100000");
        assert_eq!(errno_name(None), "none");
    }

    #[tokio::test]
    async fn connects_to_a_local_listener_and_is_refused_by_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let dialer = Dialer::new(&Endpoint::Inet(addr), Duration::from_secs(5), false).unwrap();
        assert!(dialer.dial(None).await.is_ok());
        drop(listener);
        assert_eq!(
            dialer.dial(None).await.unwrap_err().kind,
            ErrorKind::Refused
        );
    }

    #[tokio::test]
    async fn a_timeout_past_what_instant_holds_means_no_deadline() {
        // Instant::now() + Duration::MAX overflows; that used to panic the dial task.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let dialer = Dialer::new(&Endpoint::Inet(addr), Duration::MAX, false).unwrap();
        assert!(dialer.dial(None).await.is_ok());
        drop(listener);
        assert_eq!(
            dialer.dial(None).await.unwrap_err().kind,
            ErrorKind::Refused
        );
    }

    #[tokio::test]
    async fn a_connect_in_progress_without_a_deadline_keeps_waiting() {
        // Backlog 0 holds one connection; Linux drops the next SYN, so that connect stays
        // in progress (EINPROGRESS) and reaches wait_connected.
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let dialer = Dialer::new(&Endpoint::Inet(addr), Duration::MAX, false).unwrap();
        let _first = dialer.dial(None).await.unwrap();
        let pending = tokio::time::timeout(Duration::from_millis(100), dialer.dial(None)).await;
        assert!(
            pending.is_err(),
            "neither connected nor timed out: {pending:?}"
        );
    }

    #[tokio::test]
    async fn backlog_pause_without_a_deadline_sleeps_and_doubles() {
        let mut pause = Duration::from_millis(1);
        backlog_pause(None, &mut pause).await.unwrap();
        assert_eq!(pause, Duration::from_millis(2));
        let past = Some(Instant::now());
        assert_eq!(
            backlog_pause(past, &mut pause).await,
            Err(DialError::TIMEOUT)
        );
    }

    #[tokio::test]
    async fn full_unix_backlog_is_would_block_or_timeout() {
        use std::os::unix::net::UnixListener;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        socket.bind(&SockAddr::unix(&path).unwrap()).unwrap();
        socket.listen(0).unwrap();
        let _listener = UnixListener::from(OwnedFd::from(socket));
        let target = Endpoint::Unix(path);
        let fail_fast = Dialer::new(&target, Duration::from_secs(5), false).unwrap();
        let wait = Dialer::new(&target, Duration::from_millis(50), true).unwrap();
        let mut held = Vec::new();
        // With backlog 0 the queue takes one connection (the kernel checks `len > backlog`).
        let kind = loop {
            match fail_fast.dial(None).await {
                Ok(fd) => held.push(fd),
                Err(err) => break err.kind,
            }
            assert!(held.len() < 10, "the backlog never filled");
        };
        assert_eq!(kind, ErrorKind::WouldBlock);
        assert_eq!(wait.dial(None).await.unwrap_err().kind, ErrorKind::Timeout);
    }
}
