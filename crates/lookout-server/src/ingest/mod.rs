//! Sentry ingest: `POST /api/{project_id}/envelope/` and the legacy `/store/`.
//!
//! Accept liberally, answer fast: the body is read under a size limit, decoded under a
//! second limit, framed at once, and every item is handled on its own so that one bad item
//! never fails the rest. The answer is 200 only once the writer has committed.

mod auth;
mod cors;
pub mod process;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use lookout_sentry::body::{self, BodyError, ContentEncoding};
use lookout_sentry::envelope::{self, ItemType};
use lookout_sentry::limits::format_rate_limits;

use crate::error::ApiError;
use crate::projects::ProjectRuntime;
use crate::state::AppState;
use process::{Ctx, Processed, Rejection};

/// The ingest routes.
pub fn routes() -> Router<Arc<AppState>> {
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
        .route(
            "/api/{project_id}/events/{event_id}/",
            axum::routing::get(event_status),
        )
}

/// Whether an event is stored, for `lookout send-test-event`: authenticated like ingest,
/// with the DSN's key, so a DSN alone is enough to check delivery end to end.
async fn event_status(
    State(app): State<Arc<AppState>>,
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

#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    Envelope,
    Store,
}

async fn envelope(
    State(app): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let resp = ingest(&app, Endpoint::Envelope, &project_id, query, &headers, body).await;
    cors::decorate(resp, &headers)
}

async fn store(
    State(app): State<Arc<AppState>>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let resp = ingest(&app, Endpoint::Store, &project_id, query, &headers, body).await;
    cors::decorate(resp, &headers)
}

async fn ingest(
    app: &Arc<AppState>,
    endpoint: Endpoint,
    project_id: &str,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    match ingest_inner(app, endpoint, project_id, query, headers, body).await {
        Ok(r) => r,
        Err(e) => {
            app.metrics.rejected_requests.inc();
            e.into_response()
        }
    }
}

async fn ingest_inner(
    app: &Arc<AppState>,
    endpoint: Endpoint,
    project_id: &str,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let project_id: i64 = project_id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`{project_id}` is not a project id; the DSN ends in a number, e.g. …/42"
        ))
    })?;
    let limits = &app.limits;
    let raw = read_body(body, headers, limits.max_envelope_bytes).await?;
    // From here to the submission below there is no await: the writer may wait for us.
    let preparing = app.writer.preparing();
    let encoding = headers
        .get("content-encoding")
        .map(|v| v.to_str().unwrap_or("?"))
        .unwrap_or("");
    let encoding = ContentEncoding::parse(encoding)
        .map_err(|e| ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()))?;
    let decoded = match endpoint {
        Endpoint::Envelope => body::decode(encoding, &raw, limits.max_decompressed_bytes),
        Endpoint::Store => {
            body::decode(encoding, &raw, limits.max_decompressed_bytes).and_then(|d| {
                body::decode_legacy_store_body(&d, limits.max_decompressed_bytes)
                    .map(|c| std::borrow::Cow::Owned(c.into_owned()))
            })
        }
    }
    .map_err(body_error)?;

    let envelope = match endpoint {
        Endpoint::Envelope => Some(
            envelope::parse(&decoded)
                .map_err(|e| ApiError::bad_request(format!("invalid envelope: {e}")))?,
        ),
        Endpoint::Store => None,
    };
    let dsn_key = envelope.as_ref().and_then(|e| e.headers.dsn.as_deref());
    let key = auth::resolve_key(headers, query.as_deref(), dsn_key, project_id)?;
    let project = app.projects.get(project_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("project {project_id} does not exist on this server; check the DSN"),
        )
    })?;
    if !key.eq_ignore_ascii_case(&project.project.public_key) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!("the key of this DSN is not valid for project {project_id}; copy the DSN again from lookout"),
        ));
    }
    if let Some(origin) = headers.get("origin").and_then(|o| o.to_str().ok()) {
        if !project.allows_origin(origin) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("origin {origin} is not allowed for project {project_id}; add it to allowed_origins"),
            ));
        }
    }

    let now_ms = app.clock.now_ms();
    let envelope_event_id = envelope.as_ref().and_then(|e| e.headers.event_id.clone());
    let ctx = Ctx {
        project: &project,
        limits,
        now_ms,
        envelope_event_id: envelope_event_id.as_deref(),
        payloads: &app.payloads,
    };
    let mut processed = Processed::default();
    let mut limited: Option<ApiError> = None;
    match &envelope {
        Some(env) => {
            let events = env.items.iter().filter(|i| i.ty == ItemType::Event).count() as u64;
            let admit_events = events == 0 || {
                match admit(&project, now_ms, events) {
                    Ok(()) => true,
                    Err((outcome, reason, err)) => {
                        processed.count(&ctx, outcome, "error", reason, events);
                        limited = Some(err);
                        false
                    }
                }
            };
            for item in &env.items {
                if item.ty == ItemType::Event && !admit_events {
                    continue;
                }
                processed.add_item(&ctx, item);
            }
        }
        None => match admit(&project, now_ms, 1) {
            Ok(()) => match processed.add_event(&ctx, &decoded) {
                Ok(()) => processed.kept += 1,
                Err(r) => {
                    processed.count(&ctx, "invalid", "error", "store", 1);
                    processed.rejected.push((ItemType::Event, r));
                }
            },
            Err((outcome, reason, err)) => {
                processed.count(&ctx, outcome, "error", reason, 1);
                limited = Some(err);
            }
        },
    }

    if processed.kept == 0 {
        // Nothing to keep: still record why, then answer with the most specific error.
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
        return Ok(ok_response(envelope_event_id, None));
    }

    let n_events = processed.batch.events.len();
    let check_ins = processed.batch.check_ins.clone();
    let submitted = app.writer.submit(std::mem::take(&mut processed.batch));
    drop(preparing);
    let rx = submitted.map_err(|_| {
        app.metrics.queue_full.inc();
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "lookout is busy writing; retry in a second",
        )
        .retry_after(1)
        .rate_limits(format_rate_limits(&[(1, &[], "organization", None)]))
    })?;
    match rx.await {
        Ok(Ok(outcomes)) => {
            app.metrics.events_accepted.add(n_events as u64);
            if !check_ins.is_empty() {
                crate::monitors::checkin::apply(app.clone(), check_ins);
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

type Refusal = (&'static str, &'static str, ApiError);

/// Applies the rate limit, then the monthly quota, to `n` error events.
fn admit(project: &ProjectRuntime, now_ms: i64, n: u64) -> Result<(), Refusal> {
    let id = project.project.id;
    if let Err(secs) = project
        .limiter
        .lock()
        .expect("limiter lock")
        .try_acquire(now_ms, n.min(u32::MAX as u64) as u32)
    {
        return Err((
            "rate_limited",
            "project_rate_limit",
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "project {id} is over its rate limit of {} events per minute",
                    project.project.settings.rate_limit_per_minute
                ),
            )
            .retry_after(secs)
            .rate_limits(format_rate_limits(&[(
                secs,
                &["error", "default"],
                "project",
                None,
            )])),
        ));
    }
    if let Err(secs) = project
        .quota
        .lock()
        .expect("quota lock")
        .try_consume(now_ms, n)
    {
        return Err((
            "quota",
            "usage_exceeded",
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "project {id} has used its monthly quota of {} errors; it resets at the start of next month",
                    project.project.settings.monthly_quota
                ),
            )
            .retry_after(secs)
            .rate_limits(format_rate_limits(&[(
                secs,
                &["error", "default"],
                "project",
                Some("usage_exceeded"),
            )])),
        ));
    }
    Ok(())
}

async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is over the limit of {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!(
            "could not read the request body: {e}"
        ))),
    }
}

fn body_error(e: BodyError) -> ApiError {
    match e {
        BodyError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        BodyError::UnsupportedEncoding(_) => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string())
        }
        _ => ApiError::bad_request(e.to_string()),
    }
}
