//! The deploy record: what `deploy verify` tells the lookout server (release, commit,
//! times, each check, the verdict, any rollback), and `--watch`, which waits for the
//! server's verdict on the release after the deploy.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::Args;
use lookout_core::deploy::DeployReport;
use serde_json::{json, Value};

use crate::client::{self, Server, ServerArgs};
use crate::Failure;

/// Longest `--watch` (the server's bound too).
const MAX_WATCH: Duration = Duration::from_secs(24 * 3600);
/// How long after the window's end the server has to judge before `--watch` gives up: it
/// judges on its next pass, within seconds.
const JUDGE_GRACE: Duration = Duration::from_secs(60);

/// What the record says beyond the checks, and `--watch`.
#[derive(Args, Debug, Default)]
pub struct RecordFlags {
    /// The project deployed, for the record [default: deploy.project, else the server's
    /// only project].
    #[arg(long, value_name = "SLUG")]
    project: Option<String>,
    /// The environment deployed to [default: deploy.environment, else production].
    #[arg(long, value_name = "NAME")]
    environment: Option<String>,
    /// The release deployed, as the SDKs send it [default: $SENTRY_RELEASE, else the
    /// commit].
    #[arg(long, value_name = "RELEASE")]
    release: Option<String>,
    /// The commit deployed [default: $GITHUB_SHA, else `git rev-parse HEAD` in the
    /// deploy directory].
    #[arg(long, value_name = "SHA")]
    commit: Option<String>,
    /// A name for the deploy in the record, e.g. the pipeline run.
    #[arg(long = "deploy-name", value_name = "NAME")]
    name: Option<String>,
    /// After the checks pass, wait this long for lookout's verdict on the release (errors,
    /// new issues, unhandled errors, crash-free sessions against before the deploy); a bad
    /// verdict exits 1. Needs the server (--url/--token or LOOKOUT_URL).
    #[arg(long, value_name = "DURATION", value_parser = crate::parse_duration)]
    watch: Option<Duration>,
}

/// A server to record on, with what to record.
pub struct Recorder {
    server: Server,
    project: String,
    environment: String,
    release: String,
    commit: Option<String>,
    name: Option<String>,
    url: Option<String>,
    watch: Option<Duration>,
}

impl RecordFlags {
    /// Whether the verification waits for the watch's verdict.
    pub fn watches(&self) -> bool {
        self.watch.is_some()
    }
}

impl Recorder {
    /// The recorder when a server is named (`--url`, `LOOKOUT_URL`), none otherwise; the
    /// config's `[deploy] project` and `environment` fill what the flags leave.
    pub fn find(
        server: &ServerArgs,
        config: Option<&Path>,
        flags: &RecordFlags,
        defaults: (Option<String>, Option<String>),
        dir: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Recorder>, Failure> {
        if !server.named(env) {
            if flags.watch.is_some() {
                return Err(Failure::Usage(anyhow!(
                    "--watch waits for the lookout server's verdict: name the server with --url (and --token) or LOOKOUT_URL"
                )));
            }
            return Ok(None);
        }
        if flags.watch.is_some_and(|w| w > MAX_WATCH) {
            return Err(Failure::Usage(anyhow!("--watch: at most a day, e.g. 10m")));
        }
        let found = client::resolve(server, config, env)?;
        let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let commit = flags
            .commit
            .clone()
            .or_else(|| var("GITHUB_SHA"))
            .or_else(|| git_head(dir));
        let release = flags
            .release
            .clone()
            .or_else(|| var("SENTRY_RELEASE"))
            .or_else(|| commit.clone())
            .ok_or_else(|| {
                Failure::Usage(anyhow!(
                    "the deploy record needs a release: pass --release (as the SDKs send it), or set SENTRY_RELEASE"
                ))
            })?;
        let (project, environment) = defaults;
        // Asked before the checks run, so a typo is not found after a long verification.
        let project = self::project(&found, flags.project.clone().or(project))?;
        let url = match (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
        ) {
            (Some(s), Some(r), Some(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
            _ => None,
        };
        Ok(Some(Recorder {
            server: found,
            project,
            environment: flags
                .environment
                .clone()
                .or(environment)
                .unwrap_or_else(|| "production".into()),
            release,
            commit,
            name: flags.name.clone(),
            url,
            watch: flags.watch,
        }))
    }

    /// Records the verified deploy; returns its id. The rollback steps' output stays out
    /// of the record: it may hold anything the steps print.
    pub fn record(
        &self,
        report: &DeployReport,
        started_ms: i64,
        finished_ms: i64,
    ) -> Result<i64, Failure> {
        let checks: Vec<&lookout_core::deploy::CheckReport> =
            report.verify.iter().flat_map(|v| v.checks.iter()).collect();
        let rollback = report.rollback.as_ref().map(|rb| {
            json!({
                "to": rb.to,
                "steps": rb.steps.iter().map(|s| json!({
                    "command": s.command,
                    "outcome": s.outcome,
                    "exit_code": s.exit_code,
                    "reason": s.reason,
                    "duration_ms": s.duration_ms,
                })).collect::<Vec<_>>(),
                "checks_after": report.after_rollback.as_ref().map(|a| &a.checks),
            })
        });
        let mut body = json!({
            "project": self.project,
            "release": self.release,
            "environment": self.environment,
            "commit": self.commit,
            "name": self.name,
            "url": self.url,
            "dateStarted": iso(started_ms),
            "dateFinished": iso(finished_ms),
            "verdict": report.verdict.as_str(),
            "checks": checks,
            "rollback": rollback,
        });
        if let Some(w) = self.watch {
            body["watch"] = json!(humantime::format_duration(w).to_string());
        }
        let (status, v) = self
            .server
            .call("/api/v1/deploys", Some(&body))
            .map_err(|e| Failure::Failed(anyhow!("{}: the deploy was not recorded", e.0)))?;
        if status != 201 {
            let detail = v["detail"].as_str().unwrap_or("(no detail)");
            let e = anyhow!("lookout answered {status} to the deploy record: {detail}");
            return Err(if status == 400 || status == 404 {
                Failure::Usage(e)
            } else {
                Failure::Failed(e)
            });
        }
        v["id"]
            .as_i64()
            .ok_or_else(|| Failure::Failed(anyhow!("lookout recorded the deploy without an id")))
    }

    /// Where the record is, for the person reading.
    pub fn describe(&self, id: i64) -> String {
        format!(
            "Recorded deploy #{id} of {} to {} (project {}) on {}",
            self.release, self.environment, self.project, self.server.url
        )
    }

    /// Waits for the watch's verdict on deploy `id`, printing progress with `line`;
    /// `Ok(true)` for good, `Ok(false)` for bad.
    pub fn wait_for_verdict(&self, id: i64, line: &dyn Fn(&str)) -> Result<(bool, Value), Failure> {
        let Some(window) = self.watch else {
            return Err(Failure::Usage(anyhow!("no --watch")));
        };
        line(&format!(
            "Watching release {} for {} after the deploy…",
            self.release,
            humantime::format_duration(window)
        ));
        let give_up = Instant::now() + window + JUDGE_GRACE;
        let path = format!("/api/v1/deploys/{id}");
        loop {
            match self.server.call(&path, None) {
                Ok((200, v)) => match v["watch"]["verdict"].as_str() {
                    Some("good") => return Ok((true, v["watch"].clone())),
                    Some("bad") => return Ok((false, v["watch"].clone())),
                    _ => {}
                },
                Ok((status, v)) => {
                    return Err(Failure::Failed(anyhow!(
                        "lookout answered {status} about deploy #{id}: {}",
                        v["detail"].as_str().unwrap_or("(no detail)")
                    )))
                }
                // A restart of lookout during the window is not the release's fault.
                Err(_) => {}
            }
            if Instant::now() > give_up {
                return Err(Failure::Failed(anyhow!(
                    "lookout gave no verdict on deploy #{id} within {} of its window's end",
                    humantime::format_duration(JUDGE_GRACE)
                )));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// The project named, once the server says it has it; else the server's only project.
pub fn project(server: &Server, named: Option<String>) -> Result<String, Failure> {
    match named {
        Some(p) => known_project(server, p),
        None => only_project(server),
    }
}

/// `project` when the server has it.
fn known_project(server: &Server, project: String) -> Result<String, Failure> {
    let path = format!("/api/v1/projects/{}", client::path_segment(&project));
    let (status, v) = server
        .call(&path, None)
        .map_err(|e| Failure::Failed(anyhow!("{}: the deploy cannot be recorded", e.0)))?;
    match status {
        200 => Ok(project),
        404 => Err(Failure::Usage(anyhow!(
            "lookout has no project `{project}`: check --project (or project in [deploy])"
        ))),
        _ => Err(Failure::Failed(anyhow!(
            "lookout answered {status} when asked for project `{project}`: {}",
            v["detail"].as_str().unwrap_or("(no detail)")
        ))),
    }
}

/// The server's only project, or a usage error naming them.
fn only_project(server: &Server) -> Result<String, Failure> {
    let (status, v) = server
        .call("/api/v1/projects", None)
        .map_err(|e| Failure::Failed(anyhow!("{}: the deploy was not recorded", e.0)))?;
    if status != 200 {
        return Err(Failure::Failed(anyhow!(
            "lookout answered {status} when asked for its projects: {}",
            v["detail"].as_str().unwrap_or("(no detail)")
        )));
    }
    let slugs: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["slug"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    match slugs.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(Failure::Usage(anyhow!(
            "which project was deployed? pass --project (or set project in [deploy]); the server has {}",
            if slugs.is_empty() { "none".to_string() } else { slugs.join(", ") }
        ))),
    }
}

/// `git rev-parse HEAD` in `dir`, if it is a git checkout.
fn git_head(dir: Option<&Path>) -> Option<String> {
    let mut git = std::process::Command::new("git");
    git.args(["rev-parse", "HEAD"]);
    if let Some(d) = dir {
        git.current_dir(d);
    }
    let out = git.stderr(std::process::Stdio::null()).output().ok()?;
    let sha = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !sha.is_empty()).then_some(sha)
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
