//! Binds unix and TCP listeners safely, with the backlog and options we study.
//!
//! Safety rules (the original C tool unlinked whatever was at the path):
//! - a path that exists and is not a socket is never touched: [`ListenError::NotASocket`];
//! - a socket file another process listens on is refused: [`ListenError::AddrInUse`];
//! - so is one a live process has only bound (it refuses connections as a stale one does,
//!   but `sock_diag` shows its socket): [`ListenError::BoundElsewhere`];
//! - a socket file we may not connect to (`EACCES`) is refused as such:
//!   [`ListenError::PermissionDenied`];
//! - a stale socket file (connect gives `ECONNREFUSED`, no live socket bound to it) is
//!   replaced;
//! - the socket file we create is removed when the [`Listener`] drops, but only if the path
//!   still holds that same inode (a file someone put there since is left alone).
//!
//! Forked children must leave with `_exit` (see [`crate::process`]) so that they never run
//! this drop and remove the parent's socket.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use listenlab_common::{Endpoint, file_kind};

use crate::queue::unix_socket_bound_to;
use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, SockFlag, SockType, SockaddrStorage, UnixAddr, sockopt,
};

/// The socket families the tools listen on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// A unix stream socket (`AF_UNIX`).
    Unix,
    /// TCP over IPv4.
    Inet,
    /// TCP over IPv6.
    Inet6,
}

impl Family {
    /// Every family, in report order.
    pub const ALL: [Family; 3] = [Self::Unix, Self::Inet, Self::Inet6];

    /// The family of an endpoint.
    pub fn of(endpoint: &Endpoint) -> Family {
        match endpoint {
            Endpoint::Unix(_) => Self::Unix,
            Endpoint::Inet(SocketAddr::V4(_)) => Self::Inet,
            Endpoint::Inet(SocketAddr::V6(_)) => Self::Inet6,
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unix => "unix",
            Self::Inet => "inet",
            Self::Inet6 => "inet6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOptions {
    /// The `listen(2)` backlog (the kernel caps it at `net.core.somaxconn`).
    pub backlog: u32,
    /// Set `SO_REUSEPORT` before binding (TCP only; unix sockets refuse it).
    pub reuseport: bool,
    /// Put the listener in non-blocking mode. This is a property of the open file, so
    /// forked children that inherit the listener share it.
    pub nonblocking: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            backlog: 128,
            reuseport: false,
            nonblocking: false,
        }
    }
}

/// Why a listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Someone else is listening there.
    #[error("address {0} is in use by another listener; stop it or pick another address")]
    AddrInUse(String),
    /// A live socket that is bound but not listening holds the path; we never delete it.
    #[error("{} is bound by another process's socket (not listening yet); it is left alone: stop that process or pick another path", .0.display())]
    BoundElsewhere(PathBuf),
    /// Permission denied on the socket file or its directory (e.g. a root-owned socket).
    #[error("permission denied on {}: the socket file or its directory belongs to another user; it is left alone: pick another path", .0.display())]
    PermissionDenied(PathBuf),
    /// The path exists and is not a socket; we never delete it.
    #[error("{path} exists and is not a socket ({kind}); it is left alone: pick another path", path = .0.display(), kind = .1)]
    NotASocket(PathBuf, &'static str),
    /// The address is not one of this machine's (`EADDRNOTAVAIL`).
    #[error("address {0} is not available on this machine; use a local address such as 127.0.0.1")]
    AddrNotAvailable(String),
    /// Any other failure, with the step that failed.
    // The OS error is the source: `{err:#}` prints it after the context, so it is not
    // formatted here too.
    #[error("{what} {addr}")]
    Io {
        /// The step: `binding`, `listening on`, ...
        what: &'static str,
        /// The address.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
}

impl ListenError {
    /// True when the user can fix it by choosing another address: a usage error (exit 2).
    pub fn is_usage(&self) -> bool {
        !matches!(self, Self::Io { .. })
    }

    fn io(what: &'static str, endpoint: &Endpoint, err: impl Into<io::Error>) -> Self {
        let source = err.into();
        let addr = endpoint.to_string();
        match source.raw_os_error().map(Errno::from_raw) {
            Some(Errno::EADDRINUSE) => Self::AddrInUse(addr),
            Some(Errno::EADDRNOTAVAIL) => Self::AddrNotAvailable(addr),
            Some(Errno::EACCES) if matches!(endpoint, Endpoint::Unix(_)) => {
                Self::PermissionDenied(addr.into())
            }
            _ => Self::Io { what, addr, source },
        }
    }
}

#[derive(Debug)]
enum Sock {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// A bound, listening socket. For unix sockets it owns the socket file it created.
#[derive(Debug)]
pub struct Listener {
    sock: Sock,
    endpoint: Endpoint,
    /// Removes the socket file on drop (held only for that).
    _file: Option<SocketFile>,
}

impl Listener {
    /// Binds and listens. For `Endpoint::Inet` with port 0 the kernel picks a port;
    /// [`Listener::endpoint`] gives the real one.
    pub fn bind(endpoint: &Endpoint, opts: ListenOptions) -> Result<Listener, ListenError> {
        let listener = match endpoint {
            Endpoint::Unix(path) => bind_unix(path, opts)?,
            Endpoint::Inet(addr) => bind_tcp(*addr, opts)?,
        };
        listener
            .set_nonblocking(opts.nonblocking)
            .map_err(|e| ListenError::io("configuring", endpoint, e))?;
        Ok(listener)
    }

    /// The bound address (with the real port for TCP).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The family of the bound address.
    pub fn family(&self) -> Family {
        Family::of(&self.endpoint)
    }

    /// Accepts one connection. Returns `WouldBlock` on a non-blocking listener with nothing
    /// pending. The accepted socket is blocking and close-on-exec.
    pub fn accept(&self) -> io::Result<OwnedFd> {
        match &self.sock {
            Sock::Unix(l) => l.accept().map(|(s, _)| s.into()),
            Sock::Tcp(l) => l.accept().map(|(s, _)| s.into()),
        }
    }

    /// Switches `O_NONBLOCK` on the listener (shared with forked children).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match &self.sock {
            Sock::Unix(l) => l.set_nonblocking(on),
            Sock::Tcp(l) => l.set_nonblocking(on),
        }
    }

    /// Opens a blocking client connection to this listener (used by the probe and tests).
    pub fn connect(&self) -> io::Result<OwnedFd> {
        connect(&self.endpoint)
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.sock {
            Sock::Unix(l) => l.as_fd(),
            Sock::Tcp(l) => l.as_fd(),
        }
    }
}

/// Opens a blocking client connection to `endpoint`.
pub fn connect(endpoint: &Endpoint) -> io::Result<OwnedFd> {
    match endpoint {
        Endpoint::Unix(path) => UnixStream::connect(path).map(OwnedFd::from),
        Endpoint::Inet(addr) => TcpStream::connect(addr).map(OwnedFd::from),
    }
}

fn bind_unix(path: &Path, opts: ListenOptions) -> Result<Listener, ListenError> {
    let endpoint = Endpoint::Unix(path.to_owned());
    let fail = |what, e: Errno| ListenError::io(what, &endpoint, e);
    clear_stale_socket(path)?;
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| fail("creating a socket for", e))?;
    if opts.reuseport {
        // Unix sockets have no SO_REUSEPORT: let the kernel say so (EOPNOTSUPP).
        socket::setsockopt(&fd, sockopt::ReusePort, &true)
            .map_err(|e| fail("setting SO_REUSEPORT on", e))?;
    }
    let addr = UnixAddr::new(path).map_err(|e| fail("binding", e))?;
    socket::bind(fd.as_raw_fd(), &addr).map_err(|e| fail("binding", e))?;
    // From here on the file is ours: the guard removes it on any later failure too.
    let file = SocketFile::adopt(path).map_err(|e| ListenError::io("binding", &endpoint, e))?;
    listen(&fd, opts.backlog).map_err(|e| ListenError::io("listening on", &endpoint, e))?;
    Ok(Listener {
        sock: Sock::Unix(UnixListener::from(fd)),
        endpoint,
        _file: Some(file),
    })
}

/// Refuses a path that is not a socket or that someone listens on; removes a stale one.
fn clear_stale_socket(path: &Path) -> Result<(), ListenError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ListenError::io("checking", &Endpoint::Unix(path.into()), e)),
    };
    let kind = meta.file_type();
    if !kind.is_socket() {
        return Err(ListenError::NotASocket(path.to_owned(), file_kind(&kind)));
    }
    // A non-blocking connect tells a live listener (connected, or EAGAIN when its backlog is
    // full) from a socket nobody listens on (ECONNREFUSED) without ever blocking. EACCES:
    // the file is not ours to judge (a root-owned socket, a directory we cannot search).
    let endpoint = Endpoint::Unix(path.into());
    let probe = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    );
    let addr = UnixAddr::new(path);
    let refused = match (probe, addr) {
        (Ok(fd), Ok(addr)) => match socket::connect(fd.as_raw_fd(), &addr) {
            Err(Errno::ECONNREFUSED) => true,
            Err(Errno::EACCES) => return Err(ListenError::PermissionDenied(path.to_owned())),
            _ => false,
        },
        _ => false,
    };
    if !refused {
        return Err(ListenError::AddrInUse(path.display().to_string()));
    }
    // A socket another process has bound but not yet listened on also refuses connections:
    // only a file no live socket is bound to is stale (issue 12). If the kernel cannot say
    // (no sock_diag), the file is left alone.
    match unix_socket_bound_to(meta.dev(), meta.ino()) {
        Ok(false) => {}
        Ok(true) => return Err(ListenError::BoundElsewhere(path.to_owned())),
        Err(e) => return Err(ListenError::io("checking who holds", &endpoint, e)),
    }
    // Unlink only the very file we examined: if the path changed meanwhile, leave it to
    // its new owner. (A window between this check and the unlink remains; no call unlinks
    // by inode.)
    let unchanged = std::fs::symlink_metadata(path).is_ok_and(|now| {
        now.dev() == meta.dev() && now.ino() == meta.ino() && now.file_type().is_socket()
    });
    if !unchanged {
        return Err(ListenError::AddrInUse(path.display().to_string()));
    }
    std::fs::remove_file(path).map_err(|e| ListenError::io("removing stale socket", &endpoint, e))
}

fn bind_tcp(addr: SocketAddr, opts: ListenOptions) -> Result<Listener, ListenError> {
    let endpoint = Endpoint::Inet(addr);
    let fail = |what, e: Errno| ListenError::io(what, &endpoint, e);
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| fail("creating a socket for", e))?;
    // SO_REUSEADDR lets a restarted listener bind over TIME_WAIT, as every server does; it
    // does not let two listeners share a port (that is SO_REUSEPORT).
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| fail("configuring", e))?;
    if opts.reuseport {
        socket::setsockopt(&fd, sockopt::ReusePort, &true)
            .map_err(|e| fail("setting SO_REUSEPORT on", e))?;
    }
    if addr.is_ipv6() {
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true).map_err(|e| fail("configuring", e))?;
    }
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr)).map_err(|e| fail("binding", e))?;
    listen(&fd, opts.backlog).map_err(|e| ListenError::io("listening on", &endpoint, e))?;
    let listener = TcpListener::from(fd);
    let local = listener
        .local_addr()
        .map_err(|e| ListenError::io("reading", &endpoint, e))?;
    Ok(Listener {
        sock: Sock::Tcp(listener),
        endpoint: Endpoint::Inet(local),
        _file: None,
    })
}

/// `listen(2)` with the backlog as given. nix's `Backlog::new` refuses values above its
/// `SOMAXCONN` constant (4096) before the kernel is asked, but the kernel takes any value
/// and caps it at `net.core.somaxconn`, which may be higher (issue 12): the effective
/// backlog is read back from the kernel ([`crate::queue::accept_queue`]), never assumed.
fn listen(fd: &OwnedFd, backlog: u32) -> io::Result<()> {
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    // SAFETY: `fd` is an open socket for the duration of the borrow; listen(2) takes no
    // pointers.
    if unsafe { libc::listen(fd.as_raw_fd(), backlog) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A socket file we created: removed on drop if the path still holds the same inode.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn adopt(path: &Path) -> io::Result<Self> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(Self {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && meta.dev() == self.dev
            && meta.ino() == self.ino
            && meta.file_type().is_socket()
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_opts() -> ListenOptions {
        ListenOptions {
            backlog: 4,
            ..ListenOptions::default()
        }
    }

    #[test]
    fn unix_listener_removes_its_file_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let l = Listener::bind(&Endpoint::Unix(path.clone()), unix_opts()).unwrap();
        assert!(path.exists());
        let _client = l.connect().unwrap();
        assert!(l.accept().is_ok());
        drop(l);
        assert!(!path.exists());
    }

    #[test]
    fn refuses_a_regular_file_and_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.txt");
        std::fs::write(&path, b"precious").unwrap();
        let err = Listener::bind(&Endpoint::Unix(path.clone()), unix_opts()).unwrap_err();
        assert!(
            matches!(err, ListenError::NotASocket(_, "a regular file")),
            "{err}"
        );
        assert!(err.is_usage());
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    }

    #[test]
    fn refuses_a_live_socket_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let ep = Endpoint::Unix(path.clone());
        let live = Listener::bind(&ep, unix_opts()).unwrap();
        let err = Listener::bind(&ep, unix_opts()).unwrap_err();
        assert!(matches!(err, ListenError::AddrInUse(_)), "{err}");
        // A stale file: a bound socket nobody listens on any more.
        let stale = UnixListener::bind(dir.path().join("stale.sock")).unwrap();
        drop(stale);
        let again = Listener::bind(&Endpoint::Unix(dir.path().join("stale.sock")), unix_opts());
        assert!(again.is_ok());
        drop(live);
    }

    #[test]
    fn tcp_port_zero_reports_the_real_port() {
        let l = Listener::bind(
            &Endpoint::Inet("127.0.0.1:0".parse().unwrap()),
            ListenOptions::default(),
        )
        .unwrap();
        let Endpoint::Inet(addr) = l.endpoint() else {
            panic!()
        };
        assert_ne!(addr.port(), 0);
        assert_eq!(l.family(), Family::Inet);
        let err = Listener::bind(l.endpoint(), ListenOptions::default()).unwrap_err();
        assert!(matches!(err, ListenError::AddrInUse(_)), "{err}");
    }
}
