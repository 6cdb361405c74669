//! A scenario the probe cannot observe in time (issue 12, item 3): its row carries the
//! timeout, every other row is still observed and printed, and the verdicts say which.
//!
//! The timeout is provoked for real: the test stops (SIGSTOP) waiters the probe has just
//! forked, so they can never be confirmed asleep, which is what a machine too busy to
//! schedule them looks like to the probe.

mod probe_util;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use probe_util::{
    RUN_WITHIN, children_of, parse, poll_until, remaining, spawn_with_progress, state_and_parent,
    wait_output,
};

/// Waiters per scenario: the probe forks this many before it waits for them, so a moment
/// with fewer children means it is still forking and cannot have confirmed them asleep.
const K: usize = 64;

fn signal(pid: i32, signal: Signal) {
    kill(Pid::from_raw(pid), signal).unwrap();
}

fn stopped(pid: i32) -> bool {
    matches!(state_and_parent(pid), Some(('T' | 't', _)) | None)
}

/// Stops some waiters of a scenario while the probe is still forking them; returns them.
fn stop_waiters_mid_fork(probe: i32) -> Vec<i32> {
    let deadline = std::time::Instant::now() + RUN_WITHIN;
    while std::time::Instant::now() < deadline {
        assert!(poll_until(RUN_WITHIN, || !children_of(probe).is_empty()));
        // Freeze the probe so that it cannot move on while we look at its children.
        signal(probe, Signal::SIGSTOP);
        assert!(poll_until(RUN_WITHIN, || stopped(probe)), "the probe stops");
        let kids = children_of(probe);
        if !kids.is_empty() && kids.len() < K {
            for &kid in &kids {
                signal(kid, Signal::SIGSTOP);
            }
            assert!(poll_until(RUN_WITHIN, || kids.iter().all(|&k| stopped(k))));
            signal(probe, Signal::SIGCONT);
            return kids;
        }
        signal(probe, Signal::SIGCONT);
    }
    panic!("never caught the probe forking waiters");
}

#[test]
fn issue_12_a_scenario_that_times_out_is_a_row_error_and_the_rest_is_printed() {
    let (child, lines) = spawn_with_progress(&[
        "--only",
        "waiters",
        "--family",
        "inet",
        "--waiters",
        "64",
        "--progress",
        "--format",
        "json",
    ]);
    let probe = child.id() as i32;
    loop {
        let line = lines.recv_timeout(RUN_WITHIN).expect("a progress line");
        if line.contains("waiters: inet own_epoll level") {
            break;
        }
    }
    let frozen = stop_waiters_mid_fork(probe);
    let out = wait_output(child);
    let stderr = remaining(&lines);
    assert_eq!(out.status.code(), Some(0), "{stderr:?}");
    let r = parse(&out.stdout);
    assert_eq!(r.waiters.len(), 4 + 2 + 2 + 1 + 1, "every row is printed");
    let lost: Vec<_> = r.waiters.iter().filter(|w| !w.observed).collect();
    assert_eq!(lost.len(), 1, "{:?}", r.waiters);
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
    assert!(stderr.iter().any(|l| l.contains(&note)), "{stderr:?}");
    assert!(
        frozen.iter().all(|&k| state_and_parent(k).is_none()),
        "the stopped waiters were killed and reaped"
    );
}
