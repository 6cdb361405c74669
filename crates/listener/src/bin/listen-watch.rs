//! `listen-watch`: parse, validate, watch, print, map the outcome to an exit code (the
//! wrapped command's, when there is one). Everything else lives in
//! `listenlab_listener::watch`.

use std::process::ExitCode;

use listenlab_common::cli;
use listenlab_listener::watch::{self, Cli, WatchError};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        // A target that matches nothing is a usage error: one line, exit 2.
        Err(WatchError::NoMatch(message)) => watch::cli::usage_error(message),
        Err(err) => {
            cli::stderr_line(format_args!("listen-watch: error: {err}"));
            ExitCode::from(err.exit_code())
        }
    }
}

fn run() -> Result<ExitCode, WatchError> {
    let config = cli::parse::<Cli>().into_config();
    let code = watch::run(&config, &mut std::io::stdout().lock())?;
    // The wrapped command's code, clamped to what an exit status holds.
    Ok(ExitCode::from(code.map_or(0, |c| c.clamp(0, 255) as u8)))
}
