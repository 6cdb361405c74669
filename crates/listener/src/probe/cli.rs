//! The `epoll-socket-test` command line: clap derive [`Cli`] and [`Cli::into_config`],
//! which checks flags against each other and the environment (a trial bind of a given
//! address) and exits 2 with one line on stderr when they do not fit.

use std::io::IsTerminal;
use std::net::SocketAddr;

use clap::Parser;
use listenlab_common::{Endpoint, Format, HostPort, Pick, UnixPath};

use super::{Config, ConnectFrom, Expect, Part, limits};
use crate::poller::Trigger;
use crate::socket::{Family, ListenOptions, Listener};

/// Shows how epoll reports pending connections on a listening socket, measured live on
/// this kernel: every trigger mode and family, several waiters, accept distribution and
/// backlog overflow. With no arguments it runs everything on temporary sockets (a unix
/// socket in a temp directory, 127.0.0.1 and ::1 on ephemeral ports) and prints a table,
/// the verdicts and what they mean.
#[derive(Debug, Parser)]
#[command(name = "epoll-socket-test", version)]
// The help text shows addresses such as [::1]:9000, which rustdoc would read as links.
#[allow(rustdoc::broken_intra_doc_links)]
pub struct Cli {
    /// Socket family to probe; repeat for several [default: unix, inet and inet6].
    #[arg(long = "family", value_enum, value_name = "FAMILY")]
    pub families: Vec<Family>,

    /// Trigger mode for the single-waiter matrix; repeat for several [default: all].
    #[arg(long = "trigger", value_enum, value_name = "MODE")]
    pub triggers: Vec<Trigger>,

    /// Who makes the single-waiter connects: the probe itself, a forked child, or a thread.
    #[arg(long, value_enum, default_value_t = ConnectFrom::Child)]
    pub connect_from: ConnectFrom,

    /// Listen on this unix socket path instead of a temporary one. A path that exists and
    /// is not a socket is refused and left alone.
    #[arg(long, value_name = "PATH")]
    pub unix: Option<UnixPath>,

    /// Listen on this loopback address instead of an ephemeral port, e.g. 127.0.0.1:9000,
    /// [::1]:9000 or localhost:9000 (a name must resolve to loopback, its IPv4 address
    /// preferred; port 0: the kernel picks one).
    #[arg(long, value_name = "ADDR:PORT", value_parser = HostPort::parse_listen)]
    pub inet: Option<HostPort>,

    /// Waiter processes in each several-waiters scenario (1-64).
    #[arg(long, value_name = "K", default_value_t = 4, allow_negative_numbers = true,
          value_parser = listenlab_common::whole_number::<u32>(1..=64))]
    pub waiters: u32,

    /// The listen() backlog of the overflow scenario (1-4096); it makes backlog + 3
    /// connects.
    #[arg(long, value_name = "B", default_value_t = 4, allow_negative_numbers = true,
          value_parser = listenlab_common::whole_number::<u32>(1..=4096))]
    pub backlog: u32,

    /// Run only this part; repeat for several [default: all].
    #[arg(long, value_enum, value_name = "PART")]
    pub only: Vec<Part>,

    /// Output format: an aligned table, or one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit 1 when a single-waiter cell differs from this reading (the report is still
    /// printed), to guard a kernel upgrade in CI.
    #[arg(long, value_enum, value_name = "READING")]
    pub expect: Option<Expect>,

    /// Print one line on stderr as each scenario starts [default: when stderr is a
    /// terminal and the format is text].
    #[arg(long)]
    pub progress: bool,
}

impl Cli {
    /// Checks the flags against each other and the machine; on failure prints one line
    /// naming the flag and exits 2.
    pub fn into_config(self) -> Config {
        match self.validate() {
            Ok(config) => config,
            Err(msg) => listenlab_common::cli::usage_error::<Cli>(msg),
        }
    }

    fn validate(self) -> Result<Config, String> {
        let inet = self.inet.as_ref().map(inet_addr).transpose()?;
        let unix = self.unix.map(|p| p.as_path().to_owned());
        let mut from_addresses: Vec<Family> = Vec::new();
        if unix.is_some() {
            from_addresses.push(Family::Unix);
        }
        if let Some(addr) = inet {
            from_addresses.push(Family::of(&Endpoint::Inet(addr)));
        }
        let families = if from_addresses.is_empty() {
            ordered(self.families, &Family::ALL)
        } else {
            let asked = ordered(self.families.clone(), &Family::ALL);
            if !self.families.is_empty() && asked != from_addresses {
                return Err(format!(
                    "--family {} does not match the address given with --unix/--inet ({}); \
                     drop --family or the address",
                    names(&asked, Family::name),
                    names(&from_addresses, Family::name),
                ));
            }
            from_addresses
        };
        for endpoint in unix
            .clone()
            .map(Endpoint::Unix)
            .into_iter()
            .chain(inet.map(Endpoint::Inet))
        {
            trial_bind(&endpoint)?;
        }
        let format = self.format;
        let config = Config {
            families,
            unix,
            inet,
            triggers: ordered(self.triggers, &Trigger::ALL),
            connect_from: self.connect_from,
            waiters: self.waiters,
            backlog: self.backlog,
            parts: ordered(self.only, &[Part::Single, Part::Waiters, Part::Overflow]),
            format,
            expect: self.expect,
            progress: self.progress || (format == Format::Text && std::io::stderr().is_terminal()),
        };
        limits::ensure_open_files(&config)?;
        Ok(config)
    }
}

/// The `--inet` address as a socket address: an IP literal on loopback, or a name (e.g.
/// `localhost`) resolved by the one resolver, its first IPv4 address preferred as the
/// other tools do, which must be loopback.
fn inet_addr(hp: &HostPort) -> Result<SocketAddr, String> {
    const FORM: &str = "use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT";
    let bad = |why: String| format!("invalid value '{hp}' for '--inet <ADDR:PORT>': {why}");
    let addr = hp
        .resolve(Pick::PreferIpv4)
        .map_err(|e| bad(format!("{e}; {FORM}")))?;
    if !addr.ip().is_loopback() {
        let resolved = if hp.socket_addr().is_some() {
            String::new()
        } else {
            format!("'{}' resolves to {}, which is ", hp.host(), addr.ip())
        };
        return Err(bad(format!(
            "{resolved}not loopback; the probe listens on loopback only; {FORM}"
        )));
    }
    Ok(addr)
}

/// Binds `endpoint` once and lets it go, so that an address in use or a path that is not
/// a socket is a usage error before anything runs. Other failures are left to the run.
fn trial_bind(endpoint: &Endpoint) -> Result<(), String> {
    match Listener::bind(endpoint, ListenOptions::default()) {
        Err(e) if e.is_usage() => {
            let flag = match endpoint {
                Endpoint::Unix(_) => "--unix",
                Endpoint::Inet(_) => "--inet",
            };
            Err(format!("{flag} {endpoint}: {e}"))
        }
        _ => Ok(()),
    }
}

/// `chosen` in the order of `all`, each once; all of `all` when nothing was chosen.
fn ordered<T: Copy + PartialEq>(chosen: Vec<T>, all: &[T]) -> Vec<T> {
    all.iter()
        .copied()
        .filter(|x| chosen.is_empty() || chosen.contains(x))
        .collect()
}

fn names<T: Copy>(items: &[T], name: fn(T) -> &'static str) -> String {
    items.iter().map(|&x| name(x)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["epoll-socket-test"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_run_everything() {
        let cfg = parse(&[]).unwrap();
        assert_eq!(cfg.families, Family::ALL);
        assert_eq!(cfg.triggers, Trigger::ALL);
        assert_eq!(cfg.parts.len(), 3);
        assert_eq!((cfg.waiters, cfg.backlog), (4, 4));
        assert_eq!(cfg.connect_from, ConnectFrom::Child);
    }

    #[test]
    fn repeated_flags_keep_report_order() {
        let cfg = parse(&["--family", "inet6", "--family", "unix", "--family", "unix"]).unwrap();
        assert_eq!(cfg.families, [Family::Unix, Family::Inet6]);
    }

    #[test]
    fn an_address_selects_its_family() {
        let cfg = parse(&["--inet", "[::1]:0"]).unwrap();
        assert_eq!(cfg.families, [Family::Inet6]);
        let err = parse(&["--inet", "127.0.0.1:0", "--family", "unix"]).unwrap_err();
        assert!(err.contains("--family unix does not match"), "{err}");
    }

    #[test]
    fn rejects_out_of_range_and_non_loopback_values() {
        for args in [
            &["--waiters", "0"][..],
            &["--waiters", "65"],
            &["--backlog", "0"],
            &["--backlog", "4097"],
            &["--family", "ipx"],
            &["--trigger", "sideways"],
            &["--inet", "10.1.2.3:80"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        let err = parse(&["--inet", "10.1.2.3:80"]).unwrap_err();
        assert!(
            err.contains("not loopback") && err.contains("localhost:PORT"),
            "{err}"
        );
    }

    #[test]
    fn issue_12_inet_takes_localhost_as_the_hint_suggests() {
        let cfg = parse(&["--inet", "localhost:0"]).unwrap();
        let addr = cfg.inet.unwrap();
        assert!(addr.ip().is_loopback() && addr.port() == 0, "{addr}");
        assert_eq!(cfg.families, [Family::of(&Endpoint::Inet(addr))]);
    }

    #[test]
    fn rejects_a_regular_file_at_unix_and_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.txt");
        std::fs::write(&path, "keep").unwrap();
        let err = parse(&["--unix", path.to_str().unwrap()]).unwrap_err();
        assert!(err.contains("not a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep");
    }
}
