//! Waiting to be released: a line or EOF on stdin, a `--hold` duration, or SIGINT /
//! SIGTERM.
//!
//! stdin is read on a plain `std::thread` that fires a `oneshot`, not with
//! `tokio::io::stdin`, whose blocking read cannot be cancelled and would keep the runtime
//! from shutting down after a signal. The thread is left blocked in `read` if a signal
//! releases first; it dies with the process.

use std::io::{self, BufRead};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::oneshot;

use crate::config::Hold;

/// What ended the hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// A line arrived on stdin, or stdin reached EOF (or failed).
    Stdin,
    /// The `--hold` duration passed.
    Elapsed,
    /// SIGINT or SIGTERM (named).
    Signal(&'static str),
}

/// SIGINT and SIGTERM, caught from the start of the run so that they end it with a report
/// instead of killing the process.
#[derive(Debug)]
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Installs the handlers. Must be called inside the runtime.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for either signal; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Fires once a line (or EOF) arrives on stdin.
fn stdin_line() -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        // Any outcome releases: a line, EOF (Ok(0)) or a read error (stdin closed).
        let _ = io::stdin().lock().read_line(&mut line);
        let _ = tx.send(());
    });
    rx
}

/// Waits until the hold ends.
pub async fn wait(hold: Hold, signals: &mut Signals) -> Release {
    match hold {
        Hold::For(d) if d.is_zero() => Release::Elapsed,
        Hold::For(d) => tokio::select! {
            _ = tokio::time::sleep(d) => Release::Elapsed,
            name = signals.recv() => Release::Signal(name),
        },
        Hold::UntilReleased => {
            let line = stdin_line();
            tokio::select! {
                _ = line => Release::Stdin,
                name = signals.recv() => Release::Signal(name),
            }
        }
    }
}

/// The status line for stderr before holding `open` connections.
pub fn status_line(open: u64, hold: Hold) -> String {
    match hold {
        Hold::UntilReleased => {
            format!("{open} open; press Enter (or close stdin, or Ctrl-C) to release")
        }
        Hold::For(d) => format!("{open} open; holding for {}", humanize(d)),
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn duration_hold_elapses() {
        let mut signals = Signals::new().unwrap();
        let hold = Hold::For(Duration::from_millis(20));
        let started = std::time::Instant::now();
        assert_eq!(wait(hold, &mut signals).await, Release::Elapsed);
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(
            wait(Hold::For(Duration::ZERO), &mut signals).await,
            Release::Elapsed
        );
    }

    #[test]
    fn status_lines_say_how_to_release() {
        assert_eq!(
            status_line(500, Hold::UntilReleased),
            "500 open; press Enter (or close stdin, or Ctrl-C) to release"
        );
        assert_eq!(
            status_line(2, Hold::For(Duration::from_secs(3))),
            "2 open; holding for 3s"
        );
        assert_eq!(
            status_line(2, Hold::For(Duration::from_millis(250))),
            "2 open; holding for 250ms"
        );
    }
}
