//! `socket-connect`: parse and validate the command line, run, map the outcome to an exit
//! code. The single exit point of the program.

use std::process::ExitCode;

use clap::Parser;
use listenlab_connector::{Cli, app, output};

fn main() -> ExitCode {
    let config = Cli::parse().into_config();
    match app::run_blocking(config) {
        Ok(code) => code,
        Err(err) if output::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("socket-connect: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
