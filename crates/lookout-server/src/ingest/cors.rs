//! CORS for browser SDKs: they post from the app's origin and must be able to read the
//! rate-limit headers of the answer.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const EXPOSE: &str = "x-sentry-error, x-sentry-rate-limits, retry-after";
const ALLOW_HEADERS: &str = "x-sentry-auth, x-requested-with, origin, accept, content-type, \
    content-encoding, authentication, authorization, sentry-trace, baggage";

/// Answers a preflight request. Per-project origin rules are applied on the real request,
/// whose 403 the browser then reports.
pub async fn preflight(headers: HeaderMap) -> Response {
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    let allow = headers
        .get("access-control-request-headers")
        .cloned()
        .unwrap_or(HeaderValue::from_static(ALLOW_HEADERS));
    h.insert("access-control-allow-headers", allow);
    h.insert("access-control-max-age", HeaderValue::from_static("3600"));
    decorate(resp, &headers)
}

/// Adds the CORS headers to an ingest answer when the request came from a browser.
pub fn decorate(mut resp: Response, req: &HeaderMap) -> Response {
    if let Some(origin) = req.get("origin") {
        let h = resp.headers_mut();
        h.insert("access-control-allow-origin", origin.clone());
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static(EXPOSE),
        );
        h.append("vary", HeaderValue::from_static("Origin"));
    }
    resp
}
