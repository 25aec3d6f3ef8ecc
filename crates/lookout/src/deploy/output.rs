//! What a person reads: each check with pass, warn or fail, how long it took and why, then
//! one verdict line. With `--json`, stdout carries only the report and this progress goes
//! to stderr.

use lookout_core::deploy::{CheckReport, DeployReport, Outcome, Verdict, VerifyReport};

/// Where progress lines go.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    json: bool,
}

impl Out {
    /// Progress on stdout, or on stderr when stdout is for `--json`.
    pub fn new(json: bool) -> Self {
        Out { json }
    }

    /// Prints one line (or several, joined by newlines).
    pub fn line(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }
}

/// Seconds with one decimal, the unit every duration in the output uses.
pub fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "PASS",
        Outcome::Warn => "WARN",
        Outcome::Fail => "FAIL",
    }
}

/// One line per check, names aligned: `  FAIL  page http://…/login   60.0s  why [13 attempts]`.
pub fn checks_table(report: &VerifyReport) -> String {
    let width = report
        .checks
        .iter()
        .map(|c| c.name().chars().count())
        .max()
        .unwrap_or(0);
    report
        .checks
        .iter()
        .map(|c| {
            format!(
                "  {}  {:<width$}  {:>6}  {}{}",
                label(c.outcome),
                c.name(),
                secs(c.duration_ms),
                c.summary,
                attempts_note(c)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// ` [N attempts]` when a check needed more than one.
pub fn attempts_note(c: &CheckReport) -> String {
    if c.attempts > 1 {
        format!(" [{} attempts]", c.attempts)
    } else {
        String::new()
    }
}

/// `2 of 5 checks failed: page http://…, health http://…`.
pub fn failures(report: &VerifyReport) -> String {
    let failed: Vec<String> = report.failed().map(CheckReport::name).collect();
    format!(
        "{} of {} check{} failed: {}",
        failed.len(),
        report.checks.len(),
        if report.checks.len() == 1 { "" } else { "s" },
        failed.join(", ")
    )
}

/// The verdict in one sentence, with the exit code.
pub fn verdict_line(report: &DeployReport) -> String {
    format!("{} (exit {})", verdict_text(report), report.exit_code())
}

/// The checks' verdict in one sentence, without an exit code: with `--watch` the exit
/// code is only known once the watch has judged.
pub fn verdict_text(report: &DeployReport) -> String {
    match (report.verdict, &report.verify, &report.rollback) {
        (Verdict::Passed, Some(v), _) => {
            let warned = v
                .checks
                .iter()
                .filter(|c| c.outcome == Outcome::Warn)
                .count();
            let note = match warned {
                0 => String::new(),
                n => format!(" ({n} with a warning)"),
            };
            format!(
                "PASSED: all {} checks held{note} in {}",
                v.checks.len(),
                secs(v.duration_ms)
            )
        }
        (Verdict::Failed, Some(v), _) => format!("FAILED: {}", failures(v)),
        (Verdict::RolledBack, verify, Some(rb)) => {
            let after = match &report.after_rollback {
                Some(_) => "every check held after it",
                None => "no checks are set up, so it is not verified",
            };
            match verify {
                Some(v) => format!(
                    "ROLLED BACK: the deploy failed ({}); the rollback to {} ran and {after}",
                    failures(v),
                    rb.to
                ),
                None => format!("ROLLED BACK to {}: {after}", rb.to),
            }
        }
        (Verdict::RollbackFailed, _, Some(rb)) => {
            match (rb.failed_step(), &report.after_rollback) {
                (Some((i, step)), _) => format!(
                    "ROLLBACK FAILED: step {} of {} (`{}`) {}",
                    i + 1,
                    rb.steps.len(),
                    step.command,
                    step.reason.as_deref().unwrap_or("failed")
                ),
                (None, Some(after)) => format!(
                    "ROLLBACK FAILED: the rollback to {} ran, but {}",
                    rb.to,
                    failures(after)
                ),
                (None, None) => "ROLLBACK FAILED".to_string(),
            }
        }
        (verdict, _, _) => verdict.as_str().to_uppercase(),
    }
}

/// The watch's verdict on the release, with the figures it was judged by.
pub fn watch_line(good: bool, watch: &serde_json::Value) -> String {
    let f = &watch["figures"];
    let num = |k: &str| f[k].as_f64().map_or("?".to_string(), |v| format!("{v:.1}"));
    let count = |k: &str| f[k].as_u64().map_or("?".to_string(), |v| v.to_string());
    let figures = format!(
        "{} errors/min after (before: {}), {} new issue(s), {} unhandled",
        num("errors_per_min_after"),
        num("errors_per_min_before"),
        count("new_issues"),
        count("unhandled"),
    );
    let sessions = match (f["crash_free_percent"].as_f64(), f["sessions"].as_u64()) {
        (Some(p), Some(n)) => format!(", {p:.2}% crash-free of {n} sessions"),
        _ => String::new(),
    };
    if good {
        format!("The release looks good after the deploy: {figures}{sessions}.")
    } else {
        let reasons: Vec<&str> = f["reasons"]
            .as_array()
            .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        format!(
            "The release looks BAD after the deploy: {}. ({figures}{sessions})",
            reasons.join("; ")
        )
    }
}
