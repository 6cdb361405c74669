//! The command line of `epoll-listen-fork`: clap derive [`Cli`] with typed values (clap
//! itself rejects bad addresses, durations and counts with exit 2), then
//! [`Cli::into_config`], which checks flags against each other and resolves the address,
//! exiting 2 with one clap error on failure (STYLE pattern 3).

use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser, ValueEnum};
use listenlab_common::{Endpoint, Format, HostPort, Pick, UnixPath, parse_duration};

use super::fpm_config::{self, FpmPool};
use super::models::{self, ModelFlag, ModelKind, Spares};
use super::{AcceptMode, Config, RequestStarts};
use crate::poller::Trigger;

/// Default `--process-idle-timeout` (PHP-FPM's `pm.process_idle_timeout` default).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Listens on a unix or TCP socket with epoll and forks children the way a process
/// manager does: one per epoll event (the original tool), or as PHP-FPM's `pm = ondemand`,
/// `static` or `dynamic`.
/// Prints one line per event (forks, accepts, exits, warnings, queue samples) and a summary.
#[derive(Debug, Parser)]
#[command(name = "epoll-listen-fork", version)]
#[command(group(ArgGroup::new("address").args(["unix", "inet"])))]
pub struct Cli {
    /// Listen on this unix socket path (at most 107 bytes); this or --inet is required
    /// unless --fpm-config gives the pool's `listen`. A stale socket file is
    /// replaced; anything else at the path is left alone and refused.
    #[arg(long, value_name = "PATH")]
    pub unix: Option<UnixPath>,

    /// Listen on this TCP address, HOST:PORT; a bare port means 127.0.0.1:PORT and port 0
    /// an ephemeral port (the readiness line shows the real one).
    #[arg(long, value_name = "ADDR:PORT", value_parser = HostPort::parse_listen)]
    pub inet: Option<HostPort>,

    /// How the listener is registered with epoll [default: level for per-event, edge for
    /// ondemand, as PHP-FPM registers it].
    #[arg(long, value_enum)]
    pub trigger: Option<TriggerArg>,

    /// How long a child holds each connection (busy) before closing it: 250ms, 2s, or a
    /// bare number of seconds.
    #[arg(long, value_name = "D", default_value = "1s", value_parser = parse_duration)]
    pub sleep: Duration,

    /// The process-manager model [default: the --fpm-config pool's pm, else per-event].
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,

    /// Take pm, pm.max_children, pm.start_servers, pm.min/max_spare_servers,
    /// pm.max_spawn_rate, pm.process_idle_timeout, pm.max_requests, listen and
    /// listen.backlog from this PHP-FPM configuration (php-fpm.conf or a pool file; includes
    /// followed); flags given override it.
    #[arg(long, value_name = "FILE")]
    pub fpm_config: Option<PathBuf>,

    /// The pool to take from --fpm-config when it has several (its section name).
    #[arg(long, value_name = "NAME", requires = "fpm_config")]
    pub pool: Option<String>,

    /// PHP-FPM's prefix (its -p): a relative include pattern or unix listen path in
    /// --fpm-config is taken relative to it.
    #[arg(long, value_name = "DIR", requires = "fpm_config", default_value = fpm_config::PHP_FPM_PREFIX)]
    pub fpm_prefix: PathBuf,

    /// Most children running at once (per-event: further events are refused forks;
    /// PHP-FPM models: pm.max_children, which static forks at start) [default: 256].
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = listenlab_common::whole_number::<u32>(1..=100_000))]
    pub max_children: Option<u32>,

    /// The listen(2) backlog (the kernel caps it at net.core.somaxconn) [default: 128].
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = listenlab_common::whole_number::<u32>(1..=1_000_000))]
    pub backlog: Option<u32>,

    /// Event lines as text, or as JSON lines (first the readiness line, last the summary).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Stop after this long.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many connections have been accepted.
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = listenlab_common::whole_number::<u64>(1..))]
    pub exit_after: Option<u64>,

    /// Children accept blocking (wait for a connection), or non-blocking (a per-event
    /// child that finds nothing exits at once, counted as empty).
    #[arg(long, value_enum, default_value_t = AcceptMode::Blocking)]
    pub accept: AcceptMode,

    /// Children write one byte right after accept, so a client can time its wait.
    #[arg(long)]
    pub greet: bool,

    /// Ondemand: once a second, the oldest idle child, if idle longer than this in whole
    /// seconds (as PHP-FPM compares), is told to exit (SIGQUIT, then SIGKILL a tick later
    /// if still idle) [default: 10s].
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub process_idle_timeout: Option<Duration>,

    /// Ondemand: a child exits after serving this many connections and is replaced at once.
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = listenlab_common::whole_number::<u64>(1..))]
    pub max_requests: Option<u64>,

    /// Ondemand, static, dynamic: a connection makes its child busy on accept, or only once
    /// the client sends a byte (at most 5 s later), as in PHP-FPM [default: accept].
    #[arg(long, value_enum)]
    pub request_starts: Option<RequestStarts>,

    /// Private memory the parent maps and touches (in 267 mappings) before it listens, so
    /// each fork copies real page tables: 20MiB, 512K, 0 for none [default: 0 for
    /// per-event, 4MiB for the PHP-FPM models: fork() then costs what PHP-FPM 8.2's does
    /// here].
    #[arg(long, value_name = "SIZE", value_parser = super::ballast::parse_size)]
    pub parent_memory: Option<u64>,

    /// A new child waits this long before its first accept (PHP's start-up); 0 for none
    /// [default: 0: with the PHP-FPM models' --parent-memory a new child is already as
    /// slow as PHP-FPM 8.2's to reach its first accept here].
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub child_startup: Option<Duration>,

    /// Print a `status` line with PHP-FPM's status-page fields this often.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub status_every: Option<Duration>,

    /// Draw the run as an SVG picture in FILE.svg at its end (or on SIGINT/SIGTERM): the
    /// children busy and idle, the accept queue, accepts, forks and warnings over time.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<listenlab_common::plot::PlotPath>,

    /// Ondemand, static, dynamic: after closing a connection a child stays "finishing" (not
    /// idle) this long before it accepts again, as a PHP-FPM child does; 0 for none
    /// [default: 90us: PHP-FPM 8.2's child is that much later back in accept here].
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub request_shutdown: Option<Duration>,

    /// Dynamic: children forked at start (pm.start_servers) [default: min + (max - min) / 2].
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = listenlab_common::whole_number::<u64>(0..=100_000))]
    pub start_servers: Option<u64>,

    /// Dynamic: once a second, fork while fewer children than this are idle
    /// (pm.min_spare_servers) [default: 1].
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = listenlab_common::whole_number::<u64>(0..=100_000))]
    pub min_spare_servers: Option<u64>,

    /// Dynamic: once a second, retire one idle child while more than this are idle
    /// (pm.max_spare_servers) [default: 3].
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = listenlab_common::whole_number::<u64>(0..=100_000))]
    pub max_spare_servers: Option<u64>,

    /// Dynamic: the spawn rate (forks per second at most) doubles up to this
    /// (pm.max_spawn_rate) [default: 32].
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = listenlab_common::whole_number::<u64>(0..=100_000))]
    pub max_spawn_rate: Option<u64>,
}

/// The trigger modes this tool offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TriggerArg {
    /// `EPOLLIN`: reported on every wait while a connection is pending.
    Level,
    /// `EPOLLIN|EPOLLET`: reported once per new connection on a Linux listener.
    Edge,
}

impl From<TriggerArg> for Trigger {
    fn from(t: TriggerArg) -> Trigger {
        match t {
            TriggerArg::Level => Trigger::Level,
            TriggerArg::Edge => Trigger::Edge,
        }
    }
}

/// Exits 2 with a one-line usage error naming the problem.
pub fn usage_error(message: impl Display) -> ! {
    listenlab_common::cli::usage_error::<Cli>(message)
}

impl Cli {
    /// Checks the flags against each other, reads `--fpm-config` and resolves the address;
    /// prints the configuration's notes (entries not modelled, warnings) on stderr, once; on
    /// failure prints one usage error and exits 2.
    pub fn into_config(self) -> Config {
        let (config, notes) = self
            .validate_with_notes()
            .unwrap_or_else(|msg| usage_error(msg));
        for note in notes {
            listenlab_common::cli::stderr_line(format_args!("epoll-listen-fork: {note}"));
        }
        config
    }

    /// The checks of [`Cli::into_config`], returning the message instead of exiting.
    pub fn validate(self) -> Result<Config, String> {
        self.validate_with_notes().map(|(config, _)| config)
    }

    /// [`Cli::validate`], with the `--fpm-config` notes for stderr.
    pub fn validate_with_notes(self) -> Result<(Config, Vec<String>), String> {
        let file: Option<FpmPool> = match &self.fpm_config {
            Some(path) => Some(
                fpm_config::load(path, self.pool.as_deref(), &self.fpm_prefix)
                    .map_err(|e| format!("--fpm-config: {e}"))?,
            ),
            None => None,
        };
        let model = self
            .model
            .or(file.as_ref().map(|f| f.model))
            .unwrap_or(ModelKind::PerEvent);
        let given: Vec<ModelFlag> = [
            (
                ModelFlag::ProcessIdleTimeout,
                self.process_idle_timeout.is_some(),
            ),
            (ModelFlag::MaxRequests, self.max_requests.is_some()),
            (ModelFlag::RequestStarts, self.request_starts.is_some()),
            (ModelFlag::RequestShutdown, self.request_shutdown.is_some()),
            (ModelFlag::StartServers, self.start_servers.is_some()),
            (ModelFlag::MinSpareServers, self.min_spare_servers.is_some()),
            (ModelFlag::MaxSpareServers, self.max_spare_servers.is_some()),
            (ModelFlag::MaxSpawnRate, self.max_spawn_rate.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect();
        models::check_flags(model, &given)?;
        // The file's values, where no flag overrides them and the model takes them (a
        // --model other than the file's pm drops the settings of the file's pm).
        let takes = |flag| model.takes().contains(&flag);
        let file_spares = file.as_ref().and_then(|f| f.spares);
        let process_idle_timeout = self
            .process_idle_timeout
            .or(file.as_ref().and_then(|f| f.process_idle_timeout))
            .unwrap_or(DEFAULT_IDLE_TIMEOUT);
        let max_requests = self.max_requests.or(file
            .as_ref()
            .and_then(|f| f.max_requests)
            .filter(|_| takes(ModelFlag::MaxRequests)));
        let max_children = self
            .max_children
            .or(file.as_ref().map(|f| f.max_children))
            .unwrap_or(256);
        let backlog = self
            .backlog
            .or(file.as_ref().and_then(|f| f.backlog))
            .unwrap_or(128);
        if process_idle_timeout.subsec_nanos() != 0 || process_idle_timeout.is_zero() {
            // PHP-FPM's pm.process_idle_timeout is whole seconds, compared as such.
            return Err(format!(
                "--process-idle-timeout {process_idle_timeout:?}: pm.process_idle_timeout counts \
                 whole seconds; give 1s or more in whole seconds"
            ));
        }
        if self.status_every.is_some_and(|d| d.is_zero()) {
            return Err("--status-every 0: give a positive interval, e.g. 1s".to_owned());
        }
        let defaults = file_spares.unwrap_or_default();
        // Checked for dynamic only: the other models take none of these flags, and their
        // --max-children may be below the defaults.
        let spares = match model {
            ModelKind::Dynamic => Spares::new(
                i64::from(max_children),
                self.start_servers
                    .or(file_spares.map(|s| s.start))
                    .map(signed),
                signed(self.min_spare_servers.unwrap_or(defaults.min)),
                signed(self.max_spare_servers.unwrap_or(defaults.max)),
                signed(self.max_spawn_rate.unwrap_or(defaults.max_spawn_rate)),
            )
            .map_err(|e| format!("{}: {e}", e.flags()))?,
            _ => Spares::default(),
        };
        let endpoint = match (&self.unix, &self.inet, file.as_ref()) {
            (Some(path), None, _) => Endpoint::Unix(path.as_path().to_owned()),
            (None, Some(hp), _) => Endpoint::Inet(resolve(hp)?),
            (None, None, Some(file)) => file.listen.clone(),
            // clap's ArgGroup keeps both out; neither is this message.
            _ => {
                return Err(
                    "give --unix PATH or --inet ADDR:PORT (or --fpm-config FILE, \
                            whose pool's listen is used)"
                        .to_owned(),
                );
            }
        };
        let trigger = self
            .trigger
            .map_or_else(|| model.default_trigger(), Trigger::from);
        let config = Config {
            endpoint,
            trigger,
            sleep: self.sleep,
            model,
            max_children: max_children as usize,
            backlog,
            format: self.format,
            duration: self.duration,
            exit_after: self.exit_after,
            accept: self.accept,
            greet: self.greet,
            process_idle_timeout,
            max_requests,
            request_starts: self.request_starts.unwrap_or_default(),
            request_shutdown: self
                .request_shutdown
                .unwrap_or_else(|| model.default_request_shutdown()),
            status_every: self.status_every,
            parent_memory: self
                .parent_memory
                .unwrap_or_else(|| model.default_parent_memory()),
            child_startup: self
                .child_startup
                .unwrap_or_else(|| model.default_child_startup()),
            spares,
            plot: self.plot,
        };
        Ok((config, file.map(|f| f.notes).unwrap_or_default()))
    }
}

/// A flag's count as the signed value [`Spares::new`] checks (flags are at most 100000).
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The socket address for `--inet`, by the workspace's one resolver: the literal, or the
/// first address the name resolves to.
fn resolve(hp: &HostPort) -> Result<std::net::SocketAddr, String> {
    hp.resolve(Pick::First)
        .map_err(|e| format!("invalid value '{hp}' for '--inet': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("epoll-listen-fork").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        cli.validate()
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_follow_the_model() {
        let c = parse(&["--inet", "0"]).unwrap();
        assert_eq!(c.endpoint, Endpoint::Inet("127.0.0.1:0".parse().unwrap()));
        assert_eq!(
            (c.trigger, c.max_children, c.sleep),
            (Trigger::Level, 256, Duration::from_secs(1))
        );
        let c = parse(&[
            "--unix",
            "/tmp/x.sock",
            "--model",
            "ondemand",
            "--sleep",
            "250ms",
        ])
        .unwrap();
        assert_eq!(
            (c.trigger, c.process_idle_timeout),
            (Trigger::Edge, DEFAULT_IDLE_TIMEOUT)
        );
        assert_eq!(c.sleep, Duration::from_millis(250));
        let c = parse(&["--inet", "localhost:0", "--trigger", "edge"]).unwrap();
        assert!(matches!(c.endpoint, Endpoint::Inet(a) if a.ip().is_loopback()));
        assert_eq!(c.trigger, Trigger::Edge);
    }

    #[test]
    fn dynamic_takes_php_fpm_defaults_for_what_is_not_given() {
        let c = parse(&[
            "--inet",
            "0",
            "--model",
            "dynamic",
            "--max-spare-servers",
            "7",
        ])
        .unwrap();
        assert_eq!(
            (
                c.spares.start,
                c.spares.min,
                c.spares.max,
                c.spares.max_spawn_rate
            ),
            (4, 1, 7, 32)
        );
        assert_eq!(c.trigger, Trigger::Edge);
        // The PHP-FPM models' costs by default; per-event keeps none.
        assert_eq!(
            (c.parent_memory, c.child_startup, c.request_shutdown),
            (4 << 20, Duration::ZERO, Duration::from_micros(90))
        );
        let c = parse(&["--inet", "0"]).unwrap();
        assert_eq!(
            (c.parent_memory, c.child_startup, c.request_shutdown),
            (0, Duration::ZERO, Duration::ZERO)
        );
        let c = parse(&["--inet", "0", "--model", "static", "--parent-memory", "0"]).unwrap();
        assert_eq!(c.parent_memory, 0);
    }

    #[test]
    fn rejects_bad_flag_combinations_and_values() {
        let table: [&[&str]; 22] = [
            &[],
            &["--unix", "/tmp/a", "--inet", "0"],
            &["--inet", "70000"],
            &["--inet", "127.0.0.1:99999"],
            &["--unix", &"a".repeat(108)],
            &["--inet", "0", "--sleep", "soon"],
            &["--inet", "0", "--duration", "-1"],
            &["--inet", "0", "--max-children", "0"],
            &["--inet", "0", "--max-requests", "3"],
            &["--inet", "0", "--process-idle-timeout", "1s"],
            &["--inet", "0", "--trigger", "oneshot"],
            &["--inet", "0", "--exit-after", "0"],
            &["--inet", "0", "--start-servers", "2"],
            &["--inet", "0", "--model", "static", "--max-spawn-rate", "4"],
            &["--inet", "0", "--model", "dynamic", "--max-spawn-rate", "0"],
            &["--inet", "0", "--model", "dynamic", "--max-children", "2"],
            &[
                "--inet",
                "0",
                "--model",
                "ondemand",
                "--process-idle-timeout",
                "1500ms",
            ],
            &[
                "--inet",
                "0",
                "--model",
                "ondemand",
                "--process-idle-timeout",
                "0",
            ],
            &["--inet", "0", "--request-shutdown", "1s"],
            &["--inet", "0", "--parent-memory", "2G"],
            &["--inet", "0", "--parent-memory", "lots"],
            &["--inet", "0", "--status-every", "0"],
        ];
        for args in table {
            assert!(parse(args).is_err(), "{args:?} was accepted");
        }
    }
}
