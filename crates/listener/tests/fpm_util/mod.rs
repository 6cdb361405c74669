//! Real PHP-FPM for the tests: the launcher both crates share
//! (`listenlab_common::testing::fpm`: binary, config, readiness, stop) with what only the
//! listener's tests read: talk to it over FastCGI ([`fastcgi`]), read what it did from its
//! debug log ([`log`]) and status page ([`status`]). The reference that
//! `epoll-listen-fork`'s PHP-FPM models are compared against (issue 8).

#![allow(dead_code)] // each test file uses a different subset

pub mod fastcgi;
pub mod log;
pub mod status;

use std::ops::Deref;
use std::time::Duration;

use listenlab_common::testing::fpm;
#[allow(unused_imports)] // each test file uses a different subset
pub use listenlab_common::testing::fpm::{POOL, Pool};

/// A running PHP-FPM master (the shared launcher), with the listener tests' readers.
pub struct Fpm(fpm::Fpm);

impl Deref for Fpm {
    type Target = fpm::Fpm;
    fn deref(&self) -> &fpm::Fpm {
        &self.0
    }
}

impl Fpm {
    /// Starts PHP-FPM with `pool` and waits (bounded) for it to be ready; `None` (the
    /// skip line printed) where PHP-FPM is not installed.
    pub fn start(pool: &Pool) -> Option<Fpm> {
        fpm::Fpm::start(pool).map(Fpm)
    }

    /// The log so far, parsed.
    pub fn log(&self) -> Vec<log::Line> {
        log::parse(&self.log_text())
    }

    /// Polls the log (bounded) until a line satisfies `pred`; returns the log up to and
    /// including it.
    pub fn wait_log(&self, what: &str, pred: impl Fn(&log::What) -> bool) -> Vec<log::Line> {
        self.0.wait_log(what, |text| {
            let lines = log::parse(text);
            let i = lines.iter().position(|l| pred(&l.what))?;
            Some(lines[..=i].to_vec())
        })
    }

    /// A request for the script, sleeping `sleep`.
    pub fn sleep_request(&self, sleep: Duration) -> fastcgi::Request {
        fastcgi::Request {
            script_filename: self.script.display().to_string(),
            script_name: "/sleep.php".into(),
            query: format!("us={}", sleep.as_micros()),
        }
    }

    /// Fetches `/status?json` (it takes a child like any request).
    pub fn status(&self) -> status::Status {
        let request = fastcgi::Request {
            script_filename: "/status".into(),
            script_name: "/status".into(),
            query: "json".into(),
        };
        let response = fastcgi::get(&self.socket, &request).expect("status request");
        serde_json::from_str(response.body())
            .unwrap_or_else(|e| panic!("status page ({e}): {}", response.body()))
    }

    /// Stops PHP-FPM as dropping it does and returns the pids, from every `child N
    /// started` line, of children still alive afterwards (none, unless something is
    /// wrong).
    pub fn stop(mut self) -> Vec<i32> {
        let started = log::started(&self.log());
        self.0.shut_down();
        started.into_iter().filter(|&pid| alive(pid)).collect()
    }
}

/// True while a PHP-FPM process `pid` exists (zombie or not). A reused pid running
/// something else counts as gone.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.starts_with("php-fpm"))
}
