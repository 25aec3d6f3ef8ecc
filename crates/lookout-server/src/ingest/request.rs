//! Reading an ingest request: the project id, the body under its size limit, the body
//! decoded under a second limit, and the project the request authenticates for.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use lookout_sentry::body::{self, BodyError, ContentEncoding};
use lookout_sentry::limits::Limits;

use super::{auth, Endpoint};
use crate::error::ApiError;
use crate::projects::{ProjectRuntime, Projects};

/// The project id of the path (the number the DSN ends in).
pub(super) fn project_id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`{text}` is not a project id; the DSN ends in a number, e.g. …/42"
        ))
    })
}

/// The body as sent, refused past `limit` bytes (by `Content-Length` before reading).
pub(super) async fn read_body(
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

/// The body decoded by its `Content-Encoding` (and, for `/store/`, its legacy base64 +
/// deflate form), refused past the decompressed limit.
pub(super) fn decode<'a>(
    endpoint: Endpoint,
    headers: &HeaderMap,
    raw: &'a [u8],
    limits: &Limits,
) -> Result<Cow<'a, [u8]>, ApiError> {
    let encoding = headers
        .get("content-encoding")
        .map(|v| v.to_str().unwrap_or("?"))
        .unwrap_or("");
    let encoding = ContentEncoding::parse(encoding)
        .map_err(|e| ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()))?;
    match endpoint {
        Endpoint::Envelope => body::decode(encoding, raw, limits.max_decompressed_bytes),
        Endpoint::Store => {
            body::decode(encoding, raw, limits.max_decompressed_bytes).and_then(|d| {
                body::decode_legacy_store_body(&d, limits.max_decompressed_bytes)
                    .map(|c| Cow::Owned(c.into_owned()))
            })
        }
    }
    .map_err(body_error)
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

/// The project the request is for, once its key and the browser's origin check out.
pub(super) fn authenticate(
    projects: &Projects,
    headers: &HeaderMap,
    query: Option<&str>,
    dsn_key: Option<&str>,
    project_id: i64,
) -> Result<Arc<ProjectRuntime>, ApiError> {
    let key = auth::resolve_key(headers, query, dsn_key, project_id)?;
    let project = projects.get(project_id).ok_or_else(|| {
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
    Ok(project)
}
