//! PHP-FPM's error log, as `log_level = debug` writes it, parsed into what the process
//! manager did: each fork, each exit, the readiness line, the max-children and seems-busy
//! warnings and the once-a-second maintenance tick. Message texts are those of php-src 8.2
//! (`fpm_children.c`, `fpm_process_ctl.c`, `fpm_events.c`), checked against the installed
//! PHP-FPM by the tests in `fpm_real.rs`.
//!
//! A line is `[02-Dec-2026 06:14:37.536808] DEBUG: pid 14915, fpm_children_make(), line
//! 468: [pool t] child 14968 started`: at debug level zlog adds the pid, function and line
//! before the message.

use std::time::Duration;

/// What one log line says, as far as the tests care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// `ready to handle connections`: the master entered its event loop.
    Ready,
    /// `child N started`: a fork.
    Started {
        /// The child's pid.
        pid: i32,
    },
    /// `child N exited with code C` / `exited on signal S`: an exit the master replaces.
    Exited {
        /// The child's pid.
        pid: i32,
        /// `with code 0`, `on signal 9 (SIGKILL)`, as logged.
        how: String,
    },
    /// `child N has been killed by the process management`: an idle kill, not replaced.
    KilledByPm {
        /// The child's pid.
        pid: i32,
    },
    /// `server reached [pm.]max_children setting (N), consider raising it`.
    MaxChildren {
        /// The setting, as logged.
        max_children: u32,
    },
    /// `seems busy (...), spawning R children, there are I idle, and T total children`.
    SeemsBusy {
        /// Children about to be forked.
        spawning: u32,
        /// Idle children.
        idle: u32,
        /// All children.
        total: u32,
    },
    /// The maintenance tick: `currently A active children, S spare children[, R running
    /// children. Spawning rate N]` (the bracketed part for `pm = dynamic` only).
    Tick {
        /// Busy children.
        active: u32,
        /// Idle children.
        spare: u32,
    },
    /// Anything else.
    Other,
}

/// One parsed line.
#[derive(Debug, Clone)]
pub struct Line {
    /// The wall-clock time of day from the line's stamp (the log has µs resolution).
    pub at: Duration,
    /// `DEBUG`, `NOTICE`, `WARNING`, ...
    pub level: String,
    /// The message after the pid/function/line prefix.
    pub message: String,
    /// What it says.
    pub what: What,
}

/// Parses the whole log; lines without a `[date time] LEVEL:` stamp (the pre-log
/// `saving original STDERR` line on stderr never reaches the file) are skipped.
pub fn parse(text: &str) -> Vec<Line> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Line> {
    let (stamp, rest) = line.strip_prefix('[')?.split_once("] ")?;
    let (level, message) = rest.split_once(": ")?;
    // Debug level: `pid 14915, fpm_children_make(), line 468: message`.
    let message = match message.strip_prefix("pid ") {
        Some(after) => after.split_once(", line ")?.1.split_once(": ")?.1,
        None => message,
    };
    let message = message.to_owned();
    Some(Line {
        at: time_of_day(stamp)?,
        level: level.to_owned(),
        what: classify(&message),
        message,
    })
}

/// `02-Dec-2026 06:14:37.536808` -> the time of day.
fn time_of_day(stamp: &str) -> Option<Duration> {
    let (_, time) = stamp.split_once(' ')?;
    let mut parts = time.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let (seconds, micros) = parts.next()?.split_once('.')?;
    let seconds: u64 = seconds.parse().ok()?;
    let micros: u64 = micros.parse().ok()?;
    Some(Duration::from_secs((hours * 60 + minutes) * 60 + seconds) + Duration::from_micros(micros))
}

/// The numbers in `text`, in order (`[pool t]` has none, pool names in tests are letters).
fn numbers(text: &str) -> Vec<u32> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn classify(message: &str) -> What {
    let body = message
        .strip_prefix("[pool ")
        .and_then(|m| m.split_once("] "))
        .map_or(message, |(_, body)| body);
    let n = numbers(body);
    if body == "ready to handle connections" {
        What::Ready
    } else if body.starts_with("child ") && body.ends_with(" started") {
        What::Started { pid: n[0] as i32 }
    } else if body.starts_with("child ")
        && body.contains(" has been killed by the process management")
    {
        What::KilledByPm { pid: n[0] as i32 }
    } else if let Some(after) = body.strip_prefix("child ")
        && let Some((_, how)) = after.split_once(" exited ")
    {
        let how = how.split(" after ").next().unwrap_or(how).to_owned();
        What::Exited {
            pid: n[0] as i32,
            how,
        }
    } else if body.starts_with("server reached ") && body.contains("max_children setting (") {
        What::MaxChildren { max_children: n[0] }
    } else if body.starts_with("seems busy ") {
        What::SeemsBusy {
            spawning: n[0],
            idle: n[1],
            total: n[2],
        }
    } else if body.starts_with("currently ") && body.contains(" active children, ") {
        What::Tick {
            active: n[0],
            spare: n[1],
        }
    } else {
        What::Other
    }
}

/// The pids of every `child N started` line.
pub fn started(lines: &[Line]) -> Vec<i32> {
    lines
        .iter()
        .filter_map(|l| match l.what {
            What::Started { pid } => Some(pid),
            _ => None,
        })
        .collect()
}

/// How many lines satisfy `pred`.
pub fn count(lines: &[Line], pred: impl Fn(&What) -> bool) -> usize {
    lines.iter().filter(|l| pred(&l.what)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as PHP-FPM 8.2.36 wrote them here (`log_level = debug`).
    #[test]
    fn reads_the_lines_php_fpm_writes() {
        let log = "\
[02-Dec-2026 06:14:36.971037] NOTICE: pid 14915, fpm_event_loop(), line 388: ready to handle connections
[02-Dec-2026 06:14:37.536808] DEBUG: pid 14915, fpm_children_make(), line 468: [pool t] child 14968 started
[02-Dec-2026 06:14:40.983270] DEBUG: pid 14915, fpm_children_bury(), line 291: [pool t] child 14968 has been killed by the process management after 3.446476 seconds from start
[02-Dec-2026 06:14:15.428126] DEBUG: pid 13019, fpm_pctl_perform_idle_server_maintenance(), line 382: [pool t] currently 0 active children, 2 spare children
";
        let lines = parse(log);
        let whats: Vec<_> = lines.iter().map(|l| l.what.clone()).collect();
        assert_eq!(
            whats,
            [
                What::Ready,
                What::Started { pid: 14968 },
                What::KilledByPm { pid: 14968 },
                What::Tick {
                    active: 0,
                    spare: 2
                },
            ]
        );
        assert_eq!(
            lines[1].at,
            Duration::from_micros((6 * 3600 + 14 * 60 + 37) * 1_000_000 + 536_808)
        );
        assert_eq!(lines[1].level, "DEBUG");
    }
}
