//! Windowed measures of the measured rules: error counts, p95 latency (from the latency
//! histograms) and the error rate after a deploy per project (read from the store), SLO
//! burn rates, health document fields per monitor
//! (from the health documents the monitors reported).

use std::collections::HashMap;

use lookout_core::alert::engine::Subject;
use lookout_core::alert::rule::{Condition, Rule};
use lookout_store::{EventCountFilter, LatencyQuery, Store, KIND_REQUEST};

/// A rule's measure of one subject.
pub(super) type Measure = (String, Subject, f64);

fn in_scope(scope: &Option<Vec<i64>>, id: i64) -> bool {
    scope.as_ref().is_none_or(|s| s.contains(&id))
}

/// The store's measures at `now` of every rule counting errors or latency, per project.
pub(super) fn stored(
    store: &dyn Store,
    projects: &[i64],
    rules: &[Rule],
    now: i64,
) -> anyhow::Result<Vec<Measure>> {
    let mut out = Vec::new();
    for rule in rules {
        match &rule.condition {
            Condition::ErrorCount {
                window_ms, filter, ..
            } => {
                let f = EventCountFilter {
                    levels: match filter.level {
                        Some(l) => vec![l],
                        None => EventCountFilter::default().levels,
                    },
                    environment: filter.environment.clone(),
                    release: filter.release.clone(),
                };
                for &p in projects.iter().filter(|p| in_scope(&rule.projects, **p)) {
                    let n = store.count_events(p, now - window_ms, now + 1, &f)?;
                    out.push((rule.name.clone(), Subject::Project(p), n as f64));
                }
            }
            Condition::ErrorRateAfterDeploy { window_ms, .. } => {
                for &p in projects.iter().filter(|p| in_scope(&rule.projects, **p)) {
                    if let Some(ratio) = after_deploy(store, p, *window_ms, now)? {
                        out.push((rule.name.clone(), Subject::Project(p), ratio));
                    }
                }
            }
            Condition::LatencyP95 { window_ms, .. } => {
                for &p in projects.iter().filter(|p| in_scope(&rule.projects, **p)) {
                    // From the latency histograms, which both transactions and segment
                    // spans feed.
                    let q = LatencyQuery {
                        kind: KIND_REQUEST,
                        owner_id: p,
                        from_ms: now - window_ms,
                        to_ms: now + 1,
                        ..LatencyQuery::default()
                    };
                    if let Some(p95) = store.latency_total(&q)?.hist.quantile(95.0) {
                        out.push((rule.name.clone(), Subject::Project(p), p95));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The `slo burn rate` measures: for each such rule and each objective it names (all of
/// them without `for`), the multiwindow burn rate over the rule's `over` window (1 hour
/// when absent) and a twelfth of it, measured on the objective's monitor or project.
pub(super) fn burn_rates(
    store: &dyn Store,
    slos: &crate::slo::Slos,
    rules: &[Rule],
    now: i64,
) -> anyhow::Result<Vec<Measure>> {
    let wanted: Vec<&Rule> = rules
        .iter()
        .filter(|r| matches!(r.condition, Condition::SloBurnRate { .. }))
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for slo in slos.all(store)? {
        let src = match crate::slo::source(store, &slo) {
            Ok(s) => s,
            Err(crate::slo::EvalError::Unknown(why)) => {
                tracing::debug!(slo = %slo.config.name, %why, "SLO not evaluated");
                continue;
            }
            Err(crate::slo::EvalError::Store(e)) => return Err(e.into()),
        };
        let Some(subject) = crate::slo::subject(&src) else {
            continue;
        };
        for rule in &wanted {
            let Condition::SloBurnRate {
                slo: name, over_ms, ..
            } = &rule.condition
            else {
                continue;
            };
            if name.as_ref().is_some_and(|n| n != &slo.config.name) {
                continue;
            }
            let long = over_ms.unwrap_or(lookout_core::slo::HOUR_MS);
            match crate::slo::multiwindow(store, &slo, &src, long, now) {
                Ok(Some(rate)) => out.push((rule.name.clone(), subject, rate)),
                Ok(None) => {}
                Err(crate::slo::EvalError::Unknown(_)) => {}
                Err(crate::slo::EvalError::Store(e)) => return Err(e.into()),
            }
        }
    }
    Ok(out)
}

/// The error rate since the project's latest serving deploy (within `window_ms` of it)
/// against the rate in as long a time before it, in the deploy's environment; 0 once the
/// window has passed or the deploy does not serve, none without a deploy. The same ratio
/// as the watch after the deploy judges by, with its default least number of errors.
fn after_deploy(
    store: &dyn Store,
    project: i64,
    window_ms: i64,
    now: i64,
) -> anyhow::Result<Option<f64>> {
    let Some(Some(d)) = store.deploys_before(project, &[now])?.pop() else {
        return Ok(None);
    };
    let serving = matches!(d.verdict.as_deref(), None | Some("passed"));
    let since = d.finished_ms.unwrap_or(d.started_ms);
    if !serving || now - since > window_ms {
        // Past the window (or rolled back) the condition no longer holds: a zero lets an
        // incident it opened clear, where no measure at all would keep it open for good.
        return Ok(Some(0.0));
    }
    // At least a minute, so the first seconds after a deploy do not compare one error
    // with silence.
    let elapsed = (now - since).max(60_000);
    let f = EventCountFilter {
        environment: Some(d.environment.clone()),
        ..EventCountFilter::default()
    };
    let after = store.count_events(project, since, now + 1, &f)?;
    let before = store.count_events(project, since - elapsed, since, &f)?;
    let min_errors = lookout_core::deploy_watch::Thresholds::default().min_errors;
    Ok(Some(lookout_core::deploy_watch::error_ratio(
        before, after, min_errors,
    )))
}

/// The health-field measures: each rule on a health field, read from the latest
/// document of every health monitor in its scope.
pub(super) fn health(rules: &[Rule], documents: &HashMap<i64, serde_json::Value>) -> Vec<Measure> {
    let mut out = Vec::new();
    for rule in rules {
        let Condition::HealthField { path, .. } = &rule.condition else {
            continue;
        };
        for (&monitor, checks) in documents {
            if !in_scope(&rule.monitors, monitor) {
                continue;
            }
            if let Some(v) = health_value(checks, path) {
                out.push((rule.name.clone(), Subject::Monitor(monitor), v));
            }
        }
    }
    out
}

/// A number in a health document's `checks`, by dotted path (`memory.percentage`).
fn health_value(checks: &serde_json::Value, path: &str) -> Option<f64> {
    let mut v = checks;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    v.as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_core::alert::Severity;
    use serde_json::json;

    #[test]
    fn health_fields_are_read_by_path_for_monitors_in_scope() {
        let memory = Condition::parse("health memory > 90%").unwrap();
        let mut scoped = Rule::new("Memory", memory.clone(), Severity::High);
        scoped.monitors = Some(vec![1]);
        let all = Rule::new(
            "Latency",
            Condition::parse("health database.latency > 100ms").unwrap(),
            Severity::Low,
        );
        let docs = HashMap::from([
            (
                1,
                json!({"memory": {"percentage": 93.5}, "database": {"latency": 120}}),
            ),
            (
                2,
                json!({"memory": {"percentage": 40}, "database": {"status": "ok"}}),
            ),
        ]);
        let mut got = health(&[scoped, all], &docs);
        got.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        assert_eq!(
            got,
            vec![
                ("Latency".to_string(), Subject::Monitor(1), 120.0),
                ("Memory".to_string(), Subject::Monitor(1), 93.5),
            ]
        );
    }
}
