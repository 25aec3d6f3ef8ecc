//! `lookout notify test CHANNEL` as a user runs it: the real binary, a config with
//! channels, and a receiver on loopback playing the Slack hook; sent from this machine
//! (no server running) and through a running server.

mod common;

use std::process::Output;
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
    let out = common::lookout()
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

#[test]
fn the_running_server_sends_the_test_through_its_own_channel() {
    let (url, hook, _rt) = start_hook(200, "ok");
    let s = common::Server::start_with(&format!(
        "\n[channels.ops]\nkind = \"slack\"\nwebhook_url = \"{url}\"\n"
    ));
    // No config here: only the server knows the channel, so a delivery proves it sent it.
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = common::lookout()
            .current_dir(elsewhere.path())
            .args(["--url", &s.url, "--token", common::TOKEN, "notify", "test"])
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };
    let (code, stdout, stderr) = run(&["ops", "--severity", "high"]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("The server at {} sent", s.url)),
        "{stdout}"
    );
    assert!(
        stdout.contains("Delivered.") && stdout.contains("status: 200"),
        "{stdout}"
    );
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(
        received[0].contains("through the server"),
        "{}",
        received[0]
    );

    // The receiver's refusal is the command's failure, with its answer.
    *hook.answer.lock().unwrap() = (404, "no_service".into());
    let (code, stdout, _) = run(&["ops"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("destination is gone"), "{stdout}");

    // A channel the server does not have is bad usage, naming the ones it has.
    let (code, _, stderr) = run(&["opz"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("no channel `opz`") && stderr.contains("ops"),
        "{stderr}"
    );
    // The API refuses a bad severity with a 400 naming the field.
    let resp = ureq::post(&format!("{}/api/v1/channels/ops/test", s.url))
        .header("authorization", &format!("Bearer {}", common::TOKEN))
        .config()
        .http_status_as_error(false)
        .build()
        .header("content-type", "application/json")
        .send(r#"{"severity": "urgent"}"#)
        .unwrap();
    assert_eq!(resp.status(), 400);

    // A server named on the command line must answer: no silent local fallback.
    let out = common::lookout()
        .current_dir(elsewhere.path())
        .args([
            "--url",
            "http://127.0.0.1:9",
            "--token",
            "x",
            "notify",
            "test",
            "ops",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:9"));
}

#[test]
fn without_a_running_server_the_config_channel_sends_from_here() {
    // The config names a server (listen + token) that is not running: the test goes out
    // from this machine, with a note saying so.
    let (url, hook, _rt) = start_hook(200, "ok");
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:9\"\napi_token = \"t\"\n\n{}",
        config(&url)
    );
    let (out, stdout, stderr) = notify_test(&cfg, &["ops"]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("sending from this machine"), "{stderr}");
    assert_eq!(hook.received.lock().unwrap().len(), 1);
    // --local never asks a server.
    let (out, stdout, stderr) = notify_test(&cfg, &["ops", "--local"]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("note:"), "{stderr}");
    assert_eq!(hook.received.lock().unwrap().len(), 2);
}
