//! The restart throttle: when children keep dying (e.g. every accept fails with `EMFILE`),
//! forking their replacements as fast as they die is a fork storm (thousands per second)
//! that serves nobody. Like PHP-FPM's `emergency_restart_threshold` /
//! `emergency_restart_interval` (php-src `fpm_children.c`, `fpm_children_bury`), if more
//! than [`RESTART_THRESHOLD`] children ended as `died` within [`RESTART_INTERVAL`], the pool
//! stops forking for [`RESTART_BACKOFF`]. PHP-FPM restarts the whole master at that point;
//! a simulator that must keep its counts backs off instead.
//!
//! Only `died` children count: exits the run caused (completed, empty, idle timeout, the
//! stop) are normal, however many there are.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// More than this many `died` children within [`RESTART_INTERVAL`] throttles forking.
pub const RESTART_THRESHOLD: usize = 10;
/// The window in which `died` children are counted.
pub const RESTART_INTERVAL: Duration = Duration::from_secs(1);
/// How long forking stays throttled.
pub const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// A burst of deaths that started a throttle, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// Children that died within the window.
    pub died: u64,
    /// The window.
    pub within: Duration,
    /// How long forking stays off.
    pub backoff: Duration,
    /// No fork until this instant.
    pub until: Instant,
}

/// Recent deaths and the current back-off, if any.
#[derive(Debug, Default)]
pub struct RestartThrottle {
    died_at: VecDeque<Instant>,
    until: Option<Instant>,
}

impl RestartThrottle {
    /// A throttle that has seen no death.
    pub fn new() -> Self {
        Self::default()
    }

    /// A child ended as `died` at `now`. Returns the burst when this death starts a
    /// back-off (more than [`RESTART_THRESHOLD`] within [`RESTART_INTERVAL`]).
    pub fn died(&mut self, now: Instant) -> Option<Burst> {
        self.died_at.push_back(now);
        while self
            .died_at
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > RESTART_INTERVAL)
        {
            self.died_at.pop_front();
        }
        if self.died_at.len() <= RESTART_THRESHOLD || self.blocked_until(now).is_some() {
            return None;
        }
        let burst = Burst {
            died: self.died_at.len() as u64,
            within: RESTART_INTERVAL,
            backoff: RESTART_BACKOFF,
            until: now + RESTART_BACKOFF,
        };
        self.died_at.clear();
        self.until = Some(burst.until);
        Some(burst)
    }

    /// When forking resumes, if it is throttled at `now`.
    pub fn blocked_until(&self, now: Instant) -> Option<Instant> {
        self.until.filter(|until| now < *until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_deaths_throttles_forking_for_the_backoff() {
        let t0 = Instant::now();
        let mut throttle = RestartThrottle::new();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        for n in 0..RESTART_THRESHOLD as u64 {
            assert_eq!(throttle.died(ms(n)), None);
        }
        assert_eq!(throttle.blocked_until(ms(20)), None);
        let burst = throttle
            .died(ms(20))
            .expect("the 11th death within 1 s throttles");
        assert_eq!(burst.died, RESTART_THRESHOLD as u64 + 1);
        assert_eq!(burst.until, ms(20) + RESTART_BACKOFF);
        assert_eq!(throttle.blocked_until(ms(500)), Some(burst.until));
        // Deaths during the back-off start no second burst.
        for n in 0..20 {
            assert_eq!(throttle.died(ms(600 + n)), None);
        }
        assert_eq!(throttle.blocked_until(ms(1020)), None);
    }

    #[test]
    fn deaths_spread_wider_than_the_interval_never_throttle() {
        let t0 = Instant::now();
        let mut throttle = RestartThrottle::new();
        for n in 0..100u64 {
            // One death every 200 ms: at most 6 in any 1 s window.
            let now = t0 + Duration::from_millis(200 * n);
            assert_eq!(throttle.died(now), None, "death {n}");
            assert_eq!(throttle.blocked_until(now), None);
        }
    }
}
