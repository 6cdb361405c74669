//! The single-waiter matrix: one listener in one epoll instance, the steps of
//! [`Step::ALL`] in order ([`step`]), two `epoll_wait(timeout 0)` calls after each, and
//! the strict-edge prediction of [`predict`] beside every observed count.

mod predict;
pub(in crate::probe) mod step;

use std::io;
use std::time::Duration;

use listenlab_common::Endpoint;
use nix::sys::epoll::EpollFlags;

pub use step::Step;

use super::error::ProbeError;
use super::harness::client::{Clients, Command};
use super::harness::interrupt::Interrupt;
use super::harness::settle::queue_reaches;
use super::report::{ConnectFrom, Flags, SingleWaiterRecord};
use crate::poller::{Poller, Ready, Trigger};
use crate::socket::{ListenOptions, Listener};
use predict::StrictEdge;

/// The token the listener is registered under.
const LISTENER: u64 = 1;
/// Room for every connection of the sequence, so that no connect ever waits.
const BACKLOG: u32 = 64;
/// How long the probe waits for the accept queue to show a step's connects.
const SETTLE: Duration = Duration::from_secs(2);

/// Runs every step for one family and trigger mode on a fresh listener at `endpoint`.
pub fn run(
    endpoint: &Endpoint,
    trigger: Trigger,
    from: ConnectFrom,
    intr: &Interrupt,
) -> Result<Vec<SingleWaiterRecord>, ProbeError> {
    let opts = ListenOptions {
        backlog: BACKLOG,
        reuseport: false,
        nonblocking: true,
    };
    let listener = Listener::bind(endpoint, opts)?;
    let mut poller = Poller::new().map_err(|e| ProbeError::io("creating an epoll instance", e))?;
    poller
        .add(&listener, trigger.flags(), LISTENER)
        .map_err(|e| ProbeError::io("registering the listener", e))?;
    let mut clients = Clients::start(from, listener.endpoint())?;
    let mut model = StrictEdge::new(trigger);
    let mut pending = 0;
    let mut records = Vec::with_capacity(Step::ALL.len());
    for step in Step::ALL {
        intr.check()?;
        let error = perform(step, &listener, &poller, trigger, &mut clients, intr)?;
        if error.is_none() {
            pending = step.pending_after(pending);
        }
        let queue_len = queue_reaches(&listener, pending, SETTLE, intr)?;
        let first = listener_events(&mut poller)?;
        let second = listener_events(&mut poller)?;
        let (strict_edge_first, strict_edge_second) = model.step(step, error.is_none());
        records.push(SingleWaiterRecord {
            family: listener.family(),
            address: listener.endpoint().to_string(),
            trigger,
            connect_from: from,
            step,
            first: first.len() as u64,
            second: second.len() as u64,
            first_flags: flags_of(&first),
            second_flags: flags_of(&second),
            strict_edge_first,
            strict_edge_second,
            differs: (first.len() as u64, second.len() as u64)
                != (strict_edge_first, strict_edge_second),
            queue_len,
            error,
        });
    }
    Ok(records)
}

/// Carries out `step`. Returns the error of a syscall the kernel refused (report data),
/// or stops the run if the step could not be carried out at all.
fn perform(
    step: Step,
    listener: &Listener,
    poller: &Poller,
    trigger: Trigger,
    clients: &mut Clients,
    intr: &Interrupt,
) -> Result<Option<String>, ProbeError> {
    let refused = |what: &str, e: nix::Error| Some(format!("{what}: {e:?}"));
    Ok(match step {
        Step::Registered => None,
        Step::Connect1
        | Step::Connect2
        | Step::Connect3
        | Step::ConnectAfterDrain
        | Step::Burst3ThenPoll => {
            clients.run(Command::Connect(step.connects()), intr)?;
            None
        }
        Step::AcceptOne => match listener.accept() {
            Ok(_accepted) => None,
            Err(e) => Some(format!("accept: {e}")),
        },
        Step::Drain => loop {
            match listener.accept() {
                Ok(_accepted) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                Err(e) => break Some(format!("accept: {e}")),
            }
        },
        Step::CtlModSameFlags => poller
            .modify(listener, trigger.flags(), LISTENER)
            .err()
            .and_then(|e| refused("epoll_ctl(EPOLL_CTL_MOD)", e)),
        Step::ClientWriteQueued => {
            clients.run(Command::WriteQueued, intr)?;
            None
        }
        Step::ClientCloseQueued => {
            clients.run(Command::CloseQueued, intr)?;
            None
        }
    })
}

/// One `epoll_wait(0)`: the events for the listener (nothing else is registered).
fn listener_events(poller: &mut Poller) -> Result<Vec<Ready>, ProbeError> {
    let ready = poller
        .poll_now()
        .map_err(|e| ProbeError::io("epoll_wait", e))?;
    Ok(ready.into_iter().filter(|r| r.token == LISTENER).collect())
}

/// The flags of the first event (there is at most one: one registered fd); none when the
/// wait returned nothing.
fn flags_of(ready: &[Ready]) -> Flags {
    Flags(ready.first().map_or(EpollFlags::empty(), |r| r.flags))
}
