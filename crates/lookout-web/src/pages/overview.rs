//! "Is everything fine?": open incidents first, then monitors that are down or degraded,
//! then each project's errors per hour over the last 24 hours against the target.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use lookout_core::monitor::State as MonitorState;

use super::{blocking, render, Chrome};
use crate::auth::SignedIn;
use crate::charts::{self, BarChart, Marker};
use crate::view;
use crate::Web;

/// Errors an hour a project should stay under (the reference team's target).
pub const ERRORS_PER_HOUR_TARGET: u64 = 10;
const HOUR: i64 = 3_600_000;

pub(crate) struct IncidentLine {
    pub id: i64,
    pub title: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub opened: String,
}

pub(crate) struct MonitorLine {
    pub id: i64,
    pub name: String,
    pub state: &'static str,
    pub since: String,
    pub error: String,
}

pub(crate) struct ProjectChart {
    pub slug: String,
    pub name: String,
    pub total: u64,
    pub worst: u64,
    pub chart: BarChart,
    /// Deploys of the project in the chart's 24 hours.
    pub deploys: Vec<Marker>,
}

/// Deploys read for the markers: more than a day's worth for any team.
const DEPLOYS_READ: u32 = 200;

/// A deploy's marker tooltip.
pub(crate) fn deploy_label(d: &lookout_store::Deploy) -> String {
    let verdict = d
        .watch_verdict
        .as_deref()
        .or(d.verdict.as_deref())
        .map(|v| format!(" ({v})"))
        .unwrap_or_default();
    format!(
        "Deploy of {} to {} at {}{verdict}",
        d.release,
        d.environment,
        view::time(d.started_ms)
    )
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Page {
    chrome: Chrome,
    incidents: Vec<IncidentLine>,
    problems: Vec<MonitorLine>,
    monitors_total: usize,
    projects: Vec<ProjectChart>,
    target: u64,
    w: f64,
    h: f64,
}

/// The overview.
pub async fn page(State(web): State<Arc<Web>>, who: SignedIn) -> Response {
    let now = web.clock.now_ms();
    let to = (now / HOUR + 1) * HOUR;
    let from = to - 24 * HOUR;
    let loaded = blocking(&web, move |s| {
        let incidents = s.open_incidents()?;
        let monitors = s.list_monitors()?;
        let projects = s.list_projects()?;
        let counts = projects
            .iter()
            .map(|p| s.hourly_event_counts(p.id, from, to))
            .collect::<lookout_store::Result<Vec<_>>>()?;
        let deploys = s.list_deploys(&lookout_store::DeployFilter {
            limit: DEPLOYS_READ,
            ..Default::default()
        })?;
        Ok((incidents, monitors, projects, counts, deploys))
    })
    .await;
    let (mut incidents, monitors, projects, counts, deploys) = match loaded {
        Ok(v) => v,
        Err(r) => return r,
    };
    incidents.sort_by_key(|i| (i.severity, std::cmp::Reverse(i.opened_ms)));
    let problems = monitors
        .iter()
        .filter_map(|m| {
            let status = web
                .backend
                .monitor_status(m.id)
                .unwrap_or_else(|| m.status.clone());
            matches!(status.state, MonitorState::Down | MonitorState::Degraded).then(|| {
                MonitorLine {
                    id: m.id,
                    name: m.name.clone(),
                    state: status.state.as_str(),
                    since: status
                        .down_since_ms
                        .map(|t| view::ago(t, now))
                        .unwrap_or_default(),
                    error: status.last_error.unwrap_or_default(),
                }
            })
        })
        .collect();
    let projects = projects
        .into_iter()
        .zip(counts)
        .map(|(p, counts)| {
            let mut hours = vec![0u64; 24];
            for (start, n) in counts {
                if let Ok(i) = usize::try_from((start - from) / HOUR) {
                    if let Some(slot) = hours.get_mut(i) {
                        *slot = n;
                    }
                }
            }
            ProjectChart {
                total: hours.iter().sum(),
                worst: hours.iter().copied().max().unwrap_or(0),
                chart: charts::bars(&hours, Some(ERRORS_PER_HOUR_TARGET), |i, n| {
                    format!("{}: {n} errors", view::time(from + i as i64 * HOUR))
                }),
                deploys: charts::markers(
                    deploys
                        .iter()
                        .filter(|d| d.project_id == p.id)
                        .map(|d| (d.started_ms, deploy_label(d))),
                    from,
                    to,
                ),
                slug: p.slug,
                name: p.name,
            }
        })
        .collect();
    render(&Page {
        chrome: Chrome::new(&who, "/overview", "Overview"),
        incidents: incidents
            .iter()
            .map(|i| IncidentLine {
                id: i.id,
                title: i.title.clone(),
                severity: i.severity.as_str(),
                status: i.status.as_str(),
                opened: view::ago(i.opened_ms, now),
            })
            .collect(),
        problems,
        monitors_total: monitors.len(),
        projects,
        target: ERRORS_PER_HOUR_TARGET,
        w: charts::WIDTH,
        h: charts::HEIGHT,
    })
}
