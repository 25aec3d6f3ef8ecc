//! Alerting: severities, rules and their conditions, and the incident engine that turns
//! signals and measures into incidents, notifications and escalations. Pure: time comes
//! in as `now_ms`, and what to do comes out as actions.
//!
//! [`rule`] and [`condition`] say what is watched, [`policy`] how urgently; the
//! [`engine`] decides. Its vocabulary: [`incident`] (subjects, keys, statuses, state,
//! resolutions), [`timeline`] (the lines it writes), [`notify`] (what channels are told,
//! and where a queued message is), [`silence`] and [`action`]. Names that are stored
//! convert with `as_str`/`FromStr` ([`crate::stable`]).

use serde::{Deserialize, Serialize};

pub mod action;
pub mod condition;
pub mod duration;
pub mod engine;
pub mod incident;
pub mod notify;
pub mod policy;
pub mod rule;
pub mod silence;
pub mod timeline;

/// How urgent an incident is; each has a response window and a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Act now.
    Critical,
    /// Act within an hour.
    High,
    /// Act within a day.
    Medium,
    /// Watch.
    Low,
}

impl Severity {
    /// All severities, most urgent first.
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    /// Parses [`Severity::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" => Severity::Low,
            _ => return None,
        })
    }

    /// The colour channels use for it (hex RGB).
    pub fn colour(self) -> &'static str {
        match self {
            Severity::Critical => "#d1242f",
            Severity::High => "#e16f24",
            Severity::Medium => "#d4a72c",
            Severity::Low => "#6e7781",
        }
    }
}
