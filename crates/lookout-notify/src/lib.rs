//! Delivery of incident notifications. Each destination kind is one module behind the
//! [`Channel`] trait (Slack, Discord, Teams, PagerDuty, signed webhooks, email), chosen by
//! the `kind` of a [`ChannelConfig`]. A channel makes one blocking attempt and says what
//! happened as a [`Delivery`]; [`RetryPolicy`] turns that into "done", "again in N" or
//! "give up", so the outbox that calls channels holds no per-channel knowledge.

pub mod discord;
pub mod email;
pub mod pagerduty;
pub mod slack;
pub mod teams;
pub mod webhook;

mod config;
mod http;
mod notification;
mod retry;
mod secret;
mod text;

use std::fmt;
use std::time::Duration;

pub use config::{build, ChannelConfig, HookConfig, DEFAULT_TIMEOUT};
/// What happened to an incident: the alert engine's own notification vocabulary.
pub use lookout_core::alert::notify::NotifyEvent;
pub use notification::{Notification, Runbook};
pub use retry::{Next, RetryPolicy};
pub use secret::SecretUrl;

/// A destination for notifications.
pub trait Channel: Send + Sync {
    /// The configured kind, e.g. "slack".
    fn kind(&self) -> &'static str;

    /// How many notifications one request may carry (Slack batches; others 1).
    fn max_batch(&self) -> usize {
        1
    }

    /// Least time between two requests to this destination (Slack: ~1/s per hook).
    fn min_interval(&self) -> Duration {
        Duration::ZERO
    }

    /// Sends `batch` (at most [`Channel::max_batch`] notifications) in one attempt.
    /// Blocking and bounded by the channel's timeout: callers run it on a blocking pool.
    fn send(&self, batch: &[Notification]) -> Delivery;
}

/// What the receiver made of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted.
    Delivered {
        /// HTTP status or SMTP reply code.
        status: Option<u16>,
        /// The receiver's answer, truncated.
        answer: String,
    },
    /// Try again later: 429, 5xx, a timeout, a connection error.
    Retry {
        /// How long the receiver asked us to wait (`Retry-After`).
        after: Option<Duration>,
        /// What went wrong.
        reason: String,
    },
    /// The destination is gone (a revoked hook): retrying cannot help; fix the config.
    Broken {
        /// What the receiver said.
        reason: String,
    },
    /// The receiver refused this message (another 4xx, SMTP 5xx); not retried.
    Rejected {
        /// What the receiver said.
        reason: String,
    },
}

impl Delivery {
    /// Whether the receiver accepted the message.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Delivery::Delivered { .. })
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Delivered { status, answer } => {
                f.write_str("delivered")?;
                if let Some(s) = status {
                    write!(f, " ({s})")?;
                }
                if !answer.is_empty() {
                    write!(f, ": {answer}")?;
                }
                Ok(())
            }
            Delivery::Retry { after, reason } => {
                write!(f, "not delivered, worth retrying")?;
                if let Some(a) = after {
                    write!(
                        f,
                        " after {}",
                        humantime::format_duration(Duration::from_secs(a.as_secs()))
                    )?;
                }
                write!(f, ": {reason}")
            }
            Delivery::Broken { reason } => {
                write!(
                    f,
                    "the destination is gone (fix the channel's config): {reason}"
                )
            }
            Delivery::Rejected { reason } => write!(f, "the receiver refused it: {reason}"),
        }
    }
}

/// Sends a batch through a channel that carries one notification per request: one by one,
/// stopping at the first that is not delivered (the caller retries the whole batch, which
/// the idempotency keys make safe for webhooks and PagerDuty).
fn one_by_one(batch: &[Notification], mut send: impl FnMut(&Notification) -> Delivery) -> Delivery {
    let mut last = nothing_to_send();
    for n in batch {
        last = send(n);
        if !last.is_delivered() {
            break;
        }
    }
    last
}

/// The answer to an empty batch: trivially delivered, without contacting anyone.
fn nothing_to_send() -> Delivery {
    Delivery::Delivered {
        status: None,
        answer: "nothing to send".into(),
    }
}

#[cfg(test)]
mod tests {
    use lookout_core::alert::Severity;

    use super::*;

    #[test]
    fn deliveries_read_as_sentences() {
        let d = Delivery::Retry {
            after: Some(Duration::from_millis(30_500)),
            reason: "HTTP 429".into(),
        };
        assert_eq!(
            d.to_string(),
            "not delivered, worth retrying after 30s: HTTP 429"
        );
        let d = Delivery::Delivered {
            status: Some(202),
            answer: "queued".into(),
        };
        assert_eq!(d.to_string(), "delivered (202): queued");
        assert!(Delivery::Broken {
            reason: "HTTP 410".into()
        }
        .to_string()
        .contains("fix the channel's config"));
    }

    #[test]
    fn one_by_one_stops_at_the_first_failure() {
        let n = text::tests::sample(Severity::High);
        let batch = vec![n.clone(), n.clone(), n];
        let mut calls = 0;
        let d = one_by_one(&batch, |_| {
            calls += 1;
            if calls == 2 {
                Delivery::Rejected {
                    reason: "no".into(),
                }
            } else {
                Delivery::Delivered {
                    status: Some(200),
                    answer: String::new(),
                }
            }
        });
        assert_eq!(calls, 2);
        assert!(matches!(d, Delivery::Rejected { .. }));
    }
}
