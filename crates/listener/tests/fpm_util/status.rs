//! PHP-FPM's status page (`pm.status_path`, `?json`), fetched over FastCGI, as a typed
//! struct. The field names are PHP-FPM 8.2's own (`fpm_status.c`), spaces included; unknown
//! fields are an error, so a PHP-FPM that reports something new shows.

use serde::Deserialize;

/// The pool summary of `/status?json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// The pool name.
    pub pool: String,
    /// `static`, `dynamic` or `ondemand`.
    #[serde(rename = "process manager")]
    pub process_manager: String,
    /// When the master started (Unix seconds).
    #[serde(rename = "start time")]
    pub start_time_s: u64,
    /// Seconds since then.
    #[serde(rename = "start since")]
    pub start_since_s: u64,
    /// Requests accepted by the pool's children, this status request included.
    #[serde(rename = "accepted conn")]
    pub accepted_conn: u64,
    /// Connections waiting in the accept queue now.
    #[serde(rename = "listen queue")]
    pub listen_queue: u64,
    /// The most that have waited at once.
    #[serde(rename = "max listen queue")]
    pub max_listen_queue: u64,
    /// The accept queue's size (the applied backlog).
    #[serde(rename = "listen queue len")]
    pub listen_queue_len: u64,
    /// Children waiting for a request.
    #[serde(rename = "idle processes")]
    pub idle_processes: u64,
    /// Children serving one (this status request included).
    #[serde(rename = "active processes")]
    pub active_processes: u64,
    /// All children.
    #[serde(rename = "total processes")]
    pub total_processes: u64,
    /// The most active at once.
    #[serde(rename = "max active processes")]
    pub max_active_processes: u64,
    /// How many times the pool hit `pm.max_children`.
    #[serde(rename = "max children reached")]
    pub max_children_reached: u64,
    /// Requests slower than `request_slowlog_timeout`.
    #[serde(rename = "slow requests")]
    pub slow_requests: u64,
}
