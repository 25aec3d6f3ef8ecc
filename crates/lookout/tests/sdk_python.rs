//! The real Python `sentry-sdk` against the real server: `tests/sdk/python/client.py`
//! raises and captures errors from two code sites, two messages that differ only in
//! numbers, an exception escaping a thread (unhandled) and cron check-ins; this test reads
//! the result back through the JSON API.
//!
//! Switched on by `LOOKOUT_TEST_PYTHON=/path/to/python` (an interpreter with `sentry-sdk`).

#[path = "../../../tests/sdk/checks.rs"]
mod checks;
mod common;

use std::process::Command;
use std::time::Duration;

use checks::*;
use common::Server;

#[test]
fn python_sdk_events_become_issues() {
    let Some(python) = common::suite_switch("LOOKOUT_TEST_PYTHON", "Python sentry-sdk suite")
    else {
        return;
    };
    let script = repo_root().join("tests/sdk/python/client.py");
    assert!(script.is_file(), "{} is missing", script.display());
    let s = Server::start();
    // Run from the script's folder, as an app runs from its project root: sentry-sdk marks
    // frames under the working directory in_app.
    let out = run_client(
        Command::new(&python)
            .arg(&script)
            .arg(s.local_dsn())
            .current_dir(script.parent().expect("script folder")),
        "tests/sdk/python/client.py",
        Duration::from_secs(45),
    );
    let release = out["release"].as_str().expect("release").to_string();
    let environment = out["environment"]
        .as_str()
        .expect("environment")
        .to_string();
    eprintln!("python sentry-sdk {}", out["sdk_version"]);

    // Site A: two KeyErrors from the same code, different keys -> one issue.
    let a = ids(&out, "site_a");
    assert_eq!(a.len(), 2);
    let ia = issue_of_event(&s, &a[0]);
    assert_eq!(
        issue_of_event(&s, &a[1]),
        ia,
        "the two KeyErrors from lookup_price split"
    );
    let issue_a = issue(&s, ia);
    assert_eq!(issue_a["count"], 2, "{issue_a}");
    let title = issue_a["title"].as_str().unwrap_or_default();
    assert!(title.starts_with("KeyError"), "title: {title}");
    let culprit = issue_a["culprit"].as_str().unwrap_or_default();
    assert!(culprit.contains("lookup_price"), "culprit: {culprit}");
    assert_eq!(issue_a["level"], "error");
    assert_eq!(issue_a["user_count"], 2, "two users hit site A: {issue_a}");
    assert_eq!(issue_a["unhandled_count"], 0, "{issue_a}");
    assert_eq!(issue_a["first_release"], release.as_str(), "{issue_a}");
    assert_seen(&issue_a, "releases", &release);
    assert_seen(&issue_a, "environments", &environment);
    assert_in_app_frame(&issue_a, "lookup_price");
    assert_in_app_frame(&issue_a, "checkout");
    let exc = last_exception(&issue_a);
    assert_eq!(exc["type"], "KeyError", "{exc}");
    assert_eq!(exc["mechanism"]["handled"], true, "{exc}");
    let latest = &issue_a["latest_event"];
    assert_eq!(latest["release"], release.as_str());
    assert_eq!(latest["environment"], environment.as_str());
    assert!(
        a.contains(&latest["event_id"].as_str().unwrap_or_default().to_string()),
        "latest event {} is not one of {a:?}",
        latest["event_id"]
    );
    assert!(
        latest["data"].is_object(),
        "latest_event.data is not the stored event"
    );

    // Site B: another function -> another issue.
    let b = ids(&out, "site_b");
    let ib = issue_of_event(&s, &b[0]);
    assert_ne!(ib, ia, "site B was merged into site A");
    let issue_b = issue(&s, ib);
    assert_eq!(issue_b["count"], 1);
    assert!(
        issue_b["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("ValueError"),
        "{issue_b}"
    );
    assert!(
        issue_b["culprit"]
            .as_str()
            .unwrap_or_default()
            .contains("parse_quantity"),
        "{issue_b}"
    );
    assert_in_app_frame(&issue_b, "parse_quantity");

    // Messages differing only in numbers -> one issue.
    let m = ids(&out, "messages");
    let im = issue_of_event(&s, &m[0]);
    assert_eq!(
        issue_of_event(&s, &m[1]),
        im,
        "the two messages split into two issues"
    );
    assert!(im != ia && im != ib);
    let issue_m = issue(&s, im);
    assert_eq!(issue_m["count"], 2, "{issue_m}");
    assert_eq!(issue_m["level"], "warning", "{issue_m}");
    assert!(
        issue_m["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Processed "),
        "{issue_m}"
    );
    assert_eq!(issue_m["user_count"], 1, "{issue_m}");

    // The exception that escaped a thread is unhandled.
    let unhandled_type = out["unhandled_type"].as_str().expect("unhandled_type");
    let iu = issue_titled(&s, unhandled_type);
    let iu_id = iu["id"].as_i64().expect("issue id");
    assert!(iu["unhandled_count"].as_u64() >= Some(1), "{iu}");
    let issue_u = issue(&s, iu_id);
    assert_eq!(
        last_exception(&issue_u)["mechanism"]["handled"],
        false,
        "{issue_u}"
    );
    assert!(
        issue_u["culprit"]
            .as_str()
            .unwrap_or_default()
            .contains("worker_job"),
        "{issue_u}"
    );

    let issues = s.issues("");
    assert_eq!(
        issues.len(),
        4,
        "expected 4 issues (A, B, message, unhandled): {issues:#?}"
    );

    let sig = signals(&s);
    for (what, id) in [
        ("site A", ia),
        ("site B", ib),
        ("message", im),
        ("unhandled", iu_id),
    ] {
        assert!(
            has_signal(&sig, "new_issue", id),
            "no new_issue signal for {what}: {sig:?}"
        );
    }
    assert!(
        has_signal(&sig, "unhandled", iu_id),
        "no unhandled signal: {sig:?}"
    );
    assert!(
        !has_signal(&sig, "unhandled", ia),
        "a handled error raised an unhandled signal"
    );

    let by_release = s.issues(&format!("release={release}"));
    assert_eq!(by_release.len(), 4, "release filter: {by_release:#?}");
    assert!(s.issues("release=no-such-release").is_empty());

    // Cron check-ins are accepted (not yet readable through the API).
    let check_ins = out["check_ins"].as_u64().expect("check_ins");
    s.wait_for("check-ins counted", Duration::from_secs(10), || {
        (outcome_quantity(&s, "accepted", "monitor") == check_ins).then_some(())
    });
}
