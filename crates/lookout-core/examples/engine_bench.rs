//! Throughput of the alert engine with 20 rules and 1,000 open incidents: signals/s,
//! measures/s, and the cost of one tick and one deadline scan.
//!
//! Run: `cargo run --release -p lookout-core --example engine_bench`

use std::hint::black_box;
use std::time::Instant;

use lookout_core::alert::engine::{Engine, Subject};
use lookout_core::alert::policy::Policies;
use lookout_core::alert::rule::{Condition, Rule};
use lookout_core::alert::Severity;
use lookout_core::signal::{Signal, SignalKind};

const T0: i64 = 1_700_000_000_000;
const MONITORS: i64 = 500;
const PROJECTS: i64 = 250;
const ISSUES: i64 = 250;

fn rules() -> Vec<Rule> {
    let specs: [(&str, &str, Severity); 20] = [
        ("spike-critical", "errors > 100 in 5m", Severity::Critical),
        ("spike-high", "errors > 50 in 5m", Severity::High),
        ("spike-medium", "errors > 20 in 5m", Severity::Medium),
        (
            "spike-prod",
            "errors > 10 in 5m where environment = \"production\"",
            Severity::Medium,
        ),
        (
            "fatal",
            "errors >= 1 in 1m where level = fatal",
            Severity::High,
        ),
        ("p95", "p95 > 2s in 5m", Severity::Medium),
        ("p95-fast", "p95 >= 500ms in 15m", Severity::Low),
        (
            "after-deploy",
            "errors after deploy > 2x in 15m",
            Severity::High,
        ),
        ("memory-critical", "health memory > 90%", Severity::Critical),
        ("memory-high", "health memory > 80%", Severity::High),
        ("db-latency", "health database > 100ms", Severity::Medium),
        ("site-down", "monitor down", Severity::Critical),
        ("degraded", "monitor degraded", Severity::High),
        ("missed", "heartbeat missed", Severity::High),
        ("failed", "heartbeat failed", Severity::High),
        ("tls", "tls expires within 7d", Severity::High),
        ("new-issue", "new issue", Severity::Low),
        ("regression", "regression", Severity::Medium),
        ("unhandled", "unhandled exception", Severity::High),
        ("burn", "slo burn rate > 14.4 over 1h", Severity::Critical),
    ];
    specs
        .into_iter()
        .map(|(name, cond, sev)| Rule::new(name, Condition::parse(cond).unwrap(), sev))
        .collect()
}

fn policies() -> Policies {
    let mut p = Policies::default();
    for s in Severity::ALL {
        p.get_mut(s).route = vec![vec!["slack".into()], vec!["ops-lead".into()]];
    }
    p
}

fn signal(kind: SignalKind, i: i64) -> Signal {
    let monitor = matches!(
        kind,
        SignalKind::MonitorDown | SignalKind::MonitorDegraded | SignalKind::HeartbeatMissed
    );
    Signal {
        id: i,
        kind,
        project_id: Some(i % PROJECTS),
        issue_id: (!monitor).then_some(i % ISSUES),
        event_id: (!monitor).then(|| format!("{i:032x}")),
        monitor_id: monitor.then_some(i % MONITORS),
        detail: Some("connection refused".into()),
        created_ms: T0,
    }
}

fn main() {
    let mut e = Engine::new(rules(), policies()).unwrap();
    // 1,000 open incidents: 500 monitors down, 250 projects spiking, 250 new issues.
    for m in 0..MONITORS {
        e.on_signal(T0, &signal(SignalKind::MonitorDown, m));
    }
    for p in 0..PROJECTS {
        e.on_measure(T0, "spike-critical", Subject::Project(p), 500.0);
    }
    for i in 0..ISSUES {
        e.on_signal(T0, &signal(SignalKind::NewIssue, i));
    }
    let open = e.open_incidents().count();

    // Mixed signals against open incidents (further occurrences) and new subjects.
    let kinds = [
        SignalKind::Unhandled,
        SignalKind::MonitorDown,
        SignalKind::Regression,
        SignalKind::MonitorDegraded,
        SignalKind::HeartbeatMissed,
    ];
    let signals: Vec<Signal> = (0..200_000)
        .map(|i| signal(kinds[i as usize % kinds.len()], i))
        .collect();
    let start = Instant::now();
    let mut actions = 0usize;
    for (i, s) in signals.iter().enumerate() {
        actions += black_box(e.on_signal(T0 + i as i64, s)).len();
    }
    let signal_rate = signals.len() as f64 / start.elapsed().as_secs_f64();

    // Measures: half breach open incidents, half are under the threshold.
    let n = 1_000_000i64;
    let start = Instant::now();
    for i in 0..n {
        let value = if i % 2 == 0 { 500.0 } else { 60.0 };
        let rule = if i % 4 < 2 { "spike-critical" } else { "p95" };
        actions +=
            black_box(e.on_measure(T0 + i, rule, Subject::Project(i % PROJECTS), value)).len();
    }
    let measure_rate = n as f64 / start.elapsed().as_secs_f64();

    let open_after = e.open_incidents().count();
    let ticks = 1_000;
    let start = Instant::now();
    for i in 0..ticks {
        actions += black_box(e.tick(T0 + 1_000_000 + i)).len();
    }
    let tick_us = start.elapsed().as_secs_f64() * 1e6 / ticks as f64;
    let start = Instant::now();
    for _ in 0..ticks {
        black_box(e.next_deadline_ms());
    }
    let deadline_us = start.elapsed().as_secs_f64() * 1e6 / ticks as f64;

    println!("alert engine: 20 rules, {open} open incidents at start, {open_after} after");
    println!("  signals:  {signal_rate:>12.0} /s");
    println!("  measures: {measure_rate:>12.0} /s");
    println!("  tick:     {tick_us:>12.1} µs with {open_after} open incidents");
    println!("  deadline: {deadline_us:>12.1} µs");
    println!("  ({actions} actions produced)");
}
