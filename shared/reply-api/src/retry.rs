//! When to try a call again, and how long to wait first.
//!
//! Reply answers 429 when an account goes over its rate (some endpoints allow one call per
//! 10 s) and, like any service, sometimes 5xx. A 429 means the call was not processed, so
//! every call is retried after one; a 5xx or a broken connection leaves it unknown whether the
//! call took effect, so only calls that are harmless to repeat are retried after those
//! ([`crate::Operation::is_idempotent`]).

use std::time::Duration;

/// How many attempts, and the waits between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// The first back-off; each further one doubles, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one ends the call with its error (another
    /// attempt sooner would only be refused again and spend a call of the budget).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(16),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt after `failed` attempts, or `None` to give up.
    /// `retry_after` is Reply's `Retry-After`; otherwise exponential back-off, `jitter` (in
    /// [0, 1)) spreading it over its upper half so that parallel clients do not retry in step.
    pub fn delay(
        &self,
        failed: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if failed >= self.attempts {
            return None;
        }
        if let Some(wait) = retry_after {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        let exponent = failed.saturating_sub(1).min(16);
        let full = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        Some(full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
    }
}

/// A `Retry-After` in delta-seconds. An HTTP-date is not read: the back-off applies instead.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A number in [0, 1) that differs from call to call, without a random-number crate: the
/// standard library seeds each `RandomState` afresh.
pub(crate) fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        attempts: 4,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(300),
        max_retry_after: Duration::from_secs(10),
    };

    #[test]
    fn backs_off_exponentially_up_to_the_cap_then_gives_up() {
        let top = |failed| POLICY.delay(failed, None, 1.0);
        assert_eq!(top(1), Some(Duration::from_millis(100)));
        assert_eq!(top(2), Some(Duration::from_millis(200)));
        assert_eq!(top(3), Some(Duration::from_millis(300)));
        assert_eq!(top(4), None, "four attempts in all");
        assert_eq!(
            POLICY.delay(1, None, 0.0),
            Some(Duration::from_millis(50)),
            "jitter spreads over the upper half"
        );
    }

    #[test]
    fn honours_retry_after_unless_it_is_too_long() {
        assert_eq!(
            POLICY.delay(1, Some(Duration::from_secs(10)), 0.3),
            Some(Duration::from_secs(10))
        );
        assert_eq!(POLICY.delay(1, Some(Duration::from_secs(11)), 0.3), None);
        assert_eq!(POLICY.delay(4, Some(Duration::ZERO), 0.3), None);
        assert_eq!(parse_retry_after(" 10 "), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
