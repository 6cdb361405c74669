//! The addresses users type: `--unix PATH` and `--inet HOST:PORT`, parsed and checked
//! without touching the file system or the network, and the one resolver of host names.
//!
//! [`UnixPath`] enforces the kernel's `sun_path` limit (107 bytes plus the NUL; see
//! unix(7)). [`HostPort`] keeps a host as an IP literal or a name; parsing does no I/O, and
//! [`HostPort::resolve`] is the only place in the workspace that looks a name up (the
//! binaries call it once, while validating their flags). [`Endpoint`] is a resolved
//! address, as reports name it.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The longest unix socket path the kernel takes: `sizeof(sun_path) - 1` (unix(7)).
pub const UNIX_PATH_MAX: usize = 107;

/// An address the user typed that cannot be used. `Display` gives the reason and the
/// accepted form; clap adds the flag name and the bad value in front of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct AddrError {
    kind: AddrErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AddrErrorKind {
    Empty,
    MissingPort,
    /// The text, and the lowest port accepted (0 for listeners, 1 for connectors).
    BadPort(String, u16),
    PortZero,
    BadHost(String),
    UnbracketedIpv6,
    PathTooLong(usize),
    PathHasNul,
    /// `--unix ''`: a path, not a host:port, was expected (issue 12).
    EmptyPath,
}

const INET_FORM: &str = "expected host:port (e.g. 127.0.0.1:8080, [::1]:8080 or localhost:8080)";

impl fmt::Display for AddrErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty address; {INET_FORM} or a unix socket path"),
            Self::MissingPort => write!(f, "missing port; {INET_FORM}"),
            Self::BadPort(port, 0) => write!(
                f,
                "port '{port}' is not a number in 0-65535 (0 picks a free port); {INET_FORM}"
            ),
            Self::BadPort(port, min) => {
                write!(
                    f,
                    "port '{port}' is not a number in {min}-65535; {INET_FORM}"
                )
            }
            Self::PortZero => write!(
                f,
                "port 0 is not a port to connect to; use a port in 1-65535"
            ),
            Self::BadHost(host) => {
                write!(f, "'{host}' is not an IP address or host name; {INET_FORM}")
            }
            Self::UnbracketedIpv6 => {
                write!(f, "IPv6 addresses need brackets; expected e.g. [::1]:8080")
            }
            Self::PathTooLong(len) => write!(
                f,
                "unix path is {len} bytes, the limit is {UNIX_PATH_MAX}; use a shorter path"
            ),
            Self::PathHasNul => write!(f, "unix path contains a NUL byte; use a plain path"),
            Self::EmptyPath => write!(
                f,
                "the unix socket path is empty; give a path such as /tmp/listen.sock"
            ),
        }
    }
}

impl AddrError {
    fn new(kind: AddrErrorKind) -> Self {
        Self { kind }
    }
}

/// What kind of file a path holds, for messages such as "`/tmp/x` is a regular file, not a
/// unix socket": `a socket`, `a directory`, `a symbolic link`, `a regular file`, or `a
/// special file` (device, FIFO).
pub fn file_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_socket() {
        "a socket"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// A unix socket path that fits the kernel's `sun_path` limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnixPath(PathBuf);

impl UnixPath {
    /// Checks a path against the kernel's limits.
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, AddrError> {
        let path = path.into();
        let len = path.as_os_str().len();
        if len == 0 {
            return Err(AddrError::new(AddrErrorKind::EmptyPath));
        }
        if len > UNIX_PATH_MAX {
            return Err(AddrError::new(AddrErrorKind::PathTooLong(len)));
        }
        if path.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(AddrError::new(AddrErrorKind::PathHasNul));
        }
        Ok(Self(path))
    }

    /// The path itself.
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl FromStr for UnixPath {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<Self, AddrError> {
        Self::new(s)
    }
}

impl fmt::Display for UnixPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

/// A host (IP literal or name) and a port, as typed: `127.0.0.1:80`, `[::1]:80`,
/// `localhost:80`. Port 0 is allowed here (listeners bind an ephemeral port); a connector
/// uses [`HostPort::parse_target`], which refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    host: Host,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

impl HostPort {
    /// Parses an address to connect to: like `FromStr`, but port 0 is refused.
    pub fn parse_target(s: &str) -> Result<Self, AddrError> {
        match s.parse::<Self>() {
            Ok(hp) if hp.port == 0 => Err(AddrError::new(AddrErrorKind::PortZero)),
            Err(AddrError {
                kind: AddrErrorKind::BadPort(port, _),
            }) => Err(AddrError::new(AddrErrorKind::BadPort(port, 1))),
            other => other,
        }
    }

    /// Parses an address to listen on. A bare port (`9000`) means `127.0.0.1:9000`: we
    /// never bind all interfaces unless the user writes `0.0.0.0` or `[::]`.
    pub fn parse_listen(s: &str) -> Result<Self, AddrError> {
        let s = s.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let port = parse_port(s)?;
            return Ok(Self {
                host: Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                port,
            });
        }
        s.parse()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as typed (without IPv6 brackets).
    pub fn host(&self) -> String {
        match &self.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Name(name) => name.clone(),
        }
    }

    /// The socket address when the host is an IP literal; `None` for a name, which
    /// [`HostPort::resolve`] looks up.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            Host::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            Host::Name(_) => None,
        }
    }

    /// The socket address to use: an IP literal as it is (whatever `pick` says; the caller
    /// checks its family), a name looked up once with the system resolver
    /// (getaddrinfo(3), so `/etc/hosts` counts) and one of its addresses chosen by `pick`.
    pub fn resolve(&self, pick: Pick) -> Result<SocketAddr, ResolveError> {
        if let Some(addr) = self.socket_addr() {
            return Ok(addr);
        }
        let host = self.host();
        let addrs: Vec<SocketAddr> = (host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|source| ResolveError::Lookup {
                host: host.clone(),
                source,
            })?
            .collect();
        let chosen = match pick {
            Pick::First => addrs.first(),
            Pick::PreferIpv4 => addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()),
            Pick::OnlyIpv4 => addrs.iter().find(|a| a.is_ipv4()),
            Pick::OnlyIpv6 => addrs.iter().find(|a| a.is_ipv6()),
        };
        chosen
            .copied()
            .ok_or(ResolveError::NoAddress { host, pick })
    }
}

/// Which of a name's addresses [`HostPort::resolve`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The first one the resolver gives.
    First,
    /// The first IPv4 address, else the first of any family.
    PreferIpv4,
    /// The first IPv4 address; a name without one is an error.
    OnlyIpv4,
    /// The first IPv6 address; a name without one is an error.
    OnlyIpv6,
}

/// A host name that could not be resolved to an address. `Display` names the host; the
/// caller adds the flag.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The resolver failed (no such name, no network, ...).
    #[error("cannot resolve '{host}': {source}")]
    Lookup {
        /// The name as typed (lowercased).
        host: String,
        /// What getaddrinfo(3) said.
        source: io::Error,
    },
    /// The name resolved, but to no address that `pick` accepts.
    #[error("'{host}' has no {} address", match pick {
        Pick::OnlyIpv4 => "IPv4",
        Pick::OnlyIpv6 => "IPv6",
        Pick::First | Pick::PreferIpv4 => "usable",
    })]
    NoAddress {
        /// The name as typed (lowercased).
        host: String,
        /// What was asked for.
        pick: Pick,
    },
}

fn parse_port(text: &str) -> Result<u16, AddrError> {
    text.parse::<u16>()
        .map_err(|_| AddrError::new(AddrErrorKind::BadPort(text.to_owned(), 0)))
}

/// Host names per RFC 1123: letters, digits, `-` and `.`, labels not starting with `-`.
fn is_host_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl FromStr for HostPort {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, AddrError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AddrError::new(AddrErrorKind::Empty));
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Self {
                host: Host::Ip(addr.ip()),
                port: addr.port(),
            });
        }
        if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| AddrError::new(AddrErrorKind::BadHost(s.to_owned())))?;
            let ip: std::net::Ipv6Addr = host
                .parse()
                .map_err(|_| AddrError::new(AddrErrorKind::BadHost(host.to_owned())))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| AddrError::new(AddrErrorKind::MissingPort))?;
            return Ok(Self {
                host: Host::Ip(IpAddr::V6(ip)),
                port: parse_port(port)?,
            });
        }
        if s.matches(':').count() > 1 {
            return Err(AddrError::new(AddrErrorKind::UnbracketedIpv6));
        }
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| AddrError::new(AddrErrorKind::MissingPort))?;
        let port = parse_port(port)?;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(Self {
                host: Host::Ip(ip),
                port,
            });
        }
        // Something shaped like a dotted quad that did not parse as one is a typo, not a name.
        let looks_numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if looks_numeric || !is_host_name(host) {
            return Err(AddrError::new(AddrErrorKind::BadHost(host.to_owned())));
        }
        Ok(Self {
            host: Host::Name(host.to_ascii_lowercase()),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(ip) => write!(f, "{ip}:{}", self.port),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

/// A concrete address: a unix socket path or a resolved inet socket address. Reports show
/// it with `Display` (the path, or `ip:port` with IPv6 in brackets).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A unix stream socket at this path.
    Unix(PathBuf),
    /// A TCP socket at this address.
    Inet(SocketAddr),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unix(path) => path.display().fmt(f),
            Self::Inet(addr) => addr.fmt(f),
        }
    }
}

impl serde::Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Reads back what `Serialize` wrote (a report read again, e.g. by `socket-connect
/// merge`): an `ip:port` string is an inet address, anything else a unix socket path.
impl<'de> serde::Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        Ok(match text.parse::<SocketAddr>() {
            Ok(addr) => Self::Inet(addr),
            Err(_) => Self::Unix(PathBuf::from(text)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_host_port_forms() {
        let table = [
            ("127.0.0.1:9000", "127.0.0.1:9000", true),
            ("[::1]:9000", "[::1]:9000", true),
            ("localhost:9000", "localhost:9000", false),
            ("LocalHost:80", "localhost:80", false),
            ("my-host.example:1", "my-host.example:1", false),
            ("0.0.0.0:0", "0.0.0.0:0", true),
            ("  127.0.0.1:65535 ", "127.0.0.1:65535", true),
        ];
        for (text, shown, literal) in table {
            let hp: HostPort = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(hp.to_string(), shown);
            assert_eq!(hp.socket_addr().is_some(), literal, "{text}");
        }
    }

    #[test]
    fn rejects_bad_host_port_forms() {
        let table = [
            ("", "empty address"),
            ("localhost", "missing port"),
            ("127.0.0.1", "missing port"),
            ("127.0.0.1:", "port '' is not a number"),
            ("127.0.0.1:70000", "port '70000'"),
            ("127.0.0.1:-1", "port '-1'"),
            ("127.0.0.1:http", "port 'http'"),
            ("::1:9000", "need brackets"),
            ("::1", "need brackets"),
            ("[::1]", "missing port"),
            ("[::1:9000", "not an IP address"),
            ("[zz]:9000", "'zz' is not an IP address"),
            ("300.1.1.1:80", "'300.1.1.1' is not an IP address"),
            ("bad_host:80", "'bad_host'"),
            ("-x:80", "'-x'"),
            (":80", "'' is not an IP address"),
        ];
        for (text, reason) in table {
            let err = text.parse::<HostPort>().expect_err(text).to_string();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn target_refuses_port_zero() {
        let err = HostPort::parse_target("127.0.0.1:0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("1-65535"), "{err}");
        assert!(HostPort::parse_target("127.0.0.1:1").is_ok());
    }

    #[test]
    fn listen_bare_port_binds_loopback() {
        let hp = HostPort::parse_listen("9000").unwrap();
        assert_eq!(hp.to_string(), "127.0.0.1:9000");
        assert_eq!(HostPort::parse_listen("0").unwrap().port(), 0);
        assert!(HostPort::parse_listen("65536").is_err());
        assert_eq!(
            HostPort::parse_listen("[::]:5").unwrap().to_string(),
            "[::]:5"
        );
    }

    #[test]
    fn unix_path_limits() {
        assert!(UnixPath::new("/tmp/s.sock").is_ok());
        assert!(UnixPath::new("a".repeat(UNIX_PATH_MAX)).is_ok());
        let err = UnixPath::new("a".repeat(UNIX_PATH_MAX + 33))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unix path is 140 bytes, the limit is 107; use a shorter path"
        );
        assert_eq!(
            UnixPath::new("").unwrap_err().to_string(),
            "the unix socket path is empty; give a path such as /tmp/listen.sock"
        );
        assert!("a\0b".parse::<UnixPath>().is_err());
    }

    #[test]
    fn names_file_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let kind = |p: &Path| file_kind(&std::fs::symlink_metadata(p).unwrap().file_type());
        assert_eq!(kind(dir.path()), "a directory");
        assert_eq!(kind(&file), "a regular file");
        let sock = dir.path().join("s");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert_eq!(kind(&sock), "a socket");
    }

    #[test]
    fn resolves_literals_as_they_are_and_names_by_pick() {
        let literal: HostPort = "[::1]:9".parse().unwrap();
        let addr = literal.resolve(Pick::OnlyIpv4).unwrap();
        assert_eq!(addr, "[::1]:9".parse::<SocketAddr>().unwrap(), "no lookup");
        // /etc/hosts maps localhost to a loopback address; no packet leaves the machine.
        let name: HostPort = "localhost:9000".parse().unwrap();
        let v4 = name.resolve(Pick::PreferIpv4).unwrap();
        assert!(v4.ip().is_loopback() && v4.is_ipv4(), "{v4}");
        assert_eq!(v4.port(), 9000);
        assert!(name.resolve(Pick::First).unwrap().ip().is_loopback());
        assert_eq!(name.resolve(Pick::OnlyIpv4).unwrap(), v4);
    }

    #[test]
    fn resolve_errors_name_the_host() {
        let err = ResolveError::NoAddress {
            host: "h".into(),
            pick: Pick::OnlyIpv6,
        };
        assert_eq!(err.to_string(), "'h' has no IPv6 address");
        let err = ResolveError::Lookup {
            host: "h".into(),
            source: io::Error::other("boom"),
        };
        assert_eq!(err.to_string(), "cannot resolve 'h': boom");
    }

    #[test]
    fn endpoint_displays_plainly() {
        assert_eq!(Endpoint::Unix("/tmp/x".into()).to_string(), "/tmp/x");
        let v6: SocketAddr = "[::1]:5".parse().unwrap();
        assert_eq!(Endpoint::Inet(v6).to_string(), "[::1]:5");
        for e in [Endpoint::Unix("/tmp/x".into()), Endpoint::Inet(v6)] {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<Endpoint>(&json).unwrap(), e);
        }
    }
}
