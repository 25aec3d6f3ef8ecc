//! The HTTP(S) check: one request over a connection opened here, so each phase (DNS,
//! connect, TLS, first byte) is timed separately; then status, keyword, JSON condition,
//! health document and response time are judged.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, HOST, LOCATION, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::net::{ms_since, open, Deadline};
use crate::{
    health, CheckError, CheckResult, JsonCondition, Phase, Status, StatusCodes, Timings, TlsInfo,
    TlsOptions,
};

/// How much of a body is read: enough for any health document or keyword search, small
/// enough that 10,000 monitors cannot exhaust memory on a huge page.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A keyword rule on the response body (case-sensitive substring).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keyword {
    /// The body must contain it.
    Present(String),
    /// The body must not contain it.
    Absent(String),
}

/// One redirect followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redirect {
    /// The URL that answered with a redirect.
    pub from: String,
    /// Its status code.
    pub status: u16,
    /// Where it pointed, resolved to an absolute URL.
    pub to: String,
}

/// An HTTP(S) check and what it asserts.
#[derive(Debug, Clone)]
pub struct HttpCheck {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Request method.
    pub method: Method,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Option<Bytes>,
    /// Whether redirects are followed.
    pub follow_redirects: bool,
    /// How many redirects are followed at most.
    pub max_redirects: u32,
    /// Accepted final status codes.
    pub accepted: StatusCodes,
    /// A keyword rule on the body.
    pub keyword: Option<Keyword>,
    /// A JSON condition on the body.
    pub json_condition: Option<JsonCondition>,
    /// Interpret the body as a health document (reference format or health+json).
    pub health: bool,
    /// With `health`: a body that is not a health document fails, instead of the status
    /// code alone deciding (a deploy check must see the app's own verdict).
    pub require_health_document: bool,
    /// Above this many milliseconds (final hop, body included) the check is degraded.
    pub max_response_ms: Option<u64>,
    /// Overall timeout, redirects included.
    pub timeout: Duration,
    /// Trusted roots for https.
    pub tls: TlsOptions,
}

impl HttpCheck {
    /// A GET of `url` with the defaults: 5 redirects, 200–299, 30 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        HttpCheck {
            url: url.into(),
            method: Method::GET,
            headers: Vec::new(),
            body: None,
            follow_redirects: true,
            max_redirects: 5,
            accepted: StatusCodes::default(),
            keyword: None,
            json_condition: None,
            health: false,
            require_health_document: false,
            max_response_ms: None,
            timeout: Duration::from_secs(30),
            tls: TlsOptions::default(),
        }
    }

    /// Whether the URL can be checked at all (http or https, a host, no stray characters),
    /// so a caller can refuse it up front instead of reporting it as an outage.
    pub fn validate_url(&self) -> Result<(), CheckError> {
        Target::parse(&self.url).map(|_| ())
    }

    /// Runs the check once; an https certificate is judged at `now_ms` (Unix
    /// milliseconds, from the caller's clock).
    pub async fn run(&self, now_ms: i64) -> CheckResult {
        let deadline = Deadline::after(self.timeout);
        let mut url = self.url.clone();
        let mut method = self.method.clone();
        let mut body = self.body.clone().unwrap_or_default();
        let mut redirects = Vec::new();
        loop {
            let mut hop = Hop::default();
            let outcome = self
                .fetch(&url, &method, body.clone(), deadline, now_ms, &mut hop)
                .await;
            let mut result = CheckResult::new(hop.timings);
            result.tls = hop.tls;
            result.redirects = redirects.clone();
            let response = match outcome {
                Ok(r) => r,
                Err(e) => return result.fail(Status::Down, e),
            };
            result.http_status = Some(response.status.as_u16());
            if response.status.is_redirection() && self.follow_redirects {
                if let Some(to) = response.location.as_deref() {
                    if redirects.len() as u32 >= self.max_redirects {
                        return result.fail(
                            Status::Down,
                            CheckError::TooManyRedirects {
                                max: self.max_redirects,
                            },
                        );
                    }
                    let to = resolve_location(&url, to);
                    redirects.push(Redirect {
                        from: url.clone(),
                        status: response.status.as_u16(),
                        to: to.clone(),
                    });
                    // Browsers turn 303 (and, historically, 301/302 after POST) into GET.
                    if response.status == StatusCode::SEE_OTHER
                        || (method == Method::POST && matches!(response.status.as_u16(), 301 | 302))
                    {
                        method = Method::GET;
                        body = Bytes::new();
                    }
                    url = to;
                    continue;
                }
            }
            return self.judge(result, &response);
        }
    }

    /// Applies the assertions to the final response; the first Down wins over Degraded.
    fn judge(&self, mut result: CheckResult, response: &Response) -> CheckResult {
        let status = response.status.as_u16();
        let mut degraded = None;
        let mut not_a_document = false;
        if self.health {
            let report = health::interpret(&response.body);
            not_a_document = report.is_none();
            if let Some(r) = &report {
                result.detail = Some(format!(
                    "health document: {} check(s), {} not ok",
                    r.checks,
                    r.failing.len()
                ));
                result.health_checks = r.checks_doc.clone();
            }
            // The reference and the draft both answer 503 when unhealthy.
            if status == 503 || report.as_ref().map(|r| r.status) == Some(Status::Down) {
                let checks = report.map(|r| r.failing).unwrap_or_default();
                return result.fail(Status::Down, CheckError::HealthUnhealthy { checks });
            }
            if let Some(r) = report.filter(|r| r.status == Status::Degraded) {
                degraded = Some(CheckError::HealthDegraded { checks: r.failing });
            }
        }
        if !self.accepted.contains(status) {
            return result.fail(
                Status::Down,
                CheckError::UnexpectedStatus {
                    got: status,
                    expected: self.accepted.to_string(),
                },
            );
        }
        if not_a_document && self.require_health_document {
            return result.fail(Status::Down, CheckError::NotHealthDocument);
        }
        if let Some(k) = &self.keyword {
            let text = String::from_utf8_lossy(&response.body);
            match k {
                Keyword::Present(w) if !text.contains(w.as_str()) => {
                    let keyword = w.clone();
                    return result.fail(Status::Down, CheckError::KeywordMissing { keyword });
                }
                Keyword::Absent(w) if text.contains(w.as_str()) => {
                    let keyword = w.clone();
                    return result.fail(Status::Down, CheckError::KeywordPresent { keyword });
                }
                _ => {}
            }
        }
        if let Some(cond) = &self.json_condition {
            let found = match serde_json::from_slice::<serde_json::Value>(&response.body) {
                Ok(doc) => {
                    let eval = cond.evaluate(&doc);
                    (!eval.holds).then(|| eval.describe(cond))
                }
                Err(e) => Some(format!("the body is not JSON ({e})")),
            };
            if let Some(found) = found {
                let condition = cond.to_string();
                return result.fail(
                    Status::Down,
                    CheckError::JsonConditionFalse { condition, found },
                );
            }
        }
        if let (Some(limit), Some(took)) = (self.max_response_ms, result.timings.total_ms) {
            // Slow but answering is a warning; the users still get their page.
            if took > limit as f64 && degraded.is_none() {
                degraded = Some(CheckError::TooSlow {
                    took_ms: took,
                    limit_ms: limit,
                });
            }
        }
        match degraded {
            Some(e) => result.fail(Status::Degraded, e),
            None => result,
        }
    }

    /// One request/response exchange on a fresh connection; `hop` collects the timings and
    /// certificate even when it fails part-way.
    async fn fetch(
        &self,
        url: &str,
        method: &Method,
        body: Bytes,
        deadline: Deadline,
        now_ms: i64,
        hop: &mut Hop,
    ) -> Result<Response, CheckError> {
        let start = Instant::now();
        let result = self
            .fetch_inner(url, method, body, deadline, now_ms, hop)
            .await;
        hop.timings.total_ms = Some(ms_since(start));
        result
    }

    async fn fetch_inner(
        &self,
        url: &str,
        method: &Method,
        body: Bytes,
        deadline: Deadline,
        now_ms: i64,
        hop: &mut Hop,
    ) -> Result<Response, CheckError> {
        let target = Target::parse(url)?;
        // Built before connecting so a bad header never reaches the target half-sent.
        let request = self.request(&target, method, body)?;
        let tcp = open(&target.host, target.port, &deadline, &mut hop.timings).await?;
        if target.https {
            let t = Instant::now();
            let (stream, info) = deadline
                .run(Phase::Tls, async {
                    Ok(
                        crate::tls::handshake(tcp, &target.host, &self.tls, &[b"http/1.1"], now_ms)
                            .await,
                    )
                })
                .await?;
            hop.tls = info;
            let stream = stream?;
            hop.timings.tls_ms = Some(ms_since(t));
            exchange(stream, request, deadline, hop).await
        } else {
            exchange(tcp, request, deadline, hop).await
        }
    }

    fn request(
        &self,
        target: &Target,
        method: &Method,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, CheckError> {
        let invalid = |reason: String| CheckError::Invalid { reason };
        let mut req = Request::builder()
            .method(method.clone())
            .uri(target.path_and_query.as_str())
            .header(HOST, target.authority.as_str())
            .header(USER_AGENT, concat!("lookout/", env!("CARGO_PKG_VERSION")));
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.trim().as_bytes())
                .map_err(|_| invalid(format!("`{k}` is not a header name")))?;
            let value = HeaderValue::from_str(v.trim())
                .map_err(|_| invalid(format!("the value of header {k} is not valid")))?;
            req = req.header(name, value);
        }
        req.body(Full::new(body))
            .map_err(|e| invalid(format!("cannot build the request: {e}")))
    }
}

/// What a hop measured, kept even when it fails.
#[derive(Debug, Default)]
struct Hop {
    timings: Timings,
    tls: Option<TlsInfo>,
}

/// The parts of a response the judgement needs.
struct Response {
    status: StatusCode,
    location: Option<String>,
    body: Bytes,
}

/// Ends the connection task when the hop is over, even on timeout or error.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange<S>(
    stream: S,
    request: Request<Full<Bytes>>,
    deadline: Deadline,
    hop: &mut Hop,
) -> Result<Response, CheckError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http_err = |e: hyper::Error| CheckError::Http {
        reason: e.to_string(),
    };
    let t = Instant::now();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http_err)?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let response = deadline
        .run(Phase::FirstByte, async {
            sender.send_request(request).await.map_err(http_err)
        })
        .await?;
    hop.timings.first_byte_ms = Some(ms_since(t));
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = response.into_body();
    let data = deadline
        .run(Phase::Body, async {
            let mut buf = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(http_err)?;
                if let Ok(chunk) = frame.into_data() {
                    let take = chunk.len().min(BODY_LIMIT - buf.len());
                    buf.extend_from_slice(&chunk[..take]);
                    if buf.len() >= BODY_LIMIT {
                        break;
                    }
                }
            }
            Ok(buf)
        })
        .await?;
    Ok(Response {
        status,
        location,
        body: Bytes::from(data),
    })
}

/// The parts of a URL a connection needs.
#[derive(Debug)]
struct Target {
    https: bool,
    host: String,
    port: u16,
    authority: String,
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, CheckError> {
        let invalid = |why: &str| CheckError::Invalid {
            reason: format!("`{url}` {why}"),
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| invalid("is not a URL (e.g. https://example.org/health)"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid("must start with http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("has no host"))?;
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_string();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, a)| a)
            .to_string();
        let path_and_query = uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string());
        Ok(Target {
            https,
            host,
            port,
            authority,
            path_and_query,
        })
    }
}

/// Resolves a Location header against the URL that sent it (RFC 3986: relative paths,
/// `..`, query-only and scheme-relative references); kept as sent when it cannot be read,
/// so the next hop reports it as not a URL.
fn resolve_location(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .and_then(|b| b.join(location))
        .map_or_else(|_| location.to_string(), String::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_locations() {
        let base = "https://a.example/x/y?q=1";
        assert_eq!(resolve_location(base, "http://b/"), "http://b/");
        assert_eq!(resolve_location(base, "//c/d"), "https://c/d");
        assert_eq!(resolve_location(base, "/z"), "https://a.example/z");
        assert_eq!(resolve_location(base, "w"), "https://a.example/x/w");
        assert_eq!(resolve_location("http://h:8080", "p"), "http://h:8080/p");
        assert_eq!(resolve_location(base, "../up"), "https://a.example/up");
        assert_eq!(
            resolve_location(base, "?page=2"),
            "https://a.example/x/y?page=2"
        );
        assert_eq!(
            resolve_location(base, "HTTPS://B.example/"),
            "https://b.example/"
        );
    }

    #[test]
    fn parses_targets() {
        let t = Target::parse("https://example.org/api/health?x=1").unwrap();
        assert!(t.https);
        assert_eq!((t.host.as_str(), t.port), ("example.org", 443));
        assert_eq!(t.path_and_query, "/api/health?x=1");
        let t = Target::parse("http://[::1]:8080").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("::1", 8080, "[::1]:8080")
        );
        assert!(Target::parse("ftp://x/").is_err());
        assert!(Target::parse("not a url").is_err());
    }
}
