//! The `lookout` command: run the server, write a starting config, send a test event.

mod check;
mod deploy;
mod incident_cmd;
mod init;
mod notify_cmd;
mod send_test;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lookout_server::Config;
use secrecy::ExposeSecret;

#[derive(Parser)]
#[command(
    name = "lookout",
    version,
    about = "Production monitoring for small teams, as one self-hosted binary."
)]
struct Cli {
    /// Config file (default: $LOOKOUT_CONFIG, else ./lookout.toml if present).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default command).
    Serve,
    /// Write a commented sample config to start from.
    Init {
        /// Where to write it.
        #[arg(long, default_value = "lookout.toml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Check a config file and print what it sets up.
    CheckConfig,
    /// Send a test error to a DSN and wait until lookout has stored it.
    SendTestEvent {
        /// The project's DSN (default: $SENTRY_DSN).
        #[arg(long, env = "SENTRY_DSN")]
        dsn: String,
        /// The message of the test error.
        #[arg(
            long,
            default_value = "This is a test error sent by `lookout send-test-event`"
        )]
        message: String,
        /// How long to wait for it to be stored.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        timeout: std::time::Duration,
    },
    /// Run one uptime check (http(s):// URL or tcp://host:port) and print timings and verdict.
    Check(check::CheckArgs),
    /// Send notifications by hand: `notify test CHANNEL` checks a configured channel.
    Notify(notify_cmd::NotifyArgs),
    /// List, show, acknowledge, resolve or annotate incidents on a running server.
    Incident(incident_cmd::IncidentArgs),
    /// Verify a deploy (PM2, systemd, commands, health, pages) and roll it back on failure.
    Deploy(deploy::DeployArgs),
}

/// A duration flag: `humantime`'s forms (`500ms`, `10s`, `2m`, `1h 30m`), or a bare number
/// of seconds, which earlier versions accepted.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| {
        format!(
            "`{s}` is not a duration ({e}): write a number and a unit, e.g. 500ms, 10s, 2m or 1h 30m"
        )
    })
}

fn main() -> std::process::ExitCode {
    // Usage errors exit 3 as in every command's table (clap's own 2 means "down" there);
    // --help and --version are not errors.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() {
                deploy::EXIT_USAGE
            } else {
                0
            });
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config),
        Command::Init { path, force } => init::run(&path, force),
        Command::CheckConfig => check_config(cli.config),
        Command::SendTestEvent {
            dsn,
            message,
            timeout,
        } => send_test::run(&dsn, &message, timeout),
        Command::Check(args) => return check::run(args),
        Command::Notify(args) => return notify_cmd::run(cli.config, args),
        Command::Incident(args) => return incident_cmd::run(cli.config, args),
        Command::Deploy(args) => return deploy::run(cli.config, args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn load_config(explicit: Option<PathBuf>) -> anyhow::Result<Config> {
    let path = Config::locate(explicit.as_deref());
    Ok(Config::load(path.as_deref())?)
}

fn check_config(explicit: Option<PathBuf>) -> anyhow::Result<()> {
    let path = Config::locate(explicit.as_deref());
    let config = Config::load(path.as_deref())?;
    let deploy = deploy::config_summary(path.as_deref())?;
    match &path {
        Some(p) => println!("{} is valid.", p.display()),
        None => println!("No config file found; the defaults apply."),
    }
    println!("  listen:   {}", config.server.listen);
    println!(
        "  database: {}",
        if config.server.database_url.expose_secret().is_empty() {
            format!("SQLite in {}", config.server.data_dir.display())
        } else {
            "PostgreSQL (server.database_url)".to_string()
        }
    );
    for p in &config.projects {
        println!("  project:  {} (id {})", p.slug, p.id);
    }
    for m in &config.monitors {
        println!("  monitor:  {} ({})", m.name, m.kind.as_str());
    }
    for (name, c) in &config.channels {
        println!("  channel:  {name} ({})", c.kind());
    }
    for r in &config.rules {
        println!(
            "  rule:     {} — {} ({})",
            r.name,
            r.when,
            r.severity.as_str()
        );
    }
    for line in deploy {
        println!("{line}");
    }
    Ok(())
}

fn serve(explicit: Option<PathBuf>) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOOKOUT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = load_config(explicit)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let running = lookout_server::start(config).await?;
        println!("lookout is listening on {}", running.state.public_url);
        println!("  local address: http://{}", running.addr);
        println!("  database:      {}", running.state.store.kind());
        println!(
            "  API token:     {}",
            running.state.api_token.expose_secret()
        );
        for (p, dsn) in running.projects() {
            println!("  project {:<12} DSN: {dsn}", p.slug);
        }
        println!("Send a test error: lookout send-test-event --dsn '<DSN>'");
        shutdown_signal().await;
        tracing::info!("shutting down; waiting for queued writes");
        running.shutdown().await
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn durations_take_humantime_forms_and_bare_seconds() {
        for (text, want) in [
            ("10s", Duration::from_secs(10)),
            ("500ms", Duration::from_millis(500)),
            ("2m", Duration::from_secs(120)),
            ("1h 30m", Duration::from_secs(5400)),
            ("1m30s", Duration::from_secs(90)),
            ("1day", Duration::from_secs(86_400)),
            ("15", Duration::from_secs(15)),
            (" 3s ", Duration::from_secs(3)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_durations_say_what_is_accepted() {
        for text in ["", "5x", "ten seconds", "-3s", "s"] {
            let e = parse_duration(text).expect_err(text);
            assert!(e.contains(&format!("`{}`", text.trim())), "{e}");
            assert!(e.contains("e.g. 500ms, 10s, 2m or 1h 30m"), "{e}");
        }
    }
}
