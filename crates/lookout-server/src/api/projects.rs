//! Projects: list (with DSNs), create, one, and what happened to their data.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lookout_core::limits::month_start_ms;
use lookout_core::slug::is_slug;
use lookout_store::{NewProject, Project, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{blocking, find_project};
use crate::error::ApiError;
use crate::state::AppState;
use crate::time_fmt::iso;

pub(crate) fn project_json(app: &AppState, p: &Project) -> Value {
    json!({
        "id": p.id,
        "slug": p.slug,
        "name": p.name,
        "public_key": p.public_key,
        "dsn": app.dsn(&p.public_key, p.id),
        "created": iso(p.created_ms),
        "settings": p.settings,
    })
}

pub async fn list(State(app): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let projects = blocking(&app, |s| s.list_projects()).await?;
    Ok(Json(Value::Array(
        projects.iter().map(|p| project_json(&app, p)).collect(),
    )))
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = find_project(&app, project).await?;
    Ok(Json(project_json(&app, &p)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    slug: String,
    name: Option<String>,
    #[serde(default)]
    settings: Option<lookout_core::settings::ProjectSettings>,
}

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
    Ok((StatusCode::CREATED, Json(project_json(&app, &project))).into_response())
}

#[derive(Deserialize)]
pub struct StatsQuery {
    /// Look-back in hours (default: this month).
    hours: Option<u32>,
}

pub async fn stats(
    State(app): State<Arc<AppState>>,
    Path(project): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "project": p.slug,
        "since": iso(since),
        "accepted": sum(&|o| o == "accepted"),
        "dropped": sum(&|o| !matches!(o, "accepted" | "client_discard" | "unsupported")),
        "unsupported": sum(&|o| o == "unsupported"),
        "client_discarded": sum(&|o| o == "client_discard"),
        "outcomes": outcomes,
        "release_health": health,
        "quota": quota,
    })))
}
