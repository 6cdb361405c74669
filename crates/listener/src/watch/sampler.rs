//! One sample: the listeners the targets select, each with its queue and backlog
//! (sock_diag, [`crate::diag`]), its owners and workers (from the last `/proc` scan) and
//! how many workers are busy (their state and wchan, read every sample).
//!
//! Two periods: every [`OWNER_REFRESH`] a full dump of every listener finds the ones the
//! targets select (a listener that appears later is found then) and `/proc` is scanned
//! for their holders (theirs only, [`owners::Scanner`]). In between, the known listeners
//! are read again as [`Lookups`] decides once per dump: each TCP listener looked up on its
//! own by address and socket cookie (a hash lookup in the kernel, where a dump walks the
//! whole listening table: 16384 buckets here, per family), unix ones by inode, or, from
//! two on, from one dump of the unix listeners (each lookup by inode walks the kernel's
//! whole unix socket table). A listener that is not found falls back to a full dump; if
//! that dump still has it (a `SO_REUSEPORT` group, where the lookup picks another
//! member), every sample dumps from then on.

use std::collections::{HashMap, HashSet};
use std::io;
use std::time::{Duration, Instant};

use super::owners::{self, OwnerMap};
use super::report::{Family, ListenerView, Owner, Unreadable};
use super::targets::Target;
use super::workers::{IdlePlaces, TaskFiles, TaskNow, WorkerState};
use crate::diag::{Diag, DiagListener, Lookups};

/// How often the owners are looked up again: a `/proc` scan reads every fd of every
/// process, far more than a sample, and servers fork workers on a scale of seconds.
pub const OWNER_REFRESH: Duration = Duration::from_millis(500);

/// Takes samples of the selected listeners.
pub struct Sampler {
    diag: Diag,
    targets: Vec<Target>,
    places: IdlePlaces,
    tcp: bool,
    unix: bool,
    owners: OwnerMap,
    /// The sockets the last `/proc` refresh looked for: the selected listeners only.
    scanned: HashSet<u64>,
    /// For each `--pid`, the listeners it holds, from its own fd table (read on each dump
    /// that is due or has a listener not seen by the previous read).
    pid_holds: HashMap<u32, HashSet<u64>>,
    /// The listeners of the dump `pid_holds` was read for.
    pid_checked: HashSet<u64>,
    scanned_at: Option<Instant>,
    /// Full or partial `/proc` scans ([`owners::Scanner`]).
    scanner: owners::Scanner,
    /// The open `/proc` files of every worker, from the last scan, by pid.
    tasks: Vec<(u32, TaskFiles)>,
    /// Each worker's state in the current sample (by its place in `tasks`), read once
    /// however many listeners it works for.
    states: Vec<Seen>,
    /// The selected listeners of the last dump, read again every sample until the next
    /// (their counts updated in place).
    known: Vec<DiagListener>,
    /// Their lookups, serialized once per dump.
    lookups: Lookups,
    /// For each of `known`, its workers: the place of each in `tasks` (`None`: its files
    /// could not be opened) and whether one of its epoll instances watches the listener.
    /// Built once per dump, so that a sample looks nothing up by pid or inode.
    plan: Vec<Vec<(Option<usize>, bool)>>,
    /// Their addresses as printed, by inode: formatted once per dump, not per sample.
    addresses: HashMap<u64, String>,
    /// Exact lookups missed a listener that was still there: dump every sample.
    dump_always: bool,
    /// We run as root ([`owners::as_root`]).
    as_root: bool,
    /// Each listener's owners and workers, from the last `/proc` refresh.
    roles: HashMap<u64, Roles>,
    /// Counts the refreshes that changed the owners.
    generation: u64,
    /// The generation the views of the last sample were built with.
    roles_of: u64,
}

impl Sampler {
    /// A sampler for `targets` (empty: every listener), counting workers idle at `places`.
    pub fn new(targets: Vec<Target>, places: IdlePlaces) -> io::Result<Self> {
        let (tcp, unix) = if targets.is_empty() {
            (true, true)
        } else {
            targets.iter().fold((false, false), |(t, u), target| {
                let (tt, uu) = target.families();
                (t || tt, u || uu)
            })
        };
        Ok(Self {
            diag: Diag::open()?,
            targets,
            places,
            tcp,
            unix,
            owners: OwnerMap::default(),
            scanned: HashSet::new(),
            pid_holds: HashMap::new(),
            pid_checked: HashSet::new(),
            scanned_at: None,
            scanner: owners::Scanner::default(),
            tasks: Vec::new(),
            states: Vec::new(),
            known: Vec::new(),
            lookups: Lookups::default(),
            plan: Vec::new(),
            addresses: HashMap::new(),
            dump_always: false,
            as_root: owners::as_root(),
            roles: HashMap::new(),
            generation: 0,
            roles_of: 0,
        })
    }

    /// The wchan names counted as idle.
    pub fn places(&self) -> &IdlePlaces {
        &self.places
    }

    /// The processes whose open files the last `/proc` scan could not read.
    pub fn unreadable(&self) -> Unreadable {
        Unreadable {
            as_root: self.as_root,
            processes: self.owners.hidden,
            pids: self.owners.hidden_pids(Unreadable::LISTED),
        }
    }

    /// Every listener of the families the targets need, as the kernel reports them now.
    pub fn dump(&mut self) -> io::Result<Vec<DiagListener>> {
        let mut all = Vec::new();
        if self.tcp {
            self.diag.tcp_listeners(&mut all)?;
        }
        if self.unix {
            self.diag.unix_listeners(&mut all)?;
        }
        Ok(all)
    }

    /// The message for each target that selects no listener in `all` (see
    /// [`Sampler::sample_from`]); empty when every target selects one.
    pub fn unmatched(&self, all: &[DiagListener]) -> Vec<String> {
        self.targets
            .iter()
            .filter(|t| !all.iter().any(|l| self.selected_by(t, l)))
            .map(|t| t.no_match(all))
            .collect()
    }

    fn selected_by(&self, target: &Target, l: &DiagListener) -> bool {
        target.selects(l, |pid| {
            self.pid_holds
                .get(&pid)
                .is_some_and(|held| held.contains(&l.inode))
        })
    }

    /// Takes one sample into `views` (the previous sample's, updated in place: between
    /// two `/proc` refreshes a sample of TCP listeners allocates nothing of its own).
    ///
    /// The workers are read before the queues: a sample is not atomic, and read the other
    /// way round a connection arriving in between (waking a worker) showed as "queue 0,
    /// all workers busy" before any worker had taken it (seen with both cores busy: the
    /// PHP-FPM test then sent its second wave too early). Read first, a busy worker was
    /// busy before the queue was read, and a queued connection arrived before it was.
    pub fn sample(&mut self, now: Instant, views: &mut Vec<ListenerView>) -> io::Result<()> {
        let due = self
            .scanned_at
            .is_none_or(|at| now.duration_since(at) >= OWNER_REFRESH);
        self.read_states();
        if !due && !self.dump_always && self.lookup()? {
            let known = std::mem::take(&mut self.known);
            self.views(known.iter(), views);
            self.known = known;
            return Ok(());
        }
        let all = self.dump()?;
        if !due && !self.dump_always {
            // A lookup missed: dump from now on if that listener is still there.
            self.dump_always = self
                .known
                .iter()
                .all(|k| all.iter().any(|l| l.inode == k.inode));
        }
        let selected = self.select(now, &all);
        self.views(selected.iter(), views);
        Ok(())
    }

    /// Reads the state of every worker of the known listeners (they are all in `tasks`).
    fn read_states(&mut self) {
        let places = &self.places;
        self.states.clear();
        self.states.extend(
            self.tasks
                .iter()
                .map(|(_, t)| Seen::Read(t.now(|wchan| places.needs_state(wchan)))),
        );
    }

    /// The counts of each known listener read again, in place ([`Diag::refresh`]); false
    /// if one is not found (gone, or another socket on its address).
    fn lookup(&mut self) -> io::Result<bool> {
        self.diag.refresh(&mut self.lookups, &mut self.known)
    }

    /// The selected listeners of `all` (a dump), with owners and workers: the first
    /// sample, taken from the dump that also checks the targets.
    pub fn sample_from(&mut self, now: Instant, all: &[DiagListener]) -> Vec<ListenerView> {
        let selected = self.select(now, all);
        let mut views = Vec::new();
        self.states.iter_mut().for_each(|s| *s = Seen::NotYet);
        self.views(selected.iter(), &mut views);
        views
    }

    /// Selects from a dump (scanning `/proc` when due) and remembers the selection.
    ///
    /// Only the selected listeners' holders are looked for: wanting every listener of the
    /// machine made each new listener anywhere (another program's tests) a full `/proc`
    /// scan. A `--pid` target's listeners come from that process's own fd table.
    fn select(&mut self, now: Instant, all: &[DiagListener]) -> Vec<DiagListener> {
        let due = self
            .scanned_at
            .is_none_or(|at| now.duration_since(at) >= OWNER_REFRESH);
        let pids: Vec<u32> = self
            .targets
            .iter()
            .filter_map(|t| match t {
                Target::Pid(pid) => Some(*pid),
                _ => None,
            })
            .collect();
        if !pids.is_empty() && (due || all.iter().any(|l| !self.pid_checked.contains(&l.inode))) {
            self.pid_checked = all.iter().map(|l| l.inode).collect();
            self.pid_holds = pids
                .into_iter()
                .map(|pid| (pid, owners::sockets_of(pid, &self.pid_checked)))
                .collect();
        }
        let mut selected: Vec<DiagListener> = all
            .iter()
            .filter(|l| {
                self.targets.is_empty() || self.targets.iter().any(|t| self.selected_by(t, l))
            })
            .cloned()
            .collect();
        let wanted: HashSet<u64> = selected.iter().map(|l| l.inode).collect();
        if due || !wanted.is_subset(&self.scanned) {
            self.rescan(wanted, now);
        }
        selected.sort_by(|a, b| {
            (a.addr.is_unix(), &a.addr, a.inode).cmp(&(b.addr.is_unix(), &b.addr, b.inode))
        });
        self.addresses = selected
            .iter()
            .map(|l| (l.inode, l.addr.to_string()))
            .collect();
        self.known = selected.clone();
        self.lookups = Lookups::new(&self.known);
        self.plan = self
            .known
            .iter()
            .map(|l| {
                let workers = self.roles.get(&l.inode).map_or(&[][..], |r| &r.workers);
                workers
                    .iter()
                    .map(|&(pid, epoll_watches)| {
                        let at = self.tasks.binary_search_by_key(&pid, |(p, _)| *p).ok();
                        (at, epoll_watches)
                    })
                    .collect()
            })
            .collect();
        selected
    }

    /// Fills `views` with the views of `selected` (the known listeners, in order, as just
    /// read), keeping each view whose listener and owners are unchanged and updating only
    /// its counts. Workers' states already in `self.states` (read at the start of the
    /// sample) are used as read.
    fn views<'a>(
        &mut self,
        selected: impl Iterator<Item = &'a DiagListener>,
        views: &mut Vec<ListenerView>,
    ) {
        let mut n = 0;
        for l in selected {
            match views.get_mut(n) {
                Some(v) if v.inode == l.inode && self.roles_of == self.generation => {
                    self.update(n, l, v)
                }
                Some(v) => *v = self.view(n, l),
                None => {
                    let view = self.view(n, l);
                    views.push(view)
                }
            }
            n += 1;
        }
        views.truncate(n);
        self.roles_of = self.generation;
    }

    fn rescan(&mut self, wanted: HashSet<u64>, now: Instant) {
        self.scanned = wanted;
        let owners = self.scanner.refresh(&self.scanned, &self.owners, now);
        if owners != self.owners {
            self.generation += 1;
        }
        self.owners = owners;
        self.roles = self
            .owners
            .by_inode
            .keys()
            .map(|&inode| {
                let (owners, workers) = self.owners.roles(inode);
                let owners = owners
                    .iter()
                    .map(|h| Owner {
                        pid: h.pid,
                        process: h.process.clone(),
                    })
                    .collect();
                let workers = workers.iter().map(|h| (h.pid, h.epoll_watches)).collect();
                (inode, Roles { owners, workers })
            })
            .collect();
        self.scanned_at = Some(now);
        // The workers' files: kept open across scans for the workers that stay (with the
        // state read this sample), opened for new ones.
        let mut pids: Vec<u32> = self
            .roles
            .values()
            .flat_map(|r| r.workers.iter().map(|&(pid, _)| pid))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        let mut old: HashMap<u32, (TaskFiles, Seen)> = self
            .tasks
            .drain(..)
            .zip(self.states.drain(..).chain(std::iter::repeat(Seen::NotYet)))
            .map(|((pid, files), seen)| (pid, (files, seen)))
            .collect();
        for pid in pids {
            let kept = old.remove(&pid).or_else(|| {
                TaskFiles::open(&format!("/proc/{pid}")).map(|files| (files, Seen::NotYet))
            });
            if let Some((files, seen)) = kept {
                self.tasks.push((pid, files));
                self.states.push(seen);
            }
        }
    }

    /// A new view of `l`, the `at`-th known listener.
    fn view(&mut self, at: usize, l: &DiagListener) -> ListenerView {
        let roles = self.roles.get(&l.inode);
        let owners = roles.map(|r| r.owners.clone()).unwrap_or_default();
        let mut view = ListenerView {
            family: if l.addr.is_unix() {
                Family::Unix
            } else {
                Family::Tcp
            },
            address: self
                .addresses
                .get(&l.inode)
                .cloned()
                .unwrap_or_else(|| l.addr.to_string()),
            inode: l.inode,
            queue: 0,
            backlog: 0,
            owners_hidden: owners.is_empty() && self.owners.hidden > 0,
            owners,
            workers: 0,
            busy: 0,
            idle: 0,
        };
        self.update(at, l, &mut view);
        view
    }

    /// Updates the counts of `view` (a view of `l`, the `at`-th known listener, with
    /// current owners): queue, backlog, and the workers' states, read now if not yet
    /// read this sample.
    fn update(&mut self, at: usize, l: &DiagListener, view: &mut ListenerView) {
        let unix = l.addr.is_unix();
        let (mut busy, mut idle, mut workers) = (0, 0, 0);
        let (tasks, places, states) = (&self.tasks, &self.places, &mut self.states);
        for &(task, epoll_watches) in self.plan.get(at).map_or(&[][..], |w| w) {
            workers += 1;
            let state = task.and_then(|t| {
                let seen = &mut states[t];
                if let Seen::NotYet = seen {
                    *seen = Seen::Read(tasks[t].1.now(|wchan| places.needs_state(wchan)));
                }
                match *seen {
                    Seen::Read(now) => now,
                    Seen::NotYet => None,
                }
            });
            match places.classify(state, unix, epoll_watches) {
                WorkerState::Busy => busy += 1,
                WorkerState::Idle => idle += 1,
                WorkerState::Unknown => {}
            }
        }
        view.queue = l.queue;
        view.backlog = l.backlog;
        view.workers = workers;
        view.busy = busy;
        view.idle = idle;
    }
}

/// A worker's state in the current sample.
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// Not read yet (a worker found by this sample's scan).
    NotYet,
    /// As read: `None` when the task is gone or unreadable.
    Read(Option<TaskNow>),
}

/// The owners and workers of one listener, from the last `/proc` refresh, in the form
/// each sample needs.
#[derive(Debug, Default)]
struct Roles {
    owners: Vec<Owner>,
    /// Each worker's pid, and whether one of its epoll instances watches the listener.
    workers: Vec<(u32, bool)>,
}
