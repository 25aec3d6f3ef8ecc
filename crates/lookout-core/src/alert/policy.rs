//! Severity policies: how fast each severity must be acknowledged, who hears about it at
//! each escalation step, and how often they are reminded.

use super::Severity;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

/// What happens to an incident of one severity until someone acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityPolicy {
    /// Time to acknowledge before escalating to the next step; `None` never escalates.
    pub ack_within_ms: Option<i64>,
    /// Channel names per step: step 0 on trigger, step 1 on the first escalation, and so
    /// on; the last step repeats.
    pub route: Vec<Vec<String>>,
    /// Time between reminders to the current step while unacknowledged; `None` for none.
    pub renotify_ms: Option<i64>,
    /// Escalations at most, per incident.
    pub max_escalations: u32,
}

impl SeverityPolicy {
    /// The reference team's policy for `severity`, with no channels yet.
    pub fn reference(severity: Severity) -> SeverityPolicy {
        let (ack, renotify) = match severity {
            // "Act now": page the next person quickly if nobody answers.
            Severity::Critical => (Some(15 * MINUTE_MS), Some(30 * MINUTE_MS)),
            Severity::High => (Some(HOUR_MS), Some(2 * HOUR_MS)),
            Severity::Medium => (Some(24 * HOUR_MS), Some(24 * HOUR_MS)),
            // "Watch": shown on the dashboard, never chased.
            Severity::Low => (None, None),
        };
        SeverityPolicy {
            ack_within_ms: ack,
            route: Vec::new(),
            renotify_ms: renotify,
            max_escalations: 3,
        }
    }

    /// The channels of route step `step`, with `first` (a rule's own channels, if any)
    /// standing in for step 0; the last step repeats.
    pub fn channels<'a>(&'a self, first: &'a [String], step: u32) -> &'a [String] {
        let step = step as usize;
        if step == 0 && !first.is_empty() {
            return first;
        }
        match self.route.get(step).or(self.route.last()) {
            Some(c) => c,
            // A route-less severity escalates to the rule's own channels again.
            None => first,
        }
    }

    /// Checks that timers are positive and channel names are not empty.
    pub fn validate(&self) -> Result<(), String> {
        if self.ack_within_ms.is_some_and(|d| d <= 0) {
            return Err("ack_within must be longer than 0; leave it out to never escalate".into());
        }
        if self.renotify_ms.is_some_and(|d| d <= 0) {
            return Err("renotify must be longer than 0; leave it out for no reminders".into());
        }
        if self.route.iter().flatten().any(|c| c.trim().is_empty()) {
            return Err("the route lists an empty channel name".into());
        }
        Ok(())
    }
}

/// One [`SeverityPolicy`] per severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    /// For [`Severity::Critical`].
    pub critical: SeverityPolicy,
    /// For [`Severity::High`].
    pub high: SeverityPolicy,
    /// For [`Severity::Medium`].
    pub medium: SeverityPolicy,
    /// For [`Severity::Low`].
    pub low: SeverityPolicy,
}

impl Policies {
    /// The policy for `severity`.
    pub fn get(&self, severity: Severity) -> &SeverityPolicy {
        match severity {
            Severity::Critical => &self.critical,
            Severity::High => &self.high,
            Severity::Medium => &self.medium,
            Severity::Low => &self.low,
        }
    }

    /// The policy for `severity`, to change.
    pub fn get_mut(&mut self, severity: Severity) -> &mut SeverityPolicy {
        match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
        }
    }
}

impl Default for Policies {
    /// The reference team's table: critical ack 15 min / remind 30 min, high 1 h / 2 h,
    /// medium 24 h / 24 h, low never; at most 3 escalations; no channels.
    fn default() -> Self {
        Policies {
            critical: SeverityPolicy::reference(Severity::Critical),
            high: SeverityPolicy::reference(Severity::High),
            medium: SeverityPolicy::reference(Severity::Medium),
            low: SeverityPolicy::reference(Severity::Low),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn steps_past_the_end_repeat_the_last_and_rule_channels_replace_step_zero() {
        let mut p = SeverityPolicy::reference(Severity::High);
        p.route = vec![names(&["slack"]), names(&["ops-lead"]), names(&["cto"])];
        assert_eq!(p.channels(&[], 0), names(&["slack"]));
        assert_eq!(p.channels(&[], 2), names(&["cto"]));
        assert_eq!(p.channels(&[], 7), names(&["cto"]));
        let own = names(&["email"]);
        assert_eq!(p.channels(&own, 0), own);
        assert_eq!(p.channels(&own, 1), names(&["ops-lead"]));
        p.route.clear();
        assert_eq!(p.channels(&own, 3), own);
        assert!(p.channels(&[], 0).is_empty());
    }

    #[test]
    fn defaults_follow_the_reference_table() {
        let p = Policies::default();
        assert_eq!(p.critical.ack_within_ms, Some(15 * MINUTE_MS));
        assert_eq!(p.critical.renotify_ms, Some(30 * MINUTE_MS));
        assert_eq!(p.high.ack_within_ms, Some(HOUR_MS));
        assert_eq!(p.high.renotify_ms, Some(2 * HOUR_MS));
        assert_eq!(p.medium.ack_within_ms, Some(24 * HOUR_MS));
        assert_eq!(p.low.ack_within_ms, None);
        assert_eq!(p.low.renotify_ms, None);
        assert!(Severity::ALL.iter().all(|s| p.get(*s).max_escalations == 3
            && p.get(*s).route.is_empty()
            && p.get(*s).validate().is_ok()));
    }
}
