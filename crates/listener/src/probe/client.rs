//! The connecting side: who makes the single-waiter connects (`--connect-from`), the
//! client sockets it keeps open across steps, and non-blocking connects for the backlog
//! overflow (a blocking unix connect to a full backlog would sleep until room is made).
//!
//! `same` runs each command inline. `child` forks a helper before any thread exists;
//! `thread` starts a std thread. Both helpers run the same loop (`serve`): read a command
//! line from a pipe, apply it, answer `ok` or `err <why>`. The probe waits for that
//! answer, bounded, before it polls, so each step has happened when it is observed.

use std::os::fd::{AsRawFd, OwnedFd};
use std::thread::JoinHandle;
use std::time::Duration;

use listenlab_common::Endpoint;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    self, AddressFamily, SockFlag, SockType, SockaddrLike, SockaddrStorage, UnixAddr, sockopt,
};

use super::error::ProbeError;
use super::interrupt::Interrupt;
use super::ipc::{LineReader, LineWriter, channel};
use crate::process::{ChildSet, die_with_parent};

/// How long the probe waits for a helper to carry out one command.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// A helper that hears nothing for this long assumes the probe is gone and exits.
const HELPER_IDLE: Duration = Duration::from_secs(60);

/// Who connects to the listener in the single-waiter matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ConnectFrom {
    /// The probe process itself, inline (the original's `-DINLINE_CONNECT`).
    Same,
    /// A forked child process, commanded over a pipe (the original's default).
    #[default]
    Child,
    /// A thread of the probe process.
    Thread,
}

impl ConnectFrom {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Same => "same",
            Self::Child => "child",
            Self::Thread => "thread",
        }
    }
}

/// What the connecting side is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Open this many connections and keep them.
    Connect(u32),
    /// The newest kept client writes one byte.
    WriteQueued,
    /// The second-newest kept client closes (the newest has just written; closing another
    /// one keeps the two effects apart).
    CloseQueued,
}

impl Command {
    fn encode(self) -> String {
        match self {
            Self::Connect(n) => format!("connect {n}"),
            Self::WriteQueued => "write".to_owned(),
            Self::CloseQueued => "close".to_owned(),
        }
    }

    fn decode(line: &str) -> Option<Self> {
        match line.split_once(' ') {
            Some(("connect", n)) => n.parse().ok().map(Self::Connect),
            None if line == "write" => Some(Self::WriteQueued),
            None if line == "close" => Some(Self::CloseQueued),
            _ => None,
        }
    }
}

/// The client sockets one connecting side holds open across steps.
#[derive(Debug)]
pub struct Held {
    endpoint: Endpoint,
    clients: Vec<OwnedFd>,
}

impl Held {
    /// No clients yet; connects go to `endpoint`.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            clients: Vec::new(),
        }
    }

    /// Carries out `cmd`; the error says why it could not.
    pub fn apply(&mut self, cmd: Command) -> Result<(), String> {
        match cmd {
            Command::Connect(n) => {
                for _ in 0..n {
                    let fd = crate::socket::connect(&self.endpoint)
                        .map_err(|e| format!("connect to {}: {e}", self.endpoint))?;
                    self.clients.push(fd);
                }
                Ok(())
            }
            Command::WriteQueued => {
                let fd = self.clients.last().ok_or("no client to write with")?;
                nix::unistd::write(fd, b"x")
                    .map(drop)
                    .map_err(|e| format!("write: {e}"))
            }
            Command::CloseQueued => {
                let at = self
                    .clients
                    .len()
                    .checked_sub(2)
                    .ok_or("no client to close")?;
                drop(self.clients.remove(at));
                Ok(())
            }
        }
    }
}

/// A helper's loop: apply each command line and answer it, until the probe closes the
/// command pipe (or is silent for [`HELPER_IDLE`]). Returns the helper's exit code.
fn serve(mut held: Held, mut commands: LineReader, answers: &LineWriter) -> i32 {
    let none = Interrupt::none();
    while let Ok(Some(line)) = commands.recv(HELPER_IDLE, &none) {
        let answer = match Command::decode(&line) {
            Some(cmd) => held
                .apply(cmd)
                .map_or_else(|e| format!("err {e}"), |()| "ok".into()),
            None => format!("err unknown command '{line}'"),
        };
        if answers.send(&answer).is_err() {
            return 1;
        }
    }
    0
}

/// The connecting side of one single-waiter run.
#[derive(Debug)]
pub struct Clients {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Same(Held),
    Helper {
        /// Dropped first on drop: the helper reads end-of-file and stops.
        commands: Option<LineWriter>,
        answers: LineReader,
        thread: Option<JoinHandle<i32>>,
        /// The forked helper, reaped (or killed and reaped) on drop.
        child: ChildSet,
    },
}

impl Clients {
    /// Starts the connecting side for `endpoint`. For `child` this forks: call it only
    /// while the probe has no other thread.
    pub fn start(from: ConnectFrom, endpoint: &Endpoint) -> Result<Self, ProbeError> {
        let held = Held::new(endpoint.clone());
        if from == ConnectFrom::Same {
            return Ok(Self {
                kind: Kind::Same(held),
            });
        }
        let (cmd_rx, cmd_tx) = channel()?;
        let (answers, answer_tx) = channel()?;
        let mut child = ChildSet::new();
        let thread = if from == ConnectFrom::Thread {
            let spawned = std::thread::Builder::new()
                .name("connector".into())
                .spawn(move || serve(held, cmd_rx, &answer_tx))
                .map_err(|e| ProbeError::io("starting the connector thread", e))?;
            Some(spawned)
        } else {
            let parent = nix::unistd::getpid();
            child
                .spawn(0, || {
                    die_with_parent(parent);
                    cmd_tx.close_inherited();
                    serve(held, cmd_rx, &answer_tx)
                })
                .map_err(|e| ProbeError::io("forking the connector child", e))?;
            None
        };
        Ok(Self {
            kind: Kind::Helper {
                commands: Some(cmd_tx),
                answers,
                thread,
                child,
            },
        })
    }

    /// Carries out `cmd` and returns once it is done. A failed command, or a helper that
    /// does not answer within 5 s, stops the run.
    pub fn run(&mut self, cmd: Command, intr: &Interrupt) -> Result<(), ProbeError> {
        let answer = match &mut self.kind {
            Kind::Same(held) => held.apply(cmd),
            Kind::Helper {
                commands, answers, ..
            } => {
                let tx = commands.as_ref().expect("commands stay open until drop");
                tx.send(&cmd.encode())
                    .map_err(|e| ProbeError::io("commanding the connector", e))?;
                match answers.recv(ANSWER_WITHIN, intr)? {
                    Some(line) if line == "ok" => Ok(()),
                    Some(line) => Err(line.strip_prefix("err ").unwrap_or(&line).to_owned()),
                    None => Err(format!(
                        "the connector did not answer '{}' within {ANSWER_WITHIN:?}",
                        cmd.encode()
                    )),
                }
            }
        };
        answer.map_err(ProbeError::Helper)
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        if let Kind::Helper {
            commands,
            thread,
            child,
            ..
        } = &mut self.kind
        {
            drop(commands.take());
            if let Some(handle) = thread.take() {
                // The thread reads end-of-file at once and returns.
                let _ = handle.join();
            }
            child.reap_all(Duration::from_secs(1));
        }
    }
}

/// What a non-blocking `connect()` returned, and its socket.
#[derive(Debug)]
pub struct Attempt {
    /// `"connected"`, `"in_progress"`, `"would_block"` or the errno name.
    pub result: String,
    /// The client socket (kept open so the connection stays queued).
    pub fd: OwnedFd,
}

/// Starts a non-blocking connect to `endpoint`. Unix sockets connect at once or fail
/// with `EAGAIN` when the backlog is full; TCP says `EINPROGRESS` and completes the
/// handshake on its own.
pub fn connect_nonblocking(endpoint: &Endpoint) -> Result<Attempt, ProbeError> {
    let unix_addr;
    let inet_addr;
    let (family, addr): (AddressFamily, &dyn SockaddrLike) = match endpoint {
        Endpoint::Unix(path) => {
            unix_addr = UnixAddr::new(path.as_path())
                .map_err(|e| ProbeError::io(format!("addressing {endpoint}"), e))?;
            (AddressFamily::Unix, &unix_addr)
        }
        Endpoint::Inet(sa) => {
            inet_addr = SockaddrStorage::from(*sa);
            let family = if sa.is_ipv4() {
                AddressFamily::Inet
            } else {
                AddressFamily::Inet6
            };
            (family, &inet_addr)
        }
    };
    let fd = socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| ProbeError::io("creating a client socket", e))?;
    let result = match socket::connect(fd.as_raw_fd(), addr) {
        Ok(()) => "connected".to_owned(),
        Err(Errno::EINPROGRESS) => "in_progress".to_owned(),
        Err(Errno::EAGAIN) => "would_block".to_owned(),
        Err(e) => format!("{e:?}"),
    };
    Ok(Attempt { result, fd })
}

/// Where a non-blocking connect stands now: `"established"` (writable, no error),
/// `"pending"` (handshake not complete), or `"not_connected"` (it failed or never started).
pub fn connect_state(attempt: &Attempt) -> &'static str {
    if !matches!(attempt.result.as_str(), "connected" | "in_progress") {
        return "not_connected";
    }
    let mut fds = [PollFd::new(
        std::os::fd::AsFd::as_fd(&attempt.fd),
        PollFlags::POLLOUT,
    )];
    let writable = matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1));
    let error = socket::getsockopt(&attempt.fd, sockopt::SocketError).unwrap_or(0);
    match (writable, error) {
        (_, e) if e != 0 => "not_connected",
        (true, _) => "established",
        (false, _) => "pending",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_survive_the_pipe() {
        for cmd in [
            Command::Connect(3),
            Command::WriteQueued,
            Command::CloseQueued,
        ] {
            assert_eq!(Command::decode(&cmd.encode()), Some(cmd));
        }
        assert_eq!(Command::decode("connect x"), None);
        assert_eq!(Command::decode("jump"), None);
    }
}
