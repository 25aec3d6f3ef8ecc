//! Deploy verification as data: what each check found after its retries, what a rollback
//! did, and the verdict with its exit code. The CLI runs the checks and the steps; the
//! decisions are made here, from the reports alone, so the server can later store and judge
//! the same reports (they serialise both ways).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backoff::Backoff;
use crate::exit;

/// What a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A PM2 app: online, and its restart count steady.
    Pm2,
    /// A systemd unit: `systemctl is-active`.
    Systemd,
    /// Any command that must exit 0.
    Command,
    /// A health endpoint.
    Health,
    /// A page: expected status, optional keyword.
    Page,
}

impl CheckKind {
    /// The name used in config, output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Pm2 => "pm2",
            CheckKind::Systemd => "systemd",
            CheckKind::Command => "command",
            CheckKind::Health => "health",
            CheckKind::Page => "page",
        }
    }
}

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It held.
    Pass,
    /// It held with a warning (a degraded health document): the deploy still passes.
    Warn,
    /// It did not hold by the deadline.
    Fail,
}

impl Outcome {
    /// Whether the deploy may pass with this outcome.
    pub fn passes(self) -> bool {
        self != Outcome::Fail
    }
}

/// One check, after its last attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// What it looks at.
    pub kind: CheckKind,
    /// The app, unit, command or URL.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What the last attempt found, in words: why it failed or warned, or what held.
    pub summary: String,
    /// Attempts made (1 when the first one held).
    pub attempts: u32,
    /// From the start of verification to the last attempt's end.
    pub duration_ms: u64,
}

impl CheckReport {
    /// `kind target`, as the check is named in output.
    pub fn name(&self) -> String {
        format!("{} {}", self.kind.as_str(), self.target)
    }
}

/// One run of all checks against one deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// When it started, Unix milliseconds.
    pub started_at_ms: i64,
    /// How long it took.
    pub duration_ms: u64,
    /// The deadline the checks had.
    pub deadline_ms: u64,
    /// Each check, in the order they were given.
    pub checks: Vec<CheckReport>,
}

impl VerifyReport {
    /// Whether the deploy passes: at least one check, and none failed.
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.outcome.passes())
    }

    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &CheckReport> {
        self.checks.iter().filter(|c| !c.outcome.passes())
    }
}

/// How one rollback step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// It exited 0.
    Ok,
    /// It exited with another code, was killed by a signal, or could not start.
    Failed,
    /// It ran longer than its timeout and was killed.
    TimedOut,
    /// An earlier step failed, so it was not run.
    Skipped,
}

/// One rollback step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The command as run (with `{commit}` filled in).
    pub command: String,
    /// The directory it ran in.
    pub dir: Option<String>,
    /// How it ended.
    pub outcome: StepOutcome,
    /// Its exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Why it failed, in words.
    pub reason: Option<String>,
    /// How long it ran.
    pub duration_ms: u64,
    /// Its last lines of output, kept when it failed.
    pub output_tail: Vec<String>,
}

/// The rollback steps, run in order until the first failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackReport {
    /// When the first step started, Unix milliseconds.
    pub started_at_ms: i64,
    /// The commit the steps were given for `{commit}`.
    pub to: String,
    /// Each step, skipped ones included.
    pub steps: Vec<StepReport>,
}

impl RollbackReport {
    /// Whether every step ran and exited 0.
    pub fn succeeded(&self) -> bool {
        self.steps.iter().all(|s| s.outcome == StepOutcome::Ok)
    }

    /// The step that failed, if any.
    pub fn failed_step(&self) -> Option<(usize, &StepReport)> {
        self.steps
            .iter()
            .enumerate()
            .find(|(_, s)| matches!(s.outcome, StepOutcome::Failed | StepOutcome::TimedOut))
    }
}

/// The verdict on a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check held.
    Passed,
    /// A check failed and nothing was rolled back.
    Failed,
    /// The rollback ran and the checks held after it.
    RolledBack,
    /// A rollback step failed, or the checks failed after the rollback too.
    RollbackFailed,
}

impl Verdict {
    /// The name used in output, JSON and `$GITHUB_OUTPUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::RolledBack => "rolled_back",
            Verdict::RollbackFailed => "rollback_failed",
        }
    }
}

/// A deploy's verification, its rollback if one ran, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployReport {
    /// The verdict.
    pub verdict: Verdict,
    /// The checks after the deploy; `None` for a rollback by hand.
    pub verify: Option<VerifyReport>,
    /// The rollback, when one ran.
    pub rollback: Option<RollbackReport>,
    /// The checks after the rollback; `None` when a step failed or no checks are set up.
    pub after_rollback: Option<VerifyReport>,
}

impl DeployReport {
    /// The verdict on a deploy's checks, before any rollback.
    pub fn verified(verify: VerifyReport) -> Self {
        let verdict = if verify.passed() {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
        DeployReport {
            verdict,
            verify: Some(verify),
            rollback: None,
            after_rollback: None,
        }
    }

    /// The verdict after the rollback of a failed deploy: rolled back when every step
    /// succeeded and the checks held after it, else the rollback failed.
    pub fn rolled_back(self, rollback: RollbackReport, after: Option<VerifyReport>) -> Self {
        let healthy = after.as_ref().is_some_and(VerifyReport::passed);
        DeployReport {
            verdict: rollback_verdict(&rollback, healthy),
            rollback: Some(rollback),
            after_rollback: after,
            ..self
        }
    }

    /// The verdict on a rollback run by hand. With no checks set up (`after` is `None`)
    /// the steps alone decide, since there is nothing to verify.
    pub fn manual_rollback(
        rollback: RollbackReport,
        after: Option<VerifyReport>,
        has_checks: bool,
    ) -> Self {
        let healthy = match &after {
            Some(v) => v.passed(),
            None => !has_checks,
        };
        DeployReport {
            verdict: rollback_verdict(&rollback, healthy),
            verify: None,
            rollback: Some(rollback),
            after_rollback: after,
        }
    }

    /// The exit code of the verdict, from [`crate::exit`]. A rollback by hand that ended
    /// healthy did what was asked, so it exits 0; after a failed deploy the same verdict
    /// exits 2.
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            Verdict::Passed => exit::OK,
            Verdict::Failed => exit::FAILED,
            Verdict::RolledBack if self.verify.is_none() => exit::OK,
            Verdict::RolledBack => exit::DOWN,
            Verdict::RollbackFailed => exit::ROLLBACK_FAILED,
        }
    }
}

/// Rolled back when every step succeeded and the app is healthy after them.
fn rollback_verdict(rollback: &RollbackReport, healthy: bool) -> Verdict {
    if rollback.succeeded() && healthy {
        Verdict::RolledBack
    } else {
        Verdict::RollbackFailed
    }
}

/// The waits between attempts of a check: 250 ms doubling up to 5 s, so a fast boot is
/// noticed at once and a slow one is not hammered; the deadline, not a count, ends them.
pub const CHECK_RETRY: Backoff = Backoff {
    base: Duration::from_millis(250),
    cap: Duration::from_secs(5),
    max_attempts: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CheckKind, outcome: Outcome) -> CheckReport {
        CheckReport {
            kind,
            target: "t".into(),
            outcome,
            summary: String::new(),
            attempts: 1,
            duration_ms: 1,
        }
    }

    fn verify(outcomes: &[Outcome]) -> VerifyReport {
        VerifyReport {
            started_at_ms: 0,
            duration_ms: 1,
            deadline_ms: 60_000,
            checks: outcomes
                .iter()
                .map(|&o| check(CheckKind::Health, o))
                .collect(),
        }
    }

    fn rollback(outcomes: &[StepOutcome]) -> RollbackReport {
        RollbackReport {
            started_at_ms: 0,
            to: "HEAD~1".into(),
            steps: outcomes
                .iter()
                .map(|&outcome| StepReport {
                    command: "x".into(),
                    dir: None,
                    outcome,
                    exit_code: None,
                    reason: None,
                    duration_ms: 0,
                    output_tail: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn warnings_pass_failures_fail_and_no_checks_is_no_pass() {
        let r = DeployReport::verified(verify(&[Outcome::Pass, Outcome::Warn]));
        assert_eq!((r.verdict, r.exit_code()), (Verdict::Passed, 0));
        let r = DeployReport::verified(verify(&[Outcome::Pass, Outcome::Fail]));
        assert_eq!((r.verdict, r.exit_code()), (Verdict::Failed, 1));
        assert_eq!(r.verify.as_ref().unwrap().failed().count(), 1);
        assert!(!verify(&[]).passed());
    }

    #[test]
    fn a_rollback_counts_only_when_every_step_ran_and_the_checks_held_after() {
        let failed = || DeployReport::verified(verify(&[Outcome::Fail]));
        let ok = [StepOutcome::Ok, StepOutcome::Ok];
        let r = failed().rolled_back(rollback(&ok), Some(verify(&[Outcome::Pass])));
        assert_eq!((r.verdict, r.exit_code()), (Verdict::RolledBack, 2));

        let r = failed().rolled_back(rollback(&ok), Some(verify(&[Outcome::Fail])));
        assert_eq!((r.verdict, r.exit_code()), (Verdict::RollbackFailed, 4));

        let broken = rollback(&[StepOutcome::Ok, StepOutcome::Failed, StepOutcome::Skipped]);
        assert_eq!(broken.failed_step().map(|(i, _)| i), Some(1));
        let r = failed().rolled_back(broken, None);
        assert_eq!((r.verdict, r.exit_code()), (Verdict::RollbackFailed, 4));

        let timed_out = rollback(&[StepOutcome::TimedOut]);
        let r = failed().rolled_back(timed_out, Some(verify(&[Outcome::Pass])));
        assert_eq!(r.verdict, Verdict::RollbackFailed);
    }

    #[test]
    fn a_rollback_by_hand_exits_0_when_healthy() {
        let ok = || rollback(&[StepOutcome::Ok]);
        let r = DeployReport::manual_rollback(ok(), Some(verify(&[Outcome::Pass])), true);
        assert_eq!((r.verdict, r.exit_code()), (Verdict::RolledBack, 0));
        let r = DeployReport::manual_rollback(ok(), None, false);
        assert_eq!((r.verdict, r.exit_code()), (Verdict::RolledBack, 0));
        let r = DeployReport::manual_rollback(ok(), Some(verify(&[Outcome::Fail])), true);
        assert_eq!((r.verdict, r.exit_code()), (Verdict::RollbackFailed, 4));
        let r = DeployReport::manual_rollback(rollback(&[StepOutcome::Failed]), None, true);
        assert_eq!((r.verdict, r.exit_code()), (Verdict::RollbackFailed, 4));
    }

    #[test]
    fn reports_round_trip_through_json() {
        let r = DeployReport::verified(verify(&[Outcome::Fail]))
            .rolled_back(rollback(&[StepOutcome::Ok]), Some(verify(&[Outcome::Warn])));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["verdict"], "rolled_back");
        assert_eq!(json["verify"]["checks"][0]["kind"], "health");
        assert_eq!(json["after_rollback"]["checks"][0]["outcome"], "warn");
        assert_eq!(json["rollback"]["steps"][0]["outcome"], "ok");
        let back: DeployReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn retries_back_off_from_250ms_to_5s() {
        let ms = |n| CHECK_RETRY.delay(n).map(|d| d.as_millis());
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(5), ms(6), ms(50)],
            [250, 500, 1000, 4000, 5000, 5000].map(Some)
        );
        assert_eq!(ms(0), None, "no wait before the first attempt");
    }
}
