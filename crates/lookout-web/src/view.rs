//! What pages show of stored data: times, and an event's parts read leniently from its
//! JSON (a field of an unexpected shape is left out, never an error).

use serde_json::Value;

/// A time as `2026-01-02 03:04 UTC`.
pub fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// A date as `2026-01-02`.
pub fn date(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// How long ago `ms` was, roughly: `5 min ago`.
pub fn ago(ms: i64, now_ms: i64) -> String {
    let s = (now_ms - ms).max(0) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// A duration in ms, shortly: `3 h 5 min`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// One line of source around a frame.
pub struct SourceLine {
    /// Line number.
    pub no: i64,
    /// The text.
    pub text: String,
    /// The frame's own line.
    pub current: bool,
}

/// A stack frame as shown.
pub struct Frame {
    /// File or module.
    pub file: String,
    /// Function.
    pub function: String,
    /// Line (and column).
    pub line: String,
    /// Part of the application (not a library).
    pub in_app: bool,
    /// Source around the line.
    pub source: Vec<SourceLine>,
    /// Local variables, as JSON text.
    pub vars: Vec<(String, String)>,
    /// For a frame mapped through a source map: the minified frame it was mapped from
    /// (`file:line:column in function`), as the SDK sent it.
    pub minified: Option<String>,
}

/// An exception with its frames, in-app frames first, each group innermost first.
pub struct Exception {
    /// Type.
    pub ty: String,
    /// Message.
    pub value: String,
    /// Whether the SDK said it was handled.
    pub handled: Option<bool>,
    /// Frames.
    pub frames: Vec<Frame>,
}

/// A breadcrumb.
pub struct Crumb {
    /// When.
    pub time: String,
    /// Category.
    pub category: String,
    /// Level.
    pub level: String,
    /// Message or data.
    pub message: String,
}

/// What an event page shows.
#[derive(Default)]
pub struct EventView {
    /// A message when the event has one.
    pub message: Option<String>,
    /// Exceptions, the one thrown last first.
    pub exceptions: Vec<Exception>,
    /// Breadcrumbs, oldest first.
    pub breadcrumbs: Vec<Crumb>,
    /// The request: method and URL, then headers.
    pub request: Vec<(String, String)>,
    /// The user's fields.
    pub user: Vec<(String, String)>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Contexts flattened: `os.name` → `Linux`.
    pub contexts: Vec<(String, String)>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `values` of a Sentry interface that may be `{ "values": [...] }` or a bare array.
fn values(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => o.get("values").and_then(Value::as_array).map_or(&[], |a| a),
        _ => &[],
    }
}

fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    match v {
        Some(Value::Object(o)) => o.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|p| match p {
                Value::Array(kv) if kv.len() == 2 => Some((text(&kv[0]), text(&kv[1]))),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A minified frame in one line: `file:line:column in function`.
fn minified(f: &Value) -> String {
    let file = str_at(f, "abs_path")
        .or_else(|| str_at(f, "filename"))
        .unwrap_or("?");
    let mut out = file.to_string();
    for key in ["lineno", "colno"] {
        if let Some(n) = f.get(key).and_then(Value::as_i64) {
            out.push_str(&format!(":{n}"));
        }
    }
    if let Some(func) = str_at(f, "function") {
        out.push_str(&format!(" in {func}"));
    }
    out
}

fn frame(f: &Value) -> Frame {
    let lineno = f.get("lineno").and_then(Value::as_i64);
    let mut source = Vec::new();
    if let Some(no) = lineno {
        let pre = f.get("pre_context").and_then(Value::as_array);
        let post = f.get("post_context").and_then(Value::as_array);
        if let Some(pre) = pre {
            let first = no - pre.len() as i64;
            source.extend(pre.iter().enumerate().map(|(i, l)| SourceLine {
                no: first + i as i64,
                text: text(l),
                current: false,
            }));
        }
        if let Some(line) = str_at(f, "context_line") {
            source.push(SourceLine {
                no,
                text: line.to_string(),
                current: true,
            });
        }
        if let Some(post) = post {
            source.extend(post.iter().enumerate().map(|(i, l)| SourceLine {
                no: no + 1 + i as i64,
                text: text(l),
                current: false,
            }));
        }
    }
    let file = str_at(f, "filename")
        .or_else(|| str_at(f, "abs_path"))
        .or_else(|| str_at(f, "module"))
        .unwrap_or("?")
        .to_string();
    Frame {
        file,
        function: str_at(f, "function").unwrap_or("?").to_string(),
        line: match (lineno, f.get("colno").and_then(Value::as_i64)) {
            (Some(l), Some(c)) => format!("{l}:{c}"),
            (Some(l), None) => l.to_string(),
            _ => String::new(),
        },
        in_app: f.get("in_app").and_then(Value::as_bool).unwrap_or(false),
        source,
        vars: match f.get("vars") {
            Some(Value::Object(o)) => o.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
            _ => Vec::new(),
        },
        minified: None,
    }
}

/// In-app frames first, each group innermost first (Sentry sends outermost first).
fn ordered_frames(st: Option<&Value>) -> Vec<Frame> {
    let raw = st
        .and_then(|s| s.get("raw_frames"))
        .and_then(Value::as_array);
    let mut frames: Vec<Frame> = st
        .and_then(|s| s.get("frames"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .rev()
                .map(|(i, f)| {
                    let mut shown = frame(f);
                    // The symbolicator maps frame by frame, so `raw_frames` lines up with
                    // `frames`; only frames it mapped are marked as such.
                    let mapped = f.pointer("/data/symbolicated").and_then(Value::as_bool);
                    if mapped == Some(true) {
                        shown.minified = raw.and_then(|r| r.get(i)).map(minified);
                    }
                    shown
                })
                .collect()
        })
        .unwrap_or_default();
    frames.sort_by_key(|f| !f.in_app);
    frames
}

/// Reads what an event page shows from an event's JSON.
pub fn event(json: &Value) -> EventView {
    let message = json
        .get("logentry")
        .and_then(|l| str_at(l, "formatted").or_else(|| str_at(l, "message")))
        .or_else(|| match json.get("message") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(m) => str_at(m, "formatted").or_else(|| str_at(m, "message")),
            None => None,
        })
        .map(str::to_string);
    let mut exceptions: Vec<Exception> = values(json.get("exception"))
        .iter()
        .rev()
        .map(|x| Exception {
            ty: str_at(x, "type").unwrap_or("Error").to_string(),
            value: str_at(x, "value").unwrap_or("").to_string(),
            handled: x
                .get("mechanism")
                .and_then(|m| m.get("handled"))
                .and_then(Value::as_bool),
            frames: ordered_frames(x.get("stacktrace")),
        })
        .collect();
    if exceptions.is_empty() {
        if let Some(st) = json.get("stacktrace").or_else(|| {
            values(json.get("threads"))
                .iter()
                .find_map(|t| t.get("stacktrace"))
        }) {
            exceptions.push(Exception {
                ty: "Stack trace".into(),
                value: String::new(),
                handled: None,
                frames: ordered_frames(Some(st)),
            });
        }
    }
    let breadcrumbs = values(json.get("breadcrumbs"))
        .iter()
        .map(|b| Crumb {
            time: match b.get("timestamp") {
                Some(Value::Number(n)) => n
                    .as_f64()
                    .map(|s| time((s * 1000.0) as i64))
                    .unwrap_or_default(),
                Some(v) => text(v),
                None => String::new(),
            },
            category: str_at(b, "category")
                .or_else(|| str_at(b, "type"))
                .unwrap_or("")
                .to_string(),
            level: str_at(b, "level").unwrap_or("info").to_string(),
            message: str_at(b, "message")
                .map(str::to_string)
                .or_else(|| b.get("data").map(Value::to_string))
                .unwrap_or_default(),
        })
        .collect();
    let mut request = Vec::new();
    if let Some(r) = json.get("request") {
        for key in ["method", "url", "query_string"] {
            if let Some(v) = r.get(key).filter(|v| !v.is_null()) {
                request.push((key.to_string(), text(v)));
            }
        }
        request.extend(pairs(r.get("headers")));
    }
    let mut contexts = Vec::new();
    if let Some(Value::Object(cs)) = json.get("contexts") {
        for (name, c) in cs {
            if let Value::Object(fields) = c {
                for (k, v) in fields {
                    if k != "type" && !v.is_object() && !v.is_array() {
                        contexts.push((format!("{name}.{k}"), text(v)));
                    }
                }
            }
        }
    }
    EventView {
        message,
        exceptions,
        breadcrumbs,
        request,
        user: pairs(json.get("user")),
        tags: pairs(json.get("tags")),
        contexts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_in_app_first_innermost_first_with_source_and_vars() {
        let e = json!({
            "exception": {"values": [{"type": "TypeError", "value": "x is undefined",
                "mechanism": {"handled": false},
                "stacktrace": {"frames": [
                    {"filename": "node:internal", "function": "run", "lineno": 1, "in_app": false},
                    {"filename": "app.js", "function": "outer", "lineno": 10, "in_app": true},
                    {"filename": "app.js", "function": "inner", "lineno": 20, "colno": 3, "in_app": true,
                     "pre_context": ["a", "b"], "context_line": "boom()", "post_context": ["c"],
                     "vars": {"n": 3}}
                ]}}]},
            "breadcrumbs": [{"timestamp": 1700000000.5, "category": "http", "message": "GET /"}],
            "request": {"method": "GET", "url": "http://x/", "headers": {"Accept": "*/*"}},
            "user": {"id": "42"},
            "tags": [["browser", "Firefox"]],
            "contexts": {"os": {"name": "Linux", "type": "os"}}
        });
        let v = event(&e);
        let x = &v.exceptions[0];
        assert_eq!((x.ty.as_str(), x.handled), ("TypeError", Some(false)));
        let names: Vec<_> = x.frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(names, ["inner", "outer", "run"]);
        let src: Vec<_> = x.frames[0]
            .source
            .iter()
            .map(|l| (l.no, l.current))
            .collect();
        assert_eq!(src, [(18, false), (19, false), (20, true), (21, false)]);
        assert_eq!(x.frames[0].vars, [("n".to_string(), "3".to_string())]);
        assert_eq!(x.frames[0].line, "20:3");
        assert_eq!(v.breadcrumbs[0].message, "GET /");
        assert_eq!(v.request[0], ("method".into(), "GET".into()));
        assert!(v.request.contains(&("Accept".into(), "*/*".into())));
        assert_eq!(v.user, [("id".to_string(), "42".to_string())]);
        assert_eq!(v.tags, [("browser".to_string(), "Firefox".to_string())]);
        assert_eq!(v.contexts, [("os.name".to_string(), "Linux".to_string())]);
    }

    #[test]
    fn odd_shapes_are_left_out() {
        let v = event(&json!({"exception": 5, "breadcrumbs": "x", "user": [1], "message": "hi"}));
        assert!(v.exceptions.is_empty() && v.breadcrumbs.is_empty() && v.user.is_empty());
        assert_eq!(v.message.as_deref(), Some("hi"));
    }

    #[test]
    fn durations_and_ages() {
        assert_eq!(ago(0, 90_000), "1 min ago");
        assert_eq!(duration(3_900_000), "1 h 5 min");
        assert_eq!(time(0), "1970-01-01 00:00 UTC");
    }
}
