//! The HTTP side shared by the webhook-style channels: one POST to the configured URL and
//! the mapping of what came back onto [`Delivery`].

use std::io::Read;
use std::time::{Duration, SystemTime};

use crate::{Delivery, SecretUrl};

/// Most of a receiver's answer that is read; answers are short, and a misbehaving
/// receiver must not make us buffer megabytes.
const MAX_ANSWER_READ: u64 = 64 * 1024;

/// Most of a receiver's answer kept in a [`Delivery`].
pub(crate) const MAX_ANSWER_CHARS: usize = 1000;

/// What the receiver answered.
pub(crate) struct Answer {
    pub status: u16,
    /// `Retry-After`, already turned into a wait.
    pub retry_after: Option<Duration>,
    pub body: String,
}

/// A blocking HTTP client bound to one destination.
pub(crate) struct Poster {
    agent: ureq::Agent,
    url: SecretUrl,
    timeout: Duration,
}

impl Poster {
    pub fn new(url: &SecretUrl, timeout: Option<Duration>) -> Self {
        let timeout = timeout.unwrap_or(crate::DEFAULT_TIMEOUT);
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // Only the configured URL is ever contacted: a redirect is reported, not followed.
            .max_redirects(0)
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Poster {
            agent,
            url: url.clone(),
            timeout,
        }
    }

    /// POSTs a JSON body with extra headers. A request that got no HTTP answer comes back
    /// as the `Delivery` it amounts to.
    pub fn post_json(&self, body: &str, headers: &[(&str, &str)]) -> Result<Answer, Delivery> {
        let mut req = self
            .agent
            .post(self.url.expose())
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        match req.send(body) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                let mut raw = Vec::new();
                // A body cut off by the timeout still tells what the receiver meant.
                let _ = resp
                    .body_mut()
                    .as_reader()
                    .take(MAX_ANSWER_READ)
                    .read_to_end(&mut raw);
                Ok(Answer {
                    status,
                    retry_after,
                    body: String::from_utf8_lossy(&raw).trim().to_string(),
                })
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    fn failed(&self, e: ureq::Error) -> Delivery {
        let host = self.url.redacted();
        // Messages name the host only: the rest of a hook URL is a credential.
        match e {
            ureq::Error::Timeout(_) => Delivery::Retry {
                after: None,
                reason: format!(
                    "{host} did not answer within {}",
                    humantime::format_duration(self.timeout)
                ),
            },
            ureq::Error::HostNotFound => Delivery::Retry {
                after: None,
                reason: format!("cannot resolve the host of {host}"),
            },
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => Delivery::Rejected {
                reason: format!("the configured URL ({host}/…) is not a valid URL"),
            },
            other => Delivery::Retry {
                after: None,
                reason: format!("cannot reach {host}: {other}"),
            },
        }
    }
}

/// Reads `Retry-After`: delay-seconds (decimals accepted, as some services send them) or
/// an HTTP-date, which counts from `now`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The usual meaning of a status: 2xx delivered; 429, 408 and 5xx retried; a status in
/// `gone` (and 410 always) broken; a redirect broken, as it is never followed; other 4xx
/// rejected.
pub(crate) fn classify(a: Answer, gone: &[u16]) -> Delivery {
    let status = a.status;
    let body = crate::text::truncate(&a.body, MAX_ANSWER_CHARS);
    let reason = if body.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body}")
    };
    match status {
        200..=299 => Delivery::Delivered {
            status: Some(status),
            answer: body,
        },
        s if s == 410 || gone.contains(&s) => Delivery::Broken { reason },
        408 | 429 | 500..=599 => Delivery::Retry {
            after: a.retry_after,
            reason,
        },
        300..=399 => Delivery::Broken {
            reason: format!(
                "{reason} (the receiver redirects; lookout follows no redirects, so configure the URL it redirects to)"
            ),
        },
        400..=499 => Delivery::Rejected { reason },
        _ => Delivery::Retry {
            after: a.retry_after,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn statuses_map_to_deliveries() {
        let a = |status: u16| Answer {
            status,
            retry_after: Some(Duration::from_secs(7)),
            body: "x".into(),
        };
        assert!(matches!(
            classify(a(202), &[]),
            Delivery::Delivered {
                status: Some(202),
                ..
            }
        ));
        assert_eq!(
            classify(a(429), &[]),
            Delivery::Retry {
                after: Some(Duration::from_secs(7)),
                reason: "HTTP 429: x".into()
            }
        );
        assert!(matches!(classify(a(503), &[]), Delivery::Retry { .. }));
        assert!(matches!(classify(a(410), &[]), Delivery::Broken { .. }));
        assert!(matches!(classify(a(404), &[404]), Delivery::Broken { .. }));
        assert!(matches!(classify(a(404), &[]), Delivery::Rejected { .. }));
        assert!(matches!(classify(a(301), &[]), Delivery::Broken { .. }));
        assert!(matches!(classify(a(400), &[]), Delivery::Rejected { .. }));
    }
}
