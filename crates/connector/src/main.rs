//! `socket-connect`: parse and validate the command line, run, map the outcome to an exit
//! code. The single exit point of the program.

use std::process::ExitCode;

use listenlab_common::cli;
use listenlab_connector::{Cli, run_blocking};

fn main() -> ExitCode {
    let config = cli::parse::<Cli>().into_config();
    match run_blocking(config) {
        Ok(code) => code,
        Err(err) if cli::is_broken_pipe(err.as_ref()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("socket-connect: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
