//! Why a check failed, classified in plain words.

use std::fmt;

use serde::Serialize;

/// The phase of a check, for timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Resolving the host name.
    Dns,
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake.
    Tls,
    /// Waiting for the response head.
    FirstByte,
    /// Reading the response body.
    Body,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Dns => "the DNS lookup",
            Phase::Connect => "the TCP connect",
            Phase::Tls => "the TLS handshake",
            Phase::FirstByte => "the wait for the first byte",
            Phase::Body => "the body download",
        })
    }
}

/// What was wrong with a TLS connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsErrorKind {
    /// The certificate's notAfter has passed.
    Expired,
    /// The certificate's notBefore is still ahead.
    NotYetValid,
    /// The chain does not lead to a trusted root.
    UnknownIssuer,
    /// The certificate signs itself and is not trusted.
    SelfSigned,
    /// The certificate is not valid for the host name asked for.
    HostnameMismatch,
    /// Anything else (protocol error, bad signature, revoked…).
    Other,
}

impl fmt::Display for TlsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsErrorKind::Expired => "the certificate has expired",
            TlsErrorKind::NotYetValid => "the certificate is not valid yet",
            TlsErrorKind::UnknownIssuer => "the certificate's issuer is not trusted",
            TlsErrorKind::SelfSigned => "the certificate is self-signed and not trusted",
            TlsErrorKind::HostnameMismatch => "the certificate is for another host name",
            TlsErrorKind::Other => "the handshake failed",
        })
    }
}

/// Why a check is not up.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CheckError {
    /// The check ran out of time.
    #[error("timed out during {phase} (limit {limit_ms} ms)")]
    Timeout {
        /// The phase that was running.
        phase: Phase,
        /// The overall timeout.
        limit_ms: u64,
    },
    /// The host name did not resolve.
    #[error("DNS lookup of {host} failed: {reason}")]
    Dns {
        /// The name looked up.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// Nothing listens on the port.
    #[error("connection to {addr} refused")]
    ConnectionRefused {
        /// The address tried.
        addr: String,
    },
    /// Another connect failure (unreachable network, reset…).
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The address tried.
        addr: String,
        /// What the OS said.
        reason: String,
    },
    /// The TLS handshake or certificate failed.
    #[error("TLS error: {kind} ({detail})")]
    Tls {
        /// The classification.
        kind: TlsErrorKind,
        /// The underlying message.
        detail: String,
    },
    /// The HTTP exchange failed (malformed response, connection closed early).
    #[error("HTTP error: {reason}")]
    Http {
        /// What went wrong.
        reason: String,
    },
    /// The URL or options cannot be used.
    #[error("invalid check: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The response's status code is not one of those accepted.
    #[error("unexpected HTTP status {got} (expected {expected})")]
    UnexpectedStatus {
        /// The status received.
        got: u16,
        /// The accepted codes, as configured.
        expected: String,
    },
    /// More redirects than allowed.
    #[error("more than {max} redirects")]
    TooManyRedirects {
        /// The limit.
        max: u32,
    },
    /// A required keyword is not in the body.
    #[error("keyword {keyword:?} missing from the response body")]
    KeywordMissing {
        /// The keyword.
        keyword: String,
    },
    /// A forbidden keyword is in the body.
    #[error("keyword {keyword:?} present in the response body")]
    KeywordPresent {
        /// The keyword.
        keyword: String,
    },
    /// The JSON condition did not hold.
    #[error("JSON condition `{condition}` is false: {found}")]
    JsonConditionFalse {
        /// The condition as written.
        condition: String,
        /// What the path evaluated to.
        found: String,
    },
    /// The health document says degraded.
    #[error("health is degraded: {}", list(checks))]
    HealthDegraded {
        /// The checks that are not ok, with their status.
        checks: Vec<String>,
    },
    /// The health document says unhealthy (or the endpoint answered 503).
    #[error("health is unhealthy: {}", list(checks))]
    HealthUnhealthy {
        /// The checks that are not ok, with their status.
        checks: Vec<String>,
    },
    /// A health document was required and the body is not one.
    #[error("the body is not a health document (JSON whose `status` is ok, degraded or unhealthy, or pass, warn or fail)")]
    NotHealthDocument,
    /// The response came, but later than the limit.
    #[error("response too slow: {took_ms:.0} ms (limit {limit_ms} ms)")]
    TooSlow {
        /// How long it took.
        took_ms: f64,
        /// The limit.
        limit_ms: u64,
    },
    /// PM2 could not be read, or the app is missing, not online or restarting.
    #[error("{reason}")]
    Pm2 {
        /// What is wrong, in words (never any part of the app's environment).
        reason: String,
    },
}

fn list(checks: &[String]) -> String {
    if checks.is_empty() {
        "no failing check named".to_string()
    } else {
        checks.join(", ")
    }
}
