//! A tiny JSON condition language: a path from the root, optionally compared with a
//! literal. `$.status == "ok"`, `$.checks.database.latency < 100`, `$.a[0].b != "x"`,
//! `$.x` (exists). Unlike a keyword, it does not care how the JSON is formatted.

use std::fmt;

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonCondition {
    source: String,
    path: Vec<Step>,
    compare: Option<(Op, Value)>,
}

/// The outcome of evaluating a condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Whether the condition holds.
    pub holds: bool,
    /// What the path pointed at (`None`: nothing there).
    pub found: Option<Value>,
}

impl Evaluation {
    /// The found value in words, for error messages.
    pub fn describe(&self, cond: &JsonCondition) -> String {
        let path = cond.path_str();
        match &self.found {
            None => format!("{path} does not exist"),
            Some(v) => format!("{path} is {v}"),
        }
    }
}

impl JsonCondition {
    /// Parses a condition; the error says what is wrong and where.
    pub fn parse(s: &str) -> Result<Self, String> {
        let src = s.trim();
        let rest = src.strip_prefix('$').ok_or_else(|| {
            format!("`{src}`: a condition starts with `$` (e.g. $.status == \"ok\")")
        })?;
        let bytes = rest.as_bytes();
        let mut path = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len()
                        && (bytes[end].is_ascii_alphanumeric()
                            || matches!(bytes[end], b'_' | b'-' | b'$' | b'@'))
                    {
                        end += 1;
                    }
                    if end == start {
                        return Err(format!(
                            "`{src}`: a name must follow `.` at offset {}",
                            i + 1
                        ));
                    }
                    path.push(Step::Key(rest[start..end].to_string()));
                    i = end;
                }
                b'[' => {
                    let close = rest[i..]
                        .find(']')
                        .map(|p| p + i)
                        .ok_or_else(|| format!("`{src}`: `[` without `]`"))?;
                    let inner = rest[i + 1..close].trim();
                    if let Some(q) = inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                        path.push(Step::Key(q.to_string()));
                    } else if let Some(q) =
                        inner.strip_prefix('\'').and_then(|x| x.strip_suffix('\''))
                    {
                        path.push(Step::Key(q.to_string()));
                    } else {
                        let n = inner.parse().map_err(|_| {
                            format!("`{src}`: `[{inner}]` is neither an index nor a quoted key")
                        })?;
                        path.push(Step::Index(n));
                    }
                    i = close + 1;
                }
                b' ' | b'\t' | b'=' | b'!' | b'<' | b'>' => break,
                _ => {
                    return Err(format!(
                        "`{src}`: unexpected `{}` in the path",
                        &rest[i..i + 1]
                    ))
                }
            }
        }
        let tail = rest[i..].trim();
        if tail.is_empty() {
            return Ok(JsonCondition {
                source: src.to_string(),
                path,
                compare: None,
            });
        }
        let (op, lit) = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .iter()
        .find_map(|(tok, op)| tail.strip_prefix(tok).map(|l| (*op, l.trim())))
        .ok_or_else(|| format!("`{src}`: expected an operator (== != < <= > >=) after the path"))?;
        let value = literal(lit).ok_or_else(|| {
            format!("`{src}`: `{lit}` is not a value (use \"text\", a number, true, false or null)")
        })?;
        if !matches!(op, Op::Eq | Op::Ne) && !value.is_number() {
            return Err(format!("`{src}`: {} compares numbers only", op.as_str()));
        }
        Ok(JsonCondition {
            source: src.to_string(),
            path,
            compare: Some((op, value)),
        })
    }

    /// Evaluates the condition against a document.
    pub fn evaluate(&self, doc: &Value) -> Evaluation {
        let mut cur = Some(doc);
        for step in &self.path {
            cur = cur.and_then(|v| match step {
                Step::Key(k) => v.get(k.as_str()),
                Step::Index(n) => v.get(*n),
            });
        }
        let found = cur.cloned();
        let holds = match (&found, &self.compare) {
            (None, Some((Op::Ne, _))) => true,
            (None, _) => false,
            (Some(_), None) => true,
            (Some(v), Some((op, lit))) => match op {
                Op::Eq => json_eq(v, lit),
                Op::Ne => !json_eq(v, lit),
                _ => match (v.as_f64(), lit.as_f64()) {
                    (Some(a), Some(b)) => match op {
                        Op::Lt => a < b,
                        Op::Le => a <= b,
                        Op::Gt => a > b,
                        _ => a >= b,
                    },
                    _ => false,
                },
            },
        };
        Evaluation { holds, found }
    }

    fn path_str(&self) -> String {
        let mut s = "$".to_string();
        for step in &self.path {
            match step {
                Step::Key(k) => {
                    s.push('.');
                    s.push_str(k);
                }
                Step::Index(n) => s.push_str(&format!("[{n}]")),
            }
        }
        s
    }
}

impl fmt::Display for JsonCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Numbers compare by value so `1` equals `1.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn literal(s: &str) -> Option<Value> {
    if let Some(inner) = s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return Some(Value::String(inner.to_string()));
    }
    match serde_json::from_str::<Value>(s) {
        Ok(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null)) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(cond: &str, doc: &Value) -> bool {
        JsonCondition::parse(cond).unwrap().evaluate(doc).holds
    }

    #[test]
    fn compares_paths() {
        let doc = json!({"status": "ok", "checks": {"database": {"latency": 42}}, "a": [{"b": "y"}], "n": 1.0});
        assert!(holds(r#"$.status == "ok""#, &doc));
        assert!(!holds(r#"$.status == "degraded""#, &doc));
        assert!(holds("$.status == 'ok'", &doc));
        assert!(holds("$.checks.database.latency < 100", &doc));
        assert!(!holds("$.checks.database.latency >= 100", &doc));
        assert!(holds(r#"$.a[0].b != "x""#, &doc));
        assert!(holds(r#"$["checks"]["database"].latency <= 42"#, &doc));
        assert!(holds("$.n == 1", &doc));
        assert!(holds("$.checks", &doc));
        assert!(!holds("$.missing", &doc));
        assert!(!holds("$.a[3].b == \"y\"", &doc));
        assert!(!holds("$.status < 3", &doc));
    }

    #[test]
    fn describes_what_it_found() {
        let c = JsonCondition::parse(r#"$.status == "ok""#).unwrap();
        let e = c.evaluate(&json!({"status": "degraded"}));
        assert_eq!(e.describe(&c), r#"$.status is "degraded""#);
        let e = c.evaluate(&json!({}));
        assert_eq!(e.describe(&c), "$.status does not exist");
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in [
            "status == 1",
            "$.",
            "$.a ~ 1",
            "$.a == ok",
            "$.a < \"x\"",
            "$[x]",
            "$.a[0",
        ] {
            assert!(JsonCondition::parse(bad).is_err(), "{bad}");
        }
    }
}
