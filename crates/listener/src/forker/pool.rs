//! The pool of children the models act on: forking into a scoreboard slot, reading the
//! scoreboard (which children are idle, what they accepted), signalling, reaping with a
//! classification of how each child ended, and stopping them all with a bounded grace.
//!
//! Models decide *when* to fork or signal; the pool does it and has the observer report and
//! count it, so no model can fork without the count seeing it.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use listenlab_common::report::fork::{ChildEnd, ChildOutcome};
use nix::sys::eventfd::EventFd;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::child::{
    self, ChildSpec, EXIT_COMPLETED, EXIT_EMPTY, EXIT_STOPPED_BUSY, EXIT_STOPPED_IDLE,
};
use super::observer::{Exited, Observer};
use super::scoreboard::{Scoreboard, SlotState, SlotView};
use crate::process::{ChildSet, exit_code, reap_within, try_reap_any};
use crate::socket::Listener;

/// What the pool knows about a live child.
#[derive(Debug, Clone, Copy)]
struct Live {
    number: u64,
    slot: usize,
    forked_at: Instant,
    seen_accepted: u64,
    idle_kill: Option<IdleKill>,
}

/// An idle kill in progress: when SIGQUIT went out, and whether SIGKILL followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleKill {
    /// When SIGQUIT was sent.
    pub sent_at: Instant,
    /// True once SIGKILL was sent too.
    pub escalated: bool,
}

/// A live child as a model sees it.
#[derive(Debug, Clone, Copy)]
pub struct ChildView {
    /// Child number.
    pub number: u64,
    /// Process id.
    pub pid: Pid,
    /// When it was forked (PHP-FPM's `child->started`).
    pub forked_at: Instant,
    /// Its scoreboard slot.
    pub slot: SlotView,
    /// Its idle kill, if one was sent.
    pub idle_kill: Option<IdleKill>,
}

/// The children of one run.
pub struct Pool<'a> {
    children: ChildSet,
    live: BTreeMap<Pid, Live>,
    scoreboard: Scoreboard,
    spec: ChildSpec,
    listener: &'a Listener,
    doorbell: &'a EventFd,
    max_children: usize,
    forked: u64,
    stopping: bool,
}

impl<'a> Pool<'a> {
    /// A pool of at most `max_children` children running `spec` on `listener`. Maps the
    /// scoreboard now, before any fork.
    pub fn new(
        spec: ChildSpec,
        listener: &'a Listener,
        doorbell: &'a EventFd,
        max_children: usize,
    ) -> nix::Result<Self> {
        Ok(Self {
            children: ChildSet::new(),
            live: BTreeMap::new(),
            scoreboard: Scoreboard::new(max_children)?,
            spec,
            listener,
            doorbell,
            max_children,
            forked: 0,
            stopping: false,
        })
    }

    /// Children forked and not reaped yet.
    pub fn running(&self) -> u64 {
        self.live.len() as u64
    }

    /// The `--max-children` cap.
    pub fn max_children(&self) -> u64 {
        self.max_children as u64
    }

    /// True once [`Pool::stop_all`] has begun: models must not fork any more.
    pub fn stopping(&self) -> bool {
        self.stopping
    }

    /// Nanoseconds since the run started (the scoreboard's clock).
    fn now_ns(&self) -> u64 {
        self.spec.start.elapsed().as_nanos() as u64
    }

    /// The live children with their scoreboard slots.
    pub fn children(&self) -> impl Iterator<Item = ChildView> + '_ {
        self.live.iter().map(|(pid, live)| ChildView {
            number: live.number,
            pid: *pid,
            forked_at: live.forked_at,
            slot: self.scoreboard.slot(live.slot).view(),
            idle_kill: live.idle_kill,
        })
    }

    /// How long `view`'s child has been in its current state.
    pub fn in_state_for(&self, view: &ChildView) -> Duration {
        Duration::from_nanos(self.now_ns().saturating_sub(view.slot.since_ns))
    }

    /// True when some child is waiting for a connection (PHP-FPM's `fpm_request_is_idle`).
    pub fn any_idle(&self) -> bool {
        self.children().any(|c| c.slot.state == SlotState::Idle)
    }

    /// Forks one child into a free slot. Returns false when it could not (no slot: the
    /// caller should have checked the cap; or `fork()` failed, which is counted).
    pub fn fork(&mut self, obs: &mut Observer, replacement: bool) -> io::Result<bool> {
        if self.stopping || self.live.len() >= self.max_children {
            return Ok(false);
        }
        let now_ns = self.now_ns();
        let Some(index) = self.scoreboard.claim(now_ns) else {
            return Ok(false);
        };
        let number = self.forked + 1;
        let slot = self.scoreboard.slot(index);
        let (spec, listener, doorbell) = (self.spec, self.listener, self.doorbell);
        let spawned = self.children.spawn(number as usize, move || {
            child::run(&spec, listener.as_fd(), slot, doorbell)
        });
        match spawned {
            Ok(pid) => {
                self.forked = number;
                self.live.insert(
                    pid,
                    Live {
                        number,
                        slot: index,
                        forked_at: Instant::now(),
                        seen_accepted: 0,
                        idle_kill: None,
                    },
                );
                obs.forked(number, pid.as_raw(), self.running(), replacement)?;
                Ok(true)
            }
            Err(e) => {
                self.scoreboard.release(index);
                obs.fork_failed(e)?;
                Ok(false)
            }
        }
    }

    /// Sends SIGQUIT to an idle child (or SIGKILL when `escalate`) and remembers it.
    pub fn idle_kill(
        &mut self,
        pid: Pid,
        idle: Duration,
        escalate: bool,
        obs: &mut Observer,
    ) -> io::Result<()> {
        let Some(live) = self.live.get_mut(&pid) else {
            return Ok(());
        };
        let signal = if escalate {
            Signal::SIGKILL
        } else {
            Signal::SIGQUIT
        };
        let _ = kill(pid, signal);
        live.idle_kill = Some(IdleKill {
            sent_at: live.idle_kill.map_or_else(Instant::now, |k| k.sent_at),
            escalated: escalate,
        });
        obs.idle_kill(live.number, pid.as_raw(), idle, escalate)
    }

    /// Reports accepts the children published since the last look.
    pub fn scan(&mut self, obs: &mut Observer) -> io::Result<()> {
        for (pid, live) in self.live.iter_mut() {
            let view = self.scoreboard.slot(live.slot).view();
            report_accepts(obs, *pid, live, &view)?;
        }
        Ok(())
    }

    /// Reaps every child that has exited (without blocking), reports and returns them.
    pub fn reap(&mut self, obs: &mut Observer) -> io::Result<Vec<Exited>> {
        let mut out = Vec::new();
        while let Some((pid, status)) = try_reap_any() {
            if let Some(exited) = self.finish(pid, status, obs)? {
                out.push(exited);
            }
        }
        Ok(out)
    }

    fn finish(
        &mut self,
        pid: Pid,
        status: WaitStatus,
        obs: &mut Observer,
    ) -> io::Result<Option<Exited>> {
        self.children.forget(pid);
        let Some(mut live) = self.live.remove(&pid) else {
            return Ok(None);
        };
        let view = self.scoreboard.slot(live.slot).view();
        report_accepts(obs, pid, &mut live, &view)?;
        self.scoreboard.release(live.slot);
        let status = exit_code(status).unwrap_or(-1);
        let exited = Exited {
            child: live.number,
            pid: pid.as_raw(),
            status,
            lifetime: live.forked_at.elapsed(),
            end: ChildEnd {
                outcome: classify(status, live.idle_kill.is_some(), self.stopping, view.state),
                accepted: view.accepted,
                served: view.served,
                first_byte_timeouts: view.first_byte_timeouts,
            },
        };
        obs.exited(exited)?;
        Ok(Some(exited))
    }

    /// Stops the pool: no more forks, SIGTERM to every child, reap them as they exit, and
    /// SIGKILL whatever is left after `grace`.
    pub fn stop_all(&mut self, obs: &mut Observer, grace: Duration) -> io::Result<()> {
        self.stopping = true;
        self.children.signal_all(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while !self.live.is_empty() && Instant::now() < deadline {
            if self.reap(obs)?.is_empty() {
                // A bounded poll for exits (the loop's epoll is done by now).
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let left: Vec<Pid> = self.live.keys().copied().collect();
        for pid in left {
            if let Some(status) = reap_within(pid, Duration::ZERO) {
                self.finish(pid, status, obs)?;
            }
        }
        Ok(())
    }
}

fn report_accepts(
    obs: &mut Observer,
    pid: Pid,
    live: &mut Live,
    view: &SlotView,
) -> io::Result<()> {
    if view.accepted > live.seen_accepted {
        let new = view.accepted - live.seen_accepted;
        live.seen_accepted = view.accepted;
        obs.accepted(
            live.number,
            pid.as_raw(),
            Duration::from_nanos(view.last_accept_ns),
            view.accepted,
            new,
        )?;
    }
    Ok(())
}

/// How a child ended, from its exit status, whether we idle-killed it, whether the run was
/// stopping, and the last state it published (for children SIGKILLed after the grace).
pub fn classify(status: i32, idle_killed: bool, stopping: bool, last: SlotState) -> ChildOutcome {
    match status {
        _ if idle_killed => ChildOutcome::IdleTimeout,
        EXIT_COMPLETED => ChildOutcome::Completed,
        EXIT_EMPTY => ChildOutcome::Empty,
        EXIT_STOPPED_IDLE if stopping => ChildOutcome::KilledAtExit,
        EXIT_STOPPED_BUSY if stopping => ChildOutcome::BusyAtExit,
        s if stopping && s > 128 && last == SlotState::Busy => ChildOutcome::BusyAtExit,
        s if stopping && s > 128 => ChildOutcome::KilledAtExit,
        _ => ChildOutcome::Died,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_classified_by_status_and_phase() {
        use ChildOutcome::*;
        use SlotState::{Busy, Idle, Starting};
        let table = [
            (0, false, false, Idle, Completed),
            (3, false, false, Idle, Empty),
            (4, false, true, Idle, KilledAtExit),
            (5, false, true, Busy, BusyAtExit),
            (137, false, true, Busy, BusyAtExit),
            (137, false, true, Starting, KilledAtExit),
            (137, false, false, Idle, Died),
            (4, false, false, Idle, Died),
            (4, true, false, Idle, IdleTimeout),
            (137, true, true, Idle, IdleTimeout),
            (101, false, false, Busy, Died),
        ];
        for (status, idle_killed, stopping, last, want) in table {
            assert_eq!(
                classify(status, idle_killed, stopping, last),
                want,
                "{status} {idle_killed} {stopping} {last:?}"
            );
        }
    }
}
