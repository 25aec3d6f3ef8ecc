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
