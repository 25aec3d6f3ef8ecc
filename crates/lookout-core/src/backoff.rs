//! How long to wait before trying again something that may fail for a while: a locked
//! database, a receiver answering 503. Exponential, capped and deterministic, without
//! jitter: lookout retries few things against few destinations, so there is no herd to
//! spread out, and a fixed schedule is one that tests and operators can predict.

use std::time::Duration;

/// After failed attempt n (1 = the first) wait `base * 2^(n-1)`, at most `cap`; after
/// `max_attempts` attempts in all, stop (`None`: never stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
    /// Attempts in all, the first included; `None` retries for as long as it takes.
    pub max_attempts: Option<u32>,
}

impl Backoff {
    /// The wait after `failed` failed attempts, or `None` when no attempt is left.
    pub fn delay(&self, failed: u32) -> Option<Duration> {
        if failed == 0 || self.max_attempts.is_some_and(|max| failed >= max) {
            return None;
        }
        let factor = 1u32.checked_shl(failed - 1).unwrap_or(u32::MAX);
        Some(self.base.saturating_mul(factor).min(self.cap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_up_to_the_cap_and_stops_after_the_last_attempt() {
        let b = Backoff {
            base: 50 * MS,
            cap: 300 * MS,
            max_attempts: Some(6),
        };
        let waits: Vec<Option<Duration>> = (0..=6).map(|n| b.delay(n)).collect();
        assert_eq!(
            waits,
            [
                None,
                Some(50 * MS),
                Some(100 * MS),
                Some(200 * MS),
                Some(300 * MS),
                Some(300 * MS),
                None
            ]
        );
    }

    #[test]
    fn without_a_limit_it_never_stops_and_never_overflows() {
        let b = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            max_attempts: None,
        };
        assert_eq!(b.delay(1), Some(Duration::from_secs(1)));
        assert_eq!(b.delay(40), Some(Duration::from_secs(30)));
        assert_eq!(b.delay(u32::MAX), Some(Duration::from_secs(30)));
    }
}
