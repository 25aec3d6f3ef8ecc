//! `GET /metrics`: behind the API token unless public, Prometheus text by default and
//! OpenMetrics when asked, both read without error by the Prometheus project's own
//! Python parser (`prometheus_client`), with the figures the server holds.
//!
//! The parser half is switched on by `LOOKOUT_TEST_PYTHON=/path/to/python` (an interpreter
//! with the packages of `tests/sdk/python/requirements.txt`).

mod common;
#[path = "../../../tests/suite_switch.rs"]
mod suite_switch;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use serde_json::{json, Value};

fn scrape(app: &TestApp, accept: Option<&str>) -> Resp {
    let auth = format!("Bearer {TOKEN}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(a) = accept {
        headers.push(("accept", a));
    }
    request("GET", &format!("{}/metrics", app.url), &headers, vec![])
}

fn text(r: &Resp) -> String {
    r.body.as_str().unwrap_or_default().to_string()
}

fn parse(python: &str, format: &str, body: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/metrics/parse.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the {format} text: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(families: &Value, family: &str, name: &str, labels: &Value) -> Option<f64> {
    families[family]["samples"]
        .as_array()?
        .iter()
        .find(|s| {
            s[0] == name
                && labels
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| &s[1][k] == v)
        })
        .and_then(|s| s[2].as_f64())
}

fn send_error(app: &TestApp, i: u64) {
    // A function of its own: an issue of its own.
    let f = format!("handler_{i}");
    let (_, body) = envelope(&exception_event("ValueError", "bad input", "app", &f, 10));
    let r = app.post_envelope(body, &[("x-sentry-auth", &auth_header())]);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn the_token_guards_metrics_unless_public() {
    let app = spawn_app("");
    let r = request("GET", &format!("{}/metrics", app.url), &[], vec![]);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.detail().contains("Bearer"), "{}", r.detail());
    let r = request(
        "GET",
        &format!("{}/metrics", app.url),
        &[("authorization", "Bearer wrong")],
        vec![],
    );
    assert_eq!(r.status, 401);
    assert_eq!(scrape(&app, None).status, 200);

    let public = spawn_app("[metrics]\npublic = true\n");
    let r = request("GET", &format!("{}/metrics", public.url), &[], vec![]);
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn metrics_parse_with_prometheus_client() {
    let app = spawn_app(
        "[[slos]]\nname = \"API p95\"\nkind = \"latency\"\nproject = \"app\"\nthreshold = \"300ms\"\ntarget = 95\n",
    );
    // Created through the API: checked at once.
    let r = app.send(
        "POST",
        "/api/v1/monitors",
        &json!({"name": "Closed port", "kind": "tcp", "host": "127.0.0.1", "port": 9, "interval": "1h"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app.send(
        "POST",
        "/api/v1/slos",
        &json!({"name": "Closed port availability", "kind": "availability", "monitor": "Closed port", "target": 99.9}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    for i in 0..3 {
        send_error(&app, i);
    }
    wait_for("3 issues", || (app.issues("").len() == 3).then_some(()));
    wait_for("the first check", || {
        let t = text(&scrape(&app, None));
        // Observed when the check ends; stored a moment later.
        (t.contains(
            "lookout_check_duration_seconds_count{monitor=\"Closed port\",phase=\"total\"} 1",
        ) && t.contains("lookout_slo_value_ratio{slo=\"Closed port availability\"}"))
        .then_some(())
    });

    let prom = scrape(&app, None);
    assert_eq!(prom.status, 200);
    assert_eq!(
        prom.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let prom_text = text(&prom);
    assert!(!prom_text.contains("# EOF"), "{prom_text}");
    let om = scrape(
        &app,
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    );
    assert!(
        om.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        om.headers
    );
    let om_text = text(&om);
    assert!(om_text.ends_with("# EOF\n"), "{om_text}");
    // No event ids or URLs in any label.
    assert!(!om_text.contains("http://"), "{om_text}");

    let Some(python) =
        suite_switch::suite_switch("LOOKOUT_TEST_PYTHON", "Python prometheus_client parser")
    else {
        return;
    };
    let p = parse(&python, "prometheus", &prom_text);
    let o = parse(&python, "openmetrics", &om_text);
    for families in [&p, &o] {
        assert_eq!(
            sample(
                families,
                "lookout_events",
                "lookout_events_total",
                &json!({"project": "app", "outcome": "accepted", "category": "error"})
            ),
            Some(3.0),
            "{families}"
        );
        assert_eq!(
            sample(
                families,
                "lookout_issues",
                "lookout_issues",
                &json!({"project": "app", "status": "unresolved"})
            ),
            Some(3.0)
        );
        // One failed check does not confirm an outage yet.
        assert_eq!(
            sample(
                families,
                "lookout_monitor_state",
                "lookout_monitor_state",
                &json!({"monitor": "Closed port", "state": "unknown"})
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                families,
                "lookout_slo_target_ratio",
                "lookout_slo_target_ratio",
                &json!({"slo": "Closed port availability"})
            ),
            Some(0.999)
        );
        assert_eq!(
            sample(
                families,
                "lookout_slo_value_ratio",
                "lookout_slo_value_ratio",
                &json!({"slo": "Closed port availability"})
            ),
            Some(0.0)
        );
        assert_eq!(
            sample(
                families,
                "lookout_slo_error_budget_remaining_ratio",
                "lookout_slo_error_budget_remaining_ratio",
                &json!({"slo": "API p95"})
            ),
            Some(1.0)
        );
        assert!(
            sample(
                families,
                "lookout_slo_burn_rate",
                "lookout_slo_burn_rate",
                &json!({"slo": "Closed port availability", "window": "5m"})
            )
            .unwrap()
                > 14.4
        );
        assert!(
            sample(
                families,
                "lookout_check_duration_seconds",
                "lookout_check_duration_seconds_count",
                &json!({"monitor": "Closed port", "phase": "total"})
            )
            .unwrap()
                >= 1.0
        );
        assert_eq!(
            sample(
                families,
                "lookout_writer_queue_depth",
                "lookout_writer_queue_depth",
                &json!({})
            ),
            Some(0.0)
        );
        assert!(
            sample(
                families,
                "process_resident_memory_bytes",
                "process_resident_memory_bytes",
                &json!({})
            )
            .unwrap()
                > 1e6
        );
        assert!(
            sample(families, "process_open_fds", "process_open_fds", &json!({})).unwrap() > 3.0
        );
        assert!(
            sample(
                families,
                "process_start_time_seconds",
                "process_start_time_seconds",
                &json!({})
            )
            .unwrap()
                > 1.7e9
        );
    }
    assert_eq!(p["lookout_events"]["type"], "counter");
    assert_eq!(o["lookout_check_duration_seconds"]["type"], "histogram");
}
