//! Service level objectives: their definitions (`[[slos]]` in the config, or created
//! through the API) and how each kind counts good and total events from the store. The
//! arithmetic (budgets, burn rates, multiwindow alerts) is `lookout_core::slo`.
//!
//! | kind | an event | good when |
//! |---|---|---|
//! | `availability` | a check of the monitor (or of each monitor of the group), outside maintenance | up or degraded |
//! | `errors_per_hour` | an hour of the project | fewer errors than `threshold` |
//! | `error_ratio` | a request (transaction or segment span) | it did not fail |
//! | `latency` | a request | faster than `threshold` |
//! | `health_latency` | a health document's sub-check (`check`) | its latency under `threshold` |

use std::sync::Arc;

use lookout_core::slo::{
    self, BurnAlert, BurnWindow, Counts, Status, Window, DAY_MS, DEFAULT_BURN_WINDOWS, HOUR_MS,
};
use lookout_store::{
    CheckOutcome, EventCountFilter, LatencyQuery, Resolution, Store, KIND_HEALTH, KIND_REQUEST,
};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// What an objective measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloKind {
    /// Share of a monitor's checks that were up.
    Availability,
    /// Share of hours with fewer errors than the threshold.
    ErrorsPerHour,
    /// Share of requests that did not fail.
    ErrorRatio,
    /// Share of requests faster than the threshold.
    Latency,
    /// Share of a health sub-check's readings under the threshold.
    HealthLatency,
}

impl SloKind {
    /// Its name in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            SloKind::Availability => "availability",
            SloKind::ErrorsPerHour => "errors_per_hour",
            SloKind::ErrorRatio => "error_ratio",
            SloKind::Latency => "latency",
            SloKind::HealthLatency => "health_latency",
        }
    }
}

/// A threshold: a number, or a duration such as `"500ms"` or `"1s"` (in ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    /// A plain number (errors per hour, or milliseconds).
    Number(f64),
    /// A duration.
    Text(String),
}

/// One `[[slos]]` entry, or the body of `POST /api/v1/slos`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    /// Unique name.
    pub name: String,
    /// availability, errors_per_hour, error_ratio, latency or health_latency.
    #[schema(value_type = String)]
    pub kind: SloKind,
    /// The monitor (availability, health_latency), by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// Monitors counted together (availability), by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Vec<String>>,
    /// The project (errors_per_hour, error_ratio, latency), by slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Only this transaction (error_ratio, latency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction: Option<String>,
    /// The health document's sub-check (health_latency), e.g. `database`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Errors per hour (errors_per_hour) or a duration like "500ms" (latency kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub threshold: Option<Threshold>,
    /// Percent of good events aimed for, e.g. 99.9.
    pub target: f64,
    /// "30d" (the default; any whole number of days) or "calendar_month".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

/// Where an objective's events come from, resolved from names.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Checks of these monitors.
    Monitors(Vec<i64>),
    /// Hours of a project.
    ProjectHours(i64),
    /// Requests of a project, maybe of one transaction.
    Requests(i64, Option<String>),
    /// Readings of a monitor's health sub-check.
    HealthCheck(i64, String),
}

/// A validated objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// As given.
    pub config: SloConfig,
    /// Whether it came from the config file (read-only through the API).
    pub from_config: bool,
    /// The threshold in ms, or in errors per hour.
    pub threshold: Option<f64>,
    /// The window.
    pub window: Window,
}

impl SloConfig {
    /// Checks the definition; the error names the key and says what to do.
    pub fn validate(&self, from_config: bool) -> Result<Slo, (&'static str, String)> {
        if self.name.trim().is_empty() {
            return Err(("name", "give the objective a name".into()));
        }
        if !(self.target > 0.0 && self.target < 100.0) {
            return Err((
                "target",
                format!(
                    "{} is not a percentage between 0 and 100 (exclusive); write e.g. 99.9",
                    self.target
                ),
            ));
        }
        let window = match self.window.as_deref().unwrap_or("30d") {
            "calendar_month" => Window::CalendarMonth,
            w => {
                let days = w
                    .strip_suffix('d')
                    .and_then(|d| d.parse::<i64>().ok())
                    .filter(|d| (1..=400).contains(d))
                    .ok_or((
                        "window",
                        format!("\"{w}\" is not a window: write a number of days like \"30d\" (1 to 400), or \"calendar_month\""),
                    ))?;
                Window::Rolling(days * DAY_MS)
            }
        };
        let k = self.kind.as_str();
        let needs = |key: &'static str, present: bool| {
            if present {
                Ok(())
            } else {
                Err((key, format!("a `{k}` objective needs `{key}`")))
            }
        };
        let refuses = |key: &'static str, present: bool| {
            if present {
                Err((key, format!("a `{k}` objective does not take `{key}`")))
            } else {
                Ok(())
            }
        };
        let threshold = match &self.threshold {
            None => None,
            Some(t) => Some(parse_threshold(self.kind, t)?),
        };
        match self.kind {
            SloKind::Availability => {
                if self.monitor.is_some() == self.group.is_some() {
                    return Err((
                        "monitor",
                        "an `availability` objective needs either `monitor` (one name) or `group` (a list of monitor names)".into(),
                    ));
                }
                if self.group.as_ref().is_some_and(Vec::is_empty) {
                    return Err(("group", "list at least one monitor name".into()));
                }
                refuses("project", self.project.is_some())?;
                refuses("threshold", threshold.is_some())?;
                refuses("check", self.check.is_some())?;
                refuses("transaction", self.transaction.is_some())?;
            }
            SloKind::ErrorsPerHour => {
                needs("project", self.project.is_some())?;
                needs("threshold", threshold.is_some())?;
                refuses("monitor", self.monitor.is_some() || self.group.is_some())?;
                refuses("transaction", self.transaction.is_some())?;
                refuses("check", self.check.is_some())?;
            }
            SloKind::ErrorRatio | SloKind::Latency => {
                needs("project", self.project.is_some())?;
                if self.kind == SloKind::Latency {
                    needs("threshold", threshold.is_some())?;
                } else {
                    refuses("threshold", threshold.is_some())?;
                }
                refuses("monitor", self.monitor.is_some() || self.group.is_some())?;
                refuses("check", self.check.is_some())?;
            }
            SloKind::HealthLatency => {
                needs("monitor", self.monitor.is_some())?;
                needs("check", self.check.is_some())?;
                needs("threshold", threshold.is_some())?;
                refuses("group", self.group.is_some())?;
                refuses("project", self.project.is_some())?;
                refuses("transaction", self.transaction.is_some())?;
            }
        }
        Ok(Slo {
            config: self.clone(),
            from_config,
            threshold,
            window,
        })
    }
}

fn parse_threshold(kind: SloKind, t: &Threshold) -> Result<f64, (&'static str, String)> {
    let v = match (kind, t) {
        (_, Threshold::Number(n)) => *n,
        (SloKind::ErrorsPerHour, Threshold::Text(s)) => s.trim().parse().map_err(|_| {
            (
                "threshold",
                format!("\"{s}\" is not a number of errors per hour; write e.g. 10"),
            )
        })?,
        (_, Threshold::Text(s)) => humantime::parse_duration(s.trim())
            .map(|d| d.as_secs_f64() * 1000.0)
            .map_err(|e| {
                (
                    "threshold",
                    format!("\"{s}\" is not a duration ({e}); write e.g. \"500ms\""),
                )
            })?,
    };
    if !(v.is_finite() && v > 0.0) {
        return Err(("threshold", format!("{v} must be more than 0")));
    }
    Ok(v)
}

/// The objectives of the config file and of the API, as the API and the alert loop read
/// them.
#[derive(Default)]
pub struct Slos {
    config: RwLock<Vec<Slo>>,
}

impl Slos {
    /// The objectives of the config file, validated.
    pub fn new(config: Vec<Slo>) -> Arc<Self> {
        Arc::new(Slos {
            config: RwLock::new(config),
        })
    }

    /// Every objective: the config file's, then the API's (blocking: reads the store).
    pub fn all(&self, store: &dyn Store) -> lookout_store::Result<Vec<Slo>> {
        let mut out = self.config.read().clone();
        for s in store.list_slos()? {
            match serde_json::from_value::<SloConfig>(s.spec)
                .map_err(|e| ("spec", e.to_string()))
                .and_then(|c| c.validate(false))
            {
                Ok(slo) if !out.iter().any(|o| o.config.name == slo.config.name) => out.push(slo),
                Ok(_) => {}
                Err((key, e)) => {
                    tracing::warn!(slo = %s.name, key, error = %e, "a stored SLO is not valid; skipped");
                }
            }
        }
        Ok(out)
    }

    /// Whether a name belongs to the config file.
    pub fn in_config(&self, name: &str) -> bool {
        self.config.read().iter().any(|s| s.config.name == name)
    }
}

/// Why an objective cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A monitor or project it names does not exist.
    #[error("{0}")]
    Unknown(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] lookout_store::StoreError),
}

/// Resolves an objective's names to ids.
pub fn source(store: &dyn Store, slo: &Slo) -> Result<Source, EvalError> {
    let c = &slo.config;
    let monitor_ids = |names: &[String]| -> Result<Vec<i64>, EvalError> {
        let all = store.list_monitors()?;
        names
            .iter()
            .map(|n| {
                all.iter()
                    .find(|m| &m.name == n)
                    .map(|m| m.id)
                    .ok_or_else(|| EvalError::Unknown(format!("no monitor named \"{n}\"")))
            })
            .collect()
    };
    let project = || -> Result<i64, EvalError> {
        let slug = c.project.as_deref().unwrap_or_default();
        let found = match slug.parse::<i64>() {
            Ok(id) => store.get_project(id)?,
            Err(_) => store.get_project_by_slug(slug)?,
        };
        found
            .map(|p| p.id)
            .ok_or_else(|| EvalError::Unknown(format!("no project \"{slug}\"")))
    };
    Ok(match c.kind {
        SloKind::Availability => match (&c.monitor, &c.group) {
            (Some(m), _) => Source::Monitors(monitor_ids(std::slice::from_ref(m))?),
            (None, Some(g)) => Source::Monitors(monitor_ids(g)?),
            (None, None) => Source::Monitors(Vec::new()),
        },
        SloKind::ErrorsPerHour => Source::ProjectHours(project()?),
        SloKind::ErrorRatio | SloKind::Latency => {
            Source::Requests(project()?, c.transaction.clone())
        }
        SloKind::HealthLatency => {
            let m = monitor_ids(std::slice::from_ref(
                c.monitor.as_ref().unwrap_or(&String::new()),
            ))?;
            Source::HealthCheck(m[0], c.check.clone().unwrap_or_default())
        }
    })
}

/// Good and total events of `[from_ms, to_ms)` per period of `step_ms` (periods start at
/// multiples of it), oldest first, periods without events left out.
pub fn series(
    store: &dyn Store,
    slo: &Slo,
    src: &Source,
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
) -> Result<Vec<(i64, Counts)>, EvalError> {
    let mut out: std::collections::BTreeMap<i64, Counts> = Default::default();
    let mut add = |at: i64, c: Counts| {
        let e = out.entry(at.div_euclid(step_ms) * step_ms).or_default();
        *e = *e + c;
    };
    match src {
        Source::Monitors(ids) => {
            for &id in ids {
                availability(store, id, from_ms, to_ms, &mut add)?;
            }
        }
        Source::ProjectHours(p) => {
            let limit = slo.threshold.unwrap_or(f64::INFINITY);
            let counts: std::collections::HashMap<i64, u64> = store
                .count_events_by_hour(*p, from_ms, to_ms, &EventCountFilter::default())?
                .into_iter()
                .collect();
            let mut h = from_ms.div_euclid(HOUR_MS) * HOUR_MS;
            while h < to_ms {
                let end = (h + HOUR_MS).min(to_ms);
                // An hour cut by the range counts the errors inside the range only, as
                // the query does.
                let n = counts.get(&h).copied().unwrap_or(0);
                let bad = n as f64 >= limit;
                // An hour still running counts once it is bad; until then it may yet be.
                if end == h + HOUR_MS || bad {
                    add(h, Counts::new(if bad { 0.0 } else { 1.0 }, 1.0));
                }
                h += HOUR_MS;
            }
        }
        Source::Requests(p, name) => {
            let q = LatencyQuery {
                kind: KIND_REQUEST,
                owner_id: *p,
                from_ms,
                to_ms,
                name: name.clone(),
                ..LatencyQuery::default()
            };
            for s in store.latency_series(&q, step_ms.max(60_000))? {
                let total = s.hist.count() as f64;
                let good = match slo.config.kind {
                    SloKind::Latency => s.hist.count_under(slo.threshold.unwrap_or(0.0)) as f64,
                    _ => total - s.errors as f64,
                };
                add(s.start_ms, Counts::new(good, total));
            }
        }
        Source::HealthCheck(m, check) => {
            let q = LatencyQuery {
                kind: KIND_HEALTH,
                owner_id: *m,
                from_ms,
                to_ms,
                name: Some(check.clone()),
                ..LatencyQuery::default()
            };
            for s in store.latency_series(&q, step_ms.max(60_000))? {
                let good = s.hist.count_under(slo.threshold.unwrap_or(0.0)) as f64;
                add(s.start_ms, Counts::new(good, s.hist.count() as f64));
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// A monitor's checks in `[from_ms, to_ms)`: raw results where they are kept, hour
/// roll-ups before. Checks in maintenance windows are left out. A roll-up does not say
/// which of its failures fell in maintenance, so its failures are taken to be in
/// maintenance first (maintenance never burns budget; a failure next to it in the same
/// hour may go uncounted).
fn availability(
    store: &dyn Store,
    id: i64,
    from_ms: i64,
    to_ms: i64,
    add: &mut impl FnMut(i64, Counts),
) -> Result<(), EvalError> {
    let raw = store.check_results(id, from_ms, to_ms, u32::MAX)?;
    let oldest_raw = raw.iter().map(|r| r.at_ms).min();
    for r in &raw {
        if r.maintenance {
            continue;
        }
        let good = if r.outcome == CheckOutcome::Down {
            0.0
        } else {
            1.0
        };
        add(r.at_ms, Counts::new(good, 1.0));
    }
    // Hours wholly before the raw results.
    let raw_start = oldest_raw.unwrap_or(to_ms);
    let hours_end = raw_start.div_euclid(HOUR_MS) * HOUR_MS;
    if hours_end > from_ms {
        for r in store.check_rollups(id, Resolution::Hour, from_ms, hours_end)? {
            let total = f64::from(r.count.saturating_sub(r.maintenance));
            let bad = f64::from(r.failures.saturating_sub(r.maintenance));
            if total > 0.0 {
                add(r.start_ms, Counts::new(total - bad.min(total), total));
            }
        }
    }
    Ok(())
}

/// Good and total events over `[from_ms, to_ms)`.
pub fn total(
    store: &dyn Store,
    slo: &Slo,
    src: &Source,
    from_ms: i64,
    to_ms: i64,
) -> Result<Counts, EvalError> {
    let step = (to_ms - from_ms).max(60_000);
    let step = (step + 59_999) / 60_000 * 60_000;
    Ok(series(store, slo, src, from_ms, to_ms, step)?
        .into_iter()
        .fold(Counts::default(), |a, (_, c)| a + c))
}

/// The burn rate of one multiwindow pair.
#[derive(Debug, Clone, Serialize)]
pub struct BurnRate {
    /// page or ticket.
    pub alert: BurnAlert,
    /// The rate to reach.
    pub factor: f64,
    /// The long window, ms.
    pub long_ms: i64,
    /// The short window, ms.
    pub short_ms: i64,
    /// The burn rate over the long window.
    pub long: Option<f64>,
    /// The burn rate over the short window.
    pub short: Option<f64>,
    /// Both over the factor.
    pub firing: bool,
}

/// An objective's full state.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Budget, value and history.
    pub status: Status,
    /// The four multiwindow burn rates.
    pub burn_rates: Vec<BurnRate>,
    /// The strongest alert firing.
    pub alert: Option<BurnAlert>,
    /// Start of the window, Unix ms.
    pub window_start_ms: i64,
}

/// Evaluates an objective at `now_ms`.
pub fn evaluate(store: &dyn Store, slo: &Slo, now_ms: i64) -> Result<Evaluation, EvalError> {
    let src = source(store, slo)?;
    let start = slo::window_start(now_ms, slo.window);
    let days = series(store, slo, &src, start, now_ms + 1, DAY_MS)?;
    let last_hour = total(store, slo, &src, now_ms - HOUR_MS, now_ms + 1)?;
    let status = slo::evaluate(
        slo.config.target,
        slo::window_length_ms(now_ms, slo.window),
        &days,
        last_hour,
    );
    let burn_rates: Vec<BurnRate> = DEFAULT_BURN_WINDOWS
        .iter()
        .map(|w| burn_rate(store, slo, &src, w, now_ms))
        .collect::<Result<_, _>>()?;
    let alert = if burn_rates
        .iter()
        .any(|b| b.firing && b.alert == BurnAlert::Page)
    {
        Some(BurnAlert::Page)
    } else if burn_rates.iter().any(|b| b.firing) {
        Some(BurnAlert::Ticket)
    } else {
        None
    };
    Ok(Evaluation {
        status,
        burn_rates,
        alert,
        window_start_ms: start,
    })
}

fn burn_rate(
    store: &dyn Store,
    slo: &Slo,
    src: &Source,
    w: &BurnWindow,
    now_ms: i64,
) -> Result<BurnRate, EvalError> {
    let target = slo.config.target;
    let long = slo::burn_rate(
        total(store, slo, src, now_ms - w.long_ms, now_ms + 1)?,
        target,
    );
    let short = slo::burn_rate(
        total(store, slo, src, now_ms - w.short_ms, now_ms + 1)?,
        target,
    );
    Ok(BurnRate {
        alert: w.alert,
        factor: w.factor,
        long_ms: w.long_ms,
        short_ms: w.short_ms,
        long,
        short,
        firing: matches!((long, short), (Some(l), Some(s)) if l.min(s) >= w.factor),
    })
}

/// The multiwindow burn rate over `long_ms` and its short window (a twelfth of it): what
/// the `slo burn rate` rule condition compares.
pub fn multiwindow(
    store: &dyn Store,
    slo: &Slo,
    src: &Source,
    long_ms: i64,
    now_ms: i64,
) -> Result<Option<f64>, EvalError> {
    let short_ms = slo::short_window_ms(long_ms);
    let long = total(store, slo, src, now_ms - long_ms, now_ms + 1)?;
    let short = total(store, slo, src, now_ms - short_ms, now_ms + 1)?;
    Ok(slo::multiwindow_burn(long, short, slo.config.target))
}

/// The alert subject of an objective: its monitor, or its project.
pub fn subject(src: &Source) -> Option<lookout_core::alert::engine::Subject> {
    use lookout_core::alert::engine::Subject;
    match src {
        Source::Monitors(ids) => ids.first().map(|&m| Subject::Monitor(m)),
        Source::HealthCheck(m, _) => Some(Subject::Monitor(*m)),
        Source::ProjectHours(p) | Source::Requests(p, _) => Some(Subject::Project(*p)),
    }
}

/// The latency samples of a health document's sub-checks: each `checks.NAME` object with a
/// number under `latency`, `latency_ms`, `duration`, `duration_ms` or `responseTime` (ms).
pub fn health_samples(
    monitor_id: i64,
    at_ms: i64,
    checks: &serde_json::Value,
) -> Vec<lookout_store::LatencySample> {
    let Some(map) = checks.as_object() else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(name, v)| {
            let ms = [
                "latency",
                "latency_ms",
                "duration",
                "duration_ms",
                "responseTime",
            ]
            .iter()
            .find_map(|k| v.get(k).and_then(serde_json::Value::as_f64))?;
            let status = v.get("status").and_then(serde_json::Value::as_str);
            Some(lookout_store::LatencySample {
                kind: KIND_HEALTH,
                owner_id: monitor_id,
                name: name.clone(),
                release: String::new(),
                environment: String::new(),
                at_ms,
                duration_ms: ms,
                error: status.is_some_and(|s| s != "ok" && s != "healthy" && s != "up"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Slo, (&'static str, String)> {
        let c: SloConfig = toml::from_str(toml_text).map_err(|e| ("toml", e.to_string()))?;
        c.validate(true)
    }

    #[test]
    fn reference_objectives_validate() {
        let s = parse(
            "name = \"Uptime\"\nkind = \"availability\"\nmonitor = \"Homepage\"\ntarget = 99.9",
        )
        .unwrap();
        assert_eq!(s.window, Window::Rolling(30 * DAY_MS));
        let s = parse("name = \"p95\"\nkind = \"latency\"\nproject = \"web\"\nthreshold = \"500ms\"\ntarget = 95\nwindow = \"calendar_month\"").unwrap();
        assert_eq!(s.threshold, Some(500.0));
        assert_eq!(s.window, Window::CalendarMonth);
        let s = parse("name = \"errors\"\nkind = \"errors_per_hour\"\nproject = \"web\"\nthreshold = 10\ntarget = 99").unwrap();
        assert_eq!(s.threshold, Some(10.0));
        let s = parse("name = \"db\"\nkind = \"health_latency\"\nmonitor = \"Health\"\ncheck = \"database\"\nthreshold = \"100ms\"\ntarget = 99\nwindow = \"7d\"").unwrap();
        assert_eq!(s.window, Window::Rolling(7 * DAY_MS));
    }

    #[test]
    fn bad_definitions_name_the_key() {
        let cases = [
            ("name = \"a\"\nkind = \"availability\"\ntarget = 99.9", "monitor"),
            ("name = \"a\"\nkind = \"availability\"\nmonitor = \"x\"\ntarget = 100", "target"),
            ("name = \"a\"\nkind = \"latency\"\nproject = \"w\"\ntarget = 99", "threshold"),
            ("name = \"a\"\nkind = \"latency\"\nproject = \"w\"\nthreshold = \"fast\"\ntarget = 99", "threshold"),
            ("name = \"a\"\nkind = \"availability\"\nmonitor = \"x\"\ntarget = 99\nwindow = \"month\"", "window"),
            ("name = \"a\"\nkind = \"health_latency\"\nmonitor = \"x\"\nthreshold = 100\ntarget = 99", "check"),
            ("name = \"a\"\nkind = \"error_ratio\"\nproject = \"w\"\nmonitor = \"x\"\ntarget = 99", "monitor"),
        ];
        for (text, key) in cases {
            let (k, msg) = parse(text).unwrap_err();
            assert_eq!(k, key, "{text}: {msg}");
            assert!(!msg.is_empty());
        }
        assert!(parse("name = \"a\"\nkind = \"uptime\"\ntarget = 99").is_err());
    }

    #[test]
    fn health_documents_give_sub_check_latencies() {
        let doc = serde_json::json!({
            "database": {"status": "ok", "latency": 23},
            "memory": {"percentage": 24.1, "status": "ok"},
            "cache": {"status": "error", "duration_ms": 900.5}
        });
        let mut got = health_samples(4, 1_000, &doc);
        got.sort_by(|a, b| a.name.cmp(&b.name));
        let summary: Vec<(&str, f64, bool)> = got
            .iter()
            .map(|s| (s.name.as_str(), s.duration_ms, s.error))
            .collect();
        assert_eq!(summary, [("cache", 900.5, true), ("database", 23.0, false)]);
    }
}
