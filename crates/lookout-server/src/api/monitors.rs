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
    LatencySummary, Monitor as StoredMonitor, MonitorSource, MonitorStatus, NewMaintenance,
    NewMonitor, Outage as StoredOutage, Resolution,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{blocking, blocking_conflict};
use crate::error::{ApiError, ErrorBody};
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

/// Uptime percentages over the last 24 hours, 7, 30 and 90 days; null before a monitor
/// has any time in the range.
#[derive(Serialize, ToSchema)]
pub struct UptimeRanges {
    #[serde(rename = "24h")]
    h24: Option<f64>,
    #[serde(rename = "7d")]
    d7: Option<f64>,
    #[serde(rename = "30d")]
    d30: Option<f64>,
    #[serde(rename = "90d")]
    d90: Option<f64>,
}

impl UptimeRanges {
    /// Uptime for each of [`RANGES`] ending now, given each range's downtime in order.
    fn of(created_ms: i64, now: i64, downtimes: impl Iterator<Item = i64>) -> Self {
        let mut pct = RANGES
            .iter()
            .zip(downtimes)
            .map(|((_, span), down)| uptime_pct(created_ms, now - span, now, down));
        UptimeRanges {
            h24: pct.next().flatten(),
            d7: pct.next().flatten(),
            d30: pct.next().flatten(),
            d90: pct.next().flatten(),
        }
    }
}

/// A monitor's state and last check.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// unknown, up, degraded, down, paused or maintenance.
    state: String,
    /// RFC 3339: when the last check ran (or the last ping arrived).
    last_check: Option<String>,
    /// The last check's total time, or a heartbeat run's duration.
    last_latency_ms: Option<i64>,
    /// The last failure's reason, while failing.
    last_error: Option<String>,
    /// RFC 3339: when the current outage began.
    down_since: Option<String>,
    /// RFC 3339: when the certificate seen last expires.
    tls_expires: Option<String>,
    /// RFC 3339: a heartbeat's run started without its end yet.
    running_since: Option<String>,
    /// RFC 3339: the next check (or heartbeat deadline).
    next_check: Option<String>,
    /// The last check's milliseconds per phase (dns, connect, tls, first byte, total),
    /// while the server has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    timings_ms: Option<Value>,
    /// The last check's HTTP status, with `timings_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u16>)]
    http_status: Option<Option<u16>>,
    /// pm2: the last check's figures (instances, restarts, restarted since the check
    /// before, memory_bytes, cpu_percent), while the server has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pm2: Option<Value>,
}

/// A confirmed outage.
#[derive(Serialize, ToSchema)]
pub struct Outage {
    /// Id.
    id: i64,
    /// RFC 3339: the first failing check.
    start: String,
    /// RFC 3339: the recovering check; null while ongoing.
    end: Option<String>,
    /// Length so far.
    duration_ms: i64,
    /// No recovery yet.
    ongoing: bool,
    /// Why, in plain words.
    cause: String,
}

impl Outage {
    fn of(o: &StoredOutage, now: i64) -> Self {
        Outage {
            id: o.id,
            start: iso(o.start_ms),
            end: o.end_ms.map(iso),
            duration_ms: o.end_ms.unwrap_or(now) - o.start_ms,
            ongoing: o.end_ms.is_none(),
            cause: o.cause.clone(),
        }
    }
}

/// Check count, failures and latency percentiles over a range.
#[derive(Serialize, ToSchema)]
pub struct Latency {
    count: u64,
    failures: u64,
    p50_ms: Option<u32>,
    p95_ms: Option<u32>,
    p99_ms: Option<u32>,
    max_ms: Option<u32>,
}

impl Latency {
    fn of(l: &LatencySummary) -> Self {
        Latency {
            count: l.count,
            failures: l.failures,
            p50_ms: l.p50_ms,
            p95_ms: l.p95_ms,
            p99_ms: l.p99_ms,
            max_ms: l.max_ms,
        }
    }
}

/// A monitor with its state, uptime and latency.
#[derive(Serialize, ToSchema)]
pub struct Monitor {
    /// Id.
    id: i64,
    /// Unique name.
    name: String,
    /// http, keyword, json, health, tcp, tls or heartbeat.
    kind: String,
    /// The project it belongs to.
    project_id: Option<i64>,
    /// config (read-only here) or api.
    #[schema(value_type = String)]
    source: MonitorSource,
    /// Paused by hand.
    paused: bool,
    /// RFC 3339.
    created: String,
    /// RFC 3339.
    updated: String,
    /// The definition, with the keys of `[[monitors]]`.
    #[schema(value_type = Object)]
    spec: Value,
    /// State and last check.
    status: Status,
    /// Heartbeats: the URL the job pings.
    #[serde(skip_serializing_if = "Option::is_none")]
    ping_url: Option<String>,
    /// Sentry cron monitors: the slug check-ins name.
    #[serde(skip_serializing_if = "Option::is_none")]
    slug: Option<String>,
    /// Uptime per range.
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime: Option<UptimeRanges>,
    /// The last 24 hours' checks and latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_24h: Option<Latency>,
    /// The latest outages.
    #[serde(skip_serializing_if = "Option::is_none")]
    recent_outages: Option<Vec<Outage>>,
}

impl Monitor {
    fn of(app: &AppState, m: &StoredMonitor, s: &MonitorStatus) -> Self {
        let timings = app.monitors.last_timings(m.id);
        Monitor {
            id: m.id,
            name: m.name.clone(),
            kind: m.kind.as_str().to_string(),
            project_id: m.project_id,
            source: m.source,
            paused: m.paused,
            created: iso(m.created_ms),
            updated: iso(m.updated_ms),
            spec: m.spec.clone(),
            status: Status {
                state: s.state.as_str().to_string(),
                last_check: s.last_check_ms.map(iso),
                last_latency_ms: s.last_latency_ms,
                last_error: s.last_error.clone(),
                down_since: s.down_since_ms.map(iso),
                tls_expires: s.tls_expires_ms.map(iso),
                running_since: s.running_since_ms.map(iso),
                next_check: app.monitors.next_check(m.id).map(iso),
                timings_ms: timings.map(|(t, _)| serde_json::to_value(t).unwrap_or_default()),
                http_status: timings.map(|(_, status)| status),
                pm2: app
                    .monitors
                    .last_pm2(m.id)
                    .map(|f| serde_json::to_value(f).unwrap_or_default()),
            },
            ping_url: m
                .token
                .as_ref()
                .map(|t| format!("{}/ping/{t}", app.public_url.trim_end_matches('/'))),
            slug: m.slug.clone(),
            uptime: None,
            latency_24h: None,
            recent_outages: None,
        }
    }
}

/// The live status when the scheduler has the monitor, else the stored one.
fn live_status(app: &AppState, m: &StoredMonitor) -> MonitorStatus {
    app.monitors
        .status(m.id)
        .unwrap_or_else(|| m.status.clone())
}

/// How much a monitor list shows.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// With each monitor's latency and recent outages (default: up to 200 monitors).
    details: Option<bool>,
}

/// Every monitor with its state, last check, next check and uptime.
#[utoipa::path(get, operation_id = "monitors_list", path = "/api/v1/monitors", tag = "monitors", params(ListQuery),
    responses(
        (status = 200, description = "OK", body = Vec<Monitor>),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Monitor>>, ApiError> {
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
    let out: Vec<Monitor> = monitors
        .iter()
        .zip(extra)
        .map(|(m, extra)| {
            let status = statuses
                .get(&m.id)
                .cloned()
                .unwrap_or_else(|| m.status.clone());
            let mut v = Monitor::of(&app, m, &status);
            let down = downtimes
                .iter()
                .map(|dt| dt.get(&m.id).copied().unwrap_or(0));
            v.uptime = Some(UptimeRanges::of(m.created_ms, now, down));
            if let Some((lat, outages)) = extra {
                v.latency_24h = Some(Latency::of(&lat));
                v.recent_outages = Some(outages.iter().map(|o| Outage::of(o, now)).collect());
            }
            v
        })
        .collect();
    Ok(Json(out))
}

/// One monitor with its uptime, latency and outages.
#[utoipa::path(get, operation_id = "monitors_get", path = "/api/v1/monitors/{id}", tag = "monitors",
    params(("id" = i64, Path, description = "the monitor's id")),
    responses(
        (status = 200, description = "OK", body = Monitor),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Monitor>, ApiError> {
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
    let mut v = Monitor::of(&app, &m, &live_status(&app, &m));
    v.uptime = Some(UptimeRanges::of(m.created_ms, now, downtimes.into_iter()));
    v.latency_24h = Some(Latency::of(&lat));
    v.recent_outages = Some(outages.iter().map(|o| Outage::of(o, now)).collect());
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
        kind: config.kind,
        spec: serde_json::to_value(config).unwrap_or_default(),
        source: MonitorSource::Api,
        project_id,
        token,
        slug: config.slug.clone(),
        now_ms: now,
    }
}

/// Creates a monitor; it is checked at once, and the answer carries that first result.
#[utoipa::path(post, operation_id = "monitors_create", path = "/api/v1/monitors", tag = "monitors", request_body = MonitorConfig,
    responses(
        (status = 201, description = "Created", body = Monitor),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
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
    let v = Monitor::of(&app, &m, &live_status(&app, &m));
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn load(app: &Arc<AppState>, id: i64) -> Result<StoredMonitor, ApiError> {
    blocking(app, move |s| s.get_monitor(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no monitor {id}")))
}

fn refuse_config(m: &StoredMonitor, verb: &str) -> Result<(), ApiError> {
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

/// Replaces a monitor's definition (monitors of the config file are edited there).
#[utoipa::path(put, operation_id = "monitors_update", path = "/api/v1/monitors/{id}", tag = "monitors", request_body = MonitorConfig,
    params(("id" = i64, Path, description = "the monitor's id")),
    responses(
        (status = 200, description = "OK", body = Monitor),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
pub async fn update(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Result<Json<MonitorConfig>, JsonRejection>,
) -> Result<Json<Monitor>, ApiError> {
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
    Ok(Json(Monitor::of(&app, &m, &live_status(&app, &m))))
}

/// Deletes a monitor and its history (monitors of the config file are deleted there).
#[utoipa::path(delete, operation_id = "monitors_delete", path = "/api/v1/monitors/{id}", tag = "monitors",
    params(("id" = i64, Path, description = "the monitor's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
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

/// Pauses or resumes a monitor (a resumed one is checked at once), or checks it now
/// (`check`: on whichever instance runs it; the result follows within a sync).
#[utoipa::path(post, operation_id = "monitors_action", path = "/api/v1/monitors/{id}/{action}", tag = "monitors",
    params(("id" = i64, Path, description = "the monitor's id"), ("action" = String, Path, description = "pause, resume or check")),
    responses(
        (status = 200, description = "OK", body = Monitor),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
        (status = 409, description = "check: the monitor is paused or a heartbeat", body = ErrorBody),
    ))]
pub async fn action(
    State(app): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Monitor>, ApiError> {
    let id = parse_id(&id)?;
    let paused = match action.as_str() {
        "pause" => true,
        "resume" => false,
        "check" => return check_now(app, id).await,
        other => {
            return Err(ApiError::not_found(format!(
                "no action `{other}`: use pause, resume or check"
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
    Ok(Json(Monitor::of(&app, &m, &live_status(&app, &m))))
}

/// Checks a monitor now: here if this instance runs it, else through a request its owner
/// takes at its next sync (`cluster.sync_every`).
async fn check_now(app: Arc<AppState>, id: i64) -> Result<Json<Monitor>, ApiError> {
    let m = load(&app, id).await?;
    if m.paused || m.kind == MonitorKind::Heartbeat {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "monitor {id} ({}) is {}: it has no check to run now",
                m.name,
                if m.paused {
                    "paused"
                } else {
                    "a heartbeat, checked by its pings"
                }
            ),
        ));
    }
    if !app.monitors.check_now(id) {
        let now = app.clock.now_ms();
        blocking(&app, move |s| s.request_check(id, now)).await?;
    }
    Ok(Json(Monitor::of(&app, &m, &live_status(&app, &m))))
}

/// A time given as Unix milliseconds or RFC 3339.
pub(super) fn parse_time(key: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    crate::time_fmt::parse(v).map_err(|_| {
        ApiError::bad_request(format!(
            "{key}: `{v}` is neither Unix milliseconds nor an RFC 3339 time"
        ))
    })
}

/// A range of a monitor's history.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// Start: Unix milliseconds or RFC 3339.
    from: Option<String>,
    /// End: Unix milliseconds or RFC 3339 (default: now).
    to: Option<String>,
    /// At most this many rows.
    limit: Option<u32>,
    /// Roll-ups: minute, hour (default) or day.
    resolution: Option<String>,
}

/// The query and the monitor of a per-monitor history request.
async fn ranged(
    app: &Arc<AppState>,
    id: &str,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<(RangeQuery, i64, StoredMonitor), ApiError> {
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

/// What a check measured besides its total time (in a roll-up: the means over the
/// checks that measured each); a figure the check kind does not measure is left out.
#[derive(Serialize, ToSchema, Default)]
pub struct Figures {
    /// HTTP: name resolution.
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_ms: Option<u32>,
    /// HTTP and TCP: connect.
    #[serde(skip_serializing_if = "Option::is_none")]
    connect_ms: Option<u32>,
    /// HTTPS: TLS handshake.
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_ms: Option<u32>,
    /// HTTP: from the request to the response head.
    #[serde(skip_serializing_if = "Option::is_none")]
    first_byte_ms: Option<u32>,
    /// pm2: the app's memory, summed over its instances (kept to the KiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_bytes: Option<u64>,
    /// pm2: the app's CPU, summed over its instances, percent of one core (to 0.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_percent: Option<f64>,
}

impl Figures {
    fn of(f: &lookout_store::CheckFigures) -> Self {
        Figures {
            dns_ms: f.dns_ms,
            connect_ms: f.connect_ms,
            tls_ms: f.tls_ms,
            first_byte_ms: f.first_byte_ms,
            memory_bytes: f.memory_kb.map(|k| u64::from(k) * 1024),
            cpu_percent: f.cpu_permille.map(|c| f64::from(c) / 10.0),
        }
    }
}

/// One raw check result.
#[derive(Serialize, ToSchema)]
pub struct CheckResult {
    /// RFC 3339.
    at: String,
    /// up, degraded or down.
    #[schema(value_type = String)]
    outcome: lookout_store::CheckOutcome,
    /// Total time.
    latency_ms: Option<u32>,
    /// Checked during a maintenance window.
    maintenance: bool,
    /// Why it failed.
    error: Option<String>,
    /// Phases and pm2 figures.
    #[serde(flatten)]
    figures: Figures,
}

/// A monitor's raw results (kept for `uptime.raw_retention`), newest first.
#[utoipa::path(get, operation_id = "monitors_results", path = "/api/v1/monitors/{id}/results", tag = "monitors",
    params(("id" = i64, Path, description = "the monitor's id"), RangeQuery),
    responses(
        (status = 200, description = "OK", body = Vec<CheckResult>),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn results(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<Vec<CheckResult>>, ApiError> {
    let (q, id, _) = ranged(&app, &id, query).await?;
    let (from, to) = range(&q, app.clock.now_ms(), DAY_MS)?;
    let limit = q.limit.unwrap_or(1_000).clamp(1, 10_000);
    let rows = blocking(&app, move |s| s.check_results(id, from, to, limit)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| CheckResult {
                at: iso(r.at_ms),
                outcome: r.outcome,
                latency_ms: r.latency_ms,
                maintenance: r.maintenance,
                error: r.error,
                figures: Figures::of(&r.figures),
            })
            .collect(),
    ))
}

/// Check counts and latency percentiles of one minute, hour or day.
#[derive(Serialize, ToSchema)]
pub struct Rollup {
    /// RFC 3339: the bucket's start.
    start: String,
    count: u32,
    failures: u32,
    degraded: u32,
    maintenance: u32,
    p50_ms: Option<u32>,
    p95_ms: Option<u32>,
    p99_ms: Option<u32>,
    max_ms: Option<u32>,
    /// Means of the phases and pm2 figures.
    #[serde(flatten)]
    figures: Figures,
}

/// A monitor's roll-ups.
#[utoipa::path(get, operation_id = "monitors_rollups", path = "/api/v1/monitors/{id}/rollups", tag = "monitors",
    params(("id" = i64, Path, description = "the monitor's id"), RangeQuery),
    responses(
        (status = 200, description = "OK", body = Vec<Rollup>),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn rollups(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<Vec<Rollup>>, ApiError> {
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
            .map(|r| Rollup {
                start: iso(r.start_ms),
                count: r.count,
                failures: r.failures,
                degraded: r.degraded,
                maintenance: r.maintenance,
                p50_ms: r.p50_ms,
                p95_ms: r.p95_ms,
                p99_ms: r.p99_ms,
                max_ms: r.max_ms,
                figures: Figures::of(&r.figures),
            })
            .collect(),
    ))
}

/// A monitor's outages in a range.
#[utoipa::path(get, operation_id = "monitors_outages", path = "/api/v1/monitors/{id}/outages", tag = "monitors",
    params(("id" = i64, Path, description = "the monitor's id"), RangeQuery),
    responses(
        (status = 200, description = "OK", body = Vec<Outage>),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn outages(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<Vec<Outage>>, ApiError> {
    let (q, id, _) = ranged(&app, &id, query).await?;
    let now = app.clock.now_ms();
    let (from, to) = range(&q, now, 90 * DAY_MS)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1_000);
    let rows = blocking(&app, move |s| s.outages(id, from, to, limit)).await?;
    Ok(Json(rows.iter().map(|o| Outage::of(o, now)).collect()))
}

/// Uptime and latency over a range.
#[derive(Serialize, ToSchema)]
pub struct Uptime {
    /// RFC 3339.
    from: String,
    /// RFC 3339.
    to: String,
    /// Share of the range (from the monitor's creation) not in a confirmed outage.
    uptime_pct: Option<f64>,
    /// Time in confirmed outages.
    downtime_ms: i64,
    /// Checks and latency percentiles.
    latency: Latency,
}

/// A monitor's uptime and latency over any range.
#[utoipa::path(get, operation_id = "monitors_uptime", path = "/api/v1/monitors/{id}/uptime", tag = "monitors",
    params(("id" = i64, Path, description = "the monitor's id"), RangeQuery),
    responses(
        (status = 200, description = "OK", body = Uptime),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn uptime(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<Uptime>, ApiError> {
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
    Ok(Json(Uptime {
        from: iso(from),
        to: iso(to),
        uptime_pct: uptime_pct(m.created_ms, from, to, down),
        downtime_ms: down,
        latency: Latency::of(&lat),
    }))
}

/// A one-off maintenance window to open.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMaintenance {
    /// Only this monitor (default: all).
    monitor_id: Option<i64>,
    /// Unix milliseconds or RFC 3339 (default: now).
    start: Option<String>,
    /// Unix milliseconds or RFC 3339; or give `duration`.
    end: Option<String>,
    /// e.g. "15m".
    #[serde(default, with = "humantime_serde")]
    #[schema(value_type = Option<String>)]
    duration: Option<std::time::Duration>,
    /// What it is for (internal: never shown on status pages).
    reason: String,
    /// What status pages covering its monitors say about it.
    public_note: Option<String>,
}

/// A maintenance window opened through the API.
#[derive(Serialize, ToSchema)]
pub struct Maintenance {
    id: i64,
    /// Only this monitor; null: all.
    monitor_id: Option<i64>,
    /// RFC 3339.
    start: String,
    /// RFC 3339.
    end: String,
    reason: String,
    /// Shown on status pages.
    public_note: Option<String>,
    /// RFC 3339.
    created: String,
}

impl Maintenance {
    fn of(w: &lookout_store::Maintenance) -> Self {
        Maintenance {
            id: w.id,
            monitor_id: w.monitor_id,
            start: iso(w.start_ms),
            end: iso(w.end_ms),
            reason: w.reason.clone(),
            public_note: w.public_note.clone(),
            created: iso(w.created_ms),
        }
    }
}

/// The maintenance windows opened through the API that have not ended.
#[utoipa::path(get, operation_id = "monitors_list_maintenance", path = "/api/v1/maintenance", tag = "monitors",
    responses(
        (status = 200, description = "OK", body = Vec<Maintenance>),
    ))]
pub async fn list_maintenance(
    State(app): State<Arc<AppState>>,
) -> Result<Json<Vec<Maintenance>>, ApiError> {
    let now = app.clock.now_ms();
    let rows = blocking(&app, move |s| s.list_maintenance(now)).await?;
    Ok(Json(rows.iter().map(Maintenance::of).collect()))
}

/// A one-off window: `start` (default now) and `end` or `duration`.
#[utoipa::path(post, operation_id = "monitors_create_maintenance", path = "/api/v1/maintenance", tag = "monitors", request_body = CreateMaintenance,
    responses(
        (status = 201, description = "Created", body = Maintenance),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
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
        public_note: req.public_note.filter(|n| !n.trim().is_empty()),
        now_ms: now,
    };
    let (w, active) = blocking(&app, move |s| {
        let w = s.create_maintenance(&new)?;
        Ok((w, s.list_maintenance(now)?))
    })
    .await?;
    app.monitors.set_api_windows(active);
    Ok((StatusCode::CREATED, Json(Maintenance::of(&w))).into_response())
}

/// Ends a maintenance window.
#[utoipa::path(delete, operation_id = "monitors_delete_maintenance", path = "/api/v1/maintenance/{id}", tag = "monitors",
    params(("id" = i64, Path, description = "the window's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
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

/// Monitors, checks running, and lateness over the last minute.
#[utoipa::path(get, operation_id = "monitors_scheduler", path = "/api/v1/scheduler", tag = "monitors",
    responses(
        (status = 200, description = "OK", body = crate::monitors::SchedulerStats),
    ))]
pub async fn scheduler(State(app): State<Arc<AppState>>) -> Json<crate::monitors::SchedulerStats> {
    Json(app.monitors.stats())
}
