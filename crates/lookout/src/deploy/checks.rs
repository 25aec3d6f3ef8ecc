//! Running the checks: all at once, each retried with backoff until it holds or the one
//! overall deadline has passed. An app that boots in 3 s is seen up after about 3 s, one
//! that never boots is given up on at the deadline; nothing sleeps a fixed time.

use std::path::PathBuf;
use std::time::Duration;

use lookout_core::clock::Clock;
use lookout_core::deploy::{CheckKind, CheckReport, Outcome, VerifyReport, CHECK_RETRY};
use lookout_probe::command::{self, Exit, ShellCommand, Stream};
use lookout_probe::pm2::{self, Pm2Reader};
use lookout_probe::{HttpCheck, Status};
use tokio::time::Instant;

/// What a check runs.
#[derive(Debug, Clone)]
pub enum Probe {
    /// A PM2 app: online at two reads `watch` apart, with the same restart count.
    Pm2 {
        /// The app's name in PM2.
        app: String,
        /// How the process list is read.
        reader: Pm2Reader,
        /// The time between the two reads.
        watch: Duration,
    },
    /// `systemctl is-active UNIT`.
    Systemd {
        /// The unit.
        unit: String,
        /// A user unit (`systemctl --user`).
        user: bool,
    },
    /// A shell command that must exit 0.
    Command {
        /// The command line.
        run: String,
        /// Where it runs.
        dir: Option<PathBuf>,
    },
    /// A health endpoint or a page.
    Http(Box<HttpCheck>),
}

/// One check of a verification.
#[derive(Debug, Clone)]
pub struct Check {
    /// What it looks at.
    pub kind: CheckKind,
    /// The app, unit, command or URL.
    pub target: String,
    probe: Probe,
}

/// What one attempt found.
struct Attempt {
    outcome: Outcome,
    summary: String,
}

impl Attempt {
    fn pass(summary: impl Into<String>) -> Self {
        Attempt {
            outcome: Outcome::Pass,
            summary: summary.into(),
        }
    }

    fn fail(summary: impl Into<String>) -> Self {
        Attempt {
            outcome: Outcome::Fail,
            summary: summary.into(),
        }
    }
}

impl Check {
    /// A check of `kind` on `target` (app, unit, command or URL).
    pub fn new(kind: CheckKind, target: String, probe: Probe) -> Self {
        Check {
            kind,
            target,
            probe,
        }
    }

    /// One attempt, each part of it given at most `timeout` and never past `deadline`.
    async fn attempt(&self, deadline: Instant, timeout: Duration) -> Attempt {
        let budget = || {
            deadline
                .saturating_duration_since(Instant::now())
                .min(timeout)
        };
        match &self.probe {
            Probe::Pm2 { app, reader, watch } => {
                let read = |timeout| {
                    let reader = Pm2Reader {
                        timeout,
                        ..reader.clone()
                    };
                    async move { reader.list().await }
                };
                let before = match read(budget()).await {
                    Ok(list) => list,
                    Err(e) => return Attempt::fail(e.to_string()),
                };
                if let Err(problem) = pm2::online(&before, app) {
                    return Attempt::fail(problem.to_string());
                }
                let watched = (*watch).min(deadline.saturating_duration_since(Instant::now()));
                tokio::time::sleep(watched).await;
                let after = match read(budget()).await {
                    Ok(list) => list,
                    Err(e) => return Attempt::fail(e.to_string()),
                };
                match pm2::steady(&before, &after, app, watched) {
                    Ok(health) => Attempt::pass(format!(
                        "{health}; no restart in {}",
                        humantime::format_duration(watched)
                    )),
                    Err(problem) => Attempt::fail(problem.to_string()),
                }
            }
            Probe::Systemd { unit, user } => {
                let script = format!(
                    "systemctl{} is-active {}",
                    if *user { " --user" } else { "" },
                    shell_quote(unit)
                );
                let (exit, state) = run_captured(&script, None, budget()).await;
                match exit {
                    Exit::Code(0) => Attempt::pass(state.unwrap_or_else(|| "active".into())),
                    Exit::Code(127) => Attempt::fail("systemctl is not installed (exit 127)"),
                    Exit::Code(_) => Attempt::fail(format!(
                        "the unit is {}",
                        state.unwrap_or_else(|| "not active".into())
                    )),
                    other => Attempt::fail(format!("`{script}` {other}")),
                }
            }
            Probe::Command { run, dir } => {
                let (exit, last) = run_captured(run, dir.clone(), budget()).await;
                match (exit.success(), last) {
                    (true, _) => Attempt::pass("exited with 0"),
                    (false, Some(line)) => Attempt::fail(format!("{exit}: {line}")),
                    (false, None) => Attempt::fail(exit.to_string()),
                }
            }
            Probe::Http(http) => {
                let mut http = http.as_ref().clone();
                http.timeout = budget();
                // Certificates are judged at the wall time, as `lookout check` does.
                let result = http.run(lookout_core::clock::SystemClock.now_ms()).await;
                let why = result.error.as_ref().map(ToString::to_string);
                match result.status {
                    Status::Up => Attempt::pass(match (&result.detail, result.http_status) {
                        (Some(detail), Some(code)) => format!("HTTP {code}, {detail}"),
                        (None, Some(code)) => format!("HTTP {code}"),
                        (_, None) => "up".to_string(),
                    }),
                    Status::Degraded => Attempt {
                        outcome: Outcome::Warn,
                        summary: why.unwrap_or_else(|| "degraded".into()),
                    },
                    Status::Down => Attempt::fail(why.unwrap_or_else(|| "down".into())),
                }
            }
        }
    }

    /// Attempts the check until it holds or the next attempt would start past `deadline`.
    async fn settle(&self, started: Instant, deadline: Instant, timeout: Duration) -> CheckReport {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt = self.attempt(deadline, timeout).await;
            match CHECK_RETRY.delay(attempts) {
                Some(wait) if !attempt.outcome.passes() && Instant::now() + wait < deadline => {
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    return CheckReport {
                        kind: self.kind,
                        target: self.target.clone(),
                        outcome: attempt.outcome,
                        summary: attempt.summary,
                        attempts,
                        duration_ms: started.elapsed().as_millis() as u64,
                    }
                }
            }
        }
    }
}

/// Runs every check at once against one deadline; the report lists them in `checks` order.
pub async fn verify(
    checks: &[Check],
    deadline: Duration,
    timeout: Duration,
    clock: &dyn Clock,
) -> VerifyReport {
    let started_at_ms = clock.now_ms();
    let started = Instant::now();
    let until = started + deadline;
    let tasks: Vec<_> = checks
        .iter()
        .cloned()
        .map(|check| tokio::spawn(async move { check.settle(started, until, timeout).await }))
        .collect();
    let mut reports = Vec::with_capacity(tasks.len());
    for (task, check) in tasks.into_iter().zip(checks) {
        reports.push(task.await.unwrap_or_else(|e| CheckReport {
            kind: check.kind,
            target: check.target.clone(),
            outcome: Outcome::Fail,
            summary: format!("the check stopped unexpectedly: {e}"),
            attempts: 0,
            duration_ms: started.elapsed().as_millis() as u64,
        }));
    }
    VerifyReport {
        started_at_ms,
        duration_ms: started.elapsed().as_millis() as u64,
        deadline_ms: deadline.as_millis() as u64,
        checks: reports,
    }
}

/// Runs a command and returns how it ended with its last non-empty line of output.
async fn run_captured(
    script: &str,
    dir: Option<PathBuf>,
    timeout: Duration,
) -> (Exit, Option<String>) {
    let cmd = ShellCommand {
        script: script.to_string(),
        dir,
        timeout,
    };
    let mut last = None;
    let exit = command::run(&cmd, |_: Stream, line| {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if !text.is_empty() {
            last = Some(text.chars().take(300).collect());
        }
    })
    .await;
    (exit, last)
}

/// Quotes a word for `sh`, so a unit name is passed as it is.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}
