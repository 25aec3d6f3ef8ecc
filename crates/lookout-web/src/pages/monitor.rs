//! One monitor: state, 90 days of uptime, response time (p50 / p95) over the last day
//! and the last check's phases, outages, certificate expiry, recent checks (a heartbeat's
//! history); pause, resume and check now.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use lookout_store::{CheckOutcome, Resolution};

use super::monitors::{days90, overall};
use super::{backend, bad_request, blocking, not_found, parse_id, render, see_other, Chrome};
use crate::auth::SignedIn;
use crate::charts::{self, Day};
use crate::view;
use crate::Web;

const HOUR: i64 = 3_600_000;

pub(crate) struct Phase {
    pub name: &'static str,
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
    pub error: String,
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
    p50: String,
    p95: String,
    latency_max: u64,
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
pub async fn page(State(web): State<Arc<Web>>, who: SignedIn, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id, "monitor") {
        Ok(id) => id,
        Err(r) => return r,
    };
    let now = web.clock.now_ms();
    let loaded = blocking(&web, move |s| {
        let Some(m) = s.get_monitor(id)? else {
            return Ok(None);
        };
        let days = days90(s, id, now)?;
        let hours = s.check_rollups(id, Resolution::Hour, now - 24 * HOUR, now)?;
        let outages = s.outages(id, now - 90 * 24 * HOUR, now + 1, 20)?;
        let checks = s.check_results(id, now - 7 * 24 * HOUR, now + 1, 30)?;
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
    // Hour slots of the last day, oldest first; an hour without checks draws as zero.
    let from = now - 24 * HOUR;
    let mut p50 = vec![None; 24];
    let mut p95 = vec![None; 24];
    for r in &hours {
        if let Ok(i) = usize::try_from((r.start_ms - from) / HOUR) {
            if i < 24 {
                p50[i] = r.p50_ms.map(u64::from);
                p95[i] = r.p95_ms.map(u64::from);
            }
        }
    }
    let latency_max = p95.iter().flatten().copied().max().unwrap_or(0).max(1);
    let phases = match last {
        Some(p) => {
            let total = p[4]
                .or_else(|| p[..4].iter().flatten().copied().reduce(f64::max))
                .unwrap_or(0.0);
            let mut x = 0.0;
            [
                ("DNS", p[0]),
                ("Connect", p[1]),
                ("TLS", p[2]),
                ("First byte", p[3]),
            ]
            .into_iter()
            .filter_map(|(name, ms)| {
                let ms = ms?;
                let w = if total > 0.0 {
                    charts::WIDTH * ms / total
                } else {
                    0.0
                };
                let phase = Phase {
                    name,
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
            .map(|t| (view::date(t), (t - now) / (24 * HOUR))),
        bars_label: format!("90 days of uptime of {}: {uptime}", m.name),
        days: charts::uptime_days(&days),
        uptime,
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
                error: c.error.clone().unwrap_or_default(),
            })
            .collect(),
        name: m.name,
        w: charts::WIDTH,
        h: charts::HEIGHT,
    })
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
