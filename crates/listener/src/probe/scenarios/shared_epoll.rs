//! `shared_epoll`: the probe creates one epoll instance before forking and every waiter
//! waits on it (level, edge); one connect, nobody accepts: how many wake?
//! EPOLLEXCLUSIVE is only meaningful across separate instances, so it is not run shared.

use super::Scenario;
use super::wake_count::{Sharing, WakeCount};
use crate::poller::Trigger;
use crate::probe::report::Mode;

/// The `shared_epoll` scenario.
pub const SHARED_EPOLL: WakeCount = WakeCount {
    scenario: Scenario::SharedEpoll,
    sharing: Sharing::Shared,
    modes: &[Mode::Trigger(Trigger::Level), Mode::Trigger(Trigger::Edge)],
};
