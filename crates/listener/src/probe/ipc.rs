//! Line messages over pipes between the probe and its helpers (a forked connector, forked
//! waiters, a connector thread). One `write` per line, each shorter than `PIPE_BUF`, so
//! lines from several writers never interleave (pipe(7)). Every read is bounded.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::error::ProbeError;
use super::interrupt::Interrupt;

/// Lines longer than this are cut, so that one line is always one atomic pipe write.
const MAX_LINE: usize = 512;

/// A pipe: its read end as a [`LineReader`] and its write end as a [`LineWriter`].
pub fn channel() -> Result<(LineReader, LineWriter), ProbeError> {
    let (read, write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ProbeError::io("creating a pipe", e))?;
    // Non-blocking reads: every wait for a line goes through poll with a deadline.
    fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map_err(|e| ProbeError::io("configuring a pipe", e))?;
    Ok((
        LineReader {
            fd: read,
            buf: Vec::new(),
            eof: false,
        },
        LineWriter { fd: write },
    ))
}

/// The write end of a [`channel`].
#[derive(Debug)]
pub struct LineWriter {
    fd: OwnedFd,
}

impl LineWriter {
    /// Sends one line (a newline is added) in a single write.
    pub fn send(&self, line: &str) -> io::Result<()> {
        let mut bytes = line.as_bytes()[..line.len().min(MAX_LINE)].to_vec();
        bytes.push(b'\n');
        loop {
            match nix::unistd::write(&self.fd, &bytes) {
                Ok(n) if n == bytes.len() => return Ok(()),
                Ok(_) => return Err(io::Error::other("short write on a pipe")),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Closes this process's copy of the write end, inside a forked child that inherited
    /// it, so the reader sees end-of-file once the real owner closes its copy. The child
    /// leaves with `_exit`, so the `OwnedFd` it still holds in memory is never dropped.
    pub fn close_inherited(&self) {
        let _ = nix::unistd::close(self.fd.as_raw_fd());
    }
}

/// The read end of a [`channel`], with a buffer for partial lines.
#[derive(Debug)]
pub struct LineReader {
    fd: OwnedFd,
    buf: Vec<u8>,
    eof: bool,
}

impl LineReader {
    /// The next line, waiting up to `timeout`; `None` when the time ran out or every
    /// writer has closed. SIGINT/SIGTERM/SIGHUP (through `intr`) end the wait with an error.
    pub fn recv(
        &mut self,
        timeout: Duration,
        intr: &Interrupt,
    ) -> Result<Option<String>, ProbeError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.take_line() {
                return Ok(Some(line));
            }
            if self.eof {
                return Ok(None);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !intr.wait_readable(self.fd.as_fd(), left)? {
                return Ok(None);
            }
            let mut chunk = [0u8; 4096];
            match nix::unistd::read(&self.fd, &mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(e) => return Err(ProbeError::io("reading from a pipe", e)),
            }
        }
    }

    /// A line that has already arrived, without waiting.
    pub fn try_recv(&mut self, intr: &Interrupt) -> Result<Option<String>, ProbeError> {
        self.recv(Duration::ZERO, intr)
    }

    fn take_line(&mut self) -> Option<String> {
        let end = self.buf.iter().position(|&b| b == b'\n')?;
        let line: Vec<u8> = self.buf.drain(..=end).collect();
        Some(String::from_utf8_lossy(&line[..end]).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_arrive_whole_and_in_order() {
        let (mut rx, tx) = channel().unwrap();
        let none = Interrupt::none();
        tx.send("one").unwrap();
        tx.send("two").unwrap();
        let t = Duration::from_secs(5);
        assert_eq!(rx.recv(t, &none).unwrap().as_deref(), Some("one"));
        assert_eq!(rx.recv(t, &none).unwrap().as_deref(), Some("two"));
        assert_eq!(rx.try_recv(&none).unwrap(), None);
        drop(tx);
        assert_eq!(rx.recv(t, &none).unwrap(), None, "end of file, not a wait");
    }
}
