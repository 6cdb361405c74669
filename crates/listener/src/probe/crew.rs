//! A crew of forked waiter processes that report over one shared pipe, and the
//! handshake that makes sure each is asleep where it should be before a connect.
//!
//! Each waiter sends `"<index> ready"` just before its blocking call; the probe then
//! reads `/proc/<pid>/stat` until the waiter sleeps (see [`super::settle`]). After that,
//! waiters send `"<index> <what> [detail]"` lines as things happen. Every child is killed
//! and reaped when the crew drops (`ChildSet`), and dies with the probe if the probe is
//! killed outright (`die_with_parent`).

use std::time::Duration;

use nix::unistd::Pid;

use super::error::ProbeError;
use super::interrupt::Interrupt;
use super::ipc::{LineReader, LineWriter, channel};
use super::settle;
use crate::process::{ChildSet, die_with_parent};

/// How long a waiter may take to fork, set up and say `ready`, or to fall asleep.
pub const START_WITHIN: Duration = Duration::from_secs(5);

/// What a waiter uses to report: its index and the shared pipe.
#[derive(Debug)]
pub struct Reporter<'a> {
    index: usize,
    writer: &'a LineWriter,
}

impl Reporter<'_> {
    /// Sends `"<index> <what>"`. A waiter whose probe is gone has nobody to tell, so a
    /// failed send is ignored (the waiter is killed when the probe's crew drops).
    pub fn send(&self, what: &str) {
        let _ = self.writer.send(&format!("{} {what}", self.index));
    }
}

/// One line from a waiter: `"<index> <what> [detail]"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The waiter's index (fork order, from 0).
    pub waiter: usize,
    /// The first word after the index: `ready`, `woke`, `accepted`, ...
    pub what: String,
    /// The rest of the line.
    pub detail: String,
}

impl Report {
    fn parse(line: &str) -> Option<Self> {
        let (index, rest) = line.split_once(' ')?;
        let (what, detail) = rest.split_once(' ').unwrap_or((rest, ""));
        Some(Self {
            waiter: index.parse().ok()?,
            what: what.to_owned(),
            detail: detail.to_owned(),
        })
    }
}

/// Forked waiters and the pipe they report on.
#[derive(Debug)]
pub struct Crew {
    pids: Vec<Pid>,
    reports: LineReader,
    writer: LineWriter,
    /// Declared last: dropped after the pipes, killing and reaping every child.
    children: ChildSet,
}

impl Crew {
    /// An empty crew.
    pub fn new() -> Result<Self, ProbeError> {
        let (reports, writer) = channel()?;
        Ok(Self {
            pids: Vec::new(),
            reports,
            writer,
            children: ChildSet::new(),
        })
    }

    /// Forks the next waiter running `body`, which returns its exit code. Only while the
    /// probe has no other thread.
    pub fn spawn(&mut self, body: impl FnOnce(&Reporter<'_>) -> i32) -> Result<(), ProbeError> {
        let index = self.pids.len();
        let writer = &self.writer;
        let parent = nix::unistd::getpid();
        let pid = self
            .children
            .spawn(index, || {
                // A waiter outliving a killed probe would hold the listener (issue 12).
                die_with_parent(parent);
                body(&Reporter { index, writer })
            })
            .map_err(|e| ProbeError::io("forking a waiter", e))?;
        self.pids.push(pid);
        Ok(())
    }

    /// Number of waiters forked.
    pub fn len(&self) -> usize {
        self.pids.len()
    }

    /// True before the first fork.
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
    }

    /// The pid of waiter `index`.
    pub fn pid(&self, index: usize) -> Pid {
        self.pids[index]
    }

    /// The next report, waiting up to `timeout`; `None` when none came.
    pub fn next(
        &mut self,
        timeout: Duration,
        intr: &Interrupt,
    ) -> Result<Option<Report>, ProbeError> {
        loop {
            match self.reports.recv(timeout, intr)? {
                None => return Ok(None),
                Some(line) => {
                    if let Some(report) = Report::parse(&line) {
                        return Ok(Some(report));
                    }
                }
            }
        }
    }

    /// Waits until each of `waiters` has said `ready` and is asleep; returns where each
    /// sleeps (wchan), in the order given. A waiter that reports `error` stops the run.
    pub fn await_asleep(
        &mut self,
        waiters: &[usize],
        intr: &Interrupt,
    ) -> Result<Vec<String>, ProbeError> {
        let mut ready = vec![false; self.len()];
        while waiters.iter().any(|&w| !ready[w]) {
            let report = self.next(START_WITHIN, intr)?.ok_or_else(|| {
                ProbeError::Helper(format!(
                    "a waiter did not get ready within {START_WITHIN:?}"
                ))
            })?;
            match report.what.as_str() {
                "ready" => ready[report.waiter] = true,
                "error" => {
                    return Err(ProbeError::Helper(format!(
                        "waiter {}: {}",
                        report.waiter, report.detail
                    )));
                }
                _ => {}
            }
        }
        waiters
            .iter()
            .map(|&w| settle::asleep(self.pid(w), START_WITHIN, intr))
            .collect()
    }

    /// True when every waiter not in `done` is asleep right now.
    pub fn others_asleep(&self, done: &[bool]) -> bool {
        self.pids
            .iter()
            .zip(done)
            .all(|(pid, done)| *done || settle::proc_state(*pid) == Some('S'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_parse_index_word_and_detail() {
        let r = Report::parse("3 woke 1 IN").unwrap();
        assert_eq!(
            (r.waiter, r.what.as_str(), r.detail.as_str()),
            (3, "woke", "1 IN")
        );
        assert_eq!(Report::parse("0 ready").unwrap().detail, "");
        assert_eq!(Report::parse("x ready"), None);
    }
}
