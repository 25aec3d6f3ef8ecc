//! Alert rules: a condition, how urgent its incidents are, where they go and what they
//! cover. The condition language lives in [`super::condition`].

pub use super::condition::{Cmp, Condition, ErrorFilter};
pub use super::duration::{format_duration, parse_duration};

use super::duration::{DAY_MS, MINUTE_MS};
use super::Severity;

/// An alert rule: a condition, how urgent it is, where it goes and what it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name; incidents are keyed by it.
    pub name: String,
    /// What to watch.
    pub condition: Condition,
    /// How urgent its incidents are.
    pub severity: Severity,
    /// Channel names for the first notification; empty means the severity's route.
    pub notify: Vec<String>,
    /// A link or text shown next to its incidents.
    pub runbook: Option<String>,
    /// Only these projects; `None` means all.
    pub projects: Option<Vec<i64>>,
    /// Only these monitors; `None` means all.
    pub monitors: Option<Vec<i64>>,
    /// How long a measured condition must stay false before its incident auto-resolves.
    pub clear_after_ms: i64,
    /// How long an event incident (new issue, TLS…) must be quiet before it
    /// auto-resolves; `None` leaves it to a person.
    pub resolve_after_ms: Option<i64>,
}

impl Rule {
    /// The default [`Rule::clear_after_ms`]: 5 minutes.
    pub const DEFAULT_CLEAR_AFTER_MS: i64 = 5 * MINUTE_MS;
    /// The default [`Rule::resolve_after_ms`]: 24 hours.
    pub const DEFAULT_RESOLVE_AFTER_MS: i64 = DAY_MS;

    /// A rule covering everything, routed by its severity, with the default timers.
    pub fn new(name: impl Into<String>, condition: Condition, severity: Severity) -> Rule {
        Rule {
            name: name.into(),
            condition,
            severity,
            notify: Vec::new(),
            runbook: None,
            projects: None,
            monitors: None,
            clear_after_ms: Self::DEFAULT_CLEAR_AFTER_MS,
            resolve_after_ms: Some(Self::DEFAULT_RESOLVE_AFTER_MS),
        }
    }

    /// Checks what the condition language cannot: the name, the timers, and that the
    /// scope fits the condition.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a rule needs a name".into());
        }
        let named = |msg: String| format!("rule \"{}\": {msg}", self.name);
        if self.clear_after_ms < 0 {
            return Err(named("clear_after must not be negative".into()));
        }
        if self.resolve_after_ms.is_some_and(|d| d <= 0) {
            return Err(named(
                "resolve_after must be longer than 0; leave it out to resolve by hand".into(),
            ));
        }
        if self.notify.iter().any(|c| c.trim().is_empty()) {
            return Err(named("notify lists an empty channel name".into()));
        }
        let about_projects_only = !self.condition.is_monitor()
            && !matches!(self.condition, Condition::SloBurnRate { .. });
        if self.monitors.is_some() && about_projects_only {
            return Err(named(format!(
                "\"{}\" is about projects, so scope it with projects, not monitors",
                self.condition
            )));
        }
        // Health measures arrive per monitor without a project, so a project scope
        // could never match.
        if self.projects.is_some() && matches!(self.condition, Condition::HealthField { .. }) {
            return Err(named(format!(
                "\"{}\" is measured per monitor, so scope it with monitors, not projects",
                self.condition
            )));
        }
        Ok(())
    }
}
