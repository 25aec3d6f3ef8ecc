//! Outbound checks of lookout: HTTP(S) with per-phase timings, TCP connect, TLS
//! certificates, the interpretation of health documents, PM2's process list and shell
//! commands. One check runs once and returns its result; scheduling, retries and state
//! belong to the caller.

pub mod command;
mod der;
mod error;
pub mod health;
pub mod http;
pub mod json_condition;
mod net;
pub mod pm2;
pub mod status_codes;
pub mod tcp;
pub mod tls;

use serde::Serialize;

pub use error::{CheckError, Phase, TlsErrorKind};
pub use http::{HttpCheck, Redirect};
pub use json_condition::JsonCondition;
pub use status_codes::StatusCodes;
pub use tcp::TcpCheck;
pub use tls::{TlsCheck, TlsInfo, TlsOptions};

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything asked for held.
    Up,
    /// The target answered but reports or shows a problem (a degraded health check, a slow
    /// response): worth a warning, not an outage.
    Degraded,
    /// The target is unreachable or failed a condition.
    Down,
}

/// Milliseconds spent in each phase; `None` for phases that did not run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Name resolution.
    pub dns_ms: Option<f64>,
    /// TCP connect.
    pub connect_ms: Option<f64>,
    /// TLS handshake.
    pub tls_ms: Option<f64>,
    /// From sending the request to receiving the response head.
    pub first_byte_ms: Option<f64>,
    /// The whole check (for HTTP: the final hop of a redirect chain, body included).
    pub total_ms: Option<f64>,
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// `status == Up`, for callers that only need yes or no.
    pub ok: bool,
    /// The verdict.
    pub status: Status,
    /// Per-phase timings.
    pub timings: Timings,
    /// The final HTTP status code, when a response arrived.
    pub http_status: Option<u16>,
    /// Why the check is not up.
    pub error: Option<CheckError>,
    /// The server certificate, for TLS and https checks that got one.
    pub tls: Option<TlsInfo>,
    /// Redirects followed before the final response, in order.
    pub redirects: Vec<Redirect>,
    /// Extra facts worth showing (e.g. a health document's summary).
    pub detail: Option<String>,
    /// A health document's `checks` object, when the check read one.
    pub health_checks: Option<serde_json::Value>,
    /// A PM2 app's figures, when the check read PM2.
    pub pm2: Option<pm2::Pm2Figures>,
}

impl CheckResult {
    pub(crate) fn new(timings: Timings) -> Self {
        CheckResult {
            ok: true,
            status: Status::Up,
            timings,
            http_status: None,
            error: None,
            tls: None,
            redirects: Vec::new(),
            detail: None,
            health_checks: None,
            pm2: None,
        }
    }

    /// Marks the result with a verdict and its cause.
    pub(crate) fn fail(mut self, status: Status, error: CheckError) -> Self {
        self.ok = status == Status::Up;
        self.status = status;
        self.error = Some(error);
        self
    }
}

/// Any check lookout can run.
#[derive(Debug, Clone)]
pub enum Check {
    /// HTTP(S), optionally interpreting a health document (boxed: it is much larger than
    /// the others).
    Http(Box<HttpCheck>),
    /// A TCP connect.
    Tcp(TcpCheck),
    /// A TLS handshake and certificate inspection.
    Tls(TlsCheck),
    /// A PM2 app: online, and its restart count since the last check.
    Pm2(std::sync::Arc<pm2::Pm2Check>),
}

impl Check {
    /// Runs the check once. `now_ms` is the caller's current time in Unix milliseconds
    /// (its injected clock): certificates are judged at it (validity, days left).
    pub async fn run(&self, now_ms: i64) -> CheckResult {
        match self {
            Check::Http(c) => c.run(now_ms).await,
            Check::Tcp(c) => c.run().await,
            Check::Tls(c) => c.run(now_ms).await,
            Check::Pm2(c) => c.run().await,
        }
    }
}
