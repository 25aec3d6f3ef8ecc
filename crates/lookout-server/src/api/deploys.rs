//! Deploys: record one (from `lookout deploy verify`, a pipeline, or later `sentry-cli
//! releases deploys`), list them, read one with the watch's verdict once judged. The shape
//! follows Sentry's deploy (`environment`, `name`, `url`, `dateStarted`, `dateFinished`).

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lookout_store::{Deploy as StoredDeploy, DeployFilter, NewDeploy};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{blocking, find_project};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::time_fmt::{iso, parse};

/// Verdicts a verification may report.
const VERDICTS: &[&str] = &["passed", "failed", "rolled_back", "rollback_failed"];

/// A deploy to record. `release` (or Sentry's `version`) and `project` are required; the
/// rest says how it went.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewDeployBody {
    /// The project's slug or id.
    project: String,
    /// The release deployed, as the SDKs send it (e.g. `web@1.4.2`).
    #[serde(alias = "version")]
    release: String,
    /// e.g. `production` (default).
    environment: Option<String>,
    /// A name for the deploy, e.g. the pipeline run.
    name: Option<String>,
    /// A link to it, e.g. the CI run.
    url: Option<String>,
    /// The commit deployed.
    commit: Option<String>,
    /// RFC 3339 (default: now).
    date_started: Option<String>,
    /// RFC 3339.
    date_finished: Option<String>,
    /// The verification's verdict: passed, failed, rolled_back or rollback_failed.
    verdict: Option<String>,
    /// Each check's result, as `lookout deploy verify --json` reports them.
    #[schema(value_type = Option<Vec<Object>>)]
    checks: Option<Value>,
    /// The rollback, when one ran.
    #[schema(value_type = Option<Object>)]
    rollback: Option<Value>,
    /// How long to watch the release after the deploy, e.g. "10m" (default:
    /// `[deploy.watch] window`; "0s": not watched). A deploy whose verification failed
    /// is never watched: its release is not serving.
    watch: Option<String>,
}

/// A deploy as it is told: which one, how its verification went, and the watch.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deploy {
    /// Id.
    id: i64,
    /// The project's id.
    project_id: i64,
    /// e.g. `production`.
    environment: String,
    /// The release deployed.
    release: String,
    /// Its name.
    name: Option<String>,
    /// A link to it.
    url: Option<String>,
    /// The commit deployed.
    commit: Option<String>,
    /// RFC 3339.
    date_started: String,
    /// RFC 3339.
    date_finished: Option<String>,
    /// passed, failed, rolled_back or rollback_failed; null when not verified.
    verdict: Option<String>,
    /// Each check's result.
    #[schema(value_type = Vec<Object>)]
    checks: Value,
    /// The rollback, when one ran.
    #[schema(value_type = Option<Object>)]
    rollback: Option<Value>,
    /// The watch after the deploy: until when, and its verdict once judged.
    watch: Option<Watch>,
}

/// The watch after a deploy.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Watch {
    /// RFC 3339: when the window ends and the release is judged.
    until: String,
    /// watching, good or bad.
    verdict: String,
    /// The figures it was judged by, once judged.
    #[schema(value_type = Option<Object>)]
    figures: Option<Value>,
}

impl Deploy {
    fn of(d: &StoredDeploy) -> Self {
        Deploy {
            id: d.id,
            project_id: d.project_id,
            environment: d.environment.clone(),
            release: d.release.clone(),
            name: d.name.clone(),
            url: d.url.clone(),
            commit: d.commit.clone(),
            date_started: iso(d.started_ms),
            date_finished: d.finished_ms.map(iso),
            verdict: d.verdict.clone(),
            checks: d.checks.clone(),
            rollback: d.rollback.clone(),
            watch: d.watch_until_ms.map(|until| Watch {
                until: iso(until),
                verdict: d.watch_verdict.clone().unwrap_or_else(|| "watching".into()),
                figures: d.watch.clone(),
            }),
        }
    }
}

/// Which deploy came before something (an issue's first event).
#[derive(Serialize, ToSchema)]
pub struct DeployRef {
    /// The deploy's id.
    id: i64,
    /// Its release.
    release: String,
    /// Its environment.
    environment: String,
    /// RFC 3339.
    started: String,
}

impl DeployRef {
    pub(crate) fn of(d: &StoredDeploy) -> Self {
        DeployRef {
            id: d.id,
            release: d.release.clone(),
            environment: d.environment.clone(),
            started: iso(d.started_ms),
        }
    }
}

fn time(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            parse(v).map_err(|e| {
                ApiError::bad_request(format!(
                    "{field}: `{v}` is not an RFC 3339 time ({e}), e.g. 2026-12-04T16:00:00Z"
                ))
            })
        })
        .transpose()
}

/// A duration of at most a day (zero only when `zero` allows it), in milliseconds.
fn duration_ms(text: &str, zero: bool) -> Option<i64> {
    humantime::parse_duration(text.trim())
        .ok()
        .filter(|d| (zero || !d.is_zero()) && *d <= std::time::Duration::from_secs(24 * 3600))
        .and_then(|d| i64::try_from(d.as_millis()).ok())
}

fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match value.map(|v| v.trim().to_string()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if v.chars().count() > max => Err(ApiError::bad_request(format!(
            "{field}: longer than {max} characters"
        ))),
        v => Ok(v),
    }
}

/// Records a deploy.
#[utoipa::path(post, operation_id = "deploys_create", path = "/api/v1/deploys", tag = "deploys",
    request_body = NewDeployBody,
    responses(
        (status = 201, description = "Recorded", body = Deploy),
        (status = 400, description = "Bad request: the detail names the field", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<super::Access>,
    body: Result<Json<NewDeployBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let release = text("release", Some(b.release), 200)?
        .ok_or_else(|| ApiError::bad_request("release: must not be empty"))?;
    let environment =
        text("environment", b.environment, 64)?.unwrap_or_else(|| "production".into());
    let now = app.clock.now_ms();
    let started = time("dateStarted", b.date_started.as_deref())?.unwrap_or(now);
    let finished = time("dateFinished", b.date_finished.as_deref())?;
    if finished.is_some_and(|f| f < started) {
        return Err(ApiError::bad_request("dateFinished: before dateStarted"));
    }
    if let Some(v) = &b.verdict {
        if !VERDICTS.contains(&v.as_str()) {
            return Err(ApiError::bad_request(format!(
                "verdict: `{v}` is not one of {}",
                VERDICTS.join(", ")
            )));
        }
    }
    let checks = match b.checks {
        None => Value::Array(Vec::new()),
        Some(c @ Value::Array(_)) => c,
        Some(_) => return Err(ApiError::bad_request("checks: must be an array")),
    };
    if b.rollback.as_ref().is_some_and(|r| !r.is_object()) {
        return Err(ApiError::bad_request("rollback: must be an object"));
    }
    let window_ms = match &b.watch {
        None => app.deploy_watch.window_ms(),
        Some(w) => duration_ms(w, true).ok_or_else(|| {
            ApiError::bad_request(format!(
                "watch: `{w}` is not a duration of at most a day, e.g. \"10m\" (\"0s\" turns the watch off)"
            ))
        })?,
    };
    let serving = matches!(b.verdict.as_deref(), None | Some("passed"));
    let watch_until_ms =
        (serving && window_ms > 0).then(|| finished.unwrap_or(started) + window_ms);
    let project = find_project(&app, b.project).await?;
    access.check(&project)?;
    let new = NewDeploy {
        project_id: project.id,
        environment,
        release,
        name: text("name", b.name, 200)?,
        url: text("url", b.url, 2000)?,
        commit: text("commit", b.commit, 100)?,
        started_ms: started,
        finished_ms: finished,
        verdict: b.verdict,
        checks,
        rollback: b.rollback,
        watch_until_ms,
        now_ms: now,
    };
    let made = blocking(&app, move |s| s.create_deploy(&new)).await?;
    tracing::info!(
        deploy = made.id,
        project = %project.slug,
        release = %made.release,
        environment = %made.environment,
        "deploy recorded"
    );
    Ok((StatusCode::CREATED, Json(Deploy::of(&made))).into_response())
}

/// Which deploys to list.
#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this project's (slug or id).
    project: Option<String>,
    /// Only to this environment.
    environment: Option<String>,
    /// Only of this release.
    release: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Deploys, newest first.
#[utoipa::path(get, operation_id = "deploys_list", path = "/api/v1/deploys", tag = "deploys",
    params(ListQuery),
    responses(
        (status = 200, description = "OK", body = Vec<Deploy>),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<super::Access>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Deploy>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let project_id = match q.project.filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = find_project(&app, p).await?;
            access.check(&p)?;
            Some(p.id)
        }
        None => None,
    };
    let filter = DeployFilter {
        project_id,
        environment: q.environment.filter(|s| !s.is_empty()),
        release: q.release.filter(|s| !s.is_empty()),
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    let deploys = blocking(&app, move |s| s.list_deploys(&filter)).await?;
    Ok(Json(
        deploys
            .iter()
            .filter(|d| access.allows(d.project_id))
            .map(Deploy::of)
            .collect(),
    ))
}

/// One deploy, with the watch's verdict once judged.
#[utoipa::path(get, operation_id = "deploys_get", path = "/api/v1/deploys/{id}", tag = "deploys",
    params(("id" = i64, Path, description = "the deploy's id")),
    responses(
        (status = 200, description = "OK", body = Deploy),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Deploy>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a deploy id")))?;
    let d = blocking(&app, move |s| s.get_deploy(id)).await?;
    d.map(|d| Json(Deploy::of(&d)))
        .ok_or_else(|| ApiError::not_found(format!("no deploy {id}")))
}

/// Which release to count, over what window.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CountsQuery {
    /// The release, as the SDKs send it.
    release: String,
    /// Only this environment.
    environment: Option<String>,
    /// The window ending now, e.g. "30m" (default 30m, at most a day).
    window: Option<String>,
}

/// What a release did in a window.
#[derive(Serialize, ToSchema)]
pub struct ReleaseCounts {
    /// The release.
    release: String,
    /// RFC 3339: the window's start.
    from: String,
    /// RFC 3339: its end (now).
    until: String,
    /// The window, ms.
    window_ms: i64,
    /// Its figures: errors, requests, new_issues, unhandled, sessions, crashed,
    /// request_p95_ms.
    #[schema(value_type = Object)]
    counts: Value,
}

/// What a release did in the window ending now: what `lookout deploy gate` compares
/// between a new release and its baseline while both serve.
#[utoipa::path(get, operation_id = "deploys_release_counts", path = "/api/v1/projects/{project}/release-counts", tag = "deploys",
    params(("project" = String, Path, description = "slug or numeric id"), CountsQuery),
    responses(
        (status = 200, description = "OK", body = ReleaseCounts),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn release_counts(
    State(app): State<Arc<AppState>>,
    Path(project): Path<String>,
    query: Result<Query<CountsQuery>, QueryRejection>,
) -> Result<Json<ReleaseCounts>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let release = text("release", Some(q.release), 200)?
        .ok_or_else(|| ApiError::bad_request("release: must not be empty"))?;
    let window_ms = match q.window.as_deref() {
        None => 30 * 60_000,
        Some(w) => duration_ms(w, false).ok_or_else(|| {
            ApiError::bad_request(format!(
                "window: `{w}` is not a duration between 1s and a day, e.g. \"30m\""
            ))
        })?,
    };
    let p = find_project(&app, project).await?;
    let until = app.clock.now_ms() + 1;
    let from = until - window_ms;
    let env = q.environment.filter(|e| !e.is_empty());
    let r = release.clone();
    let counts = blocking(&app, move |s| {
        s.release_counts(p.id, &r, env.as_deref(), from, until)
    })
    .await?;
    Ok(Json(ReleaseCounts {
        release,
        from: iso(from),
        until: iso(until),
        window_ms,
        counts: serde_json::to_value(counts).unwrap_or_default(),
    }))
}
