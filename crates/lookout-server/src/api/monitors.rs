//! Monitors: list with state, uptime, latency and outages; create, update, delete, pause;
//! raw results, roll-ups, outages and uptime for a range; maintenance windows; scheduler
//! figures.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lookout_store::{
    LatencySummary, Monitor, MonitorSource, MonitorStatus, NewMaintenance, NewMonitor, Outage,
    Resolution, StoreError,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::blocking;
use crate::error::ApiError;
use crate::monitors::spec::{MonitorConfig, MonitorKind};
use crate::monitors::sync::{def_of, new_token};
use crate::state::AppState;
use crate::time_fmt::iso;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The uptime ranges every monitor shows.
const RANGES: [(&str, i64); 4] = [
    ("24h", DAY_MS),
    ("7d", 7 * DAY_MS),
    ("30d", 30 * DAY_MS),
    ("90d", 90 * DAY_MS),
];
/// Past this many monitors, the list leaves out per-monitor latency and outages (one
/// query each) unless asked for with `?details=true`.
const DETAILS_UP_TO: usize = 200;

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a monitor id")))
}

/// Uptime over `[from, to)`, as a percentage, given the downtime in it. Time before the
/// monitor existed is not counted, so a monitor created an hour ago with no outage shows
/// 100 %, not 4 %.
fn uptime_pct(created_ms: i64, from: i64, to: i64, downtime_ms: i64) -> Option<f64> {
    let from = from.max(created_ms);
    let span = to - from;
    if span <= 0 {
        return None;
    }
    let pct = 100.0 * (1.0 - downtime_ms.min(span) as f64 / span as f64);
    Some((pct * 1000.0).round() / 1000.0)
}

/// Uptime for each of [`RANGES`] ending now, given each range's downtime in order.
fn uptime_json(created_ms: i64, now: i64, downtimes: impl Iterator<Item = i64>) -> Value {
    RANGES
        .iter()
        .zip(downtimes)
        .map(|((label, span), down)| {
            (
                label.to_string(),
                json!(uptime_pct(created_ms, now - span, now, down)),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn status_json(s: &MonitorStatus) -> Value {
    json!({
        "state": s.state.as_str(),
        "last_check": s.last_check_ms.map(iso),
        "last_latency_ms": s.last_latency_ms,
        "last_error": s.last_error,
        "down_since": s.down_since_ms.map(iso),
        "tls_expires": s.tls_expires_ms.map(iso),
        "running_since": s.running_since_ms.map(iso),
    })
}

fn outage_json(o: &Outage, now: i64) -> Value {
    json!({
        "id": o.id,
        "start": iso(o.start_ms),
        "end": o.end_ms.map(iso),
        "duration_ms": o.end_ms.unwrap_or(now) - o.start_ms,
        "ongoing": o.end_ms.is_none(),
        "cause": o.cause,
    })
}

fn latency_json(l: &LatencySummary) -> Value {
    json!({
        "count": l.count,
        "failures": l.failures,
        "p50_ms": l.p50_ms,
        "p95_ms": l.p95_ms,
        "p99_ms": l.p99_ms,
        "max_ms": l.max_ms,
    })
}

fn monitor_json(app: &AppState, m: &Monitor, status: &MonitorStatus) -> Value {
    let mut v = json!({
        "id": m.id,
        "name": m.name,
        "kind": m.kind,
        "project_id": m.project_id,
        "source": m.source,
        "paused": m.paused,
        "created": iso(m.created_ms),
        "updated": iso(m.updated_ms),
        "spec": m.spec,
        "status": status_json(status),
    });
    if let Some(t) = &m.token {
        v["ping_url"] = json!(format!("{}/ping/{t}", app.public_url.trim_end_matches('/')));
    }
    if let Some(s) = &m.slug {
        v["slug"] = json!(s);
    }
    v["status"]["next_check"] = json!(app.monitors.next_check(m.id).map(iso));
    if let Some((timings, http_status)) = app.monitors.last_timings(m.id) {
        v["status"]["timings_ms"] = json!(timings);
        v["status"]["http_status"] = json!(http_status);
    }
    v
}

/// The live status when the scheduler has the monitor, else the stored one.
fn live_status(app: &AppState, m: &Monitor) -> MonitorStatus {
    app.monitors
        .status(m.id)
        .unwrap_or_else(|| m.status.clone())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    details: Option<bool>,
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = app.clock.now_ms();
    let (monitors, downtimes) = blocking(&app, move |s| {
        let monitors = s.list_monitors()?;
        let mut downtimes = Vec::new();
        for (_, span) in RANGES {
            downtimes.push(s.downtime(now - span, now)?);
        }
        Ok((monitors, downtimes))
    })
    .await?;
    let details = q.details.unwrap_or(monitors.len() <= DETAILS_UP_TO);
    let extra = if details {
        let ids: Vec<i64> = monitors.iter().map(|m| m.id).collect();
        blocking(&app, move |s| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.push((
                    s.latency_summary(id, now - DAY_MS, now + 1)?,
                    s.outages(id, now - 30 * DAY_MS, now, 5)?,
                ));
            }
            Ok(out)
        })
        .await?
        .into_iter()
        .map(Some)
        .collect()
    } else {
        vec![None; monitors.len()]
    };
    let statuses = app.monitors.statuses();
    let out: Vec<Value> = monitors
        .iter()
        .zip(extra)
        .map(|(m, extra)| {
            let status = statuses
                .get(&m.id)
                .cloned()
                .unwrap_or_else(|| m.status.clone());
            let mut v = monitor_json(&app, m, &status);
            let down = downtimes
                .iter()
                .map(|dt| dt.get(&m.id).copied().unwrap_or(0));
            v["uptime"] = uptime_json(m.created_ms, now, down);
            if let Some((lat, outages)) = extra {
                v["latency_24h"] = latency_json(&lat);
                v["recent_outages"] = outages.iter().map(|o| outage_json(o, now)).collect();
            }
            v
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let now = app.clock.now_ms();
    let (m, downtimes, lat, outages) = blocking(&app, move |s| {
        let m = s.get_monitor(id)?;
        let mut downtimes = Vec::new();
        for (_, span) in RANGES {
            downtimes.push(s.downtime(now - span, now)?.get(&id).copied().unwrap_or(0));
        }
        Ok((
            m,
            downtimes,
            s.latency_summary(id, now - DAY_MS, now + 1)?,
            s.outages(id, now - 90 * DAY_MS, now, 20)?,
        ))
    })
    .await?;
    let m = m.ok_or_else(|| ApiError::not_found(format!("no monitor {id}")))?;
    let mut v = monitor_json(&app, &m, &live_status(&app, &m));
    v["uptime"] = uptime_json(m.created_ms, now, downtimes.into_iter());
    v["latency_24h"] = latency_json(&lat);
    v["recent_outages"] = outages.iter().map(|o| outage_json(o, now)).collect();
    Ok(Json(v))
}

/// Validates a definition and resolves its project; the 400 names the key.
async fn prepare(
    app: &Arc<AppState>,
    body: Result<Json<MonitorConfig>, JsonRejection>,
) -> Result<(MonitorConfig, Option<i64>), ApiError> {
    let Json(config) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    config
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let project_id = match &config.project {
        None => None,
        Some(slug) => {
            let p = super::find_project(app, slug.clone()).await.map_err(|_| {
                ApiError::bad_request(format!(
                    "monitor \"{}\": project: no project `{slug}`",
                    config.name
                ))
            })?;
            Some(p.id)
        }
    };
    Ok((config, project_id))
}

fn new_monitor(
    config: &MonitorConfig,
    project_id: Option<i64>,
    token: Option<String>,
    now: i64,
) -> NewMonitor {
    NewMonitor {
        name: config.name.clone(),
        kind: config.kind.as_str().to_string(),
        spec: serde_json::to_value(config).unwrap_or_default(),
        source: MonitorSource::Api,
        project_id,
        token,
        slug: config.slug.clone(),
        now_ms: now,
    }
}

/// Store calls whose `Conflict` becomes a 409 with the store's message.
async fn blocking_conflict<T, F>(app: &Arc<AppState>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn lookout_store::Store) -> lookout_store::Result<T> + Send + 'static,
{
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(StoreError::Conflict(m))) => Err(ApiError::new(StatusCode::CONFLICT, m)),
        Ok(Err(e)) => Err(ApiError::internal("the database reported an error", e)),
        Err(e) => Err(ApiError::internal("a database task failed", e)),
    }
}

pub async fn create(
    State(app): State<Arc<AppState>>,
    body: Result<Json<MonitorConfig>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (config, project_id) = prepare(&app, body).await?;
    let token = match (config.kind, &config.token) {
        (_, Some(t)) => Some(t.clone()),
        (MonitorKind::Heartbeat, None) => Some(new_token()),
        _ => None,
    };
    let new = new_monitor(&config, project_id, token, app.clock.now_ms());
    let m = blocking_conflict(&app, move |s| s.create_monitor(&new)).await?;
    let def = def_of(&m).map_err(ApiError::bad_request)?;
    app.monitors.add_new(m.clone(), def);
    tracing::info!(monitor = %m.name, id = m.id, kind = %m.kind, "monitor created");
    // Checked at once: the answer carries the first result.
    app.monitors.first_result(m.id).await;
    let v = monitor_json(&app, &m, &live_status(&app, &m));
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn load(app: &Arc<AppState>, id: i64) -> Result<Monitor, ApiError> {
    blocking(app, move |s| s.get_monitor(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no monitor {id}")))
}

fn refuse_config(m: &Monitor, verb: &str) -> Result<(), ApiError> {
    if m.source == MonitorSource::Config {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "monitor \"{}\" is declared in the config file; {verb} it there (the file wins at the next start)",
                m.name
            ),
        ));
    }
    Ok(())
}

pub async fn update(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Result<Json<MonitorConfig>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let existing = load(&app, id).await?;
    refuse_config(&existing, "edit")?;
    let (config, project_id) = prepare(&app, body).await?;
    let token = match (config.kind, &config.token) {
        (_, Some(t)) => Some(t.clone()),
        (MonitorKind::Heartbeat, None) => existing.token.clone().or_else(|| Some(new_token())),
        _ => None,
    };
    let mut new = new_monitor(&config, project_id, token, app.clock.now_ms());
    new.source = existing.source;
    let m = blocking_conflict(&app, move |s| s.update_monitor(id, &new))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no monitor {id}")))?;
    let def = def_of(&m).map_err(ApiError::bad_request)?;
    app.monitors.upsert(m.clone(), def);
    Ok(Json(monitor_json(&app, &m, &live_status(&app, &m))))
}

pub async fn delete(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let existing = load(&app, id).await?;
    refuse_config(&existing, "delete")?;
    blocking(&app, move |s| s.delete_monitor(id)).await?;
    app.monitors.remove(id);
    tracing::info!(monitor = %existing.name, id, "monitor deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn action(
    State(app): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let paused = match action.as_str() {
        "pause" => true,
        "resume" => false,
        other => {
            return Err(ApiError::not_found(format!(
                "no action `{other}`: use pause or resume"
            )))
        }
    };
    let now = app.clock.now_ms();
    let found = blocking(&app, move |s| s.set_monitor_paused(id, paused, now)).await?;
    if !found {
        return Err(ApiError::not_found(format!("no monitor {id}")));
    }
    app.monitors.set_paused(id, paused);
    let m = load(&app, id).await?;
    Ok(Json(monitor_json(&app, &m, &live_status(&app, &m))))
}

/// A time given as Unix milliseconds or RFC 3339.
fn parse_time(key: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    crate::time_fmt::parse(v).map_err(|_| {
        ApiError::bad_request(format!(
            "{key}: `{v}` is neither Unix milliseconds nor an RFC 3339 time"
        ))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
    resolution: Option<String>,
}

/// The query and the monitor of a per-monitor history request.
async fn ranged(
    app: &Arc<AppState>,
    id: &str,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<(RangeQuery, i64, Monitor), ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = parse_id(id)?;
    let m = load(app, id).await?;
    Ok((q, id, m))
}

/// The range asked for, defaulting to the `default_span` before now.
fn range(q: &RangeQuery, now: i64, default_span: i64) -> Result<(i64, i64), ApiError> {
    let to =
        q.to.as_deref()
            .map(|v| parse_time("to", v))
            .transpose()?
            .unwrap_or(now + 1);
    let from = q
        .from
        .as_deref()
        .map(|v| parse_time("from", v))
        .transpose()?
        .unwrap_or(to - default_span);
    if from >= to {
        return Err(ApiError::bad_request("from must be before to"));
    }
    Ok((from, to))
}

pub async fn results(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (q, id, _) = ranged(&app, &id, query).await?;
    let (from, to) = range(&q, app.clock.now_ms(), DAY_MS)?;
    let limit = q.limit.unwrap_or(1_000).clamp(1, 10_000);
    let rows = blocking(&app, move |s| s.check_results(id, from, to, limit)).await?;
    Ok(Json(
        rows.iter()
            .map(|r| {
                json!({
                    "at": iso(r.at_ms),
                    "outcome": r.outcome,
                    "latency_ms": r.latency_ms,
                    "maintenance": r.maintenance,
                    "error": r.error,
                })
            })
            .collect(),
    ))
}

pub async fn rollups(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (q, id, _) = ranged(&app, &id, query).await?;
    let resolution = match q.resolution.as_deref().unwrap_or("hour") {
        "minute" => Resolution::Minute,
        "hour" => Resolution::Hour,
        "day" => Resolution::Day,
        other => {
            return Err(ApiError::bad_request(format!(
                "resolution `{other}` is unknown: use minute, hour or day"
            )))
        }
    };
    let span = match resolution {
        Resolution::Minute => 6 * HOUR_MS,
        Resolution::Hour => 7 * DAY_MS,
        Resolution::Day => 90 * DAY_MS,
    };
    let (from, to) = range(&q, app.clock.now_ms(), span)?;
    let rows = blocking(&app, move |s| s.check_rollups(id, resolution, from, to)).await?;
    Ok(Json(
        rows.iter()
            .map(|r| {
                json!({
                    "start": iso(r.start_ms),
                    "count": r.count,
                    "failures": r.failures,
                    "degraded": r.degraded,
                    "maintenance": r.maintenance,
                    "p50_ms": r.p50_ms,
                    "p95_ms": r.p95_ms,
                    "p99_ms": r.p99_ms,
                    "max_ms": r.max_ms,
                })
            })
            .collect(),
    ))
}

pub async fn outages(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (q, id, _) = ranged(&app, &id, query).await?;
    let now = app.clock.now_ms();
    let (from, to) = range(&q, now, 90 * DAY_MS)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1_000);
    let rows = blocking(&app, move |s| s.outages(id, from, to, limit)).await?;
    Ok(Json(rows.iter().map(|o| outage_json(o, now)).collect()))
}

pub async fn uptime(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let (q, id, m) = ranged(&app, &id, query).await?;
    let now = app.clock.now_ms();
    let (from, to) = range(&q, now, 30 * DAY_MS)?;
    let (down, lat) = blocking(&app, move |s| {
        Ok((
            s.downtime(from, to)?.get(&id).copied().unwrap_or(0),
            s.latency_summary(id, from, to)?,
        ))
    })
    .await?;
    Ok(Json(json!({
        "from": iso(from),
        "to": iso(to),
        "uptime_pct": uptime_pct(m.created_ms, from, to, down),
        "downtime_ms": down,
        "latency": latency_json(&lat),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMaintenance {
    monitor_id: Option<i64>,
    start: Option<String>,
    end: Option<String>,
    #[serde(default, with = "humantime_serde")]
    duration: Option<std::time::Duration>,
    reason: String,
}

fn maintenance_json(w: &lookout_store::Maintenance) -> Value {
    json!({
        "id": w.id,
        "monitor_id": w.monitor_id,
        "start": iso(w.start_ms),
        "end": iso(w.end_ms),
        "reason": w.reason,
        "created": iso(w.created_ms),
    })
}

pub async fn list_maintenance(State(app): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let now = app.clock.now_ms();
    let rows = blocking(&app, move |s| s.list_maintenance(now)).await?;
    Ok(Json(rows.iter().map(maintenance_json).collect()))
}

/// A one-off window: `start` (default now) and `end` or `duration`.
pub async fn create_maintenance(
    State(app): State<Arc<AppState>>,
    body: Result<Json<CreateMaintenance>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = app.clock.now_ms();
    let start = req
        .start
        .as_deref()
        .map(|v| parse_time("start", v))
        .transpose()?
        .unwrap_or(now);
    let end = match (&req.end, req.duration) {
        (Some(e), None) => parse_time("end", e)?,
        (None, Some(d)) => start + d.as_millis() as i64,
        _ => {
            return Err(ApiError::bad_request(
                "give end or duration (e.g. \"duration\": \"15m\"), not both",
            ))
        }
    };
    if end <= start {
        return Err(ApiError::bad_request("end must be after start"));
    }
    if req.reason.trim().is_empty() {
        return Err(ApiError::bad_request("reason: say what the window is for"));
    }
    if let Some(mid) = req.monitor_id {
        load(&app, mid).await?;
    }
    let new = NewMaintenance {
        monitor_id: req.monitor_id,
        start_ms: start,
        end_ms: end,
        reason: req.reason,
        now_ms: now,
    };
    let (w, active) = blocking(&app, move |s| {
        let w = s.create_maintenance(&new)?;
        Ok((w, s.list_maintenance(now)?))
    })
    .await?;
    app.monitors.set_api_windows(active);
    Ok((StatusCode::CREATED, Json(maintenance_json(&w))).into_response())
}

pub async fn delete_maintenance(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a maintenance window id")))?;
    let now = app.clock.now_ms();
    let (found, active) = blocking(&app, move |s| {
        Ok((s.delete_maintenance(id)?, s.list_maintenance(now)?))
    })
    .await?;
    app.monitors.set_api_windows(active);
    if !found {
        return Err(ApiError::not_found(format!("no maintenance window {id}")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn scheduler(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(serde_json::to_value(app.monitors.stats()).unwrap_or_default())
}
