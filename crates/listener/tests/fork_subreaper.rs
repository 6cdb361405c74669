//! `epoll-listen-fork` killed outright: its children must die with it (`PR_SET_PDEATHSIG`).
//!
//! This test makes the test process a child subreaper (`PR_SET_CHILD_SUBREAPER`), which is
//! process-wide: every orphaned grandchild of any test in the same process would be
//! re-parented to it and left a zombie. So it lives alone in its own test binary.

mod util;

use std::net::TcpStream;

use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde_json::Value;
use util::Running;

const BIN: &str = env!("CARGO_BIN_EXE_epoll-listen-fork");

fn total_accepted(v: &Value) -> u64 {
    v["total_accepted"].as_u64().unwrap_or(0)
}

#[test]
fn children_die_with_a_parent_killed_outright() {
    // Orphans are re-parented to us instead of init, so we can see how they died and reap
    // them (this binary holds no other test).
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let mut run = Running::start(
        BIN,
        &[
            "--format",
            "json",
            "--inet",
            "127.0.0.1:0",
            "--trigger",
            "edge",
            "--sleep",
            "30s",
        ],
    );
    let _clients: Vec<_> = (1..=2u64)
        .map(|n| {
            let c = TcpStream::connect(&run.addr).unwrap();
            run.wait_event("child_accepted", |v| total_accepted(v) == n);
            c
        })
        .collect();
    let pids: Vec<i32> = run
        .events("fork")
        .iter()
        .map(|f| f["pid"].as_i64().unwrap() as i32)
        .collect();
    run.signal(Signal::SIGKILL);
    run.finish();
    for pid in pids {
        let reaped = util::eventually(|| {
            matches!(
                waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)),
                Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _))
            )
        });
        assert!(reaped, "child {pid} did not die with its parent");
    }
}
