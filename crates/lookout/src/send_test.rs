//! `lookout send-test-event`: the reference runbook's "trigger a test error" step, end to
//! end: send a real event to the DSN, then wait until lookout reports it stored.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use lookout_sentry::dsn::Dsn;

pub fn run(dsn: &str, message: &str, timeout: Duration) -> anyhow::Result<()> {
    let dsn = Dsn::parse(dsn).map_err(|e| anyhow!("the DSN is not valid: {e}"))?;
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let event = serde_json::json!({
        "event_id": event_id,
        "timestamp": now,
        "platform": "other",
        "level": "error",
        "logger": "lookout.send-test-event",
        "environment": "test",
        "exception": {"values": [{
            "type": "LookoutTestError",
            "value": message,
            "mechanism": {"type": "generic", "handled": true},
            "stacktrace": {"frames": [
                {"function": "main", "module": "lookout", "in_app": true},
                {"function": "send_test_event", "module": "lookout.send_test", "in_app": true},
            ]},
        }]},
        "tags": {"lookout.test": "true"},
        "sdk": {"name": "lookout.send-test-event", "version": env!("CARGO_PKG_VERSION")},
    });
    let header = serde_json::json!({ "event_id": event_id, "dsn": dsn.to_string() });
    let body = format!("{header}\n{{\"type\":\"event\"}}\n{event}\n",);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let auth = format!(
        "Sentry sentry_version=7, sentry_client=lookout/{}, sentry_key={}",
        env!("CARGO_PKG_VERSION"),
        dsn.public_key
    );
    let url = dsn.envelope_url();
    let mut resp = agent
        .post(&url)
        .header("X-Sentry-Auth", &auth)
        .header("Content-Type", "application/x-sentry-envelope")
        .send(body.as_bytes())
        .map_err(|e| {
            anyhow!("could not reach lookout at {url}: {e}. Is `lookout serve` running there?")
        })?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if status != 200 {
        bail!(
            "lookout refused the event with HTTP {status}: {}",
            detail(&text)
        );
    }
    println!("Sent event {event_id}; lookout answered 200.");

    let check = format!(
        "{}/api/{}/events/{}/?sentry_key={}",
        dsn.base_url(),
        dsn.project_id,
        event_id,
        dsn.public_key
    );
    let deadline = Instant::now() + timeout;
    loop {
        let mut resp = agent
            .get(&check)
            .call()
            .map_err(|e| anyhow!("could not ask lookout whether the event is stored: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        match status {
            200 => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                println!(
                    "Stored: issue {} \"{}\"\n  {}",
                    v["issue_id"],
                    v["title"].as_str().unwrap_or(""),
                    v["issue_url"].as_str().unwrap_or("")
                );
                return Ok(());
            }
            404 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            404 => bail!("lookout accepted the event but it was not visible within {timeout:?}"),
            _ => bail!(
                "checking the event failed with HTTP {status}: {}",
                detail(&text)
            ),
        }
    }
}

fn detail(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(200).collect())
}
