//! The watch after each deploy: once a deploy's window has passed, its release is judged
//! (`lookout_core::deploy_watch`), the verdict stored once (several instances may look),
//! and on a bad verdict a `deploy_bad` signal is recorded with it (the alert rules'
//! `bad deploy` condition) and the rollback hook runs: a command on this host and/or a
//! webhook the pipeline listens to. The hook runs on its own thread, so a slow one holds
//! up no other deploy's verdict; how it went is added to the deploy's figures.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_core::clock::Clock;
use lookout_core::deploy_watch::{self, Judgement, Thresholds};
use lookout_core::signal::{Signal, SignalKind};
use lookout_store::{Deploy, Store};

use super::config::WatchConfig;
use crate::bus::SignalSender;

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
    /// Wakes the alert loop when a bad verdict's signal is stored (it would find it at
    /// its next poll anyway).
    pub signals: SignalSender,
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
        let mut signal = None;
        let judged = self
            .store
            .watch_counts(d, from, until)
            .map(|counts| deploy_watch::judge(&counts, &self.thresholds()))
            .and_then(|j| {
                let verdict = if j.bad { "bad" } else { "good" };
                let figures = serde_json::to_value(&j).unwrap_or_default();
                signal = j.bad.then(|| bad_signal(d, &j, self.clock.now_ms()));
                let stored =
                    self.store
                        .judge_deploy_signalling(d.id, verdict, &figures, signal.as_mut())?;
                Ok((stored, j, figures))
            });
        let (j, figures) = match judged {
            Ok((true, j, figures)) => (j, figures),
            Ok((false, ..)) => return false,
            Err(e) => {
                tracing::warn!(deploy = d.id, error = %e, "cannot judge the deploy");
                return false;
            }
        };
        if !j.bad {
            tracing::info!(deploy = d.id, release = %d.release, "the release looks good after its deploy");
            return true;
        }
        tracing::warn!(
            deploy = d.id,
            release = %d.release,
            environment = %d.environment,
            reasons = %j.reasons.join("; "),
            "the release looks bad after its deploy"
        );
        if let Some(s) = signal {
            // No receiver (the alert loop not started yet) is fine: it reads the store.
            let _ = self.signals.send(s);
        }
        if self.config.rollback_command.is_some() || self.config.rollback_webhook.is_some() {
            let hook = Hook {
                store: self.store.clone(),
                config: self.config.clone(),
                deploy: d.clone(),
                judgement: j,
                figures,
            };
            let spawned = std::thread::Builder::new()
                .name(format!("rollback-hook-{}", d.id))
                .spawn(move || hook.run());
            if let Err(e) = spawned {
                tracing::error!(deploy = d.id, error = %e, "cannot start the rollback hook");
            }
        }
        true
    }
}

/// The `deploy_bad` signal of a bad verdict: the release, where and why, for the
/// incident's title and its notifications.
fn bad_signal(d: &Deploy, j: &Judgement, now_ms: i64) -> Signal {
    Signal {
        id: 0,
        kind: SignalKind::DeployBad,
        project_id: Some(d.project_id),
        issue_id: None,
        event_id: None,
        monitor_id: None,
        detail: Some(format!(
            "{} in {} (deploy #{}): {}",
            d.release,
            d.environment,
            d.id,
            j.reasons.join("; ")
        )),
        created_ms: now_ms,
    }
}

/// The rollback hook of one bad verdict, run on its own thread.
struct Hook {
    store: Arc<dyn Store>,
    config: WatchConfig,
    deploy: Deploy,
    judgement: Judgement,
    /// The stored figures, to which the hook's outcome is added.
    figures: serde_json::Value,
}

impl Hook {
    /// Runs the command, then the webhook, each within the timeout, and stores how each
    /// went under `rollback_hook` in the deploy's figures (the API shows them), so a hook
    /// that failed or hung is seen where the verdict is, not only in the log.
    fn run(mut self) {
        let d = &self.deploy;
        let timeout = self.config.rollback_timeout;
        let mut outcome = serde_json::Map::new();
        // Neither the command nor the URL is stored: either may carry a secret.
        let mut report = |what: &str, result: Result<String, String>| {
            let entry = match result {
                Ok(summary) => {
                    tracing::info!(deploy = d.id, hook = what, %summary, "the rollback hook ran");
                    serde_json::json!({"outcome": "ok", "summary": summary})
                }
                Err(e) => {
                    tracing::error!(deploy = d.id, hook = what, error = %e, "the rollback hook failed");
                    serde_json::json!({"outcome": "failed", "summary": e})
                }
            };
            outcome.insert(what.to_string(), entry);
        };
        if let Some(cmd) = &self.config.rollback_command {
            let result = run_command(cmd, d, timeout).map(|()| "exited 0".to_string());
            report("command", result);
        }
        if let Some(url) = &self.config.rollback_webhook {
            let result =
                post_webhook(url, d, &self.judgement, timeout).map(|s| format!("answered {s}"));
            report("webhook", result);
        }
        if let Some(figures) = self.figures.as_object_mut() {
            figures.insert("rollback_hook".into(), serde_json::Value::Object(outcome));
        }
        if let Err(e) = self.store.set_watch_figures(d.id, &self.figures) {
            tracing::warn!(deploy = d.id, error = %e, "cannot store how the rollback hook went");
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
