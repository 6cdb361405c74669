//! The end of a run, which every dial task and the collector watch: the end of
//! `--duration` (an instant known from the start), or SIGINT/SIGTERM (fired by `app.rs`),
//! whichever comes first. A run with `--count` and no signal never ends this way: it ends
//! when its connects and answers are done.
//!
//! What the end cuts is counted, not lost: a dial task whose connect (or request) is still
//! under way gives it up and counts it, and the collector stops waiting for answers and
//! counts those (the report's `unfinished`). One `watch` channel carries the signal: no
//! lock, no shared counter.

use std::pin::Pin;

use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// Fires the end early (SIGINT/SIGTERM). Dropping it without firing leaves the run to end
/// at its `--duration`, or on its own.
#[derive(Debug)]
pub struct RunEnd {
    tx: watch::Sender<bool>,
    at: Option<Instant>,
}

/// What a task watches for the end; cheap to clone (one per dial task). Checking it costs
/// atomic loads, no lock (`watch::Receiver::has_changed`, not `borrow`), and waiting on it
/// reuses one timer per clone, not one per wait: the dial tasks check it on every connect.
#[derive(Debug)]
pub struct EndSignal {
    rx: watch::Receiver<bool>,
    at: Option<Instant>,
    /// Seen to have fired (a `changed` consumed the news).
    fired: bool,
    /// The timer for `at`, made on the first wait.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Clone for EndSignal {
    fn clone(&self) -> Self {
        Self {
            rx: self.rx.clone(),
            at: self.at,
            fired: self.fired,
            timer: None,
        }
    }
}

impl RunEnd {
    /// A run that ends at `at` (`None`: only when fired).
    pub fn new(at: Option<Instant>) -> Self {
        Self {
            tx: watch::Sender::new(false),
            at,
        }
    }

    /// A signal for one task to watch.
    pub fn signal(&self) -> EndSignal {
        EndSignal {
            rx: self.tx.subscribe(),
            at: self.at,
            // A subscription starts with the current value seen: say so if it fired.
            fired: *self.tx.borrow(),
            timer: None,
        }
    }

    /// Ends the run now.
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }
}

impl EndSignal {
    /// The planned end (`--duration`), if any.
    pub fn at(&self) -> Option<Instant> {
        self.at
    }

    /// True once the run has ended.
    pub fn has_ended(&self) -> bool {
        // The one change the sender makes is to fire; `Err` is a sender gone unfired.
        self.fired
            || self.rx.has_changed().unwrap_or(false)
            || self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// Waits until the run ends. Cancel-safe.
    pub async fn ended(&mut self) {
        if self.fired {
            return;
        }
        let Self {
            rx,
            at,
            fired,
            timer,
        } = self;
        let changed = async {
            // `Err`: the `RunEnd` is gone without firing; only `at` can end it now.
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
            *fired = true;
        };
        match at {
            Some(at) => {
                let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(*at)));
                tokio::select! {
                    () = changed => {}
                    () = timer.as_mut() => {}
                }
            }
            None => changed.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn ends_at_its_instant_or_when_fired() {
        let at = Instant::now() + Duration::from_millis(20);
        let end = RunEnd::new(Some(at));
        let mut signal = end.signal();
        assert!(!signal.has_ended());
        signal.ended().await;
        assert!(Instant::now() >= at && signal.has_ended());

        let end = RunEnd::new(None);
        let mut signal = end.signal();
        let copy = signal.clone();
        let waiter = tokio::spawn(async move {
            signal.ended().await;
            assert!(signal.has_ended());
            signal.ended().await; // at once, again
        });
        end.fire();
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("ended within 10 s")
            .unwrap();
        assert!(copy.has_ended() && end.signal().has_ended());
    }
}
