//! One monitor: state, 90 days of uptime, response time (p50 / p95) and its phases (DNS,
//! connect, TLS, first byte) over a chosen range from the roll-ups, a pm2 app's memory and
//! CPU over that range, the last check's phases, outages, certificate expiry, recent
//! checks (a heartbeat's history); pause, resume and check now.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use lookout_store::{CheckOutcome, Resolution, Rollup};

use super::monitors::{days90, overall};
use super::{backend, bad_request, blocking, not_found, parse_id, render, see_other, Chrome};
use crate::auth::SignedIn;
use crate::charts::{self, Day, Stack};
use crate::view;
use crate::Web;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// The ranges the charts can show: (query value, words, roll-up, slots).
const RANGES: [(&str, &str, Resolution, usize); 4] = [
    ("24h", "last 24 hours", Resolution::Hour, 24),
    ("7d", "last 7 days", Resolution::Hour, 7 * 24),
    ("30d", "last 30 days", Resolution::Day, 30),
    ("90d", "last 90 days", Resolution::Day, 90),
];

/// Names of the phases, in stored order.
const PHASES: [&str; 4] = ["DNS", "Connect", "TLS", "First byte"];

pub(crate) struct RangeLink {
    pub key: &'static str,
    pub current: bool,
}

/// A pm2 app's memory and CPU over the range.
pub(crate) struct ProcessCharts {
    pub memory: String,
    pub memory_max: String,
    pub cpu: String,
    pub cpu_max: String,
    pub memory_last: String,
    pub cpu_last: String,
}

/// The `?range=` of the monitor page.
#[derive(serde::Deserialize)]
pub struct RangeQuery {
    range: Option<String>,
}

pub(crate) struct Phase {
    pub name: &'static str,
    /// Which phase (1-based), so each keeps its colour when one is absent.
    pub series: usize,
    pub ms: String,
    pub x: f64,
    pub w: f64,
}

pub(crate) struct OutageLine {
    pub start: String,
    pub length: String,
    pub ongoing: bool,
    pub cause: String,
}

pub(crate) struct CheckLine {
    pub at: String,
    pub outcome: &'static str,
    pub latency: String,
    pub figures: String,
    pub error: String,
}

/// A raw result's figures in words: its phases, or a pm2 app's memory and CPU.
fn figures_words(f: &lookout_store::CheckFigures) -> String {
    let mut words: Vec<String> = PHASES
        .iter()
        .zip([f.dns_ms, f.connect_ms, f.tls_ms, f.first_byte_ms])
        .filter_map(|(name, v)| v.map(|v| format!("{name} {v} ms")))
        .collect();
    if let Some(kb) = f.memory_kb {
        words.push(format!("memory {:.1} MiB", f64::from(kb) / 1024.0));
    }
    if let Some(c) = f.cpu_permille {
        words.push(format!("CPU {:.1} %", f64::from(c) / 10.0));
    }
    words.join(" · ")
}

#[derive(Template)]
#[template(path = "monitor.html")]
struct Page {
    chrome: Chrome,
    id: i64,
    name: String,
    kind: &'static str,
    target: String,
    state: &'static str,
    paused: bool,
    heartbeat: bool,
    last_check: String,
    last_error: String,
    cert: Option<(String, i64)>,
    days: Vec<Day>,
    bars_label: String,
    uptime: String,
    range_words: &'static str,
    per: &'static str,
    ranges: Vec<RangeLink>,
    p50: String,
    p95: String,
    latency_max: u64,
    phase_stacks: Vec<Stack>,
    phase_max: u64,
    phase_names: [&'static str; 4],
    process: Option<ProcessCharts>,
    phases: Vec<Phase>,
    outages: Vec<OutageLine>,
    checks: Vec<CheckLine>,
    w: f64,
    h: f64,
}

fn target_of(spec: &serde_json::Value) -> String {
    ["url", "host", "command", "target"]
        .iter()
        .find_map(|k| spec.get(*k).and_then(|v| v.as_str()))
        .unwrap_or("")
        .to_string()
}

/// The monitor page.
pub async fn page(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let id = match parse_id(&id, "monitor") {
        Ok(id) => id,
        Err(r) => return r,
    };
    let asked = q.range.as_deref().unwrap_or("24h");
    let Some(&(range_key, range_words, resolution, n)) = RANGES.iter().find(|(k, ..)| *k == asked)
    else {
        return bad_request(&format!(
            "range `{asked}` is not one the charts show: use 24h, 7d, 30d or 90d"
        ));
    };
    let now = web.clock.now_ms();
    // Whole buckets that have ended, oldest first: the current one is not rolled up yet.
    let slot_ms = resolution.bucket_ms();
    let to = now.div_euclid(slot_ms) * slot_ms;
    let from = to - n as i64 * slot_ms;
    let loaded = blocking(&web, move |s| {
        let Some(m) = s.get_monitor(id)? else {
            return Ok(None);
        };
        let days = days90(s, id, now)?;
        let hours = s.check_rollups(id, resolution, from, to)?;
        let outages = s.outages(id, now - 90 * DAY, now + 1, 20)?;
        let checks = s.check_results(id, now - 7 * DAY, now + 1, 30)?;
        Ok(Some((m, days, hours, outages, checks)))
    })
    .await;
    let (m, days, hours, outages, checks) = match loaded {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(&format!("There is no monitor {id}.")),
        Err(r) => return r,
    };
    let status = web
        .backend
        .monitor_status(id)
        .unwrap_or_else(|| m.status.clone());
    let last = web.backend.last_phases(id);
    // One slot per bucket of the range; a bucket without checks draws as zero.
    let mut slots: Vec<Option<&Rollup>> = vec![None; n];
    for r in &hours {
        if let Ok(i) = usize::try_from((r.start_ms - from) / slot_ms) {
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(r);
            }
        }
    }
    let p50: Vec<Option<u64>> = slots
        .iter()
        .map(|r| r.and_then(|r| r.p50_ms).map(u64::from))
        .collect();
    let p95: Vec<Option<u64>> = slots
        .iter()
        .map(|r| r.and_then(|r| r.p95_ms).map(u64::from))
        .collect();
    let latency_max = p95.iter().flatten().copied().max().unwrap_or(0).max(1);
    let slot_name = |i: usize| {
        let start = from + i as i64 * slot_ms;
        if resolution == Resolution::Day {
            view::date(start)
        } else {
            view::time(start)
        }
    };
    let (phase_stacks, phase_max) = if hours.iter().any(|r| r.figures.has_phases()) {
        let series: Vec<(String, [Option<u32>; 4])> = slots
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let f = r.map(|r| r.figures).unwrap_or_default();
                (
                    slot_name(i),
                    [f.dns_ms, f.connect_ms, f.tls_ms, f.first_byte_ms],
                )
            })
            .collect();
        charts::stacked(&series, &PHASES, "ms")
    } else {
        (Vec::new(), 0)
    };
    let process = hours
        .iter()
        .any(|r| r.figures.has_process())
        .then(|| process_charts(&slots));
    let phases = match last {
        Some(p) => {
            let total = p[4]
                .or_else(|| p[..4].iter().flatten().copied().reduce(f64::max))
                .unwrap_or(0.0);
            let mut x = 0.0;
            PHASES
                .into_iter()
                .zip(p)
                .enumerate()
                .filter_map(|(i, (name, ms))| {
                    let ms = ms?;
                    let w = if total > 0.0 {
                        charts::WIDTH * ms / total
                    } else {
                        0.0
                    };
                    let phase = Phase {
                        name,
                        series: i + 1,
                        ms: format!("{ms:.1} ms"),
                        x: (x * 10.0_f64).round() / 10.0,
                        w: (w * 10.0_f64).round() / 10.0,
                    };
                    x += w;
                    Some(phase)
                })
                .collect()
        }
        None => Vec::new(),
    };
    let uptime = overall(&days);
    render(&Page {
        chrome: Chrome::new(&who, "/monitors", m.name.clone()),
        id,
        kind: m.kind.as_str(),
        target: target_of(&m.spec),
        state: status.state.as_str(),
        paused: m.paused,
        heartbeat: m.token.is_some(),
        last_check: status
            .last_check_ms
            .map(|t| view::ago(t, now))
            .unwrap_or_else(|| "never".into()),
        last_error: status.last_error.clone().unwrap_or_default(),
        cert: status
            .tls_expires_ms
            .map(|t| (view::date(t), (t - now) / DAY)),
        bars_label: format!("90 days of uptime of {}: {uptime}", m.name),
        days: charts::uptime_days(&days),
        uptime,
        range_words,
        per: if resolution == Resolution::Day {
            "day"
        } else {
            "hour"
        },
        ranges: RANGES
            .iter()
            .map(|(key, ..)| RangeLink {
                key,
                current: *key == range_key,
            })
            .collect(),
        phase_stacks,
        phase_max,
        phase_names: PHASES,
        process,
        p50: charts::polyline(&p50, latency_max, charts::WIDTH, charts::HEIGHT),
        p95: charts::polyline(&p95, latency_max, charts::WIDTH, charts::HEIGHT),
        latency_max,
        phases,
        outages: outages
            .iter()
            .map(|o| OutageLine {
                start: view::time(o.start_ms),
                length: view::duration(o.end_ms.unwrap_or(now) - o.start_ms),
                ongoing: o.end_ms.is_none(),
                cause: o.cause.clone(),
            })
            .collect(),
        checks: checks
            .iter()
            .map(|c| CheckLine {
                at: view::time(c.at_ms),
                outcome: match c.outcome {
                    CheckOutcome::Up => "up",
                    CheckOutcome::Degraded => "degraded",
                    CheckOutcome::Down => "down",
                },
                latency: c.latency_ms.map(|l| format!("{l} ms")).unwrap_or_default(),
                figures: figures_words(&c.figures),
                error: c.error.clone().unwrap_or_default(),
            })
            .collect(),
        name: m.name,
        w: charts::WIDTH,
        h: charts::HEIGHT,
    })
}

/// Memory (MiB) and CPU (percent) lines over the slots, each scaled to its own maximum.
fn process_charts(slots: &[Option<&Rollup>]) -> ProcessCharts {
    let memory: Vec<Option<u64>> = slots
        .iter()
        .map(|r| r.and_then(|r| r.figures.memory_kb).map(u64::from))
        .collect();
    let cpu: Vec<Option<u64>> = slots
        .iter()
        .map(|r| r.and_then(|r| r.figures.cpu_permille).map(u64::from))
        .collect();
    let memory_max = memory.iter().flatten().copied().max().unwrap_or(0).max(1);
    let cpu_max = cpu.iter().flatten().copied().max().unwrap_or(0).max(1);
    let mib = |kb: u64| format!("{:.1} MiB", kb as f64 / 1024.0);
    let pct = |permille: u64| format!("{:.1} %", permille as f64 / 10.0);
    ProcessCharts {
        memory: charts::polyline(&memory, memory_max, charts::WIDTH, charts::HEIGHT),
        cpu: charts::polyline(&cpu, cpu_max, charts::WIDTH, charts::HEIGHT),
        memory_max: mib(memory_max),
        cpu_max: pct(cpu_max),
        memory_last: memory
            .iter()
            .rev()
            .flatten()
            .next()
            .map(|&v| mib(v))
            .unwrap_or_default(),
        cpu_last: cpu
            .iter()
            .rev()
            .flatten()
            .next()
            .map(|&v| pct(v))
            .unwrap_or_default(),
    }
}

/// Pause, resume or check now.
pub async fn action(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (form, id) = match super::posted_on(&who, &body, &id, "monitor") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let action = form.get("action").unwrap_or("").to_string();
    let done = match action.as_str() {
        "pause" => backend(&web, move |b| b.set_monitor_paused(id, true)).await,
        "resume" => backend(&web, move |b| b.set_monitor_paused(id, false)).await,
        "check" => backend(&web, move |b| b.check_now(id)).await,
        _ => return bad_request("action: use pause, resume or check"),
    };
    match done {
        Ok(true) => {
            tracing::info!(user = %who.user.email, monitor = id, action = %action, "monitor action");
            see_other(&format!("/monitors/{id}"))
        }
        Ok(false) if action == "check" => bad_request(
            "This monitor cannot be checked now: it is paused, a heartbeat (it waits for pings), or unknown.",
        ),
        Ok(false) => not_found(&format!("There is no monitor {id}.")),
        Err(r) => r,
    }
}
