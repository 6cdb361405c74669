//! Where the event lines go: a bounded in-memory queue in front of stdout, written without
//! ever blocking the event loop (issue 12: a stalled reader used to block the parent in a
//! pipe `write()`, so SIGTERM, SIGINT and `--duration` went unheard and exited children
//! stayed zombies).
//!
//! - A pipe, FIFO, terminal or other character device is reopened through
//!   `/proc/self/fd/1` with `O_NONBLOCK`: a new open file description of our own, so the
//!   flag does not leak to whoever shares our stdout (the shell's terminal, a `tee`). A
//!   socket cannot be reopened so: it gets `O_NONBLOCK` on the shared description. A
//!   regular file never blocks and is written as it is.
//! - Whatever the sink does not take at once (`EAGAIN`) waits in the queue; the loop
//!   registers the sink for `EPOLLOUT` ([`Output::pollable`]) and flushes when it is
//!   writable. Lines that would take the queue past [`QUEUE_LIMIT`] are dropped whole and
//!   counted ([`Output::dropped_lines`]); the summary and a stderr line report them.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::stat::{SFlag, fstat};

/// Most bytes held for a reader that is behind: room for a storm's worth of lines (a
/// per-event connection makes four JSON lines of 45-140 bytes (wakeup, fork, accept, exit),
/// so 19000 make under 8 MB), small enough to bound the parent's memory.
pub const QUEUE_LIMIT: usize = 16 * 1024 * 1024;

/// How long the end of a run waits for a stalled stdout to take the rest (the summary).
pub const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// The sink and its queue.
pub struct Output {
    sink: Sink,
    queue: Vec<u8>,
    dropped_lines: u64,
}

/// Where the bytes go.
enum Sink {
    /// Our non-blocking stdout, written to and polled for `EPOLLOUT` (one descriptor: the
    /// open-file limit counts them).
    Pollable(File),
    /// A writer that does not block: a regular file, or a test's buffer.
    Writer(Box<dyn Write>),
}

impl Output {
    /// Stdout, made non-blocking as the module docs describe.
    pub fn stdout() -> io::Result<Self> {
        let stdout = io::stdout();
        let kind = SFlag::from_bits_truncate(fstat(stdout.as_fd())?.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFREG || kind == SFlag::S_IFBLK {
            return Ok(Self::writer(Box::new(stdout)));
        }
        let file = match File::options()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/proc/self/fd/1")
        {
            Ok(file) => file,
            // A socket (ENXIO), or a pipe whose reader is gone: share fd 1's description.
            Err(_) => {
                let file = File::from(stdout.as_fd().try_clone_to_owned()?);
                let flags = OFlag::from_bits_retain(fcntl(&file, FcntlArg::F_GETFL)?);
                fcntl(&file, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
                file
            }
        };
        Ok(Self {
            sink: Sink::Pollable(file),
            queue: Vec::new(),
            dropped_lines: 0,
        })
    }

    /// Any writer (tests, a file): a `WouldBlock` from it is handled as from stdout.
    pub fn writer(sink: Box<dyn Write>) -> Self {
        Self {
            sink: Sink::Writer(sink),
            queue: Vec::new(),
            dropped_lines: 0,
        }
    }

    /// Queues one whole line (with its newline), or drops it if the queue is full.
    pub fn line(&mut self, line: &[u8]) {
        if self.queue.len() + line.len() > QUEUE_LIMIT {
            self.dropped_lines += 1;
        } else {
            self.queue.extend_from_slice(line);
        }
    }

    /// Lines dropped so far because the reader was too far behind.
    pub fn dropped_lines(&self) -> u64 {
        self.dropped_lines
    }

    /// True while bytes wait for the sink.
    pub fn pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The descriptor to watch for `EPOLLOUT` while [`Output::pending`].
    pub fn pollable(&self) -> Option<BorrowedFd<'_>> {
        match &self.sink {
            Sink::Pollable(file) => Some(file.as_fd()),
            Sink::Writer(_) => None,
        }
    }

    /// Writes what the sink takes without blocking. Errors other than `WouldBlock` (a
    /// closed pipe, a full disk) are returned.
    pub fn flush(&mut self) -> io::Result<()> {
        let mut written = 0;
        let result = loop {
            let sink: &mut dyn Write = match &mut self.sink {
                Sink::Pollable(file) => file,
                Sink::Writer(writer) => writer,
            };
            if written == self.queue.len() {
                break sink.flush();
            }
            let wrote = sink.write(&self.queue[written..]);
            match wrote {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.queue.drain(..written);
        result
    }

    /// At the end: flushes, waiting for the sink at most `within`. Returns the bytes left
    /// unwritten (0 when everything went out).
    pub fn finish(&mut self, within: Duration) -> io::Result<usize> {
        let deadline = Instant::now() + within;
        self.flush()?;
        while self.pending() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(fd) = self.pollable() else { break };
            if left.is_zero() {
                break;
            }
            let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
            // EINTR or a timeout: the loop checks the deadline again.
            let _ = poll(&mut fds, crate::poller::to_epoll_timeout(Some(left)));
            self.flush()?;
        }
        Ok(self.queue.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes `room` bytes, then says `WouldBlock`.
    struct Stalled {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_sink_keeps_the_rest_queued_and_drops_whole_lines_past_the_limit() {
        let mut out = Output::writer(Box::new(Stalled {
            room: 3,
            got: Vec::new(),
        }));
        out.line(b"abcdef\n");
        out.flush().unwrap();
        assert!(out.pending());
        let big = vec![b'x'; QUEUE_LIMIT];
        out.line(&big);
        assert_eq!(out.dropped_lines(), 1);
        assert_eq!(out.finish(Duration::ZERO).unwrap(), 4);
    }
}
