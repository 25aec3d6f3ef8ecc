//! Issues and events: filtered lists, one issue with its latest event and stack trace,
//! the events of an issue, and resolve / ignore / reopen.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use lookout_sentry::event::{parse_event, EventView, FrameView, StacktraceView};
use lookout_store::{Issue as StoredIssue, IssueFilter, IssueSort, IssueStatus, StoredEvent};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::{blocking, find_project};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::time_fmt::iso;

/// An issue: events grouped by fingerprint.
#[derive(Serialize, ToSchema)]
pub struct Issue {
    /// Id.
    id: i64,
    /// The project's id.
    project_id: i64,
    /// Type and value, or message.
    title: String,
    /// Where it happens.
    culprit: String,
    /// Level of the latest event.
    level: String,
    /// unresolved, resolved or ignored.
    #[schema(value_type = String)]
    status: IssueStatus,
    /// For unresolved issues: new, ongoing or regressed.
    substatus: Option<String>,
    /// Events.
    count: u64,
    /// Distinct users affected.
    user_count: u64,
    /// Events with `handled: false`.
    unhandled_count: u64,
    /// No unhandled event so far.
    handled: bool,
    /// RFC 3339.
    first_seen: String,
    /// RFC 3339.
    last_seen: String,
    /// First release seen.
    first_release: Option<String>,
    /// Latest release seen.
    last_release: Option<String>,
    /// Platform of the first event.
    platform: Option<String>,
    /// Grouping hash.
    fingerprint: String,
    /// Grouping algorithm that made it.
    grouping_version: String,
    /// RFC 3339, when resolved.
    resolved_at: Option<String>,
    /// The project's latest deploy started at or before the issue's first event.
    deploy_before: Option<super::deploys::DeployRef>,
}

impl Issue {
    fn of(i: &StoredIssue, deploy: Option<&lookout_store::Deploy>) -> Self {
        Issue {
            id: i.id,
            project_id: i.project_id,
            title: i.title.clone(),
            culprit: i.culprit.clone(),
            level: i.level.as_str().to_string(),
            status: i.status,
            substatus: i.substatus.map(|s| s.as_str().to_string()),
            count: i.count,
            user_count: i.user_count,
            unhandled_count: i.unhandled_count,
            handled: i.unhandled_count == 0,
            first_seen: iso(i.first_seen_ms),
            last_seen: iso(i.last_seen_ms),
            first_release: i.first_release.clone(),
            last_release: i.last_release.clone(),
            platform: i.platform.clone(),
            fingerprint: i.fingerprint.clone(),
            grouping_version: i.grouping_version.clone(),
            resolved_at: i.resolved_ms.map(iso),
            deploy_before: deploy.map(super::deploys::DeployRef::of),
        }
    }

    /// Issues with the deploy before each one's first event.
    fn with_deploys(
        store: &dyn lookout_store::Store,
        issues: &[StoredIssue],
    ) -> lookout_store::Result<Vec<Issue>> {
        let mut out = Vec::with_capacity(issues.len());
        // One indexed lookup per issue: a page holds at most 1,000.
        for i in issues {
            let before = store.deploys_before(i.project_id, &[i.first_seen_ms])?;
            out.push(Issue::of(i, before.first().and_then(Option::as_ref)));
        }
        Ok(out)
    }
}

/// Filters, order and page of an issue list.
#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// unresolved, resolved, ignored or all (default).
    status: Option<String>,
    /// debug, info, warning, error or fatal.
    level: Option<String>,
    /// Seen in this release.
    release: Option<String>,
    /// Seen in this environment.
    environment: Option<String>,
    /// Text in the title or culprit.
    query: Option<String>,
    /// last_seen (default), first_seen or count.
    sort: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
    /// Skip this many.
    offset: Option<u32>,
}

/// A project's issues.
#[utoipa::path(get, operation_id = "issues_list", path = "/api/v1/projects/{project}/issues", tag = "issues",
    params(("project" = String, Path, description = "slug or numeric id"), ListQuery),
    responses(
        (status = 200, description = "OK", body = Vec<Issue>),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<AppState>>,
    Path(project): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Issue>>, ApiError> {
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
    let issues = blocking(&app, move |s| {
        let issues = s.list_issues(&filter)?;
        Issue::with_deploys(s, &issues)
    })
    .await?;
    Ok(Json(issues))
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not an issue id")))
}

/// An issue with the releases and environments it was seen in and its latest event.
#[derive(Serialize, ToSchema)]
pub struct IssueDetail {
    #[serde(flatten)]
    issue: Issue,
    /// Releases seen, with counts.
    #[schema(value_type = Vec<Object>)]
    releases: Value,
    /// Environments seen, with counts.
    #[schema(value_type = Vec<Object>)]
    environments: Value,
    /// The latest event, with its stack trace.
    latest_event: Option<Event>,
}

/// One issue.
#[utoipa::path(get, operation_id = "issues_get", path = "/api/v1/issues/{id}", tag = "issues",
    params(("id" = i64, Path, description = "the issue's id")),
    responses(
        (status = 200, description = "OK", body = IssueDetail),
        (status = 308, description = "The issue was merged into another (its events were regrouped when their source maps arrived): `Location` names it", body = ErrorBody),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let id = parse_id(&id)?;
    let found = blocking(&app, move |s| {
        let Some(detail) = s.get_issue(id)? else {
            return Ok(Err(s.issue_redirect(id)?));
        };
        let issue = Issue::with_deploys(s, std::slice::from_ref(&detail.issue))?;
        Ok(Ok((detail, issue, s.latest_event(id)?)))
    })
    .await?;
    let (detail, mut issue, latest) = match found {
        Ok(found) => found,
        Err(Some(into)) => {
            return Ok((
                axum::http::StatusCode::PERMANENT_REDIRECT,
                [(axum::http::header::LOCATION, format!("/api/v1/issues/{into}"))],
                Json(serde_json::json!({
                    "detail": format!("issue {id} was merged into issue {into} when source maps regrouped its events"),
                    "merged_into": into,
                })),
            )
                .into_response())
        }
        Err(None) => return Err(ApiError::not_found(format!("no issue {id}"))),
    };
    Ok(Json(IssueDetail {
        issue: issue.remove(0),
        releases: serde_json::to_value(&detail.releases).unwrap_or_default(),
        environments: serde_json::to_value(&detail.environments).unwrap_or_default(),
        latest_event: latest.map(|e| Event::of(&app, &e, true)),
    })
    .into_response())
}

/// A page of an issue's events.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// At most this many (default 50, at most 500).
    limit: Option<u32>,
    /// Only events with an id below this one (the next page).
    before: Option<i64>,
    /// With the whole document of each event.
    full: Option<bool>,
}

/// An issue's events, newest first.
#[utoipa::path(get, operation_id = "issues_events", path = "/api/v1/issues/{id}/events", tag = "issues",
    params(("id" = i64, Path, description = "the issue's id"), EventsQuery),
    responses(
        (status = 200, description = "OK", body = Vec<Event>),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn events(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Event>>, ApiError> {
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
    Ok(Json(
        events.iter().map(|e| Event::of(&app, e, full)).collect(),
    ))
}

/// One event, scrubbed, with the whole document.
#[utoipa::path(get, operation_id = "issues_event", path = "/api/v1/projects/{project}/events/{event_id}", tag = "issues",
    params(("project" = String, Path, description = "slug or numeric id"), ("event_id" = String, Path, description = "32 hex digits, dashes allowed")),
    responses(
        (status = 200, description = "OK", body = Event),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn event(
    State(app): State<Arc<AppState>>,
    Path((project, event_id)): Path<(String, String)>,
) -> Result<Json<Event>, ApiError> {
    let p = find_project(&app, project).await?;
    let eid = event_id.replace('-', "").to_ascii_lowercase();
    let pid = p.id;
    let e = blocking(&app, move |s| s.get_event(pid, &eid)).await?;
    let e = e.ok_or_else(|| ApiError::not_found(format!("no event {event_id} in {}", p.slug)))?;
    Ok(Json(Event::of(&app, &e, true)))
}

/// A new status.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIssue {
    /// unresolved, resolved or ignored.
    status: String,
}

/// Sets an issue's status.
#[utoipa::path(put, operation_id = "issues_update", path = "/api/v1/issues/{id}", tag = "issues", request_body = UpdateIssue,
    params(("id" = i64, Path, description = "the issue's id")),
    responses(
        (status = 200, description = "OK", body = Issue),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn update(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Result<Json<UpdateIssue>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Issue>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let status = IssueStatus::parse(&req.status).ok_or_else(|| {
        ApiError::bad_request(format!(
            "status `{}` is unknown: use unresolved, resolved or ignored",
            req.status
        ))
    })?;
    set_status(app, parse_id(&id)?, status).await
}

/// Resolves, ignores or reopens an issue.
#[utoipa::path(post, operation_id = "issues_action", path = "/api/v1/issues/{id}/{action}", tag = "issues",
    params(("id" = i64, Path, description = "the issue's id"), ("action" = String, Path, description = "resolve, ignore or reopen")),
    responses(
        (status = 200, description = "OK", body = Issue),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn action(
    State(app): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<Issue>, ApiError> {
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
) -> Result<Json<Issue>, ApiError> {
    let now = app.clock.now_ms();
    let issue = blocking(&app, move |s| {
        if !s.set_issue_status(id, status, now)? {
            return Ok(None);
        }
        let Some(detail) = s.get_issue(id)? else {
            return Ok(None);
        };
        Ok(Issue::with_deploys(s, std::slice::from_ref(&detail.issue))?.pop())
    })
    .await?;
    let issue = issue.ok_or_else(|| ApiError::not_found(format!("no issue {id}")))?;
    tracing::info!(issue = id, status = status.as_str(), "issue status changed");
    Ok(Json(issue))
}

/// Where a page of signals starts.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SignalsQuery {
    /// Only signals with an id above this one.
    after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Something the alert engine consumes: new issue, regression, unhandled; monitor down,
/// up, degraded, TLS expiring, heartbeat missed or failed.
#[derive(Serialize, ToSchema)]
pub struct Signal {
    /// Increasing id.
    id: i64,
    /// What happened, e.g. `monitor_down`.
    #[schema(value_type = String)]
    kind: lookout_core::signal::SignalKind,
    /// The project it happened in.
    project_id: Option<i64>,
    /// The issue concerned.
    issue_id: Option<i64>,
    /// The event that caused it (32 hex digits).
    event_id: Option<String>,
    /// The monitor concerned.
    monitor_id: Option<i64>,
    /// What happened, in plain words.
    detail: Option<String>,
    /// Unix milliseconds.
    created_ms: i64,
}

/// Signals after an id, oldest first.
#[utoipa::path(get, operation_id = "issues_signals", path = "/api/v1/signals", tag = "issues", params(SignalsQuery),
    responses(
        (status = 200, description = "OK", body = Vec<Signal>),
    ))]
pub async fn signals(
    State(app): State<Arc<AppState>>,
    Query(q): Query<SignalsQuery>,
) -> Result<Json<Vec<Signal>>, ApiError> {
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let signals = blocking(&app, move |s| s.signals_after(after, limit)).await?;
    Ok(Json(
        signals
            .into_iter()
            .map(|s| Signal {
                id: s.id,
                kind: s.kind,
                project_id: s.project_id,
                issue_id: s.issue_id,
                event_id: s.event_id,
                monitor_id: s.monitor_id,
                detail: s.detail,
                created_ms: s.created_ms,
            })
            .collect(),
    ))
}

/// An event; with `full`, the normalised exception chain, stack traces, tags and user,
/// and the whole stored document under `data`.
#[derive(Serialize, ToSchema)]
pub struct Event {
    /// The store's id (the events' page key).
    id: i64,
    /// The SDK's event id, 32 hex digits.
    event_id: String,
    /// The issue it belongs to.
    issue_id: i64,
    /// The project's id.
    project_id: i64,
    /// RFC 3339, as the SDK stamped it.
    timestamp: String,
    /// RFC 3339, when lookout received it.
    received: String,
    /// debug, info, warning, error or fatal.
    level: String,
    /// The app's release.
    release: Option<String>,
    /// The app's environment.
    environment: Option<String>,
    /// Type and value, or message.
    title: String,
    /// Only with the whole event: message, platform, transaction, exceptions,
    /// stacktrace, tags and user.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    detail: serde_json::Map<String, Value>,
}

impl Event {
    pub(crate) fn of(app: &AppState, e: &StoredEvent, full: bool) -> Self {
        Event {
            id: e.id,
            event_id: e.event_id.clone(),
            issue_id: e.issue_id,
            project_id: e.project_id,
            timestamp: iso(e.timestamp_ms),
            received: iso(e.received_ms),
            level: e.level.as_str().to_string(),
            release: e.release.clone(),
            environment: e.environment.clone(),
            title: e.title.clone(),
            detail: if full {
                event_detail(app, e)
            } else {
                serde_json::Map::new()
            },
        }
    }
}

/// The parts of an event only its whole document has.
fn event_detail(app: &AppState, e: &StoredEvent) -> serde_json::Map<String, Value> {
    let mut v = serde_json::Map::new();
    let raw = match app.payloads.decompress(&e.payload) {
        Ok(r) => r,
        Err(err) => {
            v.insert(
                "error".into(),
                json!(format!("stored payload is unreadable: {err}")),
            );
            return v;
        }
    };
    if let Ok(view) = parse_event(&raw) {
        v.insert("message".into(), json!(view.message));
        v.insert("platform".into(), json!(view.platform));
        v.insert("transaction".into(), json!(view.transaction));
        v.insert("exceptions".into(), Value::Array(
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
        ));
        v.insert(
            "stacktrace".into(),
            view.stacktrace
                .as_ref()
                .map(stacktrace_json)
                .unwrap_or(Value::Null),
        );
        v.insert(
            "tags".into(),
            json!(view
                .tags
                .iter()
                .map(|(k, val)| [k.as_ref(), val.as_ref()])
                .collect::<Vec<_>>()),
        );
        v.insert("user".into(), user_json(&view));
    }
    v.insert(
        "data".into(),
        serde_json::from_slice(&raw).unwrap_or(Value::Null),
    );
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
