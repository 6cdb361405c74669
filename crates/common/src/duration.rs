//! Parses the durations users type on the command line.
//!
//! Accepted forms are humantime's (`250ms`, `2s`, `1m`, `1h 30m`) plus a bare number, which
//! means seconds (`--sleep 1`), as the original C tools took whole seconds.

use std::time::Duration;

/// The longest duration accepted: a year. Longer values are surely typos, and deadlines
/// computed as `Instant::now() + d` must not overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A duration the user typed that we could not use.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// Not a duration at all.
    #[error(
        "not a duration; expected a number with a unit such as 250ms, 2s or 1m, or a bare number of seconds"
    )]
    Unreadable,
    /// Longer than [`MAX_DURATION`].
    #[error("longer than a year, the longest duration accepted; use e.g. 30s, 10m or 2h")]
    TooLong,
}

/// Parses `250ms`, `2s`, `1m`, `0`, or a bare number of seconds (`1`, `0.5`).
///
/// Usable directly as a clap `value_parser`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Unreadable);
    }
    let parsed = if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = text.parse().map_err(|_| DurationError::Unreadable)?;
        // Too large for a Duration at all is too long, not unreadable.
        Duration::try_from_secs_f64(secs).map_err(|_| DurationError::TooLong)?
    } else {
        humantime::parse_duration(text).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => DurationError::TooLong,
            _ => DurationError::Unreadable,
        })?
    };
    if parsed > MAX_DURATION {
        return Err(DurationError::TooLong);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_units_and_bare_seconds() {
        let table = [
            ("250ms", Duration::from_millis(250)),
            ("2s", Duration::from_secs(2)),
            ("1m", Duration::from_secs(60)),
            ("1", Duration::from_secs(1)),
            ("0", Duration::ZERO),
            ("0.5", Duration::from_millis(500)),
            ("100us", Duration::from_micros(100)),
        ];
        for (text, want) in table {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_durations_longer_than_a_year() {
        assert_eq!(parse_duration("365days"), Ok(MAX_DURATION));
        for text in [
            "366days",
            "10000000000000000000s",
            "99999999999999999999",
            "400d",
        ] {
            assert_eq!(
                parse_duration(text),
                Err(DurationError::TooLong),
                "{text:?}"
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        for text in ["", "abc", "2x", "-1", "1..2", "ms"] {
            assert_eq!(
                parse_duration(text),
                Err(DurationError::Unreadable),
                "{text:?}"
            );
        }
    }
}
