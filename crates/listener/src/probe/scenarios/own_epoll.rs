//! `own_epoll`: each forked waiter creates its own epoll instance after the fork and
//! registers the listener (level, edge, exclusive, edge-exclusive); one connect, nobody
//! accepts: how many wake? Without EPOLLEXCLUSIVE, every instance is woken.

use super::Scenario;
use super::wake_count::{Sharing, WakeCount};
use crate::poller::Trigger;
use crate::probe::report::Mode;

/// The `own_epoll` scenario.
pub const OWN_EPOLL: WakeCount = WakeCount {
    scenario: Scenario::OwnEpoll,
    sharing: Sharing::Own,
    modes: &[
        Mode::Trigger(Trigger::Level),
        Mode::Trigger(Trigger::Edge),
        Mode::Trigger(Trigger::Exclusive),
        Mode::Trigger(Trigger::EdgeExclusive),
    ],
};
