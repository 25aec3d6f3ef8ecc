//! What people read: incident titles and summaries, numbers and latencies, and the
//! silence holding an incident's notifications.

use std::collections::HashMap;

use super::{Draft, Note, Silence, SilenceTarget, Subject};
use crate::alert::rule::{format_duration, Condition, Rule};

/// The timeline line of a silence holding an incident, naming what it covers.
pub(super) fn silenced(s: &Silence, names: &HashMap<i64, String>) -> Note {
    let target = match &s.target {
        SilenceTarget::Rule(r) => format!("rule \"{r}\""),
        SilenceTarget::Monitor(m) => monitor_name(*m, names),
        SilenceTarget::Project(p) => format!("project {p}"),
    };
    Note::Silenced {
        target,
        until_ms: s.until_ms,
        reason: s.reason.clone(),
    }
}

fn monitor_name(id: i64, names: &HashMap<i64, String>) -> String {
    names
        .get(&id)
        .cloned()
        .unwrap_or_else(|| format!("monitor {id}"))
}

pub(super) fn title(
    rule: &Rule,
    subject: Subject,
    d: &Draft<'_>,
    names: &HashMap<i64, String>,
) -> String {
    let who = match subject {
        Subject::Monitor(m) => monitor_name(m, names),
        Subject::Issue(i) => format!("#{i}"),
        Subject::Project(p) => format!("project {p}"),
    };
    let with_detail = |head: &str| match d.detail.filter(|x| !x.is_empty()) {
        Some(x) => format!("{head}: {who} — {x}"),
        None => format!("{head}: {who}"),
    };
    let v = d.value.unwrap_or(0.0);
    match &rule.condition {
        Condition::ErrorCount { window_ms, .. } => format!(
            "Error spike: {} errors in {}",
            num(v),
            format_duration(*window_ms)
        ),
        Condition::ErrorRateAfterDeploy { window_ms, .. } => format!(
            "Errors after deploy: {}x the rate before, within {}",
            num(v),
            format_duration(*window_ms)
        ),
        Condition::LatencyP95 { window_ms, .. } => format!(
            "Slow responses: p95 {} in {}",
            latency(v),
            format_duration(*window_ms)
        ),
        Condition::HealthField {
            path,
            op,
            threshold,
        } => format!(
            "Health check: {who} {path} is {} ({} {})",
            num(v),
            op.as_str(),
            num(*threshold)
        ),
        Condition::SloBurnRate { slo, .. } => match slo {
            Some(s) => format!("SLO burn rate: {s} burning {}x", num(v)),
            None => format!("SLO burn rate: {who} burning {}x", num(v)),
        },
        // The detail names the release and environment and gives the verdict's reasons.
        Condition::DeployBad => match d.detail.filter(|x| !x.is_empty()) {
            Some(x) => format!("Bad deploy: {x}"),
            None => format!("Bad deploy: {who}"),
        },
        Condition::NewIssue => with_detail("New issue"),
        Condition::Regression => with_detail("Regression"),
        Condition::Unhandled => with_detail("Unhandled exception"),
        Condition::MonitorDown => with_detail("Site is down"),
        Condition::MonitorDegraded => with_detail("Degraded"),
        Condition::CrashLoop => with_detail("Crash loop"),
        Condition::HeartbeatMissed => with_detail("Heartbeat missed"),
        Condition::HeartbeatFailed => with_detail("Job failed"),
        Condition::TlsExpiring { .. } => with_detail("Certificate expiring"),
    }
}

pub(super) fn summary(
    rule: &Rule,
    subject: Subject,
    project: Option<i64>,
    names: &HashMap<i64, String>,
) -> String {
    let about = match (subject, project) {
        (Subject::Monitor(m), _) => monitor_name(m, names),
        (Subject::Issue(i), Some(p)) => format!("issue #{i} in project {p}"),
        (s, _) => s.to_string(),
    };
    let mut s = format!("{} — {about} (rule \"{}\")", rule.condition, rule.name);
    if let Some(r) = &rule.runbook {
        s.push_str(&format!("; runbook: {}", runbook_label(r)));
    }
    s
}

/// How a summary names a rule's runbook. A link is kept whole; a file is named by its
/// file name only: the summary goes to chat channels and the incident list, where the
/// server's directory layout means nothing and is nobody else's business (the incident
/// page and the notification's runbook part show the runbook itself).
fn runbook_label(r: &str) -> &str {
    if r.starts_with("https://") || r.starts_with("http://") {
        return r;
    }
    r.rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(r)
}

/// A number for people: whole numbers plain, others to two decimals.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn latency(ms: f64) -> String {
    if ms >= 1_000.0 {
        format!("{}s", num((ms / 10.0).round() / 100.0))
    } else {
        format!("{}ms", num(ms.round()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_runbook_file_is_named_by_its_file_name_and_a_link_whole() {
        use super::runbook_label;
        assert_eq!(
            runbook_label("/srv/lookout/runbooks/site-down.md"),
            "site-down.md"
        );
        assert_eq!(runbook_label("runbooks\\spike.md"), "spike.md");
        assert_eq!(runbook_label("spike.md"), "spike.md");
        assert_eq!(
            runbook_label("https://wiki.example/runbooks/site-down"),
            "https://wiki.example/runbooks/site-down"
        );
    }

    use super::*;

    #[test]
    fn numbers_and_latencies_read_well() {
        assert_eq!(num(51.0), "51");
        assert_eq!(num(92.456), "92.46");
        assert_eq!(num(14.4), "14.4");
        assert_eq!(latency(2_300.0), "2.3s");
        assert_eq!(latency(640.4), "640ms");
    }
}
