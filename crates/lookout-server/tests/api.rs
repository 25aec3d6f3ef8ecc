//! The JSON API: issue lists with filters and sorts, one issue with its stack trace,
//! status changes and regressions, signals, retention, and tokens.

mod common;

use std::sync::Arc;

use common::*;
use lookout_core::clock::{Clock, ManualClock};
use serde_json::json;

#[test]
fn issues_group_filter_sort_and_show_stack_traces() {
    let app = spawn_app("");
    let send = |ev: serde_json::Value| {
        let (_, body) = envelope(&ev);
        let r = app.post_envelope(body, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
    };
    // Site A twice, with different values and line numbers: one issue.
    send(exception_event(
        "KeyError",
        "'user_1'",
        "app.users",
        "load_user",
        40,
    ));
    let mut moved = exception_event("KeyError", "'user_2'", "app.users", "load_user", 50);
    moved["user"] = json!({"id": "u2"});
    send(moved);
    // Site B: another issue, in staging and another release.
    let mut b = exception_event(
        "ZeroDivisionError",
        "division by zero",
        "app.billing",
        "ratio",
        7,
    );
    b["environment"] = json!("staging");
    b["release"] = json!("web@2.0.0");
    b["level"] = json!("fatal");
    send(b.clone());
    send(b.clone());
    send(b);
    // A message with a changing number: one issue.
    send(json!({"message": "Order 1234 failed", "level": "warning"}));
    send(json!({"message": "Order 98765 failed", "level": "warning"}));

    let issues = app.issues("");
    assert_eq!(issues.len(), 3, "{issues:#?}");
    for field in [
        "id",
        "title",
        "culprit",
        "level",
        "status",
        "count",
        "first_seen",
        "last_seen",
    ] {
        assert!(issues[0].get(field).is_some(), "missing {field}");
    }
    let by_title = |t: &str| {
        issues
            .iter()
            .find(|i| i["title"].as_str().unwrap().starts_with(t))
            .unwrap()
            .clone()
    };
    let a = by_title("KeyError");
    assert_eq!(a["count"], json!(2));
    assert_eq!(a["user_count"], json!(1));
    assert!(a["culprit"].as_str().unwrap().contains("load_user"), "{a}");
    assert_eq!(by_title("ZeroDivisionError")["count"], json!(3));
    assert_eq!(by_title("Order")["count"], json!(2));
    assert_eq!(by_title("Order")["level"], json!("warning"));

    // Sorts.
    let by_count = app.issues("sort=count");
    assert_eq!(by_count[0]["count"], json!(3));
    let first_seen = app.issues("sort=first_seen");
    assert!(first_seen[0]["title"]
        .as_str()
        .unwrap()
        .starts_with("Order"));
    let last_seen = app.issues("sort=last_seen");
    assert!(last_seen[0]["title"].as_str().unwrap().starts_with("Order"));
    // Filters.
    assert_eq!(app.issues("environment=staging").len(), 1);
    assert_eq!(app.issues("release=web@1.0.0").len(), 1);
    assert_eq!(app.issues("level=fatal").len(), 1);
    assert_eq!(app.issues("query=division").len(), 1);
    assert_eq!(app.issues("query=DIVISION").len(), 1);
    assert_eq!(app.issues("status=resolved").len(), 0);
    let page = app.get("/api/v1/projects/app/issues?limit=1&offset=1&sort=count");
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    assert_eq!(page.body[0]["id"], by_count[1]["id"]);
    let r = app.get("/api/v1/projects/app/issues?status=bogus");
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("bogus"));
    let r = app.get("/api/v1/projects/app/issues?sort=sideways");
    assert_eq!(r.status, 400);

    // One issue with its latest event and full stack trace.
    let r = app.get(&format!("/api/v1/issues/{}", a["id"]));
    assert_eq!(r.status, 200);
    let ev = &r.body["latest_event"];
    let frames = ev["exceptions"][0]["stacktrace"]["frames"]
        .as_array()
        .unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1]["function"], json!("load_user"));
    assert_eq!(frames[1]["lineno"], json!(50));
    assert_eq!(r.body["releases"][0]["value"], json!("web@1.0.0"));
    assert_eq!(r.body["environments"][0]["value"], json!("production"));

    // Events of the issue, newest first.
    let r = app.get(&format!("/api/v1/issues/{}/events", a["id"]));
    let events = r.body.as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events[0]["id"].as_i64() > events[1]["id"].as_i64());
    let r = app.get(&format!(
        "/api/v1/issues/{}/events?limit=1&before={}",
        a["id"], events[0]["id"]
    ));
    assert_eq!(r.body.as_array().unwrap().len(), 1);

    assert_eq!(app.get("/api/v1/issues/999999").status, 404);
    assert_eq!(app.get("/api/v1/issues/abc").status, 400);
    assert_eq!(app.get("/api/v1/projects/nope/issues").status, 404);
}

#[test]
fn resolve_then_regress_ignore_and_signals() {
    let app = spawn_app("");
    let ev = exception_event("RuntimeError", "boom", "app.jobs", "run", 1);
    let (_, body) = envelope(&ev);
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    let issue = &app.issues("")[0];
    let id = issue["id"].as_i64().unwrap();
    assert_eq!(issue["status"], json!("unresolved"));
    assert_eq!(issue["substatus"], json!("new"));

    let r = app.send("POST", &format!("/api/v1/issues/{id}/resolve"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], json!("resolved"));
    assert_eq!(app.issues("status=resolved").len(), 1);

    let (_, body) = envelope(&ev);
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    let issue = &app.issues("")[0];
    assert_eq!(issue["status"], json!("unresolved"));
    assert_eq!(issue["substatus"], json!("regressed"));
    assert_eq!(issue["count"], json!(2));

    let signals = app.get("/api/v1/signals").body;
    let kinds: Vec<_> = signals
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, vec!["new_issue", "regression"], "{signals}");

    // Ignored issues still count events but raise no signals.
    let r = app.send(
        "PUT",
        &format!("/api/v1/issues/{id}"),
        &json!({"status": "ignored"}),
    );
    assert_eq!(r.body["status"], json!("ignored"));
    let mut unhandled = ev.clone();
    unhandled["exception"]["values"][0]["mechanism"] =
        json!({"type": "excepthook", "handled": false});
    let (_, body) = envelope(&unhandled);
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    assert_eq!(app.get("/api/v1/signals").body.as_array().unwrap().len(), 2);
    assert_eq!(app.issues("status=ignored")[0]["count"], json!(3));

    let r = app.send(
        "PUT",
        &format!("/api/v1/issues/{id}"),
        &json!({"status": "open"}),
    );
    assert_eq!(r.status, 400);
    let r = app.send("POST", &format!("/api/v1/issues/{id}/reopen"), &json!({}));
    assert_eq!(r.body["status"], json!("unresolved"));

    // An unhandled exception on an open issue is a signal.
    let (_, body) = envelope(&unhandled);
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    let signals = app.get("/api/v1/signals?after=0").body;
    assert_eq!(
        signals.as_array().unwrap().last().unwrap()["kind"],
        json!("unhandled")
    );
    assert!(app.issues("")[0]["unhandled_count"].as_u64().unwrap() >= 1);
}

#[test]
fn the_api_needs_its_token() {
    let app = spawn_app("");
    let url = format!("{}/api/v1/projects", app.url);
    assert_eq!(request("GET", &url, &[], vec![]).status, 401);
    assert_eq!(
        request("GET", &url, &[("authorization", "Bearer wrong")], vec![]).status,
        401
    );
    let r = app.get("/api/v1/projects");
    assert_eq!(r.status, 200);
    let p = &r.body[0];
    assert_eq!(p["slug"], json!("app"));
    assert_eq!(
        p["dsn"],
        json!(format!(
            "{}/{PROJECT_ID}",
            app.url.replace("http://", &format!("http://{KEY}@"))
        ))
    );
}

#[test]
fn projects_created_at_run_time_accept_events() {
    let app = spawn_app("");
    let r = app.send(
        "POST",
        "/api/v1/projects",
        &json!({"slug": "mobile", "name": "Mobile"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let dsn = r.body["dsn"].as_str().unwrap().to_string();
    let key = r.body["public_key"].as_str().unwrap().to_string();
    let pid = r.body["id"].as_i64().unwrap();
    assert!(dsn.ends_with(&format!("/{pid}")));
    let r2 = app.send("POST", "/api/v1/projects", &json!({"slug": "mobile"}));
    assert_eq!(r2.status, 409, "{}", r2.body);
    let r3 = app.send("POST", "/api/v1/projects", &json!({"slug": "Bad Slug"}));
    assert_eq!(r3.status, 400);
    let r4 = app.send(
        "POST",
        "/api/v1/projects",
        &json!({"slug": "x", "colour": "red"}),
    );
    assert_eq!(r4.status, 400, "{}", r4.body);

    let (_, body) = envelope(&json!({"message": "hi"}));
    let r = request(
        "POST",
        &format!("{}/api/{pid}/envelope/?sentry_key={key}", app.url),
        &[],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = app.get("/api/v1/projects/mobile/issues");
    assert_eq!(r.body.as_array().unwrap().len(), 1);
}

#[test]
fn retention_deletes_old_events_and_keeps_issues() {
    let clock = ManualClock::new(1_780_000_000_000);
    let app = spawn_app_with_clock("retention_days = 7\n", Arc::new(clock.clone()));
    let (old, body) = envelope(&exception_event("E", "x", "app.ret", "f", 1));
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    let event = |id: &str| app.get(&format!("/api/v1/projects/app/events/{id}")).status;
    assert_eq!(event(&old), 200);
    let state = app.state();
    let retention = |now: i64| {
        lookout_server::jobs::apply_retention(state.store.as_ref(), &state.projects, now)
    };
    assert_eq!(retention(clock.now_ms()), 0, "a fresh event stays");
    clock.advance(8 * 86_400_000);
    let (new, body) = envelope(&exception_event("E", "x", "app.ret", "f", 1));
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    assert_eq!(clock.now_ms(), app.state().clock.now_ms());
    // The jobs loop applies retention at its first turn too, which a busy machine may
    // take only now: then it deleted the old event, and this finds nothing left.
    let deleted = retention(clock.now_ms());
    assert!(deleted <= 1, "{deleted} deleted");
    assert_eq!(retention(clock.now_ms()), 0, "nothing left past retention");
    assert_eq!(event(&old), 404);
    assert_eq!(event(&new), 200);
    let issues = app.issues("");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["count"], json!(2));
}
