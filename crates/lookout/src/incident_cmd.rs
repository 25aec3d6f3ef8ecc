//! `lookout incident list|show|ack|resolve|note`: incidents from the command line, through
//! the running server's API (so the engine, the timeline and the notifications stay in one
//! place).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// Options of `lookout incident`.
#[derive(Args)]
pub struct IncidentArgs {
    /// The server's URL.
    #[arg(long, env = "LOOKOUT_URL", default_value = "http://localhost:8080")]
    url: String,
    /// The API token (default: LOOKOUT_API_TOKEN, else the one in the config's data
    /// directory).
    #[arg(long, env = "LOOKOUT_API_TOKEN", hide_env_values = true, value_parser = secret)]
    token: Option<SecretString>,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Open incidents (or all with --all).
    List {
        /// Include resolved ones.
        #[arg(long)]
        all: bool,
    },
    /// One incident with its timeline and notifications.
    Show {
        /// The incident's id.
        id: i64,
    },
    /// Acknowledge: stops escalation and reminders.
    Ack {
        /// The incident's id.
        id: i64,
        /// Who acknowledges (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Resolve by hand.
    Resolve {
        /// The incident's id.
        id: i64,
        /// Who resolves (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Add a note to the timeline (the incident log).
    Note {
        /// The incident's id.
        id: i64,
        /// The note.
        text: String,
        /// Who writes it (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
}

/// Runs the command; exit 0 on success, 1 when the server refused, 2 when it was not
/// reached.
pub fn run(config: Option<std::path::PathBuf>, args: IncidentArgs) -> ExitCode {
    let token = match args.token.clone().or_else(|| token_from_config(config)) {
        Some(t) => t,
        None => {
            eprintln!("error: no API token: pass --token, set LOOKOUT_API_TOKEN, or run where the config's data directory is readable");
            return ExitCode::from(2);
        }
    };
    let base = args.url.trim_end_matches('/').to_string();
    let me = || std::env::var("USER").unwrap_or_else(|_| "cli".to_string());
    let (path, body) = match &args.action {
        Action::List { all } => (
            format!(
                "/api/v1/incidents?status={}",
                if *all { "all" } else { "open" }
            ),
            None,
        ),
        Action::Show { id } => (format!("/api/v1/incidents/{id}"), None),
        Action::Ack { id, by } => (
            format!("/api/v1/incidents/{id}/ack"),
            Some(serde_json::json!({"by": by.clone().unwrap_or_else(me)})),
        ),
        Action::Resolve { id, by } => (
            format!("/api/v1/incidents/{id}/resolve"),
            Some(serde_json::json!({"by": by.clone().unwrap_or_else(me)})),
        ),
        Action::Note { id, text, by } => (
            format!("/api/v1/incidents/{id}/notes"),
            Some(serde_json::json!({"text": text, "by": by.clone().unwrap_or_else(me)})),
        ),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(15)))
        .build()
        .into();
    let url = format!("{base}{path}");
    let auth = format!("Bearer {}", token.expose_secret());
    let resp = match body {
        None => agent.get(&url).header("authorization", &auth).call(),
        Some(b) => agent
            .post(&url)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(b.to_string()),
    };
    let mut resp = match resp {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot reach lookout at {base}: {e}");
            return ExitCode::from(2);
        }
    };
    let status = resp.status().as_u16();
    let v: Value = resp
        .body_mut()
        .read_to_string()
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    if status >= 300 {
        eprintln!(
            "error: lookout answered {status}: {}",
            v["detail"].as_str().unwrap_or("(no detail)")
        );
        return ExitCode::FAILURE;
    }
    match &args.action {
        Action::List { .. } => {
            let list = v.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("No incidents.");
            }
            for i in list {
                println!(
                    "#{:<5} {:<8} {:<12} {}  (count {}, opened {})",
                    i["id"],
                    text(&i["severity"]),
                    text(&i["status"]),
                    text(&i["title"]),
                    i["count"],
                    text(&i["opened"])
                );
            }
        }
        Action::Show { .. } => {
            println!(
                "#{} {} [{}] {}",
                v["id"],
                text(&v["title"]),
                text(&v["severity"]),
                text(&v["status"])
            );
            println!("{}", text(&v["summary"]));
            for t in v["timeline"].as_array().into_iter().flatten() {
                println!(
                    "  {}  {:<14} {}",
                    text(&t["at"]),
                    text(&t["kind"]),
                    text(&t["text"])
                );
            }
        }
        _ => println!(
            "#{} {} is now {}.",
            v["id"],
            text(&v["title"]),
            text(&v["status"])
        ),
    }
    ExitCode::SUCCESS
}

/// `--token` and `LOOKOUT_API_TOKEN`, kept out of Debug output.
fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(s.into())
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// The token the server keeps in its data directory, when no other is given.
fn token_from_config(explicit: Option<std::path::PathBuf>) -> Option<SecretString> {
    let path = lookout_server::Config::locate(explicit.as_deref());
    let config = lookout_server::Config::load(path.as_deref()).ok()?;
    if !config.server.api_token.expose_secret().is_empty() {
        return Some(config.server.api_token.clone());
    }
    std::fs::read_to_string(config.server.data_dir.join("api-token"))
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(SecretString::from)
}
