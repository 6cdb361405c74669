//! Adding reports up: counts are summed, histograms added (never percentiles averaged)
//! and every latency summary recomputed from the sum. What each other field becomes is
//! in [`merge`]'s docs and in README ("Merging reports").

use hdrhistogram::Histogram;

use super::load::Input;
use crate::latency::LatencySummary;
use crate::report::ConnectReport;

/// How many latency objects a report has (see [`phases`]).
const PHASES: usize = 7;

/// Why reports cannot be merged, naming the file at fault once.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct MergeError {
    /// The file whose report does not fit.
    pub file: Input,
    /// What does not fit, and what would (the file is not named again).
    pub reason: String,
}

/// The merged report, with what the caller should warn about.
#[derive(Debug)]
pub struct Merged {
    /// One report for all runs.
    pub report: ConnectReport,
    /// The runs' connect histograms added (`--hgrm`), µs.
    pub connect: Histogram<u64>,
    /// Differences that do not stop the merge (different targets), one line each.
    pub warnings: Vec<String>,
}

/// Every latency object of a report, by its JSON name; `None` where that phase was not
/// measured (e.g. `first_byte_latency_us` without `--read`).
fn phases(r: &ConnectReport) -> [(&'static str, Option<&LatencySummary>); PHASES] {
    [
        ("connect_latency_us", Some(&r.connect_latency_us)),
        ("first_byte_latency_us", r.first_byte_latency_us.as_ref()),
        ("complete_latency_us", r.complete_latency_us.as_ref()),
        ("connect_latency_raw_us", r.connect_latency_raw_us.as_ref()),
        (
            "first_byte_latency_raw_us",
            r.first_byte_latency_raw_us.as_ref(),
        ),
        (
            "complete_latency_raw_us",
            r.complete_latency_raw_us.as_ref(),
        ),
        ("schedule_lag_us", r.schedule_lag_us.as_ref()),
    ]
}

/// The same objects as [`phases`], in the same order, to overwrite.
fn phases_mut(r: &mut ConnectReport) -> [Option<&mut LatencySummary>; PHASES] {
    [
        Some(&mut r.connect_latency_us),
        r.first_byte_latency_us.as_mut(),
        r.complete_latency_us.as_mut(),
        r.connect_latency_raw_us.as_mut(),
        r.first_byte_latency_raw_us.as_mut(),
        r.complete_latency_raw_us.as_mut(),
        r.schedule_lag_us.as_mut(),
    ]
}

/// Decodes every measured phase's histogram of the report from `file`.
fn histograms(
    file: &Input,
    r: &ConnectReport,
) -> Result<[Option<Histogram<u64>>; PHASES], MergeError> {
    let mut out: [Option<Histogram<u64>>; PHASES] = Default::default();
    for (slot, (name, phase)) in out.iter_mut().zip(phases(r)) {
        if let Some(summary) = phase {
            let hist = summary.histogram.decode().map_err(|e| MergeError {
                file: file.clone(),
                reason: format!(
                    "not a socket-connect report: {name}.histogram is {e}; give the report \
                     as socket-connect --format json wrote it"
                ),
            })?;
            *slot = Some(hist);
        }
    }
    Ok(out)
}

/// Merges the reports (at least one), in order. Counts (`attempted`, `connected`,
/// `failed`, the error maps, `exchange_failed`, `response_bytes`, `closed_by_peer`,
/// `unwatched`, `unfinished`, `runs`) are summed; histograms are added and every summary recomputed
/// from the sum. The copies are taken to have run side by side: `elapsed_ms`,
/// `duration_ms`, `held_ms`, `timeout_ms`, `request_bytes` and `response_bytes_max` are the largest;
/// `connect_rate_per_s`, `target_rate_per_s`, `concurrency` and `source_addresses` the
/// sums (the load all copies made together); `interrupted` is true if any run was.
///
/// Refused, naming the file: a different transport, a different set of measured phases
/// (`--read`, `--rate`), histograms recorded with other bounds or significant figures.
/// A different target is merged, with a warning; the report names the first file's.
pub fn merge(reports: Vec<(Input, ConnectReport)>) -> Result<Merged, MergeError> {
    let mut reports = reports.into_iter();
    let (first_file, mut total) = reports.next().expect("merge has at least one report");
    let mut sums = histograms(&first_file, &total)?;
    let mut warnings = Vec::new();
    for (file, r) in reports {
        let refuse = |reason: String| MergeError {
            file: file.clone(),
            reason,
        };
        if r.transport != total.transport {
            return Err(refuse(format!(
                "is a {} report and {first_file} a {} one: unix and TCP latencies are not \
                 one distribution; merge each transport's reports on their own",
                r.transport.name(),
                total.transport.name(),
            )));
        }
        if r.target != total.target {
            warnings.push(format!(
                "{file} dialed {}, {first_file} {}; merged anyway, the report names {}",
                r.target, total.target, total.target
            ));
        }
        for ((name, mine), (_, theirs)) in phases(&total).into_iter().zip(phases(&r)) {
            let differs = match (mine.is_some(), theirs.is_some()) {
                (false, true) => format!("measured {name}, which {first_file} did not"),
                (true, false) => format!("did not measure {name}, which {first_file} did"),
                _ => continue,
            };
            return Err(refuse(format!(
                "{differs}; only runs with the same --read and --rate (on or off) can be \
                 merged"
            )));
        }
        for ((sum, theirs), (name, _)) in
            sums.iter_mut().zip(histograms(&file, &r)?).zip(phases(&r))
        {
            let (Some(sum), Some(theirs)) = (sum, theirs) else {
                continue;
            };
            let settings = |h: &Histogram<u64>| (h.low(), h.high(), h.sigfig());
            if settings(sum) != settings(&theirs) {
                let (l, h, s) = settings(&theirs);
                let (l0, h0, s0) = settings(sum);
                return Err(refuse(format!(
                    "{name}.histogram tracks {l}..{h} us at {s} significant figures, not \
                     {l0}..{h0} us at {s0} as in {first_file}: histograms with different \
                     settings cannot be added"
                )));
            }
            // With the same bounds the values always fit; said all the same, not a panic.
            sum.add(&theirs).map_err(|e| {
                refuse(format!(
                    "{name}.histogram cannot be added to {first_file}'s: {e}"
                ))
            })?;
        }
        add_fields(&mut total, &r);
    }
    for (slot, sum) in phases_mut(&mut total).into_iter().zip(&sums) {
        if let (Some(slot), Some(sum)) = (slot, sum) {
            *slot = LatencySummary::from_histogram(sum);
        }
    }
    let [connect, ..] = sums;
    Ok(Merged {
        report: total,
        connect: connect.expect("every report has connect_latency_us"),
        warnings,
    })
}

/// Adds `r`'s fields other than the latencies into `total` (see [`merge`]).
fn add_fields(total: &mut ConnectReport, r: &ConnectReport) {
    total.runs += r.runs;
    total.attempted += r.attempted;
    total.connected += r.connected;
    total.failed += r.failed;
    total.errors += &r.errors;
    for (errno, n) in &r.other_errors {
        *total.other_errors.entry(errno.clone()).or_default() += n;
    }
    total.elapsed_ms = total.elapsed_ms.max(r.elapsed_ms);
    total.connect_rate_per_s =
        ((total.connect_rate_per_s + r.connect_rate_per_s) * 10.0).round() / 10.0;
    total.target_rate_per_s = match (total.target_rate_per_s, r.target_rate_per_s) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    };
    total.concurrency += r.concurrency;
    total.timeout_ms = total.timeout_ms.max(r.timeout_ms);
    total.source_addresses += r.source_addresses;
    total.held_ms = total.held_ms.max(r.held_ms);
    total.closed_by_peer += r.closed_by_peer;
    total.unwatched += r.unwatched;
    total.interrupted |= r.interrupted;
    total.request_bytes = total.request_bytes.max(r.request_bytes);
    total.exchange_failed += r.exchange_failed;
    total.exchange_errors += &r.exchange_errors;
    total.response_bytes += r.response_bytes;
    total.response_bytes_max = total.response_bytes_max.max(r.response_bytes_max);
    total.unfinished += r.unfinished;
    total.duration_ms = total.duration_ms.max(r.duration_ms);
}
