//! `listenlab-connector`: the library behind `socket-connect`, which opens N unix or TCP
//! connections to a listening socket, holds them, and reports connect latency (HDR
//! histogram, microseconds), failures by kind and peer closes.
//!
//! The pipeline: `cli` validates flags into a [`Config`]; `app` runs it:
//! `dialers` starts the dial tasks (`dial` opens one connection), which send outcomes
//! to the one collector (`collect`); `watch` counts peer closes of the held connections;
//! `hold` waits to be released; `output` prints the `report` (with its `latency`
//! summary, whose histogram `hdr_encoding` carries). `merge` adds reports up. `limits` and `source` handle the machine's open-file and local-port
//! limits.
//!
//! The modules are private: what `main` needs is re-exported below, so anything else
//! unused is dead code, and the compiler says so.

#![deny(dead_code)]

mod app;
mod cli;
mod collect;
mod config;
mod dial;
mod dialers;
mod exchange;
mod hdr_encoding;
mod hold;
mod latency;
mod limits;
mod merge;
mod output;
mod report;
mod request;
mod responses;
mod rx_time;
mod source;
mod watch;

pub use app::run_blocking;
pub use cli::{Action, Cli};
pub use config::Config;
