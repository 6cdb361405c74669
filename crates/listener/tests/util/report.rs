//! A strict, test-local mirror of `epoll-listen-fork`'s summary line: every field it has
//! always had, as the JSON words (strings, not the tool's enums), and
//! `deny_unknown_fields`, so a field that moves, appears or changes its words fails the
//! tests. The counts are the tool's own [`ForkCounts`], flattened as in the line, so the
//! tests check the tool's accounting identities rather than a copy of them.

use listenlab_listener::forker::ForkCounts;
use serde::Deserialize;

/// The `{"event":"summary",...}` line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkSummary {
    /// Always `summary` (a tag, kept as a field: serde's `flatten` and
    /// `deny_unknown_fields` do not combine with an internal tag).
    pub event: String,
    pub model: String,
    pub trigger: String,
    pub accept: String,
    pub addr: String,
    pub backlog_requested: u32,
    pub backlog_effective: Option<u32>,
    #[serde(flatten)]
    pub counts: ForkCounts,
    pub max_listen_queue: u64,
    pub pending_at_exit: u64,
    pub listen_overflows_delta: Option<u64>,
    pub listen_drops_delta: Option<u64>,
    pub stop_reason: String,
    pub output_lines_dropped: u64,
    pub elapsed_ms: f64,
}
