//! `[alerts]`, `[severities.NAME]` and `[[rules]]`: what is alerted, how urgently, to whom.

use std::collections::BTreeMap;
use std::time::Duration;

use lookout_core::alert::policy::{Policies, SeverityPolicy};
use lookout_core::alert::rule::{Condition, Rule};
use lookout_core::alert::Severity;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// `[alerts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Signs the acknowledge links in notifications; generated and kept in the data
    /// directory when empty (then links stay valid across restarts).
    pub secret: SecretString,
    /// How often windowed rules (error counts, p95, health fields) are evaluated.
    #[serde(with = "humantime_serde")]
    pub evaluate_every: Duration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            secret: SecretString::default(),
            evaluate_every: Duration::from_secs(10),
        }
    }
}

/// A duration, or `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum MaybeDuration {
    /// A duration such as `"1h"`.
    #[serde(with = "humantime_serde")]
    Some(Duration),
    /// `"none"` (no limit).
    Word(NoneWord),
}

/// The word `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoneWord {
    /// No limit.
    None,
}

impl MaybeDuration {
    fn ms(self) -> Option<i64> {
        match self {
            MaybeDuration::Some(d) => Some(d.as_millis() as i64),
            MaybeDuration::Word(_) => None,
        }
    }
}

/// `[severities.NAME]`: overrides of one severity's policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeverityConfig {
    /// Escalate when nobody acknowledges within this long (`"none"`: never).
    pub ack_within: Option<MaybeDuration>,
    /// Remind this often while unacknowledged (`"none"`: never).
    pub renotify: Option<MaybeDuration>,
    /// Escalations at most.
    pub max_escalations: Option<u32>,
    /// Channels per step: the first on trigger, the next on each escalation; the last
    /// repeats.
    pub route: Option<Vec<Vec<String>>>,
}

/// `[[rules]]` (and the body of `POST /api/v1/rules`).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name, e.g. "Error spike".
    pub name: String,
    /// The condition, e.g. `errors > 50 in 5m`.
    pub when: String,
    /// critical, high, medium or low.
    #[schema(value_type = String)]
    pub severity: Severity,
    /// Channels notified on trigger (else the severity's route).
    #[serde(default)]
    pub notify: Vec<String>,
    /// A Markdown runbook, relative to the config file.
    pub runbook: Option<String>,
    /// Only these projects (slugs).
    pub projects: Option<Vec<String>>,
    /// Only these monitors (names).
    pub monitors: Option<Vec<String>>,
    /// A windowed condition must stay false this long to resolve (default 5m).
    #[serde(default, with = "humantime_serde")]
    #[schema(value_type = Option<String>)]
    pub clear_after: Option<Duration>,
    /// Event rules (new issue…) resolve after this long without occurrences (default
    /// 24h; `"none"`: only by hand).
    #[schema(value_type = Option<String>)]
    pub resolve_after: Option<MaybeDuration>,
}

/// The policies the config sets: the reference defaults with `[severities]` overrides.
pub fn policies(
    severities: &BTreeMap<String, SeverityConfig>,
) -> Result<Policies, (String, String)> {
    let mut p = Policies::default();
    for (name, c) in severities {
        let sev = Severity::parse(name).ok_or_else(|| {
            (
                format!("severities.{name}"),
                "unknown severity: use critical, high, medium or low".to_string(),
            )
        })?;
        let policy: &mut SeverityPolicy = p.get_mut(sev);
        if let Some(d) = c.ack_within {
            policy.ack_within_ms = d.ms();
        }
        if let Some(d) = c.renotify {
            policy.renotify_ms = d.ms();
        }
        if let Some(n) = c.max_escalations {
            policy.max_escalations = n;
        }
        if let Some(r) = &c.route {
            policy.route = r.clone();
        }
        policy
            .validate()
            .map_err(|e| (format!("severities.{name}"), e))?;
    }
    Ok(p)
}

impl RuleConfig {
    /// The rule, with its scope left open (the server resolves project slugs and
    /// monitor names to ids at start).
    pub fn rule(&self) -> Result<Rule, (&'static str, String)> {
        let condition = Condition::parse(&self.when).map_err(|e| ("when", e))?;
        let mut rule = Rule::new(self.name.clone(), condition, self.severity);
        rule.notify = self.notify.clone();
        rule.runbook = self.runbook.clone();
        if let Some(d) = self.clear_after {
            rule.clear_after_ms = d.as_millis() as i64;
        }
        if let Some(d) = self.resolve_after {
            rule.resolve_after_ms = d.ms();
        }
        Ok(rule)
    }
}
