//! `socket-connect merge A.json B.json ...`: one report from the JSON reports of several
//! runs (on several hosts, or several processes on one), whose counts are sums and whose
//! histograms are added, never averaged (issue 7).
//!
//! `load` reads one report (a file, or stdin for `-`), `add` adds the reports up;
//! [`MergeArgs::into_merged`] does both and ends the process with a usage error (exit 2)
//! naming the file at fault. `--hgrm` is written by the run's writer (`hgrm.rs`).

mod add;
mod load;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use hdrhistogram::Histogram;
use listenlab_common::Format;
use listenlab_common::outpath::check_output_file;

use self::load::Input;
use crate::hgrm::HgrmFile;
use crate::output;
use crate::report::ConnectReport;

/// `socket-connect merge`: the reports to merge and how to print the result.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The files `socket-connect --format json` wrote, one run each (or a merged report);
    /// {"event":...} lines in them are skipped. `-` (once) reads one from stdin.
    #[arg(value_name = "REPORT.json", required = true)]
    files: Vec<PathBuf>,

    /// Report format: an aligned table, or one JSON object of the same shape as a run's
    /// (`runs` is the number of runs merged).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Also write the merged connect-latency distribution (microseconds) to FILE in
    /// HdrHistogram's .hgrm text format, as a run's --hgrm (a new or regular file, not
    /// one of the reports; checked before they are read).
    #[arg(long, value_name = "FILE")]
    hgrm: Option<PathBuf>,
}

/// The merged report, ready to print.
#[derive(Debug)]
pub struct Merged {
    /// One report for every run.
    pub report: ConnectReport,
    /// As `--format` asked.
    pub format: Format,
    /// `--hgrm`, and the connect histogram to write there.
    hgrm: Option<(PathBuf, Histogram<u64>)>,
}

/// True when `a` and `b` are the same existing file (by device and inode, so that
/// `./a.json` and `a.json`, or a link, count as one).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// The arguments checked before any report is read: `-` at most once, and a `--hgrm`
/// path that can be written and is not one of the reports.
fn check_args(inputs: &[Input], hgrm: Option<&Path>) -> Result<(), String> {
    let stdin = inputs.iter().filter(|i| **i == Input::Stdin).count();
    if stdin > 1 {
        return Err(format!(
            "'-' (stdin) is given {stdin} times; stdin holds one report, give the others as \
             files"
        ));
    }
    let Some(hgrm) = hgrm else { return Ok(()) };
    check_output_file(hgrm).map_err(|reason| format!("--hgrm '{}': {reason}", hgrm.display()))?;
    if let Some(report) = inputs
        .iter()
        .filter_map(Input::path)
        .find(|p| same_file(p, hgrm))
    {
        let named = if report.as_os_str() == hgrm.as_os_str() {
            String::new()
        } else {
            format!(" (given as '{}')", report.display())
        };
        return Err(format!(
            "--hgrm '{}' is one of the reports to merge{named}; give another file for the \
             distribution",
            hgrm.display()
        ));
    }
    Ok(())
}

impl MergeArgs {
    /// Reads every report and merges them; exits 2 naming the file on bad input
    /// (unreadable, not a socket-connect report, no histograms, reports that cannot be
    /// added up), or on `-` given twice or a `--hgrm` path that cannot be written.
    /// Differences that do not stop the merge are warned about on stderr.
    pub fn into_merged(self) -> Merged {
        let usage_error = |msg: String| -> ! {
            listenlab_common::cli::usage_error::<crate::Cli>(format!("merge {msg}"))
        };
        let inputs: Vec<Input> = self.files.into_iter().map(Input::new).collect();
        check_args(&inputs, self.hgrm.as_deref()).unwrap_or_else(|msg| usage_error(msg));
        let mut reports = Vec::with_capacity(inputs.len());
        for input in inputs {
            match load::load(&input) {
                Ok(report) => reports.push((input, report)),
                Err(e) => usage_error(format!("{input}: {e}")),
            }
        }
        let merged = add::merge(reports).unwrap_or_else(|e| usage_error(e.to_string()));
        for warning in merged.warnings {
            listenlab_common::cli::stderr_line(format_args!("socket-connect: warning: {warning}"));
        }
        Merged {
            report: merged.report,
            format: self.format,
            hgrm: self.hgrm.map(|path| (path, merged.connect)),
        }
    }
}

impl Merged {
    /// Prints the merged report on stdout, then writes `--hgrm`.
    pub fn print(&self) -> anyhow::Result<ExitCode> {
        output::print_report(&self.report, self.format).context("writing the report to stdout")?;
        if let Some((path, connect)) = &self.hgrm {
            HgrmFile::create(path)?.write(connect)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
