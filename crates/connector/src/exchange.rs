//! The exchange on a connection once its connect completed (issue 7): send the request
//! (`--send`, `--send-file`, `--fastcgi`) once, then with `--read first-byte` wait for the
//! first byte of the answer and hand the connection back to be held, or with `--read
//! close` read until the peer closes. The time of the first byte and of the close are
//! measured from the connect's start (its scheduled start under `--rate`).
//!
//! Nothing here keeps a buffer while it waits: the connection is registered with tokio
//! for readiness only, and each read goes into a buffer on the stack of a synchronous
//! call that returns before the next wait, so it is never part of the task's state. A
//! connection waiting for its first byte costs its descriptor, its tokio registration and
//! the dial task's future. What is read is counted, never kept.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

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
    /// How long the whole exchange (sending, then reading) may take.
    pub timeout: Duration,
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
}

impl Exchanged {
    /// A connection held as it is, nothing sent or read.
    pub fn held(fd: OwnedFd) -> Self {
        Self {
            keep: Some(fd),
            failure: None,
            first_byte: None,
            complete: None,
            bytes: 0,
        }
    }
}

/// Most bytes one read takes; only ever on the stack of [`read_some`].
const READ_CHUNK: usize = 16 * 1024;

impl Exchange {
    /// True when there is nothing to send or read: connections are held as dialed.
    pub fn is_none(&self) -> bool {
        self.request.is_none() && self.read.is_none()
    }

    /// Runs the exchange on `fd`, whose connect started at `started`.
    pub async fn run(&self, fd: OwnedFd, started: Instant) -> Exchanged {
        if self.is_none() {
            return Exchanged::held(fd);
        }
        let mut out = Exchanged::held(fd);
        let fd = out.keep.take().expect("just set");
        let deadline = Instant::now().checked_add(self.timeout);
        // SAFETY: `OwnedFd` owns its descriptor, so `as_raw_fd` returns the same open
        // descriptor for as long as the `AsyncFd` holds it; it is closed only when the
        // `AsyncFd` is dropped (which deregisters it first) or handed back by
        // `into_inner`. (The safe `AsyncFd::with_interest` is deprecated as unsound,
        // tokio-rs/tokio#8587; see dial.rs.)
        let fd = match unsafe {
            AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE)
        } {
            Ok(fd) => fd,
            Err(_) => {
                out.failure = Some(ExchangeFailure::Other);
                return out;
            }
        };
        let result = within(deadline, self.talk(&fd, started, &mut out)).await;
        match result {
            Ok(true) => out.keep = Some(fd.into_inner()),
            Ok(false) => {}
            Err(failure) => out.failure = Some(failure),
        }
        out
    }

    /// Sends, then reads as asked. `Ok(true)`: hold the connection; `Ok(false)`: it is
    /// done (the peer closed after answering).
    async fn talk(
        &self,
        fd: &AsyncFd<OwnedFd>,
        started: Instant,
        out: &mut Exchanged,
    ) -> Result<bool, ExchangeFailure> {
        if let Some(request) = &self.request {
            send_all(fd, request).await?;
        }
        let Some(mode) = self.read else {
            return Ok(true);
        };
        loop {
            let mut guard = fd.readable().await.map_err(|e| classify(&e))?;
            let n = match guard.try_io(|inner| read_some(inner.get_ref())) {
                Err(_would_block) => continue,
                Ok(read) => read.map_err(|e| classify(&e))?,
            };
            if n == 0 {
                if out.bytes == 0 {
                    return Err(ExchangeFailure::NoResponse);
                }
                out.complete = Some(started.elapsed());
                return Ok(false);
            }
            out.bytes += n as u64;
            out.first_byte.get_or_insert_with(|| started.elapsed());
            if mode == ReadMode::FirstByte {
                return Ok(true);
            }
        }
    }
}

/// Runs `work` until `deadline` (`None`: no deadline); past it, `ReadTimeout`.
async fn within<T>(
    deadline: Option<Instant>,
    work: impl Future<Output = Result<T, ExchangeFailure>>,
) -> Result<T, ExchangeFailure> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, work)
            .await
            .map_err(|_elapsed| ExchangeFailure::ReadTimeout)?,
        None => work.await,
    }
}

/// Writes all of `request`, waiting for room when the socket buffer is full.
async fn send_all(fd: &AsyncFd<OwnedFd>, request: &[u8]) -> Result<(), ExchangeFailure> {
    let mut sent = 0;
    while sent < request.len() {
        let mut guard = fd.writable().await.map_err(|e| classify(&e))?;
        match guard.try_io(|inner| {
            nix::unistd::write(inner.get_ref(), &request[sent..]).map_err(io::Error::from)
        }) {
            Err(_would_block) => continue,
            Ok(written) => sent += written.map_err(|e| classify(&e))?,
        }
    }
    Ok(())
}

/// One read into a stack buffer that lives only for this call; returns the count.
fn read_some(fd: &OwnedFd) -> io::Result<usize> {
    let mut buf = [0u8; READ_CHUNK];
    nix::unistd::read(fd, &mut buf).map_err(io::Error::from)
}

/// An error while sending or reading: a reset (`ECONNRESET`, or `EPIPE` writing to a
/// connection the peer already closed), or anything else.
fn classify(err: &io::Error) -> ExchangeFailure {
    match err.raw_os_error() {
        Some(libc::ECONNRESET | libc::EPIPE) => ExchangeFailure::Reset,
        _ => ExchangeFailure::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (OwnedFd, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nonblocking(true).unwrap();
        (OwnedFd::from(client), listener.accept().unwrap().0)
    }

    fn exchange(read: Option<ReadMode>, request: &[u8]) -> Exchange {
        Exchange {
            request: Some(Arc::from(request)),
            read,
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn read_close_counts_the_answer_and_times_it() {
        let (fd, mut server) = pair();
        let peer = std::thread::spawn(move || {
            let mut got = [0u8; 4];
            server.read_exact(&mut got).unwrap();
            server.write_all(&[7u8; 40_000]).unwrap();
            got
        });
        let started = Instant::now();
        let done = exchange(Some(ReadMode::Close), b"ping")
            .run(fd, started)
            .await;
        assert_eq!(&peer.join().unwrap(), b"ping");
        assert!(done.keep.is_none() && done.failure.is_none(), "{done:?}");
        assert_eq!(done.bytes, 40_000);
        assert!(done.first_byte.unwrap() <= done.complete.unwrap());
    }

    #[tokio::test]
    async fn first_byte_keeps_the_connection() {
        let (fd, mut server) = pair();
        server.write_all(b"!").unwrap();
        let done = exchange(Some(ReadMode::FirstByte), b"")
            .run(fd, Instant::now())
            .await;
        assert!(done.keep.is_some() && done.failure.is_none(), "{done:?}");
        assert_eq!((done.bytes, done.complete), (1, None));
        assert!(done.first_byte.is_some());
    }

    #[tokio::test]
    async fn a_close_before_any_byte_is_no_response() {
        let (fd, server) = pair();
        drop(server);
        let done = exchange(Some(ReadMode::FirstByte), b"x")
            .run(fd, Instant::now())
            .await;
        assert_eq!(done.failure, Some(ExchangeFailure::NoResponse));
        assert!(done.keep.is_none());
    }

    #[tokio::test]
    async fn silence_past_the_timeout_is_read_timeout() {
        let (fd, _server) = pair();
        let mut ex = exchange(Some(ReadMode::Close), b"x");
        ex.timeout = Duration::from_millis(50);
        let done = ex.run(fd, Instant::now()).await;
        assert_eq!(done.failure, Some(ExchangeFailure::ReadTimeout));
    }
}
