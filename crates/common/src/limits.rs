//! The open-file limit both sides raise before they open many sockets: the soft
//! `RLIMIT_NOFILE` goes up to the hard limit, which needs no privilege (getrlimit(2)).
//! Like [`crate::cli`], this is a small piece of process plumbing shared by the binaries,
//! not a report type.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_reaches_the_hard_limit() {
        let hard = raise_nofile().unwrap();
        assert_eq!(nofile().unwrap().soft, hard);
    }
}
