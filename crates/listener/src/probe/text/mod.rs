//! The text output: [`render`] builds the whole report from aligned tables (`crate::table`), the [`verdict`]
//! lines and "What this means" ([`meaning`]); [`words`] holds the small formatting
//! helpers they and the scenarios' own text share. The order of imports is one way:
//! `render` -> `verdict` -> `words`, and `words` imports nothing of the probe but the
//! report. JSON output is the report itself, serialised.

pub mod meaning;
pub mod render;
pub mod verdict;
pub mod words;

/// Records for the text tests.
#[cfg(test)]
pub mod fixtures {
    use nix::sys::epoll::EpollFlags;

    use crate::poller::Trigger;
    use crate::probe::report::{ConnectFrom, Flags, ProbeReport, SingleWaiterRecord};
    use crate::probe::single::Step;
    use crate::socket::Family;

    /// A unix single-waiter cell: `seen` observed, `predicted` by the strict-edge reading.
    pub fn record(
        trigger: Trigger,
        step: Step,
        seen: (u64, u64),
        predicted: (u64, u64),
    ) -> SingleWaiterRecord {
        let flags = |n: u64| {
            Flags(if n > 0 {
                EpollFlags::EPOLLIN
            } else {
                EpollFlags::empty()
            })
        };
        SingleWaiterRecord {
            family: Family::Unix,
            address: "/tmp/x.sock".into(),
            trigger,
            connect_from: ConnectFrom::Same,
            step,
            first: seen.0,
            second: seen.1,
            first_flags: flags(seen.0),
            second_flags: flags(0),
            strict_edge_first: predicted.0,
            strict_edge_second: predicted.1,
            differs: seen != predicted,
            queue_len: 2,
            error: None,
        }
    }

    /// A report of these single-waiter cells and nothing else.
    pub fn report(single: Vec<SingleWaiterRecord>) -> ProbeReport {
        ProbeReport {
            kernel: "6.0".into(),
            connect_from: ConnectFrom::Same,
            single_waiter: single,
            waiters: Vec::new(),
            overflow: Vec::new(),
            differences: 0,
            elapsed_ms: 5,
        }
    }
}
