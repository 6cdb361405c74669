//! The steps of the single-waiter matrix, in the order they run, and what each does to
//! the number of pending connections. A step's name (`connect_1`) is its serde name, the
//! value of the report's `step` field and the text table's row label.

use serde::Serialize;

/// One step of the single-waiter sequence. After each, the probe calls
/// `epoll_wait(timeout 0)` twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The listener was just added; nothing is pending.
    Registered,
    /// The first connect; nobody accepts.
    #[serde(rename = "connect_1")]
    Connect1,
    /// A second connect while the first is still pending.
    #[serde(rename = "connect_2")]
    Connect2,
    /// A third connect, still without accepting.
    #[serde(rename = "connect_3")]
    Connect3,
    /// One `accept()`.
    AcceptOne,
    /// `accept()` until `EAGAIN`.
    Drain,
    /// One connect after the queue was drained.
    ConnectAfterDrain,
    /// Three connects in a row, then the waits.
    #[serde(rename = "burst_3_then_poll")]
    Burst3ThenPoll,
    /// `EPOLL_CTL_MOD` with the same flags while connections are pending.
    CtlModSameFlags,
    /// A client whose connection is still queued writes one byte.
    ClientWriteQueued,
    /// A client whose connection is still queued closes it.
    ClientCloseQueued,
}

impl Step {
    /// Every step, in run order.
    pub const ALL: [Step; 11] = [
        Self::Registered,
        Self::Connect1,
        Self::Connect2,
        Self::Connect3,
        Self::AcceptOne,
        Self::Drain,
        Self::ConnectAfterDrain,
        Self::Burst3ThenPoll,
        Self::CtlModSameFlags,
        Self::ClientWriteQueued,
        Self::ClientCloseQueued,
    ];

    /// How many connects the step makes.
    pub fn connects(self) -> u32 {
        match self {
            Self::Connect1 | Self::Connect2 | Self::Connect3 | Self::ConnectAfterDrain => 1,
            Self::Burst3ThenPoll => 3,
            _ => 0,
        }
    }

    /// Connections pending after the step, given `before` pending before it. A queued
    /// client writing or closing does not change the queue: the connection stays queued
    /// until it is accepted.
    pub fn pending_after(self, before: u32) -> u32 {
        match self {
            Self::AcceptOne => before.saturating_sub(1),
            Self::Drain => 0,
            _ => before + self.connects(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_queues_four_connections_at_the_end() {
        let pending: Vec<u32> = Step::ALL
            .iter()
            .scan(0, |p, step| {
                *p = step.pending_after(*p);
                Some(*p)
            })
            .collect();
        assert_eq!(pending, [0, 1, 2, 3, 2, 0, 1, 4, 4, 4, 4]);
    }
}
