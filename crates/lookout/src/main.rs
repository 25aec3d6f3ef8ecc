//! The `lookout` command: run the server, write a starting config, send a test event,
//! check a URL, verify a deploy, and work with incidents on a running server.
//!
//! Every command ends with a code from the one table in [`lookout_core::exit`]: verdict
//! commands return theirs, the others succeed or fail through [`Failure`].

mod check;
mod client;
mod deploy;
mod incident_cmd;
mod init;
mod logging;
mod notify_cmd;
mod send_test;
mod user_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lookout_core::exit;
use lookout_server::Config;
use secrecy::ExposeSecret;

#[derive(Parser)]
#[command(
    name = "lookout",
    version,
    about = "Production monitoring for small teams, as one self-hosted binary.",
    after_help = exit::TABLE
)]
struct Cli {
    /// Config file (default: $LOOKOUT_CONFIG, else ./lookout.toml if present).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    server: client::ServerArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default command).
    Serve(ServeArgs),
    /// Write a config to start from: your app's URL, a first channel, the reference
    /// monitors, rules and runbooks.
    Init(init::InitArgs),
    /// Check a config file and print what it sets up, with warnings.
    CheckConfig,
    /// Send a test error to a project and wait until lookout has stored it.
    SendTestEvent(send_test::SendTestArgs),
    /// Run one uptime check (http(s):// URL or tcp://host:port) and print timings and verdict.
    Check(check::CheckArgs),
    /// Send notifications by hand: `notify test CHANNEL` checks a configured channel.
    Notify(notify_cmd::NotifyArgs),
    /// List, show, acknowledge, resolve or annotate incidents on a running server.
    Incident(incident_cmd::IncidentArgs),
    /// Verify a deploy (PM2, systemd, commands, health, pages) and roll it back on failure.
    Deploy(deploy::DeployArgs),
    /// Create, list and delete dashboard users, or set their passwords.
    User(user_cmd::UserArgs),
}

/// `lookout serve`'s flags.
#[derive(clap::Args, Default)]
struct ServeArgs {
    /// This instance's name among several sharing one database (overrides
    /// `[cluster] instance_name`; default: the host name).
    #[arg(long)]
    instance_name: Option<String>,
}

/// Why a command stopped without doing its work; the exit code follows from it.
pub enum Failure {
    /// The command line, a value or the config is wrong: [`exit::USAGE`].
    Usage(anyhow::Error),
    /// The work failed (the server was not reached or refused, a file could not be
    /// written): [`exit::FAILED`].
    Failed(anyhow::Error),
}

impl Failure {
    /// The message, with its causes.
    pub fn message(&self) -> String {
        match self {
            Failure::Usage(e) | Failure::Failed(e) => format!("{e:#}"),
        }
    }

    fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => exit::USAGE,
            Failure::Failed(_) => exit::FAILED,
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Failed(e)
    }
}

impl From<lookout_server::config::ConfigError> for Failure {
    fn from(e: lookout_server::config::ConfigError) -> Self {
        Failure::Usage(e.into())
    }
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

fn main() -> ExitCode {
    // clap's own code for usage errors is 2, which is "down" in the table; --help and
    // --version are not errors.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let config = cli.config;
    let server = cli.server;
    let outcome = match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(config, args).map(|()| ExitCode::SUCCESS),
        Command::Init(args) => init::run(&args).map(|()| ExitCode::SUCCESS),
        Command::CheckConfig => check_config(config).map(|()| ExitCode::SUCCESS),
        Command::SendTestEvent(args) => {
            send_test::run(config, &server, &args).map(|()| ExitCode::SUCCESS)
        }
        Command::Check(args) => check::run(args),
        Command::Notify(args) => notify_cmd::run(config, &server, args),
        Command::Incident(args) => {
            incident_cmd::run(config, &server, &args).map(|()| ExitCode::SUCCESS)
        }
        Command::Deploy(args) => deploy::run(config, &server, args),
        Command::User(args) => user_cmd::run(config, args).map(|()| ExitCode::SUCCESS),
    };
    outcome.unwrap_or_else(|f| {
        eprintln!("error: {}", f.message());
        ExitCode::from(f.code())
    })
}

/// The config as `serve` reads it: `--config`, else `LOOKOUT_CONFIG`, else
/// `./lookout.toml`, else the defaults. A config that does not load is bad usage.
fn load_config(explicit: Option<PathBuf>) -> Result<(Option<PathBuf>, Config), Failure> {
    let path = Config::locate(explicit.as_deref());
    let config = Config::load(path.as_deref())?;
    Ok((path, config))
}

/// Prints the config's warnings (on stderr, so a script reading stdout sees none).
fn print_warnings(config: &Config) {
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
}

fn check_config(explicit: Option<PathBuf>) -> Result<(), Failure> {
    let (path, config) = load_config(explicit)?;
    let deploy = deploy::config_summary(path.as_deref()).map_err(Failure::Usage)?;
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
        let paused = if m.paused == Some(true) {
            ", paused"
        } else {
            ""
        };
        println!("  monitor:  {} ({}{paused})", m.name, m.kind.as_str());
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
    for p in &config.status_pages {
        let at = p
            .domain
            .as_deref()
            .map_or(String::new(), |d| format!(", and / on {d}"));
        println!("  status:   /status/{} ({}{at})", p.slug, p.title);
    }
    for line in deploy {
        println!("{line}");
    }
    print_warnings(&config);
    Ok(())
}

fn serve(explicit: Option<PathBuf>, args: ServeArgs) -> Result<(), Failure> {
    logging::init();
    let (_, mut config) = load_config(explicit)?;
    if let Some(name) = args.instance_name.filter(|n| !n.trim().is_empty()) {
        config.cluster.instance_name = Some(name);
    }
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
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
            "  instance:      {} ({} instance(s) on this database)",
            running.state.cluster.id(),
            running.state.cluster.members().len()
        );
        println!(
            "  API token:     {}",
            running.state.api_token.expose_secret()
        );
        for (p, dsn) in running.projects() {
            println!("  project {:<12} DSN: {dsn}", p.slug);
        }
        match running.web.setup_token() {
            Some(t) => println!(
                "  dashboard:     {}/setup?token={t} (create the first user)",
                running.state.public_url.trim_end_matches('/')
            ),
            None => println!(
                "  dashboard:     {}/",
                running.state.public_url.trim_end_matches('/')
            ),
        }
        println!("Send a test error: lookout send-test-event");
        shutdown_signal().await;
        tracing::info!("shutting down; waiting for queued writes");
        running.shutdown().await
    })?;
    Ok(())
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
