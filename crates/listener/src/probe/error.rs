//! Why a probe run stopped early: [`ProbeError`], and the exit code each reason maps to.
//!
//! Cells the kernel refuses (an `epoll_ctl` that returns `EINVAL`, `SO_REUSEPORT` on a
//! unix socket) are report data, not errors; this type is for what stops the run.

use std::io;

use nix::sys::signal::Signal;

use crate::socket::ListenError;

/// What stopped a probe run.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// SIGINT, SIGTERM or SIGHUP arrived. Children were reaped and temp sockets removed on the way
    /// out (the error unwinds normally, so every guard drops).
    #[error("interrupted by {}", .0.as_str())]
    Interrupted(Signal),
    /// A listener could not be set up (address in use, not a socket, ...).
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// A system call failed; `what` names the step.
    #[error("{what}: {err}")]
    Io {
        /// The step that failed, e.g. `creating an epoll instance`.
        what: String,
        /// The OS error.
        err: io::Error,
    },
    /// A helper process or thread did not answer as agreed within its bounded wait.
    #[error("{0}")]
    Helper(String),
}

impl ProbeError {
    /// An OS error during `what`.
    pub fn io(what: impl Into<String>, err: impl Into<io::Error>) -> Self {
        Self::Io {
            what: what.into(),
            err: err.into(),
        }
    }

    /// True for a helper that did not answer within its bound: the scenario it belonged to
    /// could not be observed, which the report records (a row with `observed: false`)
    /// instead of ending the run. Interrupts, listener and system-call failures still end it.
    pub fn leaves_unobserved(&self) -> bool {
        matches!(self, Self::Helper(_))
    }

    /// The process exit code for this error: 128 + signal number for an interrupt, as a
    /// shell shows it (130 SIGINT, 143 SIGTERM, 129 SIGHUP), 2 for an address the user can fix, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Interrupted(signal) => 128 + *signal as u8,
            Self::Listen(err) if err.is_usage() => 2,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupts_map_to_shell_exit_codes() {
        assert_eq!(ProbeError::Interrupted(Signal::SIGINT).exit_code(), 130);
        assert_eq!(ProbeError::Interrupted(Signal::SIGTERM).exit_code(), 143);
        assert_eq!(ProbeError::Interrupted(Signal::SIGHUP).exit_code(), 129);
        assert_eq!(ProbeError::Helper("x".into()).exit_code(), 1);
        let usage = ListenError::AddrInUse("127.0.0.1:1".into());
        assert_eq!(ProbeError::from(usage).exit_code(), 2);
    }
}
