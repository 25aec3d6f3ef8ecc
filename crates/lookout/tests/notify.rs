//! `lookout notify test CHANNEL` as a user runs it: the real binary, a config with
//! channels, and a receiver on loopback playing the Slack hook.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

/// What the hook answers, and the bodies it received.
#[derive(Clone, Default)]
struct Hook {
    answer: Arc<Mutex<(u16, String)>>,
    received: Arc<Mutex<Vec<String>>>,
}

/// A Slack-like hook on 127.0.0.1 answering `status` with `body`; returns its URL.
fn start_hook(status: u16, body: &str) -> (String, Hook, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let hook = Hook::default();
    *hook.answer.lock().unwrap() = (status, body.to_string());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!(
        "http://{}/services/T0/B0/secret",
        listener.local_addr().unwrap()
    );
    let app = axum::Router::new()
        .route(
            "/services/T0/B0/secret",
            post(|State(h): State<Hook>, body: String| async move {
                h.received.lock().unwrap().push(body);
                let (status, answer) = h.answer.lock().unwrap().clone();
                (StatusCode::from_u16(status).unwrap(), answer)
            }),
        )
        .with_state(hook.clone());
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, hook, rt)
}

fn notify_test(config: &str, args: &[&str]) -> (Output, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .env_remove("LOOKOUT_CONFIG")
        .arg("--config")
        .arg(&path)
        .args(["notify", "test"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn config(url: &str) -> String {
    format!(
        "[channels.ops]\nkind = \"slack\"\nwebhook_url = \"{url}\"\ntimeout = \"5s\"\n\n[channels.pager]\nkind = \"pagerduty\"\nrouting_key = \"R0UTINGKEY0123456789abcdefABCDEF\"\nurl = \"http://127.0.0.1:9/\"\n"
    )
}

#[test]
fn a_test_notification_reaches_the_channel() {
    let (url, hook, _rt) = start_hook(200, "ok");
    let (out, stdout, stderr) = notify_test(&config(&url), &["ops", "--severity", "critical"]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("channel \"ops\" (slack)"), "{stdout}");
    assert!(stdout.contains("Delivered."), "{stdout}");
    assert!(stdout.contains("status: 200"), "{stdout}");
    assert!(stdout.contains("answer: ok"), "{stdout}");
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&received[0]).unwrap();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("Test notification from lookout"),
        "{body}"
    );
    assert_eq!(body["attachments"][0]["color"], "#d1242f");
}

#[test]
fn a_revoked_hook_fails_with_the_receivers_answer() {
    let (url, hook, _rt) = start_hook(404, "no_service");
    let (out, stdout, stderr) = notify_test(&config(&url), &["ops"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("destination is gone"), "{stdout}");
    assert!(stdout.contains("HTTP 404: no_service"), "{stdout}");
    assert!(
        !stdout.contains("/services/T0"),
        "the hook URL is a secret: {stdout}"
    );
    assert_eq!(hook.received.lock().unwrap().len(), 1);

    *hook.answer.lock().unwrap() = (503, "try later".into());
    let (out, stdout, _) = notify_test(&config(&url), &["ops"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains("would retry") && stdout.contains("HTTP 503"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_channel_lists_the_configured_ones() {
    // A channel that is not configured is bad usage (exit 3), not a failed delivery.
    let (out, stdout, stderr) = notify_test(&config("http://127.0.0.1:9/x"), &["opz"]);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("no channel is named \"opz\""), "{stderr}");
    assert!(
        stderr.contains("ops (slack), pager (pagerduty)"),
        "{stderr}"
    );

    let (out, _, stderr) = notify_test("", &["ops"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr.contains("configures no channels"), "{stderr}");
}

#[test]
fn a_bad_channel_config_names_the_key() {
    let (out, _, stderr) = notify_test(
        "[channels.ops]\nkind = \"slack\"\nwebhook_url = \"hooks.slack.com/services/x\"\n",
        &["ops"],
    );
    assert_eq!(out.status.code(), Some(3), "a bad config is bad usage");
    assert!(stderr.contains("channels.ops.webhook_url"), "{stderr}");
    let (out, _, stderr) = notify_test(
        "[channels.ops]\nkind = \"slack\"\nwebhook_url = \"https://x.test/h\"\nchannel = \"#ops\"\n",
        &["ops"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr.contains("channel"), "{stderr}");
}
