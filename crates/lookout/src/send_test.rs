//! `lookout send-test-event`: the reference runbook's "trigger a test error" step, end to
//! end: send a real event to the DSN, then wait until lookout reports it stored. Without a
//! DSN, the project's DSN is asked of the server the other client commands find.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use clap::Args;
use lookout_sentry::dsn::Dsn;
use secrecy::ExposeSecret;

use crate::client::{self, ServerArgs};
use crate::Failure;

/// Options of `lookout send-test-event`.
#[derive(Args)]
pub struct SendTestArgs {
    /// The project's DSN [default: $SENTRY_DSN, else the project's DSN as the server
    /// tells it].
    #[arg(long, env = "SENTRY_DSN")]
    dsn: Option<String>,
    /// The project to send to when no DSN is given [default: the server's only project,
    /// else `default`].
    #[arg(long, value_name = "SLUG", conflicts_with = "dsn")]
    project: Option<String>,
    /// The message of the test error.
    #[arg(
        long,
        default_value = "This is a test error sent by `lookout send-test-event`"
    )]
    message: String,
    /// How long to wait for it to be stored.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    timeout: Duration,
}

/// Sends the event and waits until it is stored.
pub fn run(
    config: Option<PathBuf>,
    server_args: &ServerArgs,
    args: &SendTestArgs,
) -> Result<(), Failure> {
    let dsn = match &args.dsn {
        Some(d) => d.clone(),
        None => project_dsn(config, server_args, args)?,
    };
    let dsn = Dsn::parse(&dsn).map_err(|e| Failure::Usage(anyhow!("the DSN is not valid: {e}")))?;
    Ok(send(&dsn, &args.message, args.timeout)?)
}

/// The DSN of `--project` (or of the only project) on the server found as every client
/// command finds it.
fn project_dsn(
    config: Option<PathBuf>,
    server_args: &ServerArgs,
    args: &SendTestArgs,
) -> Result<String, Failure> {
    let env = |k: &str| std::env::var(k).ok();
    let server = client::resolve(server_args, config.as_deref(), &env)?;
    let url = format!("{}/api/v1/projects", server.url);
    let mut resp = client::agent()
        .get(&url)
        .header(
            "authorization",
            &format!("Bearer {}", server.token.expose_secret()),
        )
        .call()
        .map_err(|e| {
            anyhow!(
                "cannot reach lookout at {} to ask for the project's DSN: {e}. Is `lookout serve` running there? Or pass --dsn",
                server.url
            )
        })?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if status != 200 {
        return Err(Failure::Failed(anyhow!(
            "lookout answered {status} when asked for its projects: {}",
            detail(&text)
        )));
    }
    let projects: Vec<serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| anyhow!("lookout's list of projects is not JSON: {e}"))?;
    let slug = |p: &serde_json::Value| p["slug"].as_str().unwrap_or_default().to_string();
    let chosen = match (&args.project, projects.as_slice()) {
        (Some(want), _) => projects.iter().find(|p| &slug(p) == want),
        (None, [only]) => Some(only),
        (None, _) => projects.iter().find(|p| slug(p) == "default"),
    };
    let Some(project) = chosen else {
        let names: Vec<String> = projects.iter().map(slug).collect();
        return Err(Failure::Usage(anyhow!(
            "{}: name one with --project (the server has {})",
            match &args.project {
                Some(p) => format!("no project `{p}`"),
                None => "several projects".to_string(),
            },
            names.join(", ")
        )));
    };
    project["dsn"].as_str().map(str::to_string).ok_or_else(|| {
        Failure::Failed(anyhow!(
            "lookout listed project {} without a DSN",
            slug(project)
        ))
    })
}

fn send(dsn: &Dsn, message: &str, timeout: Duration) -> anyhow::Result<()> {
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
    let agent = client::agent();
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
