//! The one open-file headroom rule of the binaries that open many sockets: the soft
//! `RLIMIT_NOFILE` goes up to the hard limit, which needs no privilege (getrlimit(2)), and
//! a run that would not fit even then is refused up front, as a usage error naming the
//! flag that drives the number, both numbers and the fix, instead of failing halfway
//! with `EMFILE`. Like [`crate::cli`], this is process plumbing shared by the binaries,
//! not a report type.
//!
//! A caller describes its peak in an [`OpenFiles`] and either checks it against the hard
//! limit it read ([`OpenFiles::shortfall`], when raising waits until later) or raises and
//! checks in one step ([`ensure_headroom`]).

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The open-file limits, soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    /// The limit in force.
    pub soft: u64,
    /// The most the soft limit may be raised to.
    pub hard: u64,
}

/// Reads `RLIMIT_NOFILE`.
pub fn nofile() -> nix::Result<NoFile> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(NoFile { soft, hard })
}

/// Raises the soft open-file limit to the hard limit; returns the limit now in force.
pub fn raise_nofile() -> nix::Result<u64> {
    let NoFile { soft, hard } = nofile()?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard)
}

/// The open files a run needs at its peak, and the flag whose value drives the number:
/// `--count 500` needs 532 (the connections plus 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The flag that drives the number, as typed: `--count`.
    pub flag: &'static str,
    /// Its value.
    pub value: u64,
    /// What the flag opens, plural, for the message: `connections`, `client sockets`.
    pub what: &'static str,
    /// Descriptors the process needs besides those (stdio, epoll instances, pipes...).
    pub reserved: u64,
    /// The descriptors the flag's value opens at the peak.
    pub driven: u64,
    /// Descriptors each unit of the value opens, when `driven` grows by that much per
    /// unit (`--count`: 1; `--backlog` of a probe over 3 families: 3). It lets the message
    /// suggest the largest value that fits; `None` says only "lower `flag`".
    pub per_value: Option<u64>,
}

impl OpenFiles {
    /// Open files needed at the peak: `driven + reserved`.
    pub fn needed(&self) -> u64 {
        self.driven.saturating_add(self.reserved)
    }

    /// The largest value of the flag that fits under `hard` (0: none does), when
    /// `per_value` says how the need grows.
    pub fn largest_fitting(&self, hard: u64) -> Option<u64> {
        let per = self.per_value.filter(|&p| p > 0)?;
        // The part of `driven` that does not grow with the value (the probe's +3 per family).
        let fixed = self.driven.saturating_sub(self.value.saturating_mul(per));
        Some(hard.saturating_sub(self.reserved).saturating_sub(fixed) / per)
    }

    /// `None` when the run fits under `hard`; otherwise why not, as the one-line message.
    pub fn shortfall(&self, hard: u64) -> Option<Shortfall> {
        (self.needed() > hard).then_some(Shortfall { need: *self, hard })
    }
}

/// A run that needs more open files than the hard limit allows. `Display` is the usage
/// message: `--count 30000 needs 30032 open files (the connections plus 32), but the hard
/// open-file limit is 20000; raise it (ulimit -Hn 30032 as root, or LimitNOFILE= /
/// limits.conf) or lower --count to 19968`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct Shortfall {
    /// What the run needs.
    pub need: OpenFiles,
    /// The hard open-file limit.
    pub hard: u64,
}

impl std::fmt::Display for Shortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let OpenFiles {
            flag,
            value,
            what,
            reserved,
            ..
        } = self.need;
        let (hard, needed) = (self.hard, self.need.needed());
        write!(
            f,
            "{flag} {value} needs {needed} open files (the {what} plus {reserved}), but the \
             hard open-file limit is {hard}"
        )?;
        // A lower value is suggested only when one fits (issue 12: it once said "lower
        // --count to 0", which --count refuses).
        let lower = match self.need.largest_fitting(hard) {
            Some(0) => return write!(f, ", which leaves no room for {what}; {}", raise(needed)),
            Some(n) => format!(" or lower {flag} to {n}"),
            None => format!(" or lower {flag}"),
        };
        write!(f, "; {}{lower}", raise(needed))
    }
}

/// How to raise the hard limit: only root can, for a shell or a service.
fn raise(needed: u64) -> String {
    format!("raise it (ulimit -Hn {needed} as root, or LimitNOFILE= / limits.conf)")
}

/// Raises the soft open-file limit to the hard one, then checks that `need` fits.
pub fn ensure_headroom(need: &OpenFiles) -> Result<(), HeadroomError> {
    let hard = raise_nofile().map_err(HeadroomError::Raise)?;
    match need.shortfall(hard) {
        Some(short) => Err(HeadroomError::Shortfall(short)),
        None => Ok(()),
    }
}

/// Why [`ensure_headroom`] refused a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadroomError {
    /// getrlimit(2) or setrlimit(2) failed.
    #[error("raising the soft open-file limit to the hard limit: {0}")]
    Raise(nix::Error),
    /// Even the hard limit is too low.
    #[error(transparent)]
    Shortfall(Shortfall),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(value: u64) -> OpenFiles {
        OpenFiles {
            flag: "--count",
            value,
            what: "connections",
            reserved: 32,
            driven: value,
            per_value: Some(1),
        }
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let hard = raise_nofile().unwrap();
        assert_eq!(nofile().unwrap().soft, hard);
    }

    #[test]
    fn shortfall_names_the_flag_both_numbers_and_the_fix() {
        assert_eq!(count(100).shortfall(20_000), None);
        assert_eq!(count(19_968).shortfall(20_000), None, "exactly full fits");
        assert_eq!(
            count(30_000).shortfall(20_000).unwrap().to_string(),
            "--count 30000 needs 30032 open files (the connections plus 32), but the hard \
             open-file limit is 20000; raise it (ulimit -Hn 30032 as root, or LimitNOFILE= / \
             limits.conf) or lower --count to 19968"
        );
        let msg = count(1).shortfall(32).unwrap().to_string();
        assert!(msg.contains(
            "limit is 32, which leaves no room for connections; raise it (ulimit -Hn 33"
        ));
        assert!(!msg.contains("lower"), "{msg}");
        let unknown = OpenFiles {
            per_value: None,
            ..count(40)
        };
        assert!(
            unknown
                .shortfall(40)
                .unwrap()
                .to_string()
                .ends_with("or lower --count")
        );
    }

    #[test]
    fn the_largest_fitting_value_allows_for_a_fixed_part() {
        // The probe's overflow over 3 families: 3 x (backlog + 3) client sockets plus 64.
        let backlog = OpenFiles {
            flag: "--backlog",
            value: 4096,
            what: "client sockets",
            reserved: 64,
            driven: 3 * (4096 + 3),
            per_value: Some(3),
        };
        let fits = backlog.largest_fitting(1024).unwrap();
        assert_eq!(fits, (1024 - 64 - 9) / 3);
        assert!(64 + 3 * (fits + 3) <= 1024 && 64 + 3 * (fits + 4) > 1024);
        assert!(
            backlog
                .shortfall(1024)
                .unwrap()
                .to_string()
                .ends_with(&format!("or lower --backlog to {fits}"))
        );
    }

    #[test]
    fn ensuring_headroom_raises_then_checks() {
        assert_eq!(ensure_headroom(&count(1)), Ok(()));
        assert_eq!(nofile().unwrap().soft, nofile().unwrap().hard);
        let hard = nofile().unwrap().hard;
        let too_many = count(hard);
        assert!(matches!(
            ensure_headroom(&too_many),
            Err(HeadroomError::Shortfall(Shortfall { hard: h, .. })) if h == hard
        ));
    }
}
