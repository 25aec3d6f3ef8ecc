//! The JSON API under `/api/v1`, behind a bearer token.

mod incidents;
mod issues;
mod monitors;
mod projects;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use lookout_store::Store;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// The `/api/v1` routes.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/api/v1/projects",
            get(projects::list).post(projects::create),
        )
        .route("/api/v1/projects/{project}", get(projects::get))
        .route("/api/v1/projects/{project}/issues", get(issues::list))
        .route("/api/v1/projects/{project}/stats", get(projects::stats))
        .route(
            "/api/v1/projects/{project}/events/{event_id}",
            get(issues::event),
        )
        .route("/api/v1/issues/{id}", get(issues::get).put(issues::update))
        .route("/api/v1/issues/{id}/events", get(issues::events))
        .route("/api/v1/issues/{id}/{action}", post(issues::action))
        .route("/api/v1/signals", get(issues::signals))
        .route(
            "/api/v1/monitors",
            get(monitors::list).post(monitors::create),
        )
        .route(
            "/api/v1/monitors/{id}",
            get(monitors::get)
                .put(monitors::update)
                .delete(monitors::delete),
        )
        .route("/api/v1/monitors/{id}/results", get(monitors::results))
        .route("/api/v1/monitors/{id}/rollups", get(monitors::rollups))
        .route("/api/v1/monitors/{id}/outages", get(monitors::outages))
        .route("/api/v1/monitors/{id}/uptime", get(monitors::uptime))
        .route("/api/v1/monitors/{id}/{action}", post(monitors::action))
        .route(
            "/api/v1/maintenance",
            get(monitors::list_maintenance).post(monitors::create_maintenance),
        )
        .route(
            "/api/v1/maintenance/{id}",
            axum::routing::delete(monitors::delete_maintenance),
        )
        .route("/api/v1/scheduler", get(monitors::scheduler))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::get))
        .route("/api/v1/incidents/{id}/{action}", post(incidents::action))
        .route(
            "/api/v1/rules",
            get(incidents::rules).post(incidents::create_rule),
        )
        .route(
            "/api/v1/rules/{name}",
            axum::routing::delete(incidents::delete_rule),
        )
        .route("/api/v1/channels", get(incidents::channels))
        .route(
            "/api/v1/channels/{name}/repair",
            post(incidents::repair_channel),
        )
        .route(
            "/api/v1/silences",
            get(incidents::list_silences).post(incidents::create_silence),
        )
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(incidents::delete_silence),
        )
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

/// The signed acknowledge page linked from notifications (no API token: the link's
/// signature is the credential).
pub fn ack_routes() -> Router<Arc<AppState>> {
    Router::new().route(
        "/ack/{id}/{sig}",
        get(incidents::ack_page).post(incidents::ack_submit),
    )
}

async fn require_token(
    State(app): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing API token: send `Authorization: Bearer <token>` (printed at start, or LOOKOUT_API_TOKEN)",
        )),
        Some(t) if bool::from(t.as_bytes().ct_eq(app.api_token.expose_secret().as_bytes())) => {
            Ok(next.run(req).await)
        }
        Some(_) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid API token")),
    }
}

/// Runs a store call on the blocking pool.
pub(crate) async fn blocking<T, F>(app: &Arc<AppState>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> lookout_store::Result<T> + Send + 'static,
{
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| ApiError::internal("a database task failed", e))?
        .map_err(|e| ApiError::internal("the database reported an error", e))
}

/// Resolves `{project}` given as a slug or a numeric id.
pub(crate) async fn find_project(
    app: &Arc<AppState>,
    key: String,
) -> Result<lookout_store::Project, ApiError> {
    let k = key.clone();
    let found = blocking(app, move |s| match k.parse::<i64>() {
        Ok(id) => s.get_project(id),
        Err(_) => s.get_project_by_slug(&k),
    })
    .await?;
    found.ok_or_else(|| ApiError::not_found(format!("no project `{key}`")))
}
