//! A monitor's definition as users write it (`[[monitors]]` in the config, or JSON through
//! the API), its validation into a [`MonitorDef`] that the scheduler runs, and the errors
//! that name the monitor and the key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lookout_core::heartbeat::{HeartbeatSchedule, HeartbeatSpec};
/// The kinds of monitor, stored with each: the config names them in `kind`.
pub use lookout_core::monitor::MonitorKind;
use lookout_core::monitor::{MonitorDefaults, MonitorSettings};
use lookout_core::schedule::CronSchedule;
use lookout_core::slug::is_slug;
use lookout_probe::http::Keyword;
use lookout_probe::{Check, HttpCheck, JsonCondition, StatusCodes, TcpCheck, TlsCheck, TlsOptions};
use serde::{Deserialize, Serialize};

/// Milliseconds as a duration, for the core's defaults and limits.
fn ms(v: i64) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

/// The key a cron parse error is about: the time zone, or the expression.
pub(super) fn cron_key(error: &str) -> &'static str {
    if error.contains("time zone") {
        "timezone"
    } else {
        "cron"
    }
}

/// One monitor as written by a user. Flat on purpose: every key is documented once, and
/// a key that does not apply to the kind is named in the error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    /// Display name, unique.
    pub name: String,
    /// What to check.
    #[schema(value_type = String, example = "http")]
    pub kind: MonitorKind,
    /// The project it belongs to (slug); heartbeats fed by Sentry check-ins need one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Time between checks (default 60s, at least 10s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub interval: Option<Duration>,
    /// Time before re-checking a failure (default 20s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub retry_interval: Option<Duration>,
    /// Give up on one check after this long (default 10s, at most the interval).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub timeout: Option<Duration>,
    /// Consecutive failures before down is confirmed (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_after: Option<u32>,
    /// Consecutive successes before recovery is confirmed (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover_after: Option<u32>,
    /// Declared but not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,

    /// http, keyword, json, health: the URL; tls: may be given instead of host/port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Request method (default GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Follow redirects (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    /// Accepted status codes, e.g. "200-299,301" (default 200-299).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_status: Option<String>,
    /// Text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    /// Text the body must not contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword_absent: Option<String>,
    /// A condition on the JSON body, e.g. `$.status == "ok"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_condition: Option<String>,
    /// Degraded when a response takes longer.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub max_response_time: Option<Duration>,
    /// Also trust the CA certificates in this PEM file (private CAs, self-signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub ca_file: Option<PathBuf>,
    /// Days before expiry to warn at (default [30, 14, 7, 1]); https and tls monitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_expiry_days: Option<Vec<u32>>,

    /// tcp, tls: host name or address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// tcp, tls: port (tls default 443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,

    /// heartbeat: the secret in `/ping/{token}`; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// heartbeat: the Sentry monitor slug whose check-ins feed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// heartbeat: expected time between pings (or give `cron`).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub period: Option<Duration>,
    /// heartbeat: a cron expression for when runs are expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// heartbeat: the cron expression's time zone (IANA name, default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// heartbeat: how late a ping may be (default 1m).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub grace: Option<Duration>,
    /// heartbeat: a run that started and has not ended after this long is failing.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub max_runtime: Option<Duration>,
    /// pm2: the app's name, as `pm2 list` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// pm2: how PM2 is run (default `pm2`; a path, or e.g. `sudo -u deploy pm2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

/// A validation error: which monitor, which key, what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("monitor \"{name}\": {key}: {message}")]
pub struct SpecError {
    /// The monitor's name.
    pub name: String,
    /// The key at fault.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// What the scheduler runs for a monitor.
#[derive(Debug, Clone)]
pub enum Probe {
    /// An outbound check, run every interval.
    Check(Arc<Check>),
    /// Pings pushed to lookout; the schedule says when one is missing.
    Heartbeat(HeartbeatSpec),
}

/// A validated monitor.
#[derive(Debug, Clone)]
pub struct MonitorDef {
    /// The definition as written (stored as the spec).
    pub config: MonitorConfig,
    /// Intervals and thresholds for the state machine.
    pub settings: MonitorSettings,
    /// What runs.
    pub probe: Probe,
    /// TLS expiry thresholds, days.
    pub tls_expiry_days: Vec<u32>,
    /// Whether checks report a certificate (https URLs and tls monitors).
    pub has_certificate: bool,
}

impl MonitorConfig {
    /// A definition with only a name and a kind, every other key unset.
    pub fn empty(name: &str, kind: MonitorKind) -> Self {
        MonitorConfig {
            name: name.to_string(),
            kind,
            project: None,
            interval: None,
            retry_interval: None,
            timeout: None,
            alert_after: None,
            recover_after: None,
            paused: None,
            url: None,
            method: None,
            headers: None,
            body: None,
            follow_redirects: None,
            accepted_status: None,
            keyword: None,
            keyword_absent: None,
            json_condition: None,
            max_response_time: None,
            ca_file: None,
            tls_expiry_days: None,
            host: None,
            port: None,
            token: None,
            slug: None,
            period: None,
            cron: None,
            timezone: None,
            grace: None,
            max_runtime: None,
            app: None,
            program: None,
        }
    }

    /// Checks every key against the kind and builds what the scheduler runs.
    pub fn validate(&self) -> Result<MonitorDef, SpecError> {
        let err = |key: &str, message: String| SpecError {
            name: self.name.clone(),
            key: key.to_string(),
            message,
        };
        if self.name.trim().is_empty() {
            return Err(err("name", "must not be empty".into()));
        }
        if self.name.len() > 200 {
            return Err(err("name", "must be at most 200 characters".into()));
        }
        self.reject_foreign_keys()?;

        let defaults = MonitorDefaults::default();
        let min_interval = ms(MonitorSettings::MIN_INTERVAL_MS);
        let interval = self.interval.unwrap_or(ms(defaults.settings.interval_ms));
        if self.kind != MonitorKind::Heartbeat && interval < min_interval {
            return Err(err(
                "interval",
                format!(
                    "{} is under the floor of {}; checks may run at most every 10 seconds",
                    humantime::format_duration(interval),
                    humantime::format_duration(min_interval)
                ),
            ));
        }
        let retry = self
            .retry_interval
            .unwrap_or(ms(defaults.settings.retry_interval_ms).min(interval));
        let min_retry = ms(MonitorSettings::MIN_RETRY_INTERVAL_MS);
        if retry < min_retry {
            return Err(err(
                "retry_interval",
                format!(
                    "{} is under the floor of {}",
                    humantime::format_duration(retry),
                    humantime::format_duration(min_retry)
                ),
            ));
        }
        if retry > interval {
            return Err(err(
                "retry_interval",
                "must not be longer than the interval: a retry exists to confirm a failure sooner"
                    .into(),
            ));
        }
        let timeout = self
            .timeout
            .unwrap_or(ms(defaults.timeout_ms).min(interval));
        if timeout.is_zero() || timeout > interval || timeout > ms(MonitorDefaults::MAX_TIMEOUT_MS)
        {
            return Err(err(
                "timeout",
                "must be more than 0, at most 60s and at most the interval, so checks of one monitor never overlap"
                    .into(),
            ));
        }
        let alert_after = self.alert_after.unwrap_or(defaults.settings.alert_after);
        let recover_after = self
            .recover_after
            .unwrap_or(defaults.settings.recover_after);
        let streaks = 1..=MonitorSettings::MAX_STREAK;
        if !streaks.contains(&alert_after) {
            return Err(err("alert_after", "must be between 1 and 100".into()));
        }
        if !streaks.contains(&recover_after) {
            return Err(err("recover_after", "must be between 1 and 100".into()));
        }
        let settings = MonitorSettings {
            interval_ms: interval.as_millis() as i64,
            retry_interval_ms: retry.as_millis() as i64,
            alert_after,
            recover_after,
        };
        let tls_expiry_days = match &self.tls_expiry_days {
            Some(days) if days.iter().any(|&d| d == 0 || d > 365) => {
                return Err(err(
                    "tls_expiry_days",
                    "each threshold must be between 1 and 365 days".into(),
                ))
            }
            Some(days) => days.clone(),
            None => defaults.tls_expiry_days.clone(),
        };
        let tls = match &self.ca_file {
            None => TlsOptions::default(),
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| err("ca_file", format!("cannot read {}: {e}", path.display())))?;
                TlsOptions::with_extra_roots_pem(&pem).map_err(|e| err("ca_file", e))?
            }
        };

        let (probe, has_certificate) = match self.kind {
            k if k.is_http() => {
                let c = self.http_check(timeout, tls, &err)?;
                let https = c.url.starts_with("https://");
                (Probe::Check(Arc::new(Check::Http(Box::new(c)))), https)
            }
            MonitorKind::Pm2 => {
                let app = self
                    .app
                    .clone()
                    .filter(|a| !a.trim().is_empty())
                    .ok_or_else(|| {
                        err(
                            "app",
                            "a pm2 monitor needs the app's name, as `pm2 list` shows it".into(),
                        )
                    })?;
                let program = self.program.clone().unwrap_or_else(|| "pm2".into());
                if program.trim().is_empty() {
                    return Err(err(
                        "program",
                        "must not be empty; leave it out for `pm2`".into(),
                    ));
                }
                let reader = lookout_probe::pm2::Pm2Reader { program, timeout };
                (
                    Probe::Check(Arc::new(Check::Pm2(Arc::new(
                        lookout_probe::pm2::Pm2Check::new(reader, app),
                    )))),
                    false,
                )
            }
            MonitorKind::Tcp => {
                let host = self.need_host(&err)?;
                let port = self
                    .port
                    .ok_or_else(|| err("port", "a tcp monitor needs a port".into()))?;
                (
                    Probe::Check(Arc::new(Check::Tcp(TcpCheck {
                        host,
                        port,
                        timeout,
                    }))),
                    false,
                )
            }
            MonitorKind::Tls => {
                let (host, port) = match (&self.url, &self.host) {
                    (Some(_), Some(_)) => {
                        return Err(err("url", "give url or host, not both".into()))
                    }
                    (Some(url), None) => {
                        let uri = parse_url(url).map_err(|m| err("url", m))?;
                        let host = uri.host().unwrap_or_default().to_string();
                        (host, uri.port_u16().unwrap_or(443))
                    }
                    (None, _) => (self.need_host(&err)?, self.port.unwrap_or(443)),
                };
                (
                    Probe::Check(Arc::new(Check::Tls(TlsCheck {
                        host: host
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_string(),
                        port,
                        timeout,
                        tls,
                    }))),
                    true,
                )
            }
            _ => (Probe::Heartbeat(self.heartbeat(&defaults, &err)?), false),
        };
        Ok(MonitorDef {
            config: self.clone(),
            settings,
            probe,
            tls_expiry_days,
            has_certificate,
        })
    }

    fn need_host(&self, err: &dyn Fn(&str, String) -> SpecError) -> Result<String, SpecError> {
        match &self.host {
            Some(h) if !h.trim().is_empty() && !h.contains('/') && !h.contains(' ') => {
                Ok(h.trim().to_string())
            }
            Some(h) => Err(err("host", format!("`{h}` is not a host name or address"))),
            None => Err(err(
                "host",
                format!("a {} monitor needs a host", self.kind.as_str()),
            )),
        }
    }

    fn http_check(
        &self,
        timeout: Duration,
        tls: TlsOptions,
        err: &dyn Fn(&str, String) -> SpecError,
    ) -> Result<HttpCheck, SpecError> {
        let url = self.url.as_deref().ok_or_else(|| {
            err(
                "url",
                format!("a {} monitor needs a url", self.kind.as_str()),
            )
        })?;
        parse_url(url).map_err(|m| err("url", m))?;
        let mut c = HttpCheck::new(url);
        c.timeout = timeout;
        c.tls = tls;
        if let Some(m) = &self.method {
            c.method = m
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| err("method", format!("`{m}` is not an HTTP method")))?;
        }
        for (k, v) in self.headers.iter().flatten() {
            if axum::http::HeaderName::try_from(k.as_str()).is_err()
                || axum::http::HeaderValue::try_from(v.as_str()).is_err()
            {
                return Err(err("headers", format!("`{k}: {v}` is not a valid header")));
            }
            c.headers.push((k.clone(), v.clone()));
        }
        c.body = self.body.clone().map(Into::into);
        c.follow_redirects = self.follow_redirects.unwrap_or(true);
        if let Some(s) = &self.accepted_status {
            c.accepted = StatusCodes::parse(s).map_err(|e| err("accepted_status", e))?;
        }
        c.keyword = match (&self.keyword, &self.keyword_absent) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "keyword_absent",
                    "give keyword or keyword_absent, not both".into(),
                ))
            }
            (Some(k), None) if !k.is_empty() => Some(Keyword::Present(k.clone())),
            (None, Some(k)) if !k.is_empty() => Some(Keyword::Absent(k.clone())),
            (None, None) => None,
            _ => return Err(err("keyword", "must not be empty".into())),
        };
        if self.kind == MonitorKind::Keyword && c.keyword.is_none() {
            return Err(err(
                "keyword",
                "a keyword monitor needs keyword (or keyword_absent)".into(),
            ));
        }
        c.json_condition = self
            .json_condition
            .as_deref()
            .map(JsonCondition::parse)
            .transpose()
            .map_err(|e| err("json_condition", e))?;
        if self.kind == MonitorKind::Json && c.json_condition.is_none() {
            return Err(err(
                "json_condition",
                "a json monitor needs a json_condition, e.g. '$.status == \"ok\"'".into(),
            ));
        }
        c.health = self.kind == MonitorKind::Health;
        c.max_response_ms = self.max_response_time.map(|d| d.as_millis() as u64);
        Ok(c)
    }

    fn heartbeat(
        &self,
        defaults: &MonitorDefaults,
        err: &dyn Fn(&str, String) -> SpecError,
    ) -> Result<HeartbeatSpec, SpecError> {
        let schedule = match (&self.period, &self.cron) {
            (Some(_), Some(_)) => return Err(err("cron", "give period or cron, not both".into())),
            (Some(p), None) => {
                if *p < ms(MonitorDefaults::MIN_HEARTBEAT_PERIOD_MS) {
                    return Err(err("period", "must be at least 1 minute".into()));
                }
                HeartbeatSchedule::Period {
                    period_ms: p.as_millis() as i64,
                }
            }
            (None, Some(expr)) => HeartbeatSchedule::Cron(
                CronSchedule::parse(expr, self.timezone.as_deref())
                    .map_err(|e| err(cron_key(&e), e))?,
            ),
            (None, None) => {
                return Err(err(
                    "period",
                    "a heartbeat monitor needs a period (e.g. \"1h\") or a cron expression".into(),
                ))
            }
        };
        if self.timezone.is_some() && self.cron.is_none() {
            return Err(err("timezone", "applies only with cron".into()));
        }
        if let Some(t) = &self.token {
            if t.len() < 8
                || t.len() > 100
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(err(
                    "token",
                    "must be 8 to 100 letters, digits, `-` or `_` (it goes in the ping URL)".into(),
                ));
            }
        }
        if let Some(s) = &self.slug {
            if !is_slug(s) {
                return Err(err(
                    "slug",
                    format!("`{s}` is not a slug: use lower-case letters, digits, `-` and `_`"),
                ));
            }
            if self.project.is_none() {
                return Err(err(
                    "project",
                    "a heartbeat with a Sentry slug needs the project its check-ins come from"
                        .into(),
                ));
            }
        }
        let grace_ms = self
            .grace
            .map_or(defaults.heartbeat_grace_ms, |d| d.as_millis() as i64);
        let mut spec = HeartbeatSpec::new(schedule, grace_ms);
        spec.max_runtime_ms = self.max_runtime.map(|d| d.as_millis() as i64);
        spec.failure_threshold = self.alert_after.unwrap_or(spec.failure_threshold);
        spec.recovery_threshold = self.recover_after.unwrap_or(spec.recovery_threshold);
        Ok(spec)
    }

    /// A key set that the kind does not use is a mistake worth naming.
    fn reject_foreign_keys(&self) -> Result<(), SpecError> {
        let http = self.kind.is_http();
        let hb = self.kind == MonitorKind::Heartbeat;
        let net = matches!(self.kind, MonitorKind::Tcp | MonitorKind::Tls);
        let pm2 = self.kind == MonitorKind::Pm2;
        let checks: [(&str, bool, bool); 22] = [
            ("method", self.method.is_some(), http),
            ("headers", self.headers.is_some(), http),
            ("body", self.body.is_some(), http),
            ("follow_redirects", self.follow_redirects.is_some(), http),
            ("accepted_status", self.accepted_status.is_some(), http),
            ("keyword", self.keyword.is_some(), http),
            ("keyword_absent", self.keyword_absent.is_some(), http),
            ("json_condition", self.json_condition.is_some(), http),
            ("max_response_time", self.max_response_time.is_some(), http),
            (
                "url",
                self.url.is_some(),
                http || self.kind == MonitorKind::Tls,
            ),
            ("host", self.host.is_some(), net),
            ("port", self.port.is_some(), net),
            ("ca_file", self.ca_file.is_some(), http || net),
            (
                "tls_expiry_days",
                self.tls_expiry_days.is_some(),
                http || self.kind == MonitorKind::Tls,
            ),
            ("token", self.token.is_some(), hb),
            ("slug", self.slug.is_some(), hb),
            ("period", self.period.is_some(), hb),
            ("cron", self.cron.is_some(), hb),
            ("grace", self.grace.is_some(), hb),
            ("max_runtime", self.max_runtime.is_some(), hb),
            ("app", self.app.is_some(), pm2),
            ("program", self.program.is_some(), pm2),
        ];
        let mut extra = vec![
            ("interval", self.interval.is_some(), !hb),
            ("retry_interval", self.retry_interval.is_some(), !hb),
            ("timeout", self.timeout.is_some(), !hb),
        ];
        extra.extend(checks);
        for (key, set, applies) in extra {
            if set && !applies {
                return Err(SpecError {
                    name: self.name.clone(),
                    key: key.to_string(),
                    message: format!("does not apply to a {} monitor", self.kind.as_str()),
                });
            }
        }
        Ok(())
    }
}

/// Parses an http(s) URL with a host, or says what is wrong with it.
fn parse_url(url: &str) -> Result<axum::http::Uri, String> {
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("`{url}` must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{url}` has no host"));
    }
    Ok(uri)
}
