//! `socket-connect merge A.json B.json ...`: one report from the JSON reports of several
//! runs (on several hosts, or several processes on one), whose counts are sums and whose
//! histograms are added, never averaged (issue 7).
//!
//! `load` reads one file, `add` adds the reports up; [`MergeArgs::into_merged`] does
//! both and ends the process with a usage error (exit 2) naming the file at fault.

mod add;
mod load;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use listenlab_common::Format;

use crate::output;
use crate::report::ConnectReport;

/// `socket-connect merge`: the reports to merge and how to print the result.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The files `socket-connect --format json` wrote, one run each (or a merged report);
    /// {"event":...} lines in them are skipped.
    #[arg(value_name = "REPORT.json", required = true)]
    files: Vec<PathBuf>,

    /// Report format: an aligned table, or one JSON object of the same shape as a run's
    /// (`runs` is the number of runs merged).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// The merged report, ready to print.
#[derive(Debug)]
pub struct Merged {
    /// One report for every run.
    pub report: ConnectReport,
    /// As `--format` asked.
    pub format: Format,
}

impl MergeArgs {
    /// Reads every file and merges the reports; exits 2 naming the file on bad input
    /// (unreadable, not a socket-connect report, no histograms, reports that cannot be
    /// added up). Differences that do not stop the merge are warned about on stderr.
    pub fn into_merged(self) -> Merged {
        let usage_error = |msg: String| -> ! {
            listenlab_common::cli::usage_error::<crate::Cli>(format!("merge {msg}"))
        };
        let mut reports = Vec::with_capacity(self.files.len());
        for file in self.files {
            match load::load(&file) {
                Ok(report) => reports.push((file, report)),
                Err(e) => usage_error(format!("'{}': {e}", file.display())),
            }
        }
        let merged = add::merge(reports).unwrap_or_else(|e| usage_error(e.to_string()));
        for warning in merged.warnings {
            listenlab_common::cli::stderr_line(format_args!("socket-connect: warning: {warning}"));
        }
        Merged {
            report: merged.report,
            format: self.format,
        }
    }
}

impl Merged {
    /// Prints the merged report on stdout.
    pub fn print(&self) -> anyhow::Result<ExitCode> {
        output::print_report(&self.report, self.format).context("writing the report to stdout")?;
        Ok(ExitCode::SUCCESS)
    }
}
