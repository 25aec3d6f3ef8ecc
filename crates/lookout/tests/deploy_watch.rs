//! The watch after a deploy, end to end: `lookout deploy verify --watch` records the
//! deploy on a running server, the real Python `sentry-sdk` then reports the new release's
//! errors (or nothing), and lookout judges the release when the window ends: a bad verdict
//! opens an incident through the `errors after deploy` rule, runs the rollback command and
//! calls the rollback webhook, and verify exits 1; a quiet release is judged good, alerts
//! nobody and exits 0.
//!
//! Switched on by `LOOKOUT_TEST_PYTHON=/path/to/python` (an interpreter with `sentry-sdk`).

#[path = "../../../tests/sdk/checks.rs"]
mod checks;
mod common;
mod deploy_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{spawn_until, Server, TOKEN};
use deploy_support::{lookout, App};

/// An in-process webhook receiver: the bodies it got.
fn receiver() -> (
    String,
    Arc<Mutex<Vec<serde_json::Value>>>,
    tokio::runtime::Runtime,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
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
    (url, got, rt)
}

#[test]
fn a_release_that_raises_errors_is_judged_bad_alerts_and_rolls_back_and_a_quiet_one_is_good() {
    let Some(python) = common::suite_switch("LOOKOUT_TEST_PYTHON", "Python sentry-sdk suite")
    else {
        return;
    };
    let script = checks::repo_root().join("tests/sdk/python/deploy_release.py");
    let tmp = tempfile::tempdir().unwrap();
    let app = App::start(&tmp.path().join("app"), "ok", Duration::ZERO);
    let (hook_url, hooked, _rt) = receiver();
    let hook_log = tmp.path().join("rollback.log");
    let s = Server::start_with(&format!(
        "\n[alerts]\nevaluate_every = \"1s\"\n\n\
         [[rules]]\nname = \"Bad deploy\"\nwhen = \"errors after deploy > 2x in 15m\"\nseverity = \"high\"\n\n\
         [deploy.watch]\nwindow = \"8s\"\nrollback_command = \"echo \\\"$LOOKOUT_DEPLOY_RELEASE\\\" >> '{}'\"\n\
         rollback_webhook = \"{hook_url}\"\n",
        hook_log.display()
    ));
    let dsn = s.local_dsn();
    let deploy = |release: &str, errors: u32| {
        let mut verify = lookout(tmp.path());
        verify
            .args(["--url", &s.url, "--token", TOKEN, "deploy", "verify"])
            .args([
                "--page",
                &app.at("/"),
                "--release",
                release,
                "--watch",
                "8s",
            ]);
        let (mut child, printed) = spawn_until(&mut verify, "Recorded deploy #");
        // The new release serves: its errors come in during the window.
        checks::run_client(
            std::process::Command::new(&python)
                .arg(&script)
                .args([&dsn, release, "production", &errors.to_string()])
                .current_dir(script.parent().unwrap()),
            "tests/sdk/python/deploy_release.py",
            Duration::from_secs(45),
        );
        let status = child.wait().unwrap();
        (status.code(), printed)
    };

    let (code, printed) = deploy("web@2.0.0", 8);
    assert_eq!(code, Some(1), "a bad release exits 1:\n{printed}");
    let (_, list) = s.get("/api/v1/deploys?release=web@2.0.0");
    let watch = &list[0]["watch"];
    assert_eq!(watch["verdict"], "bad", "{list}");
    assert!(
        watch["figures"]["errors_after"].as_u64().unwrap() >= 8,
        "{watch}"
    );
    assert_eq!(watch["figures"]["new_issues"], 4, "{watch}");
    assert_eq!(watch["figures"]["unhandled"], 1, "{watch}");
    let reasons = watch["figures"]["reasons"].to_string();
    assert!(reasons.contains("errors rose"), "{reasons}");
    // The incident, through the rule.
    let incident = s.wait_for("the incident", Duration::from_secs(15), || {
        let (_, v) = s.get("/api/v1/incidents?status=open");
        v.as_array()?
            .iter()
            .find(|i| i["rule"] == "Bad deploy")
            .cloned()
    });
    assert!(
        incident["title"]
            .as_str()
            .unwrap()
            .contains("Errors after deploy"),
        "{incident}"
    );
    // The rollback hook: the command and the webhook, once. The server stores the verdict
    // (which ends verify) before it runs the hook, so the hook may still be running here.
    let got = s.wait_for("the rollback webhook", Duration::from_secs(15), || {
        let got = hooked.lock().unwrap().clone();
        (!got.is_empty()).then_some(got)
    });
    let ran = std::fs::read_to_string(&hook_log).unwrap_or_default();
    assert_eq!(ran, "web@2.0.0\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["deploy"]["release"], "web@2.0.0");
    assert_eq!(got[0]["verdict"], "bad");

    // A quiet release: good, no rollback, and no new incident.
    let (code, printed) = deploy("web@2.0.1", 0);
    assert_eq!(code, Some(0), "a quiet release exits 0:\n{printed}");
    let (_, list) = s.get("/api/v1/deploys?release=web@2.0.1");
    assert_eq!(list[0]["watch"]["verdict"], "good", "{list}");
    assert_eq!(
        std::fs::read_to_string(&hook_log).unwrap_or_default(),
        "web@2.0.0\n"
    );
    assert_eq!(hooked.lock().unwrap().len(), 1);
    let (_, all) = s.get("/api/v1/incidents?status=all");
    let bad_deploy: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["rule"] == "Bad deploy")
        .collect();
    assert_eq!(bad_deploy.len(), 1, "{all}");
}
