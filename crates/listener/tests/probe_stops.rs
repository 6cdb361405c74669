//! How `epoll-socket-test` ends when it is stopped from outside: killed outright, no
//! process it forked survives it or keeps its listener open; on SIGHUP it cleans up as on
//! SIGTERM (issue 12, item 2).

mod probe_util;

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;
use probe_util::{
    RUN_WITHIN, alive, children_of, poll_until, probe, processes_mentioning, remaining,
    spawn_lines, spawn_with_progress, wait_output,
};

/// How long forked processes may take to go after the probe: the kernel sends the
/// parent-death signal as the probe exits, so this is only a generous bound for a busy
/// machine. Before the fix waiters lived on for 10 s.
const GONE_WITHIN: Duration = Duration::from_secs(5);

/// Waits for the progress line that starts the several-waiters part, then (bounded) for
/// the probe to have forked children; returns them.
fn forked_waiters(pid: i32, lines: &std::sync::mpsc::Receiver<String>) -> Vec<i32> {
    loop {
        let line = lines
            .recv_timeout(RUN_WITHIN)
            .expect("a progress line before the waiters");
        if line.contains("waiters: unix own_epoll level") {
            break;
        }
    }
    let mut children = Vec::new();
    assert!(
        poll_until(RUN_WITHIN, || {
            children = children_of(pid);
            !children.is_empty()
        }),
        "the probe forks waiters"
    );
    children
}

/// Stops the probe (SIGSTOP) and waits until it is stopped, then returns its children:
/// every process it forked and has not reaped, as a stopped probe forks nothing more (a
/// fork under way completes before the stop). The wait needs no bound of its own:
/// SIGSTOP can be neither caught nor blocked, so the probe stops or has exited.
fn stopped_with_children(pid: i32) -> Vec<i32> {
    let probe = Pid::from_raw(pid);
    kill(probe, Signal::SIGSTOP).unwrap();
    // WNOWAIT: the probe stays waitable, for `Child::wait` after the kill.
    let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
    let status = waitid(Id::Pid(probe), flags).unwrap();
    assert_eq!(status, WaitStatus::Stopped(probe, Signal::SIGSTOP));
    children_of(pid)
}

#[test]
fn issue_12_kill_9_among_waiters_leaves_no_child_and_frees_the_listener() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill9-marker.sock");
    let marker = path.to_str().unwrap().to_owned();
    let (mut child, lines) = spawn_with_progress(&[
        "--only",
        "waiters",
        "--waiters",
        "16",
        "--unix",
        &marker,
        "--progress",
        "--format",
        "json",
    ]);
    let pid = child.id() as i32;
    forked_waiters(pid, &lines);
    // All its children, not those of a look taken while it forked: a waiter forked after
    // such a look was only found by its command line, which a killed process loses as it
    // frees its memory, before it closes its files. The look then missed a dying waiter
    // that still held the listener, and the connect below was accepted.
    let children = stopped_with_children(pid);
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let gone = poll_until(GONE_WITHIN, || {
        children.iter().all(|&c| !alive(c)) && processes_mentioning(&marker).is_empty()
    });
    let left: Vec<i32> = children.iter().copied().filter(|&c| alive(c)).collect();
    assert!(
        gone,
        "children of the killed probe still alive after {GONE_WITHIN:?}: {left:?}, and by \
         command line: {:?}",
        processes_mentioning(&marker)
    );
    // Nobody holds the listener: the socket file is stale (nothing can remove it after
    // SIGKILL), so a connect is refused instead of being queued; or the probe was killed
    // between two scenarios, with no socket file at all.
    let err = std::os::unix::net::UnixStream::connect(&path).expect_err("nobody listens");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
        ),
        "{err}"
    );
}

#[test]
fn issue_12_sighup_among_waiters_removes_the_temp_dir_reaps_and_exits_129() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = probe();
    cmd.env("TMPDIR", tmp.path()).args([
        "--only",
        "waiters",
        "--family",
        "unix",
        "--waiters",
        "16",
        "--progress",
        "--format",
        "json",
    ]);
    let (child, lines) = spawn_lines(cmd);
    let pid = child.id() as i32;
    let children = forked_waiters(pid, &lines);
    let made: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert_eq!(made.len(), 1, "the probe made its temp dir in TMPDIR");
    kill(Pid::from_raw(pid), Signal::SIGHUP).unwrap();
    let out = wait_output(child);
    assert_eq!(out.status.code(), Some(129), "{:?}", remaining(&lines));
    assert!(out.stdout.is_empty());
    let rest = remaining(&lines);
    assert!(
        rest.iter().any(|l| l.contains("interrupted by SIGHUP")),
        "{rest:?}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "temp dir left behind: {left:?}");
    assert!(children.iter().all(|&c| !alive(c)), "children reaped");
}
