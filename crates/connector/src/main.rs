//! `socket-connect`: parse and validate the command line, run, map the outcome to an exit
//! code. The single exit point of the program.

use std::process::ExitCode;

use listenlab_common::cli;
use listenlab_connector::{Action, Cli, run_blocking};

fn main() -> ExitCode {
    let outcome = match cli::parse::<Cli>().into_action() {
        Action::Run(config) => run_blocking(*config),
        Action::Merge(merged) => merged.print(),
    };
    match outcome {
        Ok(code) => code,
        Err(err) if cli::is_broken_pipe(err.as_ref()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("socket-connect: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
