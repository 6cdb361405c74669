//! `epoll-listen-fork` with a stdout nobody reads: the pipe is shrunk to one page and left
//! full, and the tool must still stop on SIGTERM or `--duration`, reap every child, and
//! say on stderr what it could not write (issue 12). Every wait is bounded.

mod util;

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, AsRawFd};
use std::process::{Child, ChildStdout, Command, Stdio};

use listenlab_common::testing::{children_of, wait_bounded};
use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use util::{WAIT, eventually, gone};

const BIN: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");
const COMM: &str = "epoll-listen-fo";

/// The pipe size `start_unread` sets.
const PIPE_SIZE: usize = 4096;

/// Bytes written into the pipe and not read yet (`FIONREAD`, see `pipe(7)`).
fn queued(reader: &ChildStdout) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: the fd is the open read end of the pipe for the duration of the borrow, and
    // FIONREAD writes one int to the pointer given (nix has no wrapper for it).
    let rc = unsafe { libc::ioctl(reader.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    usize::try_from(n).unwrap_or(0)
}

/// Starts the tool on a unix socket with a one-page stdout pipe; reads the readiness line
/// only, then never again (the returned reader is kept open, unread).
fn start_unread(path: &str, extra: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(BIN)
        .args(["--format", "json", "--unix", path, "--sleep", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The smallest pipe the kernel allows (one page), so a few connections fill it.
    fcntl(stdout.as_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32)).unwrap();
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.contains(r#""event":"listening""#), "{first}");
    (child, reader)
}

fn check_stops(extra: &[&str], stop: Option<Signal>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.sock");
    let p = path.to_str().unwrap();
    let (mut child, unread) = start_unread(p, extra);
    // Far more than the pipe holds: ~4 lines of ~120 bytes per connection.
    drop(util::unix_burst(&path, 300));
    let kids = children_of(child.id() as i32);
    // Signal only once the pipe is nearly full, so the tool is stalled on stdout when the
    // stop comes (a busy machine may deliver the signal before the first accept). Lines
    // are written whole (a non-blocking pipe write of up to PIPE_BUF bytes is all or
    // EAGAIN), so a stalled pipe can keep up to a line's worth of room.
    let stalled = eventually(|| queued(unread.get_ref()) > PIPE_SIZE - 512);
    if let Some(signal) = stop {
        assert!(
            stalled,
            "stdout never filled: {} bytes",
            queued(unread.get_ref())
        );
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    }
    // Before the fix the parent sat in write() on the full pipe: no exit.
    let status = wait_bounded(&mut child, WAIT);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{extra:?} {stop:?}: no exit within {WAIT:?} with stdout unread");
    }
    assert!(status.unwrap().success(), "{status:?}");
    for pid in kids {
        assert!(eventually(|| gone(pid, COMM)), "child {pid} left behind");
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    // Nothing is lost silently: either stderr says lines were dropped, or every line got
    // into the pipe, the summary last.
    let dropped = stderr.contains("stdout was not read fast enough") && stderr.contains("dropped");
    if !dropped {
        let mut rest = String::new();
        let mut unread = unread;
        unread.read_to_string(&mut rest).unwrap();
        let last = rest.lines().last().unwrap_or_default();
        assert!(
            last.contains(r#""event":"summary""#),
            "no drop reported, yet the summary is missing: stderr {stderr:?}, last line {last:?}"
        );
    }
    assert!(!path.exists(), "socket file left behind");
}

#[test]
fn issue_12_sigterm_stops_the_tool_while_its_stdout_is_not_read() {
    check_stops(&[], Some(Signal::SIGTERM));
}

#[test]
fn issue_12_sigint_and_duration_stop_the_tool_while_its_stdout_is_not_read() {
    check_stops(&[], Some(Signal::SIGINT));
    check_stops(&["--duration", "1s"], None);
}
