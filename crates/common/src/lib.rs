//! `listenlab-common`: what the listener and the connector must agree on. No I/O, but
//! for the usage-error exit in [`cli`], the rlimit raise in [`limits`] and the one name
//! lookup in [`addr`].
//!
//! - [`cli`]: one-line usage errors (exit 2) and broken-pipe detection for the binaries.
//! - [`addr`]: the unix and inet addresses users type (`--unix PATH`, `--inet HOST:PORT`).
//! - [`duration`]: durations users type (`250ms`, `2s`, `1m`, or a bare number of seconds).
//! - [`number`]: whole numbers users type (`--count 500`), one clap parser for all flags.
//! - [`limits`]: the one open-file headroom rule (raise soft to hard, refuse what won't fit).
//! - [`report`]: the serde report types each binary prints.
//! - [`plot`]: the `--plot FILE.svg` pictures (plotters' SVG backend) and their path check.
//! - `testing` (feature `testing`): bounded waits and line readers for integration tests.

pub mod addr;
pub mod cli;
pub mod duration;
pub mod interval;
pub mod limits;
pub mod number;
pub mod outpath;
pub mod plot;
pub mod report;
#[cfg(feature = "testing")]
pub mod testing;

pub use addr::{AddrError, Endpoint, HostPort, Pick, ResolveError, UnixPath, file_kind};
pub use duration::{DurationError, parse_duration};
pub use number::{NumberError, whole_number};
pub use report::{Format, Listening};
