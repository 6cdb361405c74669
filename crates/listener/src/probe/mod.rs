//! `epoll-socket-test`: how epoll reports pending connections on a listening socket,
//! observed live on the running kernel (issue 3).
//!
//! [`run()`] takes a validated [`Config`] (from [`Cli::into_config`]) and returns a
//! [`ProbeReport`]; [`text()`] renders it as tables, JSON is the report serialised. The
//! modules are private; this facade exports what the binary uses:
//! - `single`: one waiter, every trigger mode, the steps of [`Step`], with the
//!   strict-edge prediction beside each count;
//! - `scenarios`: the several-waiters scenarios, one file each, joined by the exhaustive
//!   [`Scenario`] enum (own and shared epoll, accept loops, blocking `accept()`,
//!   SO_REUSEPORT);
//! - `overflow`: more connects than the backlog allows;
//! - `harness`: what they share (who connects, forked waiters, line pipes, bounded waits
//!   for kernel state, [`Interrupt`]);
//! - `text`: the text output (tables, verdicts, what they mean);
//! - `report` (the typed report), `run`, `config`, `cli`, `limits` (open-file headroom)
//!   and `error` ([`ProbeError`]).

// Private modules would hide nothing if dead code went unnoticed.
#![deny(dead_code)]

mod cli;
mod config;
mod error;
mod harness;
mod limits;
mod overflow;
mod report;
mod run;
mod scenarios;
mod single;
mod text;

pub use cli::Cli;
pub use config::{Config, Expect, Part};
pub use error::ProbeError;
pub use harness::interrupt::Interrupt;
pub use report::{
    ConnectFrom, ConnectResult, ConnectState, ExtraConnect, Flags, Mode, OverflowRecord,
    ProbeReport, SingleWaiterRecord, TimedEvent, WaitersRecord,
};
pub use run::run;
pub use scenarios::Scenario;
pub use single::Step;
pub use text::render::text;
pub use text::verdict::differing_triggers;
