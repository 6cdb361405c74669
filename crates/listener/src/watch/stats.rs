//! What a sampling run remembers per listener: the last values (to print a `sample` line
//! only on change), a one-second roll-up (the `interval` line), and the whole run (max
//! queue and when, queue percentiles in an HDR histogram, most workers and busy workers)
//! for the summary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;

use super::report::{IntervalListener, Line, ListenerView, Presence, SummaryListener};

/// Unix time now, in milliseconds (the `ts` of every line).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The length of one `interval` roll-up.
pub const ROLL_UP: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Roll {
    samples: u64,
    queue_min: u32,
    queue_max: u32,
    queue_sum: u64,
    workers_max: u32,
    busy_max: u32,
    busy_sum: u64,
}

impl Roll {
    fn add(&mut self, v: &ListenerView) {
        if self.samples == 0 {
            self.queue_min = v.queue;
        }
        self.samples += 1;
        self.queue_min = self.queue_min.min(v.queue);
        self.queue_max = self.queue_max.max(v.queue);
        self.queue_sum += u64::from(v.queue);
        self.workers_max = self.workers_max.max(v.workers);
        self.busy_max = self.busy_max.max(v.busy);
        self.busy_sum += u64::from(v.busy);
    }
}

struct Track {
    last: ListenerView,
    gone: bool,
    samples: u64,
    queue: Histogram<u64>,
    max_queue: u32,
    max_queue_at: Duration,
    max_workers: u32,
    max_busy: u32,
    roll: Roll,
    /// Since the last client interval line.
    client_roll: Roll,
}

/// Every listener seen in a run, by inode.
pub struct Tracker {
    start: Instant,
    roll_start: Instant,
    samples: u64,
    tracks: BTreeMap<u64, Track>,
}

impl Tracker {
    /// A tracker whose run starts at `start`.
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            roll_start: start,
            samples: 0,
            tracks: BTreeMap::new(),
        }
    }

    /// Samples taken so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Adds the sample `views` taken at `now`; pushes a `listener` line for each listener
    /// found or gone and a `sample` line for each whose values changed.
    pub fn observe(&mut self, now: Instant, views: &[ListenerView], lines: &mut Vec<Line>) {
        self.samples += 1;
        let ts = unix_ms();
        let since_start = now.duration_since(self.start);
        for (inode, track) in &mut self.tracks {
            if !track.gone && !views.iter().any(|v| v.inode == *inode) {
                track.gone = true;
                lines.push(Line::Listener {
                    ts,
                    state: Presence::Gone,
                    view: track.last.clone(),
                });
            }
        }
        for view in views {
            let track = match self.tracks.get_mut(&view.inode) {
                Some(track) if !track.gone => {
                    let changed = (view.queue, view.backlog, view.workers, view.busy)
                        != (
                            track.last.queue,
                            track.last.backlog,
                            track.last.workers,
                            track.last.busy,
                        );
                    if changed {
                        lines.push(Line::Sample {
                            ts,
                            address: view.address.clone(),
                            inode: view.inode,
                            queue: view.queue,
                            backlog: view.backlog,
                            workers: view.workers,
                            busy: view.busy,
                        });
                    }
                    track
                }
                _ => {
                    lines.push(Line::Listener {
                        ts,
                        state: Presence::Found,
                        view: view.clone(),
                    });
                    let queue = Histogram::new(3).expect("3 significant figures are valid");
                    self.tracks.insert(
                        view.inode,
                        Track {
                            last: view.clone(),
                            gone: false,
                            samples: 0,
                            queue,
                            max_queue: 0,
                            max_queue_at: since_start,
                            max_workers: 0,
                            max_busy: 0,
                            roll: Roll::default(),
                            client_roll: Roll::default(),
                        },
                    );
                    self.tracks.get_mut(&view.inode).expect("just inserted")
                }
            };
            track.samples += 1;
            track.queue.saturating_record(u64::from(view.queue));
            if view.queue > track.max_queue {
                track.max_queue = view.queue;
                track.max_queue_at = since_start;
            }
            track.max_workers = track.max_workers.max(view.workers);
            track.max_busy = track.max_busy.max(view.busy);
            track.roll.add(view);
            track.client_roll.add(view);
            // In place: a clone only when the owners changed (the address is the inode's).
            if track.last.owners != view.owners {
                track.last = view.clone();
            } else {
                track.last.queue = view.queue;
                track.last.backlog = view.backlog;
                track.last.owners_hidden = view.owners_hidden;
                track.last.workers = view.workers;
                track.last.busy = view.busy;
                track.last.idle = view.idle;
            }
        }
    }

    /// The `interval` line when a second has passed since the last one (or `force`, at the
    /// end of a run with samples since), resetting the roll-up.
    pub fn roll_up(&mut self, now: Instant, force: bool) -> Option<Line> {
        let full = now.duration_since(self.roll_start) >= ROLL_UP;
        let any = self.tracks.values().any(|t| t.roll.samples > 0);
        if !(full || force && any) {
            return None;
        }
        self.roll_start = now;
        Some(Line::Interval {
            ts: unix_ms(),
            listeners: self.take(|t| &mut t.roll),
        })
    }

    /// Each listener over the samples since the previous call (a client interval's
    /// window), resetting that roll-up.
    pub fn client_window(&mut self) -> Vec<IntervalListener> {
        self.take(|t| &mut t.client_roll)
    }

    /// The listeners with samples in the roll-up `roll` picks, taking (resetting) it.
    fn take(&mut self, roll: impl Fn(&mut Track) -> &mut Roll) -> Vec<IntervalListener> {
        self.tracks
            .values_mut()
            .filter_map(|t| {
                let r = std::mem::take(roll(t));
                (r.samples > 0).then(|| IntervalListener {
                    address: t.last.address.clone(),
                    inode: t.last.inode,
                    samples: r.samples,
                    queue_min: r.queue_min,
                    queue_max: r.queue_max,
                    queue_mean: r.queue_sum as f64 / r.samples as f64,
                    workers_max: r.workers_max,
                    busy_max: r.busy_max,
                    busy_mean: r.busy_sum as f64 / r.samples as f64,
                })
            })
            .collect()
    }

    /// Every listener over the run, in the order first seen by inode.
    pub fn listeners(&self) -> Vec<SummaryListener> {
        let mut out: Vec<SummaryListener> = self
            .tracks
            .values()
            .map(|t| SummaryListener {
                family: t.last.family,
                address: t.last.address.clone(),
                inode: t.last.inode,
                samples: t.samples,
                queue: t.last.queue,
                backlog: t.last.backlog,
                max_queue: t.max_queue,
                max_queue_at_ms: t.max_queue_at.as_secs_f64() * 1e3,
                queue_p50: t.queue.value_at_quantile(0.5),
                queue_p99: t.queue.value_at_quantile(0.99),
                max_workers: t.max_workers,
                max_busy_workers: t.max_busy,
                pid: t.last.owners.first().map(|o| o.pid),
                process: t.last.owners.first().map(|o| o.process.clone()),
                owners_hidden: t.last.owners_hidden,
                gone: t.gone,
            })
            .collect();
        out.sort_by(|a, b| (a.family, &a.address, a.inode).cmp(&(b.family, &b.address, b.inode)));
        out
    }
}
