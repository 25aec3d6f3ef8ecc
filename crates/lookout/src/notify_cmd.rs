//! `lookout notify test CHANNEL`: sends one test notification through a configured channel
//! and prints what the receiver answered, so a hook URL, key or mail server is checked
//! before a real incident needs it. The running server sends it when one is found (its
//! network and its secrets are what real incidents use); with none reachable, or with
//! `--local`, this machine sends it from the config file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use lookout_core::alert::Severity;
use lookout_notify::{Delivery, Notification};
use lookout_server::Config;

use crate::client::{self, ServerArgs};
use crate::Failure;

/// `lookout notify …`.
#[derive(Args)]
pub struct NotifyArgs {
    #[command(subcommand)]
    command: NotifyCommand,
}

#[derive(Subcommand)]
enum NotifyCommand {
    /// Send a test notification through a channel of the config and show the answer.
    Test {
        /// The channel's name, as in [channels.NAME].
        channel: String,
        /// The severity the test notification carries (critical, high, medium, low).
        #[arg(long, default_value = "low", value_parser = parse_severity)]
        severity: Severity,
        /// Send from this machine with the config file's channel, not through the server.
        #[arg(long)]
        local: bool,
    },
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s)
        .ok_or_else(|| format!("`{s}` is not a severity: use critical, high, medium or low"))
}

/// Runs the command: exit 0 when the receiver accepted the test, 1 when it did not, 3
/// when the config or the channel's name is wrong. A server named by `--url` or
/// `LOOKOUT_URL` must answer; one only found through the config is asked if it runs.
pub fn run(
    config: Option<PathBuf>,
    server: &ServerArgs,
    args: NotifyArgs,
) -> Result<ExitCode, Failure> {
    let NotifyCommand::Test {
        channel,
        severity,
        local,
    } = args.command;
    let env = |k: &str| std::env::var(k).ok();
    if local && server.named(&env) {
        return Err(Failure::Usage(anyhow::anyhow!(
            "--local sends from this machine, so it takes no server: drop --url (or unset LOOKOUT_URL), or drop --local"
        )));
    }
    let delivered = if local {
        test(config, &channel, severity)?
    } else if server.named(&env) {
        let found = client::resolve(server, config.as_deref(), &env)?;
        through_server(&found, &channel, severity)?.map_err(|e| {
            Failure::Failed(anyhow::anyhow!(
                "{}. Is `lookout serve` running there? (--local sends from this machine)",
                e.0
            ))
        })?
    } else {
        let answered = match client::resolve(server, config.as_deref(), &env) {
            Ok(found) => through_server(&found, &channel, severity)?.map_err(|e| {
                eprintln!(
                    "note: {}; sending from this machine with the config's channel.",
                    e.0
                )
            }),
            Err(_) => Err(()),
        };
        match answered {
            Ok(delivered) => delivered,
            Err(()) => test(config, &channel, severity)?,
        }
    };
    Ok(if delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(lookout_core::exit::FAILED)
    })
}

/// Asks the server to send the test through its channel; `Err` when it does not answer.
fn through_server(
    server: &client::Server,
    name: &str,
    severity: Severity,
) -> Result<Result<bool, client::Unreachable>, Failure> {
    let path = format!("/api/v1/channels/{}/test", client::path_segment(name));
    let body = serde_json::json!({ "severity": severity.as_str() });
    let (status, v) = match server.call(&path, Some(&body)) {
        Ok(answer) => answer,
        Err(e) => return Ok(Err(e)),
    };
    let detail = v["detail"].as_str().unwrap_or("(no detail)").to_string();
    match status {
        200 => {}
        404 => {
            return Err(Failure::Usage(anyhow::anyhow!(
                "the server at {}: {detail}",
                server.url
            )))
        }
        _ => {
            return Err(Failure::Failed(anyhow::anyhow!(
                "the server at {} answered {status}: {detail}",
                server.url
            )))
        }
    }
    println!(
        "The server at {} sent a test notification to channel \"{name}\" ({})…",
        server.url,
        v["kind"].as_str().unwrap_or("?")
    );
    let delivery = match v["outcome"].as_str() {
        Some("delivered") => Delivery::Delivered {
            status: v["status"].as_u64().and_then(|s| u16::try_from(s).ok()),
            answer: detail,
        },
        Some("retry") => Delivery::Retry {
            after: v["retry_after_s"]
                .as_u64()
                .map(std::time::Duration::from_secs),
            reason: detail,
        },
        Some("broken") => Delivery::Broken { reason: detail },
        _ => Delivery::Rejected { reason: detail },
    };
    print_delivery(name, &delivery);
    Ok(Ok(delivery.is_delivered()))
}

fn test(config: Option<PathBuf>, name: &str, severity: Severity) -> Result<bool, Failure> {
    let path = Config::locate(config.as_deref());
    let config = Config::load(path.as_deref())?;
    crate::print_warnings(&config);
    let Some(channel_config) = config.channels.get(name) else {
        let origin = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the config (none found; the defaults apply)".into());
        if config.channels.is_empty() {
            return Err(Failure::Usage(anyhow::anyhow!(
                "no channel is named \"{name}\": {origin} configures no channels; add a [channels.{name}] table with a kind (slack, discord, teams, pagerduty, webhook, email)"
            )));
        }
        let names: Vec<String> = config
            .channels
            .iter()
            .map(|(n, c)| format!("{n} ({})", c.kind()))
            .collect();
        return Err(Failure::Usage(anyhow::anyhow!(
            "no channel is named \"{name}\" in {origin}; the configured channels are: {}",
            names.join(", ")
        )));
    };
    let channel = lookout_notify::build(channel_config)
        .map_err(|e| Failure::Usage(anyhow::anyhow!("channels.{name}.{e}")))?;
    println!(
        "Sending a test notification to channel \"{name}\" ({})…",
        channel.kind()
    );
    let delivery = channel.send(&[notification(&config, name, severity)]);
    print_delivery(name, &delivery);
    Ok(delivery.is_delivered())
}

fn print_delivery(name: &str, delivery: &Delivery) {
    match delivery {
        Delivery::Delivered { status, answer } => {
            println!("Delivered.");
            if let Some(s) = status {
                println!("  status: {s}");
            }
            println!(
                "  answer: {}",
                if answer.is_empty() { "(empty)" } else { answer }
            );
        }
        Delivery::Retry { after, reason } => {
            println!("Not delivered; the server would retry it.");
            println!("  reason: {reason}");
            if let Some(a) = after {
                println!("  the receiver asked to wait {}s", a.as_secs());
            }
        }
        Delivery::Broken { reason } => {
            println!("Not delivered: the destination is gone (a revoked or deleted hook?); fix channels.{name}.");
            println!("  reason: {reason}");
        }
        Delivery::Rejected { reason } => {
            println!("Not delivered: the receiver refused the message.");
            println!("  reason: {reason}");
        }
    }
}

fn notification(config: &Config, name: &str, severity: Severity) -> Notification {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Notification::test(
        format!("ntf_test_{}", uuid::Uuid::new_v4().simple()),
        name,
        severity,
        i64::try_from(now.as_millis()).unwrap_or(i64::MAX),
        config.server.public_url.clone(),
        &format!("`lookout notify test {name}`"),
    )
}
