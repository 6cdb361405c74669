//! Report types the binaries print and the tests parse: serde structs, one module per
//! binary, plus what they all share (the output format and the readiness line).
//!
//! Every numeric field carries its unit in its name (`elapsed_ms`, `p99_us`) or in the
//! name of the object that holds it (`connect_latency_us`). Field names are stable.

pub mod probe;

use serde::{Deserialize, Serialize};

/// How a binary renders its report: `--format text|json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned, human-readable table.
    #[default]
    Text,
    /// Machine-readable JSON: one object (or JSON lines for event streams), newline-ended.
    Json,
}

/// The readiness line a listener prints and flushes on stdout once it is bound and
/// listening, before anything else: `{"event":"listening","addr":"127.0.0.1:40123"}`.
/// Tests and scripts wait for it instead of sleeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename = "listening")]
pub struct Listening {
    /// The bound address: `ip:port` (IPv6 in brackets) or the unix socket path.
    pub addr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_has_the_agreed_shape() {
        let line = serde_json::to_string(&Listening {
            addr: "127.0.0.1:1".into(),
        })
        .unwrap();
        assert_eq!(line, r#"{"event":"listening","addr":"127.0.0.1:1"}"#);
        let back: Listening = serde_json::from_str(&line).unwrap();
        assert_eq!(back.addr, "127.0.0.1:1");
    }
}
