//! Status pages: list, create, read, replace and delete the pages of `[[status_pages]]`
//! kept in the store (pages of the config file are read-only here).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lookout_store::{Monitor, StatusPage, StatusPageSource};
use serde::Serialize;
use utoipa::ToSchema;

use super::{blocking, blocking_conflict};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::status::config::StatusPageConfig;
use crate::time_fmt::iso;

/// A status page: its keys as in `[[status_pages]]`, where it is served and where it came
/// from.
#[derive(Serialize, ToSchema)]
pub struct Page {
    #[serde(flatten)]
    keys: StatusPageConfig,
    /// The page's address on this server.
    url: String,
    /// config (read-only here) or api.
    #[schema(value_type = String)]
    source: StatusPageSource,
    /// RFC 3339.
    created: String,
    /// RFC 3339.
    updated: String,
}

impl Page {
    fn of(app: &AppState, p: &StatusPage, monitors: &[Monitor]) -> Self {
        Page {
            keys: StatusPageConfig::of(p, monitors),
            url: format!("{}/status/{}", app.public_url.trim_end_matches('/'), p.slug),
            source: p.source,
            created: iso(p.created_ms),
            updated: iso(p.updated_ms),
        }
    }
}

/// Every status page.
#[utoipa::path(get, operation_id = "status_pages_list", path = "/api/v1/status-pages", tag = "status pages",
    responses(
        (status = 200, description = "OK", body = Vec<Page>),
    ))]
pub async fn list(State(app): State<Arc<AppState>>) -> Result<Json<Vec<Page>>, ApiError> {
    let (pages, monitors) =
        blocking(&app, |s| Ok((s.list_status_pages()?, s.list_monitors()?))).await?;
    Ok(Json(
        pages.iter().map(|p| Page::of(&app, p, &monitors)).collect(),
    ))
}

/// One status page.
#[utoipa::path(get, operation_id = "status_pages_get", path = "/api/v1/status-pages/{slug}", tag = "status pages",
    params(("slug" = String, Path, description = "the page's slug")),
    responses(
        (status = 200, description = "OK", body = Page),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(slug): Path<String>,
) -> Result<Json<Page>, ApiError> {
    let (page, monitors) = load(&app, slug).await?;
    Ok(Json(Page::of(&app, &page, &monitors)))
}

async fn load(app: &Arc<AppState>, slug: String) -> Result<(StatusPage, Vec<Monitor>), ApiError> {
    let s2 = slug.clone();
    let (page, monitors) = blocking(app, move |s| {
        Ok((s.get_status_page(&s2)?, s.list_monitors()?))
    })
    .await?;
    let page = page.ok_or_else(|| ApiError::not_found(format!("no status page `{slug}`")))?;
    Ok((page, monitors))
}

/// Validates a page against the stored monitors (by name); the 400 names the key.
async fn prepare(
    app: &Arc<AppState>,
    body: Result<Json<StatusPageConfig>, JsonRejection>,
) -> Result<lookout_store::NewStatusPage, ApiError> {
    let Json(config) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let monitors = blocking(app, |s| s.list_monitors()).await?;
    let find = |name: &str| {
        monitors
            .iter()
            .filter(|m| m.name == name)
            .min_by_key(|m| m.id)
            .map(|m| m.id)
    };
    config
        .validate(&|n| find(n).is_some())
        .map_err(|(key, message)| ApiError::bad_request(format!("{key}: {message}")))?;
    Ok(config.to_new(StatusPageSource::Api, app.clock.now_ms(), &find))
}

/// The domains changed, or may have: the `Host` routing takes the stored pages again.
async fn refresh_domains(app: &Arc<AppState>) -> Result<(), ApiError> {
    let pages = blocking(app, |s| s.list_status_pages()).await?;
    app.status_pages.set_domains(&pages);
    Ok(())
}

fn refuse_config(p: &StatusPage, verb: &str) -> Result<(), ApiError> {
    if p.source == StatusPageSource::Config {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "status page `{}` is declared in the config file; {verb} it there (the file wins at the next start)",
                p.slug
            ),
        ));
    }
    Ok(())
}

/// Creates a status page: the keys of `[[status_pages]]`.
#[utoipa::path(post, operation_id = "status_pages_create", path = "/api/v1/status-pages", tag = "status pages", request_body = StatusPageConfig,
    responses(
        (status = 201, description = "Created", body = Page),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<Arc<AppState>>,
    body: Result<Json<StatusPageConfig>, JsonRejection>,
) -> Result<Response, ApiError> {
    let new = prepare(&app, body).await?;
    let page = blocking_conflict(&app, move |s| s.create_status_page(&new)).await?;
    refresh_domains(&app).await?;
    tracing::info!(page = %page.slug, "status page created");
    let monitors = blocking(&app, |s| s.list_monitors()).await?;
    Ok((StatusCode::CREATED, Json(Page::of(&app, &page, &monitors))).into_response())
}

/// Replaces a status page (its slug too).
#[utoipa::path(put, operation_id = "status_pages_update", path = "/api/v1/status-pages/{slug}", tag = "status pages", request_body = StatusPageConfig,
    params(("slug" = String, Path, description = "the page's slug")),
    responses(
        (status = 200, description = "OK", body = Page),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
pub async fn update(
    State(app): State<Arc<AppState>>,
    Path(slug): Path<String>,
    body: Result<Json<StatusPageConfig>, JsonRejection>,
) -> Result<Json<Page>, ApiError> {
    let (old, _) = load(&app, slug.clone()).await?;
    refuse_config(&old, "edit")?;
    let new = prepare(&app, body).await?;
    let page = blocking_conflict(&app, move |s| s.update_status_page(&slug, &new))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no status page `{}`", old.slug)))?;
    refresh_domains(&app).await?;
    let monitors = blocking(&app, |s| s.list_monitors()).await?;
    Ok(Json(Page::of(&app, &page, &monitors)))
}

/// Deletes a status page.
#[utoipa::path(delete, operation_id = "status_pages_delete", path = "/api/v1/status-pages/{slug}", tag = "status pages",
    params(("slug" = String, Path, description = "the page's slug")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
pub async fn delete(
    State(app): State<Arc<AppState>>,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let (old, _) = load(&app, slug.clone()).await?;
    refuse_config(&old, "delete")?;
    blocking(&app, move |s| s.delete_status_page(&slug)).await?;
    refresh_domains(&app).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
