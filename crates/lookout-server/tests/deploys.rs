//! Deploy records through the API: recorded with their checks, verdict and rollback,
//! listed and read back, bad input refused with the field named, and each issue saying
//! which deploy came before its first event.

mod common;

use std::sync::Arc;

use common::*;
use lookout_core::clock::ManualClock;
use serde_json::{json, Value};

const MIN: i64 = 60_000;
/// 2026-12-04T12:00:00Z.
const T0: i64 = 1_796_385_600_000;

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

fn parse(s: &Value) -> i64 {
    s.as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

#[test]
fn deploys_are_recorded_listed_and_read_back() {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock("", Arc::new(clock.clone()));
    let checks = json!([
        {"kind": "health", "target": "http://127.0.0.1:3000/api/health", "outcome": "pass",
         "summary": "ok", "attempts": 3, "duration_ms": 2150},
        {"kind": "page", "target": "http://127.0.0.1:3000/login", "outcome": "pass",
         "summary": "HTTP 200", "attempts": 1, "duration_ms": 40}
    ]);
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({
            "project": "app",
            "release": "web@1.4.2",
            "environment": "production",
            "name": "deploy #41",
            "url": "https://ci.example.org/runs/41",
            "commit": "0123abc",
            "dateStarted": iso(T0 - MIN),
            "dateFinished": iso(T0),
            "verdict": "passed",
            "checks": checks,
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.body;
    let id = d["id"].as_i64().unwrap();
    assert_eq!(d["projectId"], PROJECT_ID);
    assert_eq!(d["release"], "web@1.4.2");
    assert_eq!(d["environment"], "production");
    assert_eq!(d["commit"], "0123abc");
    assert_eq!(d["name"], "deploy #41");
    assert_eq!(parse(&d["dateStarted"]), T0 - MIN);
    assert_eq!(parse(&d["dateFinished"]), T0);
    assert_eq!(d["verdict"], "passed");
    assert_eq!(d["checks"], checks);
    // A passed deploy is watched for the default 10 minutes after it finished.
    assert_eq!(d["watch"]["verdict"], "watching", "{d}");
    assert_eq!(parse(&d["watch"]["until"]), T0 + 10 * MIN);

    // Sentry's shape: `version` for the release, the defaults for the rest; a deploy
    // rolled back is not watched (its release no longer serves), and neither is one
    // asked not to be.
    clock.set(T0 + MIN);
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({"project": PROJECT_ID.to_string(), "version": "web@1.4.3", "verdict": "rolled_back",
                "rollback": {"to": "HEAD~1", "steps": [{"command": "pm2 restart web", "outcome": "ok"}]}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let rolled = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["environment"], "production");
    assert_eq!(parse(&r.body["dateStarted"]), T0 + MIN);
    assert_eq!(r.body["watch"], Value::Null);
    assert_eq!(r.body["rollback"]["to"], "HEAD~1");
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({"project": "app", "release": "web@1.4.3", "environment": "staging", "watch": "0s"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let staging = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["watch"], Value::Null);

    let ids = |q: &str| -> Vec<i64> {
        let r = app.get(&format!("/api/v1/deploys{q}"));
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(""), [staging, rolled, id], "newest first");
    assert_eq!(ids("?project=app&environment=production"), [rolled, id]);
    assert_eq!(ids("?release=web@1.4.3&limit=1"), [staging]);
    let one = app.get(&format!("/api/v1/deploys/{id}"));
    assert_eq!(one.status, 200);
    assert_eq!(one.body["checks"], checks);
    assert_eq!(app.get("/api/v1/deploys/999").status, 404);
    assert_eq!(app.get("/api/v1/deploys/x").status, 400);
    assert_eq!(app.get("/api/v1/deploys?project=nope").status, 404);
    assert_eq!(app.get("/api/v1/deploys?colour=red").status, 400);

    // Bad input: a 400 naming the field, never a record.
    for (body, field) in [
        (json!({"release": "x"}), "project"),
        (json!({"project": "app"}), "release"),
        (json!({"project": "app", "release": " "}), "release"),
        (
            json!({"project": "app", "release": "x", "dateStarted": "yesterday"}),
            "dateStarted",
        ),
        (
            json!({"project": "app", "release": "x", "dateStarted": iso(T0), "dateFinished": iso(T0 - 1)}),
            "dateFinished",
        ),
        (
            json!({"project": "app", "release": "x", "verdict": "great"}),
            "verdict",
        ),
        (
            json!({"project": "app", "release": "x", "checks": {}}),
            "checks",
        ),
        (
            json!({"project": "app", "release": "x", "rollback": []}),
            "rollback",
        ),
        (
            json!({"project": "app", "release": "x", "watch": "soon"}),
            "watch",
        ),
        (
            json!({"project": "app", "release": "x", "colour": "red"}),
            "colour",
        ),
    ] {
        let r = app.send("POST", "/api/v1/deploys", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.detail().contains(field), "{body}: {}", r.detail());
    }
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({"project": "nope", "release": "x"}),
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(ids("").len(), 3);
}

#[test]
fn each_issue_says_which_deploy_came_before_its_first_event() {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock("", Arc::new(clock.clone()));
    let send = |ty: &str| {
        let (_, body) = envelope(&exception_event(ty, "boom", "app.views", ty, 10));
        let r = app.post_envelope(body, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
    };
    send("EarlyError");
    wait_for("the first issue", || {
        (app.issues("").len() == 1).then_some(())
    });
    clock.set(T0 + MIN);
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({"project": "app", "release": "web@2.0.0"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let deploy = r.body["id"].as_i64().unwrap();
    clock.set(T0 + 2 * MIN);
    send("LateError");
    let issues = wait_for("the second issue", || {
        let i = app.issues("sort=first_seen");
        (i.len() == 2).then_some(i)
    });
    assert!(issues[0]["title"].as_str().unwrap().contains("LateError"));
    assert_eq!(issues[0]["deploy_before"]["id"], deploy, "{}", issues[0]);
    assert_eq!(issues[0]["deploy_before"]["release"], "web@2.0.0");
    assert_eq!(issues[1]["deploy_before"], Value::Null, "{}", issues[1]);
    let id = issues[0]["id"].as_i64().unwrap();
    let one = app.get(&format!("/api/v1/issues/{id}"));
    assert_eq!(one.body["deploy_before"]["id"], deploy, "{}", one.body);
}

/// A webhook receiver on loopback: the bodies it got.
fn receiver(rt: &tokio::runtime::Runtime) -> (String, Arc<std::sync::Mutex<Vec<Value>>>) {
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/rollback", listener.local_addr().unwrap());
    let g = got.clone();
    let app = axum::Router::new().route(
        "/rollback",
        axum::routing::post(move |body: String| {
            let g = g.clone();
            async move {
                g.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or_default());
                "ok"
            }
        }),
    );
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}

#[test]
fn a_bad_release_alerts_and_rolls_back_and_a_quiet_one_is_good() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (hook, hooked) = receiver(&rt);
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("rollback.log");
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(
        &format!(
            "[alerts]\nevaluate_every = \"10s\"\n\n[[rules]]\nname = \"Bad deploy\"\nwhen = \"errors after deploy > 2x in 15m\"\nseverity = \"high\"\n\n\
             [deploy.watch]\nwindow = \"10m\"\nrollback_webhook = \"{hook}\"\nrollback_command = \"echo \\\"$LOOKOUT_DEPLOY_RELEASE\\\" >> '{}'\"\n",
            ran.display()
        ),
        Arc::new(clock.clone()),
    );
    let deploy = |release: &str| {
        let r = app.send(
            "POST",
            "/api/v1/deploys",
            &json!({"project": "app", "release": release, "environment": "production"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_i64().unwrap()
    };
    let verdict = |id: i64| {
        wait_for("the watch's verdict", || {
            let d = app.get(&format!("/api/v1/deploys/{id}")).body;
            let v = d["watch"]["verdict"].as_str()?.to_string();
            (v != "watching").then_some(d)
        })
    };
    let bad_deploy_incidents = || {
        app.get("/api/v1/incidents?status=all")
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["rule"] == "Bad deploy")
            .count()
    };

    // web@2 throws errors after its deploy.
    let bad = deploy("web@2");
    clock.set(T0 + MIN);
    for n in 0..8 {
        let mut ev = exception_event(
            "PaymentDeclined",
            &format!("order {n}"),
            "shop.pay",
            "charge",
            10,
        );
        ev["release"] = json!("web@2");
        let (_, body) = envelope(&ev);
        assert_eq!(app.post_envelope(body, &[]).status, 200);
    }
    wait_for("the events", || {
        (app.issues("")
            .iter()
            .map(|i| i["count"].as_u64().unwrap())
            .sum::<u64>()
            == 8)
            .then_some(())
    });
    clock.advance(10_000);
    wait_for("the incident", || {
        clock.advance(1_000);
        (bad_deploy_incidents() == 1).then_some(())
    });
    // Not judged before the window ends; then bad, with the hook run once.
    assert_eq!(
        app.get(&format!("/api/v1/deploys/{bad}")).body["watch"]["verdict"],
        "watching"
    );
    clock.set(T0 + 10 * MIN);
    let d = verdict(bad);
    assert_eq!(d["watch"]["verdict"], "bad", "{d}");
    assert_eq!(d["watch"]["figures"]["errors_after"], 8, "{d}");
    assert_eq!(d["watch"]["figures"]["new_issues"], 1, "{d}");
    wait_for("the rollback hook", || {
        (hooked.lock().unwrap().len() == 1 && std::fs::read_to_string(&ran).is_ok()).then_some(())
    });
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "web@2\n");
    assert_eq!(hooked.lock().unwrap()[0]["deploy"]["release"], "web@2");

    // web@3 is quiet: good, no hook, no second incident.
    clock.set(T0 + 30 * MIN);
    let quiet = deploy("web@3");
    for _ in 0..3 {
        clock.advance(10_000);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    clock.set(T0 + 40 * MIN);
    let d = verdict(quiet);
    assert_eq!(d["watch"]["verdict"], "good", "{d}");
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    assert_eq!(hooked.lock().unwrap().len(), 1);
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "web@2\n");
    assert_eq!(bad_deploy_incidents(), 1);
}
