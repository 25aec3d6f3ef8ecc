//! When to try a notification again: lookout's one [`Backoff`], with the receiver's
//! `Retry-After` on top. Each channel is also paced by [`crate::Channel::min_interval`].

use std::time::Duration;

use lookout_core::backoff::Backoff;

use crate::Delivery;

/// The backoff between attempts; a longer `Retry-After` from the receiver wins; after the
/// backoff's last attempt give up, and the caller marks the message failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The waits between attempts, and how many attempts in all.
    pub backoff: Backoff,
    /// Longest `Retry-After` honoured: a receiver asking for more is tried again then.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 10s, 20s, 40s … capped at 10 min, 20 attempts: about 2 h 20 min before giving up.
    fn default() -> Self {
        RetryPolicy {
            backoff: Backoff {
                base: Duration::from_secs(10),
                cap: Duration::from_secs(600),
                max_attempts: Some(20),
            },
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

/// What to do with a message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// It was delivered.
    Done,
    /// Try again after this long.
    RetryIn(Duration),
    /// Stop and mark it failed, for this reason.
    GiveUp(String),
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts, or `None` when none is left.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let backoff = self.backoff.delay(attempts)?;
        let asked = retry_after
            .unwrap_or(Duration::ZERO)
            .min(self.max_retry_after);
        Some(backoff.max(asked))
    }

    /// What to do after attempt number `attempts` (1 = the first) ended in `delivery`.
    pub fn next(&self, attempts: u32, delivery: &Delivery) -> Next {
        match delivery {
            Delivery::Delivered { .. } => Next::Done,
            Delivery::Broken { reason } => {
                Next::GiveUp(format!("the destination is gone: {reason}"))
            }
            Delivery::Rejected { reason } => {
                Next::GiveUp(format!("the receiver refused it: {reason}"))
            }
            Delivery::Retry { after, reason } => match self.delay(attempts, *after) {
                Some(wait) => Next::RetryIn(wait),
                None => Next::GiveUp(format!(
                    "gave up after {attempts} attempts; the last: {reason}"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(after: Option<u64>) -> Delivery {
        Delivery::Retry {
            after: after.map(Duration::from_secs),
            reason: "HTTP 503".into(),
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap() {
        let p = RetryPolicy::default();
        let max_attempts = p.backoff.max_attempts.unwrap();
        let waits: Vec<u64> = (1..max_attempts)
            .map(|n| p.delay(n, None).unwrap().as_secs())
            .collect();
        assert_eq!(&waits[..8], &[10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(waits.len(), 19);
        let total: u64 = waits.iter().sum();
        assert!((2 * 3600..3 * 3600).contains(&total), "{total}s");
        assert_eq!(p.delay(max_attempts, None), None);
        assert_eq!(p.delay(0, None), None);
        let huge = RetryPolicy {
            backoff: Backoff {
                max_attempts: Some(u32::MAX),
                ..p.backoff
            },
            ..p
        };
        assert_eq!(huge.delay(200, None), Some(p.backoff.cap));
    }

    #[test]
    fn a_longer_retry_after_wins() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.next(1, &retry(Some(90))),
            Next::RetryIn(Duration::from_secs(90))
        );
        assert_eq!(
            p.next(3, &retry(Some(5))),
            Next::RetryIn(Duration::from_secs(40))
        );
        assert_eq!(
            p.next(1, &retry(Some(86_400))),
            Next::RetryIn(p.max_retry_after)
        );
    }

    #[test]
    fn only_retry_is_retried() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.next(
                1,
                &Delivery::Delivered {
                    status: Some(200),
                    answer: "ok".into()
                }
            ),
            Next::Done
        );
        assert!(matches!(
            p.next(1, &Delivery::Broken { reason: "HTTP 410".into() }),
            Next::GiveUp(r) if r.contains("410")
        ));
        assert!(matches!(
            p.next(
                1,
                &Delivery::Rejected {
                    reason: "HTTP 400".into()
                }
            ),
            Next::GiveUp(_)
        ));
        assert!(matches!(
            p.next(20, &retry(None)),
            Next::GiveUp(r) if r.contains("20 attempts") && r.contains("503")
        ));
    }
}
