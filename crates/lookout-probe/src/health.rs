//! Reading other applications' health documents: the reference format
//! (`{status: ok|degraded|unhealthy, checks: {name: {status, latency}}}`) and the
//! `application/health+json` draft (`{status: pass|warn|fail, checks: {"name:measure":
//! [{status, observedValue, observedUnit, output}]}}`). Both vocabularies are accepted in
//! either shape, since real endpoints mix them.

use serde_json::Value;

use crate::Status;

/// What a health document says.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// The overall verdict.
    pub status: Status,
    /// Checks that are not ok, each as `name (status, details)`.
    pub failing: Vec<String>,
    /// How many checks the document lists.
    pub checks: usize,
    /// The document's `checks` object as sent, for rules on its fields (memory
    /// percentage, database latency).
    pub checks_doc: Option<Value>,
}

/// Maps a status word of either vocabulary; `None` when it is not a health status.
fn status_word(s: &str) -> Option<Status> {
    Some(match s.to_ascii_lowercase().as_str() {
        "ok" | "pass" | "up" | "healthy" => Status::Up,
        "degraded" | "warn" | "warning" => Status::Degraded,
        "unhealthy" | "fail" | "error" | "down" | "critical" => Status::Down,
        _ => return None,
    })
}

/// Interprets a body as a health document; `None` when it is not one (not JSON, or no
/// recognisable top-level `status`).
pub fn interpret(body: &[u8]) -> Option<HealthReport> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let status = status_word(doc.get("status")?.as_str()?)?;
    let mut failing = Vec::new();
    let mut checks = 0;
    if let Some(map) = doc.get("checks").and_then(Value::as_object) {
        for (name, v) in map {
            // health+json lists one object per component under each key.
            let entries: Vec<&Value> = match v {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for entry in entries {
                checks += 1;
                let word = entry.get("status").and_then(Value::as_str).unwrap_or("");
                if status_word(word) == Some(Status::Up) {
                    continue;
                }
                let mut label = name.clone();
                if let Some(id) = entry.get("componentId").and_then(Value::as_str) {
                    label.push_str(&format!("[{id}]"));
                }
                failing.push(format!("{label} ({})", describe(word, entry)));
            }
        }
    }
    Some(HealthReport {
        status,
        failing,
        checks,
        checks_doc: doc.get("checks").cloned(),
    })
}

fn describe(word: &str, entry: &Value) -> String {
    let mut parts = vec![if word.is_empty() { "no status" } else { word }.to_string()];
    if let Some(l) = entry.get("latency").filter(|v| v.is_number()) {
        parts.push(format!("latency {l} ms"));
    }
    if let Some(v) = entry.get("observedValue").filter(|v| !v.is_null()) {
        let unit = entry
            .get("observedUnit")
            .and_then(Value::as_str)
            .unwrap_or("");
        parts.push(format!(
            "observed {v}{}{unit}",
            if unit.is_empty() { "" } else { " " }
        ));
    }
    for key in ["output", "message", "error"] {
        if let Some(s) = entry
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            parts.push(s.to_string());
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_format() {
        let r = interpret(br#"{"status":"degraded","checks":{"database":{"status":"degraded","latency":850},"memory":{"status":"ok"}}}"#).unwrap();
        assert_eq!(r.status, Status::Degraded);
        assert_eq!(r.failing, vec!["database (degraded, latency 850 ms)"]);
        assert_eq!(r.checks, 2);
    }

    #[test]
    fn health_json_draft() {
        let r = interpret(br#"{"status":"fail","checks":{"postgres:responseTime":[{"componentId":"db1","status":"fail","observedValue":5000,"observedUnit":"ms","output":"timeout"}],"uptime":[{"status":"pass"}]}}"#).unwrap();
        assert_eq!(r.status, Status::Down);
        assert_eq!(
            r.failing,
            vec!["postgres:responseTime[db1] (fail, observed 5000 ms, timeout)"]
        );
    }

    #[test]
    fn not_a_health_document() {
        assert!(interpret(b"OK").is_none());
        assert!(interpret(br#"{"hello":"world"}"#).is_none());
        assert!(interpret(br#"{"status":"banana"}"#).is_none());
    }
}
