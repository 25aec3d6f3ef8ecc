//! The message every channel receives: what happened to which incident, how urgent it is,
//! and what to do about it.

use lookout_core::alert::notify::NotifyEvent;
use lookout_core::alert::Severity;
use serde::{Deserialize, Serialize};

/// One message about an incident, as every channel receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique per message and kept across retries: the idempotency key (`webhook-id`).
    pub id: String,
    /// What happened to the incident.
    pub event: NotifyEvent,
    /// The incident's id.
    pub incident_id: i64,
    /// Stable for the incident's whole life (PagerDuty's `dedup_key`).
    pub dedup_key: String,
    /// How urgent the incident is.
    pub severity: Severity,
    /// One line, e.g. "Error spike: 51 errors in 5m (project web)".
    pub title: String,
    /// A few lines of detail.
    pub summary: String,
    /// The rule that raised the incident.
    pub rule: String,
    /// What the incident is about: "project web", "monitor Homepage", "issue 12".
    pub subject: String,
    /// Events or occurrences so far.
    pub count: u64,
    /// When the incident started, Unix milliseconds.
    pub triggered_ms: i64,
    /// The incident's page in lookout.
    pub incident_url: Option<String>,
    /// A signed link that acknowledges the incident when opened (GET).
    pub ack_url: Option<String>,
    /// What to do about it.
    pub runbook: Option<Runbook>,
}

impl Notification {
    /// The test message of `lookout notify test` and `POST /api/v1/channels/{name}/test`:
    /// `id` unique per test, `sent_by` how it was asked for.
    pub fn test(
        id: String,
        channel: &str,
        severity: Severity,
        now_ms: i64,
        incident_url: Option<String>,
        sent_by: &str,
    ) -> Notification {
        Notification {
            id,
            event: NotifyEvent::Test,
            incident_id: 0,
            // One key for every test, so PagerDuty folds repeated tests into one alert.
            dedup_key: "lookout-notify-test".into(),
            severity,
            title: "Test notification from lookout".into(),
            summary: format!(
                "Sent by {sent_by}. If you can read this, channel \"{channel}\" works."
            ),
            rule: "notify-test".into(),
            subject: format!("channel {channel}"),
            count: 1,
            triggered_ms: now_ms,
            incident_url,
            ack_url: None,
            runbook: None,
        }
    }
}

/// The runbook attached to the alert rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runbook {
    /// Its title.
    pub title: String,
    /// Where the whole runbook is.
    pub url: Option<String>,
    /// Its first lines, shown inline.
    pub text: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queued messages keep their notification as JSON: those written before the engine's
    /// `NotifyEvent` became the notification's event must still read, and write the same.
    #[test]
    fn payloads_queued_by_earlier_versions_read_and_write_the_same() {
        for (event, expected) in [
            (r#"{"type":"triggered"}"#, NotifyEvent::Triggered),
            (
                r#"{"type":"escalated","step":2}"#,
                NotifyEvent::Escalated { step: 2 },
            ),
            (r#"{"type":"reminder"}"#, NotifyEvent::Reminder),
            (
                r#"{"type":"acknowledged","by":"alice"}"#,
                NotifyEvent::Acknowledged { by: "alice".into() },
            ),
            (
                r#"{"type":"resolved","by":null}"#,
                NotifyEvent::Resolved { by: None },
            ),
            (r#"{"type":"test"}"#, NotifyEvent::Test),
        ] {
            let stored = format!(
                r#"{{"id":"","event":{event},"incident_id":0,"dedup_key":"","severity":"high","title":"API down","summary":"503","rule":"down","subject":"monitor API","count":1,"triggered_ms":1000,"incident_url":null,"ack_url":null,"runbook":{{"title":"Restart","url":null,"text":"pm2 restart api"}}}}"#
            );
            let n: Notification = serde_json::from_str(&stored).expect(event);
            assert_eq!(n.event, expected);
            assert_eq!(serde_json::to_string(&n).unwrap(), stored);
        }
    }
}
