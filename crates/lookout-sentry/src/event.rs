//! A lenient, borrowed view of an error or message event: only the fields lookout needs,
//! parsed without building a full JSON tree. A field of the wrong shape is dropped (and
//! its name recorded in `dropped_fields`), never the whole event.

use std::borrow::Cow;

/// Severity of an event. Unknown levels map to `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    /// debug
    Debug,
    /// info (also "log")
    Info,
    /// warning (also "warn")
    Warning,
    /// error, and anything unrecognised
    #[default]
    Error,
    /// fatal (also "critical")
    Fatal,
}

impl Level {
    /// The canonical lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Parses any of the spellings SDKs use; `None` for unknown ones.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "debug" | "trace" => Level::Debug,
            "info" | "log" | "notice" => Level::Info,
            "warning" | "warn" => Level::Warning,
            "error" | "err" => Level::Error,
            "fatal" | "critical" => Level::Fatal,
            _ => return None,
        })
    }
}

/// One stack frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameView<'a> {
    /// `filename` as sent (relative or URL).
    pub filename: Option<Cow<'a, str>>,
    /// `abs_path`.
    pub abs_path: Option<Cow<'a, str>>,
    /// `module` (Python module, JS module path, Java package).
    pub module: Option<Cow<'a, str>>,
    /// `function`.
    pub function: Option<Cow<'a, str>>,
    /// `package` (native / Rust crate).
    pub package: Option<Cow<'a, str>>,
    /// `lineno`.
    pub lineno: Option<u64>,
    /// `colno`.
    pub colno: Option<u64>,
    /// `in_app`; `None` when the SDK did not say.
    pub in_app: Option<bool>,
    /// `context_line`.
    pub context_line: Option<Cow<'a, str>>,
}

/// A stack trace; frames are ordered oldest call first, as in the protocol.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StacktraceView<'a> {
    /// The frames, caller first, crashing frame last.
    pub frames: Vec<FrameView<'a>>,
}

/// `exception.values[].mechanism`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MechanismView<'a> {
    /// `type` (e.g. "generic", "onunhandledrejection", "excepthook").
    pub ty: Option<Cow<'a, str>>,
    /// `handled`; `None` when absent.
    pub handled: Option<bool>,
}

/// One exception of the chain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExceptionView<'a> {
    /// `type`.
    pub ty: Option<Cow<'a, str>>,
    /// `value` (the message).
    pub value: Option<Cow<'a, str>>,
    /// `module`.
    pub module: Option<Cow<'a, str>>,
    /// `mechanism`.
    pub mechanism: Option<MechanismView<'a>>,
    /// `stacktrace` (or the legacy `raw_stacktrace` when no other).
    pub stacktrace: Option<StacktraceView<'a>>,
}

/// `user`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserView<'a> {
    /// `id` (strings and numbers accepted).
    pub id: Option<Cow<'a, str>>,
    /// `email`.
    pub email: Option<Cow<'a, str>>,
    /// `username`.
    pub username: Option<Cow<'a, str>>,
    /// `ip_address`.
    pub ip_address: Option<Cow<'a, str>>,
}

/// The fields of an event that lookout reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventView<'a> {
    /// `event_id`, normalised to 32 lower-case hex digits (dashes removed); `None` if absent
    /// or not a UUID.
    pub event_id: Option<String>,
    /// `timestamp` as Unix seconds (number or RFC 3339 string accepted).
    pub timestamp: Option<f64>,
    /// `level`; `Error` when absent or unknown.
    pub level: Level,
    /// `platform`.
    pub platform: Option<Cow<'a, str>>,
    /// `logger`.
    pub logger: Option<Cow<'a, str>>,
    /// `release`.
    pub release: Option<Cow<'a, str>>,
    /// `dist`.
    pub dist: Option<Cow<'a, str>>,
    /// `environment`.
    pub environment: Option<Cow<'a, str>>,
    /// `server_name`.
    pub server_name: Option<Cow<'a, str>>,
    /// `transaction` (the route or task during which it happened).
    pub transaction: Option<Cow<'a, str>>,
    /// The formatted message: `logentry.formatted`, `message` as a string,
    /// `message.formatted`, or the legacy `sentry.interfaces.Message`.
    pub message: Option<Cow<'a, str>>,
    /// The unformatted template when the SDK sent one (`logentry.message` with `params`),
    /// which groups better than the formatted text.
    pub message_template: Option<Cow<'a, str>>,
    /// `exception.values` (or `exception` as a bare list, or legacy shapes), in protocol
    /// order: the last one is the exception that was finally raised.
    pub exceptions: Vec<ExceptionView<'a>>,
    /// A stack trace not attached to an exception: top-level `stacktrace`, or the crashed /
    /// current thread's in `threads.values`.
    pub stacktrace: Option<StacktraceView<'a>>,
    /// `fingerprint`; non-string entries are stringified.
    pub fingerprint: Option<Vec<Cow<'a, str>>>,
    /// `user`.
    pub user: Option<UserView<'a>>,
    /// `tags`, as an object or a list of pairs.
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// `sdk.name`.
    pub sdk_name: Option<Cow<'a, str>>,
    /// `type` (`"error"`, `"default"`, `"transaction"`, …).
    pub ty: Option<Cow<'a, str>>,
    /// Top-level fields that were present but malformed and therefore dropped.
    pub dropped_fields: Vec<&'static str>,
}

use crate::de::{self, lenient_object, Field, Present, Stringish, Timestamp};

/// Why an event payload was rejected outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The payload is not JSON, or not a JSON object.
    #[error("event is not a valid JSON object: {0}")]
    NotAnObject(String),
}

/// Parses an event payload leniently.
///
/// Fails only when the payload is not a JSON object (or an object key repeats, which serde
/// cannot recover from mid-stream); a field of the wrong shape is dropped and named in
/// [`EventView::dropped_fields`].
pub fn parse_event(input: &[u8]) -> Result<EventView<'_>, EventError> {
    let raw: RawEvent<'_> =
        de::from_object_slice(input).map_err(|e| EventError::NotAnObject(e.to_string()))?;
    Ok(raw.into_view())
}

lenient_object! {
    struct RawEvent<'a> {
        "event_id" => event_id: Field<Cow<'a, str>>,
        "timestamp" => timestamp: Field<Timestamp>,
        "level" => level: Field<Cow<'a, str>>,
        "platform" => platform: Field<Cow<'a, str>>,
        "logger" => logger: Field<Cow<'a, str>>,
        "release" => release: Field<Cow<'a, str>>,
        "dist" => dist: Field<Cow<'a, str>>,
        "environment" => environment: Field<Cow<'a, str>>,
        "server_name" => server_name: Field<Cow<'a, str>>,
        "transaction" => transaction: Field<Cow<'a, str>>,
        "message" => message: Field<RawMessage<'a>>,
        "logentry" => logentry: Field<RawMessage<'a>>,
        "sentry.interfaces.Message" => legacy_message: Field<RawMessage<'a>>,
        "exception" => exception: Field<RawExceptions<'a>>,
        "sentry.interfaces.Exception" => legacy_exception: Field<RawExceptions<'a>>,
        "stacktrace" => stacktrace: Field<RawStacktrace<'a>>,
        "sentry.interfaces.Stacktrace" => legacy_stacktrace: Field<RawStacktrace<'a>>,
        "threads" => threads: Field<RawThreads<'a>>,
        "fingerprint" => fingerprint: Field<Vec<Stringish<'a>>>,
        "user" => user: Field<RawUser<'a>>,
        "sentry.interfaces.User" => legacy_user: Field<RawUser<'a>>,
        "tags" => tags: Field<RawTags<'a>>,
        "sdk" => sdk: Field<RawSdk<'a>>,
        "type" => ty: Field<Cow<'a, str>>,
    }
}

/// `message`/`logentry`: a plain string or `{message, formatted, params}`.
#[derive(Default)]
struct RawMessage<'a> {
    message: Option<Cow<'a, str>>,
    formatted: Option<Cow<'a, str>>,
    has_params: bool,
}

lenient_object! {
    struct RawLogEntry<'a> {
        "message" => message: Field<Cow<'a, str>>,
        "formatted" => formatted: Field<Cow<'a, str>>,
        "params" => params: Field<Present>,
    }
}

impl<'de: 'a, 'a> de::Lenient<'de> for RawMessage<'a> {
    fn from_borrowed_str(s: &'de str) -> Option<Self> {
        Some(RawMessage {
            formatted: Some(Cow::Borrowed(s)),
            ..Default::default()
        })
    }
    fn from_str(s: &str) -> Option<Self> {
        Some(RawMessage {
            formatted: Some(Cow::Owned(s.to_owned())),
            ..Default::default()
        })
    }
    fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let e = RawLogEntry::from_map(map)?.unwrap_or_default();
        let (message, formatted) = (e.message.ok(), e.formatted.ok());
        if message.is_none() && formatted.is_none() {
            return Ok(None);
        }
        let has_params = matches!(e.params, Field::Val(Present { non_empty: true }));
        Ok(Some(RawMessage {
            message,
            formatted,
            has_params,
        }))
    }
}

impl<'a> RawMessage<'a> {
    /// (message, template) per the logentry rules: the template is kept only when it says
    /// something the formatted text does not.
    fn split(self) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>) {
        let template = match (&self.message, &self.formatted) {
            (Some(m), Some(f)) if self.has_params || m != f => Some(m.clone()),
            (Some(m), None) if self.has_params => Some(m.clone()),
            _ => None,
        };
        (self.formatted.or(self.message), template)
    }
}

/// `exception`: `{values: [...]}`, a bare list, or one exception object.
struct RawExceptions<'a>(Vec<RawException<'a>>);

lenient_object! {
    /// The container and a single exception share one object shape, so one pass reads both.
    struct RawExceptionOrValues<'a> {
        "values" => values: Field<Vec<RawException<'a>>>,
        "type" => ty: Field<Cow<'a, str>>,
        "value" => value: Field<Stringish<'a>>,
        "module" => module: Field<Cow<'a, str>>,
        "mechanism" => mechanism: Field<RawMechanism<'a>>,
        "stacktrace" => stacktrace: Field<RawStacktrace<'a>>,
        "raw_stacktrace" => raw_stacktrace: Field<RawStacktrace<'a>>,
    }
}

impl<'de: 'a, 'a> de::Lenient<'de> for RawExceptions<'a> {
    fn from_seq<A: serde::de::SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        Ok(<Vec<RawException<'a>>>::from_seq(seq)?.map(RawExceptions))
    }
    fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let v = RawExceptionOrValues::from_map(map)?.unwrap_or_default();
        let single = RawException {
            ty: v.ty,
            value: v.value,
            module: v.module,
            mechanism: v.mechanism,
            stacktrace: v.stacktrace,
            raw_stacktrace: v.raw_stacktrace,
            ..Default::default()
        };
        Ok(match v.values {
            Field::Val(list) => Some(RawExceptions(list)),
            Field::Wrong => None,
            Field::Absent if single.is_empty() => Some(RawExceptions(Vec::new())),
            Field::Absent => Some(RawExceptions(vec![single])),
        })
    }
}

lenient_object! {
    struct RawException<'a> {
        "type" => ty: Field<Cow<'a, str>>,
        "value" => value: Field<Stringish<'a>>,
        "module" => module: Field<Cow<'a, str>>,
        "mechanism" => mechanism: Field<RawMechanism<'a>>,
        "stacktrace" => stacktrace: Field<RawStacktrace<'a>>,
        "raw_stacktrace" => raw_stacktrace: Field<RawStacktrace<'a>>,
    }
}

impl RawException<'_> {
    fn is_empty(&self) -> bool {
        !matches!(self.ty, Field::Val(_))
            && !matches!(self.value, Field::Val(_))
            && !matches!(self.stacktrace, Field::Val(_))
            && !matches!(self.raw_stacktrace, Field::Val(_))
    }
}

lenient_object! {
    struct RawMechanism<'a> {
        "type" => ty: Field<Cow<'a, str>>,
        "handled" => handled: Field<bool>,
    }
}

lenient_object! {
    struct RawStacktrace<'a> {
        "frames" => frames: Field<Vec<RawFrame<'a>>>,
    }
}

lenient_object! {
    struct RawFrame<'a> {
        "filename" => filename: Field<Cow<'a, str>>,
        "abs_path" => abs_path: Field<Cow<'a, str>>,
        "module" => module: Field<Cow<'a, str>>,
        "function" => function: Field<Cow<'a, str>>,
        "package" => package: Field<Cow<'a, str>>,
        "lineno" => lineno: Field<u64>,
        "colno" => colno: Field<u64>,
        "in_app" => in_app: Field<bool>,
        "context_line" => context_line: Field<Cow<'a, str>>,
    }
}

/// `threads`: `{values: [...]}` or a bare list.
struct RawThreads<'a>(Vec<RawThread<'a>>);

lenient_object! {
    struct RawThreadValues<'a> {
        "values" => values: Field<Vec<RawThread<'a>>>,
    }
}

impl<'de: 'a, 'a> de::Lenient<'de> for RawThreads<'a> {
    fn from_seq<A: serde::de::SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        Ok(<Vec<RawThread<'a>>>::from_seq(seq)?.map(RawThreads))
    }
    fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let v = RawThreadValues::from_map(map)?.unwrap_or_default();
        Ok(match v.values {
            Field::Wrong => None,
            other => Some(RawThreads(other.ok().unwrap_or_default())),
        })
    }
}

lenient_object! {
    struct RawThread<'a> {
        "crashed" => crashed: Field<bool>,
        "current" => current: Field<bool>,
        "stacktrace" => stacktrace: Field<RawStacktrace<'a>>,
    }
}

lenient_object! {
    struct RawUser<'a> {
        "id" => id: Field<Stringish<'a>>,
        "email" => email: Field<Cow<'a, str>>,
        "username" => username: Field<Stringish<'a>>,
        "ip_address" => ip_address: Field<Cow<'a, str>>,
    }
}

lenient_object! {
    struct RawSdk<'a> {
        "name" => name: Field<Cow<'a, str>>,
    }
}

/// `tags`: an object, or a list of `[key, value]` pairs; values stringified, nulls skipped.
struct RawTags<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> de::Lenient<'de> for RawTags<'a> {
    fn from_map<A: serde::de::MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<Field<Cow<'a, str>>, Field<Stringish<'a>>>()? {
            if let (Field::Val(k), Field::Val(v)) = (k, v) {
                out.push((k, v.0));
            }
        }
        Ok(Some(RawTags(out)))
    }
    fn from_seq<A: serde::de::SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::new();
        while let Some(pair) = seq.next_element::<Field<Vec<Field<Stringish<'a>>>>>()? {
            if let Field::Val(pair) = pair {
                if let [Field::Val(k), Field::Val(v)] =
                    <[_; 2]>::try_from(pair).unwrap_or([Field::Absent, Field::Absent])
                {
                    out.push((k.0, v.0));
                }
            }
        }
        Ok(Some(RawTags(out)))
    }
}

impl<'a> RawEvent<'a> {
    fn into_view(self) -> EventView<'a> {
        let mut dropped = Vec::new();
        let mut take = |name: &'static str, f: Field<Cow<'a, str>>| -> Option<Cow<'a, str>> {
            if f.is_wrong() {
                dropped.push(name);
            }
            f.ok()
        };
        let platform = take("platform", self.platform);
        let logger = take("logger", self.logger);
        let release = take("release", self.release);
        let dist = take("dist", self.dist);
        let environment = take("environment", self.environment);
        let server_name = take("server_name", self.server_name);
        let transaction = take("transaction", self.transaction);
        let ty = take("type", self.ty);
        let level_s = take("level", self.level);
        let event_id_s = take("event_id", self.event_id);
        let mut check = |name: &'static str, wrong: bool| {
            if wrong {
                dropped.push(name);
            }
        };

        let event_id = event_id_s.and_then(|s| {
            let id = de::normalize_uuid(&s);
            check("event_id", id.is_none());
            id
        });
        let level = level_s.and_then(|s| Level::parse(&s)).unwrap_or_default();

        check("timestamp", self.timestamp.is_wrong());
        let timestamp = self.timestamp.ok().map(|t| t.0);

        check("logentry", self.logentry.is_wrong());
        check("message", self.message.is_wrong());
        check("sentry.interfaces.Message", self.legacy_message.is_wrong());
        let (message, message_template) = self
            .logentry
            .ok()
            .or(self.message.ok())
            .or(self.legacy_message.ok())
            .map(RawMessage::split)
            .unwrap_or_default();

        check("exception", self.exception.is_wrong());
        check(
            "sentry.interfaces.Exception",
            self.legacy_exception.is_wrong(),
        );
        let exceptions = self
            .exception
            .ok()
            .or(self.legacy_exception.ok())
            .map(|e| e.0.into_iter().map(RawException::into_view).collect())
            .unwrap_or_default();

        check("stacktrace", self.stacktrace.is_wrong());
        check(
            "sentry.interfaces.Stacktrace",
            self.legacy_stacktrace.is_wrong(),
        );
        check("threads", self.threads.is_wrong());
        let stacktrace = self
            .stacktrace
            .ok()
            .or(self.legacy_stacktrace.ok())
            .map(RawStacktrace::into_view)
            .or_else(|| self.threads.ok().and_then(|t| thread_stacktrace(t.0)));

        check("fingerprint", self.fingerprint.is_wrong());
        let fingerprint = self
            .fingerprint
            .ok()
            .map(|v| v.into_iter().map(|s| s.0).collect());

        check("user", self.user.is_wrong());
        check("sentry.interfaces.User", self.legacy_user.is_wrong());
        let user = self.user.ok().or(self.legacy_user.ok()).map(|u| UserView {
            id: u.id.ok().map(|s| s.0),
            email: u.email.ok(),
            username: u.username.ok().map(|s| s.0),
            ip_address: u.ip_address.ok(),
        });

        check("tags", self.tags.is_wrong());
        let tags = self.tags.ok().map(|t| t.0).unwrap_or_default();

        check("sdk", self.sdk.is_wrong());
        let sdk_name = self.sdk.ok().and_then(|s| s.name.ok());

        EventView {
            event_id,
            timestamp,
            level,
            platform,
            logger,
            release,
            dist,
            environment,
            server_name,
            transaction,
            message,
            message_template,
            exceptions,
            stacktrace,
            fingerprint,
            user,
            tags,
            sdk_name,
            ty,
            dropped_fields: dropped,
        }
    }
}

impl<'a> RawException<'a> {
    fn into_view(self) -> ExceptionView<'a> {
        ExceptionView {
            ty: self.ty.ok(),
            value: self.value.ok().map(|s| s.0),
            module: self.module.ok(),
            mechanism: self.mechanism.ok().map(|m| MechanismView {
                ty: m.ty.ok(),
                handled: m.handled.ok(),
            }),
            stacktrace: self
                .stacktrace
                .ok()
                .or(self.raw_stacktrace.ok())
                .map(RawStacktrace::into_view),
        }
    }
}

impl<'a> RawStacktrace<'a> {
    fn into_view(self) -> StacktraceView<'a> {
        StacktraceView {
            frames: self
                .frames
                .ok()
                .unwrap_or_default()
                .into_iter()
                .map(|f| FrameView {
                    filename: f.filename.ok(),
                    abs_path: f.abs_path.ok(),
                    module: f.module.ok(),
                    function: f.function.ok(),
                    package: f.package.ok(),
                    lineno: f.lineno.ok(),
                    colno: f.colno.ok(),
                    in_app: f.in_app.ok(),
                    context_line: f.context_line.ok(),
                })
                .collect(),
        }
    }
}

/// The crashed thread's stack, else the current one's, else the first one present.
fn thread_stacktrace(threads: Vec<RawThread<'_>>) -> Option<StacktraceView<'_>> {
    let pick = |threads: &[RawThread<'_>]| {
        let has = |t: &RawThread<'_>| matches!(t.stacktrace, Field::Val(_));
        threads
            .iter()
            .position(|t| has(t) && t.crashed == Field::Val(true))
            .or_else(|| {
                threads
                    .iter()
                    .position(|t| has(t) && t.current == Field::Val(true))
            })
            .or_else(|| threads.iter().position(has))
    };
    let i = pick(&threads)?;
    threads
        .into_iter()
        .nth(i)?
        .stacktrace
        .ok()
        .map(RawStacktrace::into_view)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON_EVENT: &str = r#"{
      "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
      "timestamp": "2024-03-05T12:34:56.123456Z",
      "level": "error",
      "platform": "python",
      "logger": "django.request",
      "server_name": "web-1",
      "release": "shop@1.4.2",
      "environment": "production",
      "transaction": "/checkout/{id}",
      "sdk": {"name": "sentry.python.django", "version": "2.19.0", "packages": [{"name": "pypi:sentry-sdk", "version": "2.19.0"}]},
      "contexts": {"runtime": {"name": "CPython", "version": "3.12.1"}, "trace": {"trace_id": "771a43a4192642f0b136d5159a501700"}},
      "breadcrumbs": {"values": [{"timestamp": 1709642090.1, "category": "query", "message": "SELECT 1"}]},
      "request": {"url": "https://shop.example/checkout/7", "method": "POST", "headers": {"User-Agent": "curl/8.5.0"}},
      "user": {"id": 42, "email": "ada@example.com", "ip_address": "203.0.113.9"},
      "tags": {"route": "checkout", "retry": 3, "canary": true, "gone": null},
      "fingerprint": ["{{ default }}", 500],
      "exception": {"values": [
        {"type": "KeyError", "value": "'sku'", "module": null,
         "mechanism": {"type": "django", "handled": false},
         "stacktrace": {"frames": [
           {"filename": "django/core/handlers/base.py", "abs_path": "/usr/lib/python3.12/site-packages/django/core/handlers/base.py", "module": "django.core.handlers.base", "function": "_get_response", "lineno": 197, "in_app": false, "context_line": "    response = wrapped_callback(request)", "vars": {"request": "<WSGIRequest>"}},
           {"filename": "shop/views.py", "function": "checkout", "lineno": "54", "colno": 8, "context_line": "    sku = data[\"sku\"]"}
         ]}}
      ]}
    }"#;

    #[test]
    fn parses_a_python_sdk_event() {
        let e = parse_event(PYTHON_EVENT.as_bytes()).unwrap();
        assert_eq!(
            e.event_id.as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        let ts = e.timestamp.unwrap();
        assert!((ts - 1_709_642_096.123456).abs() < 1e-5);
        assert_eq!(e.level, Level::Error);
        assert_eq!(e.platform.as_deref(), Some("python"));
        assert_eq!(e.logger.as_deref(), Some("django.request"));
        assert_eq!(e.server_name.as_deref(), Some("web-1"));
        assert_eq!(e.release.as_deref(), Some("shop@1.4.2"));
        assert_eq!(e.environment.as_deref(), Some("production"));
        assert_eq!(e.transaction.as_deref(), Some("/checkout/{id}"));
        assert_eq!(e.sdk_name.as_deref(), Some("sentry.python.django"));
        let user = e.user.as_ref().unwrap();
        assert_eq!(user.id.as_deref(), Some("42"));
        assert_eq!(user.email.as_deref(), Some("ada@example.com"));
        assert_eq!(user.ip_address.as_deref(), Some("203.0.113.9"));
        let tags: Vec<(&str, &str)> = e.tags.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            tags,
            [("route", "checkout"), ("retry", "3"), ("canary", "true")]
        );
        assert_eq!(e.fingerprint.as_ref().unwrap(), &["{{ default }}", "500"]);
        assert_eq!(e.exceptions.len(), 1);
        let ex = &e.exceptions[0];
        assert_eq!(ex.ty.as_deref(), Some("KeyError"));
        assert_eq!(ex.value.as_deref(), Some("'sku'"));
        assert_eq!(ex.module, None);
        assert_eq!(
            ex.mechanism,
            Some(MechanismView {
                ty: Some("django".into()),
                handled: Some(false)
            })
        );
        let frames = &ex.stacktrace.as_ref().unwrap().frames;
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].function.as_deref(), Some("_get_response"));
        assert_eq!(frames[0].in_app, Some(false));
        assert_eq!(frames[1].lineno, Some(54));
        assert_eq!(frames[1].colno, Some(8));
        assert_eq!(frames[1].in_app, None);
        assert_eq!(
            frames[1].context_line.as_deref(),
            Some("    sku = data[\"sku\"]")
        );
        assert!(e.dropped_fields.is_empty(), "{:?}", e.dropped_fields);
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let e = parse_event(PYTHON_EVENT.as_bytes()).unwrap();
        assert!(matches!(e.release, Some(Cow::Borrowed(_))));
        let frames = &e.exceptions[0].stacktrace.as_ref().unwrap().frames;
        assert!(matches!(frames[0].filename, Some(Cow::Borrowed(_))));
        assert!(matches!(frames[1].context_line, Some(Cow::Owned(_))));
        assert!(matches!(e.tags[0].0, Cow::Borrowed(_)));
    }

    #[test]
    fn wrong_types_are_dropped_and_recorded() {
        let e = parse_event(
            br#"{"level": 5, "tags": "x", "exception": 42, "release": "r1", "timestamp": "soon",
                 "event_id": "not-a-uuid", "user": [1], "fingerprint": {"a": 1}, "platform": ["js"],
                 "message": "kept", "threads": 3, "sdk": "python"}"#,
        )
        .unwrap();
        assert_eq!(e.level, Level::Error);
        assert!(e.tags.is_empty());
        assert!(e.exceptions.is_empty());
        assert_eq!(e.release.as_deref(), Some("r1"));
        assert_eq!(e.message.as_deref(), Some("kept"));
        assert_eq!(e.timestamp, None);
        assert_eq!(e.event_id, None);
        let mut dropped = e.dropped_fields.clone();
        dropped.sort_unstable();
        assert_eq!(
            dropped,
            [
                "event_id",
                "exception",
                "fingerprint",
                "level",
                "platform",
                "sdk",
                "tags",
                "threads",
                "timestamp",
                "user"
            ]
        );
    }

    #[test]
    fn nested_wrong_types_drop_only_the_nested_field() {
        let e = parse_event(
            br#"{"exception": {"values": [7, {"type": "E", "value": 12, "mechanism": "x",
                 "stacktrace": {"frames": [{"lineno": "x", "function": "f", "in_app": "yes"}, "junk"]}}]}}"#,
        )
        .unwrap();
        assert_eq!(e.exceptions.len(), 1);
        let ex = &e.exceptions[0];
        assert_eq!(ex.ty.as_deref(), Some("E"));
        assert_eq!(ex.value.as_deref(), Some("12"));
        assert_eq!(ex.mechanism, None);
        let f = &ex.stacktrace.as_ref().unwrap().frames;
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].function.as_deref(), Some("f"));
        assert_eq!((f[0].lineno, f[0].in_app), (None, None));
        assert!(e.dropped_fields.is_empty());
    }

    #[test]
    fn exception_shapes() {
        for body in [
            r#"{"exception": {"values": [{"type": "A"}, {"type": "B"}]}}"#,
            r#"{"exception": [{"type": "A"}, {"type": "B"}]}"#,
            r#"{"sentry.interfaces.Exception": {"values": [{"type": "A"}, {"type": "B"}]}}"#,
        ] {
            let e = parse_event(body.as_bytes()).unwrap();
            let tys: Vec<_> = e
                .exceptions
                .iter()
                .map(|x| x.ty.as_deref().unwrap())
                .collect();
            assert_eq!(tys, ["A", "B"], "{body}");
        }
        let e = parse_event(br#"{"exception": {"type": "ValueError", "value": "bad", "raw_stacktrace": {"frames": [{"function": "g"}]}}}"#).unwrap();
        assert_eq!(e.exceptions.len(), 1);
        assert_eq!(e.exceptions[0].value.as_deref(), Some("bad"));
        assert_eq!(
            e.exceptions[0].stacktrace.as_ref().unwrap().frames[0]
                .function
                .as_deref(),
            Some("g")
        );
        let e =
            parse_event(br#"{"sentry.interfaces.Exception": {"type": "Legacy", "value": "v"}}"#)
                .unwrap();
        assert_eq!(e.exceptions[0].ty.as_deref(), Some("Legacy"));
        let e = parse_event(br#"{"exception": {}}"#).unwrap();
        assert!(e.exceptions.is_empty());
        assert!(e.dropped_fields.is_empty());
    }

    #[test]
    fn legacy_raven_event() {
        let e = parse_event(
            br#"{"event_id": "9EC79C33-EC99-42AB-8353-589FCB2E04DC", "timestamp": "2014-05-06T07:08:09",
                 "level": "warn", "sentry.interfaces.Message": {"message": "user %s failed", "params": ["bob"]},
                 "sentry.interfaces.User": {"id": "u1", "username": "bob"},
                 "sentry.interfaces.Stacktrace": {"frames": [{"filename": "app.py", "lineno": 3}]},
                 "tags": [["browser", "Firefox"], ["n", 1], ["skip", null], ["bad"], 5]}"#,
        )
        .unwrap();
        assert_eq!(
            e.event_id.as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(e.timestamp, Some(1_399_360_089.0));
        assert_eq!(e.level, Level::Warning);
        assert_eq!(e.message.as_deref(), Some("user %s failed"));
        assert_eq!(e.message_template.as_deref(), Some("user %s failed"));
        assert_eq!(e.user.as_ref().unwrap().username.as_deref(), Some("bob"));
        assert_eq!(e.stacktrace.as_ref().unwrap().frames[0].lineno, Some(3));
        let tags: Vec<(&str, &str)> = e.tags.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(tags, [("browser", "Firefox"), ("n", "1")]);
    }

    #[test]
    fn message_and_logentry_shapes() {
        let e = parse_event(br#"{"logentry": {"message": "Order %s failed", "params": ["A-1"], "formatted": "Order A-1 failed"}}"#).unwrap();
        assert_eq!(e.message.as_deref(), Some("Order A-1 failed"));
        assert_eq!(e.message_template.as_deref(), Some("Order %s failed"));
        let e = parse_event(br#"{"logentry": {"message": "plain", "params": []}}"#).unwrap();
        assert_eq!(
            (e.message.as_deref(), e.message_template.as_deref()),
            (Some("plain"), None)
        );
        let e = parse_event(br#"{"logentry": {"message": "Hi {name}", "formatted": "Hi Ada"}}"#)
            .unwrap();
        assert_eq!(
            (e.message.as_deref(), e.message_template.as_deref()),
            (Some("Hi Ada"), Some("Hi {name}"))
        );
        let e = parse_event(br#"{"message": {"message": "m", "formatted": "m"}}"#).unwrap();
        assert_eq!(
            (e.message.as_deref(), e.message_template.as_deref()),
            (Some("m"), None)
        );
        let e =
            parse_event(br#"{"message": "just text", "logentry": {"formatted": "wins"}}"#).unwrap();
        assert_eq!(e.message.as_deref(), Some("wins"));
        let e = parse_event(br#"{"message": {"params": [1]}}"#).unwrap();
        assert_eq!(e.message, None);
        assert_eq!(e.dropped_fields, ["message"]);
    }

    #[test]
    fn timestamps_as_numbers_and_strings() {
        for (body, want) in [
            (r#"{"timestamp": 1709642096}"#, 1_709_642_096.0),
            (r#"{"timestamp": 1709642096.25}"#, 1_709_642_096.25),
            (r#"{"timestamp": "1709642096.5"}"#, 1_709_642_096.5),
            (r#"{"timestamp": "2024-03-05T12:34:56Z"}"#, 1_709_642_096.0),
            (
                r#"{"timestamp": "2024-03-05T13:34:56.5+01:00"}"#,
                1_709_642_096.5,
            ),
            (r#"{"timestamp": "2024-03-05T12:34:56"}"#, 1_709_642_096.0),
        ] {
            let e = parse_event(body.as_bytes()).unwrap();
            let t = e.timestamp.unwrap();
            assert!((t - want).abs() < 1e-6, "{body}: {t}");
        }
    }

    #[test]
    fn event_id_forms() {
        for (id, want) in [
            (
                "9ec79c33ec9942ab8353589fcb2e04dc",
                Some("9ec79c33ec9942ab8353589fcb2e04dc"),
            ),
            (
                "9EC79C33-EC99-42AB-8353-589FCB2E04DC",
                Some("9ec79c33ec9942ab8353589fcb2e04dc"),
            ),
            ("9ec79c33", None),
            ("", None),
        ] {
            let body = format!(r#"{{"event_id": "{id}"}}"#);
            assert_eq!(
                parse_event(body.as_bytes()).unwrap().event_id.as_deref(),
                want,
                "{id}"
            );
        }
    }

    #[test]
    fn levels() {
        for (l, want) in [
            ("fatal", Level::Fatal),
            ("WARNING", Level::Warning),
            ("info", Level::Info),
            ("debug", Level::Debug),
            ("bogus", Level::Error),
        ] {
            let body = format!(r#"{{"level": "{l}"}}"#);
            let e = parse_event(body.as_bytes()).unwrap();
            assert_eq!(e.level, want, "{l}");
            assert!(e.dropped_fields.is_empty());
        }
        assert_eq!(parse_event(b"{}").unwrap().level, Level::Error);
    }

    #[test]
    fn thread_stack_selection() {
        let st = |f: &str| format!(r#"{{"frames": [{{"function": "{f}"}}]}}"#);
        let pick = |threads: String| {
            let body = format!(r#"{{"threads": {threads}}}"#);
            let e = parse_event(body.as_bytes()).unwrap();
            e.stacktrace
                .and_then(|s| s.frames[0].function.as_ref().map(|f| f.to_string()))
        };
        let (a, b, c) = (st("a"), st("b"), st("c"));
        assert_eq!(pick(format!(r#"{{"values": [{{"id": 1, "stacktrace": {a}}}, {{"current": true, "stacktrace": {b}}}, {{"crashed": true, "stacktrace": {c}}}]}}"#)).as_deref(), Some("c"));
        assert_eq!(pick(format!(r#"{{"values": [{{"stacktrace": {a}}}, {{"current": true, "stacktrace": {b}}}, {{"crashed": true}}]}}"#)).as_deref(), Some("b"));
        assert_eq!(
            pick(format!(r#"[{{"crashed": false}}, {{"stacktrace": {a}}}]"#)).as_deref(),
            Some("a")
        );
        assert_eq!(pick(r#"{"values": [{"id": 1}]}"#.to_string()), None);
        // A top-level stacktrace wins over threads.
        let body = format!(
            r#"{{"stacktrace": {a}, "threads": {{"values": [{{"crashed": true, "stacktrace": {b}}}]}}}}"#
        );
        assert_eq!(
            parse_event(body.as_bytes())
                .unwrap()
                .stacktrace
                .unwrap()
                .frames[0]
                .function
                .as_deref(),
            Some("a")
        );
    }

    #[test]
    fn repeated_keys_keep_the_last_value() {
        let e =
            parse_event(br#"{"level": "info", "user": {"id": 1, "id": "2"}, "level": "fatal"}"#)
                .unwrap();
        assert_eq!(e.level, Level::Fatal);
        assert_eq!(e.user.unwrap().id.as_deref(), Some("2"));
    }

    #[test]
    fn escaped_keys_are_recognised() {
        let e = parse_event(br#"{"rel\u0065ase": "r1"}"#).unwrap();
        assert_eq!(e.release.as_deref(), Some("r1"));
    }

    #[test]
    fn non_objects_are_rejected_with_position() {
        for body in [
            &b""[..],
            b"[]",
            b"[{\"level\":\"info\"}]",
            b"42",
            b"\"x\"",
            b"null",
            b"{\"a\":",
            b"{} {}",
            b"{\"a\":1,}",
        ] {
            let err = parse_event(body).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("event is not a valid JSON object"),
                "{err}"
            );
        }
        let err = parse_event(b"{\n  \"level\": \"info\",\n  oops\n}").unwrap_err();
        assert!(err.to_string().contains("line 3 column"), "{err}");
        assert!(parse_event(b"  {}  \n").is_ok());
    }
}
