//! Incident timelines: the kinds of line stored, and the lines the engine writes, as data
//! that reads as a sentence.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::duration::format_duration;
use super::Severity;
use crate::stable::stable_names;

stable_names! {
    /// The kinds of timeline line.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum TimelineKind ("timeline entry kind") {
        /// The incident opened.
        Triggered = "triggered",
        /// Someone took it.
        Acknowledged = "acknowledged",
        /// A note: from a person, or the engine's word on escalation, silences, flapping.
        Note = "note",
        /// A notification was delivered.
        Notified = "notified",
        /// A notification failed, will be retried, or was given up.
        NotifyFailed = "notify_failed",
        /// It ended.
        Resolved = "resolved",
    }
}

/// What the engine records on an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Note {
    /// Someone took the incident.
    Acknowledged {
        /// Who.
        by: String,
    },
    /// Nobody acknowledged in time: the next route step was notified.
    Escalated {
        /// The step reached, from 1.
        step: u32,
        /// The channels of that step.
        channels: Vec<String>,
    },
    /// Nobody could be told: the rule names no channels and its severity's route is empty.
    NobodyNotified {
        /// The incident's severity.
        severity: Severity,
    },
    /// Opened too often: its notifications are held until it stays open long enough.
    Flapping {
        /// Openings within the window, this one included.
        opens: usize,
        /// The window they were counted in.
        window_ms: i64,
        /// How long it must stay open to be released.
        quiet_ms: i64,
    },
    /// A silence holds its notifications.
    Silenced {
        /// What the silence covers, as people name it (`rule "Error spike"`, a monitor's
        /// name, `project 3`).
        target: String,
        /// When the silence ends.
        until_ms: i64,
        /// Why it was set.
        reason: String,
    },
    /// Its notifications flow again.
    Released,
}

impl Note {
    /// The kind of line it is stored as.
    pub fn kind(&self) -> TimelineKind {
        match self {
            Note::Acknowledged { .. } => TimelineKind::Acknowledged,
            _ => TimelineKind::Note,
        }
    }

    /// The person who acted, for lines about a person's action.
    pub fn actor(&self) -> Option<&str> {
        match self {
            Note::Acknowledged { by } => Some(by),
            _ => None,
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Acknowledged { by } => write!(f, "acknowledged by {by}"),
            Note::Escalated { step, channels } if channels.is_empty() => {
                write!(f, "escalated to step {step} (no channels)")
            }
            Note::Escalated { step, channels } => {
                write!(f, "escalated to step {step} ({})", channels.join(", "))
            }
            Note::NobodyNotified { severity } => write!(
                f,
                "nobody notified: the rule has no notify channels and the {} route is empty",
                severity.as_str()
            ),
            Note::Flapping {
                opens,
                window_ms,
                quiet_ms,
            } => write!(
                f,
                "flapping: notifications held (opened {opens} times within {}); released \
                 once it has stayed open for {}",
                format_duration(*window_ms),
                format_duration(*quiet_ms)
            ),
            Note::Silenced {
                target,
                until_ms,
                reason,
            } => {
                let until = jiff::Timestamp::from_millisecond(*until_ms)
                    .map_or_else(|_| until_ms.to_string(), |t| t.to_string());
                write!(f, "notifications held: silenced by {target} until {until}")?;
                if !reason.is_empty() {
                    write!(f, " ({reason})")?;
                }
                Ok(())
            }
            Note::Released => f.write_str("notifications released"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_read_as_sentences_and_name_their_actor() {
        let ack = Note::Acknowledged { by: "alice".into() };
        assert_eq!(ack.to_string(), "acknowledged by alice");
        assert_eq!(
            (ack.kind(), ack.actor()),
            (TimelineKind::Acknowledged, Some("alice"))
        );
        let esc = Note::Escalated {
            step: 2,
            channels: vec!["ops-lead".into(), "cto".into()],
        };
        assert_eq!(esc.to_string(), "escalated to step 2 (ops-lead, cto)");
        assert_eq!((esc.kind(), esc.actor()), (TimelineKind::Note, None));
        let flap = Note::Flapping {
            opens: 3,
            window_ms: 3_600_000,
            quiet_ms: 3_600_000,
        };
        assert_eq!(
            flap.to_string(),
            "flapping: notifications held (opened 3 times within 1h); released once it has \
             stayed open for 1h"
        );
        let held = Note::Silenced {
            target: "rule \"Error spike\"".into(),
            until_ms: 1_700_000_000_000,
            reason: "deploy".into(),
        };
        assert_eq!(
            held.to_string(),
            "notifications held: silenced by rule \"Error spike\" until 2023-11-14T22:13:20Z (deploy)"
        );
        for k in TimelineKind::ALL {
            assert_eq!(k.as_str().parse::<TimelineKind>().unwrap(), *k);
        }
    }
}
