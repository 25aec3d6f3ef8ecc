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
    eprintln!("@sentry/node {}", out["sdk_version"]);
    let found = assert_scenario(
        &s,
        &out,
        &Scenario {
            site_a: ("RangeError", "lookupPrice"),
            site_b: ("SyntaxError", "parseQuantity"),
            caller: "checkout",
        },
    );
    assert_eq!(found.issue_a["platform"], "node", "{}", found.issue_a);
}

/// `tests/sdk/node/spans.mjs` sends request timings as the SDK does by default from v11 on:
/// v2 `span` items. Segment spans are requests; their children are not. The percentiles
/// come back exact to the bucket (3 significant digits).
#[test]
fn node_sdk_spans_become_request_latency() {
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
            .arg("spans.mjs")
            .arg(s.local_dsn())
            .current_dir(&dir),
        "tests/sdk/node/spans.mjs",
        Duration::from_secs(45),
    );
    eprintln!("@sentry/node {}", out["sdk_version"]);
    let v = s.wait_for("120 requests", Duration::from_secs(10), || {
        let (st, v) = s.get("/api/v1/projects/app/latency");
        assert_eq!(st, 200, "{v}");
        (v["total"]["count"] == 120).then_some(v)
    });
    assert!(
        outcome_quantity(&s, "accepted", "span") >= 240,
        "the SDK sent span items"
    );
    let tx = v["transactions"].as_array().unwrap();
    assert_eq!(tx.len(), 2, "{v}");
    // Slowest first.
    assert_eq!(tx[0]["transaction"], "GET /api/slow", "{v}");
    assert_eq!(tx[0]["count"], 20);
    assert_eq!(tx[0]["errors"], 5);
    assert_eq!(tx[0]["p95_ms"], 2000.0, "{v}");
    let items = &tx[1];
    assert_eq!(items["transaction"], "GET /api/items");
    assert_eq!(items["count"], 100);
    assert_eq!(items["errors"], 0);
    // Nearest ranks of 10, 20, … 1000 ms, reported as the middle of their 1 ms bucket.
    for (p, want) in [
        ("p50_ms", 500.5),
        ("p75_ms", 750.5),
        ("p95_ms", 950.5),
        ("p99_ms", 990.5),
    ] {
        let got = items[p].as_f64().unwrap();
        assert!((got - want).abs() < 0.6, "{p}: {got}, want {want}: {items}");
    }
    // Filters by release and environment as the SDK set them.
    let (_, v) = s.get(&format!(
        "/api/v1/projects/app/latency?transaction=GET%20/api/items&release={}&environment={}",
        out["release"].as_str().unwrap(),
        out["environment"].as_str().unwrap()
    ));
    assert_eq!(v["total"]["count"], 100, "{v}");
    let (_, v) = s.get("/api/v1/projects/app/latency?environment=production");
    assert_eq!(v["total"]["count"], 0, "{v}");
}
