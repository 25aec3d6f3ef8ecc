//! `lookout notify test CHANNEL`: sends one test notification through a configured channel
//! and prints what the receiver answered, so a hook URL, key or mail server is checked
//! before a real incident needs it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use lookout_core::alert::Severity;
use lookout_notify::{Delivery, Notification, NotifyEvent};
use lookout_server::Config;

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
    },
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s)
        .ok_or_else(|| format!("`{s}` is not a severity: use critical, high, medium or low"))
}

/// Runs the command: exit 0 when the receiver accepted the test, 1 when it did not, 3
/// when the config or the channel's name is wrong.
pub fn run(config: Option<PathBuf>, args: NotifyArgs) -> Result<ExitCode, Failure> {
    let NotifyCommand::Test { channel, severity } = args.command;
    Ok(if test(config, &channel, severity)? {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(lookout_core::exit::FAILED)
    })
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
    match &delivery {
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
    Ok(delivery.is_delivered())
}

fn notification(config: &Config, name: &str, severity: Severity) -> Notification {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let now_ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
    Notification {
        id: format!("ntf_test_{}", uuid::Uuid::new_v4().simple()),
        event: NotifyEvent::Test,
        incident_id: 0,
        // One key for every test, so PagerDuty folds repeated tests into one alert.
        dedup_key: "lookout-notify-test".into(),
        severity,
        title: "Test notification from lookout".into(),
        summary: format!(
            "Sent by `lookout notify test {name}`. If you can read this, channel \"{name}\" works."
        ),
        rule: "notify-test".into(),
        subject: format!("channel {name}"),
        count: 1,
        triggered_ms: now_ms,
        incident_url: config.server.public_url.clone(),
        ack_url: None,
        runbook: None,
    }
}
