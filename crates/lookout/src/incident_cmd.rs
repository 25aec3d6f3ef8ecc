//! `lookout incident list|show|ack|resolve|note [--public]`: incidents from the command line, through
//! the running server's API (so the engine, the timeline and the notifications stay in one
//! place).

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::client::{self, ServerArgs};
use crate::Failure;

/// Options of `lookout incident`.
#[derive(Args)]
pub struct IncidentArgs {
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
    /// Add a note to the timeline (the incident log), or with --public one that the
    /// status pages showing its monitor publish.
    Note {
        /// The incident's id.
        id: i64,
        /// The note.
        text: String,
        /// Who writes it (default: $USER).
        #[arg(long)]
        by: Option<String>,
        /// Publish it on the status pages instead of the internal timeline.
        #[arg(long)]
        public: bool,
    },
}

/// Runs the command against the server [`client::resolve`] finds.
pub fn run(
    config: Option<PathBuf>,
    server_args: &ServerArgs,
    args: &IncidentArgs,
) -> Result<(), Failure> {
    let env = |k: &str| std::env::var(k).ok();
    let server = client::resolve(server_args, config.as_deref(), &env)?;
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
        Action::Note {
            id,
            text,
            by,
            public,
        } => (
            format!(
                "/api/v1/incidents/{id}/{}",
                if *public { "public-notes" } else { "notes" }
            ),
            Some(serde_json::json!({"text": text, "by": by.clone().unwrap_or_else(me)})),
        ),
    };
    let (status, v) = server.call(&path, body.as_ref()).map_err(|e| {
        anyhow!(
            "{}. Is `lookout serve` running there? (--url, LOOKOUT_URL or the config's listen address say where)",
            e.0
        )
    })?;
    if status >= 300 {
        return Err(Failure::Failed(anyhow!(
            "lookout answered {status}: {}",
            v["detail"].as_str().unwrap_or("(no detail)")
        )));
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
            for n in v["public_notes"].as_array().into_iter().flatten() {
                println!(
                    "  {}  {:<14} {}",
                    text(&n["at"]),
                    "public note",
                    text(&n["text"])
                );
            }
        }
        Action::Note {
            id,
            text: note,
            public: true,
            ..
        } => println!("Published on the status pages of #{id}: \"{note}\""),
        Action::Note { text: note, .. } => println!(
            "Added a note to #{} {}: \"{note}\"",
            v["id"],
            text(&v["title"])
        ),
        Action::Ack { .. } | Action::Resolve { .. } => println!(
            "#{} {} is now {}.",
            v["id"],
            text(&v["title"]),
            text(&v["status"])
        ),
    }
    Ok(())
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}
