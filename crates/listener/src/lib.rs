//! `listenlab-listener`: synchronous, nix-based listeners for the `epoll-socket-test` probe
//! and the `epoll-listen-fork` simulator.
//!
//! Shared building blocks:
//! - [`socket`]: bind unix/TCP listeners safely (stale sockets, never deleting other files);
//! - [`poller`]: epoll with the trigger modes we study and an EINTR-safe wait;
//! - [`events`]: epoll flags decoded by name;
//! - [`queue`]: a listener's accept-queue length (TCP_INFO, sock_diag);
//! - [`netstat`]: `ListenOverflows` / `ListenDrops` from `/proc/net/netstat`;
//! - [`process`]: fork with `_exit`, reaping, and a set of children reaped on drop;
//! - [`signals`]: signals read from a signalfd inside the epoll loop;
//! - [`diag`]: sock_diag netlink (queues of any TCP or unix listener on the machine).
//!
//! Binary logic: [`probe`] (epoll-socket-test), [`forker`] (epoll-listen-fork) and
//! [`watch`] (listen-watch).

pub mod diag;
pub mod events;
pub mod forker;
pub mod netstat;
pub mod poller;
pub mod probe;
pub mod process;
pub mod queue;
pub mod signals;
pub mod socket;
pub mod watch;
