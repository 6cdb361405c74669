//! What a forked child does: accept, (greet), serve for `--sleep`, close; once (per-event) or
//! in a loop (ondemand), publishing its state and counts in its scoreboard slot and ringing
//! the parent's doorbell (an eventfd) after each accept, and when a long-lived child is idle
//! again, so the parent reports it at once.
//!
//! Reporting to the parent: the scoreboard holds the exact counts (an accept is counted in
//! shared memory right after `accept()` returns, before anything can interrupt it); the exit
//! status says why the child ended ([`EXIT_COMPLETED`], [`EXIT_EMPTY`], ...).
//!
//! Stopping: SIGTERM and SIGQUIT only set a flag (handlers installed without `SA_RESTART`),
//! so a blocking `accept()` or a wait returns `EINTR` and the child exits through its normal
//! path; an accepted connection is therefore always counted. SIGQUIT is graceful, as for a
//! PHP-FPM child: a busy child finishes its connection first. SIGINT is ignored: Ctrl-C
//! reaches the whole process group, and the parent, which handles it, stops the children
//! with SIGTERM, so that their exits are classified as part of the stop. We call `accept4`
//! through nix rather than std, because std retries on `EINTR`.
//!
//! The flag has the classic race: a signal that lands after the check and before the
//! blocking call (`accept4`, `poll`) only sets the flag, and the call blocks on. `ppoll`
//! with a signal mask would close it for the polls but not for a blocking `accept4` on the
//! shared listener (polling first and then accepting would wake every idle child for each
//! connection, a thundering herd the tool does not mean to show). So the parent repeats
//! its signals instead: SIGTERM every 20 ms while it waits for the children to stop, and an
//! idle-killed child still idle a tick after its SIGQUIT gets SIGKILL.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::eventfd::EventFd;
use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::socket::{MsgFlags, SockFlag, accept4, recv};
use nix::unistd::{Pid, getppid};

use super::RequestStarts;
use super::scoreboard::{Slot, SlotState, Tickets};

/// Exit code: served its connection(s) and left on its own (per-event: one connection;
/// ondemand: `--max-requests` reached, or SIGQUIT after finishing a connection).
pub const EXIT_COMPLETED: i32 = 0;
/// Exit code: an unexpected error (e.g. `EMFILE` from accept).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: nothing to accept (`--accept nonblocking`, per-event).
pub const EXIT_EMPTY: i32 = 3;
/// Exit code: told to stop while waiting for a connection.
pub const EXIT_STOPPED_IDLE: i32 = 4;
/// Exit code: told to stop (SIGTERM) while serving a connection.
pub const EXIT_STOPPED_BUSY: i32 = 5;

/// How long a `--request-starts first-byte` child waits for the first byte before it closes
/// the connection, as PHP-FPM's `fcgi_accept_request` (a 5000 ms `poll`).
pub const FIRST_BYTE_WAIT: Duration = Duration::from_secs(5);

/// How often a child with no accept ticket left looks again (`--exit-after` only).
const TICKET_WAIT: Duration = Duration::from_millis(10);

/// The byte `--greet` writes right after accept.
pub const GREETING: u8 = b'!';

/// How long a child lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildLife {
    /// Accept one connection, serve it, exit (the original per-event tool).
    OneConnection,
    /// Accept, serve, accept again, until stopped or `max_requests` (PHP-FPM children).
    Loop,
}

/// Everything a child needs to know, copied into it by the fork.
#[derive(Debug, Clone, Copy)]
pub struct ChildSpec {
    /// Once or in a loop.
    pub life: ChildLife,
    /// How long to hold each connection (busy).
    pub sleep: Duration,
    /// Write [`GREETING`] right after accept.
    pub greet: bool,
    /// Exit after this many connections (loop only).
    pub max_requests: Option<u64>,
    /// When a connection makes the child busy.
    pub request_starts: RequestStarts,
    /// How long a new child stays starting before its first accept.
    pub child_startup: Duration,
    /// How long the child stays finishing (not idle) after closing a connection.
    pub request_shutdown: Duration,
    /// The run's start, for scoreboard timestamps.
    pub start: Instant,
    /// The parent's pid, to notice a parent that died before the child armed
    /// `PR_SET_PDEATHSIG`.
    pub parent: Pid,
}

static TERM: AtomicBool = AtomicBool::new(false);
static QUIT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(signo: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    if signo == libc::SIGQUIT {
        QUIT.store(true, Ordering::SeqCst);
    } else {
        TERM.store(true, Ordering::SeqCst);
    }
}

fn install_stop_handlers() {
    let action = SigAction::new(
        SigHandler::Handler(on_stop_signal),
        SaFlags::empty(), // no SA_RESTART: blocking calls return EINTR
        SigSet::empty(),
    );
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for (signal, action) in [
        (Signal::SIGTERM, &action),
        (Signal::SIGQUIT, &action),
        (Signal::SIGINT, &ignore),
    ] {
        // SAFETY: the handler only stores to atomics, which is async-signal-safe; this runs
        // in a freshly forked, single-threaded child.
        let _ = unsafe { sigaction(signal, action) };
    }
}

fn told_to_stop() -> bool {
    TERM.load(Ordering::SeqCst) || QUIT.load(Ordering::SeqCst)
}

fn told_to_stop_now() -> bool {
    TERM.load(Ordering::SeqCst)
}

/// The child's body: returns its exit code. Runs in the forked child only.
/// `number` is the child's number in reports (its stderr lines name it).
pub fn run(
    spec: &ChildSpec,
    number: u64,
    listener: BorrowedFd<'_>,
    slot: &Slot,
    tickets: &Tickets,
    doorbell: &EventFd,
) -> i32 {
    // A parent killed outright (SIGKILL cannot be handled) takes its children with it, so
    // no orphan goes on accepting on the listener (prctl(2) PR_SET_PDEATHSIG).
    let _ = set_pdeathsig(Signal::SIGKILL);
    if getppid() != spec.parent {
        return EXIT_STOPPED_IDLE; // the parent died before the line above
    }
    install_stop_handlers();
    // PHP's start-up before the first accept (`--child-startup`): still "starting", so
    // not idle for the manager.
    if !spec.child_startup.is_zero() && !pause(spec.child_startup, told_to_stop_now) {
        return EXIT_STOPPED_IDLE;
    }
    let child = Child {
        spec,
        number,
        listener,
        slot,
        tickets,
        doorbell,
    };
    child.serve_all()
}

struct Child<'a> {
    spec: &'a ChildSpec,
    number: u64,
    listener: BorrowedFd<'a>,
    slot: &'a Slot,
    tickets: &'a Tickets,
    doorbell: &'a EventFd,
}

enum Accepted {
    Conn(OwnedFd),
    Empty,
    Stop,
}

impl Child<'_> {
    fn now_ns(&self) -> u64 {
        self.spec.start.elapsed().as_nanos() as u64
    }

    fn publish(&self, state: SlotState) {
        self.slot.set_state(state, self.now_ns());
        self.ring();
    }

    fn ring(&self) {
        // The eventfd counter cannot overflow in practice; a failed ring only delays a line.
        let _ = self.doorbell.write(1);
    }

    fn serve_all(&self) -> i32 {
        let mut requests = 0u64;
        loop {
            self.slot.set_state(SlotState::Idle, self.now_ns());
            if self.spec.life == ChildLife::Loop {
                // Idle again: a paused level-triggered listener may resume. A one-shot
                // child rings once, after accept; its exit comes as SIGCHLD.
                self.ring();
            }
            let conn = match self.accept() {
                Ok(Accepted::Conn(conn)) => conn,
                Ok(Accepted::Empty) => return EXIT_EMPTY,
                Ok(Accepted::Stop) => return EXIT_STOPPED_IDLE,
                Err(e) => {
                    // The exit status alone does not say why. One write per line: many
                    // children can fail at once on the same stderr (issue 12).
                    listenlab_common::cli::stderr_line(format_args!(
                        "epoll-listen-fork: child {}: accept failed: {e}",
                        self.number
                    ));
                    return EXIT_FAILED;
                }
            };
            self.slot.record_accept(self.now_ns());
            if self.spec.greet {
                let _ = nix::unistd::write(&conn, &[GREETING]);
            }
            if self.spec.request_starts == RequestStarts::FirstByte {
                self.ring();
                match wait_fd(conn.as_fd(), Some(FIRST_BYTE_WAIT), told_to_stop_now) {
                    Wait::Ready if read_request(&conn) => {}
                    Wait::Ready => {
                        // The client closed without sending: PHP-FPM's read fails, it
                        // closes and accepts again at once, serving nothing.
                        self.slot.record_closed_without_request();
                        drop(conn);
                        continue;
                    }
                    Wait::TimedOut => {
                        self.slot.record_first_byte_timeout();
                        drop(conn);
                        continue;
                    }
                    Wait::Stopped => return self.interrupted(),
                }
            }
            self.publish(SlotState::Busy);
            if !pause(self.spec.sleep, told_to_stop_now) {
                return self.interrupted();
            }
            drop(conn);
            self.slot.record_served();
            requests += 1;
            if !self.spec.request_shutdown.is_zero() {
                // PHP-FPM's "Finishing" after the response: busy for the manager until
                // php_request_shutdown returns. SIGQUIT does not cut it short.
                self.publish(SlotState::Finishing);
                if !pause(self.spec.request_shutdown, told_to_stop_now) {
                    return EXIT_STOPPED_IDLE;
                }
            }
            let done = self.spec.life == ChildLife::OneConnection
                || self.spec.max_requests.is_some_and(|max| requests >= max)
                || told_to_stop();
            if done {
                return EXIT_COMPLETED;
            }
        }
    }

    /// Told to stop while holding a connection: count it as interrupted, then exit.
    fn interrupted(&self) -> i32 {
        self.slot.record_interrupted();
        EXIT_STOPPED_BUSY
    }

    /// Takes an accept ticket (waiting while none is left: `--exit-after` is about to be
    /// reached, or a ticket may come back), accepts, and gives the ticket back unless a
    /// connection used it.
    fn accept(&self) -> nix::Result<Accepted> {
        loop {
            if told_to_stop() {
                return Ok(Accepted::Stop);
            }
            if self.tickets.take(self.slot) {
                break;
            }
            // No ticket: the parent stops the run once the last holders accept; checked
            // again every TICKET_WAIT in case a ticket comes back (a holder that left).
            pause(TICKET_WAIT, told_to_stop);
        }
        let accepted = self.accept_with_ticket();
        if !matches!(accepted, Ok(Accepted::Conn(_))) {
            self.tickets.give_back(self.slot);
        }
        accepted
    }

    fn accept_with_ticket(&self) -> nix::Result<Accepted> {
        loop {
            if told_to_stop() {
                return Ok(Accepted::Stop);
            }
            match accept4(self.listener, SockFlag::SOCK_CLOEXEC) {
                Ok(conn) => return Ok(Accepted::Conn(conn)),
                // A signal (checked above on the next turn), or a client that reset before
                // we got to it.
                Err(Errno::EINTR | Errno::ECONNABORTED) => continue,
                Err(Errno::EAGAIN) => match self.spec.life {
                    ChildLife::OneConnection => return Ok(Accepted::Empty),
                    // A long-lived child on a non-blocking listener waits for readiness with
                    // its own poll (never the parent's epoll), then tries again.
                    ChildLife::Loop => {
                        if wait_fd(self.listener, None, told_to_stop) == Wait::Stopped {
                            return Ok(Accepted::Stop);
                        }
                    }
                },
                Err(e) => return Err(e),
            }
        }
    }
}

/// Reads what the client sent so far (without waiting), as a server reads its request:
/// closing a socket with unread data would reset the connection (RST) instead of ending it.
/// False when there is no request: the client closed (EOF) or the read failed, which
/// PHP-FPM's `fcgi_read_request` treats alike.
fn read_request(conn: &OwnedFd) -> bool {
    let mut buf = [0u8; 4096];
    match recv(conn.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
        Ok(0) => false,
        Ok(_) | Err(Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Wait {
    Ready,
    TimedOut,
    Stopped,
}

/// Waits until `fd` is readable, `timeout` passes, or `stop()` turns true after a signal.
fn wait_fd(fd: BorrowedFd<'_>, timeout: Option<Duration>, stop: fn() -> bool) -> Wait {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if stop() {
            return Wait::Stopped;
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Wait::TimedOut;
        }
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, crate::poller::to_epoll_timeout(left)) {
            Ok(n) if n > 0 => return Wait::Ready,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return Wait::Ready, // let the caller's read/accept report it
        }
    }
}

/// Sleeps for `d` unless `stop()` turns true after a signal; true when the time elapsed.
fn pause(d: Duration, stop: fn() -> bool) -> bool {
    let deadline = Instant::now() + d;
    loop {
        if stop() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        let _ = poll(&mut [], crate::poller::to_epoll_timeout(Some(left)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_waits_the_whole_time() {
        let t = Instant::now();
        assert!(pause(Duration::from_millis(20), || false));
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert!(!pause(Duration::from_secs(60), || true));
    }
}
