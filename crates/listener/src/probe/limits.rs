//! Open-file headroom: the overflow keeps `backlog + 3` client sockets per family open at
//! once, and the reuseport spread a few hundred. The probe describes its peak as an
//! [`OpenFiles`] and leaves the rule to common's one headroom check
//! ([`listenlab_common::limits::ensure_headroom`]): the soft `RLIMIT_NOFILE` is raised to
//! the hard limit, and a run that still does not fit is a usage error naming the flag that
//! drives the number, both numbers and the fix.

use listenlab_common::limits::{OpenFiles, ensure_headroom};

use super::config::{Config, Part};
use super::scenarios::Scenario;

/// Descriptors the probe needs besides its client sockets: stdio, listeners, epoll
/// instances, pipes, the signalfd.
const BASE: u64 = 64;

/// The open files a run of `cfg` needs at its peak, and the flag that drives it: the
/// overflow's client sockets (`--backlog`) or the reuseport spread's (`--waiters`),
/// whichever part needs more.
pub fn files_needed(cfg: &Config) -> OpenFiles {
    let families = cfg.families.len() as u64;
    let overflow = if cfg.runs(Part::Overflow) {
        families * (u64::from(cfg.backlog) + 3)
    } else {
        0
    };
    let k = cfg.waiters as usize;
    let waiters = if cfg.runs(Part::Waiters) {
        Scenario::most_files_needed(k)
    } else {
        0
    };
    if overflow >= waiters {
        OpenFiles {
            flag: "--backlog",
            value: cfg.backlog.into(),
            what: "client sockets",
            reserved: BASE,
            driven: overflow,
            per_value: Some(families),
        }
    } else {
        OpenFiles {
            flag: "--waiters",
            value: cfg.waiters.into(),
            what: "client sockets and listeners",
            reserved: BASE,
            driven: waiters,
            // The spread makes at least 300 connections whatever K is: no linear rule.
            per_value: None,
        }
    }
}

/// Raises the soft open-file limit to the hard one and checks that `cfg` fits; the error
/// is the one-line usage message.
pub fn ensure_open_files(cfg: &Config) -> Result<(), String> {
    ensure_headroom(&files_needed(cfg)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::Trigger;
    use crate::probe::report::ConnectFrom;
    use crate::socket::Family;
    use listenlab_common::Format;

    fn config(backlog: u32, waiters: u32, parts: &[Part]) -> Config {
        Config {
            families: Family::ALL.to_vec(),
            unix: None,
            inet: None,
            triggers: Trigger::ALL.to_vec(),
            connect_from: ConnectFrom::Child,
            waiters,
            backlog,
            parts: parts.to_vec(),
            format: Format::Text,
            expect: None,
            progress: false,
        }
    }

    const ALL: [Part; 3] = [Part::Single, Part::Waiters, Part::Overflow];

    #[test]
    fn the_default_run_fits_the_usual_limit_of_1024() {
        let need = files_needed(&config(4, 4, &ALL)).needed();
        assert!(need < 1024, "{need}");
    }

    #[test]
    fn the_largest_part_names_the_flag() {
        let backlog = files_needed(&config(4096, 4, &ALL));
        assert_eq!(
            (backlog.flag, backlog.needed(), backlog.per_value),
            ("--backlog", BASE + 3 * 4099, Some(3))
        );
        let waiters = files_needed(&config(4096, 64, &[Part::Waiters]));
        assert_eq!(
            (waiters.flag, waiters.value, waiters.per_value),
            ("--waiters", 64, None)
        );
    }

    #[test]
    fn a_backlog_too_large_for_the_hard_limit_suggests_one_that_fits() {
        let need = files_needed(&config(4096, 4, &ALL));
        let msg = need.shortfall(1024).unwrap().to_string();
        assert!(
            msg.starts_with("--backlog 4096 needs 12361 open files (the client sockets plus 64)")
                && msg.ends_with("or lower --backlog to 317"),
            "{msg}"
        );
    }
}
