//! `listenlab-connector`: the library behind `socket-connect`, which opens N unix or TCP
//! connections to a listening socket, holds them, and reports connect latency (HDR
//! histogram, microseconds), failures by kind and peer closes.
//!
//! The pipeline: [`cli`] validates flags into a [`config::Config`]; [`run`] starts the dial
//! tasks ([`dial`] opens one connection), which send outcomes to the one [`collect`]or;
//! [`watch`] counts peer closes of the held connections; [`hold`] waits to be released;
//! [`output`] prints the report. [`app`] ties them together; [`limits`] and [`source`]
//! handle the machine's open-file and local-port limits.

pub mod app;
pub mod cli;
pub mod collect;
pub mod config;
pub mod dial;
pub mod hold;
pub mod limits;
pub mod output;
pub mod run;
pub mod source;
pub mod watch;

pub use cli::Cli;
pub use config::Config;
