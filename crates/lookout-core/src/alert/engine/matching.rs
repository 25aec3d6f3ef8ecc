//! Which signals and measures concern which rules: what opens an incident, what ends
//! one, what is measured per which subject, and a rule's scope.

use super::Subject;
use crate::alert::rule::{Condition, Rule};
use crate::signal::{Signal, SignalKind};

/// Which signal kinds open (or count towards) incidents of a condition.
pub(super) fn opened_by(c: &Condition, signal: &Signal) -> bool {
    match (c, signal.kind) {
        (Condition::NewIssue, SignalKind::NewIssue)
        | (Condition::Regression, SignalKind::Regression)
        | (Condition::Unhandled, SignalKind::Unhandled)
        | (Condition::MonitorDown, SignalKind::MonitorDown)
        | (Condition::MonitorDegraded, SignalKind::MonitorDegraded)
        | (Condition::CrashLoop, SignalKind::CrashLoop)
        | (Condition::HeartbeatMissed, SignalKind::HeartbeatMissed)
        | (Condition::HeartbeatFailed, SignalKind::HeartbeatFailed)
        | (Condition::DeployBad, SignalKind::DeployBad) => true,
        // A warning whose days cannot be read still alerts: a missed expiry costs more
        // than an early message.
        (Condition::TlsExpiring { within_days }, SignalKind::TlsExpiring) => {
            tls_days_left(signal.detail.as_deref()).is_none_or(|d| d <= i64::from(*within_days))
        }
        _ => false,
    }
}

/// Which signal kinds end incidents of a condition. A monitor going from degraded to
/// down and back up never says "undegraded", so up ends degraded incidents too.
pub(super) fn resolved_by(c: &Condition, kind: SignalKind) -> bool {
    match kind {
        SignalKind::MonitorUp => matches!(
            c,
            Condition::MonitorDown
                | Condition::MonitorDegraded
                | Condition::HeartbeatMissed
                | Condition::HeartbeatFailed
        ),
        SignalKind::MonitorUndegraded => matches!(c, Condition::MonitorDegraded),
        _ => false,
    }
}

/// Whether measures of a condition are taken per this kind of subject.
pub(super) fn measures(c: &Condition, subject: Subject) -> bool {
    match c {
        Condition::ErrorCount { .. }
        | Condition::ErrorRateAfterDeploy { .. }
        | Condition::LatencyP95 { .. } => matches!(subject, Subject::Project(_)),
        Condition::HealthField { .. } => matches!(subject, Subject::Monitor(_)),
        Condition::SloBurnRate { .. } => !matches!(subject, Subject::Issue(_)),
        _ => false,
    }
}

pub(super) fn in_scope(rule: &Rule, subject: Subject, project: Option<i64>) -> bool {
    rule.projects
        .as_ref()
        .is_none_or(|ps| project.is_some_and(|p| ps.contains(&p)))
        && rule
            .monitors
            .as_ref()
            .is_none_or(|ms| matches!(subject, Subject::Monitor(m) if ms.contains(&m)))
}

/// Days left on a certificate, read from the monitor's detail ("… expires in 6 days",
/// "… has expired").
fn tls_days_left(detail: Option<&str>) -> Option<i64> {
    let d = detail?;
    if d.contains("expired") {
        return Some(-1);
    }
    let words: Vec<&str> = d.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[1].starts_with("day"))
        .and_then(|w| w[0].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;

    #[test]
    fn tls_days_are_read_from_the_monitor_detail() {
        assert_eq!(
            tls_days_left(Some("the certificate of example.com expires in 6 days")),
            Some(6)
        );
        assert_eq!(
            tls_days_left(Some("the certificate of example.com has expired")),
            Some(-1)
        );
        assert_eq!(tls_days_left(Some("something else")), None);
        assert_eq!(tls_days_left(None), None);
    }

    #[test]
    fn scope_checks_projects_and_monitors() {
        let mut r = Rule::new("r", Condition::MonitorDown, Severity::High);
        r.monitors = Some(vec![7]);
        assert!(in_scope(&r, Subject::Monitor(7), None));
        assert!(!in_scope(&r, Subject::Monitor(8), None));
        r.monitors = None;
        r.projects = Some(vec![1]);
        assert!(in_scope(&r, Subject::Monitor(8), Some(1)));
        assert!(!in_scope(&r, Subject::Monitor(8), Some(2)));
        assert!(!in_scope(&r, Subject::Monitor(8), None));
    }
}
