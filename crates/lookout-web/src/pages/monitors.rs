//! Every monitor with its state, last check and 90 days of uptime bars.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use lookout_store::{Resolution, Store};

use super::{blocking, render, Chrome};
use crate::auth::SignedIn;
use crate::charts::{self, Day};
use crate::view;
use crate::Web;

const DAY: i64 = 86_400_000;

/// 90 days of uptime of a monitor, oldest first: each day's date and up ratio (`None`
/// without checks). Past days come from day roll-ups, today from the raw results.
pub(crate) fn days90(
    s: &dyn Store,
    monitor_id: i64,
    now: i64,
) -> lookout_store::Result<Vec<(String, Option<f64>)>> {
    let today = now / DAY * DAY;
    let from = today - 89 * DAY;
    let rollups = s.check_rollups(monitor_id, Resolution::Day, from, today)?;
    let mut days: Vec<(String, Option<f64>)> = (0..90)
        .map(|i| (view::date(from + i * DAY), None))
        .collect();
    let ratio =
        |count: u64, failures: u64| (count > 0).then(|| 1.0 - failures as f64 / count as f64);
    for r in rollups {
        if let Ok(i) = usize::try_from((r.start_ms - from) / DAY) {
            if let Some(d) = days.get_mut(i) {
                d.1 = ratio(
                    u64::from(r.count.saturating_sub(r.maintenance)),
                    u64::from(r.failures),
                );
            }
        }
    }
    let t = s.latency_summary(monitor_id, today, now + 1)?;
    if let Some(d) = days.last_mut() {
        d.1 = ratio(t.count, t.failures);
    }
    Ok(days)
}

pub(crate) struct Line {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub state: &'static str,
    pub last_check: String,
    pub latency: String,
    pub days: Vec<Day>,
    pub uptime: String,
    pub bars_label: String,
}

/// The uptime of `days` as a percentage, over the days that had checks.
pub(crate) fn overall(days: &[(String, Option<f64>)]) -> String {
    let known: Vec<f64> = days.iter().filter_map(|d| d.1).collect();
    if known.is_empty() {
        return "no checks yet".into();
    }
    format!(
        "{:.3} %",
        100.0 * known.iter().sum::<f64>() / known.len() as f64
    )
}

#[derive(Template)]
#[template(path = "monitors.html")]
struct Page {
    chrome: Chrome,
    monitors: Vec<Line>,
    w: f64,
}

/// The monitor list.
pub async fn page(State(web): State<Arc<Web>>, who: SignedIn) -> Response {
    let now = web.clock.now_ms();
    let loaded = blocking(&web, move |s| {
        let monitors = s.list_monitors()?;
        let days = monitors
            .iter()
            .map(|m| days90(s, m.id, now))
            .collect::<lookout_store::Result<Vec<_>>>()?;
        Ok((monitors, days))
    })
    .await;
    let (monitors, days) = match loaded {
        Ok(v) => v,
        Err(r) => return r,
    };
    let lines = monitors
        .iter()
        .zip(days)
        .map(|(m, d)| {
            let status = web
                .backend
                .monitor_status(m.id)
                .unwrap_or_else(|| m.status.clone());
            Line {
                id: m.id,
                name: m.name.clone(),
                kind: m.kind.as_str(),
                state: status.state.as_str(),
                last_check: status
                    .last_check_ms
                    .map(|t| view::ago(t, now))
                    .unwrap_or_else(|| "never".into()),
                latency: status
                    .last_latency_ms
                    .map(|l| format!("{l} ms"))
                    .unwrap_or_default(),
                bars_label: format!("90 days of uptime of {}: {}", m.name, overall(&d)),
                uptime: overall(&d),
                days: charts::uptime_days(&d),
            }
        })
        .collect();
    render(&Page {
        chrome: Chrome::new(&who, "/monitors", "Monitors"),
        monitors: lines,
        w: charts::WIDTH,
    })
}
