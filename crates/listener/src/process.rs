//! Forking and reaping, with the rules every fork in this crate follows:
//!
//! - fork only while the process has a single thread (see `fork(2)` and nix's `fork` docs);
//! - the child resets the signal mask the parent blocked for its signalfd, runs its body and
//!   leaves with `_exit`, so no destructor of the parent's state (socket files, temp dirs,
//!   buffered stdout) runs twice; a panic in the child exits 101;
//! - the parent reaps every child: [`ChildSet`] kills and reaps whatever is left when it
//!   drops, and every wait is bounded.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// Forks a child that runs `body` and exits with the code it returns.
pub fn fork_child(body: impl FnOnce() -> i32) -> nix::Result<Pid> {
    // SAFETY: callers fork from single-threaded processes (module rule above); the child
    // only runs `body` and then `_exit`s, never returning into the parent's code.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            let code = catch_unwind(AssertUnwindSafe(body)).unwrap_or(101);
            // SAFETY: _exit ends the process without running atexit handlers or
            // destructors, which is the point: they belong to the parent (nix has no
            // wrapper for it).
            unsafe { libc::_exit(code) }
        }
    }
}

/// Ties a forked child's life to its parent's: asks for SIGKILL when the parent dies
/// (`PR_SET_PDEATHSIG`, prctl(2)), then compares `getppid()` with `parent`, the pid the
/// parent recorded before the fork. A parent that died between the fork and the `prctl`
/// sends no signal (the child has already been reparented), so a mismatch means the parent
/// is gone and the child leaves at once with `_exit(1)`. Call it first thing in the child.
pub fn die_with_parent(parent: Pid) {
    let armed = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_ok();
    if !armed || nix::unistd::getppid() != parent {
        // SAFETY: as in `fork_child`: the child must not run the parent's destructors.
        unsafe { libc::_exit(1) }
    }
}

/// The exit code a shell would show: the status for a normal exit, 128+signo for a child
/// killed by a signal. `None` for statuses that are not terminations (stopped, continued).
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

/// Reaps any one child that has exited, without blocking. `None` when no child has
/// exited yet or there are no children at all.
pub fn try_reap_any() -> Option<(Pid, WaitStatus)> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return None,
            Ok(status) => {
                if let (Some(pid), Some(_)) = (status.pid(), exit_code(status)) {
                    return Some((pid, status));
                }
            }
            Err(Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// Waits up to `grace` for `pid` to exit, then kills it with SIGKILL and reaps it.
/// Returns its final status (`None` if it was not our child or was already reaped).
pub fn reap_within(pid: Pid, grace: Duration) -> Option<WaitStatus> {
    let deadline = Instant::now() + grace;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                // A bounded poll for exit, not a wait for readiness.
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(WaitStatus::StillAlive) => {
                let _ = kill(pid, Signal::SIGKILL);
                return loop {
                    match waitpid(pid, None) {
                        Err(Errno::EINTR) => continue,
                        Ok(status) => break Some(status),
                        Err(_) => break None,
                    }
                };
            }
            Ok(status) if exit_code(status).is_some() => return Some(status),
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

/// Children we forked and have not reaped yet, each with a label for reports. On drop,
/// every remaining child gets SIGKILL and is reaped, so no path leaves a zombie or orphan.
#[derive(Debug, Default)]
pub struct ChildSet {
    live: BTreeMap<Pid, usize>,
}

impl ChildSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forks a child running `body` and tracks it under `label` (e.g. a child number).
    pub fn spawn(&mut self, label: usize, body: impl FnOnce() -> i32) -> nix::Result<Pid> {
        let pid = fork_child(body)?;
        self.live.insert(pid, label);
        Ok(pid)
    }

    /// True when every child has been reaped (the tests' view).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Forgets a child the caller reaped itself (e.g. via [`try_reap_any`]); returns its label.
    pub fn forget(&mut self, pid: Pid) -> Option<usize> {
        self.live.remove(&pid)
    }

    /// Sends `signal` to every live child.
    pub fn signal_all(&self, signal: Signal) {
        for pid in self.live.keys() {
            let _ = kill(*pid, signal);
        }
    }

    /// Waits up to `grace` for each child in turn (SIGKILL after that) and reaps it.
    /// Returns `(label, status)` for every child, in pid order.
    pub fn reap_all(&mut self, grace: Duration) -> Vec<(usize, Option<WaitStatus>)> {
        let deadline = Instant::now() + grace;
        std::mem::take(&mut self.live)
            .into_iter()
            .map(|(pid, label)| {
                let left = deadline.saturating_duration_since(Instant::now());
                (label, reap_within(pid, left))
            })
            .collect()
    }
}

impl Drop for ChildSet {
    fn drop(&mut self) {
        self.signal_all(Signal::SIGKILL);
        self.reap_all(Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    use listenlab_common::testing::output_within;

    /// Set in the run of this test binary that [`ran_alone`] starts.
    const ALONE: &str = "LISTENLAB_PROCESS_TEST_ALONE";

    /// Runs the test `name` of this module again, in a run of this test binary of its own
    /// that runs only that test, and checks that it passed there: true here, where the
    /// test then returns; false in that run, where it goes on with its body.
    ///
    /// The harness runs every other test of this binary on threads of this one process,
    /// and a fork copies what they hold at that moment into the child: their open files
    /// (a forked child kept `socket::tests`' closed listener open, so a stale socket file
    /// looked live) and their locks (a child forked while a failing test printed its panic
    /// inherited std's backtrace lock held; its own panic blocked on it until the 5 s
    /// bound killed it: 137 instead of 101). In a run of its own, the only other thread is
    /// the harness's, waiting for the test.
    fn ran_alone(name: &str) -> bool {
        if std::env::var_os(ALONE).is_some() {
            return false;
        }
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, m)| m);
        let test = format!("{module}::{name}");
        let child = Command::new(std::env::current_exe().expect("the test binary's path"))
            .args([test.as_str(), "--exact", "--test-threads=1"])
            .env(ALONE, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the test binary starts");
        let out = output_within(child, Duration::from_secs(60));
        let stdout = String::from_utf8_lossy(&out.stdout);
        // A name that matches no test would pass with nothing run.
        assert!(
            out.status.success() && stdout.contains(&format!("test {test} ... ok")),
            "{test}, run alone: {}\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        true
    }

    #[test]
    fn child_exit_codes_and_signals_are_reported() {
        if ran_alone("child_exit_codes_and_signals_are_reported") {
            return;
        }
        let mut set = ChildSet::new();
        set.spawn(1, || 7).unwrap();
        set.spawn(2, || {
            let _ = kill(nix::unistd::getpid(), Signal::SIGKILL);
            0
        })
        .unwrap();
        set.spawn(3, || panic!("boom")).unwrap();
        let mut codes: Vec<_> = set
            .reap_all(Duration::from_secs(5))
            .into_iter()
            .map(|(label, status)| (label, status.and_then(exit_code)))
            .collect();
        codes.sort();
        assert_eq!(
            codes,
            vec![(1, Some(7)), (2, Some(128 + 9)), (3, Some(101))]
        );
        assert!(set.is_empty());
    }

    #[test]
    fn a_child_dies_with_its_parent_and_leaves_if_the_parent_is_already_gone() {
        if ran_alone("a_child_dies_with_its_parent_and_leaves_if_the_parent_is_already_gone") {
            return;
        }
        let parent = nix::unistd::getpid();
        let armed = fork_child(|| {
            die_with_parent(parent);
            match nix::sys::prctl::get_pdeathsig() {
                Ok(Some(Signal::SIGKILL)) => 0,
                _ => 3,
            }
        })
        .unwrap();
        // A recorded pid that is not the child's parent stands for a parent that died
        // between the fork and the prctl.
        let orphaned = fork_child(|| {
            die_with_parent(Pid::from_raw(i32::MAX));
            0
        })
        .unwrap();
        let code = |pid| reap_within(pid, Duration::from_secs(5)).and_then(exit_code);
        assert_eq!((code(armed), code(orphaned)), (Some(0), Some(1)));
    }

    #[test]
    fn drop_kills_and_reaps_children_that_hang() {
        if ran_alone("drop_kills_and_reaps_children_that_hang") {
            return;
        }
        let mut set = ChildSet::new();
        let pid = set
            .spawn(1, || {
                std::thread::sleep(Duration::from_secs(60));
                0
            })
            .unwrap();
        drop(set);
        // Reaped: the pid is no longer our child.
        assert_eq!(waitpid(pid, Some(WaitPidFlag::WNOHANG)), Err(Errno::ECHILD));
    }
}
