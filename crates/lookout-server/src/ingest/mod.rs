//! Sentry ingest: `POST /api/{project_id}/envelope/` and the legacy `/store/`.
//!
//! Accept liberally, answer fast: the body is read under a size limit, decoded under a
//! second limit, framed at once, and every item is handled on its own so that one bad item
//! never fails the rest. The answer is 200 only once the writer has committed; the
//! request's cron check-ins are then handed to the monitors.
//!
//! The parts: `request` (reading, decoding, authenticating), `admission` (rate limit,
//! quota, and which items are kept), [`process`] (items into rows), `auth` (where SDKs
//! put their key) and `cors` (browser SDKs).

mod admission;
mod auth;
mod cors;
pub mod process;
mod request;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lookout_core::clock::Clock;
use lookout_sentry::envelope;
use lookout_sentry::limits::{format_rate_limits, Limits};
use lookout_store::Store;
use tokio::sync::mpsc;

use crate::bus::CheckIns;
use crate::error::ApiError;
use crate::payload::Payloads;
use crate::projects::Projects;
use crate::writer::{Preparing, Writer};
use process::{Ctx, Processed, Rejection};

/// What ingest works with.
pub struct Ingest {
    /// Projects, with their limits and scrubbers.
    pub projects: Arc<Projects>,
    /// The batching writer.
    pub writer: Writer,
    /// Protocol limits.
    pub limits: Limits,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Event payload compression.
    pub payloads: Arc<Payloads>,
    /// Where stored check-ins go: the monitors.
    pub check_ins: mpsc::Sender<CheckIns>,
    /// The database, to say whether an event is stored.
    pub store: Arc<dyn Store>,
    /// The URL this server is reached at, for links.
    pub public_url: String,
    /// Source maps, applied to JavaScript frames before grouping.
    pub symbolicator: Arc<crate::sourcemaps::Symbolicator>,
}

/// The ingest routes.
pub fn routes<S>(ingest: Arc<Ingest>) -> Router<S> {
    Router::new()
        .route(
            "/api/{project_id}/envelope/",
            post(envelope).options(cors::preflight),
        )
        .route(
            "/api/{project_id}/envelope",
            post(envelope).options(cors::preflight),
        )
        .route(
            "/api/{project_id}/store/",
            post(store).options(cors::preflight),
        )
        .route(
            "/api/{project_id}/store",
            post(store).options(cors::preflight),
        )
        .route("/api/{project_id}/events/{event_id}/", get(event_status))
        .with_state(ingest)
}

/// Whether an event is stored, for `lookout send-test-event`: authenticated like ingest,
/// with the DSN's key, so a DSN alone is enough to check delivery end to end.
async fn event_status(
    State(app): State<Arc<Ingest>>,
    Path((project_id, event_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pid: i64 = project_id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{project_id}` is not a project id")))?;
    let key = auth::resolve_key(&headers, query.as_deref(), None, pid)?;
    let project = app
        .projects
        .get(pid)
        .filter(|p| p.project.public_key.eq_ignore_ascii_case(&key))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                format!("unknown project {pid} or key"),
            )
        })?;
    let eid = event_id.replace('-', "").to_ascii_lowercase();
    let store = app.store.clone();
    let found = tokio::task::spawn_blocking(move || store.get_event(pid, &eid))
        .await
        .map_err(|e| ApiError::internal("a database task failed", e))?
        .map_err(|e| ApiError::internal("the database reported an error", e))?;
    let e = found.ok_or_else(|| ApiError::not_found(format!("event {event_id} is not stored")))?;
    Ok(Json(serde_json::json!({
        "event_id": e.event_id,
        "issue_id": e.issue_id,
        "title": e.title,
        "project": project.project.slug,
        "issue_url": format!("{}/api/v1/issues/{}", app.public_url.trim_end_matches('/'), e.issue_id),
    }))
    .into_response())
}

/// Which ingest endpoint a request came to.
#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    Envelope,
    Store,
}

async fn envelope(
    State(app): State<Arc<Ingest>>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let resp = ingest(&app, Endpoint::Envelope, &project_id, query, &headers, body).await;
    cors::decorate(resp, &headers)
}

async fn store(
    State(app): State<Arc<Ingest>>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let resp = ingest(&app, Endpoint::Store, &project_id, query, &headers, body).await;
    cors::decorate(resp, &headers)
}

async fn ingest(
    app: &Ingest,
    endpoint: Endpoint,
    project_id: &str,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    match ingest_inner(app, endpoint, project_id, query, headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn ingest_inner(
    app: &Ingest,
    endpoint: Endpoint,
    project_id: &str,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let project_id = request::project_id(project_id)?;
    let limits = &app.limits;
    let raw = request::read_body(body, headers, limits.max_envelope_bytes).await?;
    // From here to the submission below there is no await: the writer may wait for us.
    let preparing = app.writer.preparing();
    let decoded = request::decode(endpoint, headers, &raw, limits)?;
    let envelope = match endpoint {
        Endpoint::Envelope => Some(
            envelope::parse(&decoded)
                .map_err(|e| ApiError::bad_request(format!("invalid envelope: {e}")))?,
        ),
        Endpoint::Store => None,
    };
    let dsn_key = envelope.as_ref().and_then(|e| e.headers.dsn.as_deref());
    let project = request::authenticate(
        &app.projects,
        headers,
        query.as_deref(),
        dsn_key,
        project_id,
    )?;
    let envelope_event_id = envelope.as_ref().and_then(|e| e.headers.event_id.clone());
    let ctx = Ctx {
        project: &project,
        limits,
        now_ms: app.clock.now_ms(),
        envelope_event_id: envelope_event_id.as_deref(),
        payloads: &app.payloads,
        symbolicator: &app.symbolicator,
    };
    let (processed, limited) = admission::process(&ctx, envelope.as_ref(), &decoded);
    if processed.kept == 0 {
        // Only counters are left to write: nothing for the writer to wait for.
        drop(preparing);
        return nothing_kept(app, processed, limited, envelope_event_id);
    }
    submit(app, processed, preparing, limited, envelope_event_id).await
}

/// Answers a request none of whose items is kept: its outcome counters are still
/// recorded, and the answer is the most specific error.
fn nothing_kept(
    app: &Ingest,
    mut processed: Processed,
    limited: Option<ApiError>,
    envelope_event_id: Option<String>,
) -> Result<Response, ApiError> {
    app.writer
        .submit_detached(std::mem::take(&mut processed.batch));
    if let Some(err) = limited {
        return Err(err);
    }
    if let Some((ty, r)) = processed.rejected.first() {
        let status = match r {
            Rejection::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::Invalid(_) => StatusCode::BAD_REQUEST,
        };
        return Err(ApiError::new(
            status,
            format!("{} item: {}", ty.as_str(), r.message()),
        ));
    }
    Ok(ok_response(envelope_event_id, None))
}

/// Queues the rows for the writer and answers once they are durable (429 when the queue
/// is full); then hands the request's check-ins to the monitors.
async fn submit(
    app: &Ingest,
    mut processed: Processed,
    preparing: Preparing,
    limited: Option<ApiError>,
    envelope_event_id: Option<String>,
) -> Result<Response, ApiError> {
    let n_events = processed.batch.events.len();
    let check_ins = processed.batch.check_ins.clone();
    let submitted = app
        .writer
        .submit_prepared(std::mem::take(&mut processed.batch), preparing);
    let rx = submitted.map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "lookout is busy writing; retry in a second",
        )
        .retry_after(1)
        .rate_limits(format_rate_limits(&[(1, &[], "organization", None)]))
    })?;
    match rx.await {
        Ok(Ok(outcomes)) => {
            if !check_ins.is_empty() {
                if let Err(e) = app.check_ins.try_send(check_ins) {
                    tracing::warn!(error = %e, "the monitors are behind; stored check-ins were not applied");
                }
            }
            debug_assert_eq!(outcomes.len(), n_events);
            let id = envelope_event_id.or(processed.first_event_id);
            Ok(ok_response(id, limited.and_then(|l| l.rate_limits)))
        }
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("could not store the data: {e}"),
        )
        .retry_after(5)),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the writer stopped; retry later",
        )
        .retry_after(5)),
    }
}

fn ok_response(id: Option<String>, rate_limits: Option<String>) -> Response {
    let body = match id {
        Some(id) => serde_json::json!({ "id": id }),
        None => serde_json::json!({}),
    };
    let mut resp = Json(body).into_response();
    if let Some(v) = rate_limits.and_then(|v| HeaderValue::from_str(&v).ok()) {
        resp.headers_mut().insert("x-sentry-rate-limits", v);
    }
    resp
}
