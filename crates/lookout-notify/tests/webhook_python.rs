//! Webhook signatures checked by an independent implementation: the Standard Webhooks
//! reference library for Python (`standardwebhooks`) verifies requests lookout sent to a
//! real receiver, and refuses them once the body, the id or the secret is changed.
//!
//! Switched on by `LOOKOUT_TEST_PYTHON=/path/to/python` (an interpreter with the packages
//! of `tests/sdk/python/requirements.txt`).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use lookout_core::alert::Severity;
use lookout_notify::{build, ChannelConfig, NotifyEvent};
use serde_json::json;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Runs the verifier; Ok(stdout) when it says valid, Err(stdout) otherwise.
fn verify(
    python: &str,
    secret: &str,
    headers: &serde_json::Value,
    body: &str,
) -> Result<String, String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/verify_webhook.py"
    );
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    let input = json!({"secret": secret, "headers": headers, "body": body}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout == "valid" || stdout.starts_with("invalid:"),
        "the verifier failed to run (is standardwebhooks installed?): {stdout}\n{stderr}"
    );
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(stdout)
    }
}

#[test]
fn standardwebhooks_library_verifies_lookout_signatures() {
    let Some(python) = suite_switch(
        "LOOKOUT_TEST_PYTHON",
        "Standard Webhooks signature check (Python standardwebhooks)",
    ) else {
        return;
    };
    let rx = Receiver::start(reply(200, ""));
    let config: ChannelConfig = toml::from_str(&format!(
        "kind = \"webhook\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\n",
        rx.url("/hook")
    ))
    .unwrap();
    let channel = build(&config).unwrap();
    // Non-ASCII text checks that both sides sign the same bytes.
    let mut n = notification(Severity::Critical, NotifyEvent::Escalated { step: 2 });
    n.summary = "Zürich: 51 errors — “TypeError” in checkout".into();
    assert!(channel.send(&[n]).is_delivered());
    let req = rx.only();
    let headers = json!({
        "webhook-id": req.header("webhook-id").unwrap(),
        "webhook-timestamp": req.header("webhook-timestamp").unwrap(),
        "webhook-signature": req.header("webhook-signature").unwrap(),
    });

    verify(&python, SECRET, &headers, &req.body).expect("a request lookout signed");

    let tampered = req.body.replace("Zürich", "Zurich");
    assert_ne!(tampered, req.body);
    let e = verify(&python, SECRET, &headers, &tampered).expect_err("a tampered body");
    assert!(e.contains("No matching signature"), "{e}");

    let mut other_id = headers.clone();
    other_id["webhook-id"] = json!("ntf_999");
    verify(&python, SECRET, &other_id, &req.body).expect_err("another webhook-id");

    let other_secret = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    verify(&python, other_secret, &headers, &req.body).expect_err("another secret");
}
