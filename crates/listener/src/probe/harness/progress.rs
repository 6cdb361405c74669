//! Progress lines on stderr (`--progress`): one as each scenario starts, which is also
//! where a run checks for SIGINT/SIGTERM/SIGHUP between scenarios.

use listenlab_common::cli;

use super::interrupt::Interrupt;
use crate::probe::error::ProbeError;

/// Progress lines on stderr, one per scenario, when asked for.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Progress lines if `enabled` (`--progress`), else none.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    /// Prints `what` as `epoll-socket-test: <what>` on stderr if enabled.
    pub fn note(self, what: impl std::fmt::Display) {
        if self.enabled {
            cli::stderr_line(format_args!("epoll-socket-test: {what}"));
        }
    }

    /// The start of a scenario: stops here if SIGINT/SIGTERM/SIGHUP arrived, else notes `what`.
    pub fn start(self, what: impl std::fmt::Display, intr: &Interrupt) -> Result<(), ProbeError> {
        intr.check()?;
        self.note(what);
        Ok(())
    }
}
