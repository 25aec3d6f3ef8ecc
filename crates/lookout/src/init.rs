//! `lookout init`: a commented config to start from, with a freshly generated project key
//! so the DSN is known before the first start.

use std::path::Path;

use anyhow::{bail, Context};

pub fn run(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        );
    }
    let key = uuid::Uuid::new_v4().simple().to_string();
    let text = sample(&key);
    // The sample must always load: a broken starting point would be the worst first
    // impression.
    lookout_server::Config::parse(&text, "sample", &|_| None)
        .context("the built-in sample config does not parse (a bug in lookout)")?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("Wrote {}.", path.display());
    // The runbooks the rules point to, beside the config; edited ones are kept.
    let dir = path
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
    println!(
        "Start the server with: lookout serve --config {}",
        path.display()
    );
    println!("Your app's DSN will be: http://{key}@localhost:8080/1");
    Ok(())
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

/// The sample config.
pub fn sample(key: &str) -> String {
    format!(
        r#"# lookout configuration.
# Strings may use ${{ENV_VAR}} or ${{ENV_VAR:-default}}, so secrets stay in the environment.
# Unknown keys are refused, with their path in the message.

[server]
# Address to listen on (env LOOKOUT_LISTEN).
listen = "0.0.0.0:8080"
# Where the embedded SQLite database and the generated API token live (env LOOKOUT_DATA_DIR).
data_dir = "./lookout-data"
# Set a postgres:// URL to use PostgreSQL instead, e.g. when several lookout instances
# share one database (env LOOKOUT_DATABASE_URL).
database_url = "${{LOOKOUT_DATABASE_URL:-}}"
# Bearer token of the JSON API (env LOOKOUT_API_TOKEN). Empty: one is generated at first
# start and kept in data_dir/api-token.
api_token = "${{LOOKOUT_API_TOKEN:-}}"
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
slug = "web"
name = "Web app"
id = 1
public_key = "{key}"
# Any [defaults] key can be overridden per project, e.g.:
# monthly_quota = 5000
# allowed_origins = ["https://example.org"]

# Uptime monitors: the reference setup's four checks. Set APP_URL to your site's address
# (e.g. APP_URL=https://example.org lookout serve). They run every minute rather than every
# 5 minutes: with a 20 s retry and 2 failures to alert, an outage is confirmed within
# about 80 s instead of 5 to 10 minutes.
[[monitors]]
name = "Health Endpoint"
# Reads the health document: ok is up, degraded is degraded (naming the failing check),
# unhealthy or 503 is down. Unlike the keyword "status":"ok", it survives pretty-printing.
kind = "health"
url = "${{APP_URL:-http://localhost:3000}}/api/health"
interval = "60s"
retry_interval = "20s"
alert_after = 2

[[monitors]]
name = "Homepage"
kind = "http"
url = "${{APP_URL:-http://localhost:3000}}/"
interval = "60s"
alert_after = 2

[[monitors]]
name = "Signup Page"
kind = "http"
url = "${{APP_URL:-http://localhost:3000}}/signup"
interval = "60s"
alert_after = 2

[[monitors]]
name = "Login Page"
kind = "http"
url = "${{APP_URL:-http://localhost:3000}}/login"
interval = "60s"
alert_after = 2

# Other kinds:
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

# Alerts: where they go. Uncomment a channel, set its secret in the environment, and name
# it in a severity's route (or in a rule's notify). `lookout notify test ops` sends a test.
# [channels.ops]
# kind = "slack"
# webhook_url = "${{SLACK_WEBHOOK_URL}}"
#
# [channels.team-email]
# kind = "email"
# host = "smtp.example.org"
# port = 587
# tls = "starttls"
# username = "lookout@example.org"
# password = "${{SMTP_PASSWORD}}"
# from = "lookout@example.org"
# to = ["team@example.org"]
#
# Also: kind = "discord" | "teams" (webhook_url), "pagerduty" (routing_key),
# "webhook" (url, secret = "whsec_…": signed per the Standard Webhooks scheme).

# The severity table: how soon each must be acknowledged before it escalates to the next
# step of its route, and how often an unacknowledged incident is repeated.
[severities.critical]           # act now: site down, database lost, error spike
ack_within = "15m"
renotify = "30m"
route = []                      # e.g. [["ops"], ["ops", "team-email"]]

[severities.high]               # within 1 hour: health degraded, memory > 90 %, TLS in 7 days
ack_within = "1h"
renotify = "2h"
route = []

[severities.medium]             # within 24 hours: memory > 80 %, p95 > 2 s
ack_within = "24h"
renotify = "24h"
route = []

[severities.low]                # watch: new error types
ack_within = "none"
renotify = "none"
route = []

# The reference alert rules. `when` reads like the alert document; see the README for the
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
"#
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sample_loads() {
        let text = super::sample("0123456789abcdef0123456789abcdef");
        let c = lookout_server::Config::parse(&text, "sample", &|_| None).unwrap();
        assert_eq!(c.projects.len(), 1);
        assert_eq!(c.projects[0].id, 1);
        let names: Vec<&str> = c.monitors.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["Health Endpoint", "Homepage", "Signup Page", "Login Page"]
        );
        assert_eq!(
            c.monitors[0].url.as_deref(),
            Some("http://localhost:3000/api/health")
        );
        let rules: Vec<&str> = c.rules.iter().map(|r| r.name.as_str()).collect();
        for r in [
            "Error spike",
            "New issue",
            "Unhandled exception",
            "Site down",
        ] {
            assert!(rules.contains(&r), "{rules:?}");
        }
        assert_eq!(c.severities.len(), 4);
        for r in &c.rules {
            if let Some(rb) = &r.runbook {
                let name = rb.trim_start_matches("runbooks/");
                assert!(super::RUNBOOKS.iter().any(|(n, _)| *n == name), "{rb}");
            }
        }
    }
}
