//! The one event loop: a single-threaded parent waiting in epoll on the listener, a signalfd
//! (SIGCHLD, SIGINT, SIGTERM) and the children's doorbell (an eventfd they write after an
//! accept or on going idle), with the epoll timeout as its timer (10 ms queue samples while
//! anything is pending, the model's maintenance tick, `--duration`).
//!
//! Each turn: reap exited children and tell the model, report new accepts, hand listener
//! readiness to the model, run due timers, flush the output, and check whether to stop.
//! With level triggering a wakeup that forked nothing pauses the listener
//! (`EPOLL_CTL_MOD` with no events) until a child changes state or exits; otherwise the
//! loop would spin on a connection no child can take yet. A failed or throttled fork pauses
//! either trigger and re-arms it after a back-off ([`FORK_RETRY`], or the end of the
//! throttle), since no child may be running to change anything. Otherwise edge-triggered
//! listeners are never paused (PHP-FPM does not either).
//!
//! Stopping: the listener leaves epoll, the queue is sampled one last time, the children
//! get SIGTERM and are reaped (SIGKILL after [`GRACE`]), and the summary is written.

use std::io;
use std::time::{Duration, Instant};

use nix::sys::epoll::EpollFlags;
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;

use super::Config;
use super::ballast::ParentMemory;
use super::child::ChildSpec;
use super::event::Event;
use super::models::{self, Model};
use super::observer::{Observer, RunInfo};
use super::output::Output;
use super::pool::{Pool, Spawn};
use super::report::{ForkSummary, StopReason};
use super::sample::{NetstatStart, QueueSampler};
use super::status::{RunState, StatusTracker};
use crate::events;
use crate::poller::{Poller, Trigger};
use crate::queue::accept_queue;
use crate::signals::{drain, signal_fd};
use crate::socket::Listener;

/// How often the accept queue is sampled while anything is pending.
pub const QUEUE_SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// How long the listener stays paused after a failed `fork()` (e.g. `EAGAIN` at
/// `RLIMIT_NPROC`) before the loop tries again: long enough not to spin, short enough that a
/// waiting connection hardly notices once forking works again.
pub const FORK_RETRY: Duration = Duration::from_millis(50);

/// How long children get to exit after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

const LISTENER: u64 = 0;
const SIGNALS: u64 = 1;
const DOORBELL: u64 = 2;
/// Stdout, registered for `EPOLLOUT` only while lines wait for a slow reader.
const OUTPUT: u64 = 3;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A system call needed to set up or run the loop failed. The errno is the source,
    /// which `{err:#}` prints after this context: not formatted here too.
    #[error("{what}")]
    Sys {
        /// The step that failed.
        what: &'static str,
        /// The error.
        #[source]
        source: nix::Error,
    },
    /// Writing events to stdout failed (a closed pipe included).
    #[error("writing the report to stdout")]
    Output(#[from] io::Error),
    /// Writing the `--plot` picture failed.
    #[error(transparent)]
    Plot(#[from] super::plot::PlotWriteError),
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> RunError {
    move |source| RunError::Sys { what, source }
}

/// When the loop must next wake up on its own.
#[derive(Debug)]
struct Timers {
    next_sample: Option<Instant>,
    next_tick: Option<Instant>,
    tick_every: Option<Duration>,
    deadline: Option<Instant>,
    /// Re-arm the listener then (after a failed or throttled fork).
    retry: Option<Instant>,
    /// The next `status` line (`--status-every`).
    next_status: Option<Instant>,
}

impl Timers {
    fn timeout(&self, now: Instant) -> Option<Duration> {
        [
            self.next_sample,
            self.next_tick,
            self.deadline,
            self.retry,
            self.next_status,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|t| t.saturating_duration_since(now))
    }
}

/// What to do with the listener after a wakeup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listen {
    /// Leave it armed.
    Keep,
    /// Pause it until a child changes state or exits.
    PauseUntilPoolChange,
    /// Pause it, and re-arm it at this instant at the latest (a pool change may come first).
    /// Re-arming (`EPOLL_CTL_MOD`) also re-reports a connection still pending on an
    /// edge-triggered listener, so nothing waits for the next client.
    PauseUntil(Instant),
}

/// The decision after a wakeup that brought `spawn`. Level triggering would report a
/// connection nobody takes on every wait, so a wakeup that forked nothing pauses: until the
/// pool changes if nothing could be forked anyway, or for a short back-off if the fork
/// failed or is throttled, since then no child may be running to change the pool (a
/// listener paused until a pool change would stay paused forever).
fn after_wakeup(spawn: Spawn, trigger: Trigger, now: Instant) -> Listen {
    match spawn {
        Spawn::Forked => Listen::Keep,
        Spawn::Declined if trigger == Trigger::Level => Listen::PauseUntilPoolChange,
        Spawn::Declined => Listen::Keep,
        Spawn::Failed => Listen::PauseUntil(now + FORK_RETRY),
        Spawn::Throttled(until) => Listen::PauseUntil(until.max(now + FORK_RETRY)),
    }
}

/// Runs the simulator on `listener` until a signal, `--duration` or `--exit-after`, writing
/// events to `out`. Returns the summary it wrote.
pub fn run(config: &Config, listener: &Listener, out: Output) -> Result<ForkSummary, RunError> {
    let start = Instant::now();
    // Block the signals before any child exists; children reset the mask after fork.
    let signals = signal_fd(&[Signal::SIGCHLD, Signal::SIGINT, Signal::SIGTERM])
        .map_err(sys("blocking signals for a signalfd"))?;
    let doorbell = EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
        .map_err(sys("creating the doorbell eventfd"))?;
    // Before the readiness line: every fork of the run copies its page tables.
    let _ballast =
        ParentMemory::map(config.parent_memory).map_err(sys("mapping --parent-memory"))?;
    let mut event_loop = EventLoop::new(config, listener, &signals, &doorbell, out, start)?;
    event_loop.start()?;
    let reason = loop {
        if let Some(reason) = event_loop.turn()? {
            break reason;
        }
    };
    event_loop.finish(reason)
}

/// The loop's state: what it waits on, the pool, the model and the observer.
struct EventLoop<'a> {
    config: &'a Config,
    listener: &'a Listener,
    signals: &'a SignalFd,
    doorbell: &'a EventFd,
    poller: Poller,
    pool: Pool<'a>,
    model: Box<dyn Model>,
    obs: Observer,
    queue: QueueSampler,
    status: StatusTracker,
    netstat: NetstatStart,
    start: Instant,
    timers: Timers,
    /// False while a level-triggered listener is paused.
    armed: bool,
    /// True while stdout is registered for `EPOLLOUT`.
    watching_output: bool,
}

/// What one `epoll_wait` brought.
#[derive(Debug, Default)]
struct Turn {
    ready: usize,
    listener_ready: bool,
    child_signal: bool,
    pool_changed: bool,
    stop: Option<StopReason>,
}

impl<'a> EventLoop<'a> {
    fn new(
        config: &'a Config,
        listener: &'a Listener,
        signals: &'a SignalFd,
        doorbell: &'a EventFd,
        out: Output,
        start: Instant,
    ) -> Result<Self, RunError> {
        let model = models::build(config);
        let spec = ChildSpec {
            life: model.child_life(),
            sleep: config.sleep,
            greet: config.greet,
            max_requests: config.max_requests,
            request_starts: config.request_starts,
            request_shutdown: config.request_shutdown,
            child_startup: config.child_startup,
            start,
            parent: nix::unistd::getpid(),
        };
        // --exit-after N: the children take one of N tickets before each accept.
        let tickets = config.exit_after.unwrap_or(u64::MAX);
        let pool = Pool::new(spec, listener, doorbell, config.max_children, tickets)
            .map_err(sys("mapping the scoreboard"))?;
        let poller = Poller::new().map_err(sys("creating an epoll instance"))?;
        if model.watches_listener() {
            poller
                .add(listener, config.trigger.flags(), LISTENER)
                .map_err(sys("adding the listener to epoll"))?;
        }
        poller
            .add(signals, EpollFlags::EPOLLIN, SIGNALS)
            .map_err(sys("adding the signalfd to epoll"))?;
        poller
            .add(doorbell, EpollFlags::EPOLLIN, DOORBELL)
            .map_err(sys("adding the doorbell to epoll"))?;
        let netstat = NetstatStart::read();
        let mut obs = Observer::new(out, config.format, start);
        if config.plot.is_some() {
            obs.record_timeline();
        }
        obs.listening(listener.endpoint())?;
        let tick_every = model.tick_every();
        let timers = Timers {
            // Sampling starts at the first wakeup, or at once for a model that never
            // watches the listener (its children accept from the start).
            next_sample: (!model.watches_listener()).then_some(start),
            next_tick: tick_every.map(|every| start + every),
            tick_every,
            deadline: config.duration.map(|d| start + d),
            retry: None,
            next_status: config.status_every.map(|every| start + every),
        };
        Ok(Self {
            config,
            listener,
            signals,
            doorbell,
            poller,
            pool,
            model,
            obs,
            queue: QueueSampler::default(),
            status: StatusTracker::default(),
            netstat,
            start,
            timers,
            armed: true,
            watching_output: false,
        })
    }

    /// The model's start hook, once, before the first wait.
    fn start(&mut self) -> Result<(), RunError> {
        let spawn = self.model.on_start(&mut self.pool, &mut self.obs)?;
        self.retry_if_short(spawn);
        self.flush_output()
    }

    /// After a model's own fork (start, replacement, retry) failed or was throttled:
    /// schedule the retry back-off, since no wakeup may come to try again (static and
    /// dynamic never watch the listener).
    fn retry_if_short(&mut self, spawn: Spawn) {
        match spawn {
            Spawn::Failed => self.retry_at(Instant::now() + FORK_RETRY),
            Spawn::Throttled(until) => self.retry_at(until.max(Instant::now() + FORK_RETRY)),
            Spawn::Forked | Spawn::Declined => {}
        }
    }

    /// One turn of the loop. Returns why to stop, if it is time.
    fn turn(&mut self) -> Result<Option<StopReason>, RunError> {
        let mut turn = self.wait()?;
        if turn.child_signal {
            for exited in self.pool.reap(&mut self.obs)? {
                turn.pool_changed = true;
                let spawn = self
                    .model
                    .on_child_exit(&mut self.pool, &mut self.obs, &exited)?;
                self.retry_if_short(spawn);
            }
            // A throttle that began here (ondemand replacements) must end with a re-arm,
            // or an edge-triggered connection that came meanwhile would wait for the next.
            if let Some(until) = self.pool.throttled_until() {
                self.retry_at(until);
            }
        }
        if turn.pool_changed {
            self.pool.scan(&mut self.obs)?;
        }
        if turn.listener_ready && turn.stop.is_none() {
            self.on_wakeup(turn.ready)?;
        } else if !self.armed && turn.pool_changed {
            self.set_armed(true)?;
        }
        self.run_timers()?;
        if self.obs.records_timeline() {
            let census = self.pool.census();
            self.obs.census(census.active, census.idle);
        }
        let now = Instant::now();
        let accepted = self.obs.counts().accepted;
        if turn.stop.is_none() && self.timers.deadline.is_some_and(|d| now >= d) {
            turn.stop = Some(StopReason::Duration);
        }
        if turn.stop.is_none() && self.config.exit_after.is_some_and(|n| accepted >= n) {
            turn.stop = Some(StopReason::ExitAfter);
        }
        self.flush_output()?;
        Ok(turn.stop)
    }

    /// Writes what stdout takes now; while lines wait, watches it for `EPOLLOUT` so the
    /// rest goes out as soon as the reader makes room, and the loop never blocks on it.
    fn flush_output(&mut self) -> Result<(), RunError> {
        self.obs.flush()?;
        let pending = self.obs.output().pending();
        if let Some(fd) = self.obs.output().pollable()
            && pending != self.watching_output
        {
            if pending {
                self.poller
                    .add(fd, EpollFlags::EPOLLOUT, OUTPUT)
                    .map_err(sys("adding stdout to epoll"))?;
            } else {
                self.poller
                    .delete(fd)
                    .map_err(sys("removing stdout from epoll"))?;
            }
            self.watching_output = pending;
        }
        Ok(())
    }

    /// Waits for events or the next timer and sorts out what arrived.
    fn wait(&mut self) -> Result<Turn, RunError> {
        let ready = self
            .poller
            .wait(self.timers.timeout(Instant::now()))
            .map_err(sys("waiting in epoll"))?;
        let mut turn = Turn {
            ready: ready.len(),
            ..Turn::default()
        };
        for event in &ready {
            // Flags decoded by name (`crate::events`). An error on the listener is handled
            // like readiness: the child's accept() then reports it. The signalfd and the
            // doorbell are non-blocking and drained whatever the flags say, so an event for
            // them with neither flag is harmless.
            let flags = event.flags;
            let wanted = events::is_readable(flags) || events::is_error(flags);
            match event.token {
                LISTENER if wanted => turn.listener_ready = true,
                SIGNALS if wanted => {
                    for signal in drain(self.signals) {
                        match signal {
                            Signal::SIGCHLD => turn.child_signal = true,
                            Signal::SIGINT => turn.stop = Some(StopReason::Sigint),
                            // SIGTERM, the only other signal the signalfd takes.
                            _ => turn.stop = Some(StopReason::Sigterm),
                        }
                    }
                }
                DOORBELL if wanted => {
                    // Resets the counter; the scoreboard has the facts.
                    let _ = self.doorbell.read();
                    turn.pool_changed = true;
                }
                // Stdout has room (or failed): the flush at the end of the turn writes.
                OUTPUT => {}
                _ => {} // nothing we asked for, or not ours (cannot happen: four tokens)
            }
        }
        Ok(turn)
    }

    /// The listener is ready: the model decides; a level-triggered listener that brought no
    /// fork is paused until the pool changes.
    fn on_wakeup(&mut self, ready: usize) -> Result<(), RunError> {
        self.obs.emit(Event::Wakeup {
            ready: ready as u32,
        })?;
        let spawn = self.model.on_wakeup(&mut self.pool, &mut self.obs)?;
        let now = Instant::now();
        self.timers.next_sample.get_or_insert(now);
        match after_wakeup(spawn, self.config.trigger, now) {
            Listen::Keep => {}
            Listen::PauseUntilPoolChange => self.set_armed(false)?,
            Listen::PauseUntil(at) => {
                self.set_armed(false)?;
                self.retry_at(at);
            }
        }
        Ok(())
    }

    /// Re-arms the listener at `at` at the latest (a later request wins: the throttle).
    fn retry_at(&mut self, at: Instant) {
        self.timers.retry = Some(self.timers.retry.map_or(at, |r| r.max(at)));
    }

    fn set_armed(&mut self, armed: bool) -> Result<(), RunError> {
        if !self.model.watches_listener() {
            return Ok(()); // never registered: nothing to pause or re-arm
        }
        let flags = if armed {
            self.config.trigger.flags()
        } else {
            EpollFlags::empty()
        };
        self.poller
            .modify(self.listener, flags, LISTENER)
            .map_err(sys("pausing or re-arming the listener"))?;
        self.armed = armed;
        Ok(())
    }

    /// Runs whatever timers are due: the queue sample (rescheduled while anything is
    /// pending) and the model's maintenance tick.
    fn run_timers(&mut self) -> Result<(), RunError> {
        let now = Instant::now();
        if self.timers.retry.is_some_and(|t| now >= t) {
            self.timers.retry = None;
            // Also when armed: the MOD re-reports an edge-triggered pending connection.
            self.set_armed(true)?;
            let spawn = self.model.on_retry(&mut self.pool, &mut self.obs)?;
            self.retry_if_short(spawn);
        }
        let timers = &mut self.timers;
        if timers.next_sample.is_some_and(|t| now >= t) {
            let len = self.queue.sample(self.listener, &mut self.obs)?;
            let pending = len > 0 || self.pool.running() > 0;
            timers.next_sample = pending.then(|| now + QUEUE_SAMPLE_EVERY);
        }
        if let (Some(next), Some(every)) = (timers.next_status, self.config.status_every)
            && now >= next
        {
            let counts = self.obs.counts();
            let run = RunState {
                model: self.config.model,
                start: self.start,
                accepted: counts.accepted,
                max_children_warnings: counts.max_children_warnings,
                max_listen_queue: u64::from(self.queue.max_len()),
            };
            let page = self.status.page(&self.pool, self.listener, run);
            self.obs.emit(Event::Status(page))?;
            timers.next_status = Some(now + every);
        }
        if let (Some(next), Some(every)) = (timers.next_tick, timers.tick_every)
            && now >= next
        {
            self.model.on_tick(&mut self.pool, &mut self.obs)?;
            // Re-armed from its firing time, as PHP-FPM's persistent timers are
            // (`fpm_event_loop` sets the next timeout to now + frequency): a late tick
            // delays the ones after it, and missed ticks are never run back to back.
            timers.next_tick = Some(now + every);
        }
        Ok(())
    }

    /// Stops: no more listener events, a last queue sample, SIGTERM to the children, reap
    /// them all, write the summary.
    fn finish(mut self, reason: StopReason) -> Result<ForkSummary, RunError> {
        let _ = self.poller.delete(self.listener);
        self.pool.scan(&mut self.obs)?;
        let pending_at_exit = u64::from(self.queue.sample(self.listener, &mut self.obs)?);
        self.obs.emit(Event::Stopping {
            reason,
            running: self.pool.running(),
        })?;
        self.flush_output()?;
        self.pool.stop_all(&mut self.obs, GRACE)?;
        let info = RunInfo {
            model: self.config.model,
            trigger: self.config.trigger,
            accept: self.config.accept,
            addr: self.listener.endpoint().to_string(),
            stop_reason: reason,
            pending_at_exit,
            max_listen_queue: u64::from(self.queue.max_len()),
            netstat: self.netstat.delta(self.listener),
            backlog_requested: self.config.backlog,
            // Observed, not computed: the kernel's cap (somaxconn) can change at any time.
            backlog_effective: accept_queue(self.listener).ok().map(|q| q.max),
        };
        // Every child is reaped by now, so the counts must add up (checked in test builds).
        debug_assert_eq!(self.obs.counts().check(), Ok(()));
        self.obs.census(0, 0);
        let timeline = self.obs.take_timeline();
        let summary = self.obs.summary(info)?;
        if let (Some(path), Some(timeline)) = (&self.config.plot, &timeline) {
            super::plot::write(path, timeline, &summary)?;
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fork_pauses_the_listener_for_a_short_backoff_not_for_ever() {
        let now = Instant::now();
        for trigger in [Trigger::Level, Trigger::Edge] {
            let Listen::PauseUntil(at) = after_wakeup(Spawn::Failed, trigger, now) else {
                panic!("{trigger}: a failed fork must schedule a retry");
            };
            let wait = at - now;
            assert!(
                wait >= Duration::from_millis(10) && wait <= Duration::from_millis(100),
                "{wait:?}"
            );
        }
    }

    #[test]
    fn a_throttled_fork_pauses_until_the_throttle_ends() {
        let now = Instant::now();
        let until = now + Duration::from_secs(1);
        assert_eq!(
            after_wakeup(Spawn::Throttled(until), Trigger::Level, now),
            Listen::PauseUntil(until)
        );
        // A throttle about to end still leaves a back-off: no spin.
        assert_eq!(
            after_wakeup(Spawn::Throttled(now), Trigger::Edge, now),
            Listen::PauseUntil(now + FORK_RETRY)
        );
    }

    #[test]
    fn a_declined_fork_pauses_only_a_level_listener_until_the_pool_changes() {
        let now = Instant::now();
        let table = [
            (Spawn::Forked, Trigger::Level, Listen::Keep),
            (Spawn::Forked, Trigger::Edge, Listen::Keep),
            (
                Spawn::Declined,
                Trigger::Level,
                Listen::PauseUntilPoolChange,
            ),
            (Spawn::Declined, Trigger::Edge, Listen::Keep),
        ];
        for (spawn, trigger, want) in table {
            assert_eq!(
                after_wakeup(spawn, trigger, now),
                want,
                "{spawn:?} {trigger}"
            );
        }
    }
}
