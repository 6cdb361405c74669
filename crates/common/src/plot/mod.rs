//! `--plot FILE.svg` (issue 11): the pictures all three tools draw, in one place. A tool
//! maps what it measured to a [`Figure`] (stacked [`Panel`]s of [`Series`] and
//! [`Markers`] on a time or a log-percentile axis); [`render()`] draws it with plotters'
//! SVG backend and embeds the plotted points as JSON in a `<metadata>` element, so that
//! tests (and users) read back exactly what was drawn.
//!
//! - [`path`]: the `--plot` path, checked before the run ([`PlotPath`]);
//! - [`mod@render`]: the figure to SVG text, the "no data" notes included;
//! - [`axis`]: the time and log-percentile axes (x = 1/(1-p)) and the µs/ms choice;
//! - `read` (feature `testing`): a picture read back by the integration tests;
//! - [`client`]: socket-connect's per-interval latency panels, drawn by socket-connect
//!   and by listen-watch around a wrapped socket-connect.

pub mod axis;
pub mod client;
pub mod path;
#[cfg(feature = "testing")]
pub mod read;
pub mod render;

use serde::Serialize;

pub use axis::{LatencyUnit, XAxis};
pub use client::{ClientInterval, PhaseInterval, client_panels};
pub use path::{PlotPath, PlotPathError};
pub use render::{METADATA_ID, PlotError, render};

/// A picture: a title, a line saying what ran, and panels stacked top to bottom.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figure {
    /// What ran, e.g. `epoll-listen-fork: ondemand on 127.0.0.1:9000`.
    pub title: String,
    /// The date (UTC) and the command line, see [`what_ran`].
    pub subtitle: String,
    /// The panels, top to bottom.
    pub panels: Vec<Panel>,
}

/// One chart of a figure.
#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    /// The caption above the chart.
    pub title: String,
    /// The x axis (its label follows from it).
    pub x: XAxis,
    /// The y axis label, with its unit, e.g. `latency (µs)`.
    pub y_label: String,
    /// The lines and areas.
    pub series: Vec<Series>,
    /// Instants drawn as ticks on rows of their own below the series (forks, warnings).
    pub markers: Vec<Markers>,
    /// What the panel says instead when it has no point at all, e.g. `no intervals`.
    pub empty: String,
}

impl Panel {
    /// An empty panel on axis `x`, captioned `title`, saying `empty` until points come.
    pub fn new(title: impl Into<String>, x: XAxis, y_label: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            x,
            y_label: y_label.into(),
            series: Vec::new(),
            markers: Vec::new(),
            empty: "no data".into(),
        }
    }

    /// Sets the note shown when the panel has no point.
    pub fn empty_note(mut self, note: impl Into<String>) -> Self {
        self.empty = note.into();
        self
    }

    /// True when nothing would be drawn: no series point and no marker.
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
            && self.markers.iter().all(|m| m.at.is_empty())
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// Points joined by straight lines (a latency spectrum, per-interval values).
    Line,
    /// A value that holds until the next point (a sampled queue length).
    Step,
    /// A step area stacked on the stacked series before it in the panel (busy, then idle
    /// on top). Stacked series of one panel share their x values; the metadata keeps each
    /// series' own values, not the sums.
    Stacked,
}

/// One named line or area.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// The legend entry, e.g. `p99 corrected`.
    pub name: String,
    /// How it is drawn.
    pub kind: SeriesKind,
    /// `[x, y]` in the panel's units, in x order.
    pub points: Vec<[f64; 2]>,
}

impl Series {
    /// A series of `kind` named `name`.
    pub fn new(name: impl Into<String>, kind: SeriesKind, points: Vec<[f64; 2]>) -> Self {
        Self {
            name: name.into(),
            kind,
            points,
        }
    }
}

/// Instants of one kind, e.g. `fork` or `max_children`.
#[derive(Debug, Clone, Serialize)]
pub struct Markers {
    /// The row's name.
    pub name: String,
    /// The instants, in the x axis' unit (seconds since the start).
    pub at: Vec<f64>,
}

/// The subtitle of a figure: the date (UTC) and the command line as typed, e.g.
/// `2026-12-02T14:40:00Z · socket-connect --count 500 --inet 127.0.0.1:9000 --plot c.svg`.
pub fn what_ran() -> String {
    let args: Vec<String> = std::env::args()
        .enumerate()
        .map(|(i, a)| {
            // The program as its name, not the path it was started by.
            let a = if i == 0 {
                std::path::Path::new(&a)
                    .file_name()
                    .map_or(a.clone(), |n| n.to_string_lossy().into_owned())
            } else {
                a
            };
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a
            }
        })
        .collect();
    format!(
        "{} · {}",
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        args.join(" ")
    )
}
