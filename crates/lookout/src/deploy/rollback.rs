//! Running the rollback steps: in order, each in its directory with its own timeout, the
//! output streamed as it comes, stopping at the first step that fails.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use lookout_core::clock::Clock;
use lookout_core::deploy::{RollbackReport, StepOutcome, StepReport};
use lookout_probe::command::{self, Exit, ShellCommand};

use super::output::Out;

/// Lines of a failed step's output kept for the report.
const TAIL_LINES: usize = 20;

/// One rollback step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The command line; `{commit}` stands for the commit to go back to.
    pub run: String,
    /// Where it runs.
    pub dir: Option<PathBuf>,
    /// How long it may take.
    pub timeout: Duration,
}

/// Runs `steps` with `{commit}` replaced by `to`, printing each step and its output.
pub async fn run(steps: &[Step], to: &str, out: &Out, clock: &dyn Clock) -> RollbackReport {
    let started_at_ms = clock.now_ms();
    let mut reports = Vec::with_capacity(steps.len());
    let mut failed = false;
    for (i, step) in steps.iter().enumerate() {
        let command = step.run.replace("{commit}", to);
        let dir = step.dir.as_ref().map(|d| d.display().to_string());
        if failed {
            reports.push(StepReport {
                command,
                dir,
                outcome: StepOutcome::Skipped,
                exit_code: None,
                reason: Some("not run: an earlier step failed".into()),
                duration_ms: 0,
                output_tail: Vec::new(),
            });
            continue;
        }
        let place = dir
            .as_deref()
            .map(|d| format!("   (in {d})"))
            .unwrap_or_default();
        out.line(&format!("  [{}/{}] $ {command}{place}", i + 1, steps.len()));
        let cmd = ShellCommand {
            script: command.clone(),
            dir: step.dir.clone(),
            timeout: step.timeout,
        };
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
        let started = std::time::Instant::now();
        let exit = command::run(&cmd, |_, line| {
            let text = String::from_utf8_lossy(line);
            out.line(&format!("        | {text}"));
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text.into_owned());
        })
        .await;
        let took = started.elapsed();
        let outcome = match &exit {
            Exit::Code(0) => StepOutcome::Ok,
            Exit::TimedOut(_) => StepOutcome::TimedOut,
            _ => StepOutcome::Failed,
        };
        failed = outcome != StepOutcome::Ok;
        out.line(&format!(
            "        {} in {:.1}s",
            if failed {
                format!("FAILED: {exit}")
            } else {
                "ok".to_string()
            },
            took.as_secs_f64()
        ));
        reports.push(StepReport {
            command,
            dir,
            outcome,
            exit_code: match exit {
                Exit::Code(c) => Some(c),
                _ => None,
            },
            reason: failed.then(|| exit.to_string()),
            duration_ms: took.as_millis() as u64,
            output_tail: if failed { tail.into() } else { Vec::new() },
        });
    }
    RollbackReport {
        started_at_ms,
        to: to.to_string(),
        steps: reports,
    }
}

/// Checks a `--to` value before it is put into shell commands: a commit id, branch, tag or
/// `HEAD~N`, never an option or anything the shell would interpret.
pub fn valid_commit(to: &str) -> Result<(), String> {
    let ok = !to.is_empty()
        && !to.starts_with('-')
        && to
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '~' | '^' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--to {to:?} is not a commit: give a commit id, branch, tag or HEAD~N \
             (letters, digits and . _ / ~ ^ -, not starting with -)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_revisions_reach_the_shell() {
        for ok in ["HEAD~1", "3f9a0c1", "v1.2.0", "release/2024-05", "main^"] {
            assert!(valid_commit(ok).is_ok(), "{ok}");
        }
        for bad in ["", "--hard", "x; rm -rf /", "$(id)", "a b", "`id`"] {
            assert!(valid_commit(bad).is_err(), "{bad}");
        }
    }
}
