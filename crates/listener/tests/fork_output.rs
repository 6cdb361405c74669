//! `epoll-listen-fork` with a stdout nobody reads: the pipe is shrunk to one page and left
//! full, and the tool must still stop on SIGTERM or `--duration`, reap every child, and
//! say on stderr what it could not write (issue 12). Every wait is bounded.

mod util;

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdout, Command, Stdio};

use listenlab_common::testing::wait_bounded;
use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use util::{WAIT, eventually, gone};

const BIN: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");
const COMM: &str = "epoll-listen-fo";

/// The pids whose parent is `parent` right now (from /proc).
fn children_of(parent: u32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the ")" that ends the command name: state, ppid, ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
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
    fcntl(stdout.as_fd(), FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
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
    let (mut child, _unread) = start_unread(p, extra);
    // Far more than the pipe holds: ~4 lines of ~120 bytes per connection.
    drop(util::unix_burst(&path, 300));
    let kids = children_of(child.id());
    if let Some(signal) = stop {
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
    assert!(
        stderr.contains("stdout was not read fast enough") && stderr.contains("dropped"),
        "{stderr}"
    );
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
