//! The exchange on a connection once its connect completed (issue 7): the policy
//! ([`Exchange`]: what to send, how much of the answer to read, how long it may take) and
//! the sending, which the dial task does right after the connect. The reading is the
//! collector's (`responses.rs`): a connection waiting for its answer has no task, no
//! tokio registration and no buffer of its own.
//!
//! A request almost always fits the fresh socket's send buffer, so it is written at
//! once; only when the kernel pushes back (`EAGAIN`) is the socket registered with tokio
//! to wait for room, bounded by the exchange timeout.

use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use listenlab_common::duration::MAX_DURATION;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

use crate::report::ExchangeFailure;

/// How much of the answer to read (`--read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadMode {
    /// Wait for the first byte, then hold the connection as without `--read`.
    FirstByte,
    /// Read until the peer closes (the answer is complete); the connection is not held.
    Close,
}

/// What to do on each connection after its connect: the policy, shared by every task.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// Sent once right after the connect, if anything.
    pub request: Option<Arc<[u8]>>,
    /// How much of the answer to read, if anything.
    pub read: Option<ReadMode>,
    /// How long the exchange (sending, then reading) may take, from the end of the
    /// connect.
    pub timeout: Duration,
}

/// A connection's connect, as its exchange carries it along: the phases count from
/// `started`, the raw ones from `started + lag`, and the connections log shows all three.
#[derive(Debug, Clone, Copy)]
pub struct Dialed {
    /// The connect's start (its scheduled start, with `--rate`).
    pub started: Instant,
    /// From `started` to the end of the connect.
    pub connect: Duration,
    /// How late the connect started after `started` (zero without `--rate`).
    pub lag: Duration,
}

impl Dialed {
    /// A connect that started at `started` and took no time, for unit tests.
    #[cfg(test)]
    pub fn at(started: Instant) -> Self {
        Self {
            started,
            connect: Duration::ZERO,
            lag: Duration::ZERO,
        }
    }
}

/// What the exchange on one connection came to.
#[derive(Debug)]
pub struct Exchanged {
    /// The connection to hold (`None` once closed: read to the end, or failed).
    pub keep: Option<OwnedFd>,
    /// Why the exchange failed, if it did.
    pub failure: Option<ExchangeFailure>,
    /// From the connect's start to the first byte read.
    pub first_byte: Option<Duration>,
    /// From the connect's start to the peer's close, with `--read close`.
    pub complete: Option<Duration>,
    /// Bytes read.
    pub bytes: u64,
    /// The connect before it; its `lag` taken from the phases gives their raw times.
    pub dialed: Dialed,
}

impl Exchanged {
    /// A connection held as it is, nothing read.
    pub fn held(fd: OwnedFd, dialed: Dialed) -> Self {
        Self {
            keep: Some(fd),
            failure: None,
            first_byte: None,
            complete: None,
            bytes: 0,
            dialed,
        }
    }

    /// An exchange that failed before any byte was read; the connection is closed.
    pub fn failed(failure: ExchangeFailure, dialed: Dialed) -> Self {
        Self {
            keep: None,
            failure: Some(failure),
            first_byte: None,
            complete: None,
            bytes: 0,
            dialed,
        }
    }
}

impl Exchange {
    /// The deadline of an exchange starting now: `timeout` from now (`cli` bounds it to a
    /// year; the fallback only avoids a panic).
    pub fn deadline(&self) -> Instant {
        let now = Instant::now();
        now.checked_add(self.timeout)
            .unwrap_or_else(|| now + MAX_DURATION)
    }

    /// Sends the request, if any, on a connection that just connected.
    pub async fn send(&self, fd: OwnedFd) -> Result<OwnedFd, ExchangeFailure> {
        let Some(request) = &self.request else {
            return Ok(fd);
        };
        let deadline = self.deadline();
        let mut sent = 0;
        while sent < request.len() {
            match nix::unistd::write(&fd, &request[sent..]) {
                Ok(n) => sent += n,
                Err(nix::errno::Errno::EAGAIN) => {
                    return send_when_writable(fd, &request[sent..], deadline).await;
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(classify(&e.into())),
            }
        }
        Ok(fd)
    }
}

/// Sends the rest of a request that met a full send buffer, waiting for room until
/// `deadline` (then `ReadTimeout`).
async fn send_when_writable(
    fd: OwnedFd,
    rest: &[u8],
    deadline: Instant,
) -> Result<OwnedFd, ExchangeFailure> {
    // SAFETY: `OwnedFd` owns its descriptor, so `as_raw_fd` returns the same open
    // descriptor for as long as the `AsyncFd` holds it; it is closed only when the
    // `AsyncFd` is dropped (which deregisters it first) or handed back by `into_inner`.
    // (The safe `AsyncFd::with_interest` is deprecated as unsound, tokio-rs/tokio#8587;
    // see dial.rs.)
    let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::WRITABLE) }
        .map_err(|_| ExchangeFailure::Other)?;
    tokio::time::timeout_at(deadline, send_all(&fd, rest))
        .await
        .map_err(|_elapsed| ExchangeFailure::ReadTimeout)??;
    Ok(fd.into_inner())
}

/// Writes all of `request`, waiting for room when the socket buffer is full.
async fn send_all(fd: &AsyncFd<OwnedFd>, request: &[u8]) -> Result<(), ExchangeFailure> {
    let mut sent = 0;
    while sent < request.len() {
        let mut guard = poll_fn(|cx| fd.poll_write_ready(cx))
            .await
            .map_err(|e| classify(&e))?;
        match guard.try_io(|inner| {
            nix::unistd::write(inner.get_ref(), &request[sent..]).map_err(io::Error::from)
        }) {
            Err(_would_block) => continue,
            Ok(written) => sent += written.map_err(|e| classify(&e))?,
        }
    }
    Ok(())
}

/// An error while sending or reading: a reset (`ECONNRESET`, or `EPIPE` writing to a
/// connection the peer already closed), or anything else.
pub fn classify(err: &io::Error) -> ExchangeFailure {
    match err.raw_os_error() {
        Some(libc::ECONNRESET | libc::EPIPE) => ExchangeFailure::Reset,
        _ => ExchangeFailure::Other,
    }
}

/// A connected loopback pair for the unit tests here and in `responses.rs`: our
/// nonblocking end as a descriptor, and the peer's end.
#[cfg(test)]
pub fn test_pair() -> (OwnedFd, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_nonblocking(true).unwrap();
    (OwnedFd::from(client), listener.accept().unwrap().0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    use test_pair as pair;

    #[tokio::test]
    async fn a_request_larger_than_the_send_buffer_waits_for_room() {
        let (fd, mut server) = pair();
        let big = vec![7u8; 8 << 20];
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            server.read_to_end(&mut got).unwrap();
            got.len()
        });
        let ex = Exchange {
            request: Some(Arc::from(big)),
            read: None,
            timeout: Duration::from_secs(20),
        };
        let fd = ex.send(fd).await.unwrap();
        drop(fd);
        assert_eq!(reader.join().unwrap(), 8 << 20);
    }

    #[tokio::test]
    async fn sending_to_a_reset_connection_is_reset() {
        let (fd, server) = pair();
        socket2::SockRef::from(&server)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(server);
        let ex = Exchange {
            request: Some(Arc::from(&b"x"[..])),
            read: None,
            timeout: Duration::from_secs(5),
        };
        // The first write may still succeed (the RST may not have been processed); the
        // reset then shows on a later one.
        let mut result = Ok(fd);
        for _ in 0..100 {
            match result {
                Ok(fd) => result = ex.send(fd).await,
                Err(_) => break,
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(result.unwrap_err(), ExchangeFailure::Reset);
    }
}
