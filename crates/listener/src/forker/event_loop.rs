//! The one event loop: a single-threaded parent waiting in epoll on the listener, a signalfd
//! (SIGCHLD, SIGINT, SIGTERM) and the children's doorbell (an eventfd they write after each
//! scoreboard change), with the epoll timeout as its timer (10 ms queue samples while
//! anything is pending, the model's maintenance tick, `--duration`).
//!
//! Each turn: reap exited children and tell the model, report new accepts, hand listener
//! readiness to the model, run due timers, flush the output, and check whether to stop.
//! With level triggering a wakeup that forked nothing pauses the listener
//! (`EPOLL_CTL_MOD` with no events) until a child changes state or exits; otherwise the
//! loop would spin on a connection no child can take yet. Edge-triggered listeners are
//! never paused (PHP-FPM does not either).
//!
//! Stopping: the listener leaves epoll, the queue is sampled one last time, the children
//! get SIGTERM and are reaped (SIGKILL after [`GRACE`]), and the summary is written.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use listenlab_common::report::fork::ForkSummary;
use nix::sys::epoll::EpollFlags;
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::signal::Signal;

use super::Config;
use super::child::ChildSpec;
use super::model::{self, Model};
use super::observer::{Observer, RunInfo};
use super::pool::Pool;
use crate::poller::{Poller, Trigger};
use crate::signals::{drain, signal_fd};
use crate::socket::Listener;

/// How often the accept queue is sampled while anything is pending.
pub const QUEUE_SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// How long children get to exit after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

const LISTENER: u64 = 0;
const SIGNALS: u64 = 1;
const DOORBELL: u64 = 2;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A system call needed to set up or run the loop failed.
    #[error("{what}: {source}")]
    Sys {
        /// The step that failed.
        what: &'static str,
        /// The error.
        #[source]
        source: nix::Error,
    },
    /// Writing events to stdout failed (a closed pipe included).
    #[error("writing events")]
    Output(#[from] io::Error),
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
}

impl Timers {
    fn timeout(&self, now: Instant) -> Option<Duration> {
        [self.next_sample, self.next_tick, self.deadline]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.saturating_duration_since(now))
    }
}

/// Runs the simulator on `listener` until a signal, `--duration` or `--exit-after`, writing
/// events to `out`. Returns the summary it wrote.
pub fn run(
    config: &Config,
    listener: &Listener,
    out: Box<dyn Write>,
) -> Result<ForkSummary, RunError> {
    let start = Instant::now();
    // Block the signals before any child exists; children reset the mask after fork.
    let signals = signal_fd(&[Signal::SIGCHLD, Signal::SIGINT, Signal::SIGTERM])
        .map_err(sys("blocking signals for a signalfd"))?;
    let doorbell = EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
        .map_err(sys("creating the doorbell eventfd"))?;
    let mut model = model::build(config);
    let spec = ChildSpec {
        life: model.child_life(),
        accept: config.accept,
        sleep: config.sleep,
        greet: config.greet,
        max_requests: config.max_requests,
        request_starts: config.request_starts,
        start,
        parent: nix::unistd::getpid(),
    };
    let mut pool = Pool::new(spec, listener, &doorbell, config.max_children)
        .map_err(sys("mapping the scoreboard"))?;
    let mut poller = Poller::new().map_err(sys("creating an epoll instance"))?;
    let listen_flags = config.trigger.flags();
    poller
        .add(listener, listen_flags, LISTENER)
        .map_err(sys("adding the listener to epoll"))?;
    poller
        .add(&signals, EpollFlags::EPOLLIN, SIGNALS)
        .map_err(sys("adding the signalfd to epoll"))?;
    poller
        .add(&doorbell, EpollFlags::EPOLLIN, DOORBELL)
        .map_err(sys("adding the doorbell to epoll"))?;

    let mut obs = Observer::new(out, config.format, start);
    obs.listening(listener.endpoint())?;
    let tick_every = model.tick_every();
    let mut timers = Timers {
        next_sample: None,
        next_tick: tick_every.map(|every| start + every),
        tick_every,
        deadline: config.duration.map(|d| start + d),
    };
    let mut armed = true;

    let reason = loop {
        let ready = poller
            .wait(timers.timeout(Instant::now()))
            .map_err(sys("waiting in epoll"))?;
        let mut stop = None;
        let mut listener_ready = false;
        let mut pool_changed = false;
        let mut child_signal = false;
        for event in &ready {
            match event.token {
                LISTENER => listener_ready = true,
                SIGNALS => {
                    for signal in drain(&signals) {
                        match signal {
                            Signal::SIGCHLD => child_signal = true,
                            other => stop = Some(other.as_str().to_owned()),
                        }
                    }
                }
                DOORBELL => {
                    let _ = doorbell.read(); // resets the counter; the scoreboard has the facts
                    pool_changed = true;
                }
                _ => {} // not ours (cannot happen: three tokens)
            }
        }
        if child_signal {
            for exited in pool.reap(&mut obs)? {
                pool_changed = true;
                model.on_child_exit(&mut pool, &mut obs, &exited)?;
            }
        }
        if pool_changed {
            pool.scan(&mut obs)?;
        }
        if listener_ready && stop.is_none() {
            obs.wakeup(ready.len() as u32)?;
            let forked = model.on_wakeup(&mut pool, &mut obs)?;
            timers.next_sample.get_or_insert_with(Instant::now);
            if !forked && config.trigger == Trigger::Level {
                poller
                    .modify(listener, EpollFlags::empty(), LISTENER)
                    .map_err(sys("pausing the listener"))?;
                armed = false;
            }
        } else if !armed && pool_changed {
            poller
                .modify(listener, listen_flags, LISTENER)
                .map_err(sys("re-arming the listener"))?;
            armed = true;
        }
        run_timers(&mut timers, model.as_mut(), &mut pool, &mut obs, listener)?;
        let now = Instant::now();
        if stop.is_none() && timers.deadline.is_some_and(|d| now >= d) {
            stop = Some("duration".to_owned());
        }
        if stop.is_none()
            && config
                .exit_after
                .is_some_and(|n| obs.counts().accepted >= n)
        {
            stop = Some("exit-after".to_owned());
        }
        obs.flush()?;
        if let Some(reason) = stop {
            break reason;
        }
    };

    let _ = poller.delete(listener);
    pool.scan(&mut obs)?;
    let pending_at_exit = u64::from(obs.sample_queue(listener)?);
    obs.stopping(&reason, pool.running())?;
    obs.flush()?;
    pool.stop_all(&mut obs, GRACE)?;
    let info = RunInfo {
        model: model.name(),
        trigger: config.trigger.name(),
        accept: config.accept.name(),
        addr: listener.endpoint().to_string(),
        stop_reason: reason,
        pending_at_exit,
    };
    // Every child is reaped by now, so the counts must add up (checked in test builds).
    debug_assert_eq!(obs.counts().check(), Ok(()));
    Ok(obs.summary(info)?)
}

/// Runs whatever timers are due: the queue sample (rescheduled while anything is pending)
/// and the model's maintenance tick.
fn run_timers(
    timers: &mut Timers,
    model: &mut dyn Model,
    pool: &mut Pool<'_>,
    obs: &mut Observer,
    listener: &Listener,
) -> io::Result<()> {
    let now = Instant::now();
    if timers.next_sample.is_some_and(|t| now >= t) {
        let len = obs.sample_queue(listener)?;
        let pending = len > 0 || pool.running() > 0;
        timers.next_sample = pending.then(|| now + QUEUE_SAMPLE_EVERY);
    }
    if let (Some(next), Some(every)) = (timers.next_tick, timers.tick_every)
        && now >= next
    {
        model.on_tick(pool, obs)?;
        // Skip missed ticks rather than running them back to back.
        let mut due = next + every;
        while due <= now {
            due += every;
        }
        timers.next_tick = Some(due);
    }
    Ok(())
}
