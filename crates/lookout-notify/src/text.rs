//! Wording every channel shares, so an incident reads the same in Slack, a mail and a
//! PagerDuty alert.

use lookout_core::alert::Severity;

use crate::{Notification, NotifyEvent};

/// "Critical", "High", …
pub(crate) fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Critical",
        Severity::High => "High",
        Severity::Medium => "Medium",
        Severity::Low => "Low",
    }
}

/// What happened, as a short phrase: "Triggered", "Escalated (step 2)",
/// "Acknowledged by alice", "Resolved", …
pub(crate) fn event_label(e: &NotifyEvent) -> String {
    match e {
        NotifyEvent::Triggered => "Triggered".into(),
        NotifyEvent::Escalated { step } => format!("Escalated (step {step})"),
        NotifyEvent::Reminder => "Reminder: still open".into(),
        NotifyEvent::Acknowledged { by } => format!("Acknowledged by {by}"),
        NotifyEvent::Resolved { by: Some(by) } => format!("Resolved by {by}"),
        NotifyEvent::Resolved { by: None } => "Resolved".into(),
        NotifyEvent::Test => "Test notification".into(),
    }
}

/// The tag mail subjects and chat headlines start with: the severity while the incident
/// needs someone, the outcome once it does not.
pub(crate) fn tag(n: &Notification) -> String {
    match n.event {
        NotifyEvent::Resolved { .. } => "RESOLVED".into(),
        NotifyEvent::Acknowledged { .. } => "ACKNOWLEDGED".into(),
        NotifyEvent::Test => "TEST".into(),
        _ => n.severity.as_str().to_ascii_uppercase(),
    }
}

/// The severity colour as a number (Discord wants an integer).
pub(crate) fn colour_int(s: Severity) -> u32 {
    u32::from_str_radix(s.colour().trim_start_matches('#'), 16).unwrap_or(0)
}

/// At most `max` characters, ending with "…" when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Unix milliseconds as RFC 3339 in UTC, whole seconds, e.g. "2026-03-01T12:00:00Z".
pub(crate) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_second(ms.div_euclid(1000))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Unix milliseconds for people, e.g. "2026-03-01 12:00 UTC".
pub(crate) fn human_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The facts every channel lists, in order: (label, value).
pub(crate) fn facts(n: &Notification) -> Vec<(&'static str, String)> {
    vec![
        ("Severity", severity_label(n.severity).to_string()),
        ("Subject", n.subject.clone()),
        ("Count", n.count.to_string()),
        ("Rule", n.rule.clone()),
        ("Started", human_time(n.triggered_ms)),
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Runbook;

    /// A notification with every field set.
    pub(crate) fn sample(severity: Severity) -> Notification {
        Notification {
            id: "ntf_123".into(),
            event: NotifyEvent::Triggered,
            incident_id: 42,
            dedup_key: "lookout-incident-42".into(),
            severity,
            title: "Error spike: 51 errors in 5m (project web)".into(),
            summary: "51 errors in the last 5 minutes.\nTop issue: TypeError <x> & y".into(),
            rule: "error-spike".into(),
            subject: "project web".into(),
            count: 51,
            triggered_ms: 1_772_366_400_000,
            incident_url: Some("https://lookout.example.com/incidents/42".into()),
            ack_url: Some("https://lookout.example.com/ack/42?sig=abc".into()),
            runbook: Some(Runbook {
                title: "Error spikes".into(),
                url: Some("https://wiki.example.com/runbooks/errors".into()),
                text: Some("Check the last deploy.".into()),
            }),
        }
    }

    #[test]
    fn times_and_truncation() {
        assert_eq!(rfc3339(1_772_366_400_123), "2026-03-01T12:00:00Z");
        assert_eq!(human_time(1_772_366_400_000), "2026-03-01 12:00 UTC");
        // Whole seconds, rounded down also before 1970; early years keep four digits.
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-61_000_000_000_000), "0036-12-26T11:33:20Z");
        assert_eq!(human_time(-1), "1969-12-31 23:59 UTC");
        assert_eq!(human_time(-61_000_000_000_000), "0036-12-26 11:33 UTC");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(colour_int(Severity::Critical), 0xd1242f);
        assert_eq!(
            event_label(&NotifyEvent::Escalated { step: 2 }),
            "Escalated (step 2)"
        );
    }
}
