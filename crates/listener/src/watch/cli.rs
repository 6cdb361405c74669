//! The command line of `listen-watch`: clap derive [`Cli`] with typed values (clap itself
//! rejects a non-numeric pid, a bad address or `--interval 0`, exit 2), then
//! [`Cli::into_config`], which checks the flags against each other and against the machine
//! (the pid exists), exiting 2 with one line on failure (STYLE pattern 3).

use std::ffi::OsString;
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use listenlab_common::{Format, parse_duration, whole_number};

use super::owners;
use super::targets::Target;

/// The shortest `--interval`: below a millisecond the poll timeout cannot be honoured.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Watches the accept queue, backlog and workers of listening sockets held by any process:
/// TCP listeners (inet_diag) and unix listeners (unix_diag), sampled every --interval,
/// with their owner processes found through /proc/*/fd. With `-- COMMAND ARGS...`, runs the
/// command (the load) while sampling and exits with its code.
#[derive(Debug, Parser)]
#[command(name = "listen-watch", version)]
pub struct Cli {
    /// Watch the TCP listener on this IP:PORT (also a listener on 0.0.0.0 or `[::]` with
    /// that port, which serves it). Repeatable.
    #[arg(long, value_name = "IP:PORT", value_parser = parse_inet)]
    pub inet: Vec<SocketAddr>,

    /// Watch every TCP listener on this local port, IPv4 and IPv6. Repeatable.
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = whole_number::<u32>(1..=65535))]
    pub port: Vec<u32>,

    /// Watch the unix listener bound to this path. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub unix: Vec<PathBuf>,

    /// Watch every listener this process holds. Repeatable.
    #[arg(long, value_name = "PID", allow_negative_numbers = true,
          value_parser = whole_number::<u32>(1..=4_194_304))]
    pub pid: Vec<u32>,

    /// Print one snapshot and exit; without targets, of every listener on the machine.
    #[arg(long)]
    pub once: bool,

    /// Time between samples, with a unit: 10ms, 1ms (the shortest), 1s. A bare number is
    /// refused: the other tools read it as seconds, which here is seldom what is meant.
    #[arg(long, value_name = "D", default_value = "10ms", value_parser = parse_interval)]
    pub interval: Duration,

    /// Stop after this long (also stopped by SIGINT/SIGTERM, or when COMMAND exits).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Text (a status line on a terminal, a table at the end), or JSON lines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Draw the run as an SVG picture in FILE.svg at its end (or on SIGINT/SIGTERM): queue,
    /// backlog and workers per listener, listen overflows, and the latency per interval of a
    /// wrapped socket-connect --format json --interval D.
    #[arg(long, value_name = "FILE.svg", conflicts_with = "once")]
    pub plot: Option<listenlab_common::plot::PlotPath>,

    /// The load to run while sampling (after `--`); its stdio is passed through.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

fn parse_inet(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        "expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080; for every address on a \
         port use --port N"
            .to_owned()
    })
}

/// `--interval`: common's duration forms, except a bare number. The shared parser reads
/// `1` as one second (the forker's `--sleep 1`, socket-connect's `--hold 1`, as the
/// original C tools took whole seconds), but next to a 10 ms default `--interval 1` is
/// surely meant as 1 ms: a unit is required here.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!(
            "a bare number has no unit here; give one, e.g. {trimmed}ms or {trimmed}s \
             (at least 1ms)"
        ));
    }
    let d = parse_duration(text).map_err(|e| e.to_string())?;
    if d < MIN_INTERVAL {
        return Err("shorter than 1ms, the shortest interval; use e.g. 1ms or 10ms".to_owned());
    }
    Ok(d)
}

/// What one run watches and how, after validation.
#[derive(Debug, Clone)]
pub struct Config {
    /// The targets, in the order given; empty means every listener (`--once` only).
    pub targets: Vec<Target>,
    /// Print one snapshot and exit.
    pub once: bool,
    /// Time between samples.
    pub interval: Duration,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Text or JSON lines.
    pub format: Format,
    /// The command to run while sampling, if any.
    pub command: Vec<OsString>,
    /// Where to draw the run as an SVG picture, if anywhere (checked writable).
    pub plot: Option<listenlab_common::plot::PlotPath>,
}

/// Exits 2 with a one-line usage error naming the problem.
pub fn usage_error(message: impl Display) -> ! {
    listenlab_common::cli::usage_error::<Cli>(message)
}

impl Cli {
    /// Checks the flags against each other and the machine; on failure prints one usage
    /// error and exits 2.
    pub fn into_config(self) -> Config {
        self.validate().unwrap_or_else(|msg| usage_error(msg))
    }

    /// The checks of [`Cli::into_config`], returning the message instead of exiting.
    pub fn validate(self) -> Result<Config, String> {
        let mut targets: Vec<Target> = Vec::new();
        targets.extend(self.inet.iter().map(|a| Target::Inet(*a)));
        targets.extend(self.port.iter().map(|p| Target::Port(*p as u16)));
        targets.extend(self.unix.iter().map(|p| Target::Unix(p.clone())));
        for pid in &self.pid {
            match owners::fds_readable(*pid) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && owners::as_root() => {
                    return Err(format!(
                        "--pid {pid}: its open files are not readable even as root (ptrace \
                         access denied: it holds capabilities we lack, or is in another user \
                         namespace); watch its listeners by --inet, --port or --unix"
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    return Err(format!(
                        "--pid {pid}: its open files are not visible without privileges; run \
                         as its user or as root, or watch its listeners by --inet, --port or \
                         --unix (queues are visible to every user)"
                    ));
                }
                Err(_) => {
                    return Err(format!(
                        "--pid {pid}: no such process; give the pid of a running process"
                    ));
                }
            }
            targets.push(Target::Pid(*pid));
        }
        if targets.is_empty() && !self.once {
            return Err(
                "no target; give --inet, --port, --unix or --pid, or --once for every listener"
                    .to_owned(),
            );
        }
        if self.once && !self.command.is_empty() {
            return Err(
                "--once prints one snapshot and runs no command; drop --once or the \
                        command after --"
                    .to_owned(),
            );
        }
        if self.once && self.duration.is_some() {
            return Err("--duration applies to sampling; drop --once or --duration".to_owned());
        }
        Ok(Config {
            targets,
            once: self.once,
            interval: self.interval,
            duration: self.duration,
            format: self.format,
            command: self.command,
            plot: self.plot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rejects_a_zero_interval_and_a_missing_target() {
        let err = Cli::try_parse_from(["listen-watch", "--port", "80", "--interval", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("a bare number has no unit here"), "{err}");
        for (text, why) in [
            ("1", "e.g. 1ms or 1s"),
            ("0.5", "e.g. 0.5ms or 0.5s"),
            ("500us", "shorter than 1ms"),
            ("0ms", "shorter than 1ms"),
            ("1x", "not a duration"),
        ] {
            let err = Cli::try_parse_from(["listen-watch", "--port", "80", "--interval", text])
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
        let cli = Cli::try_parse_from(["listen-watch", "--port", "80", "--interval", "1ms"]);
        assert_eq!(cli.unwrap().interval, Duration::from_millis(1));
        let cli = Cli::try_parse_from(["listen-watch"]).unwrap();
        assert!(cli.validate().unwrap_err().contains("no target"));
        let cli = Cli::try_parse_from(["listen-watch", "--port", "1", "--", "true"]).unwrap();
        assert_eq!(
            cli.validate().unwrap().command,
            vec![OsString::from("true")]
        );
    }
}
