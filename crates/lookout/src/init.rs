//! `lookout init`: a commented config to start from, with a freshly generated project key
//! so the DSN is known before the first start, the app's URL in the reference monitors,
//! a first channel in every severity's route, and the reference runbooks beside it.
//!
//! What it writes always starts: without an app URL the monitors are written commented
//! out (never pointing at a host that does not exist), and without a channel the
//! severities' routes stay empty, which `check-config` and `serve` then warn about.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::{Args, ValueEnum};

use crate::Failure;

/// Options of `lookout init`; what is not given is asked for when stdin is a terminal.
#[derive(Args)]
pub struct InitArgs {
    /// Where to write the config.
    #[arg(long, default_value = "lookout.toml")]
    path: PathBuf,
    /// Overwrite an existing file (and the runbooks beside it).
    #[arg(long)]
    force: bool,
    /// Your app's URL, e.g. https://example.org: the four reference monitors check it.
    /// Without one they are written commented out.
    #[arg(long, value_name = "URL")]
    app_url: Option<String>,
    /// Where alerts go first.
    #[arg(long, value_enum)]
    channel: Option<ChannelKind>,
    /// The Slack incoming webhook's URL (implies --channel slack).
    #[arg(long, value_name = "URL")]
    slack_webhook: Option<String>,
    /// The address alerts are emailed to (implies --channel email).
    #[arg(long, value_name = "ADDRESS")]
    email_to: Option<String>,
    /// The SMTP server for email, `host` or `host:port` (port 587, STARTTLS, by default).
    #[arg(long, value_name = "HOST")]
    smtp_host: Option<String>,
    /// The SMTP login; its password is read from $SMTP_PASSWORD when the server starts.
    #[arg(long, value_name = "USER")]
    smtp_user: Option<String>,
    /// Ask nothing: use the flags and leave the rest out (also when stdin is not a
    /// terminal).
    #[arg(long)]
    no_input: bool,
    /// Also create the first dashboard user with this email (its password is generated
    /// and printed once, or taken from $LOOKOUT_PASSWORD).
    #[arg(long, value_name = "EMAIL")]
    admin_email: Option<String>,
}

/// The first channel's kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum ChannelKind {
    /// A Slack incoming webhook.
    Slack,
    /// Email over SMTP.
    Email,
    /// No channel yet: incidents are recorded, nobody is notified.
    None,
}

/// What the config is written from.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answers {
    /// The app's base URL, without a trailing slash.
    pub app_url: Option<String>,
    /// The first channel.
    pub channel: Option<Channel>,
}

/// The first channel, as the user described it.
#[derive(Debug, PartialEq, Eq)]
pub enum Channel {
    /// `[channels.ops]`, kind slack.
    Slack {
        /// The hook's URL.
        webhook_url: String,
    },
    /// `[channels.team-email]`, kind email.
    Email {
        /// The recipient.
        to: String,
        /// SMTP host.
        host: String,
        /// SMTP port.
        port: u16,
        /// SMTP login, if any.
        user: Option<String>,
    },
}

impl Channel {
    /// The channel's name in `[channels.NAME]` and in the routes.
    fn name(&self) -> &'static str {
        match self {
            Channel::Slack { .. } => "ops",
            Channel::Email { .. } => "team-email",
        }
    }
}

/// Writes the config and the runbooks, then prints the next three commands.
pub fn run(args: &InitArgs) -> Result<(), Failure> {
    if args.path.exists() && !args.force {
        return Err(Failure::Usage(anyhow!(
            "{} already exists; pass --force to overwrite it",
            args.path.display()
        )));
    }
    let interactive = !args.no_input && std::io::stdin().is_terminal();
    let answers = if interactive {
        let stdin = std::io::stdin();
        ask(args, &mut stdin.lock(), &mut std::io::stdout())?
    } else {
        from_flags(args)?
    };
    let key = uuid::Uuid::new_v4().simple().to_string();
    let text = sample(&key, &answers);
    // The sample must always load: a broken starting point would be the worst first
    // impression.
    lookout_server::Config::parse(&text, "sample", &|_| None)
        .map_err(|e| anyhow!("the generated config does not load (a bug in lookout): {e}"))?;
    // The config may hold a webhook URL or other secrets: readable by its owner only.
    lookout_server::files::write_private(&args.path, &text)
        .with_context(|| format!("cannot write {}", args.path.display()))?;
    println!("Wrote {}.", args.path.display());
    write_runbooks(&args.path, args.force)?;
    if let Some(email) = &args.admin_email {
        let config = lookout_server::Config::load(Some(&args.path))?;
        crate::user_cmd::create(&config, email, false)?;
    }
    println!(
        "Your app's DSN will be: {}",
        dsn(&key, &|k| std::env::var(k).ok())
    );
    match &answers.app_url {
        Some(url) => println!("The reference monitors check {url}."),
        None => println!(
            "The reference monitors are commented out: uncomment them with your app's URL (or run lookout init --app-url URL --force)."
        ),
    }
    if answers.channel.is_none() {
        println!("No channel yet: incidents are recorded but nobody is notified; add one under [channels] and name it in the severities' routes.");
    }
    println!("Next:");
    for (command, why) in next_commands(&args.path, &answers) {
        println!("  {command:<44} # {why}");
    }
    Ok(())
}

/// The DSN the project will have: the server's public URL (as `LOOKOUT_PUBLIC_URL` or
/// `LOOKOUT_LISTEN` will set it, else the written listen address) with the key.
fn dsn(key: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let base = match (set("LOOKOUT_PUBLIC_URL"), set("LOOKOUT_LISTEN")) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, Some(listen)) => {
            let port = listen.rsplit(':').next().unwrap_or("8080");
            format!("http://localhost:{port}")
        }
        (None, None) => "http://localhost:8080".to_string(),
    };
    match base.split_once("://") {
        Some((scheme, host)) => format!("{scheme}://{key}@{host}/1"),
        None => format!("http://{key}@localhost:8080/1"),
    }
}

/// The three commands to run next, with the `--config` they need.
fn next_commands(path: &Path, answers: &Answers) -> [(String, &'static str); 3] {
    let config = if path == Path::new("lookout.toml") {
        String::new()
    } else {
        format!(" --config {}", path.display())
    };
    let third = match &answers.channel {
        Some(c) => (
            format!("lookout{config} notify test {}", c.name()),
            "check that alerts reach you",
        ),
        None => (
            format!("lookout{config} incident list"),
            "the incident the test error opened",
        ),
    };
    [
        (format!("lookout{config} serve"), "start lookout"),
        (
            format!("lookout{config} send-test-event"),
            "in another terminal: send a test error",
        ),
        third,
    ]
}

/// The reference runbooks the rules point to, beside the config; edited ones are kept.
fn write_runbooks(config: &Path, force: bool) -> anyhow::Result<()> {
    let dir = config
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("runbooks");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in RUNBOOKS {
        let file = dir.join(name);
        if file.exists() && !force {
            println!("Kept {} (exists).", file.display());
            continue;
        }
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
        println!("Wrote {}.", file.display());
    }
    Ok(())
}

/// The answers the flags give, without asking.
fn from_flags(args: &InitArgs) -> Result<Answers, Failure> {
    let app_url = args.app_url.as_deref().map(app_url).transpose()?;
    let kind = match (args.channel, &args.slack_webhook, &args.email_to) {
        (Some(k), _, _) => k,
        (None, Some(_), None) => ChannelKind::Slack,
        (None, None, Some(_)) => ChannelKind::Email,
        (None, Some(_), Some(_)) => {
            return Err(Failure::Usage(anyhow!(
                "give --slack-webhook or --email-to, not both: init sets up one channel"
            )))
        }
        (None, None, None) => ChannelKind::None,
    };
    let channel = match kind {
        ChannelKind::None => None,
        ChannelKind::Slack => {
            let url = args.slack_webhook.as_deref().ok_or_else(|| {
                Failure::Usage(anyhow!(
                    "--channel slack needs --slack-webhook URL (Slack: Apps › Incoming Webhooks)"
                ))
            })?;
            Some(slack(url)?)
        }
        ChannelKind::Email => {
            let (Some(to), Some(host)) = (&args.email_to, &args.smtp_host) else {
                return Err(Failure::Usage(anyhow!(
                    "--channel email needs --email-to ADDRESS and --smtp-host HOST[:PORT]"
                )));
            };
            Some(email(to, host, args.smtp_user.clone())?)
        }
    };
    Ok(Answers { app_url, channel })
}

/// Asks for what the flags leave open, one question a line; an empty answer takes the
/// default shown in brackets.
pub fn ask(
    args: &InitArgs,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<Answers, Failure> {
    let mut prompt = |question: &str| -> anyhow::Result<String> {
        write!(output, "{question} ")?;
        output.flush()?;
        let mut line = String::new();
        input.read_line(&mut line)?;
        Ok(line.trim().to_string())
    };
    let given = from_flags(args)?;
    let app_url = match given.app_url {
        Some(u) => Some(u),
        None => {
            let a = prompt("Your app's URL, e.g. https://example.org (empty: none yet):")?;
            (!a.is_empty()).then(|| app_url(&a)).transpose()?
        }
    };
    let flagged = args.channel.is_some() || args.slack_webhook.is_some() || args.email_to.is_some();
    let channel = if flagged {
        given.channel
    } else {
        match prompt("Where should alerts go? slack, email or none [none]:")?
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "none" => None,
            "slack" => Some(slack(&prompt("Slack incoming webhook URL:")?)?),
            "email" => {
                let to = prompt("Email alerts to (address):")?;
                let host = prompt("SMTP server (host or host:port):")?;
                let user =
                    prompt("SMTP login (empty: none; the password is read from $SMTP_PASSWORD):")?;
                Some(email(&to, &host, (!user.is_empty()).then_some(user))?)
            }
            other => {
                return Err(Failure::Usage(anyhow!(
                    "`{other}` is not a channel: answer slack, email or none"
                )))
            }
        }
    };
    Ok(Answers { app_url, channel })
}

/// An app URL as the monitors use it: http(s), no trailing slash.
fn app_url(url: &str) -> Result<String, Failure> {
    let url = url.trim().trim_end_matches('/');
    let check = lookout_probe::HttpCheck::new(url);
    check.validate_url().map_err(|e| {
        Failure::Usage(anyhow!(
            "the app URL: {e}; give the address your users open, e.g. https://example.org"
        ))
    })?;
    Ok(url.to_string())
}

fn slack(url: &str) -> Result<Channel, Failure> {
    let url = url.trim();
    if !url.starts_with("https://") || url.contains(['"', '\\', ' ']) {
        return Err(Failure::Usage(anyhow!(
            "`{url}` is not a Slack webhook URL: it looks like https://hooks.slack.com/services/T…/B…/…"
        )));
    }
    Ok(Channel::Slack {
        webhook_url: url.to_string(),
    })
}

fn email(to: &str, host: &str, user: Option<String>) -> Result<Channel, Failure> {
    let bad = |what: &str| Failure::Usage(anyhow!("{what}"));
    let to = to.trim();
    if !to.contains('@') || to.contains(['"', '\\', ' ']) {
        return Err(bad(&format!("`{to}` is not an email address")));
    }
    let (host, port) = match host.trim().rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().map_err(|_| {
                bad(&format!(
                    "`{p}` is not a port number (the SMTP server's, e.g. 587)"
                ))
            })?,
        ),
        None => (host.trim(), 587),
    };
    if host.is_empty() || host.contains(['"', '\\', ' ', '/']) {
        return Err(bad(&format!(
            "`{host}` is not a host name (the SMTP server's, e.g. smtp.example.org)"
        )));
    }
    if user.as_deref().is_some_and(|u| u.contains(['"', '\\'])) {
        return Err(bad("the SMTP login must not contain quotes or backslashes"));
    }
    Ok(Channel::Email {
        to: to.to_string(),
        host: host.to_string(),
        port,
        user,
    })
}

/// The reference runbooks, written beside the config.
const RUNBOOKS: [(&str, &str); 3] = [
    ("site-down.md", include_str!("runbooks/site-down.md")),
    ("error-spike.md", include_str!("runbooks/error-spike.md")),
    (
        "memory-warning.md",
        include_str!("runbooks/memory-warning.md"),
    ),
];

/// The config `init` writes for `answers`, with the project key `key`.
pub fn sample(key: &str, answers: &Answers) -> String {
    let mut out = format!(
        r#"# lookout configuration.
# Strings may use ${{ENV_VAR}} or ${{ENV_VAR:-default}}, so secrets stay in the environment.
# Unknown keys are refused, with their path in the message. Paths are relative to this file.

[server]
# Address to listen on (env LOOKOUT_LISTEN).
listen = "0.0.0.0:8080"
# Where the embedded SQLite database and the generated API token live (env LOOKOUT_DATA_DIR).
data_dir = "lookout-data"
# A postgres:// URL uses PostgreSQL instead, e.g. when several lookout instances share one
# database (env LOOKOUT_DATABASE_URL).
# database_url = "postgres://lookout@db.internal/lookout"
# Bearer token of the JSON API (env LOOKOUT_API_TOKEN). Unset: one is generated at first
# start and kept in data_dir/api-token.
# api_token = "${{LOOKOUT_API_TOKEN}}"
# The URL your apps reach lookout at; used in DSNs and links (env LOOKOUT_PUBLIC_URL).
# public_url = "https://lookout.example.org"
# SQLite durability: "normal" keeps every acknowledged event across a crash of the
# process (kill -9); "full" also across a power cut, at one disk flush per commit.
sqlite_synchronous = "normal"

[ingest]
# Limits follow Sentry's: 1 MiB per event, 20 MiB per request (before and after
# decompression). Larger data is refused with 413.
# max_event_bytes = 1048576
# max_envelope_bytes = 20971520
# max_decompressed_bytes = 20971520
# max_attachment_bytes = 10485760
# Events waiting to be written before new ones get 429 with Retry-After.
# queue_capacity = 20000
# Event payloads are compressed with a dictionary trained on each project's own
# events (4x smaller than without); 0 turns it off.
# dictionary_samples = 1000
# dictionary_refresh = "7d"

[defaults]
# Applied to every project that does not set its own.
# Events accepted per minute per project (0 = no limit).
rate_limit_per_minute = 6000
# Error events accepted per calendar month (UTC) per project; 0 = no quota.
# The Sentry free tier the reference setup lived on allowed 5000.
monthly_quota = 0
# Days events are kept; issues are kept forever (0 = keep events forever).
retention_days = 90
# Browser origins allowed to send events ("*" = any), e.g. ["https://example.org"].
allowed_origins = ["*"]

# Server-side scrubbing before anything is stored (on by default): passwords, secrets,
# tokens, Authorization and Cookie headers, credit-card numbers.
[defaults.scrubbing]
enabled = true
credit_cards = true
ip_addresses = false
# extra_keys = ["ssn", "iban"]
# safe_keys = ["token_count"]

# Projects declared here keep their id and key, so the DSN is known before start:
#   DSN = http://PUBLIC_KEY@HOST:PORT/ID
[[projects]]
slug = "default"
name = "Default"
id = 1
public_key = "{key}"
# Any [defaults] key can be overridden per project, e.g.:
# monthly_quota = 5000
# allowed_origins = ["https://example.org"]

"#
    );
    out.push_str(&monitors(answers.app_url.as_deref()));
    out.push_str(MONITOR_EXAMPLES);
    out.push_str(&channels(answers.channel.as_ref()));
    out.push_str(&severities(answers.channel.as_ref()));
    out.push_str(RULES);
    out.push_str(&slos(answers.app_url.as_deref()));
    out
}

/// The reference targets as objectives; those on a monitor are commented out with the
/// monitors.
fn slos(app_url: Option<&str>) -> String {
    let p = if app_url.is_some() { "" } else { "# " };
    format!(
        r#"# The reference targets as service level objectives: GET /api/v1/slos shows each one's
# value, error budget and burn rates; the "SLO …" rules above alert on the burn.
{p}[[slos]]
{p}name = "Uptime"
{p}kind = "availability"           # share of checks up, maintenance excluded
{p}monitor = "Homepage"
{p}target = 99.9                   # 43 minutes of downtime a month
{p}window = "30d"                  # or "calendar_month"

[[slos]]
name = "Errors per hour"
kind = "errors_per_hour"        # share of hours with fewer errors than the threshold
project = "default"
threshold = 10
target = 99

[[slos]]
name = "Response time"
kind = "latency"                # share of requests (transactions, spans) under the threshold
project = "default"
threshold = "500ms"
target = 95                     # p95 under 500 ms

[[slos]]
name = "API response time"
kind = "latency"
project = "default"
threshold = "300ms"
target = 95
# transaction = "GET /api/users"   # one route only

{p}[[slos]]
{p}name = "Database check"
{p}kind = "health_latency"         # a health document's sub-check
{p}monitor = "Health Endpoint"
{p}check = "database"
{p}threshold = "100ms"
{p}target = 99
"#
    )
}

/// The reference setup's four monitors, live with an app URL, else commented out.
fn monitors(app_url: Option<&str>) -> String {
    let (url, prefix) = match app_url {
        Some(u) => (u, ""),
        None => ("https://YOUR-APP.example.org", "# "),
    };
    let intro = match app_url {
        Some(_) => "# Uptime monitors: the reference setup's four checks of your app.",
        None => "# Uptime monitors: the reference setup's four checks. Replace YOUR-APP.example.org by\n# your app's address and uncomment them (lookout init --app-url URL does it for you).",
    };
    let mut out = format!(
        "{intro}\n# They run every minute rather than every 5 minutes: with a 20 s retry and 2 failures to\n# alert, an outage is confirmed within about 80 s instead of 5 to 10 minutes.\n"
    );
    let monitor = |name: &str, kind: &str, path: &str, comment: Option<&str>| {
        let mut m = format!("{prefix}[[monitors]]\n{prefix}name = \"{name}\"\n");
        if let Some(c) = comment {
            m.push_str(c);
        }
        m.push_str(&format!(
            "{prefix}kind = \"{kind}\"\n{prefix}url = \"{url}{path}\"\n{prefix}interval = \"60s\"\n{prefix}retry_interval = \"20s\"\n{prefix}alert_after = 2\n\n"
        ));
        m
    };
    out.push_str(&monitor(
        "Health Endpoint",
        "health",
        "/api/health",
        Some("# Reads the health document: ok is up, degraded is degraded (naming the failing check),\n# unhealthy or 503 is down. Unlike the keyword \"status\":\"ok\", it survives pretty-printing.\n"),
    ));
    out.push_str(&monitor("Homepage", "http", "/", None));
    out.push_str(&monitor("Signup Page", "http", "/signup", None));
    out.push_str(&monitor("Login Page", "http", "/login", None));
    out
}

const MONITOR_EXAMPLES: &str = r#"# Other kinds:
# [[monitors]]
# name = "Database port"
# kind = "tcp"
# host = "db.internal"
# port = 5432
#
# [[monitors]]
# name = "Certificate"
# kind = "tls"                 # warns 30, 14, 7 and 1 days before expiry (tls_expiry_days)
# host = "example.org"
#
# [[monitors]]
# name = "Nightly backup"
# kind = "heartbeat"           # the job pings /ping/TOKEN (URL shown by the API)
# cron = "0 3 * * *"
# timezone = "Europe/Berlin"
# grace = "15m"
# max_runtime = "1h"

# Maintenance windows: monitors are checked but never alert, and no downtime is counted.
# [[maintenance]]
# name = "Deploy window"
# cron = "0 4 * * SUN"
# duration = "30m"
# timezone = "UTC"
# monitors = ["Homepage", "Signup Page", "Login Page"]   # all monitors when absent

# A public status page at /status/acme (no sign-in, no JavaScript needed): the monitors'
# states, 90 days of uptime, incidents with their public notes, maintenance windows; plus
# /status/acme.json, /status/acme/feed.atom and badges at /badge/acme/Homepage.svg.
# Monitor URLs, hosts, errors and internal notes are never shown.
# [[status_pages]]
# slug = "acme"
# title = "Acme status"
# monitors = ["Homepage", "Signup Page", "Login Page"]
# domain = "status.example.org"   # optional: served at / when the Host header is this
# # or named groups instead of `monitors`:
# # [[status_pages.groups]]
# # name = "Website"
# # monitors = ["Homepage", "Signup Page"]

"#;

/// The first channel, and the other kinds as commented examples.
fn channels(channel: Option<&Channel>) -> String {
    let mut out = String::from(
        "# Alerts: where they go. Each channel is named in the severities' routes (or in a rule's\n# notify). `lookout notify test NAME` sends a test.\n",
    );
    match channel {
        Some(Channel::Slack { webhook_url }) => out.push_str(&format!(
            "[channels.ops]\nkind = \"slack\"\n# A secret: keep this file private, or write \"${{SLACK_WEBHOOK_URL}}\" and set it\n# in the environment.\nwebhook_url = \"{webhook_url}\"\n\n"
        )),
        Some(Channel::Email { to, host, port, user }) => {
            let tls = if *port == 465 { "implicit" } else { "starttls" };
            let from = user
                .as_deref()
                .filter(|u| u.contains('@'))
                .unwrap_or(to.as_str());
            out.push_str(&format!(
                "[channels.team-email]\nkind = \"email\"\nhost = \"{host}\"\nport = {port}\ntls = \"{tls}\"\n"
            ));
            if let Some(u) = user {
                out.push_str(&format!(
                    "username = \"{u}\"\npassword = \"${{SMTP_PASSWORD}}\"\n"
                ));
            }
            out.push_str(&format!("from = \"lookout <{from}>\"\nto = [\"{to}\"]\n\n"));
        }
        None => out.push_str(
            "# [channels.ops]\n# kind = \"slack\"\n# webhook_url = \"${SLACK_WEBHOOK_URL}\"\n#\n# [channels.team-email]\n# kind = \"email\"\n# host = \"smtp.example.org\"\n# port = 587\n# tls = \"starttls\"\n# username = \"lookout@example.org\"\n# password = \"${SMTP_PASSWORD}\"\n# from = \"lookout@example.org\"\n# to = [\"team@example.org\"]\n#\n",
        ),
    }
    out.push_str("# Also: kind = \"discord\" | \"teams\" (webhook_url), \"pagerduty\" (routing_key),\n# \"webhook\" (url, secret = \"whsec_…\": signed per the Standard Webhooks scheme).\n\n");
    out
}

/// The severity table, every route to the first channel when there is one.
fn severities(channel: Option<&Channel>) -> String {
    let route = match channel {
        Some(c) => format!("[[\"{}\"]]", c.name()),
        None => "[]".to_string(),
    };
    let example = match channel {
        Some(c) => format!("# e.g. [[\"{}\"], [\"{}\", \"lead\"]]", c.name(), c.name()),
        None => "# e.g. [[\"ops\"], [\"ops\", \"team-email\"]]".to_string(),
    };
    format!(
        r#"# The severity table: how soon each must be acknowledged before it escalates to the next
# step of its route, and how often an unacknowledged incident is repeated. An empty route
# notifies nobody (check-config and serve warn about it).
[severities.critical]           # act now: site down, database lost, error spike
ack_within = "15m"
renotify = "30m"
route = {route}                 {example}

[severities.high]               # within 1 hour: health degraded, memory > 90 %, TLS in 7 days
ack_within = "1h"
renotify = "2h"
route = {route}

[severities.medium]             # within 24 hours: memory > 80 %, p95 > 2 s
ack_within = "24h"
renotify = "24h"
route = {route}

[severities.low]                # watch: new error types
ack_within = "none"
renotify = "none"
route = {route}

"#
    )
}

const RULES: &str = r#"# The reference alert rules. `when` reads like the alert document; see the README for the
# whole condition language. Runbook paths are relative to this file.
[[rules]]
name = "Error spike"
when = "errors > 50 in 5m"
severity = "critical"
runbook = "runbooks/error-spike.md"

[[rules]]
name = "Unhandled exception"
when = "unhandled"
severity = "high"

[[rules]]
name = "New issue"
when = "new issue"
severity = "low"

[[rules]]
name = "Site down"
when = "monitor down"
severity = "critical"
runbook = "runbooks/site-down.md"

[[rules]]
name = "Health degraded"
when = "monitor degraded"
severity = "high"

[[rules]]
name = "App crash loop"
when = "monitor crash loop"
severity = "high"

# The reference's post-deploy errors alert: the watch after each recorded deploy judged
# the release bad (error rate against before the deploy, new issues, crashes, crash-free
# sessions; thresholds in [deploy.watch]).
[[rules]]
name = "Bad deploy"
when = "bad deploy"
severity = "high"

[[rules]]
name = "Memory critical"
when = "health memory > 90%"
severity = "high"
runbook = "runbooks/memory-warning.md"

[[rules]]
name = "Memory warning"
when = "health memory > 80%"
severity = "medium"
runbook = "runbooks/memory-warning.md"

[[rules]]
name = "Database slow"
when = "health database.latency > 100ms"
severity = "medium"

[[rules]]
name = "TLS certificate expiring"
when = "tls expires within 7d"
severity = "high"

[[rules]]
name = "Slow responses"
when = "p95 > 2s in 5m"
severity = "medium"

[[rules]]
name = "Cron job missed"
when = "heartbeat missed"
severity = "high"

[[rules]]
name = "Cron job failed"
when = "heartbeat failed"
severity = "high"

# Error budget burn (the SRE workbook's multiwindow alerts, over every [[slos]] entry):
# page when a 30-day budget would be gone in 2 days, ticket when it would not last the window.
[[rules]]
name = "SLO burning fast"
when = "slo burn rate >= 14.4 over 1h"    # and over 5 minutes (a twelfth)
severity = "critical"

[[rules]]
name = "SLO burning"
when = "slo burn rate >= 6 over 6h"       # and over 30 minutes
severity = "critical"

[[rules]]
name = "SLO budget draining"
when = "slo burn rate >= 3 over 1d"       # and over 2 hours
severity = "low"

[[rules]]
name = "SLO budget leak"
when = "slo burn rate >= 1 over 3d"       # and over 6 hours
severity = "low"

"#;

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        init: InitArgs,
    }

    fn args(flags: &[&str]) -> InitArgs {
        Cli::try_parse_from(std::iter::once("init").chain(flags.iter().copied()))
            .unwrap_or_else(|e| panic!("{e}"))
            .init
    }

    fn load(answers: &Answers) -> lookout_server::Config {
        lookout_server::Config::parse(&sample(KEY, answers), "sample", &|_| None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn with_an_app_url_and_slack_every_monitor_checks_it_and_every_route_notifies() {
        let a = from_flags(&args(&[
            "--app-url",
            "https://shop.example.org/",
            "--slack-webhook",
            "https://hooks.slack.com/services/T0/B0/x",
        ]))
        .unwrap_or_else(|e| panic!("{}", e.message()));
        let c = load(&a);
        assert_eq!(c.projects.len(), 1);
        assert_eq!(
            (c.projects[0].slug.as_str(), c.projects[0].id),
            ("default", 1)
        );
        let names: Vec<&str> = c.monitors.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["Health Endpoint", "Homepage", "Signup Page", "Login Page"]
        );
        let slos: Vec<&str> = c.slos.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            slos,
            [
                "Uptime",
                "Errors per hour",
                "Response time",
                "API response time",
                "Database check"
            ]
        );
        assert_eq!(
            c.monitors[0].url.as_deref(),
            Some("https://shop.example.org/api/health")
        );
        assert_eq!(c.channels["ops"].kind(), "slack");
        assert_eq!(c.severities.len(), 4);
        for (name, s) in &c.severities {
            assert_eq!(s.route, Some(vec![vec!["ops".to_string()]]), "{name}");
        }
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let rules: Vec<&str> = c.rules.iter().map(|r| r.name.as_str()).collect();
        for r in [
            "Error spike",
            "New issue",
            "Unhandled exception",
            "Site down",
            "Bad deploy",
        ] {
            assert!(rules.contains(&r), "{rules:?}");
        }
        for r in &c.rules {
            if let Some(rb) = &r.runbook {
                let name = rb.trim_start_matches("runbooks/");
                assert!(RUNBOOKS.iter().any(|(n, _)| *n == name), "{rb}");
            }
        }
    }

    #[test]
    fn without_an_app_url_no_monitor_points_anywhere_and_empty_routes_are_warned_about() {
        let a = from_flags(&args(&[])).unwrap_or_else(|e| panic!("{}", e.message()));
        assert_eq!(a, Answers::default());
        let text = sample(KEY, &a);
        assert!(!text.contains("localhost:3000"), "{text}");
        let c = load(&a);
        assert!(c.monitors.is_empty(), "{:?}", c.monitors);
        assert!(c.channels.is_empty());
        for sev in ["critical", "high", "medium", "low"] {
            assert!(
                c.warnings
                    .iter()
                    .any(|w| w.to_string().contains(&format!("severities.{sev}.route"))),
                "{sev}: {:?}",
                c.warnings
            );
        }
        // Uncommenting the monitors gives four that load.
        let (before, rest) = text.split_once("# Uptime monitors").unwrap();
        let (section, after) = rest.split_once("# Other kinds:").unwrap();
        let uncommented: Vec<&str> = section
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(r) if r.starts_with("[[monitors]]") || r.contains(" = ") => r,
                _ => l,
            })
            .collect();
        let text = format!(
            "{before}# Uptime monitors{}\n# Other kinds:{after}",
            uncommented.join("\n")
        );
        let c = lookout_server::Config::parse(&text, "sample", &|_| None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.monitors.len(), 4, "{text}");
    }

    #[test]
    fn the_status_page_example_loads_once_uncommented() {
        let a = from_flags(&args(&["--app-url", "https://shop.example.org/"]))
            .unwrap_or_else(|e| panic!("{}", e.message()));
        let text = sample(KEY, &a);
        let (before, rest) = text.split_once("# [[status_pages]]").unwrap();
        let (section, after) = rest.split_once("# # or named groups").unwrap();
        let section: Vec<&str> = section
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect();
        let text = format!(
            "{before}[[status_pages]]{}\n# # or named groups{after}",
            section.join("\n")
        );
        let c = lookout_server::Config::parse(&text, "sample", &|_| None)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(c.status_pages.len(), 1, "{text}");
        assert_eq!(c.status_pages[0].slug, "acme");
        assert_eq!(c.status_pages[0].monitors.as_ref().map(Vec::len), Some(3));
    }

    #[test]
    fn email_takes_host_port_and_login_and_keeps_the_password_in_the_environment() {
        let a = from_flags(&args(&[
            "--email-to",
            "team@example.org",
            "--smtp-host",
            "smtp.example.org:465",
            "--smtp-user",
            "alerts@example.org",
        ]))
        .unwrap_or_else(|e| panic!("{}", e.message()));
        let text = sample(KEY, &a);
        assert!(text.contains("password = \"${SMTP_PASSWORD}\""), "{text}");
        let c = lookout_server::Config::parse(&text, "sample", &|k| {
            (k == "SMTP_PASSWORD").then(|| "hunter2".into())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.channels["team-email"].kind(), "email");
        assert!(text.contains("tls = \"implicit\""), "{text}");
        assert!(
            text.contains("from = \"lookout <alerts@example.org>\""),
            "{text}"
        );
    }

    #[test]
    fn flags_that_do_not_fit_are_usage_errors() {
        for flags in [
            &["--channel", "slack"][..],
            &["--channel", "email", "--email-to", "a@b.c"],
            &["--app-url", "ftp://example.org"],
            &["--app-url", "http://exa mple.org"],
            &["--slack-webhook", "hooks.slack.com/x"],
            &["--slack-webhook", "https://h.test/x", "--email-to", "a@b.c"],
            &["--email-to", "nobody", "--smtp-host", "smtp.example.org"],
            &["--email-to", "a@b.c", "--smtp-host", "smtp.example.org:x"],
        ] {
            assert!(
                matches!(from_flags(&args(flags)), Err(Failure::Usage(_))),
                "{flags:?}"
            );
        }
    }

    #[test]
    fn questions_fill_in_what_the_flags_leave_open() {
        let mut out = Vec::new();
        let a = ask(
            &args(&[]),
            &mut "https://example.org\nslack\nhttps://hooks.slack.com/services/T/B/c\n".as_bytes(),
            &mut out,
        )
        .unwrap_or_else(|e| panic!("{}", e.message()));
        assert_eq!(a.app_url.as_deref(), Some("https://example.org"));
        assert_eq!(
            a.channel,
            Some(Channel::Slack {
                webhook_url: "https://hooks.slack.com/services/T/B/c".into()
            })
        );
        let asked = String::from_utf8(out).unwrap();
        assert!(
            asked.contains("app's URL") && asked.contains("slack, email or none"),
            "{asked}"
        );

        // Empty answers take the defaults; flags are not asked again.
        let mut out = Vec::new();
        let a = ask(
            &args(&["--app-url", "http://127.0.0.1:3000"]),
            &mut "\n".as_bytes(),
            &mut out,
        )
        .unwrap_or_else(|e| panic!("{}", e.message()));
        assert_eq!(a.app_url.as_deref(), Some("http://127.0.0.1:3000"));
        assert_eq!(a.channel, None);
        assert!(!String::from_utf8(out).unwrap().contains("app's URL"));

        let e = ask(&args(&[]), &mut "\nsms\n".as_bytes(), &mut Vec::new());
        assert!(matches!(e, Err(Failure::Usage(_))));
    }

    #[test]
    fn the_dsn_follows_the_environment_the_server_will_read() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            dsn(KEY, &env(&[])),
            format!("http://{KEY}@localhost:8080/1")
        );
        assert_eq!(
            dsn(KEY, &env(&[("LOOKOUT_LISTEN", "0.0.0.0:9000")])),
            format!("http://{KEY}@localhost:9000/1")
        );
        assert_eq!(
            dsn(
                KEY,
                &env(&[
                    ("LOOKOUT_LISTEN", "0.0.0.0:9000"),
                    ("LOOKOUT_PUBLIC_URL", "https://lookout.example.org/")
                ])
            ),
            format!("https://{KEY}@lookout.example.org/1")
        );
    }

    #[test]
    fn the_next_commands_carry_the_config_path_when_it_is_not_the_default() {
        let a = Answers::default();
        let [serve, send, third] = next_commands(Path::new("lookout.toml"), &a);
        assert_eq!(serve.0, "lookout serve");
        assert_eq!(send.0, "lookout send-test-event");
        assert_eq!(third.0, "lookout incident list");
        let slack = Answers {
            app_url: None,
            channel: Some(Channel::Slack {
                webhook_url: "https://h.test/x".into(),
            }),
        };
        let [serve, _, third] = next_commands(Path::new("cfg/lookout.toml"), &slack);
        assert_eq!(serve.0, "lookout --config cfg/lookout.toml serve");
        assert_eq!(third.0, "lookout --config cfg/lookout.toml notify test ops");
    }
}
