//! The machinery every part of the probe shares, and no part owns:
//! - [`client`]: who connects (`--connect-from`) and non-blocking connects;
//! - [`crew`]: forked waiters reporting over one pipe, confirmed asleep before a connect;
//! - [`waiter`]: what a waiter does (its listener, its epoll, one bounded wait);
//! - [`ipc`]: line pipes to helpers, every read bounded;
//! - [`settle`]: bounded waits for kernel state that has no notification;
//! - [`interrupt`]: SIGINT/SIGTERM/SIGHUP via signalfd, checked inside every wait;
//! - [`progress`]: one stderr line as each scenario starts.

pub mod client;
pub mod crew;
pub mod interrupt;
pub mod ipc;
pub mod progress;
pub mod settle;
pub mod waiter;
