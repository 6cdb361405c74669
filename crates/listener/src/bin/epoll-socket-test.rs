//! `epoll-socket-test`: parse, validate, run the probe, print the report, map the exit
//! code. Everything else lives in `listenlab_listener::probe`.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use listenlab_common::{Format, cli};
use listenlab_listener::probe::{self, Expect, Interrupt, ProbeError, cli::Cli};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            if cli::is_broken_pipe(err.as_ref()) {
                return ExitCode::SUCCESS;
            }
            cli::stderr_line(format_args!("epoll-socket-test: error: {err:#}"));
            let code = err
                .downcast_ref::<ProbeError>()
                .map_or(1, ProbeError::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let config = cli::parse::<Cli>().into_config();
    // Before any thread or child exists, so that all of them inherit the blocked mask.
    let intr = Interrupt::install().context("blocking SIGINT, SIGTERM and SIGHUP")?;
    let report = probe::run(&config, &intr)?;
    let text = match config.format {
        Format::Json => serde_json::to_string(&report)? + "\n",
        Format::Text => probe::render::text(&report),
    };
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    for r in report.waiters.iter().filter(|r| !r.observed) {
        let why = r.error.as_deref().unwrap_or("no answer");
        cli::stderr_line(format_args!(
            "epoll-socket-test: {} {} {} not observed: {why}",
            r.family, r.scenario, r.mode
        ));
    }
    if config.expect == Some(Expect::StrictEdge) && report.differences > 0 {
        // The report on stdout shows the cells; stderr says why the exit code is 1.
        cli::stderr_line(format_args!(
            "epoll-socket-test: --expect strict-edge: {} of {} single-waiter cells differ \
             from the strict-edge reading ({}); the report marks them (* in text, differs \
             in JSON)",
            report.differences,
            report.single_waiter.len(),
            probe::verdict::differing_triggers(&report).join(", ")
        ));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
