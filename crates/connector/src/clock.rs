//! The run's one clock: the monotonic instant the run started at, paired with the wall
//! clock read at that moment, so that the interval lines (`t_ms`, `ts`), the `--hlog`
//! timestamps and the `--connections-log` start times all come from one reading and agree
//! with each other even if the wall clock is stepped during the run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// When the run started, on both clocks.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    /// The run's start on the monotonic clock (the schedule's zero).
    pub start: Instant,
    /// The wall clock at `start`.
    pub unix: SystemTime,
}

impl RunClock {
    /// Reads both clocks now.
    pub fn now() -> Self {
        Self {
            start: Instant::now(),
            unix: SystemTime::now(),
        }
    }

    /// The wall-clock time of `at`, as a duration since the Unix epoch.
    pub fn unix_of(&self, at: Instant) -> Duration {
        let base = self.unix.duration_since(UNIX_EPOCH).unwrap_or_default();
        base + at.saturating_duration_since(self.start)
    }

    /// The wall-clock time of `at` in whole milliseconds since the Unix epoch.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        u64::try_from(self.unix_of(at).as_millis()).unwrap_or(u64::MAX)
    }

    /// Milliseconds from the start to `at`, to the microsecond.
    pub fn since_start_ms(&self, at: Instant) -> f64 {
        round_ms(at.saturating_duration_since(self.start))
    }
}

/// A duration in milliseconds rounded to the microsecond (`1000.234`).
pub fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_clocks_move_together() {
        let clock = RunClock::now();
        let later = clock.start + Duration::from_millis(1500);
        assert_eq!(
            clock.unix_of(later) - clock.unix_of(clock.start),
            Duration::from_millis(1500)
        );
        assert_eq!(clock.since_start_ms(later), 1500.0);
        assert_eq!(
            clock.since_start_ms(clock.start - Duration::from_secs(1)),
            0.0
        );
        assert_eq!(round_ms(Duration::from_nanos(1_234_567)), 1.235);
    }
}
