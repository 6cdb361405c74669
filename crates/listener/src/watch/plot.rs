//! `--plot FILE.svg` for listen-watch (issue 11): the samples mapped to
//! `listenlab_common::plot` panels on one time axis: per listener its accept queue and
//! backlog and its workers (busy and idle stacked); the growth of the system-wide listen
//! overflow and drop counters; and, around a wrapped socket-connect (`--format json`), the
//! client's per-interval latency and counts from its `interval` lines, placed by their
//! unix time on the same axis.

use std::time::{Duration, Instant};

use listenlab_common::plot::{
    self, ClientInterval, Figure, Panel, PlotPath, Series, SeriesKind, XAxis,
};

use super::report::{Line, ListenerView, Summary};
use super::stats::unix_ms;
use crate::netstat::ListenCounters;

/// The most listeners drawn; the title says how many were left out.
const MAX_LISTENERS: usize = 4;

/// How often the netstat counters are read at most (a file read each time).
const NETSTAT_EVERY: Duration = Duration::from_millis(100);

/// One listener's values over time, each point kept when something changed.
#[derive(Debug)]
struct Trace {
    address: String,
    /// `[t_s, queue, backlog, busy, idle]`.
    points: Vec<[f64; 5]>,
    /// When it was last seen, if it went away.
    gone_at: Option<f64>,
}

/// What the picture needs, gathered sample by sample.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    start_unix_ms: u64,
    wrapped: bool,
    /// Whether the command's lines are captured (`--format json`): only then are its
    /// interval lines seen.
    captured: bool,
    /// By inode, in the order first seen.
    traces: Vec<(u64, Trace)>,
    netstat: Option<(Instant, ListenCounters)>,
    /// `[t_s, overflows, drops]`: growth from the previous reading (at `t_s`) to the next.
    overflows: Vec<[f64; 3]>,
    /// When the last reading was taken, seconds.
    last_reading: f64,
    client: Vec<ClientInterval>,
}

impl Recorder {
    /// A recorder for a run that started at `start`; `wrapped` when a command runs,
    /// `captured` when its stdout lines are captured (`--format json`).
    pub fn new(start: Instant, wrapped: bool, captured: bool) -> Self {
        Self {
            start,
            start_unix_ms: unix_ms(),
            wrapped,
            captured,
            traces: Vec::new(),
            netstat: ListenCounters::read().ok().map(|c| (start, c)),
            overflows: Vec::new(),
            last_reading: 0.0,
            client: Vec::new(),
        }
    }

    /// Notes one sample taken at `now`, and the wrapped command's `interval` lines among
    /// the `lines` about to be printed.
    pub fn sample(&mut self, now: Instant, views: &[ListenerView], lines: &[Line]) {
        let t = now.duration_since(self.start).as_secs_f64();
        for trace in &mut self.traces {
            if trace.1.gone_at.is_none() && !views.iter().any(|v| v.inode == trace.0) {
                trace.1.gone_at = Some(t);
            }
        }
        for v in views {
            let values = [
                t,
                f64::from(v.queue),
                f64::from(v.backlog),
                f64::from(v.busy),
                f64::from(v.idle),
            ];
            let trace = match self.traces.iter_mut().find(|(inode, _)| *inode == v.inode) {
                Some((_, trace)) => trace,
                None => {
                    self.traces.push((
                        v.inode,
                        Trace {
                            address: v.address.clone(),
                            points: Vec::new(),
                            gone_at: None,
                        },
                    ));
                    &mut self.traces.last_mut().expect("just pushed").1
                }
            };
            if trace.points.last().is_none_or(|p| p[1..] != values[1..]) {
                trace.points.push(values);
            }
        }
        if let Some((at, before)) = self.netstat
            && now.duration_since(at) >= NETSTAT_EVERY
            && let Ok(counters) = ListenCounters::read()
        {
            let d = counters.since(before);
            // A step over the period the growth happened in, from the previous reading.
            self.overflows
                .push([self.last_reading, d.overflows as f64, d.drops as f64]);
            self.last_reading = t;
            self.netstat = Some((now, counters));
        }
        self.commands(lines);
    }

    /// Keeps the wrapped socket-connect's intervals among `lines`.
    pub fn commands(&mut self, lines: &[Line]) {
        for line in lines {
            if let Line::ClientInterval(window) = line
                && let Ok(interval) =
                    serde_json::to_value(&window.client).and_then(serde_json::from_value)
            {
                self.client.push(interval);
            }
        }
    }

    /// The picture of the run summed up by `summary`.
    pub fn figure(&self, summary: &Summary) -> Figure {
        let end = summary.elapsed_ms / 1000.0;
        let mut panels = Vec::new();
        for (_, trace) in self.traces.iter().take(MAX_LISTENERS) {
            panels.extend(listener_panels(trace, end));
        }
        let mut netstat = Panel::new(
            "listen overflows and drops, system-wide (TcpExt counters, all TCP listeners)",
            XAxis::Time,
            "growth between readings (events)",
        )
        .empty_note("/proc/net/netstat was not read (a run shorter than 100 ms)");
        for (k, name) in [(1, "ListenOverflows"), (2, "ListenDrops")] {
            let mut points: Vec<[f64; 2]> = self.overflows.iter().map(|o| [o[0], o[k]]).collect();
            if let Some(&[_, y]) = points.last() {
                points.push([self.last_reading, y]);
                netstat
                    .series
                    .push(Series::new(name, SeriesKind::Step, points));
            }
        }
        panels.push(netstat);
        if self.wrapped {
            // The client's start, on our axis: its interval ends are stamped in unix time.
            let offset = self.client.first().map_or(0.0, |i| {
                (i.ts as f64 - i.t_ms - self.start_unix_ms as f64) / 1000.0
            });
            let mut client = plot::client_panels(&self.client, offset, "client");
            if !self.captured {
                for panel in &mut client {
                    panel.empty = "the command's interval lines are read with --format json".into();
                }
            }
            panels.extend(client);
        }
        let addresses: Vec<&str> = self
            .traces
            .iter()
            .map(|(_, t)| t.address.as_str())
            .collect();
        let left_out = self.traces.len().saturating_sub(MAX_LISTENERS);
        Figure {
            title: format!(
                "listen-watch: {} ({} samples every {} ms{})",
                if addresses.is_empty() {
                    "no listener".to_owned()
                } else {
                    addresses.join(", ")
                },
                summary.samples,
                summary.interval_ms,
                if left_out > 0 {
                    format!("; {left_out} more listeners not drawn")
                } else {
                    String::new()
                }
            ),
            subtitle: plot::what_ran(),
            panels,
        }
    }

    /// Draws the picture into the `--plot` file; the error names the file.
    pub fn write(&self, path: &PlotPath, summary: &Summary) -> Result<(), String> {
        let failed = |e: &dyn std::fmt::Display| format!("writing the --plot file '{path}': {e}");
        let svg = plot::render(&self.figure(summary)).map_err(|e| failed(&e))?;
        path.write(&svg).map_err(|e| failed(&e))
    }
}

/// A listener's two panels: queue and backlog, workers busy and idle.
fn listener_panels(trace: &Trace, end: f64) -> [Panel; 2] {
    let until = trace.gone_at.unwrap_or(end);
    let column = |k: usize| -> Vec<[f64; 2]> {
        let mut points: Vec<[f64; 2]> = trace.points.iter().map(|p| [p[0], p[k]]).collect();
        if let Some(&[t, y]) = points.last()
            && t < until
        {
            points.push([until, y]);
        }
        points
    };
    let gone = trace
        .gone_at
        .map_or(String::new(), |t| format!(", gone at {t:.3} s"));
    let mut queue = Panel::new(
        format!("{}: accept queue and backlog{gone}", trace.address),
        XAxis::Time,
        "connections",
    );
    queue.series = vec![
        Series::new("accept queue", SeriesKind::Step, column(1)),
        Series::new("backlog", SeriesKind::Step, column(2)),
    ];
    let mut workers = Panel::new(
        format!("{}: workers, busy and idle stacked", trace.address),
        XAxis::Time,
        "workers (processes)",
    )
    .empty_note("no worker process seen");
    let busy = column(3);
    let idle = column(4);
    if busy.iter().chain(&idle).any(|p| p[1] > 0.0) {
        workers.series = vec![
            Series::new("busy", SeriesKind::Stacked, busy),
            Series::new("idle (in accept or epoll_wait)", SeriesKind::Stacked, idle),
        ];
    }
    [queue, workers]
}
