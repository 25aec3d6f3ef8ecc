//! Signals: facts that producers (ingest, monitors, deploys) record and the alert engine
//! consumes. Producers never know who listens.

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// The first event of a new issue.
    NewIssue,
    /// An event for an issue that had been resolved.
    Regression,
    /// An event whose exception mechanism says `handled: false`.
    Unhandled,
}

impl SignalKind {
    /// The stable name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::NewIssue => "new_issue",
            SignalKind::Regression => "regression",
            SignalKind::Unhandled => "unhandled",
        }
    }

    /// Parses [`SignalKind::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new_issue" => SignalKind::NewIssue,
            "regression" => SignalKind::Regression,
            "unhandled" => SignalKind::Unhandled,
            _ => return None,
        })
    }
}

/// A recorded signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Monotonic id assigned by the store.
    pub id: i64,
    /// What happened.
    pub kind: SignalKind,
    /// The project it happened in.
    pub project_id: i64,
    /// The issue concerned, if any.
    pub issue_id: Option<i64>,
    /// The event that caused it, if any (32 hex digits).
    pub event_id: Option<String>,
    /// When it was recorded, Unix milliseconds.
    pub created_ms: i64,
}
