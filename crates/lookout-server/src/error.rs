//! Error responses: a status, a JSON `{"detail": …}` body that says what was wrong and what
//! to do, and for ingest the headers SDKs read (`X-Sentry-Error`, `Retry-After`,
//! `X-Sentry-Rate-Limits`).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An HTTP error with a message for the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Status code.
    pub status: StatusCode,
    /// What was wrong.
    pub detail: String,
    /// `Retry-After`, seconds.
    pub retry_after: Option<u64>,
    /// `X-Sentry-Rate-Limits`.
    pub rate_limits: Option<String>,
}

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
            retry_after: None,
            rate_limits: None,
        }
    }
    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
    /// 500 for a storage failure; the cause goes to the log, not the client.
    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{context}; see the server log"),
        )
    }
    /// Adds `Retry-After`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
    /// Adds `X-Sentry-Rate-Limits`.
    pub fn rate_limits(mut self, v: String) -> Self {
        self.rate_limits = Some(v);
        self
    }
}

/// The JSON body of every error answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What was wrong, and what to do.
    pub detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(ErrorBody {
                detail: self.detail.clone(),
            }),
        )
            .into_response();
        let h = resp.headers_mut();
        let ascii: String = self
            .detail
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .take(200)
            .collect();
        if let Ok(v) = HeaderValue::from_str(&ascii) {
            h.insert("x-sentry-error", v);
        }
        if let Some(s) = self.retry_after {
            h.insert("retry-after", HeaderValue::from(s));
        }
        if let Some(v) = self
            .rate_limits
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            h.insert("x-sentry-rate-limits", v);
        }
        resp
    }
}
