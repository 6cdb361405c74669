//! `listen-watch`: the accept queue, backlog, owners and busy workers of listeners held by
//! any process (issue 9), for servers we did not write.
//!
//! - [`cli`]: flags and the validated [`Config`];
//! - `targets`: what `--inet/--port/--unix/--pid` select, and the no-match message;
//! - `sampler`: one sample (sock_diag through `crate::diag`, owners, busy workers);
//! - `owners`: who holds a socket (`/proc/*/fd`); `workers`: busy or idle (wchan names
//!   observed live);
//! - `stats`: per-listener roll-ups; `live`: the sampling loop; `wrap`: the wrapped command;
//!   `client`: a wrapped socket-connect's interval lines and report;
//! - `plot`: the `--plot` picture, from what the loop sampled;
//! - [`report`]: what is printed (serde); `text`: the tables.

pub mod cli;
mod client;
mod live;
mod owners;
mod plot;
pub mod report;
mod sampler;
mod stats;
mod targets;
mod text;
mod workers;
mod wrap;

use std::io::{self, Write};
use std::time::Instant;

use listenlab_common::Format;

pub use cli::{Cli, Config};
pub use targets::Target;

use report::{Line, Snapshot};
use sampler::Sampler;
use workers::IdlePlaces;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A target selects no listener (exit 2); the message lists the nearest ones.
    #[error("{0}")]
    NoMatch(String),
    /// The command after `--` could not be started (exit 127, as shells do).
    #[error("cannot run '{command}': {source}")]
    Spawn {
        /// The program.
        command: String,
        /// Why.
        source: io::Error,
    },
    /// The `--plot` picture could not be written (exit 1); the message names the file.
    #[error("{0}")]
    Plot(String),
    /// A system call failed (exit 1).
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// Why it failed.
        source: io::Error,
    },
}

impl WatchError {
    fn io(context: &'static str, source: io::Error) -> Self {
        WatchError::Io { context, source }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            WatchError::NoMatch(_) => 2,
            WatchError::Spawn { .. } => 127,
            WatchError::Io { .. } | WatchError::Plot(_) => 1,
        }
    }
}

/// Runs listen-watch as configured, printing to `out`; returns the wrapped command's exit
/// code, if there was one.
pub fn run(config: &Config, out: &mut impl Write) -> Result<Option<i32>, WatchError> {
    // Observed before the first sample, so that our probe listeners are gone by then.
    let places = IdlePlaces::observe();
    let mut sampler = Sampler::new(config.targets.clone(), places)
        .map_err(|e| WatchError::io("opening a sock_diag netlink socket", e))?;
    let start = Instant::now();
    let all = sampler
        .dump()
        .map_err(|e| WatchError::io("reading sock_diag", e))?;
    let first = sampler.sample_from(start, &all);
    if let Some(message) = sampler.unmatched(&all).into_iter().next() {
        return Err(WatchError::NoMatch(message));
    }
    let write = |out: &mut dyn Write, text: String| {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| WatchError::io("writing to stdout", e))
    };
    if config.once {
        let snapshot = Snapshot {
            listeners: first,
            unreadable: sampler.unreadable(),
            idle_wchans: sampler.places().clone(),
        };
        let text = match config.format {
            Format::Json => serde_json::to_string(&snapshot).expect("serializes") + "\n",
            Format::Text => text::snapshot(&snapshot),
        };
        write(out, text)?;
        return Ok(None);
    }
    let summary = live::run(config, sampler, first, start, out)?;
    let code = summary.command_exit_code;
    let text = match config.format {
        Format::Json => {
            serde_json::to_string(&Line::Summary(Box::new(summary))).expect("serializes") + "\n"
        }
        Format::Text => text::summary(&summary),
    };
    write(out, text)?;
    Ok(code)
}
