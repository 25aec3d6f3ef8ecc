//! Incidents: what one is about, its key, where it is in its lifecycle, the state the
//! engine keeps for an open one, and why it ended.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::duration::format_duration;
use super::Severity;
use crate::stable::{stable_names, UnknownName};

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Subject {
    /// A project (error counts, latency, bad deploys).
    Project(i64),
    /// An issue (new issue, regression, unhandled).
    Issue(i64),
    /// A monitor (down, degraded, heartbeat, TLS, health).
    Monitor(i64),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Project(p) => write!(f, "project {p}"),
            Subject::Issue(i) => write!(f, "issue #{i}"),
            Subject::Monitor(m) => write!(f, "monitor {m}"),
        }
    }
}

impl Subject {
    /// Which kind of subject, as stored beside its id.
    pub fn kind(self) -> SubjectKind {
        match self {
            Subject::Project(_) => SubjectKind::Project,
            Subject::Issue(_) => SubjectKind::Issue,
            Subject::Monitor(_) => SubjectKind::Monitor,
        }
    }

    /// The project, issue or monitor id.
    pub fn id(self) -> i64 {
        match self {
            Subject::Project(id) | Subject::Issue(id) | Subject::Monitor(id) => id,
        }
    }

    /// The subject of a stored kind and id.
    pub fn new(kind: SubjectKind, id: i64) -> Subject {
        match kind {
            SubjectKind::Project => Subject::Project(id),
            SubjectKind::Issue => Subject::Issue(id),
            SubjectKind::Monitor => Subject::Monitor(id),
        }
    }
}

stable_names! {
    /// What kind of thing an incident is about.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum SubjectKind ("subject kind") {
        /// A project.
        Project = "project",
        /// An issue.
        Issue = "issue",
        /// A monitor.
        Monitor = "monitor",
    }
}

/// Identifies an incident: at most one is open per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IncidentKey {
    /// The rule's name.
    pub rule: String,
    /// What it is about.
    pub subject: Subject,
}

impl IncidentKey {
    /// The key of `rule`'s incident about `subject`.
    pub fn new(rule: impl Into<String>, subject: Subject) -> IncidentKey {
        IncidentKey {
            rule: rule.into(),
            subject,
        }
    }
}

stable_names! {
    /// Where an incident is in its lifecycle. The engine holds only open incidents
    /// (triggered or acknowledged); the store keeps resolved ones too.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum IncidentStatus ("incident status") {
        /// Open and nobody has said they are on it: escalates and reminds.
        Triggered = "triggered",
        /// Someone is on it: no more escalations or reminders.
        Acknowledged = "acknowledged",
        /// Over.
        Resolved = "resolved",
    }
}

/// An open incident, as the server stores it and hands back to [`super::engine::Engine::restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentState {
    /// Rule and subject.
    pub key: IncidentKey,
    /// The rule's severity when it opened.
    pub severity: Severity,
    /// Triggered or acknowledged.
    pub status: IncidentStatus,
    /// One line for people ("Error spike: 51 errors in 5m").
    pub title: String,
    /// The condition, the subject, the rule and its runbook.
    pub summary: String,
    /// The project concerned, if known (for project silences).
    pub project_id: Option<i64>,
    /// When it opened.
    pub opened_ms: i64,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When it was acknowledged.
    pub acked_ms: Option<i64>,
    /// Occurrences: signals for event and monitor rules, breaching measures for
    /// measured rules.
    pub count: u64,
    /// The latest measured value.
    pub value: Option<f64>,
    /// The worst measured value so far (highest, or lowest for `<` conditions).
    pub worst: Option<f64>,
    /// The latest occurrence.
    pub last_seen_ms: i64,
    /// The event of the latest counted signal, so that two signals of one event
    /// (new issue and unhandled) count once.
    pub last_event_id: Option<String>,
    /// Since when a measured condition has been false.
    pub below_since_ms: Option<i64>,
    /// When the Triggered notification went out; `None` while it is held.
    pub triggered_ms: Option<i64>,
    /// The route step reached; also the number of escalations so far.
    pub step: u32,
    /// When the current step was notified; the escalation clock runs from here.
    pub step_since_ms: Option<i64>,
    /// The latest notification; the reminder clock runs from here.
    pub last_notified_ms: Option<i64>,
    /// Every channel notified so far, in order; acknowledgement and resolution go here.
    pub notified: Vec<String>,
    /// The end of the silence holding its notifications.
    pub silenced_until_ms: Option<i64>,
    /// While flapping, when its notifications will be released if it stays open.
    pub flapping_until_ms: Option<i64>,
    /// When its key opened within the last hour, including this time.
    pub recent_opens_ms: Vec<i64>,
}

impl IncidentState {
    /// Whether its notifications are held at `now_ms` (silenced or flapping).
    pub fn held(&self, now_ms: i64) -> bool {
        self.silenced_until_ms.is_some_and(|t| t > now_ms)
            || self.flapping_until_ms.is_some_and(|t| t > now_ms)
    }
}

/// Why an incident ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Resolution {
    /// Resolved by hand: by a person, or by a caller outside the engine (`by: None`).
    ByHand {
        /// Who.
        by: Option<String>,
    },
    /// The monitor said it is over (up again, no longer degraded).
    Recovered {
        /// What the monitor reported, e.g. "Homepage: up again after 3m".
        detail: String,
    },
    /// A measured condition stayed within its threshold for its clear time.
    Cleared {
        /// The rule's clear time.
        clear_after_ms: i64,
    },
    /// An event incident had no new occurrence for its quiet time.
    Quiet {
        /// The rule's quiet time.
        resolve_after_ms: i64,
    },
    /// Its rule is gone.
    RuleRemoved,
}

impl Resolution {
    /// Who resolved it; `None` when it resolved itself.
    pub fn by(&self) -> Option<&str> {
        match self {
            Resolution::ByHand { by } => by.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resolution::ByHand { by: Some(by) } => write!(f, "resolved by {by}"),
            Resolution::ByHand { by: None } => f.write_str("resolved"),
            Resolution::Recovered { detail } => f.write_str(detail),
            Resolution::Cleared { clear_after_ms } => write!(
                f,
                "back within the threshold for {}",
                format_duration(*clear_after_ms)
            ),
            Resolution::Quiet { resolve_after_ms } => write!(
                f,
                "no new occurrences for {}",
                format_duration(*resolve_after_ms)
            ),
            Resolution::RuleRemoved => f.write_str("its rule is no longer configured"),
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::parse(s).ok_or_else(|| UnknownName {
            what: "severity",
            found: s.to_string(),
            expected: &["critical", "high", "medium", "low"],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_match_the_serialized_ones() {
        for s in IncidentStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.as_str().parse::<IncidentStatus>().unwrap(), *s);
        }
        for k in SubjectKind::ALL {
            let subject = Subject::new(*k, 7);
            assert_eq!(serde_json::to_value(subject).unwrap()["kind"], k.as_str());
            assert_eq!((subject.kind(), subject.id()), (*k, 7));
        }
        assert!("open".parse::<IncidentStatus>().is_err());
        assert_eq!("high".parse::<Severity>().unwrap(), Severity::High);
        assert!("urgent".parse::<Severity>().is_err());
    }

    #[test]
    fn resolutions_read_as_before() {
        let by = |b: Option<&str>| Resolution::ByHand {
            by: b.map(str::to_string),
        };
        assert_eq!(by(Some("alice")).to_string(), "resolved by alice");
        assert_eq!(by(Some("alice")).by(), Some("alice"));
        assert_eq!(by(None).to_string(), "resolved");
        assert_eq!(
            Resolution::Cleared {
                clear_after_ms: 300_000
            }
            .to_string(),
            "back within the threshold for 5m"
        );
        assert_eq!(
            Resolution::Quiet {
                resolve_after_ms: 86_400_000
            }
            .to_string(),
            "no new occurrences for 1d"
        );
        let up = Resolution::Recovered {
            detail: "resolved by accident: up again".into(),
        };
        assert_eq!(
            up.by(),
            None,
            "a monitor's words are never read as a person"
        );
    }
}
