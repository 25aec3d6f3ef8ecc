//! The watch after each deploy: once a deploy's window has passed, its release is judged
//! (`lookout_core::deploy_watch`), the verdict stored once (several instances may look),
//! and on a bad verdict the rollback hook runs: a command on this host and/or a webhook
//! the pipeline listens to.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_core::clock::Clock;
use lookout_core::deploy_watch::{self, Judgement, Thresholds};
use lookout_store::{Deploy, Store};

use super::config::WatchConfig;

/// How often the watch looks for deploys whose window has passed.
const POLL: Duration = Duration::from_secs(1);

/// What the watch works with.
pub struct Watcher {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// `[deploy.watch]`.
    pub config: WatchConfig,
    /// The fleet: one instance at a time judges (the `deploys` duty).
    pub cluster: Arc<crate::cluster::Cluster>,
}

/// Judges deploys as their windows pass, until the task is aborted.
pub async fn run(watcher: Arc<Watcher>) {
    loop {
        tokio::time::sleep(POLL).await;
        if !watcher.cluster.holds(crate::cluster::DEPLOYS) {
            continue;
        }
        let w = watcher.clone();
        let _ = tokio::task::spawn_blocking(move || w.pass()).await;
    }
}

impl Watcher {
    /// Judges every deploy whose window has passed; returns how many this call judged.
    pub fn pass(&self) -> usize {
        let now = self.clock.now_ms();
        let due = match self.store.watches_due(now) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the deploys to judge");
                return 0;
            }
        };
        due.iter().filter(|d| self.judge(d)).count()
    }

    fn thresholds(&self) -> Thresholds {
        let c = &self.config;
        Thresholds {
            error_rate_factor: c.error_rate_factor,
            min_errors: c.min_errors,
            max_new_issues: c.max_new_issues,
            max_unhandled: c.max_unhandled,
            min_crash_free_percent: c.min_crash_free_percent,
            min_sessions: c.min_sessions,
        }
    }

    /// Judges one deploy; true when this call stored the verdict.
    fn judge(&self, d: &Deploy) -> bool {
        let Some(until) = d.watch_until_ms else {
            return false;
        };
        let from = d.finished_ms.unwrap_or(d.started_ms).min(until);
        let judged = self
            .store
            .watch_counts(d, from, until)
            .map(|counts| deploy_watch::judge(&counts, &self.thresholds()))
            .and_then(|j| {
                let verdict = if j.bad { "bad" } else { "good" };
                let figures = serde_json::to_value(&j).unwrap_or_default();
                Ok((self.store.judge_deploy(d.id, verdict, &figures)?, j))
            });
        let j = match judged {
            Ok((true, j)) => j,
            Ok((false, _)) => return false,
            Err(e) => {
                tracing::warn!(deploy = d.id, error = %e, "cannot judge the deploy");
                return false;
            }
        };
        if j.bad {
            tracing::warn!(
                deploy = d.id,
                release = %d.release,
                environment = %d.environment,
                reasons = %j.reasons.join("; "),
                "the release looks bad after its deploy"
            );
            self.rollback(d, &j);
        } else {
            tracing::info!(deploy = d.id, release = %d.release, "the release looks good after its deploy");
        }
        true
    }

    /// Runs the rollback hook, if one is configured: the command, then the webhook.
    fn rollback(&self, d: &Deploy, j: &Judgement) {
        let timeout = self.config.rollback_timeout;
        if let Some(cmd) = &self.config.rollback_command {
            match run_command(cmd, d, timeout) {
                Ok(()) => tracing::info!(deploy = d.id, "the rollback command ran"),
                Err(e) => tracing::error!(deploy = d.id, error = %e, "the rollback command failed"),
            }
        }
        if let Some(url) = &self.config.rollback_webhook {
            match post_webhook(url, d, j, timeout) {
                Ok(status) => {
                    tracing::info!(deploy = d.id, status, "the rollback webhook was called")
                }
                Err(e) => tracing::error!(deploy = d.id, error = %e, "the rollback webhook failed"),
            }
        }
    }
}

/// `sh -c CMD` with the deploy in `LOOKOUT_DEPLOY_*`, its output going where lookout's
/// goes, killed after `timeout`.
fn run_command(cmd: &str, d: &Deploy, timeout: Duration) -> Result<(), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("LOOKOUT_DEPLOY_ID", d.id.to_string())
        .env("LOOKOUT_DEPLOY_RELEASE", &d.release)
        .env("LOOKOUT_DEPLOY_ENVIRONMENT", &d.environment)
        .env("LOOKOUT_DEPLOY_PROJECT_ID", d.project_id.to_string())
        .env("LOOKOUT_DEPLOY_COMMIT", d.commit.as_deref().unwrap_or(""))
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start `sh -c {cmd}`: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("`{cmd}` exited with {status}")),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{cmd}` ran longer than {} and was stopped",
                    humantime::format_duration(timeout)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("cannot wait for `{cmd}`: {e}")),
        }
    }
}

/// POSTs the verdict to the webhook; the status of a 2xx answer.
fn post_webhook(url: &str, d: &Deploy, j: &Judgement, timeout: Duration) -> Result<u16, String> {
    let body = serde_json::json!({
        "event": "deploy.bad",
        "deploy": {
            "id": d.id,
            "project_id": d.project_id,
            "release": d.release,
            "environment": d.environment,
            "commit": d.commit,
        },
        "verdict": "bad",
        "figures": j,
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    let resp = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body.to_string())
        .map_err(|e| format!("cannot reach the rollback webhook: {e}"))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(format!("the rollback webhook answered {status}"))
    }
}
