//! GitHub Actions, detected from its environment (`GITHUB_ACTIONS=true`): an `::error::`
//! annotation per failed check or step (the caller prints them, on stderr with `--json`,
//! as the runner reads workflow commands from stdout and stderr alike), a Markdown summary
//! appended to `$GITHUB_STEP_SUMMARY`, and the verdicts and the exit code in
//! `$GITHUB_OUTPUT` for later steps.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use lookout_core::deploy::{
    CheckReport, DeployReport, Outcome, RollbackReport, StepOutcome, Verdict, VerifyReport,
};

use super::output::{attempts_note, failures, secs};

/// The files of a GitHub Actions step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHub {
    summary: Option<PathBuf>,
    output: Option<PathBuf>,
}

impl GitHub {
    /// The step's files, when running in GitHub Actions.
    pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> Option<GitHub> {
        if env("GITHUB_ACTIONS").as_deref() != Some("true") {
            return None;
        }
        let path = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        Some(GitHub {
            summary: path("GITHUB_STEP_SUMMARY"),
            output: path("GITHUB_OUTPUT"),
        })
    }

    /// Appends the summary and the outputs to the step's files, once the run's end (the
    /// watch, the exit code) is known, so `exit-code` is the process's.
    pub fn write(&self, report: &DeployReport, end: &Ending) -> std::io::Result<()> {
        if let Some(path) = &self.summary {
            append(path, &summary(report, end))?;
        }
        if let Some(path) = &self.output {
            append(path, &outputs(report, end))?;
        }
        Ok(())
    }

    /// Adds the gate's answer: `gate_verdict` and `gate` (JSON) in the outputs and a line
    /// in the summary. Its annotation is [`gate_annotation`], printed by the caller.
    pub fn write_gate(
        &self,
        g: &lookout_core::deploy_watch::Gate,
        what: &str,
        line: &str,
    ) -> std::io::Result<()> {
        if let Some(path) = &self.summary {
            append(path, &format!("\n**Release gate** ({what}): {line}\n"))?;
        }
        if let Some(path) = &self.output {
            append(
                path,
                &format!(
                    "gate_verdict={}\ngate={}\n",
                    g.verdict.as_str(),
                    super::gate::output_value(g)
                ),
            )?;
        }
        Ok(())
    }
}

/// How a `deploy verify` ended beyond its checks, for the step's files.
pub struct Ending<'a> {
    /// The process's exit code.
    pub exit_code: u8,
    /// The watch's verdict (good or not) and its sentence, when it judged.
    pub watch: Option<(bool, String)>,
    /// The report as `--json` prints it.
    pub document: &'a serde_json::Value,
}

/// The annotation of a bad watch verdict.
pub fn watch_annotation(line: &str) -> String {
    command("error", "Release watch", line)
}

/// The gate's annotation unless it passed: an error on a fail, a warning on not enough
/// data.
pub fn gate_annotation(g: &lookout_core::deploy_watch::Gate, line: &str) -> Option<String> {
    use lookout_core::deploy_watch::GateVerdict;
    match g.verdict {
        GateVerdict::Fail => Some(command("error", "Release gate", line)),
        GateVerdict::NotEnoughData => Some(command("warning", "Release gate", line)),
        GateVerdict::Pass => None,
    }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Workflow commands: errors for failed checks and steps, warnings for checks that passed
/// with a warning.
pub fn annotations(report: &DeployReport) -> Vec<String> {
    let mut lines = Vec::new();
    let mut checks = |v: &VerifyReport, stage: &str| {
        for c in &v.checks {
            let kind = match c.outcome {
                Outcome::Pass => continue,
                Outcome::Warn => "warning",
                Outcome::Fail => "error",
            };
            let title = format!("{stage}: {} {}", c.kind.as_str(), outcome_word(c.outcome));
            let message = format!("{}: {}{}", c.name(), c.summary, attempts_note(c));
            lines.push(command(kind, &title, &message));
        }
    };
    if let Some(v) = &report.verify {
        checks(v, "Deploy check");
    }
    if let Some(v) = &report.after_rollback {
        checks(v, "Check after rollback");
    }
    if let Some((i, step)) = report
        .rollback
        .as_ref()
        .and_then(RollbackReport::failed_step)
    {
        let message = format!(
            "step {} `{}` {}",
            i + 1,
            step.command,
            step.reason.as_deref().unwrap_or("failed")
        );
        lines.push(command("error", "Rollback step failed", &message));
    }
    if report.verdict == Verdict::RolledBack {
        if let Some(rb) = &report.rollback {
            let message = format!("rolled back to {}; the checks held after it", rb.to);
            lines.push(command("notice", "Deploy rolled back", &message));
        }
    }
    lines
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "passed",
        Outcome::Warn => "warning",
        Outcome::Fail => "failed",
    }
}

/// `::kind title=…::message`, escaped as the runner expects.
fn command(kind: &str, title: &str, message: &str) -> String {
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    format!("::{kind} title={}::{}", property(title), data(message))
}

/// `verdict` (the checks'), `exit-code` (the process's), `failed-checks`, the whole
/// `report` as `--json` prints it, and `watch_verdict` when the watch judged.
fn outputs(report: &DeployReport, end: &Ending) -> String {
    let failed: Vec<String> = report
        .verify
        .iter()
        .chain(&report.after_rollback)
        .flat_map(|v| v.failed().map(CheckReport::name))
        .collect();
    let json = end.document.to_string();
    let mut out = format!(
        "verdict={}\nexit-code={}\n",
        report.verdict.as_str(),
        end.exit_code
    );
    // Multi-line-safe form for values from the checks (URLs and commands may hold anything).
    let delimiter = format!("lookout_{}", uuid::Uuid::new_v4().simple());
    for (key, value) in [("failed-checks", failed.join("\n")), ("report", json)] {
        let _ = write!(out, "{key}<<{delimiter}\n{value}\n{delimiter}\n");
    }
    if let Some((good, _)) = &end.watch {
        let _ = writeln!(out, "watch_verdict={}", if *good { "good" } else { "bad" });
    }
    out
}

fn summary(report: &DeployReport, end: &Ending) -> String {
    let (icon, title) = match report.verdict {
        Verdict::Passed => ("✅", "Deploy verified"),
        Verdict::Failed => ("❌", "Deploy failed its checks"),
        Verdict::RolledBack => ("↩️", "Deploy rolled back"),
        Verdict::RollbackFailed => ("🔥", "Rollback failed"),
    };
    let mut md = format!("### {icon} {title}\n\n");
    if let Some(v) = &report.verify {
        if !v.passed() {
            let _ = writeln!(md, "{}.\n", failures(v));
        }
        md.push_str(&checks_table(
            v,
            &format!("Checks (deadline {})", secs(v.deadline_ms)),
        ));
    }
    if let Some(rb) = &report.rollback {
        let _ = writeln!(md, "#### Rollback to `{}`\n", cell(&rb.to));
        md.push_str("| | Step | Result | Took |\n|---|---|---|---|\n");
        for s in &rb.steps {
            let (icon, result) = match s.outcome {
                StepOutcome::Ok => ("✅", "ok".to_string()),
                StepOutcome::Skipped => ("⏭️", "not run".to_string()),
                _ => ("❌", s.reason.clone().unwrap_or_default()),
            };
            let _ = writeln!(
                md,
                "| {icon} | `{}` | {} | {} |",
                cell(&s.command),
                cell(&result),
                secs(s.duration_ms)
            );
        }
        md.push('\n');
        if let Some((_, step)) = rb.failed_step().filter(|(_, s)| !s.output_tail.is_empty()) {
            let _ = write!(
                md,
                "<details><summary>Last lines of `{}`</summary>\n\n```\n{}\n```\n</details>\n\n",
                cell(&step.command),
                step.output_tail.join("\n").replace("```", "'''")
            );
        }
    }
    if let Some(v) = &report.after_rollback {
        md.push_str(&checks_table(v, "Checks after the rollback"));
    }
    if let Some((_, line)) = &end.watch {
        let _ = writeln!(md, "**Watch after the deploy:** {line}\n");
    }
    let _ = writeln!(md, "Exit code {}.\n", end.exit_code);
    md
}

fn checks_table(v: &VerifyReport, heading: &str) -> String {
    let mut md = format!("#### {heading}\n\n| | Check | Result | Took |\n|---|---|---|---|\n");
    for c in &v.checks {
        let icon = match c.outcome {
            Outcome::Pass => "✅",
            Outcome::Warn => "⚠️",
            Outcome::Fail => "❌",
        };
        let _ = writeln!(
            md,
            "| {icon} | {} `{}` | {} | {}{} |",
            c.kind.as_str(),
            cell(&c.target),
            cell(&c.summary),
            secs(c.duration_ms),
            attempts_note(c)
        );
    }
    md.push('\n');
    md
}

/// Text safe inside a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_core::deploy::CheckKind;

    fn failed_report() -> DeployReport {
        DeployReport::verified(VerifyReport {
            started_at_ms: 0,
            duration_ms: 2_000,
            deadline_ms: 2_000,
            checks: vec![CheckReport {
                kind: CheckKind::Page,
                target: "http://127.0.0.1:3000/a|b".into(),
                outcome: Outcome::Fail,
                summary: "unexpected HTTP status 500 (expected 200-299)\nsecond line".into(),
                attempts: 4,
                duration_ms: 2_000,
            }],
        })
    }

    #[test]
    fn annotations_are_escaped() {
        let lines = annotations(&failed_report());
        assert_eq!(
            lines,
            vec![
                "::error title=Deploy check%3A page failed::page http://127.0.0.1:3000/a|b: \
                 unexpected HTTP status 500 (expected 200-299)%0Asecond line [4 attempts]"
            ]
        );
    }

    /// The step's files as a run without a watch ends them: the report's own exit code.
    fn plain_ending(report: &DeployReport, document: &serde_json::Value) -> String {
        let end = Ending {
            exit_code: report.exit_code(),
            watch: None,
            document,
        };
        outputs(report, &end)
    }

    #[test]
    fn outputs_hold_the_verdict_and_the_report() {
        let document = serde_json::json!({"exit_code": 1, "verdict": "failed"});
        let out = plain_ending(&failed_report(), &document);
        assert!(
            out.starts_with("verdict=failed\nexit-code=1\nfailed-checks<<lookout_"),
            "{out}"
        );
        let report_line = out
            .lines()
            .skip_while(|l| !l.starts_with("report<<"))
            .nth(1)
            .unwrap();
        let back: serde_json::Value = serde_json::from_str(report_line).unwrap();
        assert_eq!(back, document);
        assert!(!out.contains("watch_verdict"), "{out}");
    }

    /// Checks that passed and a watch that judged the release bad: `verdict` stays the
    /// checks', `exit-code` is the process's 1, and the watch has its own output and line.
    #[test]
    fn after_a_bad_watch_the_exit_code_is_the_processes() {
        let mut passed = failed_report();
        passed.verify.as_mut().unwrap().checks[0].outcome = Outcome::Pass;
        passed.verdict = Verdict::Passed;
        assert_eq!(passed.exit_code(), 0);
        let document = serde_json::json!({"exit_code": 1});
        let end = Ending {
            exit_code: 1,
            watch: Some((false, "The release looks BAD after the deploy: …".into())),
            document: &document,
        };
        let out = outputs(&passed, &end);
        assert!(out.starts_with("verdict=passed\nexit-code=1\n"), "{out}");
        assert!(out.ends_with("\nwatch_verdict=bad\n"), "{out}");
        let md = summary(&passed, &end);
        assert!(
            md.ends_with(
                "**Watch after the deploy:** The release looks BAD after the deploy: …\n\n\
                 Exit code 1.\n\n"
            ),
            "{md}"
        );
    }

    #[test]
    fn the_summary_is_a_markdown_table() {
        let report = failed_report();
        let document = serde_json::Value::Null;
        let end = Ending {
            exit_code: report.exit_code(),
            watch: None,
            document: &document,
        };
        let md = summary(&report, &end);
        assert!(md.starts_with("### ❌ Deploy failed its checks"), "{md}");
        assert!(md.contains("| ❌ | page `http://127.0.0.1:3000/a\\|b` | unexpected HTTP status 500 (expected 200-299) second line | 2.0s [4 attempts] |"), "{md}");
        assert!(md.contains("Exit code 1."), "{md}");
    }

    #[test]
    fn detected_only_in_actions() {
        let env = |k: &str| match k {
            "GITHUB_ACTIONS" => Some("true".to_string()),
            "GITHUB_OUTPUT" => Some("out.txt".to_string()),
            _ => None,
        };
        assert_eq!(
            GitHub::detect(&env),
            Some(GitHub {
                summary: None,
                output: Some(PathBuf::from("out.txt"))
            })
        );
        assert_eq!(GitHub::detect(&|_| None), None);
    }
}
