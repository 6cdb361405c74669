//! The command line: the clap derive [`Cli`] with typed values, and [`Cli::into_config`],
//! which checks the flags against each other and against the machine (the path exists
//! and is a socket, the name resolves, the count fits the open-file limit).
//!
//! Bad input ends the process here with clap's usage error (exit 2) and nothing on
//! stdout: clap rejects malformed values itself, and `into_config` reports the rest
//! through `Cli::command().error(ErrorKind::ValueValidation, ..)`.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser};
use listenlab_common::outpath::check_output_file;
use listenlab_common::plot::PlotPath;
use listenlab_common::{
    Endpoint, Format, HostPort, Pick, ResolveError, UnixPath, file_kind, parse_duration,
    whole_number,
};

use crate::config::{Config, Hold};
use crate::exchange::{Exchange, ReadMode};
use crate::merge::{MergeArgs, Merged};
use crate::request::{self, RequestError};
use crate::source::SourceList;
use crate::{dialers, limits};

/// Default for `--concurrency`. On loopback a connect completes inside the call, so any
/// value from 16 to 1024 measured the same within noise (README, "Benchmark"); against a
/// remote listener, connects in flight bound the rate (128 at 1 ms RTT is 128k/s), while a
/// slow listener is not flooded with thousands of SYNs at once.
pub const DEFAULT_CONCURRENCY: u32 = 128;

/// Most `--threads`. More worker threads than this buys nothing for a connect storm, and
/// tokio aborts the process (not a clean error) when the OS refuses to start one.
pub const MAX_THREADS: u64 = 1024;

const EXAMPLES: &str = "\
Examples:
  # 500 TCP connections as fast as possible, held until Enter (or stdin EOF, or Ctrl-C)
  socket-connect --count 500 --inet 127.0.0.1:9000

  # 1000 connections to a unix socket, held for 10 seconds, JSON report
  socket-connect --count 1000 --unix /tmp/listen.sock --hold 10s --format json

  # 200 connections per second on a fixed schedule; latency counted from each scheduled start
  socket-connect --count 2000 --rate 200 --inet [::1]:9000 --hold 0 --hgrm connect.hgrm

  # 19000 connections to one port, spread over 8 loopback source addresses
  socket-connect --count 19000 --inet 127.0.0.1:9000 --source 127.0.0.2-127.0.0.9 --hold 0

  # 60 s closed loop: 16 slots, each reconnecting once its answer is complete; JSON lines
  socket-connect --duration 60s -c 16 --unix /run/php/fpm.sock --fastcgi /var/www/x.php \
    --read close --format json --hlog run.hlog

  # 30 s open loop at 500 connects/s, one line per connection in a log
  socket-connect --duration 30s --rate 500 --inet 127.0.0.1:9000 --connections-log c.jsonl

  # One report from the JSON reports of several runs (histograms added, counts summed)
  socket-connect merge host1.json host2.json --format json";

/// Open N unix or TCP connections to a listening socket, hold them, and report the connect
/// latency (HDR histogram, microseconds) and every failure by kind.
#[derive(Debug, Parser)]
#[command(name = "socket-connect", version, after_help = EXAMPLES)]
// A subcommand (`merge`) takes the place of the run's flags: it needs no target.
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
#[command(group(ArgGroup::new("target").required(true).args(["unix", "inet"])))]
#[command(group(ArgGroup::new("request").args(["send", "send_file", "fastcgi"])))]
pub struct Cli {
    /// Connect to the unix stream socket at PATH (at most 107 bytes; it must exist).
    #[arg(long, value_name = "PATH")]
    unix: Option<UnixPath>,

    /// Connect over TCP to HOST:PORT: 127.0.0.1:9000, [::1]:9000, or localhost:9000 (a
    /// name is resolved once; its first IPv4 address is used if it has one).
    // The doc is clap's help text, shown as written: `[::1]` stays plain, not a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, value_name = "HOST:PORT", value_parser = HostPort::parse_target)]
    inet: Option<HostPort>,

    /// Number of connections to open [default: 1].
    // Numeric flags allow negative numbers so that `-1` reaches the parser (and its
    // message naming the range) instead of being read as an unknown flag. No clap default:
    // `into_config` must see whether it was given, to refuse it with --duration.
    #[arg(long, short = 'n', value_name = "N", allow_negative_numbers = true,
          value_parser = whole_number::<NonZeroU32>(1..))]
    count: Option<NonZeroU32>,

    /// Run for this long instead of making --count connects; nothing is held, each
    /// connection closes once its exchange is over. With --rate: R connects per second
    /// for D (open loop). Without: --concurrency slots, each reconnecting as soon as its
    /// exchange ends or fails (closed loop). SIGINT/SIGTERM end it early.
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true,
          value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Most connects in flight at once [default: the smaller of --count and 128; with
    /// --duration and no --rate, the slots of the closed loop, default 128].
    #[arg(long, short = 'c', value_name = "C", allow_negative_numbers = true,
          value_parser = whole_number::<NonZeroU32>(1..))]
    concurrency: Option<NonZeroU32>,

    /// Open R connections per second on a fixed schedule instead of as fast as possible;
    /// latency is then measured from each connect's scheduled start, so a stalled listener
    /// shows up as latency (no coordinated omission).
    #[arg(long, value_name = "R", allow_negative_numbers = true, value_parser = parse_rate)]
    rate: Option<f64>,

    /// Give up on one connect after this long: 250ms, 2s, 1m.
    #[arg(long, value_name = "DURATION", default_value = "5s", allow_negative_numbers = true,
          value_parser = parse_duration)]
    timeout: Duration,

    /// Hold the connections for this long, ignoring stdin (0 closes them at once). Without
    /// it, hold until a line or EOF on stdin, or SIGINT/SIGTERM.
    #[arg(long, value_name = "DURATION", allow_negative_numbers = true,
          value_parser = parse_duration)]
    hold: Option<Duration>,

    /// On a unix socket whose accept queue is full, retry until --timeout (as a blocking
    /// client waits) instead of counting `would_block` at once.
    #[arg(long)]
    wait_for_backlog: bool,

    /// Spread TCP connects over these local source addresses, round-robin, each bound with
    /// IP_BIND_ADDRESS_NO_PORT: 127.0.0.2,127.0.0.3 or a range 127.0.0.2-127.0.0.9. Each
    /// address brings a whole local port range.
    #[arg(long, value_name = "ADDR[,ADDR...]")]
    source: Option<SourceList>,

    /// Report format: an aligned table, or one JSON object (after a
    /// {"event":"holding","open":N} line when holding).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Also write the full connect-latency distribution (microseconds) to FILE in
    /// HdrHistogram's .hgrm text format (a new or regular file; checked before the run).
    #[arg(long, value_name = "FILE")]
    hgrm: Option<PathBuf>,

    /// Draw the run as an SVG picture in FILE.svg: the percentile spectrum of each measured
    /// phase and latency per interval (a new or regular file; checked before the run).
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PlotPath>,
    /// Live figures per interval of this length: with --format json, one
    /// {"event":"interval",...} line each on stdout before the report; in text, a table
    /// after it when the run lasted more than one.
    #[arg(long, value_name = "DURATION", default_value = "1s", allow_negative_numbers = true,
          value_parser = parse_duration)]
    interval: Duration,

    /// Write HdrHistogram's interval log to FILE: one base64 V2-compressed histogram per
    /// interval and phase (Tag=connect, Tag=first_byte, Tag=complete).
    #[arg(long, value_name = "FILE")]
    hlog: Option<PathBuf>,

    /// Write one JSON line per connection to FILE: start (unix ms), phase times (us),
    /// outcome, bytes.
    #[arg(long, value_name = "FILE")]
    connections_log: Option<PathBuf>,

    /// Exit 1 unless every connect succeeded.
    #[arg(long)]
    require_all: bool,

    /// No progress bar and no status lines on stderr (warnings and errors remain).
    #[arg(long, short = 'q')]
    quiet: bool,

    /// Send TEXT once right after each connect; \r \n \t \\ \0 and \xHH are escapes
    /// (e.g. 'GET / HTTP/1.0\r\n\r\n').
    #[arg(long, value_name = "TEXT", value_parser = parse_send)]
    send: Option<Bytes>,

    /// Send the bytes of FILE as they are once right after each connect (e.g. a captured
    /// HTTP or FastCGI request).
    #[arg(long, value_name = "FILE")]
    send_file: Option<PathBuf>,

    /// Send a FastCGI GET request for SCRIPT (SCRIPT_FILENAME and SCRIPT_NAME) with
    /// QUERY_STRING QUERY once right after each connect, as a web server sends it to
    /// PHP-FPM: /var/www/sleep.php?s=1.
    #[arg(long, value_name = "SCRIPT[?QUERY]", value_parser = parse_fastcgi)]
    fastcgi: Option<Bytes>,

    /// Read the answer: first-byte waits for its first byte, then holds the connection;
    /// close reads until the peer closes and does not hold. Without it nothing is read.
    #[arg(long, value_enum, value_name = "UNTIL")]
    read: Option<ReadMode>,

    /// Give up on an exchange (sending, then --read) after this long, counting it as
    /// read_timeout.
    #[arg(long, value_name = "DURATION", default_value = "30s", allow_negative_numbers = true,
          value_parser = parse_duration)]
    read_timeout: Duration,

    /// Runtime worker threads, 1 to 1024 [default: the number of CPUs]. 1 runs everything
    /// on the main thread (a current-thread runtime).
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = whole_number::<u32>(1..=MAX_THREADS))]
    threads: Option<u32>,

    #[command(subcommand)]
    command: Option<Command>,
}

/// What `socket-connect` does besides a run.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Merge the JSON reports of several runs into one: counts summed, histograms added
    /// (never percentiles averaged), every summary recomputed.
    Merge(MergeArgs),
}

/// What the command line asks for, validated.
#[derive(Debug)]
pub enum Action {
    /// A run (the invocation without a subcommand); boxed, as is the merge: both are
    /// large and live once.
    Run(Box<Config>),
    /// `socket-connect merge`: the merged report, to print.
    Merge(Box<Merged>),
}

/// The bytes of a request flag (a newtype: clap reads a bare `Vec` as many values).
#[derive(Debug, Clone)]
pub struct Bytes(Vec<u8>);

/// `--send TEXT`, its escapes decoded.
fn parse_send(text: &str) -> Result<Bytes, RequestError> {
    request::unescape(text).map(Bytes)
}

/// `--fastcgi SCRIPT[?QUERY]`, as the request it stands for.
fn parse_fastcgi(text: &str) -> Result<Bytes, RequestError> {
    request::fastcgi_get(text).map(Bytes)
}

/// `--rate`: a positive, finite number of connects per second.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err("expected a positive number of connects per second, e.g. 200 or 0.5".into()),
    }
}

/// `x` as users type it: plain for ordinary magnitudes, `1e-20` / `1.157e15` otherwise
/// (f64's `Display` writes every digit: `0.00000000000000000001`).
fn short_number(x: f64) -> String {
    if x == 0.0 || (1e-4..1e15).contains(&x.abs()) {
        x.to_string()
    } else if x == x.trunc() || x.abs() < 1e-4 {
        let e = format!("{x:.3e}");
        // Drop the zeros a round mantissa gets: 1.000e-20 -> 1e-20.
        let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        format!("{mantissa}e{exp}")
    } else {
        format!("{x:e}")
    }
}

/// A duration as a message shows it: `0` for zero (not `0ns`), else `250ms`, `1.5s`.
fn shown(d: Duration) -> String {
    if d.is_zero() {
        "0".to_owned()
    } else {
        format!("{d:?}")
    }
}

/// Exits 2 with a one-line usage error naming the problem.
fn usage_error(msg: impl std::fmt::Display) -> ! {
    listenlab_common::cli::usage_error::<Cli>(msg)
}

/// Checks that a unix target exists and is a socket.
fn check_unix(path: &UnixPath) -> Result<PathBuf, String> {
    let p = path.as_path();
    match std::fs::metadata(p) {
        Ok(meta) if meta.file_type().is_socket() => Ok(p.to_path_buf()),
        Ok(meta) => Err(format!(
            "--unix '{}' is {}, not a unix socket; give the path a listener is bound to",
            p.display(),
            file_kind(&meta.file_type())
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "--unix '{}' does not exist; start the listener first or fix the path",
            p.display()
        )),
        Err(e) => Err(format!("--unix '{}' cannot be inspected: {e}", p.display())),
    }
}

/// Resolves an inet target once, with the workspace's one resolver: an IP literal as is,
/// a name to its first IPv4 address (or first address of the family `--source` fixes).
fn resolve(target: &HostPort, want_v4: Option<bool>) -> Result<SocketAddr, String> {
    let pick = match want_v4 {
        Some(true) => Pick::OnlyIpv4,
        Some(false) => Pick::OnlyIpv6,
        None => Pick::PreferIpv4,
    };
    target.resolve(pick).map_err(|e| match e {
        ResolveError::NoAddress { host, .. } => {
            format!("--inet '{target}': '{host}' has no address of the --source family")
        }
        lookup => format!("--inet '{target}': {lookup}"),
    })
}

impl Cli {
    /// Checks `--duration` and `--interval` against each other and `--count`, `--hold`.
    fn check_run_length(&self) -> Result<(), String> {
        if self.interval < Duration::from_millis(1) {
            return Err(format!(
                "--interval {} is shorter than 1 ms, the resolution of the timer; give 1ms \
                 or more, such as 1s",
                shown(self.interval)
            ));
        }
        let Some(duration) = self.duration else {
            return Ok(());
        };
        if let Some(count) = self.count {
            return Err(format!(
                "--count {count} and --duration {} cannot be used together; give --count N \
                 for N connects or --duration D for a run of D, not both",
                shown(duration)
            ));
        }
        if duration < Duration::from_millis(1) {
            return Err(format!(
                "--duration {} is shorter than 1 ms, the resolution of the timer; give 1ms \
                 or more, such as 10s",
                shown(duration)
            ));
        }
        if let Some(hold) = self.hold {
            return Err(format!(
                "--hold {} applies to --count runs; a --duration run holds nothing (each \
                 connection closes once its exchange is over); drop --hold",
                shown(hold)
            ));
        }
        Ok(())
    }

    /// Validates the command line: a run's flags, or `merge` and its files; exits 2 on
    /// bad input.
    pub fn into_action(mut self) -> Action {
        match self.command.take() {
            Some(Command::Merge(args)) => Action::Merge(Box::new(args.into_merged())),
            None => Action::Run(Box::new(self.into_config())),
        }
    }

    /// Validates the flags together and against the machine; exits 2 on bad input.
    pub fn into_config(self) -> Config {
        self.check().unwrap_or_else(|msg| usage_error(msg))
    }

    fn check(self) -> Result<Config, String> {
        self.check_run_length()?;
        let sources = self.source.map(SourceList::into_addrs).unwrap_or_default();
        let target = match (self.unix, self.inet) {
            (Some(path), None) => {
                if !sources.is_empty() {
                    return Err("--source applies to --inet targets, not --unix".into());
                }
                Endpoint::Unix(check_unix(&path)?)
            }
            (None, Some(hp)) => {
                let want_v4 = sources.first().map(|ip| ip.is_ipv4());
                let addr = resolve(&hp, want_v4)?;
                if want_v4.is_some_and(|v4| v4 != addr.is_ipv4()) {
                    return Err(format!(
                        "--source addresses are {} but the target {addr} is not; use the \
                         target's family",
                        if addr.is_ipv4() { "IPv6" } else { "IPv4" }
                    ));
                }
                Endpoint::Inet(addr)
            }
            // clap's required ArgGroup guarantees exactly one.
            _ => unreachable!("clap enforces exactly one of --unix and --inet"),
        };
        if self.wait_for_backlog && matches!(target, Endpoint::Inet(_)) {
            return Err(
                "--wait-for-backlog applies to --unix targets; TCP connects already \
                        wait for the listener until --timeout"
                    .into(),
            );
        }
        if self.timeout.is_zero() {
            return Err("--timeout 0 would fail every connect; give a duration such as 5s".into());
        }
        // tokio's timer counts whole milliseconds (it rounds a deadline up to the next
        // one), and the report shows `timeout_ms`: a shorter timeout would be neither
        // applied nor shown as given (issue 12: `--timeout 1ns` was shown as 0 ms).
        if self.timeout < Duration::from_millis(1) {
            return Err(format!(
                "--timeout {:?} is shorter than 1 ms, the resolution of the connect timer; \
                 give 1ms or more, such as 5s",
                self.timeout
            ));
        }
        if self.read_timeout < Duration::from_millis(1) {
            return Err(format!(
                "--read-timeout {:?} is shorter than 1 ms, the resolution of the timer; give \
                 1ms or more, such as 30s",
                self.read_timeout
            ));
        }
        let request = match (self.send, self.send_file, self.fastcgi) {
            (Some(Bytes(b)), None, None) | (None, None, Some(Bytes(b))) => Some(b),
            (None, Some(path), None) => Some(std::fs::read(&path).map_err(|e| {
                format!(
                    "--send-file '{}' cannot be read: {e}; give a readable file",
                    path.display()
                )
            })?),
            (None, None, None) => None,
            _ => unreachable!("clap's request ArgGroup allows at most one request flag"),
        };
        let exchange = Exchange {
            request: request.map(std::sync::Arc::from),
            read: self.read,
            timeout: self.read_timeout,
        };
        let outputs = [
            ("--hgrm", &self.hgrm),
            ("--hlog", &self.hlog),
            ("--connections-log", &self.connections_log),
        ];
        for (flag, path) in &outputs {
            if let Some(path) = path {
                check_output_file(path)
                    .map_err(|reason| format!("{flag} '{}': {reason}", path.display()))?;
            }
        }
        for (i, (flag, path)) in outputs.iter().enumerate() {
            let Some(path) = path else { continue };
            if let Some((other, _)) = outputs[i + 1..]
                .iter()
                .find(|(_, p)| p.as_ref() == Some(path))
            {
                return Err(format!(
                    "{flag} and {other} both name '{}'; give each its own file",
                    path.display()
                ));
            }
        }
        let count = u64::from(self.count.map_or(1, NonZeroU32::get));
        let concurrency = self
            .concurrency
            .map_or(DEFAULT_CONCURRENCY, NonZeroU32::get);
        // A --count run needs no more tasks than connects; a --duration run has no count.
        let concurrency = match self.duration {
            Some(_) => concurrency,
            None => concurrency.min(count as u32),
        } as usize;
        if let Some(rate) = self.rate
            && self.duration.is_none()
            && dialers::schedule_span(count, rate).is_none()
        {
            let days = count.saturating_sub(1) as f64 / rate / 86_400.0;
            return Err(format!(
                "--rate {} with --count {count} would take {} days to schedule (the last \
                 connect starts (count - 1) / rate seconds after the first), more than 365; \
                 raise --rate or lower --count",
                short_number(rate),
                short_number(days.round()),
            ));
        }
        let config = Config {
            target,
            count,
            duration: self.duration,
            concurrency,
            rate: self.rate,
            timeout: self.timeout,
            wait_for_backlog: self.wait_for_backlog,
            hold: self.hold.map_or(Hold::UntilReleased, Hold::For),
            format: self.format,
            hgrm: self.hgrm,
            plot: self.plot,
            interval: self.interval,
            hlog: self.hlog,
            connections_log: self.connections_log,
            require_all: self.require_all,
            quiet: self.quiet,
            sources,
            threads: self.threads.map_or_else(
                || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                |n| n as usize,
            ),
            exchange,
        };
        let hard = listenlab_common::limits::nofile()
            .map_err(|e| format!("cannot read the open-file limit: {e}"))?
            .hard;
        let flag = match config.duration {
            Some(_) => "--concurrency",
            None => "--count",
        };
        if let Some(short) = limits::open_files(flag, config.open_at_most()).shortfall(hard) {
            return Err(short.to_string());
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("socket-connect").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_issue_example_parses() {
        let config = parse(&["--count", "500", "--inet", "127.0.0.1:9000"])
            .unwrap()
            .check()
            .unwrap();
        assert_eq!(config.count, 500);
        assert_eq!(config.concurrency, 128);
        assert_eq!(
            config.target,
            Endpoint::Inet("127.0.0.1:9000".parse().unwrap())
        );
        assert_eq!(config.hold, Hold::UntilReleased);
        assert_eq!(config.timeout, Duration::from_secs(5));
    }

    #[test]
    fn concurrency_never_exceeds_count() {
        let config = parse(&["--inet", "127.0.0.1:1", "-n", "3", "-c", "10"])
            .unwrap()
            .check()
            .unwrap();
        assert_eq!(config.concurrency, 3);
    }

    #[test]
    fn clap_rejects_malformed_values() {
        let table: &[&[&str]] = &[
            &[],
            &["--inet", "127.0.0.1:1", "--unix", "/tmp/x"],
            &["--inet", "127.0.0.1:1", "--count", "0"],
            &["--inet", "127.0.0.1:0"],
            &["--inet", "127.0.0.1:65536"],
            &["--inet", "300.0.0.1:80"],
            &["--inet", "127.0.0.1:1", "--timeout", "soon"],
            &["--inet", "127.0.0.1:1", "--rate", "0"],
            &["--inet", "127.0.0.1:1", "--threads", "0"],
            &["--inet", "127.0.0.1:1", "--threads", "100000"],
            &["--inet", "127.0.0.1:1", "--source", "127.0.0.9-127.0.0.2"],
        ];
        for args in table {
            let err = parse(args).expect_err(&format!("{args:?}"));
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
        let long = format!("/tmp/{}", "a".repeat(120));
        assert!(parse(&["--unix", &long]).is_err());
    }

    #[test]
    fn checks_flags_against_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, "").unwrap();
        let file = file.to_str().unwrap();
        let missing = dir.path().join("missing");
        let missing = missing.to_str().unwrap();
        let table: &[(&[&str], &str)] = &[
            (&["--unix", file], "is a regular file, not a unix socket"),
            (&["--unix", missing], "does not exist"),
            (&["--unix", dir.path().to_str().unwrap()], "is a directory"),
            (
                &["--inet", "127.0.0.1:1", "--source", "::1"],
                "use the target's family",
            ),
            (
                &["--inet", "127.0.0.1:1", "--wait-for-backlog"],
                "applies to --unix",
            ),
            (&["--inet", "127.0.0.1:1", "--timeout", "0"], "--timeout 0"),
            (
                &["--inet", "127.0.0.1:1", "--timeout", "999us"],
                "--timeout 999µs is shorter than 1 ms",
            ),
            (
                &["--inet", "127.0.0.1:1", "-n", "2", "--rate", "1e-20"],
                "--rate 1e-20 with --count 2 would take 1.157e15 days",
            ),
        ];
        for (args, reason) in table {
            let err = parse(args)
                .unwrap()
                .check()
                .expect_err(&format!("{args:?}"));
            assert!(err.contains(reason), "{args:?}: {err}");
        }
    }

    #[test]
    fn numbers_in_messages_stay_short() {
        let table = [
            (200.0, "200"),
            (0.5, "0.5"),
            (0.0, "0"),
            (1e-20, "1e-20"),
            (3.17e-8, "3.17e-8"),
            (1_157_407_407_407_407.4_f64.round(), "1.157e15"),
        ];
        for (x, want) in table {
            assert_eq!(short_number(x), want, "{x}");
        }
    }

    #[test]
    fn resolves_localhost_to_ipv4_first() {
        let hp = HostPort::parse_target("localhost:9000").unwrap();
        let addr = resolve(&hp, None).unwrap();
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(addr.port(), 9000);
    }
}
