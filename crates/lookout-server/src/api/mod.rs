//! The JSON API under `/api/v1`, behind a bearer token, and its OpenAPI 3.1 document at
//! `/api/v1/openapi.json` (public: it is documentation).
//!
//! The document is generated from the handlers themselves: every route is registered with
//! `routes!(handler)` on a [`OpenApiRouter`], which takes the handler's `#[utoipa::path]`
//! (method, path, parameters, body and answers, naming the handler's own request and
//! response types, which derive `ToSchema`). A route added with a plain `.route(…)` would be
//! served but undocumented; the `openapi` test enumerates the router and fails on it.
//!
//! To add a route, follow the handler of its kind: a list with query parameters
//! (`issues::list`, its `ListQuery` derives `IntoParams`), one resource by id
//! (`monitors::get`), a create with a JSON body answered 201 (`monitors::create`), an action
//! without an answer body (`monitors::delete`, 204).

mod deploys;
mod incidents;
mod issues;
mod latency;
mod monitors;
mod projects;
mod releases;
mod slos;
mod status_pages;

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lookout_store::Store;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The document's frame: title, version, the bearer scheme every operation needs unless
/// it says otherwise, and the error body.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "lookout API",
        description = "Errors, uptime monitors and incidents of a lookout server. Every operation takes `Authorization: Bearer TOKEN` (printed by `lookout serve`, kept in the data directory's `api-token`) unless it says otherwise.",
    ),
    modifiers(&BearerToken),
    security(("bearer" = [])),
    components(schemas(ErrorBody)),
)]
struct ApiDoc;

/// The bearer token scheme.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// Every `/api/v1` route with its documentation, before the token check is layered on:
/// the routes behind the token, and the document itself, which needs none.
pub fn openapi_router() -> OpenApiRouter<Arc<AppState>> {
    protected().merge(public())
}

fn protected() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(projects::list, projects::create))
        .routes(routes!(projects::get))
        .routes(routes!(issues::list))
        .routes(routes!(projects::stats))
        .routes(routes!(latency::latency))
        .routes(routes!(slos::list, slos::create))
        .routes(routes!(slos::get, slos::delete))
        .routes(routes!(issues::event))
        .routes(routes!(issues::get, issues::update))
        .routes(routes!(issues::events))
        .routes(routes!(issues::action))
        .routes(routes!(issues::signals))
        .routes(routes!(monitors::list, monitors::create))
        .routes(routes!(monitors::get, monitors::update, monitors::delete))
        .routes(routes!(monitors::results))
        .routes(routes!(monitors::rollups))
        .routes(routes!(monitors::outages))
        .routes(routes!(monitors::uptime))
        .routes(routes!(monitors::action))
        .routes(routes!(
            monitors::list_maintenance,
            monitors::create_maintenance
        ))
        .routes(routes!(monitors::delete_maintenance))
        .routes(routes!(monitors::scheduler))
        .routes(routes!(incidents::list))
        .routes(routes!(incidents::get))
        .routes(routes!(incidents::action))
        .routes(routes!(incidents::rules, incidents::create_rule))
        .routes(routes!(incidents::delete_rule))
        .routes(routes!(incidents::channels))
        .routes(routes!(incidents::repair_channel))
        .routes(routes!(incidents::test_channel))
        .routes(routes!(incidents::list_silences, incidents::create_silence))
        .routes(routes!(deploys::list, deploys::create))
        .routes(routes!(deploys::get))
        .routes(routes!(deploys::release_counts))
        .routes(routes!(incidents::delete_silence))
        .routes(routes!(incidents::add_public_note))
        .routes(routes!(status_pages::list, status_pages::create))
        .routes(routes!(
            status_pages::get,
            status_pages::update,
            status_pages::delete
        ))
        .routes(routes!(releases::list))
        .routes(routes!(releases::get))
        .routes(routes!(releases::bundles))
}

fn public() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The OpenAPI document as served, built once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = openapi_router().split_for_parts();
        doc.to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"detail\": \"the document does not serialise: {e}\"}}"))
    })
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get, operation_id = "api_openapi_json",
    path = "/api/v1/openapi.json",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object),
    )
)]
async fn openapi_json() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document(),
    )
        .into_response()
}

/// The `/api/v1` routes: the token check on all but the document.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let (protected, _) = protected()
        .route_layer(middleware::from_fn_with_state(state, require_token))
        .split_for_parts();
    let (public, _) = public().split_for_parts();
    protected.merge(public)
}

/// The signed acknowledge page linked from notifications (no API token: the link's
/// signature is the credential).
pub fn ack_routes() -> Router<Arc<AppState>> {
    Router::new().route(
        "/ack/{id}/{sig}",
        get(incidents::ack_page).post(incidents::ack_submit),
    )
}

/// The admin token (compared in constant time), or a user's API token (looked up by its
/// hash) whose scopes allow the request.
pub(crate) async fn require_token(
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
        .map(str::trim)
        .map(str::to_string);
    let Some(token) = given else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing API token: send `Authorization: Bearer <token>` (printed at start, or LOOKOUT_API_TOKEN, or a token made on the dashboard's API tokens page)",
        ));
    };
    let mut req = req;
    if bool::from(
        token
            .as_bytes()
            .ct_eq(app.api_token.expose_secret().as_bytes()),
    ) {
        req.extensions_mut().insert(Access::everything());
        return Ok(next.run(req).await);
    }
    let (hash, now) = (lookout_web::token_hash(&token), app.clock.now_ms());
    let found = blocking(&app, move |s| s.use_api_token(&hash, now)).await?;
    let Some(found) = found else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid API token"));
    };
    if !lookout_web::Scope::allows(&found.scopes, req.method(), req.uri().path()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the API token `{}` has the scopes {}, which do not allow {} {}: make a token with the `write` scope",
                found.name,
                found.scopes.join(", "),
                req.method(),
                req.uri().path()
            ),
        ));
    }
    let access = Access {
        token: found.name.clone(),
        projects: found.projects.clone(),
    };
    if access.projects.is_some() && req.uri().path().starts_with("/api/v1/") {
        // Owned: a borrowed request is not `Send` across the awaits.
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        check_v1(&app, &access, &method, &path).await?;
    }
    req.extensions_mut().insert(access);
    Ok(next.run(req).await)
}

/// Which projects the request's token may reach; every handler behind the token finds it
/// in the request's extensions.
#[derive(Debug, Clone)]
pub struct Access {
    token: String,
    /// `None`: every project.
    projects: Option<Vec<i64>>,
}

impl Access {
    /// The server's own token, or a user's token for every project.
    pub fn everything() -> Access {
        Access {
            token: "the server's API token".into(),
            projects: None,
        }
    }

    /// Whether the token may reach this project.
    pub fn allows(&self, project_id: i64) -> bool {
        self.projects
            .as_ref()
            .is_none_or(|ps| ps.contains(&project_id))
    }

    /// The token's name, for messages.
    pub fn token_name(&self) -> &str {
        &self.token
    }

    /// Whether the token is limited to some projects.
    pub fn limited(&self) -> bool {
        self.projects.is_some()
    }

    /// A 403 unless the token may reach `project`.
    pub fn check(&self, project: &lookout_store::Project) -> Result<(), ApiError> {
        if self.allows(project.id) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the API token `{}` is limited to other projects and may not reach project `{}`: use a token made for that project",
                self.token, project.slug
            ),
        ))
    }

    /// The 403 for what belongs to no single project.
    fn not_per_project(&self, what: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the API token `{}` is limited to some projects, and {what} belongs to no single project: use a token for every project",
                self.token
            ),
        )
    }
}

/// What a token limited to projects may reach under `/api/v1`: the project list (the
/// handler leaves out the others), a project and everything below it, an issue of one of
/// its projects, and deploys of its projects. Monitors, incidents, rules, status pages and
/// signals belong to no single project and stay out of its reach.
async fn check_v1(
    app: &Arc<AppState>,
    access: &Access,
    method: &axum::http::Method,
    path: &str,
) -> Result<(), ApiError> {
    let segs: Vec<&str> = path
        .trim_start_matches("/api/v1/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let read = matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD);
    match segs.as_slice() {
        ["projects"] if read => Ok(()),
        ["projects"] => Err(access.not_per_project("creating a project")),
        ["projects", key, ..] => {
            // An unknown project is the handler's 404.
            match find_project(app, key.to_string()).await {
                Ok(p) => access.check(&p),
                Err(_) => Ok(()),
            }
        }
        ["issues", id, ..] => {
            let Ok(id) = id.parse::<i64>() else {
                return Ok(());
            };
            let project = blocking(app, move |s| {
                // A merged-away issue answers with a redirect into the same project.
                let id = s.issue_redirect(id)?.unwrap_or(id);
                match s.get_issue(id)? {
                    Some(d) => s.get_project(d.issue.project_id),
                    None => Ok(None),
                }
            })
            .await?;
            match project {
                Some(p) => access.check(&p),
                None => Ok(()),
            }
        }
        // The handlers check the project named (the list needs `?project=`).
        ["deploys"] => Ok(()),
        ["deploys", id] => {
            let Ok(id) = id.parse::<i64>() else {
                return Ok(());
            };
            let project = blocking(app, move |s| match s.get_deploy(id)? {
                Some(d) => s.get_project(d.project_id),
                None => Ok(None),
            })
            .await?;
            match project {
                Some(p) => access.check(&p),
                None => Ok(()),
            }
        }
        _ => Err(access.not_per_project(&format!("`{path}`"))),
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

/// Store calls whose `Conflict` becomes a 409 with the store's message.
pub(crate) async fn blocking_conflict<T, F>(app: &Arc<AppState>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> lookout_store::Result<T> + Send + 'static,
{
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(lookout_store::StoreError::Conflict(m))) => {
            Err(ApiError::new(StatusCode::CONFLICT, m))
        }
        Ok(Err(e)) => Err(ApiError::internal("the database reported an error", e)),
        Err(e) => Err(ApiError::internal("a database task failed", e)),
    }
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
