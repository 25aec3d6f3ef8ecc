//! Status pages rendered from their public view: HTML and SVG through askama templates
//! (`templates/status/`, escaped by the template engine, one path), the JSON summary
//! through serde.

use askama::Template;
use serde::Serialize;

use super::uptime::{self, Day};
use super::view::{Level, PublicIncident, PublicMonitor, PublicPage, HISTORY_DAYS};
use crate::time_fmt::iso;

/// A time as shown: readable UTC text, and RFC 3339 for `<time datetime>` (which the
/// page's script turns into the viewer's zone when JavaScript is on).
struct When {
    iso: String,
    text: String,
}

impl When {
    fn of(ms: i64) -> Self {
        let text = jiff::Timestamp::from_millisecond(ms)
            .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        When { iso: iso(ms), text }
    }
}

struct Bar {
    x: i64,
    class: &'static str,
    label: String,
}

struct MonitorHtml {
    name: String,
    level: &'static str,
    label: &'static str,
    uptime: String,
    bars: Vec<Bar>,
}

struct GroupHtml {
    name: String,
    level: &'static str,
    label: &'static str,
    monitors: Vec<MonitorHtml>,
}

struct IncidentHtml {
    id: i64,
    title: String,
    phase: String,
    opened: When,
    resolved: Option<When>,
    notes: Vec<(When, String)>,
}

struct MaintenanceHtml {
    start: When,
    end: When,
    ongoing: bool,
    covers: String,
    note: Option<String>,
}

#[derive(Template)]
#[template(path = "status/page.html")]
struct PageHtml {
    slug: String,
    title: String,
    level: &'static str,
    headline: &'static str,
    generated: When,
    days: i64,
    groups: Vec<GroupHtml>,
    ongoing: Vec<IncidentHtml>,
    past: Vec<IncidentHtml>,
    maintenance: Vec<MaintenanceHtml>,
}

#[derive(Template)]
#[template(path = "status/not_found.html")]
struct NotFoundHtml {
    slug: String,
}

fn day_bar(i: usize, d: &Day) -> Bar {
    let date = jiff::Timestamp::from_millisecond(d.start_ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let (class, figure) = match d.pct {
        None => ("none", "no data".to_string()),
        Some(p) if d.down_ms == 0 => (class_of(p), format!("{} uptime", uptime::shown(p))),
        Some(p) => (
            class_of(p),
            format!(
                "{} uptime, {} down",
                uptime::shown(p),
                humantime::format_duration(std::time::Duration::from_secs(
                    (d.down_ms / 1000).max(1) as u64
                ))
            ),
        ),
    };
    Bar {
        x: i as i64 * 5,
        class,
        label: format!("{date}: {figure}"),
    }
}

fn class_of(pct: f64) -> &'static str {
    match pct {
        p if p >= 99.95 => "good",
        p if p >= 99.0 => "fair",
        p if p >= 95.0 => "poor",
        _ => "bad",
    }
}

fn monitor_html(m: &PublicMonitor) -> MonitorHtml {
    MonitorHtml {
        name: m.name.clone(),
        level: m.level.name(),
        label: m.level.label(),
        uptime: m
            .uptime_90d
            .map_or_else(|| "no data".to_string(), uptime::shown),
        bars: m
            .days
            .iter()
            .enumerate()
            .map(|(i, d)| day_bar(i, d))
            .collect(),
    }
}

fn incident_html(i: &PublicIncident) -> IncidentHtml {
    let mut phase = i.phase.to_string();
    phase[..1].make_ascii_uppercase();
    IncidentHtml {
        id: i.id,
        title: i.title(),
        phase,
        opened: When::of(i.opened_ms),
        resolved: i.resolved_ms.map(When::of),
        notes: i
            .notes
            .iter()
            .map(|(at, text)| (When::of(*at), text.clone()))
            .collect(),
    }
}

/// The page as HTML.
pub fn page(v: &PublicPage) -> askama::Result<String> {
    PageHtml {
        slug: v.slug.clone(),
        title: v.title.clone(),
        level: v.level.name(),
        headline: v.level.headline(),
        generated: When::of(v.now_ms),
        days: HISTORY_DAYS,
        groups: v
            .groups
            .iter()
            .map(|g| GroupHtml {
                name: g.name.clone(),
                level: g.level.name(),
                label: g.level.label(),
                monitors: g.monitors.iter().map(monitor_html).collect(),
            })
            .collect(),
        ongoing: v.ongoing.iter().map(incident_html).collect(),
        past: v.past.iter().map(incident_html).collect(),
        maintenance: v
            .maintenance
            .iter()
            .map(|w| MaintenanceHtml {
                start: When::of(w.start_ms),
                end: When::of(w.end_ms),
                ongoing: w.start_ms <= v.now_ms,
                covers: if w.monitors.is_empty() {
                    "All services".to_string()
                } else {
                    w.monitors.join(", ")
                },
                note: w.note.clone(),
            })
            .collect(),
    }
    .render()
}

/// The readable 404 page for an unknown slug.
pub fn not_found(slug: &str) -> String {
    NotFoundHtml {
        slug: slug.to_string(),
    }
    .render()
    .unwrap_or_else(|_| "No such status page.".to_string())
}

#[derive(Serialize)]
struct Summary<'a> {
    page: SummaryPage<'a>,
    status: &'static str,
    description: &'static str,
    groups: Vec<SummaryGroup<'a>>,
    incidents: Vec<SummaryIncident<'a>>,
    maintenance: Vec<SummaryMaintenance<'a>>,
}

#[derive(Serialize)]
struct SummaryPage<'a> {
    slug: &'a str,
    title: &'a str,
    url: String,
    updated: String,
}

#[derive(Serialize)]
struct SummaryGroup<'a> {
    name: Option<&'a str>,
    status: Level,
    monitors: Vec<SummaryMonitor<'a>>,
}

#[derive(Serialize)]
struct SummaryMonitor<'a> {
    name: &'a str,
    status: Level,
    uptime_24h: Option<f64>,
    uptime_7d: Option<f64>,
    uptime_30d: Option<f64>,
    uptime_90d: Option<f64>,
    days: Vec<SummaryDay>,
}

#[derive(Serialize)]
struct SummaryDay {
    date: String,
    uptime: Option<f64>,
    down_ms: i64,
}

#[derive(Serialize)]
struct SummaryIncident<'a> {
    id: i64,
    title: String,
    status: &'static str,
    monitors: &'a [String],
    started: String,
    resolved: Option<String>,
    notes: Vec<SummaryNote<'a>>,
}

#[derive(Serialize)]
struct SummaryNote<'a> {
    at: String,
    text: &'a str,
}

#[derive(Serialize)]
struct SummaryMaintenance<'a> {
    start: String,
    end: String,
    monitors: &'a [String],
    note: Option<&'a str>,
}

fn round3(p: Option<f64>) -> Option<f64> {
    p.map(|p| (p * 1000.0).floor() / 1000.0)
}

fn summary_incident(i: &PublicIncident) -> SummaryIncident<'_> {
    SummaryIncident {
        id: i.id,
        title: i.title(),
        status: i.phase,
        monitors: &i.monitors,
        started: iso(i.opened_ms),
        resolved: i.resolved_ms.map(iso),
        notes: i
            .notes
            .iter()
            .map(|(at, text)| SummaryNote { at: iso(*at), text })
            .collect(),
    }
}

/// Where a page is read, and its feed: on its own domain when it has one (with the
/// server's scheme), else under `/status/` of the server's public URL.
pub fn urls(v: &PublicPage, public_url: &str) -> (String, String) {
    match &v.domain {
        Some(d) => {
            let scheme = public_url.split_once("://").map_or("https", |(s, _)| s);
            (
                format!("{scheme}://{d}/"),
                format!("{scheme}://{d}/feed.atom"),
            )
        }
        None => {
            let page = format!("{public_url}/status/{}", v.slug);
            let feed = format!("{page}/feed.atom");
            (page, feed)
        }
    }
}

/// The page as a JSON summary.
pub fn summary(v: &PublicPage, public_url: &str) -> String {
    let s = Summary {
        page: SummaryPage {
            slug: &v.slug,
            title: &v.title,
            url: urls(v, public_url).0,
            updated: iso(v.now_ms),
        },
        status: v.level.name(),
        description: v.level.headline(),
        groups: v
            .groups
            .iter()
            .map(|g| SummaryGroup {
                name: (!g.name.is_empty()).then_some(g.name.as_str()),
                status: g.level,
                monitors: g
                    .monitors
                    .iter()
                    .map(|m| SummaryMonitor {
                        name: &m.name,
                        status: m.level,
                        uptime_24h: round3(m.uptime_24h),
                        uptime_7d: round3(m.uptime_7d),
                        uptime_30d: round3(m.uptime_30d),
                        uptime_90d: round3(m.uptime_90d),
                        days: m
                            .days
                            .iter()
                            .map(|d| SummaryDay {
                                date: iso(d.start_ms)[..10].to_string(),
                                uptime: round3(d.pct),
                                down_ms: d.down_ms,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        incidents: v
            .ongoing
            .iter()
            .chain(&v.past)
            .map(summary_incident)
            .collect(),
        maintenance: v
            .maintenance
            .iter()
            .map(|w| SummaryMaintenance {
                start: iso(w.start_ms),
                end: iso(w.end_ms),
                monitors: &w.monitors,
                note: w.note.as_deref(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&s).unwrap_or_default()
}

struct FeedEntry {
    id: i64,
    title: String,
    published: String,
    updated: String,
    text: String,
}

#[derive(Template)]
#[template(path = "status/feed.xml")]
struct Feed {
    title: String,
    page_url: String,
    feed_url: String,
    updated: String,
    entries: Vec<FeedEntry>,
}

/// The page's incidents as an Atom feed, newest first.
pub fn feed(v: &PublicPage, public_url: &str) -> askama::Result<String> {
    let (page_url, feed_url) = urls(v, public_url);
    let mut incidents: Vec<&PublicIncident> = v.ongoing.iter().chain(&v.past).collect();
    incidents.sort_by_key(|i| std::cmp::Reverse(i.updated_ms()));
    let entries: Vec<FeedEntry> = incidents
        .iter()
        .map(|i| {
            let mut text = match i.resolved_ms {
                Some(r) => format!(
                    "{}. Started {}, resolved {}.",
                    i.phase,
                    When::of(i.opened_ms).text,
                    When::of(r).text
                ),
                None => format!("{}. Started {}.", i.phase, When::of(i.opened_ms).text),
            };
            text[..1].make_ascii_uppercase();
            for (at, note) in &i.notes {
                text.push_str(&format!("\n\n{}: {note}", When::of(*at).text));
            }
            FeedEntry {
                id: i.id,
                title: i.title(),
                published: iso(i.opened_ms),
                updated: iso(i.updated_ms()),
                text,
            }
        })
        .collect();
    Feed {
        title: v.title.clone(),
        feed_url,
        updated: iso(incidents.first().map_or(v.now_ms, |i| i.updated_ms())),
        page_url,
        entries,
    }
    .render()
}

#[derive(Template)]
#[template(path = "status/badge.svg")]
struct Badge {
    label: String,
    value: String,
    color: &'static str,
    label_w: u32,
    value_w: u32,
}

impl Badge {
    fn new(label: &str, value: String, color: &'static str) -> Self {
        // Verdana 11px averages about 7 px a character; 10 px of padding each side.
        let w = |s: &str| s.chars().count() as u32 * 7 + 10;
        Badge {
            label_w: w(label),
            value_w: w(&value),
            label: label.to_string(),
            value,
            color,
        }
    }
}

fn level_color(l: Level) -> &'static str {
    match l {
        Level::Operational => "#2e7d32",
        Level::Unknown => "#616161",
        Level::Maintenance => "#1565c0",
        Level::Degraded => "#a15c00",
        Level::Down => "#c62828",
    }
}

/// A monitor's state as a badge.
pub fn state_badge(m: &PublicMonitor) -> askama::Result<String> {
    Badge::new(
        &m.name,
        m.level.label().to_lowercase(),
        level_color(m.level),
    )
    .render()
}

/// A monitor's uptime over `period` (24h, 7d, 30d or 90d) as a badge.
pub fn uptime_badge(m: &PublicMonitor, period: &str) -> askama::Result<String> {
    let pct = match period {
        "24h" => m.uptime_24h,
        "7d" => m.uptime_7d,
        "90d" => m.uptime_90d,
        _ => m.uptime_30d,
    };
    let (value, color) = match pct {
        None => ("no data".to_string(), "#616161"),
        Some(p) => (
            uptime::shown(p),
            match class_of(p) {
                "good" => "#2e7d32",
                "fair" => "#6b8e00",
                "poor" => "#a15c00",
                _ => "#c62828",
            },
        ),
    };
    Badge::new(&format!("{} {period}", m.name), value, color).render()
}
