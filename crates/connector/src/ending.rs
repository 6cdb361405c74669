//! The end of a run, which every dial task and the collector watch: the end of
//! `--duration` (an instant known from the start), or SIGINT/SIGTERM (fired by `app.rs`),
//! whichever comes first. A run with `--count` and no signal never ends this way: it ends
//! when its connects and answers are done.
//!
//! What the end cuts is counted, not lost: a dial task whose connect (or request) is still
//! under way gives it up and counts it, and the collector stops waiting for answers and
//! counts those (the report's `unfinished`). One `watch` channel carries the signal: no
//! lock, no shared counter.

use tokio::sync::watch;
use tokio::time::Instant;

/// Fires the end early (SIGINT/SIGTERM). Dropping it without firing leaves the run to end
/// at its `--duration`, or on its own.
#[derive(Debug)]
pub struct RunEnd {
    tx: watch::Sender<bool>,
    at: Option<Instant>,
}

/// What a task watches for the end; cheap to clone (one per dial task).
#[derive(Debug, Clone)]
pub struct EndSignal {
    rx: watch::Receiver<bool>,
    at: Option<Instant>,
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
        *self.rx.borrow() || self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// Waits until the run ends. Cancel-safe.
    pub async fn ended(&mut self) {
        let fired = async {
            // `Err`: the `RunEnd` is gone without firing; only `at` can end it now.
            if self.rx.wait_for(|&fired| fired).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        match self.at {
            Some(at) => tokio::select! {
                () = fired => {}
                () = tokio::time::sleep_until(at) => {}
            },
            None => fired.await,
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
        let waiter = tokio::spawn(async move { signal.ended().await });
        end.fire();
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("ended within 10 s")
            .unwrap();
        assert!(end.signal().has_ended());
    }
}
