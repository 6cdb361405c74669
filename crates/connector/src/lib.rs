//! `listenlab-connector`: the library behind `socket-connect`, which opens N unix or TCP
//! connections to a listening socket, holds them, and reports connect latency (HDR
//! histogram, microseconds), failures by kind and peer closes.
//!
//! The pipeline: `cli` validates flags into a [`Config`]; `app` runs it:
//! `dialers` starts the dial tasks (`dial` opens one connection), which send outcomes
//! to the one collector (`collect`); `watch` counts peer closes of the held connections;
//! `hold` waits to be released; `output` prints the `report` (with its `latency`
//! summary, whose histogram `hdr_encoding` carries) and `hgrm` writes the `--hgrm` file;
//! `merge` adds reports up; `plot` draws the `--plot` picture. `limits` and `source` handle the machine's open-file and local-port
//! limits.
//!
//! Sustained runs and live figures (issue 7): `ending` is the end of a `--duration` run
//! (or a signal) that the dial tasks and the collector watch; `intervals` is the
//! collector's per-interval figures on the run's one timer (`clock`), printed as
//! [`IntervalSummary`] lines (`interval`), as a text table (`interval_text`, whose rows a
//! long run rolls up: `rollup`) and as
//! HdrHistogram's interval log (`hlog`); `connlog` writes one line per connection.
//! The output paths are checked before the run by `listenlab_common::outpath`.
//!
//! The modules are private: what `main` needs is re-exported below, so anything else
//! unused is dead code, and the compiler says so.

#![deny(dead_code)]

mod app;
mod cli;
mod clock;
mod collect;
mod config;
mod connlog;
mod dial;
mod dialers;
mod ending;
mod exchange;
mod hdr_encoding;
mod hgrm;
mod hlog;
mod hold;
mod interval;
mod interval_text;
mod intervals;
mod latency;
mod limits;
mod merge;
mod output;
mod plot;
mod report;
mod request;
mod responses;
mod rollup;
mod rx_time;
mod source;
mod watch;

pub use app::run_blocking;
pub use cli::{Action, Cli};
pub use config::Config;
pub use interval::{IntervalEvent, IntervalLatency, IntervalSummary};
pub use report::{ErrorKind, ExchangeFailure};
