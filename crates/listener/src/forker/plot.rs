//! `--plot FILE.svg` for epoll-listen-fork (issue 11): what the observer saw, mapped to
//! `listenlab_common::plot` panels on one time axis: the children (busy and idle
//! stacked), the accept queue, accepts per interval, and the instants of forks,
//! max_children and seems-busy warnings and idle kills.
//!
//! The observer hands every event to a [`Timeline`] (when `--plot` is given) and the loop
//! adds the pool's census each turn; nothing here changes what is printed.

use std::time::Duration;

use listenlab_common::plot::{self, Figure, Markers, Panel, PlotPath, Series, SeriesKind, XAxis};

use super::event::Event;
use super::report::{ForkSummary, IdleSignal, label};

/// What the picture needs, gathered while the run goes.
#[derive(Debug, Default)]
pub struct Timeline {
    /// `[t_s, active, idle]` whenever the census changed.
    children: Vec<[f64; 3]>,
    /// `[t_s, len]` whenever the accept queue changed length.
    queue: Vec<[f64; 2]>,
    /// The effective backlog, from the queue samples.
    backlog: Option<u32>,
    /// `(t_s, batch)`: when children accepted, by the scoreboard's accept times.
    accepts: Vec<(f64, u64)>,
    forks: Vec<f64>,
    max_children: Vec<f64>,
    seems_busy: Vec<f64>,
    idle_quit: Vec<f64>,
    idle_kill: Vec<f64>,
}

impl Timeline {
    /// Notes `event`, emitted at `t_ms` since the start.
    pub fn record(&mut self, t_ms: f64, event: &Event) {
        let t = t_ms / 1000.0;
        match event {
            Event::Forked(_) => self.forks.push(t),
            Event::MaxChildren { .. } => self.max_children.push(t),
            Event::SeemsBusy(_) => self.seems_busy.push(t),
            Event::IdleKill(k) => match k.signal {
                IdleSignal::Sigquit => self.idle_quit.push(t),
                IdleSignal::Sigkill => self.idle_kill.push(t),
            },
            Event::Queue { len, max } => {
                self.queue.push([t, f64::from(*len)]);
                self.backlog = Some(*max);
            }
            Event::Accepted(a) => self.accepts.push((a.accepted_at.as_secs_f64(), a.batch)),
            _ => {}
        }
    }

    /// Notes the pool's census at `t_ms`: `active` children (starting or busy) and `idle`
    /// ones (waiting in accept); kept only when it changed.
    pub fn census(&mut self, t_ms: f64, active: u64, idle: u64) {
        let (a, i) = (active as f64, idle as f64);
        if self.children.last().is_some_and(|c| c[1] == a && c[2] == i) {
            return;
        }
        self.children.push([t_ms / 1000.0, a, i]);
    }
}

/// The width of the accepts-per-interval bins for a run of `elapsed`: a 1-2-5 step giving
/// at most about 60 bins.
fn bin_width(elapsed: Duration) -> Duration {
    let target = elapsed.as_secs_f64() / 60.0;
    let mut unit = 0.001;
    loop {
        for step in [1.0, 2.0, 5.0] {
            if step * unit >= target {
                return Duration::from_secs_f64(step * unit);
            }
        }
        unit *= 10.0;
    }
}

/// A bin width as the captions say it: `50 ms`, `2 s`.
fn per_label(width: Duration) -> String {
    if width < Duration::from_secs(1) {
        format!("{} ms", width.as_millis())
    } else {
        format!("{} s", width.as_secs())
    }
}

/// `[bin start, accepts in the bin]`, then the end at the last count (a step series).
fn accepts_per_bin(accepts: &[(f64, u64)], elapsed: f64, width: f64) -> Vec<[f64; 2]> {
    let bins = ((elapsed / width).ceil() as usize).max(1);
    let mut counts = vec![0u64; bins];
    for &(t, n) in accepts {
        let i = ((t / width) as usize).min(bins - 1);
        counts[i] += n;
    }
    let mut points: Vec<[f64; 2]> = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| [i as f64 * width, n as f64])
        .collect();
    points.push([bins as f64 * width, *counts.last().unwrap_or(&0) as f64]);
    points
}

/// A step series held to `end`: its points, then its last value at `end`.
fn held_to(mut points: Vec<[f64; 2]>, end: f64) -> Vec<[f64; 2]> {
    if let Some(&[t, y]) = points.last()
        && t < end
    {
        points.push([end, y]);
    }
    points
}

/// The picture of a run: what ran, then the timeline's panels.
pub fn figure(timeline: &Timeline, summary: &ForkSummary) -> Figure {
    let end = summary.elapsed_ms / 1000.0;
    let t = timeline;
    let mut children = Panel::new(
        format!(
            "children: busy and idle, stacked (most at once: {})",
            summary.counts.max_concurrent_children
        ),
        XAxis::Time,
        "children (processes)",
    )
    .empty_note("no child ran");
    let column = |k: usize| {
        let points = t.children.iter().map(|c| [c[0], c[k]]).collect();
        held_to(points, end)
    };
    if summary.counts.forks > 0 {
        children.series = vec![
            Series::new("busy or starting", SeriesKind::Stacked, column(1)),
            Series::new("idle (in accept)", SeriesKind::Stacked, column(2)),
        ];
    }
    let backlog = t
        .backlog
        .or(summary.backlog_effective)
        .map_or(String::new(), |b| format!(", backlog {b}"));
    let mut queue = Panel::new(
        format!(
            "accept queue (longest {}{backlog})",
            summary.max_listen_queue
        ),
        XAxis::Time,
        "queued (connections)",
    )
    .empty_note("the accept queue was never sampled");
    if !t.queue.is_empty() {
        queue.series = vec![Series::new(
            "accept queue",
            SeriesKind::Step,
            held_to(t.queue.clone(), end),
        )];
    }
    let width = bin_width(Duration::from_secs_f64(end.max(0.001)));
    let per = per_label(width);
    let mut accepts = Panel::new(
        format!("accepts per {per} ({} in all)", summary.counts.accepted),
        XAxis::Time,
        format!("accepts per {per} (connections)"),
    )
    .empty_note("no connection was accepted");
    if !t.accepts.is_empty() {
        accepts.series = vec![Series::new(
            "accepted",
            SeriesKind::Step,
            accepts_per_bin(&t.accepts, end, width.as_secs_f64()),
        )];
    }
    let row = |name: &str, at: &[f64]| Markers {
        name: name.into(),
        at: at.to_vec(),
    };
    let mut events = Panel::new("forks, warnings and idle kills", XAxis::Time, "")
        .empty_note("no fork, warning or idle kill");
    events.markers = vec![
        row("fork", &t.forks),
        row("max_children", &t.max_children),
        row("seems busy", &t.seems_busy),
        row("idle kill (SIGQUIT)", &t.idle_quit),
        row("idle kill (SIGKILL)", &t.idle_kill),
    ];
    Figure {
        title: format!(
            "epoll-listen-fork: {} model on {} ({} forks, {} accepted, stopped by {})",
            label(&summary.model),
            summary.addr,
            summary.counts.forks,
            summary.counts.accepted,
            label(&summary.stop_reason),
        ),
        subtitle: plot::what_ran(),
        panels: vec![children, queue, accepts, events],
    }
}

/// Why the picture could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing the --plot file '{path}': {why}")]
pub struct PlotWriteError {
    path: String,
    // Not named `source`: the message already includes it, and `{err:#}` would repeat it.
    why: Box<dyn std::error::Error + Send + Sync>,
}

/// Draws the run's picture into the `--plot` file.
pub fn write(
    path: &PlotPath,
    timeline: &Timeline,
    summary: &ForkSummary,
) -> Result<(), PlotWriteError> {
    let failed = |why: Box<dyn std::error::Error + Send + Sync>| PlotWriteError {
        path: path.to_string(),
        why,
    };
    let svg = plot::render(&figure(timeline, summary)).map_err(|e| failed(e.into()))?;
    path.write(&svg).map_err(|e| failed(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_follow_a_1_2_5_step() {
        assert_eq!(bin_width(Duration::from_secs(3)), Duration::from_millis(50));
        assert_eq!(
            bin_width(Duration::from_millis(10)),
            Duration::from_millis(1)
        );
        assert_eq!(bin_width(Duration::from_secs(100)), Duration::from_secs(2));
    }

    #[test]
    fn accepts_are_counted_in_their_bin_and_the_step_ends_at_the_run_end() {
        let points = accepts_per_bin(&[(0.1, 2), (0.6, 1), (1.6, 3)], 1.6, 0.5);
        assert_eq!(
            points,
            vec![[0.0, 2.0], [0.5, 1.0], [1.0, 0.0], [1.5, 3.0], [2.0, 3.0]]
        );
        let total: f64 = points[..points.len() - 1].iter().map(|p| p[1]).sum();
        assert_eq!(total, 6.0);
    }

    #[test]
    fn the_census_keeps_changes_only() {
        let mut t = Timeline::default();
        t.census(0.0, 0, 1);
        t.census(5.0, 0, 1);
        t.census(9.0, 1, 0);
        assert_eq!(t.children, vec![[0.0, 0.0, 1.0], [0.009, 1.0, 0.0]]);
    }
}
