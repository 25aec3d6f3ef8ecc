//! The `GET /metrics` handler: gathers the figures ([`crate::metrics::Figures`]) on a
//! blocking thread and answers in the format the scraper asks for: OpenMetrics when its
//! `Accept` names `application/openmetrics-text`, else the Prometheus text format.
//! Behind the API's bearer token unless `[metrics] public = true`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lookout_core::slo::{DAY_MS, HOUR_MS};
use lookout_store::Store;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::metrics::{self, Figures, SloFigures};
use crate::state::AppState;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub async fn handler(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !app.metrics_public {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let ok = given.is_some_and(|t| {
            bool::from(t.as_bytes().ct_eq(app.api_token.expose_secret().as_bytes()))
        });
        if !ok {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "/metrics needs `Authorization: Bearer <API token>` (set `[metrics] public = true` to scrape without one)",
            )
            .into_response();
        }
    }
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let a = app.clone();
    let figures = tokio::task::spawn_blocking(move || gather(&a)).await;
    let figures = match figures {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return ApiError::internal("cannot read the metrics", e).into_response(),
        Err(e) => return ApiError::internal("a metrics task failed", e).into_response(),
    };
    let text = metrics::render(&figures, &app.monitors.timings).openmetrics();
    if openmetrics {
        ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, PROMETHEUS)],
            metrics::to_prometheus(&text),
        )
            .into_response()
    }
}

/// Reads everything a scrape shows. Blocking.
fn gather(app: &AppState) -> anyhow::Result<Figures> {
    let store: &dyn Store = app.store.as_ref();
    let now = app.clock.now_ms();
    let projects: HashMap<i64, String> = store
        .list_projects()?
        .into_iter()
        .map(|p| (p.id, p.slug))
        .collect();
    let mut outcomes = Vec::new();
    for (id, slug) in &projects {
        for o in store.outcome_summary(*id, 0)? {
            outcomes.push((slug.clone(), o.outcome, o.category, o.reason, o.quantity));
        }
    }
    let issues = store
        .issue_counts()?
        .into_iter()
        .filter_map(|(p, st, n)| projects.get(&p).map(|slug| (slug.clone(), st, n)))
        .collect();
    let statuses = app.monitors.statuses();
    let day = store.downtime(now - DAY_MS, now)?;
    let month = store.downtime(now - 30 * DAY_MS, now)?;
    let monitors = store
        .list_monitors()?
        .into_iter()
        .map(|m| {
            let state = statuses
                .get(&m.id)
                .map_or(m.status.state, |s| s.state)
                .as_str();
            let uptime = |down: &HashMap<i64, i64>, span: i64| {
                // Not before the monitor existed.
                let span = span.min(now - m.created_ms);
                (span > 0).then(|| {
                    1.0 - down.get(&m.id).copied().unwrap_or(0).min(span) as f64 / span as f64
                })
            };
            (
                m.name.clone(),
                state,
                uptime(&day, DAY_MS),
                uptime(&month, 30 * DAY_MS),
            )
        })
        .collect();
    let mut incidents: HashMap<String, u64> = HashMap::new();
    for i in store.open_incidents()? {
        *incidents
            .entry(i.severity.as_str().to_string())
            .or_default() += 1;
    }
    let mut slos = Vec::new();
    for s in app.slos.all(store)? {
        let e = match crate::slo::evaluate(store, &s, now) {
            Ok(e) => e,
            Err(crate::slo::EvalError::Unknown(_)) => continue,
            Err(crate::slo::EvalError::Store(e)) => return Err(e.into()),
        };
        let mut burn = Vec::new();
        for b in &e.burn_rates {
            for (ms, v) in [(b.long_ms, b.long), (b.short_ms, b.short)] {
                let w = window_name(ms);
                if let Some(v) = v.filter(|_| !burn.iter().any(|(x, _)| x == &w)) {
                    burn.push((w, v));
                }
            }
        }
        slos.push(SloFigures {
            name: s.config.name.clone(),
            value: e.status.value.map(|v| v / 100.0),
            target: s.config.target / 100.0,
            budget_left: e.status.budget_left_percent / 100.0,
            burn,
        });
    }
    Ok(Figures {
        outcomes,
        issues,
        monitors,
        notifications: store.outbox_counts()?,
        incidents: incidents.into_iter().collect(),
        slos,
        writer_queue: app.writer.stats().queued.load(Ordering::Relaxed) as u64,
    })
}

fn window_name(ms: i64) -> String {
    if ms % DAY_MS == 0 {
        format!("{}d", ms / DAY_MS)
    } else if ms % HOUR_MS == 0 {
        format!("{}h", ms / HOUR_MS)
    } else {
        format!("{}m", ms / 60_000)
    }
}
