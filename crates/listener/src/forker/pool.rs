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

use nix::sys::eventfd::EventFd;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::child::{
    self, ChildSpec, EXIT_COMPLETED, EXIT_EMPTY, EXIT_STOPPED_BUSY, EXIT_STOPPED_IDLE,
};
use super::event::{Accepted, ChildEnd, Event, Exited, Forked, IdleKilled, Throttled};
use super::observer::Observer;
use super::report::{ChildOutcome, IdleSignal};
use super::scoreboard::{Scoreboard, SlotState, SlotView};
use super::throttle::RestartThrottle;
use crate::process::{ChildSet, exit_code, reap_within, try_reap_any};
use crate::socket::Listener;

/// How often [`Pool::stop_all`] repeats SIGTERM to children that have not exited yet.
pub const TERM_AGAIN_EVERY: Duration = Duration::from_millis(20);

/// What [`Pool::fork`] (and a model's wakeup) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spawn {
    /// A child was forked.
    Forked,
    /// No fork, and none to retry: at `--max-children`, the run is stopping, or (ondemand)
    /// an idle child will take the connection. A change in the pool is the next chance.
    Declined,
    /// `fork()` failed (counted and reported); worth retrying after a short back-off even
    /// if no child is running to change anything.
    Failed,
    /// Forking is throttled after a burst of children dying, until this instant.
    Throttled(Instant),
}

/// What the pool knows about a live child.
#[derive(Debug, Clone, Copy)]
struct Live {
    number: u64,
    slot: usize,
    forked_at: Instant,
    seen_accepted: u64,
    idle_kill: Option<IdleKill>,
    /// We sent SIGKILL at the end of the stop's grace.
    killed: bool,
}

/// An idle kill in progress: when SIGQUIT went out, and whether SIGKILL followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleKill {
    /// When SIGQUIT was sent.
    pub sent_at: Instant,
    /// True once SIGKILL was sent too.
    pub escalated: bool,
}

/// The pool as a maintenance tick counts it ([`Pool::census`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Headcount {
    /// Children waiting in accept.
    pub idle: u64,
    /// The others: starting, busy.
    pub active: u64,
    /// The idle child forked first.
    pub oldest_idle: Option<ChildView>,
}

/// A live child as a model sees it.
#[derive(Debug, Clone, Copy)]
pub struct ChildView {
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
    throttle: RestartThrottle,
    /// `CLOCK_MONOTONIC` at the run's start, to read scoreboard times (ns since start) as
    /// the clock PHP-FPM's `fpm_clock_get` reads.
    monotonic_at_start: Duration,
}

impl<'a> Pool<'a> {
    /// A pool of at most `max_children` children running `spec` on `listener`. Maps the
    /// scoreboard now, before any fork.
    pub fn new(
        spec: ChildSpec,
        listener: &'a Listener,
        doorbell: &'a EventFd,
        max_children: usize,
        tickets: u64,
    ) -> nix::Result<Self> {
        Ok(Self {
            children: ChildSet::new(),
            live: BTreeMap::new(),
            scoreboard: Scoreboard::new(max_children, tickets)?,
            spec,
            listener,
            doorbell,
            max_children,
            forked: 0,
            stopping: false,
            throttle: RestartThrottle::new(),
            monotonic_at_start: monotonic_now().saturating_sub(spec.start.elapsed()),
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
            pid: *pid,
            forked_at: live.forked_at,
            slot: self.scoreboard.slot(live.slot).view(),
            idle_kill: live.idle_kill,
        })
    }

    /// The whole seconds of `CLOCK_MONOTONIC` (PHP-FPM's `tv_sec` of `fpm_clock_get`) when
    /// `view`'s child entered its state, and now.
    pub fn state_and_now_seconds(&self, view: &ChildView) -> (u64, u64) {
        let since = self.monotonic_at_start + Duration::from_nanos(view.slot.since_ns);
        (since.as_secs(), monotonic_now().as_secs())
    }

    /// How long `view`'s child has been in its current state.
    pub fn in_state_for(&self, view: &ChildView) -> Duration {
        Duration::from_nanos(self.now_ns().saturating_sub(view.slot.since_ns))
    }

    /// True when some child is waiting for a connection (PHP-FPM's `fpm_request_is_idle`).
    pub fn any_idle(&self) -> bool {
        self.children().any(|c| c.slot.state == SlotState::Idle)
    }

    /// The children counted as `fpm_pctl_perform_idle_server_maintenance` counts them:
    /// idle ones (waiting in accept, `fpm_request_is_idle`), the rest as active, and the
    /// idle child started first (its `last_idle_child`, by `child->started`).
    pub fn census(&self) -> Headcount {
        let mut census = Headcount::default();
        for child in self.children() {
            if child.slot.state != SlotState::Idle {
                census.active += 1;
                continue;
            }
            census.idle += 1;
            if census
                .oldest_idle
                .is_none_or(|o| child.forked_at < o.forked_at)
            {
                census.oldest_idle = Some(child);
            }
        }
        census
    }

    /// PHP-FPM 8.2's `fpm_pctl_kill_idle_child`: SIGQUIT to an idle child the manager
    /// retires, or SIGKILL if it was told before and is still idle (a SIGQUIT that found
    /// it waiting for a first byte only restarts that wait).
    pub fn kill_idle_child(&mut self, child: &ChildView, obs: &mut Observer) -> io::Result<()> {
        let signal = if child.idle_kill.is_some() {
            IdleSignal::Sigkill
        } else {
            IdleSignal::Sigquit
        };
        let idle = self.in_state_for(child);
        self.idle_kill(child.pid, idle, signal, obs)
    }

    /// When forking resumes, while the restart throttle holds it.
    pub fn throttled_until(&self) -> Option<Instant> {
        self.throttle.blocked_until(Instant::now())
    }

    /// Forks one child into a free slot, unless stopping, at the cap (the caller should
    /// have checked), or throttled. A failed `fork()` is counted and reported.
    pub fn fork(&mut self, obs: &mut Observer, replacement: bool) -> io::Result<Spawn> {
        if self.stopping || self.live.len() >= self.max_children {
            return Ok(Spawn::Declined);
        }
        if let Some(until) = self.throttled_until() {
            return Ok(Spawn::Throttled(until));
        }
        let now_ns = self.now_ns();
        let Some(index) = self.scoreboard.claim(now_ns) else {
            return Ok(Spawn::Declined);
        };
        let number = self.forked + 1;
        let slot = self.scoreboard.slot(index);
        let tickets = self.scoreboard.tickets();
        let (spec, listener, doorbell) = (self.spec, self.listener, self.doorbell);
        let spawned = self.children.spawn(number as usize, move || {
            child::run(&spec, number, listener.as_fd(), slot, tickets, doorbell)
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
                        killed: false,
                    },
                );
                obs.emit(Event::Forked(Forked {
                    child: number,
                    pid: pid.as_raw(),
                    running: self.running(),
                    replacement,
                }))?;
                Ok(Spawn::Forked)
            }
            Err(e) => {
                self.scoreboard.release(index);
                obs.emit(Event::ForkFailed(e))?;
                Ok(Spawn::Failed)
            }
        }
    }

    /// Sends `signal` to a child idle for `idle` (SIGQUIT, or SIGKILL a tick later) and
    /// remembers it.
    pub fn idle_kill(
        &mut self,
        pid: Pid,
        idle: Duration,
        signal: IdleSignal,
        obs: &mut Observer,
    ) -> io::Result<()> {
        let Some(live) = self.live.get_mut(&pid) else {
            return Ok(());
        };
        let _ = kill(
            pid,
            match signal {
                IdleSignal::Sigquit => Signal::SIGQUIT,
                IdleSignal::Sigkill => Signal::SIGKILL,
            },
        );
        live.idle_kill = Some(IdleKill {
            sent_at: live.idle_kill.map_or_else(Instant::now, |k| k.sent_at),
            escalated: signal == IdleSignal::Sigkill,
        });
        obs.emit(Event::IdleKill(IdleKilled {
            child: live.number,
            pid: pid.as_raw(),
            idle,
            signal,
        }))
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
        // A child killed while it held an unused accept ticket: the ticket goes back.
        self.scoreboard
            .tickets()
            .give_back(self.scoreboard.slot(live.slot));
        self.scoreboard.release(live.slot);
        let signal = match status {
            WaitStatus::Signaled(_, signal, _) => Some(signal as i32),
            _ => None,
        };
        let status = exit_code(status).unwrap_or(-1);
        let exited = Exited {
            child: live.number,
            pid: pid.as_raw(),
            status,
            signal,
            lifetime: live.forked_at.elapsed(),
            end: ChildEnd {
                outcome: classify(
                    status,
                    Sent {
                        idle_kill: live.idle_kill.is_some(),
                        stop: self.stopping,
                        kill: live.killed,
                    },
                    view.state,
                ),
                accepted: view.accepted,
                served: view.served,
                first_byte_timeouts: view.first_byte_timeouts,
                closed_without_request: view.closed_without_request,
                // The child counts what it was told to drop; a child that died holding a
                // connection (a signal, a panic) could not, so that one is counted here.
                interrupted: view.interrupted + u64::from(view.holding),
            },
        };
        obs.emit(Event::Exited(exited))?;
        if exited.end.outcome == ChildOutcome::Died
            && !self.stopping
            && let Some(burst) = self.throttle.died(Instant::now())
        {
            obs.emit(Event::ForkThrottled(Throttled {
                died: burst.died,
                within: burst.within,
                backoff: burst.backoff,
            }))?;
        }
        Ok(Some(exited))
    }

    /// Stops the pool: no more forks, SIGTERM to every child (again every
    /// [`TERM_AGAIN_EVERY`] until it exits), reap them as they exit, and SIGKILL whatever is
    /// left after `grace`.
    pub fn stop_all(&mut self, obs: &mut Observer, grace: Duration) -> io::Result<()> {
        // Children that exited before the stop (e.g. killed from outside just before it)
        // are classified as such, not as part of the stop.
        self.reap(obs)?;
        self.stopping = true;
        self.children.signal_all(Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        let mut again = Instant::now() + TERM_AGAIN_EVERY;
        while !self.live.is_empty() && Instant::now() < deadline {
            if Instant::now() >= again {
                // A SIGTERM that lands between a child's flag check and its blocking call
                // only sets the flag; the next one interrupts the call (see `child`).
                self.children.signal_all(Signal::SIGTERM);
                again += TERM_AGAIN_EVERY;
            }
            if self.reap(obs)?.is_empty() {
                // A bounded poll for exits (the loop's epoll is done by now).
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let left: Vec<Pid> = self.live.keys().copied().collect();
        for pid in left {
            // Exited just now on its own: its status says how. Else SIGKILL it, and
            // remember that the 137 is ours.
            let status = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(status) if exit_code(status).is_some() => Some(status),
                _ => {
                    if let Some(live) = self.live.get_mut(&pid) {
                        live.killed = true;
                    }
                    reap_within(pid, Duration::ZERO)
                }
            };
            if let Some(status) = status {
                self.finish(pid, status, obs)?;
            }
        }
        Ok(())
    }
}

/// `CLOCK_MONOTONIC` now (the clock `Instant` reads on Linux, but as a number).
fn monotonic_now() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(Duration::ZERO, Duration::from)
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
        obs.emit(Event::Accepted(Accepted {
            child: live.number,
            pid: pid.as_raw(),
            accepted_at: Duration::from_nanos(view.last_accept_ns),
            child_accepted: view.accepted,
            batch: new,
        }))?;
    }
    Ok(())
}

/// The signals the parent sent a child, for [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The manager retired it for idleness (SIGQUIT, maybe SIGKILL).
    pub idle_kill: bool,
    /// The run was stopping when it was reaped (it got SIGTERM).
    pub stop: bool,
    /// It got SIGKILL at the end of the stop's grace.
    pub kill: bool,
}

/// How a child ended, from its exit status, what we sent it, and the last state it
/// published (for children SIGKILLed after the grace). A death by a signal we did not send
/// is `died`, even during the stop: SIGKILL counts as ours only if we sent it, SIGTERM
/// (143: our stop reached a child before it installed its handler) only while stopping.
pub fn classify(status: i32, sent: Sent, last: SlotState) -> ChildOutcome {
    const BY_SIGTERM: i32 = 128 + Signal::SIGTERM as i32;
    const BY_SIGKILL: i32 = 128 + Signal::SIGKILL as i32;
    let ours = |s: i32| (s == BY_SIGKILL && sent.kill) || s == BY_SIGTERM;
    match status {
        _ if sent.idle_kill => ChildOutcome::IdleTimeout,
        EXIT_COMPLETED => ChildOutcome::Completed,
        EXIT_EMPTY => ChildOutcome::Empty,
        EXIT_STOPPED_IDLE if sent.stop => ChildOutcome::KilledAtExit,
        EXIT_STOPPED_BUSY if sent.stop => ChildOutcome::BusyAtExit,
        s if sent.stop && ours(s) && last == SlotState::Busy => ChildOutcome::BusyAtExit,
        s if sent.stop && ours(s) => ChildOutcome::KilledAtExit,
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
        let sent = |idle_kill, stop, kill| Sent {
            idle_kill,
            stop,
            kill,
        };
        let table = [
            (0, sent(false, false, false), Idle, Completed),
            (3, sent(false, false, false), Idle, Empty),
            (4, sent(false, true, false), Idle, KilledAtExit),
            (5, sent(false, true, false), Busy, BusyAtExit),
            (137, sent(false, true, true), Busy, BusyAtExit),
            (137, sent(false, true, true), Starting, KilledAtExit),
            (143, sent(false, true, false), Starting, KilledAtExit),
            // SIGKILL from outside, reaped during the stop: not ours.
            (137, sent(false, true, false), Busy, Died),
            (137, sent(false, true, false), Idle, Died),
            (139, sent(false, true, false), Busy, Died),
            (137, sent(false, false, false), Idle, Died),
            (143, sent(false, false, false), Idle, Died),
            (4, sent(false, false, false), Idle, Died),
            (4, sent(true, false, false), Idle, IdleTimeout),
            (137, sent(true, true, false), Idle, IdleTimeout),
            (101, sent(false, false, false), Busy, Died),
        ];
        for (status, sent, last, want) in table {
            assert_eq!(
                classify(status, sent, last),
                want,
                "{status} {sent:?} {last:?}"
            );
        }
    }
}
