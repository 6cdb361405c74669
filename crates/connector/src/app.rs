//! One run, from a validated [`Config`] to an exit code: raise the open-file limit, dial
//! (workers -> collector), hold until released, close, then report.
//!
//! A `--count` run ends when its connects and answers are done, then holds; a
//! `--duration` run ends at its end (`ending.rs`) and holds nothing. SIGINT/SIGTERM end
//! either early, with a report. The intervals (`--interval`) run while the collector does:
//! over the connect and exchange phase, not over the hold, where nothing is counted.

use std::fs::File;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use listenlab_common::{Endpoint, Format};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use crate::clock::RunClock;
use crate::collect::{Setup, Tally, collect, progress_bar};
use crate::config::{Config, Hold};
use crate::connlog::ConnLog;
use crate::dial::{Dialer, errno_name};
use crate::dialers::{Plan, Schedule, join_dialers, spawn_dialers};
use crate::ending::RunEnd;
use crate::hgrm::HgrmFile;
use crate::hlog::HlogFile;
use crate::hold::{self, Signals};
use crate::intervals::{Intervals, Measured};
use crate::latency::LatencySummary;
use crate::report::ConnectReport;
use crate::responses::Responses;
use crate::watch::PeerCloseWatch;
use crate::{interval_text, limits, output, plot};

/// Outcomes buffered between the dial tasks and the collector before senders wait.
const CHANNEL_CAPACITY: usize = 4096;

/// Raises the open-file limit, grows the descriptor table (before any thread exists),
/// builds the runtime and runs. Blocking: call it from `main`.
pub fn run_blocking(config: Config) -> anyhow::Result<ExitCode> {
    listenlab_common::limits::raise_nofile()
        .context("raising the soft open-file limit to the hard limit")?;
    limits::prewarm_fd_table(config.open_at_most()).context("growing the descriptor table")?;
    let runtime = if config.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads)
            .enable_all()
            .build()
    }
    .context("starting the tokio runtime")?;
    runtime.block_on(run(config))
}

/// Creates an output file before the run, so that a path that cannot be written fails
/// at once, not after the run (`cli` already refused what is not a regular file).
fn create(flag: &str, path: Option<&Path>) -> anyhow::Result<Option<File>> {
    path.map(|path| {
        File::create(path).with_context(|| format!("creating {flag} file '{}'", path.display()))
    })
    .transpose()
}

/// The output files of a run, created before it.
struct Files {
    hlog: Option<File>,
    connlog: Option<File>,
}

/// What the collector is given for `config`'s run, which started at `clock`.
fn collector_setup(
    config: &Config,
    clock: RunClock,
    end: &RunEnd,
    slots: Option<Arc<Semaphore>>,
    responses: Option<Responses>,
    bar: indicatif::ProgressBar,
    files: Files,
) -> Setup {
    let json = config.format == Format::Json;
    Setup {
        bar,
        // A --duration run holds nothing.
        capacity: match config.duration {
            Some(_) => 0,
            None => config.count as usize,
        },
        responses,
        end: end.signal(),
        hold: config.duration.is_none(),
        slots,
        intervals: Intervals::new(clock, config.interval, config.measured(), json),
        hlog: files
            .hlog
            .zip(config.hlog.clone())
            .map(|(f, p)| HlogFile::new(f, p)),
        connlog: files
            .connlog
            .zip(config.connections_log.clone())
            .map(|(f, p)| ConnLog::new(f, p, clock)),
    }
}

/// The whole run, inside the runtime.
async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let hgrm_file = config.hgrm.as_deref().map(HgrmFile::create).transpose()?;
    let hlog_file = create("--hlog", config.hlog.as_deref())?;
    let connlog_file = create("--connections-log", config.connections_log.as_deref())?;
    warn_about_ports(&config);
    let mut signals = Signals::new().context("installing the SIGINT/SIGTERM handlers")?;
    let dialer = Dialer::new(&config.target, config.timeout, config.wait_for_backlog)
        .with_context(|| format!("preparing the address '{}'", config.target))?;

    let visible = !config.quiet && config.format == Format::Text;
    let bar = progress_bar(config.duration.is_none().then_some(config.count), visible);
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let responses = match config.exchange.read {
        Some(mode) => Some(
            Responses::new(mode, config.exchange.timeout)
                .context("creating the epoll set that waits for answers")?,
        ),
        None => None,
    };
    let clock = RunClock::now();
    let end = RunEnd::new(config.duration.map(|d| clock.start + d));
    let slots = config
        .closed_loop()
        .then(|| Arc::new(Semaphore::new(config.concurrency)));
    let files = Files {
        hlog: hlog_file,
        connlog: connlog_file,
    };
    let setup = collector_setup(&config, clock, &end, slots.clone(), responses, bar, files);
    let mut collector = tokio::spawn(collect(rx, setup));
    let schedule = Schedule {
        start: clock.start,
        rate: config.rate,
    };
    let plan = Plan {
        dialer,
        sources: config.sources.clone(),
        // A --duration run ends by time, not by count.
        count: if config.duration.is_some() {
            u64::MAX
        } else {
            config.count
        },
        schedule,
        exchange: config.exchange.clone(),
        end: end.signal(),
        slots,
    };
    let mut dialers = spawn_dialers(plan, config.concurrency, tx);
    // A signal ends the run: the dial tasks give up what they have under way (counting
    // it) and the collector stops waiting for answers. A panicked dial task fails the
    // run: dropping `dialers` on the way out aborts the rest.
    let mut interrupted = false;
    let cut = tokio::select! {
        cut = join_dialers(&mut dialers) => cut?,
        _ = signals.recv() => {
            interrupted = true;
            end.fire();
            join_dialers(&mut dialers).await?
        }
    };
    // With --read the collector goes on until every answer came or timed out (or, in a
    // --duration run, until the end).
    let collected = tokio::select! {
        collected = &mut collector => collected,
        _ = signals.recv(), if !interrupted => {
            interrupted = true;
            end.fire();
            collector.await
        }
    };
    let mut tally = collected.context("the collector task failed")??;
    tally.unfinished += cut;
    let elapsed = tally
        .last_outcome
        .map_or(Duration::ZERO, |t| t.duration_since(schedule.start));

    // Not `tally.connected`: `--read close`, failed exchanges and --duration runs leave
    // nothing to hold.
    let open = tally.held.len() as u64;
    // Registered only now, to keep the connect phase to socket() + connect(); closes that
    // already happened are reported all the same (see watch.rs).
    let watch = PeerCloseWatch::new(&tally.held).context("watching for peer closes")?;
    let hold_started = Instant::now();
    if open > 0 && !interrupted && config.hold != Hold::For(Duration::ZERO) {
        if config.format == Format::Json {
            output::print_holding(open).context("writing the holding line to stdout")?;
        }
        if !config.quiet {
            eprintln!("socket-connect: {}", hold::status_line(open, config.hold));
        }
        hold::wait(config.hold, &mut signals).await;
    }
    let held = hold_started.elapsed();
    let peer = PeerCloses {
        closed: watch.count_closed().context("counting peer closes")?,
        unwatched: watch.unwatched(),
    };
    let report = build_report(&config, &tally, elapsed, held, peer, interrupted);
    let figure = config.plot.as_ref().map(|_| {
        let intervals = plot::client_intervals(&tally.intervals.each);
        plot::figure(&config, &report, &tally, &intervals)
    });
    // Close every connection before reporting, so the report marks the end of the run.
    let Tally {
        connect,
        held: fds,
        intervals,
        ..
    } = tally;
    drop(fds);

    // Name the stream: a full or closed stdout (`> /dev/full`) is otherwise a bare errno.
    output::print_report(&report, config.format).context("writing the report to stdout")?;
    if config.format == Format::Text
        && let Some(table) = interval_text::render_table(&intervals)
    {
        output::print_text(&table).context("writing the interval table to stdout")?;
    }
    if let Some(file) = hgrm_file {
        file.write(&connect.corrected)?;
    }
    if let (Some(figure), Some(path)) = (&figure, &config.plot) {
        plot::write(path, figure)?;
    }
    // In a --duration run every connect made counts; in a --count run, every one asked.
    let wanted = match config.duration {
        Some(_) => report.attempted,
        None => config.count,
    };
    if config.require_all && (report.connected < wanted || report.exchange_failed > 0) {
        // Exit 1 must say why (issue 12: it once said nothing).
        eprintln!("socket-connect: {}", require_all_failure(&report, wanted));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The one line explaining a `--require-all` exit 1: `--require-all: 497 of 500
/// connected; 3 failed (refused 3)`, plus the connects an interruption left unmade.
fn require_all_failure(report: &ConnectReport, count: u64) -> String {
    let mut why = Vec::new();
    if report.failed > 0 {
        why.push(format!(
            "{} failed ({})",
            report.failed,
            output::error_summary(report)
        ));
    }
    if report.exchange_failed > 0 {
        why.push(format!(
            "{} exchanges failed ({})",
            report.exchange_failed,
            output::exchange_error_summary(report)
        ));
    }
    let unmade = count.saturating_sub(report.attempted);
    if unmade > 0 {
        why.push(format!(
            "{unmade} not made (SIGINT/SIGTERM interrupted the connect phase)"
        ));
    }
    format!(
        "--require-all: {} of {count} connected; {}",
        report.connected,
        why.join(", ")
    )
}

fn warn_about_ports(config: &Config) {
    let Endpoint::Inet(addr) = config.target else {
        return;
    };
    let Some(range) = limits::local_port_range() else {
        return;
    };
    if let Some(warning) =
        limits::port_range_warning(config.open_at_most(), config.sources.len(), addr, range)
    {
        eprintln!("socket-connect: warning: {warning}");
    }
}

/// What the peer-close watch learned about the held connections.
#[derive(Debug, Clone, Copy)]
struct PeerCloses {
    /// Watched connections the peer closed or reset.
    closed: u64,
    /// Connections that could not be watched.
    unwatched: u64,
}

fn build_report(
    config: &Config,
    tally: &Tally,
    elapsed: Duration,
    held: Duration,
    peer: PeerCloses,
    interrupted: bool,
) -> ConnectReport {
    let connected = tally.connected;
    // Which phases were measured: the others are `null` in the report.
    let summary = LatencySummary::from_histogram;
    let Measured {
        first_byte,
        complete,
    } = config.measured();
    let paced = config.rate.is_some();
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        connected as f64 / secs
    } else {
        0.0
    };
    ConnectReport {
        target: config.target.clone(),
        transport: config.transport(),
        runs: 1,
        attempted: tally.attempted(),
        connected,
        failed: tally.errors.total(),
        errors: tally.errors,
        other_errors: tally
            .other_errnos
            .iter()
            .map(|(&errno, &n)| (errno_name(errno), n))
            .collect(),
        connect_latency_us: LatencySummary::from_histogram(&tally.connect.corrected),
        elapsed_ms: (secs * 1e6).round() / 1e3,
        connect_rate_per_s: (rate * 10.0).round() / 10.0,
        target_rate_per_s: config.rate,
        concurrency: config.concurrency as u64,
        // Rounded up, as tokio's millisecond timer applies it (1.5ms fires at 2 ms).
        timeout_ms: u64::try_from(config.timeout.as_nanos().div_ceil(1_000_000))
            .unwrap_or(u64::MAX),
        source_addresses: config.sources.len() as u64,
        held_ms: u64::try_from(held.as_millis()).unwrap_or(u64::MAX),
        closed_by_peer: peer.closed,
        unwatched: peer.unwatched,
        interrupted,
        request_bytes: config
            .exchange
            .request
            .as_ref()
            .map_or(0, |r| r.len() as u64),
        exchange_failed: tally.exchange_errors.total(),
        exchange_errors: tally.exchange_errors,
        response_bytes: tally.response_bytes,
        response_bytes_max: tally.response_bytes_max,
        first_byte_latency_us: first_byte.then(|| summary(&tally.first_byte.corrected)),
        complete_latency_us: complete.then(|| summary(&tally.complete.corrected)),
        connect_latency_raw_us: paced.then(|| summary(&tally.connect.raw)),
        first_byte_latency_raw_us: (paced && first_byte).then(|| summary(&tally.first_byte.raw)),
        complete_latency_raw_us: (paced && complete).then(|| summary(&tally.complete.raw)),
        schedule_lag_us: paced.then(|| summary(&tally.lag)),
        duration_ms: config
            .duration
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        unfinished: tally.unfinished,
    }
}
