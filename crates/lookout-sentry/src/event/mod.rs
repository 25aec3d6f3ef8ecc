//! A lenient, borrowed view of an error or message event: only the fields lookout needs,
//! parsed without building a full JSON tree. A field of the wrong shape is dropped (and
//! its name recorded in `dropped_fields`), never the whole event. This module holds the
//! views callers read; `wire` holds the shapes SDKs send and turns them into views.

mod wire;

use std::borrow::Cow;

/// Severity of an event. Unknown levels map to `Error`. Serialized (and stored) as its
/// canonical name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
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

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    wire::parse(input).map_err(|e| EventError::NotAnObject(e.to_string()))
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
        for l in [
            Level::Debug,
            Level::Info,
            Level::Warning,
            Level::Error,
            Level::Fatal,
        ] {
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
            assert_eq!(l.to_string(), l.as_str());
        }
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
