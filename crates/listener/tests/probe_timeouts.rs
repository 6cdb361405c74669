//! A scenario the probe cannot observe in time (issue 12, item 3): its row carries the
//! timeout, every other row is still observed and printed, and the verdicts say which.
//!
//! The timeout is provoked for real: the test stops (SIGSTOP) waiters the probe has just
//! forked, so they can never be confirmed asleep, which is what a machine too busy to
//! schedule them looks like to the probe.

mod probe_util;

use std::io::Read;
use std::os::fd::AsFd;
use std::process::{ChildStderr, Stdio};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use probe_util::{RUN_WITHIN, children_of, parse, poll_until, probe, state_and_parent};

/// Waiters per scenario: the probe forks this many before it waits for them, so a moment
/// with fewer children (zombies counted) means it is still forking and cannot have
/// confirmed them asleep.
const K: usize = 64;

fn signal(pid: i32, signal: Signal) {
    kill(Pid::from_raw(pid), signal).unwrap();
}

/// The scheduler state of `pid`; `None` once it is gone or a zombie.
fn state(pid: i32) -> Option<char> {
    state_and_parent(pid)
        .map(|(s, _)| s)
        .filter(|s| *s != 'Z' && *s != 'X')
}

/// The probe's stderr, read without blocking, so that while the probe is stopped the test
/// knows every progress line it has written: which scenario it is in.
struct Tap {
    pipe: ChildStderr,
    text: String,
}

impl Tap {
    fn new(pipe: ChildStderr) -> Self {
        fcntl(&pipe, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        Self {
            pipe,
            text: String::new(),
        }
    }

    /// Reads what is in the pipe now; false at end of file.
    fn drain(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match self.pipe.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => self.text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("reading the probe's stderr: {e}"),
            }
        }
    }

    /// Waits (bounded) until the text contains `needle`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = std::time::Instant::now() + RUN_WITHIN;
        while !self.text.contains(needle) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "no '{needle}' in: {}", self.text);
            let ms = PollTimeout::from(left.as_millis().min(1000) as u16);
            let _ = poll(&mut [PollFd::new(self.pipe.as_fd(), PollFlags::POLLIN)], ms);
            assert!(self.drain(), "the probe ended early: {}", self.text);
        }
    }

    /// The last progress line so far.
    fn last_line(&self) -> &str {
        self.text.lines().last().unwrap_or("")
    }

    /// Everything up to end of file (bounded by the probe's own exit).
    fn rest(mut self) -> String {
        fcntl(&self.pipe, FcntlArg::F_SETFL(OFlag::empty())).unwrap();
        let _ = self.pipe.read_to_string(&mut self.text);
        self.text
    }
}

/// Stops some waiters of a scenario while the probe is still forking them; returns them.
/// Only scenarios that fork every waiter before waiting for any are caught (blocking_accept
/// confirms each asleep before forking the next, and a stopped one just leaves the accept
/// queue).
fn stop_waiters_mid_fork(probe: i32, tap: &mut Tap) -> Vec<i32> {
    let deadline = std::time::Instant::now() + RUN_WITHIN;
    while std::time::Instant::now() < deadline {
        assert!(poll_until(RUN_WITHIN, || !children_of(probe).is_empty()));
        // Freeze the probe so that it cannot move on while we look at its children.
        signal(probe, Signal::SIGSTOP);
        assert!(
            poll_until(RUN_WITHIN, || state(probe) == Some('T')),
            "the probe stops"
        );
        tap.drain();
        let kids = children_of(probe);
        let forking = ["own_epoll", "shared_epoll", "accept_loop"]
            .iter()
            .any(|s| tap.last_line().contains(s));
        if forking && !kids.is_empty() && kids.len() < K {
            for &kid in &kids {
                signal(kid, Signal::SIGSTOP);
            }
            // Children of the previous scenario, being killed and reaped, never stop, and
            // waiters that have exited (zombies) show the probe past its forking: then try
            // again.
            poll_until(RUN_WITHIN, || {
                kids.iter().all(|&k| matches!(state(k), Some('T') | None))
            });
            if kids.iter().all(|&k| state(k) == Some('T')) {
                signal(probe, Signal::SIGCONT);
                return kids;
            }
        }
        signal(probe, Signal::SIGCONT);
    }
    panic!("never caught the probe forking waiters");
}

#[test]
fn issue_12_a_scenario_that_times_out_is_a_row_error_and_the_rest_is_printed() {
    let mut child = probe()
        .args([
            "--only",
            "waiters",
            "--family",
            "inet",
            "--waiters",
            "64",
            "--progress",
            "--format",
            "json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut tap = Tap::new(child.stderr.take().unwrap());
    tap.wait_for("waiters: inet own_epoll level");
    let frozen = stop_waiters_mid_fork(pid, &mut tap);
    // stdout is read while the probe runs (output_within); stderr afterwards: it is small.
    let out = probe_util::wait_output(child);
    let stderr = tap.rest();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r = parse(&out.stdout);
    assert_eq!(r.waiters.len(), 4 + 2 + 2 + 1 + 1, "every row is printed");
    let lost: Vec<_> = r.waiters.iter().filter(|w| !w.observed).collect();
    assert_eq!(lost.len(), 1, "{stderr}\n{:?}", r.waiters);
    let error = lost[0].error.as_deref().unwrap_or("");
    assert!(
        error.contains("within"),
        "the row says what timed out: {error}"
    );
    assert!(lost[0].per_waiter.is_empty(), "no counts for it");
    for w in r.waiters.iter().filter(|w| w.observed) {
        assert_eq!(w.error, None, "{w:?}");
        assert!(w.woken > 0, "{w:?}");
    }
    let note = format!(
        "{} {} {} not observed",
        lost[0].family, lost[0].scenario, lost[0].mode
    );
    assert!(stderr.contains(&note), "{stderr}");
    assert!(
        frozen.iter().all(|&k| state_and_parent(k).is_none()),
        "the stopped waiters were killed and reaped"
    );
}
