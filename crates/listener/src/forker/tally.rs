//! The run's counts, kept in one place and updated only by the observer as it reports each
//! event, so every line printed is counted once and the summary adds up. [`Tally::check`]
//! states the accounting identities.

use listenlab_common::report::fork::ChildOutcome;

/// Counts accumulated over a run (see `ForkSummary` for each field's meaning).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Wakeups with the listener ready.
    pub wakeups: u64,
    /// Listener readiness events.
    pub events: u64,
    /// Children forked.
    pub forks: u64,
    /// Events refused at the cap (per-event).
    pub refused_forks: u64,
    /// Failed `fork()` calls.
    pub fork_failures: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections served to the end.
    pub served: u64,
    /// Connections closed without a first byte.
    pub first_byte_timeouts: u64,
    /// Connections whose child exited before finishing them.
    pub interrupted_connections: u64,
    /// Children by outcome.
    pub completed: u64,
    /// Children that found nothing.
    pub empty: u64,
    /// Children ended by the idle timeout.
    pub idle_timeout: u64,
    /// Children waiting when stopped.
    pub killed_at_exit: u64,
    /// Children busy when stopped.
    pub busy_at_exit: u64,
    /// Children that ended otherwise.
    pub died: u64,
    /// Replacement forks (ondemand).
    pub replaced: u64,
    /// Most children at once.
    pub max_concurrent: u64,
    /// Max-children warnings.
    pub max_children_warnings: u64,
    /// SIGQUITs sent for idleness.
    pub idle_kills: u64,
    /// SIGKILLs after them.
    pub idle_kills_escalated: u64,
}

/// What a reaped child contributes to the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildEnd {
    /// How it ended.
    pub outcome: ChildOutcome,
    /// Connections it accepted.
    pub accepted: u64,
    /// Connections it served to the end.
    pub served: u64,
    /// Connections it closed for want of a first byte.
    pub first_byte_timeouts: u64,
}

impl Tally {
    /// Counts a reaped child. Its accepted connections were already counted one by one as
    /// they were seen; here they are split by how they ended.
    pub fn child_ended(&mut self, end: ChildEnd) {
        match end.outcome {
            ChildOutcome::Completed => self.completed += 1,
            ChildOutcome::Empty => self.empty += 1,
            ChildOutcome::IdleTimeout => self.idle_timeout += 1,
            ChildOutcome::KilledAtExit => self.killed_at_exit += 1,
            ChildOutcome::BusyAtExit => self.busy_at_exit += 1,
            ChildOutcome::Died => self.died += 1,
        }
        self.served += end.served;
        self.first_byte_timeouts += end.first_byte_timeouts;
        self.interrupted_connections += end
            .accepted
            .saturating_sub(end.served + end.first_byte_timeouts);
    }

    /// Children reaped so far, over all outcomes.
    pub fn children_ended(&self) -> u64 {
        self.completed
            + self.empty
            + self.idle_timeout
            + self.killed_at_exit
            + self.busy_at_exit
            + self.died
    }

    /// The accounting identities, once every child has been reaped: each fork ended in
    /// exactly one outcome, and each accepted connection ended exactly one way. Returns the
    /// first identity that fails.
    pub fn check(&self) -> Result<(), String> {
        if self.forks != self.children_ended() {
            return Err(format!(
                "forks {} != children ended {} ({self:?})",
                self.forks,
                self.children_ended()
            ));
        }
        let ended = self.served + self.first_byte_timeouts + self.interrupted_connections;
        if self.accepted != ended {
            return Err(format!(
                "accepted {} != served {} + first-byte timeouts {} + interrupted {}",
                self.accepted, self.served, self.first_byte_timeouts, self.interrupted_connections
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(outcome: ChildOutcome, accepted: u64, served: u64) -> ChildEnd {
        ChildEnd {
            outcome,
            accepted,
            served,
            first_byte_timeouts: 0,
        }
    }

    #[test]
    fn per_event_counts_add_up_over_every_outcome() {
        let mut t = Tally::default();
        // Six forks: two served, one empty, one blocked at exit, one busy at exit, one killed
        // from outside before accepting.
        let ends = [
            end(ChildOutcome::Completed, 1, 1),
            end(ChildOutcome::Completed, 1, 1),
            end(ChildOutcome::Empty, 0, 0),
            end(ChildOutcome::KilledAtExit, 0, 0),
            end(ChildOutcome::BusyAtExit, 1, 0),
            end(ChildOutcome::Died, 0, 0),
        ];
        t.forks = ends.len() as u64;
        t.accepted = 3; // counted one by one as seen
        for e in ends {
            t.child_ended(e);
        }
        assert_eq!(t.check(), Ok(()));
        assert_eq!((t.served, t.interrupted_connections), (2, 1));
        assert_eq!(t.forks, t.accepted + t.empty + t.killed_at_exit + t.died);
    }

    #[test]
    fn ondemand_counts_add_up_with_first_byte_timeouts() {
        let mut t = Tally {
            forks: 2,
            accepted: 7,
            ..Tally::default()
        };
        t.child_ended(ChildEnd {
            outcome: ChildOutcome::IdleTimeout,
            accepted: 4,
            served: 3,
            first_byte_timeouts: 1,
        });
        t.child_ended(end(ChildOutcome::BusyAtExit, 3, 2));
        assert_eq!(t.check(), Ok(()));
        assert_eq!(t.interrupted_connections, 1);
    }

    #[test]
    fn a_missing_child_or_connection_is_caught() {
        let mut t = Tally {
            forks: 2,
            accepted: 1,
            ..Tally::default()
        };
        t.child_ended(end(ChildOutcome::Completed, 1, 1));
        assert!(t.check().unwrap_err().contains("forks 2"));
        t.child_ended(end(ChildOutcome::Empty, 0, 0));
        assert_eq!(t.check(), Ok(()));
        t.accepted += 1;
        assert!(t.check().unwrap_err().contains("accepted 2"));
    }
}
