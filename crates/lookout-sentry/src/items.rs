//! Lenient parsers for the non-event item types, each returning an owned summary with just
//! what lookout stores.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::de::{self, lenient_object, Field, Stringish, Timestamp};

/// Why an item payload was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// Not JSON, or not a JSON object.
    #[error("{item} payload is not a valid JSON object: {message}")]
    InvalidJson {
        /// The item type.
        item: &'static str,
        /// What the JSON parser said.
        message: String,
    },
    /// A field lookout cannot do without is absent or malformed.
    #[error("{item} payload has no valid `{field}`")]
    MissingField {
        /// The item type.
        item: &'static str,
        /// The missing field.
        field: &'static str,
    },
}

fn parse_object<'a, T: de::Lenient<'a>>(
    item: &'static str,
    input: &'a [u8],
) -> Result<T, ItemError> {
    de::from_object_slice(input).map_err(|e| ItemError::InvalidJson {
        item,
        message: e.to_string(),
    })
}

fn owned(f: Field<Cow<'_, str>>) -> Option<String> {
    f.ok().map(Cow::into_owned)
}

/// What lookout keeps of a transaction (performance data).
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionSummary {
    /// `event_id`, normalised to 32 lower-case hex digits.
    pub event_id: Option<String>,
    /// `transaction`; `<unlabeled transaction>` when absent, as Sentry shows it.
    pub name: String,
    /// `contexts.trace.op` (e.g. `http.server`).
    pub op: Option<String>,
    /// `contexts.trace.status` (e.g. `ok`, `internal_error`).
    pub status: Option<String>,
    /// `start_timestamp` as Unix seconds.
    pub start_timestamp: Option<f64>,
    /// `timestamp` (the end) as Unix seconds.
    pub timestamp: Option<f64>,
    /// `release`.
    pub release: Option<String>,
    /// `environment`.
    pub environment: Option<String>,
}

/// Milliseconds from `start` to `end` (seconds), to the microsecond: the difference of
/// two epoch seconds as `f64` is off by a fraction of a microsecond (950 ms coming out
/// as 949.9999), which would put a duration on a histogram edge into the bucket below.
fn duration_between(start: f64, end: f64) -> Option<f64> {
    let d = ((end - start) * 1_000_000.0).round() / 1000.0;
    (d >= 0.0 && d.is_finite()).then_some(d)
}

impl TransactionSummary {
    /// Duration in milliseconds, when both ends are known and in order.
    pub fn duration_ms(&self) -> Option<f64> {
        duration_between(self.start_timestamp?, self.timestamp?)
    }
}

lenient_object! {
    struct RawTransaction<'a> {
        "event_id" => event_id: Field<Cow<'a, str>>,
        "transaction" => transaction: Field<Cow<'a, str>>,
        "contexts" => contexts: Field<RawContexts<'a>>,
        "start_timestamp" => start_timestamp: Field<Timestamp>,
        "timestamp" => timestamp: Field<Timestamp>,
        "release" => release: Field<Cow<'a, str>>,
        "environment" => environment: Field<Cow<'a, str>>,
    }
}

lenient_object! {
    struct RawContexts<'a> {
        "trace" => trace: Field<RawTrace<'a>>,
    }
}

lenient_object! {
    struct RawTrace<'a> {
        "op" => op: Field<Cow<'a, str>>,
        "status" => status: Field<Cow<'a, str>>,
    }
}

/// Parses a `transaction` item.
pub fn parse_transaction(input: &[u8]) -> Result<TransactionSummary, ItemError> {
    let raw: RawTransaction<'_> = parse_object("transaction", input)?;
    let trace = raw.contexts.ok().and_then(|c| c.trace.ok());
    let (op, status) = match trace {
        Some(t) => (owned(t.op), owned(t.status)),
        None => (None, None),
    };
    Ok(TransactionSummary {
        event_id: raw.event_id.ok().and_then(|s| de::normalize_uuid(&s)),
        name: owned(raw.transaction).unwrap_or_else(|| "<unlabeled transaction>".to_string()),
        op,
        status,
        start_timestamp: raw.start_timestamp.ok().map(|t| t.0),
        timestamp: raw.timestamp.ok().map(|t| t.0),
        release: owned(raw.release),
        environment: owned(raw.environment),
    })
}

/// One span of a v2 `span` item (`application/vnd.sentry.items.span.v2+json`, sent by the
/// JavaScript SDKs from v10 on): what lookout keeps of it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanSummary {
    /// `is_segment`: the span is a request or page load (the root of its part of the
    /// trace), not a step inside one.
    pub is_segment: bool,
    /// `name`; `<unlabeled span>` when absent.
    pub name: String,
    /// The `sentry.op` attribute (e.g. `http.server`, `pageload`).
    pub op: Option<String>,
    /// `status`: `ok` or `error`.
    pub status: Option<String>,
    /// `start_timestamp` as Unix seconds.
    pub start_timestamp: Option<f64>,
    /// `end_timestamp` as Unix seconds.
    pub end_timestamp: Option<f64>,
    /// The `sentry.release` attribute.
    pub release: Option<String>,
    /// The `sentry.environment` attribute.
    pub environment: Option<String>,
    /// The `http.response.status_code` attribute.
    pub http_status: Option<u64>,
}

impl SpanSummary {
    /// Duration in milliseconds, when both ends are known and in order.
    pub fn duration_ms(&self) -> Option<f64> {
        duration_between(self.start_timestamp?, self.end_timestamp?)
    }

    /// Whether the request failed: the span's status, or a 5xx response.
    pub fn is_error(&self) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| s != "ok" && s != "unset")
            || self.http_status.is_some_and(|c| (500..600).contains(&c))
    }
}

lenient_object! {
    struct RawSpanContainer<'a> {
        "items" => items: Field<Vec<RawSpan<'a>>>,
    }
}

lenient_object! {
    struct RawSpan<'a> {
        "name" => name: Field<Cow<'a, str>>,
        "is_segment" => is_segment: Field<bool>,
        "status" => status: Field<Cow<'a, str>>,
        "start_timestamp" => start_timestamp: Field<Timestamp>,
        "end_timestamp" => end_timestamp: Field<Timestamp>,
        "attributes" => attributes: Field<RawSpanAttributes<'a>>,
    }
}

lenient_object! {
    struct RawSpanAttributes<'a> {
        "sentry.op" => op: Field<RawAttribute<'a>>,
        "sentry.release" => release: Field<RawAttribute<'a>>,
        "sentry.environment" => environment: Field<RawAttribute<'a>>,
        "http.response.status_code" => http_status: Field<RawAttribute<'a>>,
    }
}

lenient_object! {
    /// A typed attribute: `{"value": …, "type": "string"}`.
    struct RawAttribute<'a> {
        "value" => value: Field<Stringish<'a>>,
    }
}

fn attribute(f: Field<RawAttribute<'_>>) -> Option<String> {
    f.ok()?.value.ok().map(|s| s.0.into_owned())
}

/// Parses a v2 `span` item: `{"items": [span, …]}`. Spans that are not objects are
/// skipped; a container without an `items` list is refused.
pub fn parse_spans(input: &[u8]) -> Result<Vec<SpanSummary>, ItemError> {
    let raw: RawSpanContainer<'_> = parse_object("span", input)?;
    let items = raw.items.ok().ok_or(ItemError::MissingField {
        item: "span",
        field: "items",
    })?;
    Ok(items
        .into_iter()
        .map(|s| {
            let (mut op, mut release, mut environment, mut http_status) = (None, None, None, None);
            if let Some(a) = s.attributes.ok() {
                op = attribute(a.op);
                release = attribute(a.release);
                environment = attribute(a.environment);
                http_status = attribute(a.http_status)
                    .and_then(|c| c.parse::<f64>().ok())
                    .map(|c| c as u64);
            }
            SpanSummary {
                is_segment: s.is_segment.ok().unwrap_or(false),
                name: owned(s.name)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "<unlabeled span>".to_string()),
                op,
                status: owned(s.status),
                start_timestamp: s.start_timestamp.ok().map(|t| t.0),
                end_timestamp: s.end_timestamp.ok().map(|t| t.0),
                release,
                environment,
                http_status,
            }
        })
        .collect())
}

/// One session update (release health).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionUpdate {
    /// `sid`: the session id.
    pub sid: String,
    /// `did`: the distinct (user or device) id.
    pub did: Option<String>,
    /// `init`: true on the first update of a session.
    pub init: bool,
    /// `started` as Unix seconds.
    pub started: Option<f64>,
    /// `status`: ok, exited, crashed, abnormal or errored (`ok` when absent).
    pub status: String,
    /// `errors`: errors seen in the session so far.
    pub errors: u64,
    /// `attrs.release`.
    pub release: Option<String>,
    /// `attrs.environment`.
    pub environment: Option<String>,
}

lenient_object! {
    struct RawSession<'a> {
        "sid" => sid: Field<Stringish<'a>>,
        "did" => did: Field<Stringish<'a>>,
        "init" => init: Field<bool>,
        "started" => started: Field<Timestamp>,
        "status" => status: Field<Cow<'a, str>>,
        "errors" => errors: Field<u64>,
        "attrs" => attrs: Field<RawAttrs<'a>>,
    }
}

lenient_object! {
    struct RawAttrs<'a> {
        "release" => release: Field<Cow<'a, str>>,
        "environment" => environment: Field<Cow<'a, str>>,
    }
}

impl RawAttrs<'_> {
    fn split(f: Field<Self>) -> (Option<String>, Option<String>) {
        match f.ok() {
            Some(a) => (owned(a.release), owned(a.environment)),
            None => (None, None),
        }
    }
}

/// Parses a `session` item; `sid` is required.
pub fn parse_session(input: &[u8]) -> Result<SessionUpdate, ItemError> {
    let raw: RawSession<'_> = parse_object("session", input)?;
    let sid = raw
        .sid
        .ok()
        .map(|s| s.0.into_owned())
        .filter(|s| !s.is_empty())
        .ok_or(ItemError::MissingField {
            item: "session",
            field: "sid",
        })?;
    let (release, environment) = RawAttrs::split(raw.attrs);
    Ok(SessionUpdate {
        sid,
        did: raw.did.ok().map(|s| s.0.into_owned()),
        init: raw.init.ok().unwrap_or(false),
        started: raw.started.ok().map(|t| t.0),
        status: owned(raw.status).unwrap_or_else(|| "ok".to_string()),
        errors: raw.errors.ok().unwrap_or(0),
        release,
        environment,
    })
}

/// Pre-aggregated session counts (`sessions` item, sent by server-mode SDKs).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionAggregates {
    /// `attrs.release`.
    pub release: Option<String>,
    /// `attrs.environment`.
    pub environment: Option<String>,
    /// One bucket per start time.
    pub aggregates: Vec<SessionAggregate>,
}

/// One bucket of aggregated sessions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionAggregate {
    /// `started` (bucket start) as Unix seconds.
    pub started: Option<f64>,
    /// Sessions that ended normally.
    pub exited: u64,
    /// Sessions with handled errors.
    pub errored: u64,
    /// Sessions that crashed.
    pub crashed: u64,
    /// Sessions that ended abnormally (e.g. ANR, killed).
    pub abnormal: u64,
}

lenient_object! {
    struct RawSessions<'a> {
        "attrs" => attrs: Field<RawAttrs<'a>>,
        "aggregates" => aggregates: Field<Vec<RawAggregate<'a>>>,
    }
}

lenient_object! {
    struct RawAggregate<'a> {
        "started" => started: Field<Timestamp>,
        "exited" => exited: Field<u64>,
        "errored" => errored: Field<u64>,
        "crashed" => crashed: Field<u64>,
        "abnormal" => abnormal: Field<u64>,
    }
}

/// Parses a `sessions` item.
pub fn parse_sessions(input: &[u8]) -> Result<SessionAggregates, ItemError> {
    let raw: RawSessions<'_> = parse_object("sessions", input)?;
    let (release, environment) = RawAttrs::split(raw.attrs);
    let aggregates = raw
        .aggregates
        .ok()
        .unwrap_or_default()
        .into_iter()
        .map(|a| SessionAggregate {
            started: a.started.ok().map(|t| t.0),
            exited: a.exited.ok().unwrap_or(0),
            errored: a.errored.ok().unwrap_or(0),
            crashed: a.crashed.ok().unwrap_or(0),
            abnormal: a.abnormal.ok().unwrap_or(0),
        })
        .collect();
    Ok(SessionAggregates {
        release,
        environment,
        aggregates,
    })
}

/// What an SDK reports it dropped before sending.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientReport {
    /// `timestamp` as Unix seconds.
    pub timestamp: Option<f64>,
    /// The discard counts.
    pub discarded: Vec<DiscardedEvent>,
}

/// One discard count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardedEvent {
    /// Why (e.g. `queue_overflow`, `ratelimit_backoff`, `sample_rate`).
    pub reason: String,
    /// The data category (e.g. `error`, `transaction`).
    pub category: String,
    /// How many.
    pub quantity: u64,
}

lenient_object! {
    struct RawClientReport<'a> {
        "timestamp" => timestamp: Field<Timestamp>,
        "discarded_events" => discarded_events: Field<Vec<RawDiscarded<'a>>>,
        "rate_limited_events" => rate_limited_events: Field<Vec<RawDiscarded<'a>>>,
        "filtered_events" => filtered_events: Field<Vec<RawDiscarded<'a>>>,
        "filtered_sampling_events" => filtered_sampling_events: Field<Vec<RawDiscarded<'a>>>,
    }
}

lenient_object! {
    struct RawDiscarded<'a> {
        "reason" => reason: Field<Cow<'a, str>>,
        "category" => category: Field<Cow<'a, str>>,
        "quantity" => quantity: Field<u64>,
    }
}

/// Parses a `client_report` item; entries without a category are skipped.
pub fn parse_client_report(input: &[u8]) -> Result<ClientReport, ItemError> {
    let raw: RawClientReport<'_> = parse_object("client_report", input)?;
    let mut discarded = Vec::new();
    // The older outcome lists carry no reason of their own; the list names it.
    for (list, default_reason) in [
        (raw.discarded_events, "unknown"),
        (raw.rate_limited_events, "rate_limited"),
        (raw.filtered_events, "filtered"),
        (raw.filtered_sampling_events, "filtered_sampling"),
    ] {
        for d in list.ok().unwrap_or_default() {
            let Some(category) = owned(d.category) else {
                continue;
            };
            discarded.push(DiscardedEvent {
                reason: owned(d.reason).unwrap_or_else(|| default_reason.to_string()),
                category,
                quantity: d.quantity.ok().unwrap_or(0),
            });
        }
    }
    Ok(ClientReport {
        timestamp: raw.timestamp.ok().map(|t| t.0),
        discarded,
    })
}

/// A cron monitor check-in.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckIn {
    /// `check_in_id` (normalised like an event id when it is a UUID; empty when absent).
    pub check_in_id: String,
    /// `monitor_slug` (required).
    pub monitor_slug: String,
    /// `status`: `in_progress`, `ok` or `error` (required).
    pub status: String,
    /// `duration` in seconds.
    pub duration: Option<f64>,
    /// `environment`.
    pub environment: Option<String>,
    /// The raw JSON text of `monitor_config` (upsert of the monitor's schedule).
    pub monitor_config: Option<String>,
}

lenient_object! {
    struct RawCheckIn<'a> {
        "check_in_id" => check_in_id: Field<Cow<'a, str>>,
        "monitor_slug" => monitor_slug: Field<Cow<'a, str>>,
        "status" => status: Field<Cow<'a, str>>,
        "duration" => duration: Field<f64>,
        "environment" => environment: Field<Cow<'a, str>>,
        "monitor_config" => monitor_config: Option<&'a RawValue>,
    }
}

/// Parses a `check_in` item; `monitor_slug` and `status` are required.
pub fn parse_check_in(input: &[u8]) -> Result<CheckIn, ItemError> {
    let raw: RawCheckIn<'_> = parse_object("check_in", input)?;
    let required = |f: Field<Cow<'_, str>>, field| {
        owned(f)
            .filter(|s| !s.is_empty())
            .ok_or(ItemError::MissingField {
                item: "check_in",
                field,
            })
    };
    let monitor_slug = required(raw.monitor_slug, "monitor_slug")?;
    let status = required(raw.status, "status")?;
    let check_in_id = owned(raw.check_in_id)
        .map(|id| de::normalize_uuid(&id).unwrap_or(id))
        .unwrap_or_default();
    Ok(CheckIn {
        check_in_id,
        monitor_slug,
        status,
        duration: raw.duration.ok(),
        environment: owned(raw.environment),
        monitor_config: raw
            .monitor_config
            .map(|v| v.get().to_string())
            .filter(|s| s != "null"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_exact_to_the_microsecond() {
        // As f64 seconds these differ by 949.9998 ms: a 950 ms request must not fall
        // into the 949 ms bucket.
        let span = SpanSummary {
            start_timestamp: Some(1764850414.466),
            end_timestamp: Some(1764850415.416),
            ..SpanSummary::default()
        };
        assert_eq!(span.duration_ms(), Some(950.0));
        let backwards = SpanSummary {
            start_timestamp: Some(2.0),
            end_timestamp: Some(1.0),
            ..SpanSummary::default()
        };
        assert_eq!(backwards.duration_ms(), None);
    }

    #[test]
    fn v2_spans_as_the_javascript_sdk_sends_them() {
        let spans = parse_spans(
            br#"{"version":2,"items":[
                {"trace_id":"6a5f5cd1e0a04c7b9d4b1d7c6f1e2a3b","span_id":"a1b2c3d4e5f60718","name":"GET /api/users/:id",
                 "start_timestamp":1764849600.1,"end_timestamp":1764849600.35,"is_segment":true,"status":"ok",
                 "attributes":{"sentry.op":{"value":"http.server","type":"string"},
                   "sentry.release":{"value":"web@1.2.3","type":"string"},
                   "sentry.environment":{"value":"production","type":"string"},
                   "http.response.status_code":{"value":503,"type":"integer"}}},
                {"span_id":"b1","parent_span_id":"a1b2c3d4e5f60718","name":"SELECT users","start_timestamp":1764849600.2,
                 "end_timestamp":1764849600.3,"is_segment":false,"status":"error","attributes":{}},
                "junk"]}"#,
        )
        .unwrap();
        assert_eq!(spans.len(), 2);
        let s = &spans[0];
        assert!(s.is_segment);
        assert_eq!(s.name, "GET /api/users/:id");
        assert_eq!(s.op.as_deref(), Some("http.server"));
        assert_eq!(s.release.as_deref(), Some("web@1.2.3"));
        assert_eq!(s.environment.as_deref(), Some("production"));
        assert_eq!(s.http_status, Some(503));
        assert!(s.is_error());
        assert!((s.duration_ms().unwrap() - 250.0).abs() < 1e-3);
        assert!(!spans[1].is_segment);
        assert!(spans[1].is_error());
        assert!(matches!(
            parse_spans(br#"{"version":2}"#),
            Err(ItemError::MissingField {
                item: "span",
                field: "items"
            })
        ));
        assert!(parse_spans(b"[]").is_err());
    }

    #[test]
    fn transaction_from_js_sdk() {
        let t = parse_transaction(
            br#"{"event_id":"AB1BB3C5-4E0A-4B1E-9D8A-9A6E0F7B8C9D","type":"transaction","transaction":"GET /api/users/:id",
                "start_timestamp":1709642096.1,"timestamp":"2024-03-05T12:34:56.350Z","release":"web@2.0.0","environment":"staging",
                "contexts":{"trace":{"trace_id":"771a43a4192642f0b136d5159a501700","span_id":"b0e6f15b45c36b12","op":"http.server","status":"ok"}},
                "spans":[{"op":"db","start_timestamp":1709642096.2,"timestamp":1709642096.3}]}"#,
        )
        .unwrap();
        assert_eq!(
            t.event_id.as_deref(),
            Some("ab1bb3c54e0a4b1e9d8a9a6e0f7b8c9d")
        );
        assert_eq!(t.name, "GET /api/users/:id");
        assert_eq!(t.op.as_deref(), Some("http.server"));
        assert_eq!(t.status.as_deref(), Some("ok"));
        assert_eq!(t.release.as_deref(), Some("web@2.0.0"));
        assert_eq!(t.environment.as_deref(), Some("staging"));
        let d = t.duration_ms().unwrap();
        assert!((d - 250.0).abs() < 0.01, "{d}");
    }

    #[test]
    fn transaction_lenient_and_errors() {
        let t =
            parse_transaction(br#"{"contexts":"x","timestamp":5,"start_timestamp":9}"#).unwrap();
        assert_eq!(t.name, "<unlabeled transaction>");
        assert_eq!((&t.op, &t.status), (&None, &None));
        assert_eq!(t.duration_ms(), None);
        let e = parse_transaction(b"[1]").unwrap_err();
        assert!(matches!(
            e,
            ItemError::InvalidJson {
                item: "transaction",
                ..
            }
        ));
        assert!(parse_transaction(b"{")
            .unwrap_err()
            .to_string()
            .contains("EOF"));
    }

    #[test]
    fn session_update_from_python_sdk() {
        let s = parse_session(
            br#"{"sid":"5b4e3a2c-1d0f-4e8b-9a7c-6b5d4e3f2a1b","did":"42","init":true,"started":"2024-03-05T12:00:00.000Z",
                "timestamp":"2024-03-05T12:01:00Z","status":"errored","errors":2,"duration":60.0,
                "attrs":{"release":"shop@1.4.2","environment":"production","user_agent":"x"}}"#,
        )
        .unwrap();
        assert_eq!(s.sid, "5b4e3a2c-1d0f-4e8b-9a7c-6b5d4e3f2a1b");
        assert_eq!(s.did.as_deref(), Some("42"));
        assert!(s.init);
        assert_eq!(s.started, Some(1_709_640_000.0));
        assert_eq!(s.status, "errored");
        assert_eq!(s.errors, 2);
        assert_eq!(s.release.as_deref(), Some("shop@1.4.2"));
        assert_eq!(s.environment.as_deref(), Some("production"));
        let s = parse_session(br#"{"sid":"a","did":7,"errors":"x","init":"yes"}"#).unwrap();
        assert_eq!(
            (s.did.as_deref(), s.errors, s.init, s.status.as_str()),
            (Some("7"), 0, false, "ok")
        );
        assert_eq!(
            parse_session(br#"{"status":"ok"}"#).unwrap_err(),
            ItemError::MissingField {
                item: "session",
                field: "sid"
            }
        );
    }

    #[test]
    fn session_aggregates() {
        let s = parse_sessions(
            br#"{"aggregates":[{"started":"2024-03-05T12:00:00Z","did":"u","exited":10,"errored":2},{"started":1709640060,"crashed":1,"abnormal":"3"},"junk"],
                "attrs":{"release":"r","environment":"e"}}"#,
        )
        .unwrap();
        assert_eq!(s.release.as_deref(), Some("r"));
        assert_eq!(s.environment.as_deref(), Some("e"));
        assert_eq!(
            s.aggregates,
            [
                SessionAggregate {
                    started: Some(1_709_640_000.0),
                    exited: 10,
                    errored: 2,
                    crashed: 0,
                    abnormal: 0
                },
                SessionAggregate {
                    started: Some(1_709_640_060.0),
                    exited: 0,
                    errored: 0,
                    crashed: 1,
                    abnormal: 3
                },
            ]
        );
        assert!(parse_sessions(b"{}").unwrap().aggregates.is_empty());
    }

    #[test]
    fn client_report_lists() {
        let r = parse_client_report(
            br#"{"timestamp":"2024-03-05T12:00:00Z","discarded_events":[{"reason":"queue_overflow","category":"error","quantity":23},{"reason":"x"}],
                "rate_limited_events":[{"category":"transaction","quantity":4}],
                "filtered_events":[{"category":"error","quantity":1}],
                "filtered_sampling_events":[{"reason":"custom","category":"span","quantity":9}]}"#,
        )
        .unwrap();
        assert_eq!(r.timestamp, Some(1_709_640_000.0));
        let got: Vec<(&str, &str, u64)> = r
            .discarded
            .iter()
            .map(|d| (d.reason.as_str(), d.category.as_str(), d.quantity))
            .collect();
        assert_eq!(
            got,
            [
                ("queue_overflow", "error", 23),
                ("rate_limited", "transaction", 4),
                ("filtered", "error", 1),
                ("custom", "span", 9),
            ]
        );
    }

    #[test]
    fn check_ins() {
        let c = parse_check_in(
            br#"{"check_in_id":"83A7C03E-D4DC-4E0B-9E12-13F7A5C2B0D1","monitor_slug":"nightly-backup","status":"ok","duration":12.5,
                "environment":"production","monitor_config":{"schedule":{"type":"crontab","value":"0 3 * * *"},"checkin_margin":5,"timezone":"UTC"}}"#,
        )
        .unwrap();
        assert_eq!(c.check_in_id, "83a7c03ed4dc4e0b9e1213f7a5c2b0d1");
        assert_eq!(c.monitor_slug, "nightly-backup");
        assert_eq!(c.status, "ok");
        assert_eq!(c.duration, Some(12.5));
        assert_eq!(c.environment.as_deref(), Some("production"));
        let cfg: serde_json::Value =
            serde_json::from_str(c.monitor_config.as_deref().unwrap()).unwrap();
        assert_eq!(cfg["schedule"]["value"], "0 3 * * *");
        let c =
            parse_check_in(br#"{"monitor_slug":"m","status":"in_progress","monitor_config":null}"#)
                .unwrap();
        assert_eq!((c.check_in_id.as_str(), c.monitor_config), ("", None));
        assert_eq!(
            parse_check_in(br#"{"status":"ok"}"#).unwrap_err(),
            ItemError::MissingField {
                item: "check_in",
                field: "monitor_slug"
            }
        );
        let e = parse_check_in(br#"{"monitor_slug":"m","status":3}"#).unwrap_err();
        assert_eq!(e.to_string(), "check_in payload has no valid `status`");
    }
}
