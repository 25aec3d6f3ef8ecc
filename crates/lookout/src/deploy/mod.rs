//! `lookout deploy verify`, `rollback` and `gate`: the checks a pipeline runs after a
//! deploy (PM2, systemd, commands, health, pages), retried until one deadline, with a
//! verdict, an optional rollback that is verified in turn, the deploy record and the
//! watch after it on a lookout server, the gate between two releases, and GitHub Actions
//! output.
//! The verdict logic lives in `lookout_core::deploy`; this module wires the parts.

mod checks;
mod config;
mod gate;
mod github;
mod output;
mod record;
mod rollback;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use lookout_core::clock::{Clock, SystemClock};
use lookout_core::deploy::{DeployReport, Verdict, VerifyReport};
use lookout_core::exit;
use serde::Serialize;

use crate::client::ServerArgs;
use crate::Failure;
use config::{CheckFlags, Plan, RollbackFlags, DEFAULT_COMMIT};
use output::Out;

/// How the checks and steps are found and run, before the exit code table.
const VERIFY_HELP: &str = "\
Checks come from [[deploy.checks]] in the config file; checks of a kind given by flags
replace that kind's checks from the file. Each check is retried with backoff (250 ms
doubling to 5 s) until it holds or the deadline passes. In rollback steps, {commit} stands
for --to (default HEAD~1), e.g. `git reset --hard {commit}`.";

/// `lookout deploy …`.
#[derive(Args)]
#[command(after_help = exit::TABLE)]
pub struct DeployArgs {
    #[command(subcommand)]
    command: DeployCommand,
}

#[derive(Subcommand)]
enum DeployCommand {
    /// Check a deploy: PM2, systemd, commands, health and pages, until a deadline; roll
    /// back on failure if asked.
    Verify(VerifyArgs),
    /// Run the rollback steps by hand, then verify the checks.
    Rollback(RollbackArgs),
    /// Compare a new release with its baseline while both serve (canary, blue-green):
    /// pass, fail, or not enough data.
    #[command(after_help = exit::TABLE)]
    Gate(gate::GateArgs),
}

/// Options of `lookout deploy verify`.
#[derive(Args)]
#[command(after_help = format!("{VERIFY_HELP}\n\n{}", exit::TABLE))]
struct VerifyArgs {
    #[command(flatten)]
    checks: CheckFlags,
    /// When a check fails, run the rollback steps and verify again.
    #[arg(long)]
    rollback_on_failure: bool,
    /// The commit to roll back to, for {commit} in the steps [default: HEAD~1].
    #[arg(long, value_name = "COMMIT", requires = "rollback_on_failure")]
    to: Option<String>,
    #[command(flatten)]
    rollback: RollbackFlags,
    #[command(flatten)]
    record: record::RecordFlags,
    /// Print the report as one JSON document on stdout (with --watch, once the watch has
    /// judged); progress and GitHub Actions annotations go to stderr.
    #[arg(long)]
    json: bool,
}

/// Options of `lookout deploy rollback`.
#[derive(Args)]
#[command(after_help = format!("{VERIFY_HELP}\n\n{}", exit::TABLE))]
struct RollbackArgs {
    #[command(flatten)]
    checks: CheckFlags,
    /// The commit to roll back to, for {commit} in the steps [default: HEAD~1].
    #[arg(long, value_name = "COMMIT")]
    to: Option<String>,
    #[command(flatten)]
    rollback: RollbackFlags,
    /// Print the report as one JSON document on stdout; progress and GitHub Actions
    /// annotations go to stderr.
    #[arg(long)]
    json: bool,
}

/// Runs `lookout deploy …`; the exit code is the verdict.
pub fn run(
    config: Option<PathBuf>,
    server: &ServerArgs,
    args: DeployArgs,
) -> Result<ExitCode, Failure> {
    let config = lookout_server::Config::locate(config.as_deref());
    match args.command {
        DeployCommand::Verify(a) => verify(config.as_deref(), server, a),
        DeployCommand::Rollback(a) => rollback(config.as_deref(), a),
        DeployCommand::Gate(a) => {
            let plan = Plan::build(
                config.as_deref(),
                &CheckFlags::default(),
                &RollbackFlags::default(),
                false,
            )
            .map_err(Failure::Usage)?;
            gate::run(config.as_deref(), server, &a, plan.record)
        }
    }
}

/// The `[deploy]` section of a config file as `lookout check-config` reports it, read by
/// the same parser as `deploy verify`: one line per check (kind and target), then one per
/// rollback step; nothing without the section. Errors are the ones `deploy verify` gives.
pub fn config_summary(config: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let plan = Plan::build(
        config,
        &CheckFlags::default(),
        &RollbackFlags::default(),
        false,
    )?;
    let checks = plan
        .checks
        .iter()
        .map(|c| format!("  deploy:   {} {}", c.kind.as_str(), c.target));
    let steps = plan.steps.iter().map(|s| format!("  rollback: {}", s.run));
    Ok(checks.chain(steps).collect())
}

fn verify(
    config: Option<&Path>,
    server: &ServerArgs,
    args: VerifyArgs,
) -> Result<ExitCode, Failure> {
    let plan = Plan::build(config, &args.checks, &args.rollback, true).map_err(Failure::Usage)?;
    let to = if args.rollback_on_failure {
        rollback_target(&plan, args.to.as_deref()).map_err(Failure::Usage)?
    } else {
        String::new()
    };
    let env = |k: &str| std::env::var(k).ok();
    let recorder = record::Recorder::find(
        server,
        config,
        &args.record,
        plan.record.clone(),
        plan.dir.as_deref(),
        &env,
    )?;
    let out = Out::new(args.json);
    let clock = SystemClock;
    let started_ms = clock.now_ms();
    let report = runtime()?.block_on(async {
        let report = DeployReport::verified(run_checks(&plan, &out, &clock, "Verifying").await);
        if report.verdict != Verdict::Failed || !args.rollback_on_failure {
            return report;
        }
        out.line(&format!(
            "Rolling back to {to}: {} step{}",
            plan.steps.len(),
            plural(plan.steps.len())
        ));
        let rb = rollback::run(&plan.steps, &to, &out, &clock).await;
        let after = if rb.succeeded() {
            Some(run_checks(&plan, &out, &clock, "Verifying the rollback:").await)
        } else {
            None
        };
        report.rolled_back(rb, after)
    });
    let Some(recorder) = recorder else {
        return Ok(finish(&report, &out, args.json, &After::default()));
    };
    let id = match recorder.record(&report, started_ms, clock.now_ms()) {
        Ok(id) => id,
        // The checks' verdict stands; only a wait for the watch needs the record.
        Err(e) if !args.record.watches() => {
            eprintln!("warning: {}", e.message());
            return Ok(finish(&report, &out, args.json, &After::default()));
        }
        Err(e) => {
            let after = After {
                failure: Some(&e),
                ..After::default()
            };
            finish(&report, &out, args.json, &after);
            return Err(e);
        }
    };
    out.line(&recorder.describe(id));
    let recorded = After {
        deploy_id: Some(id),
        ..After::default()
    };
    if report.verdict != Verdict::Passed || !args.record.watches() {
        return Ok(finish(&report, &out, args.json, &recorded));
    }
    // The report, its exit code and the step outputs wait for the watch's verdict: a
    // pipeline reads one answer, not the checks' answer followed by a contradiction.
    out.line(&output::verdict_text(&report));
    match recorder.wait_for_verdict(id, &|l| out.line(l)) {
        Ok((good, watch)) => {
            let after = After {
                watch: Some((good, &watch)),
                ..recorded
            };
            Ok(finish(&report, &out, args.json, &after))
        }
        Err(e) => {
            let after = After {
                failure: Some(&e),
                ..recorded
            };
            finish(&report, &out, args.json, &after);
            Err(e)
        }
    }
}

fn rollback(config: Option<&Path>, args: RollbackArgs) -> Result<ExitCode, Failure> {
    let plan = Plan::build(config, &args.checks, &args.rollback, false).map_err(Failure::Usage)?;
    let to = rollback_target(&plan, args.to.as_deref()).map_err(Failure::Usage)?;
    let out = Out::new(args.json);
    let clock = SystemClock;
    let report = runtime()?.block_on(async {
        out.line(&format!(
            "Rolling back to {to}: {} step{}",
            plan.steps.len(),
            plural(plan.steps.len())
        ));
        let rb = rollback::run(&plan.steps, &to, &out, &clock).await;
        let has_checks = !plan.checks.is_empty();
        let after = if rb.succeeded() && has_checks {
            Some(run_checks(&plan, &out, &clock, "Verifying the rollback:").await)
        } else {
            None
        };
        DeployReport::manual_rollback(rb, after, has_checks)
    });
    Ok(finish(&report, &out, args.json, &After::default()))
}

/// What `{commit}` stands for, once the steps are known to use it sensibly.
fn rollback_target(plan: &Plan, to: Option<&str>) -> anyhow::Result<String> {
    if plan.steps.is_empty() {
        anyhow::bail!(
            "no rollback steps: give them as `steps` in [deploy.rollback] of the config file, \
             or with --rollback-step (e.g. --rollback-step 'git reset --hard {{commit}}')"
        );
    }
    let Some(to) = to else {
        return Ok(DEFAULT_COMMIT.to_string());
    };
    rollback::valid_commit(to).map_err(anyhow::Error::msg)?;
    if !plan.steps.iter().any(|s| s.run.contains("{commit}")) {
        anyhow::bail!(
            "--to {to} needs a rollback step with {{commit}} to put it in, \
             e.g. `git reset --hard {{commit}}`"
        );
    }
    Ok(to.to_string())
}

async fn run_checks(plan: &Plan, out: &Out, clock: &dyn Clock, what: &str) -> VerifyReport {
    out.line(&format!(
        "{what} {} check{}, deadline {}…",
        plan.checks.len(),
        plural(plan.checks.len()),
        humantime::format_duration(plan.deadline)
    ));
    let report = checks::verify(&plan.checks, plan.deadline, plan.timeout, clock).await;
    out.line(&output::checks_table(&report));
    report
}

/// What happened after the checks: the deploy record, the watch's verdict, or a failure
/// that ends the run (the record refused, no verdict in time).
#[derive(Default, Clone, Copy)]
struct After<'a> {
    deploy_id: Option<i64>,
    /// Good or not, and the server's `watch` (verdict, until, figures).
    watch: Option<(bool, &'a serde_json::Value)>,
    failure: Option<&'a Failure>,
}

impl After<'_> {
    /// The process's exit code: a failure's, else a bad watch's 1, else the checks'.
    fn exit_code(&self, report: &DeployReport) -> u8 {
        match (self.failure, self.watch) {
            (Some(f), _) => f.code(),
            (None, Some((false, _))) => exit::FAILED,
            _ => report.exit_code(),
        }
    }
}

/// The JSON printed by `--json`: the report with the process's exit code, and what came
/// after the checks.
#[derive(Serialize)]
struct JsonReport<'a> {
    exit_code: u8,
    #[serde(flatten)]
    report: &'a DeployReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    deploy_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    watch: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The watch as the report carries it: the verdict, its reasons at the top, the figures.
fn watch_json(good: bool, watch: &serde_json::Value) -> serde_json::Value {
    let figures = &watch["figures"];
    serde_json::json!({
        "verdict": if good { "good" } else { "bad" },
        "reasons": figures.get("reasons").cloned().unwrap_or_else(|| serde_json::json!([])),
        "until": watch["until"],
        "figures": figures,
    })
}

/// Prints the verdict (or the one JSON document) and writes the GitHub Actions files;
/// returns the process's exit code.
fn finish(report: &DeployReport, out: &Out, json: bool, after: &After) -> ExitCode {
    let code = after.exit_code(report);
    let watch_line = after
        .watch
        .map(|(good, w)| (good, output::watch_line(good, w)));
    let doc = JsonReport {
        exit_code: code,
        report,
        deploy_id: after.deploy_id,
        watch: after.watch.map(|(good, w)| watch_json(good, w)),
        error: after.failure.map(Failure::message),
    };
    let doc = serde_json::to_value(&doc).unwrap_or_default();
    if json {
        match serde_json::to_string_pretty(&doc) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: cannot write the report as JSON: {e}"),
        }
    } else {
        match (&watch_line, after.failure) {
            (Some((_, line)), _) => out.line(&format!("{line} (exit {code})")),
            // The checks' verdict was printed before the watch; main prints the failure.
            (None, Some(_)) if after.deploy_id.is_some() => {}
            (None, Some(_)) => out.line(&output::verdict_text(report)),
            (None, None) => out.line(&output::verdict_line(report)),
        }
    }
    if let Some(gh) = github::GitHub::detect(&|k| std::env::var(k).ok()) {
        // Through `out`: on stderr with --json, so stdout stays one JSON document. The
        // runner reads workflow commands from both streams.
        for line in github::annotations(report) {
            out.line(&line);
        }
        if let Some((false, line)) = &watch_line {
            out.line(&github::watch_annotation(line));
        }
        let end = github::Ending {
            exit_code: code,
            watch: watch_line,
            document: &doc,
        };
        if let Err(e) = gh.write(report, &end) {
            eprintln!("warning: cannot write the GitHub Actions step files: {e}");
        }
    }
    ExitCode::from(code)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(anyhow::anyhow!("cannot start the async runtime: {e}")))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
