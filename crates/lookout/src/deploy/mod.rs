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
    /// Print the report as JSON on stdout; progress goes to stderr.
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
    /// Print the report as JSON on stdout; progress goes to stderr.
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
        return Ok(finish(&report, &out, args.json));
    };
    let id = match recorder.record(&report, started_ms, clock.now_ms()) {
        Ok(id) => id,
        // The checks' verdict stands; only a wait for the watch needs the record.
        Err(e) if !args.record.watches() => {
            eprintln!("warning: {}", e.message());
            return Ok(finish(&report, &out, args.json));
        }
        Err(e) => {
            finish(&report, &out, args.json);
            return Err(e);
        }
    };
    out.line(&recorder.describe(id));
    let code = finish(&report, &out, args.json);
    if report.verdict != Verdict::Passed || !args.record.watches() {
        return Ok(code);
    }
    let (good, watch) = recorder.wait_for_verdict(id, &|l| out.line(l))?;
    out.line(&output::watch_line(good, &watch));
    if let Some(gh) = github::GitHub::detect(&|k| std::env::var(k).ok()) {
        if let Err(e) = gh.write_watch(good, &watch) {
            eprintln!("warning: cannot write the GitHub Actions step files: {e}");
        }
    }
    Ok(if good {
        code
    } else {
        ExitCode::from(exit::FAILED)
    })
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
    Ok(finish(&report, &out, args.json))
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

/// The JSON printed by `--json`: the report with its exit code.
#[derive(Serialize)]
struct JsonReport<'a> {
    exit_code: u8,
    #[serde(flatten)]
    report: &'a DeployReport,
}

fn finish(report: &DeployReport, out: &Out, json: bool) -> ExitCode {
    if json {
        let doc = JsonReport {
            exit_code: report.exit_code(),
            report,
        };
        match serde_json::to_string_pretty(&doc) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: cannot write the report as JSON: {e}"),
        }
    } else {
        out.line(&output::verdict_line(report));
    }
    if let Some(gh) = github::GitHub::detect(&|k| std::env::var(k).ok()) {
        for line in github::annotations(report) {
            out.line(&line);
        }
        if let Err(e) = gh.write(report) {
            eprintln!("warning: cannot write the GitHub Actions step files: {e}");
        }
    }
    ExitCode::from(report.exit_code())
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
