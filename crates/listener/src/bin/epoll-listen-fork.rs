//! `epoll-listen-fork`: parse, validate, bind, run the simulator, map the outcome to an
//! exit code. Everything else lives in `listenlab_listener::forker`.

use std::process::ExitCode;

use anyhow::Context;
use listenlab_common::cli;
use listenlab_listener::forker::{self, Cli};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) if cli::is_broken_pipe(err.as_ref()) => ExitCode::SUCCESS,
        Err(err) => {
            cli::stderr_line(format_args!("epoll-listen-fork: error: {err:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let config = cli::parse::<Cli>().into_config();
    let listener = match config.bind() {
        Ok(listener) => listener,
        // Another address fixes it: a usage error, exit 2 (the path is never deleted).
        Err(err) if err.is_usage() => forker::usage_error(err),
        // The error names the step and the address itself ("listening on X"): no context
        // added here, or it would print twice.
        Err(err) => return Err(err.into()),
    };
    let out = forker::Output::stdout().context("preparing stdout for the report")?;
    forker::run(&config, &listener, out)?;
    // Returning (not exiting) drops the listener, which removes our unix socket file.
    Ok(ExitCode::SUCCESS)
}
