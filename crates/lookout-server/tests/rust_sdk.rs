//! The official Rust `sentry` crate reports to lookout by changing only the DSN.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[derive(Debug)]
struct PaymentError(String);
impl std::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "payment {} declined", self.0)
    }
}
impl std::error::Error for PaymentError {}

#[inline(never)]
fn charge(order: u32) {
    sentry::capture_error(&PaymentError(order.to_string()));
}

#[inline(never)]
fn parse_config() {
    let err = "x".parse::<i32>().unwrap_err();
    sentry::capture_error(&err);
}

#[test]
fn the_rust_sdk_reports_errors_messages_and_panics() {
    let app = spawn_app("");
    let mut options = sentry::ClientOptions::default();
    options.release = Some("rust-app@1.2.3".into());
    options.environment = Some("test".into());
    options.attach_stacktrace = true;
    let guard = sentry::init((app.dsn(), options));
    assert!(guard.is_enabled());
    // Two events from one site, one from another.
    charge(17);
    charge(4242);
    parse_config();
    sentry::capture_message("cache miss for key 8812", sentry::Level::Warning);
    sentry::capture_message("cache miss for key 13", sentry::Level::Warning);
    let _ = std::panic::catch_unwind(|| panic!("worker 7 crashed"));
    assert!(guard.flush(Some(Duration::from_secs(10))));

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let issues = loop {
        let issues = app.issues("");
        let total: u64 = issues.iter().map(|i| i["count"].as_u64().unwrap()).sum();
        if total >= 6 || std::time::Instant::now() > deadline {
            break issues;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let find = |needle: &str| {
        issues
            .iter()
            .find(|i| i["title"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no issue with {needle}: {issues:#?}"))
            .clone()
    };
    let payment = find("declined");
    assert_eq!(payment["count"], json!(2), "{issues:#?}");
    let parse = find("ParseIntError");
    assert_eq!(parse["count"], json!(1));
    let cache = find("cache miss");
    assert_eq!(cache["count"], json!(2));
    assert_eq!(cache["level"], json!("warning"));
    let panic = find("worker");
    assert!(panic["unhandled_count"].as_u64().unwrap() >= 1, "{panic}");
    assert_eq!(issues.len(), 4, "{issues:#?}");

    let r = app.get(&format!("/api/v1/issues/{}", panic["id"]));
    let ev = &r.body["latest_event"];
    assert_eq!(ev["release"], json!("rust-app@1.2.3"));
    assert_eq!(ev["environment"], json!("test"));
    let frames = ev["exceptions"][0]["stacktrace"]["frames"]
        .as_array()
        .or_else(|| ev["stacktrace"]["frames"].as_array())
        .expect("a stack trace");
    assert!(!frames.is_empty());
    let signals = app.get("/api/v1/signals").body;
    let kinds: Vec<&str> = signals
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "new_issue").count(),
        4,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"unhandled"), "{kinds:?}");
}
