//! The scoreboard: shared memory made before any fork (anonymous `MAP_SHARED`), one slot per
//! possible child, as PHP-FPM's `fpm_scoreboard` does. A child publishes its state
//! (starting, idle, busy) and its counters in its slot; the parent reads them to decide
//! (ondemand: "is any child idle?") and to count (every accept is a counter increment, so
//! counts stay exact however late the parent looks).
//!
//! Only atomics live in the mapping, so concurrent access from the parent and the children
//! is sound. The parent owns slot allocation: it resets a slot before forking into it and
//! frees it only after reaping the child, so a slot never has two writers.

use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

/// What a child is doing, as published in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SlotState {
    /// No child uses the slot.
    Free = 0,
    /// Forked, not yet waiting for a connection.
    Starting = 1,
    /// Waiting for a connection (PHP-FPM's "Idle", `FPM_REQUEST_ACCEPTING`); with
    /// `--request-starts first-byte`, also while waiting for the first byte.
    Idle = 2,
    /// Serving a connection.
    Busy = 3,
    /// The connection is closed, the request is still being shut down
    /// (`--request-shutdown`; PHP-FPM's "Finishing" until `php_request_shutdown` returns):
    /// not idle.
    Finishing = 4,
}

impl SlotState {
    fn from_u32(v: u32) -> Self {
        match v {
            1 => Self::Starting,
            2 => Self::Idle,
            3 => Self::Busy,
            4 => Self::Finishing,
            _ => Self::Free,
        }
    }
}

/// One child's slot. All times are nanoseconds since the run started (the parent's
/// `Instant` is copied into each child at fork, and `CLOCK_MONOTONIC` is system-wide).
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Slot {
    state: AtomicU32,
    since_ns: AtomicU64,
    accepted: AtomicU64,
    served: AtomicU64,
    first_byte_timeouts: AtomicU64,
    closed_without_request: AtomicU64,
    interrupted: AtomicU64,
    /// 1 from an accept until that connection is counted as served, timed out or
    /// interrupted: a child that dies while it is 1 held a connection.
    holding: AtomicU32,
    last_accept_ns: AtomicU64,
    /// 1 while the child holds a [`Tickets`] ticket it has not used for an accept yet:
    /// the parent returns it if the child dies holding it.
    ticket: AtomicU32,
}

/// The accepts the run may still make (`--exit-after`), shared by all children: a child
/// takes a ticket before each `accept()`, so no more than N connections are ever accepted
/// (issue 12: checking the count in the parent let children accept 3-4 more meanwhile).
/// A ticket not used for an accept goes back.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Tickets {
    remaining: AtomicU64,
}

impl Tickets {
    /// Takes one ticket for `slot`'s child, if any is left (child side).
    pub fn take(&self, slot: &Slot) -> bool {
        // Marked first: a child killed between the two steps may return one ticket too
        // many, never lose one (which could leave the run waiting for ever).
        slot.ticket.store(1, Ordering::SeqCst);
        let took = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !took {
            slot.ticket.store(0, Ordering::SeqCst);
        }
        took
    }

    /// Returns `slot`'s ticket if it holds one that no accept used: the child when it
    /// leaves `accept()` without a connection, the parent when it reaps the child.
    pub fn give_back(&self, slot: &Slot) {
        if slot.ticket.swap(0, Ordering::SeqCst) == 1 {
            self.remaining.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Tickets left (the tests' view: the children only take and give back).
    #[cfg(test)]
    pub fn remaining(&self) -> u64 {
        self.remaining.load(Ordering::SeqCst)
    }
}

/// A copy of a slot's counters, read by the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotView {
    /// The published state.
    pub state: SlotState,
    /// When the state last changed (ns since start).
    pub since_ns: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections served to the end.
    pub served: u64,
    /// Connections closed for want of a first byte.
    pub first_byte_timeouts: u64,
    /// Connections the client closed before sending a byte (first-byte mode).
    pub closed_without_request: u64,
    /// Connections the child held when told to stop (it counts them before it exits).
    pub interrupted: u64,
    /// True while the child holds an accepted connection not yet counted as ended.
    pub holding: bool,
    /// When the latest accept happened (ns since start).
    pub last_accept_ns: u64,
}

impl Slot {
    /// Publishes a new state (child side).
    pub fn set_state(&self, state: SlotState, now_ns: u64) {
        self.since_ns.store(now_ns, Ordering::Relaxed);
        self.state.store(state as u32, Ordering::Release);
    }

    /// Counts one accepted connection (child side).
    pub fn record_accept(&self, now_ns: u64) {
        self.last_accept_ns.store(now_ns, Ordering::Relaxed);
        self.holding.store(1, Ordering::Release);
        self.accepted.fetch_add(1, Ordering::Release);
        self.ticket.store(0, Ordering::SeqCst); // used
    }

    /// Counts one connection served to the end (child side).
    pub fn record_served(&self) {
        self.ended(&self.served);
    }

    /// Counts one connection closed after waiting too long for its first byte (child side).
    pub fn record_first_byte_timeout(&self) {
        self.ended(&self.first_byte_timeouts);
    }

    /// Counts one connection its client closed without sending anything (child side).
    pub fn record_closed_without_request(&self) {
        self.ended(&self.closed_without_request);
    }

    /// Counts the held connection as interrupted, right before the child exits on a stop
    /// signal (child side).
    pub fn record_interrupted(&self) {
        self.ended(&self.interrupted);
    }

    fn ended(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Release);
        self.holding.store(0, Ordering::Release);
    }

    /// Reads the slot (parent side).
    pub fn view(&self) -> SlotView {
        SlotView {
            state: SlotState::from_u32(self.state.load(Ordering::Acquire)),
            since_ns: self.since_ns.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Acquire),
            served: self.served.load(Ordering::Acquire),
            first_byte_timeouts: self.first_byte_timeouts.load(Ordering::Acquire),
            closed_without_request: self.closed_without_request.load(Ordering::Acquire),
            interrupted: self.interrupted.load(Ordering::Acquire),
            holding: self.holding.load(Ordering::Acquire) != 0,
            last_accept_ns: self.last_accept_ns.load(Ordering::Relaxed),
        }
    }

    fn reset(&self, state: SlotState, now_ns: u64) {
        self.accepted.store(0, Ordering::Relaxed);
        self.served.store(0, Ordering::Relaxed);
        self.first_byte_timeouts.store(0, Ordering::Relaxed);
        self.closed_without_request.store(0, Ordering::Relaxed);
        self.interrupted.store(0, Ordering::Relaxed);
        self.holding.store(0, Ordering::Relaxed);
        self.last_accept_ns.store(0, Ordering::Relaxed);
        self.ticket.store(0, Ordering::Relaxed);
        self.set_state(state, now_ns);
    }
}

/// The shared slots and which of them the parent has handed out.
#[derive(Debug)]
pub struct Scoreboard {
    /// The mapping: a [`Tickets`] header, then the slots.
    map: NonNull<Tickets>,
    slots: NonNull<Slot>,
    len: usize,
    /// Parent-side bookkeeping (not shared): free slot indexes.
    free: Vec<usize>,
}

impl Scoreboard {
    /// Maps `len` zeroed slots shared with every child forked afterwards, and `tickets`
    /// accepts in all.
    pub fn new(len: usize, tickets: u64) -> nix::Result<Self> {
        let bytes = NonZeroUsize::new(Self::bytes(len)).expect("a slot has a size");
        // SAFETY: a fresh anonymous mapping aliases nothing; the kernel zero-fills it, and
        // all-zero bytes are a valid `Tickets` and `Slot` (atomics of 0, state Free). Page
        // alignment satisfies their 64-byte alignment, and the header's size is a multiple
        // of 64, so the slots after it are aligned too.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                bytes,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )?
        };
        let map = ptr.cast::<Tickets>();
        // SAFETY: the header is in bounds of the mapping just made; nothing else uses it yet.
        unsafe { map.as_ref() }
            .remaining
            .store(tickets, Ordering::SeqCst);
        Ok(Self {
            map,
            // SAFETY: one header past the start stays inside the mapping (`bytes`).
            slots: unsafe { map.add(1) }.cast(),
            len: len.max(1),
            free: (0..len.max(1)).rev().collect(),
        })
    }

    fn bytes(len: usize) -> usize {
        std::mem::size_of::<Tickets>() + len.max(1) * std::mem::size_of::<Slot>()
    }

    /// The shared accept tickets.
    pub fn tickets(&self) -> &Tickets {
        // SAFETY: the header of a live mapping that lasts as long as `self`; atomics only.
        unsafe { self.map.as_ref() }
    }

    /// The slot at `index`.
    pub fn slot(&self, index: usize) -> &Slot {
        assert!(index < self.len, "slot {index} out of {}", self.len);
        // SAFETY: in bounds (checked above) of a live mapping of `len` slots that lasts as
        // long as `self`; slots hold only atomics, so shared references are sound even while
        // children write to them.
        unsafe { &*self.slots.as_ptr().add(index) }
    }

    /// Takes a free slot and marks it starting, or `None` when all are in use.
    pub fn claim(&mut self, now_ns: u64) -> Option<usize> {
        let index = self.free.pop()?;
        self.slot(index).reset(SlotState::Starting, now_ns);
        Some(index)
    }

    /// Returns a slot once its child has been reaped and its counters read.
    pub fn release(&mut self, index: usize) {
        self.slot(index).set_state(SlotState::Free, 0);
        self.free.push(index);
    }
}

impl Drop for Scoreboard {
    fn drop(&mut self) {
        let bytes = Self::bytes(self.len);
        // SAFETY: the mapping was made in `new` with this length and no reference into it
        // outlives `self` (`slot` borrows `self`). Children never run this: they `_exit`.
        let _ = unsafe { munmap(self.map.cast(), bytes) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_bound_the_accepts_and_unused_ones_come_back() {
        let mut board = Scoreboard::new(2, 1).unwrap();
        let (a, b) = (board.claim(0).unwrap(), board.claim(0).unwrap());
        let tickets = board.tickets();
        assert!(tickets.take(board.slot(a)));
        assert!(!tickets.take(board.slot(b)), "only one ticket");
        tickets.give_back(board.slot(b)); // held none: nothing comes back
        assert_eq!(tickets.remaining(), 0);
        tickets.give_back(board.slot(a)); // unused: back
        assert!(tickets.take(board.slot(b)));
        board.slot(b).record_accept(1);
        tickets.give_back(board.slot(b)); // used: stays taken
        assert_eq!(tickets.remaining(), 0);
    }

    #[test]
    fn slots_are_claimed_reset_and_released() {
        let mut board = Scoreboard::new(2, u64::MAX).unwrap();
        let a = board.claim(5).unwrap();
        let b = board.claim(6).unwrap();
        assert_ne!(a, b);
        assert!(board.claim(7).is_none());
        board.slot(a).record_accept(9);
        board.slot(a).set_state(SlotState::Busy, 9);
        let view = board.slot(a).view();
        assert_eq!(
            (view.state, view.accepted, view.last_accept_ns, view.holding),
            (SlotState::Busy, 1, 9, true)
        );
        board.slot(a).record_interrupted();
        let view = board.slot(a).view();
        assert_eq!((view.interrupted, view.holding), (1, false));
        board.release(a);
        let again = board.claim(10).unwrap();
        assert_eq!(again, a);
        let view = board.slot(again).view();
        assert_eq!(
            (view.state, view.accepted, view.since_ns, view.interrupted),
            (SlotState::Starting, 0, 10, 0)
        );
    }
}
