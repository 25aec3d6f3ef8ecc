//! Issues and events: filtered lists, one issue with its latest event and stack trace,
//! the events of an issue, and resolve / ignore / reopen.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use lookout_sentry::event::{parse_event, EventView, FrameView, StacktraceView};
use lookout_store::{Issue, IssueFilter, IssueSort, IssueStatus, StoredEvent};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, find_project};
use crate::error::ApiError;
use crate::state::AppState;
use crate::time_fmt::iso;

pub(crate) fn issue_json(i: &Issue) -> Value {
    json!({
        "id": i.id,
        "project_id": i.project_id,
        "title": i.title,
        "culprit": i.culprit,
        "level": i.level,
        "status": i.status,
        "substatus": i.substatus,
        "count": i.count,
        "user_count": i.user_count,
        "unhandled_count": i.unhandled_count,
        "handled": i.unhandled_count == 0,
        "first_seen": iso(i.first_seen_ms),
        "last_seen": iso(i.last_seen_ms),
        "first_release": i.first_release,
        "last_release": i.last_release,
        "platform": i.platform,
        "fingerprint": i.fingerprint,
        "grouping_version": i.grouping_version,
        "resolved_at": i.resolved_ms.map(iso),
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    level: Option<String>,
    release: Option<String>,
    environment: Option<String>,
    query: Option<String>,
    sort: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    Path(project): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let p = find_project(&app, project).await?;
    let status = match q.status.as_deref() {
        None | Some("") | Some("all") => None,
        Some(s) => Some(IssueStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status `{s}` is unknown: use unresolved, resolved, ignored or all"
            ))
        })?),
    };
    let sort = match q.sort.as_deref() {
        None | Some("") | Some("last_seen") => IssueSort::LastSeen,
        Some("first_seen") => IssueSort::FirstSeen,
        Some("count") | Some("freq") => IssueSort::Count,
        Some(s) => {
            return Err(ApiError::bad_request(format!(
                "sort `{s}` is unknown: use last_seen, first_seen or count"
            )))
        }
    };
    let level = match q.level.as_deref() {
        None => None,
        Some(l) => Some(lookout_sentry::event::Level::parse(l).ok_or_else(|| {
            ApiError::bad_request(format!(
                "level `{l}` is unknown: use debug, info, warning, error or fatal"
            ))
        })?),
    };
    let filter = IssueFilter {
        project_id: p.id,
        status,
        level,
        release: q.release.filter(|s| !s.is_empty()),
        environment: q.environment.filter(|s| !s.is_empty()),
        text: q.query.filter(|s| !s.is_empty()),
        sort,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
        offset: q.offset.unwrap_or(0),
    };
    let issues = blocking(&app, move |s| s.list_issues(&filter)).await?;
    Ok(Json(Value::Array(issues.iter().map(issue_json).collect())))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not an issue id")))
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let (detail, latest) =
        blocking(&app, move |s| Ok((s.get_issue(id)?, s.latest_event(id)?))).await?;
    let detail = detail.ok_or_else(|| ApiError::not_found(format!("no issue {id}")))?;
    let mut v = issue_json(&detail.issue);
    v["releases"] = serde_json::to_value(&detail.releases).unwrap_or_default();
    v["environments"] = serde_json::to_value(&detail.environments).unwrap_or_default();
    v["latest_event"] = latest
        .map(|e| event_json(&app, &e, true))
        .unwrap_or(Value::Null);
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    limit: Option<u32>,
    before: Option<i64>,
    full: Option<bool>,
}

pub async fn events(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = parse_id(&id)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let before = q.before;
    let (issue, events) = blocking(&app, move |s| {
        Ok((s.get_issue(id)?, s.list_events(id, limit, before)?))
    })
    .await?;
    if issue.is_none() {
        return Err(ApiError::not_found(format!("no issue {id}")));
    }
    let full = q.full.unwrap_or(false);
    Ok(Json(Value::Array(
        events.iter().map(|e| event_json(&app, e, full)).collect(),
    )))
}

pub async fn event(
    State(app): State<Arc<AppState>>,
    Path((project, event_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let p = find_project(&app, project).await?;
    let eid = event_id.replace('-', "").to_ascii_lowercase();
    let pid = p.id;
    let e = blocking(&app, move |s| s.get_event(pid, &eid)).await?;
    let e = e.ok_or_else(|| ApiError::not_found(format!("no event {event_id} in {}", p.slug)))?;
    Ok(Json(event_json(&app, &e, true)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateIssue {
    status: String,
}

pub async fn update(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Result<Json<UpdateIssue>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = IssueStatus::parse(&req.status).ok_or_else(|| {
        ApiError::bad_request(format!(
            "status `{}` is unknown: use unresolved, resolved or ignored",
            req.status
        ))
    })?;
    set_status(app, parse_id(&id)?, status).await
}

pub async fn action(
    State(app): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let status = match action.as_str() {
        "resolve" => IssueStatus::Resolved,
        "ignore" => IssueStatus::Ignored,
        "reopen" | "unresolve" => IssueStatus::Unresolved,
        other => {
            return Err(ApiError::not_found(format!(
                "no action `{other}`: use resolve, ignore or reopen"
            )))
        }
    };
    set_status(app, parse_id(&id)?, status).await
}

async fn set_status(
    app: Arc<AppState>,
    id: i64,
    status: IssueStatus,
) -> Result<Json<Value>, ApiError> {
    let now = app.clock.now_ms();
    let detail = blocking(&app, move |s| {
        if s.set_issue_status(id, status, now)? {
            s.get_issue(id)
        } else {
            Ok(None)
        }
    })
    .await?;
    let detail = detail.ok_or_else(|| ApiError::not_found(format!("no issue {id}")))?;
    tracing::info!(issue = id, status = status.as_str(), "issue status changed");
    Ok(Json(issue_json(&detail.issue)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalsQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

pub async fn signals(
    State(app): State<Arc<AppState>>,
    Query(q): Query<SignalsQuery>,
) -> Result<Json<Value>, ApiError> {
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let signals = blocking(&app, move |s| s.signals_after(after, limit)).await?;
    Ok(Json(serde_json::to_value(signals).unwrap_or_default()))
}

/// An event for the API; with `full`, the normalised exception chain, stack traces, tags
/// and user, and the whole stored document under `data`.
pub(crate) fn event_json(app: &AppState, e: &StoredEvent, full: bool) -> Value {
    let mut v = json!({
        "id": e.id,
        "event_id": e.event_id,
        "issue_id": e.issue_id,
        "project_id": e.project_id,
        "timestamp": iso(e.timestamp_ms),
        "received": iso(e.received_ms),
        "level": e.level,
        "release": e.release,
        "environment": e.environment,
        "title": e.title,
    });
    if !full {
        return v;
    }
    let raw = match app.payloads.decompress(&e.payload) {
        Ok(r) => r,
        Err(err) => {
            v["error"] = json!(format!("stored payload is unreadable: {err}"));
            return v;
        }
    };
    if let Ok(view) = parse_event(&raw) {
        v["message"] = json!(view.message);
        v["platform"] = json!(view.platform);
        v["transaction"] = json!(view.transaction);
        v["exceptions"] = Value::Array(
            view.exceptions
                .iter()
                .map(|x| {
                    json!({
                        "type": x.ty,
                        "value": x.value,
                        "module": x.module,
                        "mechanism": x.mechanism.as_ref().map(|m| json!({"type": m.ty, "handled": m.handled})),
                        "stacktrace": x.stacktrace.as_ref().map(stacktrace_json),
                    })
                })
                .collect(),
        );
        v["stacktrace"] = view
            .stacktrace
            .as_ref()
            .map(stacktrace_json)
            .unwrap_or(Value::Null);
        v["tags"] = json!(view
            .tags
            .iter()
            .map(|(k, val)| [k.as_ref(), val.as_ref()])
            .collect::<Vec<_>>());
        v["user"] = user_json(&view);
    }
    v["data"] = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    v
}

fn stacktrace_json(s: &StacktraceView<'_>) -> Value {
    json!({ "frames": s.frames.iter().map(frame_json).collect::<Vec<_>>() })
}

fn frame_json(f: &FrameView<'_>) -> Value {
    json!({
        "filename": f.filename,
        "abs_path": f.abs_path,
        "module": f.module,
        "function": f.function,
        "lineno": f.lineno,
        "colno": f.colno,
        "in_app": f.in_app,
        "context_line": f.context_line,
    })
}

fn user_json(view: &EventView<'_>) -> Value {
    match &view.user {
        Some(u) => json!({
            "id": u.id, "email": u.email, "username": u.username, "ip_address": u.ip_address,
        }),
        None => Value::Null,
    }
}
