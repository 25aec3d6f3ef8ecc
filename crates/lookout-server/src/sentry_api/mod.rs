//! The part of Sentry's web API (`/api/0/`) that `sentry-cli` and the bundler plugins call:
//! token check, releases with commits and deploys, and source map uploads (chunk upload
//! and artifact bundle assemble). Anything else under `/api/0/` answers a JSON 404 naming
//! the endpoint.
//!
//! lookout is one organisation: any organisation slug is accepted, and its projects are
//! lookout's projects by slug.

mod releases;
mod upload;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{middleware, Router};

use crate::error::ApiError;
use crate::state::AppState;

/// The `/api/0/` routes, behind the API token.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let body_limit = upload::request_limit(&state);
    Router::new()
        .route("/api/0/", get(releases::whoami))
        .route(
            "/api/0/organizations/{org}/releases/",
            post(releases::create).get(releases::list_org),
        )
        .route(
            "/api/0/organizations/{org}/releases/{version}/",
            get(releases::info).put(releases::update),
        )
        .route(
            "/api/0/organizations/{org}/releases/{version}/previous-with-commits/",
            get(releases::previous_with_commits),
        )
        .route(
            "/api/0/organizations/{org}/releases/{version}/commits/",
            get(releases::commits),
        )
        .route(
            "/api/0/organizations/{org}/releases/{version}/deploys/",
            post(releases::create_deploy).get(releases::list_deploys),
        )
        .route("/api/0/organizations/{org}/repos/", get(releases::repos))
        .route(
            "/api/0/projects/{org}/{project}/releases/",
            get(releases::list_project),
        )
        .route(
            "/api/0/organizations/{org}/chunk-upload/",
            get(upload::options).post(upload::chunks),
        )
        .route(
            "/api/0/organizations/{org}/artifactbundle/assemble/",
            post(upload::assemble),
        )
        .route("/api/0/{*rest}", axum::routing::any(unsupported))
        .layer(DefaultBodyLimit::max(body_limit))
        .route_layer(middleware::from_fn_with_state(
            state,
            crate::api::require_token,
        ))
}

/// Everything under `/api/0/` that lookout does not implement.
async fn unsupported(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "lookout does not implement {} {} (only the Sentry API endpoints that sentry-cli uses for releases, deploys and source maps)",
            req.method(),
            req.uri().path()
        ),
    )
}
