//! The engine's decisions, for the server to carry out: store, deliver, record.

use serde::{Deserialize, Serialize};

use super::incident::{IncidentKey, Resolution};
use super::notify::NotifyEvent;
use super::timeline::Note;
use super::Severity;

/// A decision for the server to carry out: store, deliver, record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// An incident opened.
    Opened {
        /// Which.
        key: IncidentKey,
        /// How urgent.
        severity: Severity,
        /// One line for people.
        title: String,
        /// The condition, subject, rule and runbook.
        summary: String,
        /// Occurrences so far (1).
        count: u64,
        /// When.
        at_ms: i64,
    },
    /// An open incident occurred again.
    Updated {
        /// Which.
        key: IncidentKey,
        /// Occurrences so far.
        count: u64,
    },
    /// Tell these channels.
    Notify {
        /// Which incident.
        key: IncidentKey,
        /// What to tell them.
        event: NotifyEvent,
        /// Channel names.
        channels: Vec<String>,
    },
    /// An incident is over.
    Resolved {
        /// Which.
        key: IncidentKey,
        /// When.
        at_ms: i64,
        /// Why.
        reason: Resolution,
    },
    /// A line for the incident's timeline.
    Timeline {
        /// Which incident.
        key: IncidentKey,
        /// When.
        at_ms: i64,
        /// What happened.
        entry: Note,
    },
}

impl Action {
    /// The incident the action is about.
    pub fn key(&self) -> &IncidentKey {
        match self {
            Action::Opened { key, .. }
            | Action::Updated { key, .. }
            | Action::Notify { key, .. }
            | Action::Resolved { key, .. }
            | Action::Timeline { key, .. } => key,
        }
    }
}
