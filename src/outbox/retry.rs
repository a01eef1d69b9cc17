//! The retry schedule: data, not code paths. Exponential backoff with jitter, `Retry-After`
//! honoured, a give-up window after which the item goes to the dead letters.

use crate::config::RetryConfig;
use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    config: RetryConfig,
}

impl RetryPolicy {
    pub(crate) fn new(config: RetryConfig) -> Self {
        RetryPolicy { config }
    }

    /// The delay before attempt `failures + 1`, without jitter: `initial · multiplier^(failures-1)`,
    /// capped at `max`.
    pub(crate) fn base_delay(&self, failures: u32) -> Duration {
        let c = &self.config;
        let exp = c.multiplier.powi(failures.saturating_sub(1).min(64) as i32);
        let secs = (c.initial.as_secs_f64() * exp).min(c.max.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    /// When to try again after the `failures`-th failure, or `None` to give up.
    /// `retry_after` (from the far side) replaces the computed backoff.
    pub(crate) fn next_delay(
        &self,
        failures: u32,
        failing_for: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let delay = match retry_after {
            Some(d) => d,
            None => {
                let base = self.base_delay(failures).as_secs_f64();
                let j = self.config.jitter;
                let factor = if j > 0.0 {
                    rand::rng().random_range(1.0 - j..=1.0 + j)
                } else {
                    1.0
                };
                Duration::from_secs_f64(base * factor)
            }
        };
        if failing_for + delay > self.config.give_up_after {
            return None;
        }
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(RetryConfig::default())
    }

    #[test]
    fn default_schedule_doubles_from_one_second_to_sixty() {
        let p = policy();
        let secs: Vec<u64> = (1..=8).map(|n| p.base_delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let p = policy();
        for _ in 0..1000 {
            let d = p.next_delay(3, Duration::ZERO, None).unwrap().as_secs_f64();
            assert!((3.2..=4.8).contains(&d), "{d}");
        }
    }

    #[test]
    fn retry_after_wins_and_the_window_ends_it() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            p.next_delay(50, Duration::from_secs(24 * 3600 - 10), None),
            None
        );
    }
}
