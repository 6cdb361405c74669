//! `--connections-log FILE`: one JSON line per connection, to line up with a server's
//! own log. Written as the run goes through a `BufWriter` the collector owns (memory stays
//! bounded whatever the run's length), flushed at the end:
//!
//! ```json
//! {"start_unix_ms":1764680000123.456,"outcome":"ok","error":null,"connect_us":21,"first_byte_us":1800,"complete_us":2100,"lag_us":0,"bytes":52}
//! ```
//!
//! A line is written when the connection's story ends: its connect failed, its exchange
//! ended (or there was none), or the end of the run cut its exchange. Connects that the
//! end of the run cut while still connecting have no line (they are in the report's
//! `unfinished`, not in `attempted`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::clock::{RunClock, round_ms};
use crate::exchange::Exchanged;
use crate::report::{ErrorKind, ExchangeFailure};

/// How one connection ended, as its line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Connected, and its exchange (if any) completed.
    Ok,
    /// The connect failed; `error` is an `errors` kind of the report.
    Failed,
    /// Connected, but the exchange failed; `error` is an `exchange_errors` kind.
    ExchangeFailed,
    /// Connected, but the end of the run (`--duration`, SIGINT/SIGTERM) cut its exchange.
    Unfinished,
}

/// Why it failed: a connect kind or an exchange kind, by its report name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Why {
    /// A failed connect.
    Connect(ErrorKind),
    /// A failed exchange.
    Exchange(ExchangeFailure),
}

/// One line of the log.
#[derive(Debug, Serialize)]
struct Line {
    /// The connect's start (its scheduled start under `--rate`), ms since the Unix
    /// epoch, to the µs.
    start_unix_ms: f64,
    outcome: Outcome,
    /// Why it failed; `null` unless `outcome` is `failed` or `exchange_failed`.
    error: Option<Why>,
    /// From the start to the connect completing (µs); `null` for a failed connect.
    connect_us: Option<u64>,
    /// From the start to the first byte of the answer (µs); `null` when none came.
    first_byte_us: Option<u64>,
    /// From the start to the peer's close after its answer (`--read close`, µs).
    complete_us: Option<u64>,
    /// How late the connect started after its scheduled start (µs; 0 without `--rate`).
    lag_us: u64,
    /// Bytes read from the connection.
    bytes: u64,
}

/// A failure writing the log, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("writing the --connections-log file '{}'", path.display())]
pub struct ConnLogError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// The log being written.
#[derive(Debug)]
pub struct ConnLog {
    out: BufWriter<File>,
    path: PathBuf,
    clock: RunClock,
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl ConnLog {
    /// Writes to `file`, created at `path` before the run that started at `clock`.
    pub fn new(file: File, path: PathBuf, clock: RunClock) -> Self {
        Self {
            out: BufWriter::new(file),
            path,
            clock,
        }
    }

    /// A connect, started at `started` (`lag` late), that failed.
    pub fn failed(
        &mut self,
        started: Instant,
        lag: Duration,
        kind: ErrorKind,
    ) -> Result<(), ConnLogError> {
        let start = self.clock.unix_of(started);
        self.write(&Line {
            start_unix_ms: round_ms(start),
            outcome: Outcome::Failed,
            error: Some(Why::Connect(kind)),
            connect_us: None,
            first_byte_us: None,
            complete_us: None,
            lag_us: us(lag),
            bytes: 0,
        })
    }

    /// A connection whose exchange ended (or was `cut` by the end of the run).
    pub fn exchanged(&mut self, ex: &Exchanged, cut: bool) -> Result<(), ConnLogError> {
        let outcome = match (cut, ex.failure) {
            (true, _) => Outcome::Unfinished,
            (false, Some(_)) => Outcome::ExchangeFailed,
            (false, None) => Outcome::Ok,
        };
        let start = self.clock.unix_of(ex.dialed.started);
        self.write(&Line {
            start_unix_ms: round_ms(start),
            outcome,
            error: ex.failure.map(Why::Exchange),
            connect_us: Some(us(ex.dialed.connect)),
            first_byte_us: ex.first_byte.map(us),
            complete_us: ex.complete.map(us),
            lag_us: us(ex.dialed.lag),
            bytes: ex.bytes,
        })
    }

    fn write(&mut self, line: &Line) -> Result<(), ConnLogError> {
        serde_json::to_writer(&mut self.out, line)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|source| self.error(source))
    }

    /// Flushes the log at the end of the run.
    pub fn finish(mut self) -> Result<(), ConnLogError> {
        self.out.flush().map_err(|source| self.error(source))
    }

    fn error(&self, source: io::Error) -> ConnLogError {
        ConnLogError {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Dialed;

    #[test]
    fn one_line_per_connection_in_the_documented_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let clock = RunClock::now();
        let mut log = ConnLog::new(File::create(&path).unwrap(), path.clone(), clock);
        let dialed = Dialed {
            started: clock.start,
            connect: Duration::from_micros(21),
            lag: Duration::ZERO,
        };
        let mut ex = Exchanged::failed(ExchangeFailure::NoResponse, dialed);
        log.exchanged(&ex, false).unwrap();
        ex.failure = None;
        ex.first_byte = Some(Duration::from_micros(1800));
        ex.bytes = 52;
        log.exchanged(&ex, true).unwrap();
        log.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["outcome"], "exchange_failed");
        assert_eq!(lines[0]["error"], "no_response");
        assert_eq!(lines[0]["connect_us"], 21);
        assert_eq!(lines[1]["outcome"], "unfinished");
        assert_eq!(lines[1]["first_byte_us"], 1800);
        assert_eq!(lines[1]["complete_us"], serde_json::Value::Null);
        let start = lines[1]["start_unix_ms"].as_f64().unwrap();
        assert!((start - clock.unix_of(clock.start).as_secs_f64() * 1e3).abs() < 0.01);
    }
}
