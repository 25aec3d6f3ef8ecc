//! What a status page may show, read from the store into types that hold nothing else.
//!
//! This is the one place that reads private data for a public answer: monitors become
//! their name, state and uptime (never their URL, host, spec or last error); incidents
//! become the names of the page's monitors they affect, their times and their public
//! notes (never the rule, title, summary or timeline, which can carry error text or
//! internal notes); maintenance windows become their times and public note (never their
//! reason or name). Every public answer (HTML, JSON, feed, badges) is rendered from these types.

use std::collections::HashMap;

use lookout_core::alert::incident::IncidentStatus;
use lookout_core::monitor::State;
use lookout_store::{MonitorStatus, StatusPage, Store};
use serde::Serialize;

use super::uptime::{self, Day, DAY_MS};
use crate::monitors::maintenance::ConfigWindow;

/// Days of history a page shows.
pub const HISTORY_DAYS: i64 = 90;
/// Incidents a page lists at most.
const INCIDENTS: u32 = 50;
/// How far ahead the config's recurring maintenance windows are announced.
const MAINTENANCE_AHEAD_MS: i64 = 7 * DAY_MS;
/// Occurrences of one recurring window announced at most.
const MAINTENANCE_SPANS: usize = 3;

/// A state as the public reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Paused, or no check yet: a group or page is unknown only when all of it is.
    Unknown,
    /// Up.
    Operational,
    /// In a maintenance window.
    Maintenance,
    /// Answering with a problem.
    Degraded,
    /// Down.
    Down,
}

impl Level {
    fn of(state: State) -> Self {
        match state {
            State::Up => Level::Operational,
            State::Unknown | State::Paused => Level::Unknown,
            State::Maintenance => Level::Maintenance,
            State::Degraded => Level::Degraded,
            State::Down => Level::Down,
        }
    }

    /// Words for one monitor or group.
    pub fn label(self) -> &'static str {
        match self {
            Level::Operational => "Operational",
            Level::Unknown => "No data",
            Level::Maintenance => "Under maintenance",
            Level::Degraded => "Degraded performance",
            Level::Down => "Outage",
        }
    }

    /// Words for the whole page.
    pub fn headline(self) -> &'static str {
        match self {
            Level::Operational => "All systems operational",
            Level::Unknown => "No checks have run yet",
            Level::Maintenance => "Maintenance in progress",
            Level::Degraded => "Some systems degraded",
            Level::Down => "Some systems are down",
        }
    }

    /// The stable name (CSS class, JSON).
    pub fn name(self) -> &'static str {
        match self {
            Level::Operational => "operational",
            Level::Unknown => "unknown",
            Level::Maintenance => "maintenance",
            Level::Degraded => "degraded",
            Level::Down => "down",
        }
    }
}

/// A monitor as the page shows it.
#[derive(Debug, Clone)]
pub struct PublicMonitor {
    /// Its name.
    pub name: String,
    /// Its state now.
    pub level: Level,
    /// Uptime over the shown history.
    pub uptime_90d: Option<f64>,
    /// Uptime over the last 30 days.
    pub uptime_30d: Option<f64>,
    /// Uptime over the last 7 days.
    pub uptime_7d: Option<f64>,
    /// Uptime over the last 24 hours.
    pub uptime_24h: Option<f64>,
    /// One figure per UTC day, oldest first.
    pub days: Vec<Day>,
}

/// A group of monitors.
#[derive(Debug, Clone)]
pub struct PublicGroup {
    /// Heading; empty for the unnamed group.
    pub name: String,
    /// The worst state of its monitors.
    pub level: Level,
    /// Its monitors.
    pub monitors: Vec<PublicMonitor>,
}

/// An incident as the page shows it.
#[derive(Debug, Clone)]
pub struct PublicIncident {
    /// Numeric id (anchors and feed entry ids).
    pub id: i64,
    /// The page's monitors it affects.
    pub monitors: Vec<String>,
    /// `investigating`, `identified` or `resolved`.
    pub phase: &'static str,
    /// When it began.
    pub opened_ms: i64,
    /// When it ended.
    pub resolved_ms: Option<i64>,
    /// Public notes, oldest first: time and text.
    pub notes: Vec<(i64, String)>,
}

impl PublicIncident {
    /// A heading made from public facts only.
    pub fn title(&self) -> String {
        format!("Incident affecting {}", self.monitors.join(", "))
    }

    /// When it last changed (its newest note, resolution or opening).
    pub fn updated_ms(&self) -> i64 {
        self.notes
            .iter()
            .map(|(at, _)| *at)
            .chain(self.resolved_ms)
            .chain([self.opened_ms])
            .max()
            .unwrap_or(self.opened_ms)
    }
}

/// A maintenance window as the page shows it.
#[derive(Debug, Clone)]
pub struct PublicMaintenance {
    /// Start.
    pub start_ms: i64,
    /// End.
    pub end_ms: i64,
    /// The page's monitors it covers; empty when it covers every monitor.
    pub monitors: Vec<String>,
    /// Its public note.
    pub note: Option<String>,
}

/// Everything a status page shows.
#[derive(Debug, Clone)]
pub struct PublicPage {
    /// URL name.
    pub slug: String,
    /// Heading.
    pub title: String,
    /// Its own host name, if any.
    pub domain: Option<String>,
    /// When these figures were read.
    pub now_ms: i64,
    /// The worst state over all groups.
    pub level: Level,
    /// Groups in order.
    pub groups: Vec<PublicGroup>,
    /// Incidents not resolved, newest first.
    pub ongoing: Vec<PublicIncident>,
    /// Incidents resolved in the shown history, newest first.
    pub past: Vec<PublicIncident>,
    /// Maintenance windows in progress or ahead.
    pub maintenance: Vec<PublicMaintenance>,
}

impl PublicPage {
    /// A monitor of the page by name.
    pub fn monitor(&self, name: &str) -> Option<&PublicMonitor> {
        self.groups
            .iter()
            .flat_map(|g| &g.monitors)
            .find(|m| m.name == name)
    }
}

/// Reads what `page` shows at `now`. `live` is the scheduler's current status of each
/// monitor, which is fresher than the stored one; `config_windows` the config's
/// maintenance windows (the API's are in the store). Blocking.
pub fn load(
    store: &dyn Store,
    page: &StatusPage,
    live: &HashMap<i64, MonitorStatus>,
    config_windows: &[ConfigWindow],
    now: i64,
) -> lookout_store::Result<PublicPage> {
    let from = now - HISTORY_DAYS * DAY_MS;
    let mut names: HashMap<i64, String> = HashMap::new();
    let mut groups = Vec::new();
    for g in &page.groups {
        let mut monitors = Vec::new();
        for id in &g.monitor_ids {
            let Some(m) = store.get_monitor(*id)? else {
                continue;
            };
            let outages = store.outages(m.id, from, now + 1, 10_000)?;
            let state = live.get(&m.id).map_or(m.status.state, |s| s.state);
            let pct = |span: i64| uptime::pct(&outages, m.created_ms, now - span, now, now);
            names.insert(m.id, m.name.clone());
            monitors.push(PublicMonitor {
                name: m.name,
                level: Level::of(state),
                uptime_90d: pct(HISTORY_DAYS * DAY_MS),
                uptime_30d: pct(30 * DAY_MS),
                uptime_7d: pct(7 * DAY_MS),
                uptime_24h: pct(DAY_MS),
                days: uptime::days(&outages, m.created_ms, now, HISTORY_DAYS),
            });
        }
        groups.push(PublicGroup {
            name: g.name.clone(),
            level: worst(monitors.iter().map(|m| m.level)),
            monitors,
        });
    }
    let ids: Vec<i64> = names.keys().copied().collect();
    let rows = store.monitor_incidents(&ids, from, INCIDENTS)?;
    let incident_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut notes: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
    for n in store.public_notes(&incident_ids)? {
        notes
            .entry(n.incident_id)
            .or_default()
            .push((n.at_ms, n.text));
    }
    let (mut ongoing, mut past) = (Vec::new(), Vec::new());
    for r in rows {
        let incident = PublicIncident {
            id: r.id,
            monitors: names.get(&r.subject_id).cloned().into_iter().collect(),
            phase: match r.status {
                IncidentStatus::Triggered => "investigating",
                IncidentStatus::Acknowledged => "identified",
                IncidentStatus::Resolved => "resolved",
            },
            opened_ms: r.opened_ms,
            resolved_ms: r.resolved_ms,
            notes: notes.remove(&r.id).unwrap_or_default(),
        };
        match r.status {
            IncidentStatus::Resolved => past.push(incident),
            _ => ongoing.push(incident),
        }
    }
    let mut maintenance: Vec<PublicMaintenance> = store
        .list_maintenance(now)?
        .into_iter()
        .filter(|w| w.monitor_id.is_none_or(|id| names.contains_key(&id)))
        .map(|w| PublicMaintenance {
            start_ms: w.start_ms,
            end_ms: w.end_ms,
            monitors: w
                .monitor_id
                .and_then(|id| names.get(&id).cloned())
                .into_iter()
                .collect(),
            note: w.public_note,
        })
        .collect();
    for w in config_windows {
        let monitors: Vec<String> = match &w.monitor_ids {
            None => Vec::new(),
            Some(ids) => {
                let shown: Vec<String> =
                    ids.iter().filter_map(|id| names.get(id).cloned()).collect();
                if shown.is_empty() {
                    continue;
                }
                shown
            }
        };
        for (start_ms, end_ms) in w
            .window
            .spans(now, now + MAINTENANCE_AHEAD_MS, MAINTENANCE_SPANS)
        {
            maintenance.push(PublicMaintenance {
                start_ms,
                end_ms,
                monitors: monitors.clone(),
                note: w.public_note.clone(),
            });
        }
    }
    maintenance.sort_by_key(|w| (w.start_ms, w.end_ms));
    Ok(PublicPage {
        slug: page.slug.clone(),
        title: page.title.clone(),
        domain: page.domain.clone(),
        now_ms: now,
        level: worst(groups.iter().map(|g| g.level)),
        groups,
        ongoing,
        past,
        maintenance,
    })
}

fn worst(levels: impl Iterator<Item = Level>) -> Level {
    levels.max().unwrap_or(Level::Unknown)
}
