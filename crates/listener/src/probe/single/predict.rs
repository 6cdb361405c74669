//! The strict-edge reading of epoll(7), as a model: the only computed column of the report.
//!
//! The reading under test: "edge-triggered means an event when the listener goes from
//! nothing pending to something pending, and no more until it has been drained". So:
//! - `level` and `exclusive` (level-triggered with one waiter): every wait reports the
//!   listener while anything is pending;
//! - `edge` and `edge-exclusive`: one event per empty-to-non-empty transition, consumed by
//!   the first wait; `EPOLL_CTL_MOD` is no transition;
//! - `oneshot`: like level, but disabled after one event until `EPOLL_CTL_MOD` re-arms it.
//!
//! A step whose syscall the kernel refused (`ok == false`) changes nothing.

use super::Step;
use crate::poller::Trigger;

/// What the strict-edge reading predicts, step by step, for one trigger mode.
#[derive(Debug, Clone)]
pub struct StrictEdge {
    trigger: Trigger,
    pending: u32,
    /// An empty-to-non-empty transition no wait has reported yet (edge modes).
    armed: bool,
    /// A oneshot registration that has fired and was not re-armed.
    disabled: bool,
}

impl StrictEdge {
    /// A listener just registered with `trigger`, nothing pending.
    pub fn new(trigger: Trigger) -> Self {
        Self {
            trigger,
            pending: 0,
            armed: false,
            disabled: false,
        }
    }

    /// Applies `step` (`ok`: its syscall succeeded) and returns the predicted event counts
    /// of the two `epoll_wait(0)` calls that follow it.
    pub fn step(&mut self, step: Step, ok: bool) -> (u64, u64) {
        if ok {
            let was_empty = self.pending == 0;
            self.pending = step.pending_after(self.pending);
            if was_empty && self.pending > 0 {
                self.armed = true;
            }
            if step == Step::CtlModSameFlags && self.trigger == Trigger::Oneshot {
                self.disabled = false;
            }
        }
        let first = self.wait();
        let second = self.wait();
        (first, second)
    }

    /// One predicted `epoll_wait(0)`: 1 if it reports the listener, else 0.
    fn wait(&mut self) -> u64 {
        let readable = self.pending > 0;
        let reported = match self.trigger {
            Trigger::Level | Trigger::Exclusive => readable,
            Trigger::Edge | Trigger::EdgeExclusive => std::mem::take(&mut self.armed),
            Trigger::Oneshot => {
                let fire = readable && !self.disabled;
                self.disabled |= fire;
                fire
            }
        };
        u64::from(reported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The predicted (first, second) for every step, with `EPOLL_CTL_MOD` refused when
    /// `mod_refused` (as the kernel does for EPOLLEXCLUSIVE).
    fn predict(trigger: Trigger, mod_refused: bool) -> Vec<(u64, u64)> {
        let mut model = StrictEdge::new(trigger);
        Step::ALL
            .iter()
            .map(|&s| model.step(s, !(mod_refused && s == Step::CtlModSameFlags)))
            .collect()
    }

    #[test]
    fn level_reports_whenever_something_is_pending() {
        let want = [0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1].map(|n| (n, n));
        assert_eq!(predict(Trigger::Level, false), want);
        assert_eq!(predict(Trigger::Exclusive, true), want);
    }

    #[test]
    fn edge_reports_only_empty_to_non_empty_transitions_once() {
        let want = [0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0].map(|n| (n, 0));
        assert_eq!(predict(Trigger::Edge, false), want);
        assert_eq!(predict(Trigger::EdgeExclusive, true), want);
    }

    #[test]
    fn oneshot_fires_once_then_waits_for_ctl_mod() {
        let want = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0].map(|n| (n, 0));
        assert_eq!(predict(Trigger::Oneshot, false), want);
    }
}
