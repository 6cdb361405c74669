//! The sampling loop: a sample every `--interval` (the wait is a `sigtimedwait` for
//! SIGINT/SIGTERM, so either ends it at once), JSON lines as values change and once a second, a
//! status line on a terminal, and the summary when `--duration` ends, a signal arrives or
//! the wrapped command exits.
//!
//! With a command, a signal is passed on to it and sampling goes on until it exits (at
//! most [`STOP_GRACE`] later, then it is killed): the summary then covers the whole load.
//! In JSON mode its captured stdout lines join the timeline at each sample, stamped with
//! the time they arrived. A wrapped socket-connect `--format json` is captured in text mode
//! too (its lines passed on as they come), so that its interval lines can be set beside
//! the server's samples of the same window ([`ClientWindow`]).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use listenlab_common::Format;
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{SigSet, Signal};

use super::WatchError;
use super::cli::Config;
use super::client::{self, ClientLine};
use super::plot::Recorder;
use super::report::{ClientWindow, CommandOutput, Line, ListenerView, Summary};
use super::sampler::Sampler;
use super::stats::{Tracker, unix_ms};
use super::text;
use super::wrap::Wrapped;
use crate::netstat::ListenCounters;
use crate::signals;

/// How long a wrapped command gets to exit after a signal or the end of `--duration`.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often the status line is redrawn at most.
const STATUS_EVERY: Duration = Duration::from_millis(100);

/// Runs the loop from the first sample (`first`, taken at `start`); returns the summary.
pub fn run(
    config: &Config,
    mut sampler: Sampler,
    first: Vec<ListenerView>,
    start: Instant,
    out: &mut impl Write,
) -> Result<Summary, WatchError> {
    let netstat_start = ListenCounters::read().ok();
    let json = config.format == Format::Json;
    let mut client = Client::default();
    let capture = json || client::is_socket_connect_json(&config.command);
    let mut child = if config.command.is_empty() {
        None
    } else {
        Some(
            Wrapped::spawn(&config.command, capture).map_err(|source| WatchError::Spawn {
                command: config.command[0].to_string_lossy().into_owned(),
                source,
            })?,
        )
    };
    // After the spawn, so the command starts with the default mask (wrap.rs).
    let stop_signals = signals::block(&[Signal::SIGINT, Signal::SIGTERM])
        .map_err(|e| WatchError::io("blocking SIGINT and SIGTERM", e.into()))?;
    let show_status = !json && std::io::stderr().is_terminal();
    let mut status_at: Option<Instant> = None;
    let mut tracker = Tracker::new(start);
    let mut lines = Vec::new();
    let mut plot = config
        .plot
        .as_ref()
        .map(|_| Recorder::new(start, child.is_some(), json));
    if let Some(p) = &mut plot {
        p.sample(start, &first, &[]);
    }
    tracker.observe(start, &first, &mut lines);
    let mut views = first;
    emit(out, json, &mut lines)?;
    let deadline = config.duration.map(|d| start + d);
    let mut next = start + config.interval;
    let mut stop_at: Option<Instant> = None;
    let mut code = None;
    loop {
        if let Some(signal) = wait_until(&stop_signals, next) {
            match &child {
                Some(c) => c.signal(signal),
                None => stop_at = Some(Instant::now()),
            }
            stop_at.get_or_insert(Instant::now() + STOP_GRACE);
        }
        if let Some(c) = &mut child {
            code = c
                .try_exit()
                .map_err(|e| WatchError::io("waiting for the command", e))?;
            client.take(c, &mut tracker, &mut lines, json, out)?;
        }
        let now = Instant::now();
        sampler
            .sample(now, &mut views)
            .map_err(|e| WatchError::io("reading sock_diag", e))?;
        if show_status && status_at.is_none_or(|at| now.duration_since(at) >= STATUS_EVERY) {
            status_at = Some(now);
            let _ = write!(std::io::stderr(), "\r\x1b[K{}", text::status(&views));
        }
        if let Some(p) = &mut plot {
            p.sample(now, &views, &lines);
        }
        tracker.observe(now, &views, &mut lines);
        lines.extend(tracker.roll_up(now, false));
        emit(out, json, &mut lines)?;
        if deadline.is_some_and(|d| now >= d) && stop_at.is_none() {
            if let Some(c) = &child {
                c.signal(Signal::SIGTERM);
            }
            stop_at = Some(now + STOP_GRACE);
        }
        let stop_due = stop_at.is_some_and(|at| now >= at);
        let done = match &child {
            Some(_) => code.is_some() || stop_due,
            None => stop_at.is_some(),
        };
        if done {
            break;
        }
        next += config.interval;
        if next < now {
            next = now + config.interval; // we fell behind: skip, do not burst
        }
    }
    if let Some(c) = &mut child
        && code.is_none()
    {
        code = Some(
            c.finish(Duration::ZERO)
                .map_err(|e| WatchError::io("stopping the command", e))?,
        );
    }
    if let Some(c) = &mut child {
        client.take(c, &mut tracker, &mut lines, json, out)?;
    }
    if let Some(p) = &mut plot {
        p.commands(&lines);
    }
    if show_status {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    let end = Instant::now();
    lines.extend(tracker.roll_up(end, true));
    emit(out, json, &mut lines)?;
    let netstat = match (netstat_start, ListenCounters::read().ok()) {
        (Some(a), Some(b)) => b.since(a).into(),
        _ => Default::default(),
    };
    let elapsed_ms = end.duration_since(start).as_secs_f64() * 1e3;
    let own_cpu_ms = own_cpu().as_secs_f64() * 1e3;
    let summary = Summary {
        ts: unix_ms(),
        elapsed_ms,
        samples: tracker.samples(),
        interval_ms: config.interval.as_secs_f64() * 1e3,
        own_cpu_ms,
        own_cpu_percent: if elapsed_ms > 0.0 {
            100.0 * own_cpu_ms / elapsed_ms
        } else {
            0.0
        },
        listeners: tracker.listeners(),
        unreadable: sampler.unreadable(),
        netstat,
        idle_wchans: sampler.places().clone(),
        command_exit_code: code,
        client: client.report,
        client_intervals: client.windows,
    };
    if let (Some(p), Some(path)) = (&plot, &config.plot) {
        p.write(path, &summary).map_err(WatchError::Plot)?;
    }
    Ok(summary)
}

/// This process's CPU time so far, user and system, every thread (getrusage(2)
/// `RUSAGE_SELF`; zero if it cannot be read).
fn own_cpu() -> Duration {
    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return Duration::ZERO;
    };
    [usage.user_time(), usage.system_time()]
        .into_iter()
        .map(|t| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000))
        .sum()
}

/// Waits until `next` or one of `signals` (blocked), whichever comes first, and returns
/// the signal if one came: one `sigtimedwait` per sample, whose timespec keeps a 1 ms
/// interval 1 ms (a millisecond `poll` timeout rounded up would make it 2 ms). With no time
/// left it does not wait, but still takes a pending signal.
fn wait_until(signals: &SigSet, next: Instant) -> Option<Signal> {
    signals::wait_for(signals, next.saturating_duration_since(Instant::now()))
}

/// What the wrapped command's captured lines gave for the summary.
#[derive(Default)]
struct Client {
    /// The last JSON object that is not an event line (socket-connect's report).
    report: Option<serde_json::Value>,
    /// Its interval lines, each beside the server's window.
    windows: Vec<ClientWindow>,
}

impl Client {
    /// Moves the command's captured lines onto the timeline: an interval line of
    /// socket-connect becomes a `client_interval` line with the listeners' window since
    /// the previous one, anything else a `command` line (JSON mode). In text mode each
    /// line is passed on to `out` as it came.
    fn take(
        &mut self,
        c: &mut Wrapped,
        tracker: &mut Tracker,
        lines: &mut Vec<Line>,
        json: bool,
        out: &mut impl Write,
    ) -> Result<(), WatchError> {
        for (ts, text) in c.captured() {
            if !json {
                writeln!(out, "{text}").map_err(|e| WatchError::io("writing to stdout", e))?;
            }
            let output = match client::classify(&text) {
                ClientLine::Interval(interval) => {
                    let window = ClientWindow {
                        ts,
                        client: *interval,
                        listeners: tracker.client_window(),
                    };
                    lines.push(Line::ClientInterval(Box::new(window.clone())));
                    self.windows.push(window);
                    continue;
                }
                ClientLine::Report(value) => {
                    self.report = Some(value.clone());
                    CommandOutput::Json(value)
                }
                ClientLine::Json(value) => CommandOutput::Json(value),
                ClientLine::Text(text) => CommandOutput::Text(text),
            };
            lines.push(Line::Command { ts, output });
        }
        Ok(())
    }
}

/// Writes the JSON `lines` (text mode prints none of them) and clears them.
fn emit(out: &mut impl Write, json: bool, lines: &mut Vec<Line>) -> Result<(), WatchError> {
    if json && !lines.is_empty() {
        let mut text = String::new();
        for line in lines.iter() {
            text += &serde_json::to_string(line).expect("report lines serialize");
            text.push('\n');
        }
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| WatchError::io("writing to stdout", e))?;
    }
    lines.clear();
    Ok(())
}
