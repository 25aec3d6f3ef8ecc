//! The real Node `@sentry/node` SDK against the real server: `tests/sdk/node/client.mjs`
//! throws and captures errors from two code sites, two messages that differ only in
//! numbers and an unhandled promise rejection; this test reads the result back through the
//! JSON API.
//!
//! Switched on by `LOOKOUT_TEST_NODE=1`, after `npm ci --prefix tests/sdk/node`.

#[path = "../../../tests/sdk/checks.rs"]
mod checks;
mod common;

use std::process::Command;
use std::time::Duration;

use checks::*;
use common::Server;

#[test]
fn node_sdk_events_become_issues() {
    if common::suite_switch("LOOKOUT_TEST_NODE", "Node @sentry/node suite").is_none() {
        return;
    }
    let dir = repo_root().join("tests/sdk/node");
    assert!(
        dir.join("node_modules/@sentry/node/package.json").is_file(),
        "LOOKOUT_TEST_NODE is set but {} has no node_modules/@sentry/node: run `npm ci --prefix tests/sdk/node` first",
        dir.display()
    );
    let node = std::env::var("LOOKOUT_NODE_BIN").unwrap_or_else(|_| "node".to_string());
    let s = Server::start();
    let out = run_client(
        Command::new(&node)
            .arg("client.mjs")
            .arg(s.local_dsn())
            .current_dir(&dir),
        "tests/sdk/node/client.mjs",
        Duration::from_secs(45),
    );
    let release = out["release"].as_str().expect("release").to_string();
    let environment = out["environment"]
        .as_str()
        .expect("environment")
        .to_string();
    eprintln!("@sentry/node {}", out["sdk_version"]);

    // Site A: two RangeErrors from lookupPrice with different values -> one issue.
    let a = ids(&out, "site_a");
    assert_eq!(a.len(), 2);
    let ia = issue_of_event(&s, &a[0]);
    assert_eq!(
        issue_of_event(&s, &a[1]),
        ia,
        "the two RangeErrors from lookupPrice split"
    );
    let issue_a = issue(&s, ia);
    assert_eq!(issue_a["count"], 2, "{issue_a}");
    let title = issue_a["title"].as_str().unwrap_or_default();
    assert!(title.starts_with("RangeError"), "title: {title}");
    let culprit = issue_a["culprit"].as_str().unwrap_or_default();
    assert!(culprit.contains("lookupPrice"), "culprit: {culprit}");
    assert_eq!(issue_a["user_count"], 2, "{issue_a}");
    assert_eq!(issue_a["unhandled_count"], 0, "{issue_a}");
    assert_eq!(issue_a["platform"], "node", "{issue_a}");
    assert_seen(&issue_a, "releases", &release);
    assert_seen(&issue_a, "environments", &environment);
    assert_in_app_frame(&issue_a, "lookupPrice");
    assert_in_app_frame(&issue_a, "checkout");
    assert_eq!(last_exception(&issue_a)["type"], "RangeError");

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
            .starts_with("SyntaxError"),
        "{issue_b}"
    );
    assert!(
        issue_b["culprit"]
            .as_str()
            .unwrap_or_default()
            .contains("parseQuantity"),
        "{issue_b}"
    );
    assert_in_app_frame(&issue_b, "parseQuantity");

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

    // The unhandled rejection.
    let iu = issue_titled(&s, out["unhandled_type"].as_str().expect("unhandled_type"));
    let iu_id = iu["id"].as_i64().expect("issue id");
    assert!(iu["unhandled_count"].as_u64() >= Some(1), "{iu}");
    let issue_u = issue(&s, iu_id);
    assert_eq!(
        last_exception(&issue_u)["mechanism"]["handled"],
        false,
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
}
