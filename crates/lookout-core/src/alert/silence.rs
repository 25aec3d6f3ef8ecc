//! Silences: notifications of the incidents they cover are held until they end.

use serde::{Deserialize, Serialize};

use crate::stable::stable_names;

/// What a silence covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum SilenceTarget {
    /// Every incident of the rule with this name.
    Rule(String),
    /// Every incident about this monitor.
    Monitor(i64),
    /// Every incident in this project (its error counts, issues and monitors).
    Project(i64),
}

/// Holds notifications of matching incidents until `until_ms`; they still open and count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// What it covers.
    pub target: SilenceTarget,
    /// When it ends.
    pub until_ms: i64,
    /// Why, shown on the incident's timeline.
    pub reason: String,
}

impl SilenceTarget {
    /// The kind of target, as stored beside its value.
    pub fn kind(&self) -> SilenceKind {
        match self {
            SilenceTarget::Rule(_) => SilenceKind::Rule,
            SilenceTarget::Monitor(_) => SilenceKind::Monitor,
            SilenceTarget::Project(_) => SilenceKind::Project,
        }
    }

    /// The stored value: the rule name, or the monitor or project id as text.
    pub fn value(&self) -> String {
        match self {
            SilenceTarget::Rule(r) => r.clone(),
            SilenceTarget::Monitor(id) | SilenceTarget::Project(id) => id.to_string(),
        }
    }

    /// The target of a stored kind and value; `None` when an id is not a number.
    pub fn new(kind: SilenceKind, value: &str) -> Option<SilenceTarget> {
        Some(match kind {
            SilenceKind::Rule => SilenceTarget::Rule(value.to_string()),
            SilenceKind::Monitor => SilenceTarget::Monitor(value.parse().ok()?),
            SilenceKind::Project => SilenceTarget::Project(value.parse().ok()?),
        })
    }
}

stable_names! {
    /// What kind of thing a silence covers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum SilenceKind ("silence target kind") {
        /// A rule, by name.
        Rule = "rule",
        /// A monitor, by id.
        Monitor = "monitor",
        /// A project, by id.
        Project = "project",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_through_their_stored_parts() {
        for t in [
            SilenceTarget::Rule("Error spike".into()),
            SilenceTarget::Monitor(7),
            SilenceTarget::Project(3),
        ] {
            let kind: SilenceKind = t.kind().as_str().parse().unwrap();
            assert_eq!(SilenceTarget::new(kind, &t.value()), Some(t));
        }
        assert_eq!(SilenceTarget::new(SilenceKind::Monitor, "seven"), None);
    }
}
