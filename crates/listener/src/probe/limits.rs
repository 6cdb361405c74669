//! Open-file headroom: the overflow keeps `backlog + 3` client sockets per family open at
//! once, and the reuseport spread a few hundred. Before anything runs, the soft
//! `RLIMIT_NOFILE` is raised to the hard limit; if that is still too few, the flag that
//! needs them is named, with both numbers (a usage error).

use listenlab_common::limits::raise_nofile;

use super::reuseport::connections_for;
use super::{Config, Part};

/// Descriptors the probe needs besides its client sockets: stdio, listeners, epoll
/// instances, pipes, the signalfd.
const BASE: u64 = 64;

/// The open files a run of `cfg` needs at its peak, and the flag that drives it.
pub fn files_needed(cfg: &Config) -> (u64, &'static str) {
    let overflow = if cfg.runs(Part::Overflow) {
        cfg.families.len() as u64 * (u64::from(cfg.backlog) + 3)
    } else {
        0
    };
    let k = cfg.waiters as usize;
    let waiters = if cfg.runs(Part::Waiters) {
        (connections_for(k) + k) as u64
    } else {
        0
    };
    if overflow >= waiters {
        (BASE + overflow, "--backlog")
    } else {
        (BASE + waiters, "--waiters")
    }
}

/// Raises the soft open-file limit to the hard one and checks that `cfg` fits.
pub fn ensure_open_files(cfg: &Config) -> Result<(), String> {
    let (need, flag) = files_needed(cfg);
    let soft = raise_nofile().map_err(|e| format!("raising the open-file limit: {e}"))?;
    if soft < need {
        let value = if flag == "--backlog" {
            cfg.backlog
        } else {
            cfg.waiters
        };
        return Err(format!(
            "{flag} {value} needs about {need} open files, the limit is {soft}; raise it with \
             ulimit -n or lower {flag}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::Trigger;
    use crate::probe::ConnectFrom;
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
        let (need, _) = files_needed(&config(4, 4, &ALL));
        assert!(need < 1024, "{need}");
    }

    #[test]
    fn the_largest_part_names_the_flag() {
        assert_eq!(
            files_needed(&config(4096, 4, &ALL)),
            (BASE + 3 * 4099, "--backlog")
        );
        assert_eq!(
            files_needed(&config(4096, 64, &[Part::Waiters])).1,
            "--waiters"
        );
    }
}
