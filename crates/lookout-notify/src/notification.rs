//! The message every channel receives: what happened to which incident, how urgent it is,
//! and what to do about it.

use lookout_core::alert::Severity;
use serde::{Deserialize, Serialize};

/// One message about an incident, as every channel receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique per message and kept across retries: the idempotency key (`webhook-id`).
    pub id: String,
    /// What happened to the incident.
    pub event: NotificationEvent,
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

/// What happened to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NotificationEvent {
    /// The incident opened.
    Triggered,
    /// Nobody acknowledged in time; the incident went to the next escalation step.
    Escalated {
        /// The step it reached (1 = the first escalation).
        step: u32,
    },
    /// The incident is still open and unacknowledged.
    Reminder,
    /// Someone took the incident.
    Acknowledged {
        /// Who.
        by: String,
    },
    /// The incident closed.
    Resolved {
        /// Who closed it; `None` when it resolved by itself.
        by: Option<String>,
    },
    /// A test sent by hand (`lookout notify test`).
    Test,
}

impl NotificationEvent {
    /// The event's name in webhook types (`incident.<name>`), e.g. "escalated".
    pub fn name(&self) -> &'static str {
        match self {
            NotificationEvent::Triggered => "triggered",
            NotificationEvent::Escalated { .. } => "escalated",
            NotificationEvent::Reminder => "reminder",
            NotificationEvent::Acknowledged { .. } => "acknowledged",
            NotificationEvent::Resolved { .. } => "resolved",
            NotificationEvent::Test => "test",
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
