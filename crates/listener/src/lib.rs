//! `listenlab-listener`: synchronous, nix-based listeners for the `epoll-socket-test` probe,
//! the `epoll-listen-fork` simulator and the `listen-watch` observer.
//!
//! Shared building blocks (private modules; their docs: `--document-private-items`):
//! - `socket`: bind unix/TCP listeners safely (stale sockets, never deleting other files);
//! - `poller`: epoll with the trigger modes we study and an EINTR-safe wait;
//! - `events`: epoll flags decoded by name;
//! - `queue`: a listener's accept-queue length (TCP_INFO, sock_diag);
//! - `diag`: sock_diag netlink (queues of any TCP or unix listener on the machine);
//! - `netstat`: `ListenOverflows` / `ListenDrops` from `/proc/net/netstat`;
//! - `process`: fork with `_exit`, reaping, and a set of children reaped on drop;
//! - `signals`: signals read from a signalfd inside the epoll loop;
//! - `table`: plain aligned text tables (the probe's and listen-watch's text output).
//!
//! Binary logic: [`probe`] (epoll-socket-test), [`forker`] (epoll-listen-fork) and
//! [`watch`] (listen-watch).
//! The binaries and the tests need nothing from the building blocks directly: `forker`,
//! `probe` and `watch` are their whole interface.

mod diag;
mod events;
pub mod forker;
mod netstat;
mod poller;
pub mod probe;
mod process;
mod queue;
mod signals;
mod socket;
mod table;
pub mod watch;
