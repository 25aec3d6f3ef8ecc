//! `lookout deploy gate --release NEW --baseline OLD`: while both releases serve (a canary,
//! or blue and green), compares what each did over a window on the lookout server: errors
//! per request (or per minute), new issues, unhandled errors, crash-free sessions and
//! request p95. Answers pass, fail or not enough data, with the figures.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use lookout_core::deploy_watch::{gate, Gate, GateThresholds, GateVerdict, ReleaseCounts};
use lookout_core::exit;
use serde_json::{json, Value};

use super::github::{self, GitHub};
use super::output::Out;
use super::record;
use crate::client::{self, Server, ServerArgs};
use crate::Failure;

/// Options of `lookout deploy gate`.
#[derive(Args)]
pub struct GateArgs {
    /// The new release (the canary, or the colour about to take the traffic).
    #[arg(long, value_name = "RELEASE")]
    release: String,
    /// The release it is compared with (the one serving most of the traffic).
    #[arg(long, value_name = "RELEASE")]
    baseline: String,
    /// The project [default: deploy.project, else the server's only project].
    #[arg(long, value_name = "SLUG")]
    project: Option<String>,
    /// Only this environment [default: deploy.environment, else every environment].
    #[arg(long, value_name = "NAME")]
    environment: Option<String>,
    /// The window ending now that both releases are judged over.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = crate::parse_duration)]
    window: Duration,
    /// Each release must have been seen this often (requests, sessions or errors).
    #[arg(long, value_name = "N", default_value_t = GateThresholds::default().min_observations)]
    min_observations: u64,
    /// Fail when the new release's error rate is above this many times the baseline's.
    #[arg(long, value_name = "FACTOR", default_value_t = GateThresholds::default().error_rate_factor)]
    error_rate_factor: f64,
    /// Print the answer as one JSON document on stdout; GitHub Actions annotations go to
    /// stderr.
    #[arg(long)]
    json: bool,
}

/// Runs the gate; the exit code is its answer.
pub fn run(
    config: Option<&Path>,
    server: &ServerArgs,
    args: &GateArgs,
    defaults: (Option<String>, Option<String>),
) -> Result<ExitCode, Failure> {
    if args.window.is_zero() || args.window > Duration::from_secs(24 * 3600) {
        return Err(Failure::Usage(anyhow!(
            "--window: between 1s and a day, e.g. 30m"
        )));
    }
    if !(args.error_rate_factor.is_finite() && args.error_rate_factor >= 1.0) {
        return Err(Failure::Usage(anyhow!(
            "--error-rate-factor: a factor of 1 or more, e.g. 1.5"
        )));
    }
    if args.release == args.baseline {
        return Err(Failure::Usage(anyhow!(
            "--release and --baseline are both `{}`: name the new release and the one it is compared with",
            args.release
        )));
    }
    let env = |k: &str| std::env::var(k).ok();
    let found = client::resolve(server, config, &env)?;
    let (project, environment) = defaults;
    let project = record::project(&found, args.project.clone().or(project))?;
    let environment = args.environment.clone().or(environment);
    let new = counts(
        &found,
        &project,
        &args.release,
        environment.as_deref(),
        args.window,
    )?;
    let base = counts(
        &found,
        &project,
        &args.baseline,
        environment.as_deref(),
        args.window,
    )?;
    let thresholds = GateThresholds {
        min_observations: args.min_observations,
        error_rate_factor: args.error_rate_factor,
        ..GateThresholds::default()
    };
    let window_ms = i64::try_from(args.window.as_millis()).unwrap_or(i64::MAX);
    let g = gate(&new, &base, window_ms, &thresholds);
    let code = match g.verdict {
        GateVerdict::Pass => exit::OK,
        GateVerdict::Fail => exit::FAILED,
        GateVerdict::NotEnoughData => exit::NO_DATA,
    };
    let what = format!(
        "{} against {} over {} (project {project}{})",
        args.release,
        args.baseline,
        humantime::format_duration(args.window),
        environment
            .as_deref()
            .map(|e| format!(", {e}"))
            .unwrap_or_default()
    );
    if args.json {
        let doc = json!({
            "verdict": g.verdict.as_str(),
            "exit_code": code,
            "reasons": g.reasons,
            "project": project,
            "environment": environment,
            "window_ms": window_ms,
            "rate_unit": g.rate_unit,
            "release": {"name": args.release, "error_rate": g.error_rate, "counts": new},
            "baseline": {"name": args.baseline, "error_rate": g.baseline_error_rate, "counts": base},
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("Gate: {what}");
        println!("{}", row("new", &args.release, &new, g.error_rate, &g));
        println!(
            "{}",
            row("baseline", &args.baseline, &base, g.baseline_error_rate, &g)
        );
        println!("{}", verdict_line(&g));
    }
    if let Some(gh) = GitHub::detect(&env) {
        if let Some(line) = github::gate_annotation(&g, &verdict_line(&g)) {
            // On stderr with --json, so stdout stays one JSON document; the runner reads
            // workflow commands from both streams.
            Out::new(args.json).line(&line);
        }
        if let Err(e) = gh.write_gate(&g, &what, &verdict_line(&g)) {
            eprintln!("warning: cannot write the GitHub Actions step files: {e}");
        }
    }
    Ok(ExitCode::from(code))
}

/// The release's counts over the window, from the server.
fn counts(
    server: &Server,
    project: &str,
    release: &str,
    environment: Option<&str>,
    window: Duration,
) -> Result<ReleaseCounts, Failure> {
    let mut path = format!(
        "/api/v1/projects/{}/release-counts?release={}&window={}",
        client::path_segment(project),
        client::path_segment(release),
        client::path_segment(&humantime::format_duration(window).to_string()),
    );
    if let Some(e) = environment {
        path.push_str(&format!("&environment={}", client::path_segment(e)));
    }
    let (status, v) = server
        .call(&path, None)
        .map_err(|e| Failure::Failed(anyhow!("{}. Is `lookout serve` running there?", e.0)))?;
    if status != 200 {
        let detail = v["detail"].as_str().unwrap_or("(no detail)");
        return Err(Failure::Failed(anyhow!(
            "lookout answered {status} for release {release}: {detail}"
        )));
    }
    serde_json::from_value(v["counts"].clone()).map_err(|e| {
        Failure::Failed(anyhow!(
            "lookout's counts of release {release} do not read: {e}"
        ))
    })
}

fn row(role: &str, name: &str, c: &ReleaseCounts, rate: f64, g: &Gate) -> String {
    let crash_free = if c.sessions > 0 {
        format!(
            "{:.2}% of {}",
            100.0 * (c.sessions - c.crashed.min(c.sessions)) as f64 / c.sessions as f64,
            c.sessions
        )
    } else {
        "-".into()
    };
    let p95 = c
        .request_p95_ms
        .map_or("-".into(), |p| format!("{p:.0} ms"));
    format!(
        "  {role:<8}  {name}: {} errors ({rate:.3} {}), {} requests (p95 {p95}), {} new issue(s), {} unhandled, crash-free {crash_free}",
        c.errors, g.rate_unit, c.requests, c.new_issues, c.unhandled
    )
}

/// `PASS`, `FAIL: why` or `NOT ENOUGH DATA: why`, with the exit code.
pub fn verdict_line(g: &Gate) -> String {
    let why = g.reasons.join("; ");
    match g.verdict {
        GateVerdict::Pass => format!("PASS (exit {})", exit::OK),
        GateVerdict::Fail => format!("FAIL: {why} (exit {})", exit::FAILED),
        GateVerdict::NotEnoughData => format!("NOT ENOUGH DATA: {why} (exit {})", exit::NO_DATA),
    }
}

/// The gate's JSON for `$GITHUB_OUTPUT`.
pub fn output_value(g: &Gate) -> Value {
    json!({"verdict": g.verdict.as_str(), "reasons": g.reasons})
}
