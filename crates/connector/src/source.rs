//! `--source ADDR[,ADDR...]`: the local addresses TCP connects are spread over, and binding
//! a socket to one of them without reserving a port.
//!
//! Linux gives each connection a local port unique per (source IP, destination); past
//! about half of `ip_local_port_range` the search for a free one slows down sharply, and
//! past the whole range connect fails with `EADDRNOTAVAIL`. Each extra source address
//! brings a whole port range. Binding with `IP_BIND_ADDRESS_NO_PORT` (ip(7), Linux 4.2)
//! defers the port choice to connect(), which then only needs the 4-tuple to be unique;
//! a plain bind to port 0 would reserve a port for the source address alone.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use nix::sys::socket::{setsockopt, sockopt};
use socket2::Socket;

/// The most addresses one `--source` may expand to; a typo such as
/// `10.0.0.1-10.255.0.1` should be an error, not 16 million entries.
pub const MAX_SOURCES: usize = 65_536;

/// Parsed `--source` value: a non-empty list of addresses of one family, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceList(Vec<IpAddr>);

/// A `--source` value that cannot be used. `Display` gives the reason and the accepted
/// form; clap adds the flag and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}; expected addresses or ranges such as 127.0.0.2,127.0.0.3 or 127.0.0.2-127.0.0.9")]
pub struct SourceError(String);

impl SourceList {
    /// Consumes the list, giving the addresses.
    pub fn into_addrs(self) -> Vec<IpAddr> {
        self.0
    }
}

fn parse_ip(text: &str) -> Result<IpAddr, SourceError> {
    let text = text.trim();
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse()
        .map_err(|_| SourceError(format!("'{text}' is not an IP address")))
}

/// Expands `first-last` (both ends included, same family, `first <= last`).
fn expand_range(first: IpAddr, last: IpAddr, out: &mut Vec<IpAddr>) -> Result<(), SourceError> {
    let (lo, hi, v4) = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            (u128::from(u32::from(a)), u128::from(u32::from(b)), true)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), false),
        _ => {
            return Err(SourceError(format!(
                "range '{first}-{last}' mixes IPv4 and IPv6"
            )));
        }
    };
    if lo > hi {
        return Err(SourceError(format!(
            "range '{first}-{last}' ends before it starts"
        )));
    }
    if hi - lo >= (MAX_SOURCES - out.len()) as u128 {
        return Err(SourceError(format!(
            "more than {MAX_SOURCES} source addresses"
        )));
    }
    out.extend((lo..=hi).map(|n| {
        if v4 {
            // `n` came from a u32 above, so it fits.
            IpAddr::V4(Ipv4Addr::from(n as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(n))
        }
    }));
    Ok(())
}

impl FromStr for SourceList {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Self, SourceError> {
        let mut out = Vec::new();
        for item in s.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(SourceError("empty address in the list".into()));
            }
            match item.split_once('-') {
                Some((first, last)) => expand_range(parse_ip(first)?, parse_ip(last)?, &mut out)?,
                None => {
                    if out.len() >= MAX_SOURCES {
                        return Err(SourceError(format!(
                            "more than {MAX_SOURCES} source addresses"
                        )));
                    }
                    out.push(parse_ip(item)?);
                }
            }
        }
        if out.iter().any(|ip| ip.is_ipv4() != out[0].is_ipv4()) {
            return Err(SourceError("the list mixes IPv4 and IPv6".into()));
        }
        Ok(Self(out))
    }
}

/// Binds `socket` to `ip` with the port left for connect() to choose
/// (`IP_BIND_ADDRESS_NO_PORT`; the option lives at `SOL_IP` for IPv6 sockets too).
pub fn bind_source(socket: &Socket, ip: IpAddr) -> std::io::Result<()> {
    setsockopt(socket, sockopt::IpBindAddressNoPort, &true)?;
    socket.bind(&SocketAddr::new(ip, 0).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(text: &str) -> Vec<String> {
        text.parse::<SourceList>()
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .into_addrs()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn accepts_lists_and_ranges() {
        assert_eq!(ips("127.0.0.2"), ["127.0.0.2"]);
        assert_eq!(ips("127.0.0.2, 127.0.0.3"), ["127.0.0.2", "127.0.0.3"]);
        assert_eq!(
            ips("127.0.0.254-127.0.1.1"),
            ["127.0.0.254", "127.0.0.255", "127.0.1.0", "127.0.1.1"]
        );
        assert_eq!(
            ips("127.0.0.5-127.0.0.5,127.0.0.9"),
            ["127.0.0.5", "127.0.0.9"]
        );
        assert_eq!(ips("::1"), ["::1"]);
        assert_eq!(ips("[fd00::1]-[fd00::2]"), ["fd00::1", "fd00::2"]);
    }

    #[test]
    fn rejects_bad_lists() {
        let table = [
            ("", "empty address"),
            ("127.0.0.2,", "empty address"),
            ("localhost", "'localhost' is not an IP address"),
            ("127.0.0.9-127.0.0.2", "ends before it starts"),
            ("127.0.0.1-::1", "mixes IPv4 and IPv6"),
            ("127.0.0.1,::1", "mixes IPv4 and IPv6"),
            ("10.0.0.0-10.255.255.255", "more than 65536"),
            ("127.0.0.1-", "'' is not an IP address"),
        ];
        for (text, reason) in table {
            let err = text.parse::<SourceList>().expect_err(text).to_string();
            assert!(err.contains(reason), "{text:?}: {err}");
            assert!(err.contains("127.0.0.2-127.0.0.9"), "{err}");
        }
    }

    #[test]
    fn binds_without_reserving_a_port() {
        let socket = Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        bind_source(&socket, "127.0.0.2".parse().unwrap()).unwrap();
        let local = socket.local_addr().unwrap().as_socket().unwrap();
        assert_eq!(local.ip().to_string(), "127.0.0.2");
        assert_eq!(local.port(), 0, "IP_BIND_ADDRESS_NO_PORT defers the port");
    }
}
