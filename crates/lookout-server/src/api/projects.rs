//! Projects: list (with DSNs), create, one, and what happened to their data.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lookout_core::limits::month_start_ms;
use lookout_core::slug::is_slug;
use lookout_store::{NewProject, Project as StoredProject, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::{blocking, find_project};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::time_fmt::iso;

/// A project and its DSN.
#[derive(Serialize, ToSchema)]
pub struct Project {
    /// Numeric id, as in the DSN's path.
    id: i64,
    /// URL-safe name.
    slug: String,
    /// Display name.
    name: String,
    /// The DSN's key (32 hex digits).
    public_key: String,
    /// What SDKs are configured with.
    dsn: String,
    /// RFC 3339.
    created: String,
    /// Rate limit, quota, retention, allowed origins, scrubbing.
    #[schema(value_type = Object)]
    settings: Value,
}

impl Project {
    pub(crate) fn of(app: &AppState, p: &StoredProject) -> Self {
        Project {
            id: p.id,
            slug: p.slug.clone(),
            name: p.name.clone(),
            public_key: p.public_key.clone(),
            dsn: app.dsn(&p.public_key, p.id),
            created: iso(p.created_ms),
            settings: serde_json::to_value(&p.settings).unwrap_or_default(),
        }
    }
}

/// Every project.
#[utoipa::path(get, operation_id = "projects_list", path = "/api/v1/projects", tag = "projects",
    responses(
        (status = 200, description = "OK", body = Vec<Project>),
    ))]
pub async fn list(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<super::Access>,
) -> Result<Json<Vec<Project>>, ApiError> {
    let projects = blocking(&app, |s| s.list_projects()).await?;
    Ok(Json(
        projects
            .iter()
            .filter(|p| access.allows(p.id))
            .map(|p| Project::of(&app, p))
            .collect(),
    ))
}

/// One project, by slug or id.
#[utoipa::path(get, operation_id = "projects_get", path = "/api/v1/projects/{project}", tag = "projects",
    params(("project" = String, Path, description = "slug or numeric id")),
    responses(
        (status = 200, description = "OK", body = Project),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(project): Path<String>,
) -> Result<Json<Project>, ApiError> {
    let p = find_project(&app, project).await?;
    Ok(Json(Project::of(&app, &p)))
}

/// A project to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// Lower-case letters, digits, `-` and `_`.
    slug: String,
    /// Display name (default: the slug).
    name: Option<String>,
    /// Overrides of the default settings.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    settings: Option<lookout_core::settings::ProjectSettings>,
}

/// Creates a project; the answer has its DSN.
#[utoipa::path(post, operation_id = "projects_create", path = "/api/v1/projects", tag = "projects", request_body = CreateProject,
    responses(
        (status = 201, description = "Created", body = Project),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<Arc<AppState>>,
    body: Result<Json<CreateProject>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if !is_slug(&req.slug) {
        return Err(ApiError::bad_request(format!(
            "slug `{}` is not valid: use lower-case letters, digits, `-` and `_`",
            req.slug
        )));
    }
    let now = app.clock.now_ms();
    let new = NewProject {
        id: None,
        name: req.name.unwrap_or_else(|| req.slug.clone()),
        slug: req.slug,
        public_key: None,
        settings: req.settings.unwrap_or_default(),
        now_ms: now,
    };
    let store = app.store.clone();
    let created = tokio::task::spawn_blocking(move || store.create_project(&new))
        .await
        .map_err(|e| ApiError::internal("a database task failed", e))?;
    let project = match created {
        Ok(p) => p,
        Err(StoreError::Conflict(m)) => return Err(ApiError::new(StatusCode::CONFLICT, m)),
        Err(e) => return Err(ApiError::internal("could not create the project", e)),
    };
    let store = app.store.clone();
    let p = project.clone();
    let app2 = app.clone();
    tokio::task::spawn_blocking(move || app2.projects.insert(store.as_ref(), p, now))
        .await
        .map_err(|e| ApiError::internal("a database task failed", e))?
        .map_err(|e| ApiError::internal("could not load the project", e))?;
    tracing::info!(project = %project.slug, id = project.id, "created a project");
    Ok((StatusCode::CREATED, Json(Project::of(&app, &project))).into_response())
}

/// The range of `stats`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Look-back in hours (default: this month).
    hours: Option<u32>,
}

/// Accepted and dropped counts (rate limit, quota, invalid, too large, SDK client reports)
/// and release health since a time.
#[derive(Serialize, ToSchema)]
pub struct Stats {
    /// The project's slug.
    project: String,
    /// RFC 3339.
    since: String,
    /// Events accepted.
    accepted: u64,
    /// Events dropped by lookout.
    dropped: u64,
    /// Items of types lookout does not keep.
    unsupported: u64,
    /// Events the SDKs reported dropping.
    client_discarded: u64,
    /// Counts per outcome and reason.
    #[schema(value_type = Vec<Object>)]
    outcomes: Value,
    /// Sessions per release.
    #[schema(value_type = Vec<Object>)]
    release_health: Value,
    /// The monthly quota: `limit` and `used`; null when unknown.
    #[schema(value_type = Option<Object>)]
    quota: Option<Value>,
}

/// What happened to a project's data.
#[utoipa::path(get, operation_id = "projects_stats", path = "/api/v1/projects/{project}/stats", tag = "projects",
    params(("project" = String, Path, description = "slug or numeric id"), StatsQuery),
    responses(
        (status = 200, description = "OK", body = Stats),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn stats(
    State(app): State<Arc<AppState>>,
    Path(project): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    let p = find_project(&app, project).await?;
    let now = app.clock.now_ms();
    let since = match q.hours {
        Some(h) => now - h as i64 * 3_600_000,
        None => month_start_ms(now),
    };
    let id = p.id;
    let (outcomes, health) = blocking(&app, move |s| {
        Ok((s.outcome_summary(id, since)?, s.release_health(id, since)?))
    })
    .await?;
    let sum = |pred: &dyn Fn(&str) -> bool| -> u64 {
        outcomes
            .iter()
            .filter(|o| pred(&o.outcome))
            .map(|o| o.quantity)
            .sum()
    };
    let runtime = app.projects.get(id);
    let quota = runtime.as_ref().map(|r| {
        let q = r.quota.lock();
        json!({ "limit": q.limit(), "used": q.used() })
    });
    Ok(Json(Stats {
        project: p.slug,
        since: iso(since),
        accepted: sum(&|o| o == "accepted"),
        dropped: sum(&|o| !matches!(o, "accepted" | "client_discard" | "unsupported")),
        unsupported: sum(&|o| o == "unsupported"),
        client_discarded: sum(&|o| o == "client_discard"),
        outcomes: serde_json::to_value(&outcomes).unwrap_or_default(),
        release_health: serde_json::to_value(&health).unwrap_or_default(),
        quota,
    }))
}
