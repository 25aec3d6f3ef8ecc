//! One issue: its latest (or a chosen) event with the stack trace in-app frames first,
//! source context and local variables, breadcrumbs, request, user, tags; releases seen,
//! first / last seen; the events with paging; resolve / ignore / reopen.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use lookout_store::{IssueStatus, SeenValue, StoredEvent};
use serde::Deserialize;

use super::{backend, bad_request, blocking, not_found, parse_id, render, see_other, Chrome};
use crate::auth::SignedIn;
use crate::charts::{self, BarChart, Marker};
use crate::view::{self, EventView};
use crate::Web;

const EVENTS_PAGE: u32 = 20;

#[derive(Deserialize, Default)]
pub struct IssueQuery {
    /// The event shown (row id); the latest by default.
    event: Option<i64>,
    /// Events list: those before this row id.
    before: Option<i64>,
}

pub(crate) struct EventLine {
    pub id: i64,
    pub event_id: String,
    pub received: String,
    pub release: String,
    pub environment: String,
    pub shown: bool,
}

pub(crate) struct Seen {
    pub value: String,
    pub count: u64,
    pub last_seen: String,
}

fn seen(values: &[SeenValue], now: i64) -> Vec<Seen> {
    values
        .iter()
        .map(|v| Seen {
            value: v.value.clone(),
            count: v.count,
            last_seen: view::ago(v.last_seen_ms, now),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "issue.html")]
struct Page {
    chrome: Chrome,
    id: i64,
    title: String,
    culprit: String,
    level: &'static str,
    status: &'static str,
    count: u64,
    users: u64,
    first_seen: String,
    last_seen: String,
    first_release: String,
    last_release: String,
    releases: Vec<Seen>,
    environments: Vec<Seen>,
    event: Option<EventView>,
    event_id: String,
    event_time: String,
    unreadable: Option<String>,
    events: Vec<EventLine>,
    older: Option<i64>,
    hours: BarChart,
    deploys: Vec<Marker>,
    w: f64,
    h: f64,
}

const HOUR: i64 = 3_600_000;
/// Deploys read for the markers of one project.
const DEPLOYS_READ: u32 = 50;

/// The issue page.
pub async fn page(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    Path(id): Path<String>,
    query: Result<Query<IssueQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let id = match parse_id(&id, "issue") {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Ok(Query(q)) = query else {
        return bad_request("event and before are event row ids (numbers).");
    };
    // The last 24 whole hours and the current one.
    let to = (web.clock.now_ms() / HOUR + 1) * HOUR;
    let from = to - 24 * HOUR;
    let loaded = blocking(&web, move |s| {
        let Some(detail) = s.get_issue(id)? else {
            return Ok(Err(s.issue_redirect(id)?));
        };
        let events = s.list_events(id, EVENTS_PAGE + 1, q.before)?;
        let project = detail.issue.project_id;
        let hours = s.issue_hourly_counts(project, &[id], from)?;
        let deploys = s.list_deploys(&lookout_store::DeployFilter {
            project_id: Some(project),
            limit: DEPLOYS_READ,
            ..Default::default()
        })?;
        let shown: Option<StoredEvent> = match q.event {
            Some(eid) => s
                .list_events(id, 1, Some(eid.saturating_add(1)))?
                .into_iter()
                .find(|e| e.id == eid),
            None => s.latest_event(id)?,
        };
        Ok(Ok((detail, events, shown, hours, deploys)))
    })
    .await;
    let (detail, mut events, shown, hours, deploys) = match loaded {
        Ok(Ok(v)) => v,
        // Merged away when source maps regrouped its events: the issue they are in now.
        Ok(Err(Some(into))) => return see_other(&format!("/issues/{into}")),
        Ok(Err(None)) => return not_found(&format!("There is no issue {id}.")),
        Err(r) => return r,
    };
    let now = web.clock.now_ms();
    let more = events.len() > EVENTS_PAGE as usize;
    events.truncate(EVENTS_PAGE as usize);
    let (event, unreadable) = match &shown {
        Some(e) => {
            let payload = e.payload.clone();
            match backend(&web, move |b| b.event_json(&payload)).await {
                Ok(raw) => match serde_json::from_slice(&raw) {
                    Ok(json) => (Some(view::event(&json)), None),
                    Err(err) => (None, Some(format!("the stored event is not JSON: {err}"))),
                },
                Err(_) => (None, Some("the stored event cannot be read".to_string())),
            }
        }
        None => (None, None),
    };
    let mut per_hour = vec![0u64; 24];
    for (_, start, n) in hours {
        if let Some(slot) = usize::try_from((start - from) / HOUR)
            .ok()
            .and_then(|i| per_hour.get_mut(i))
        {
            *slot = n;
        }
    }
    let i = &detail.issue;
    render(&Page {
        hours: charts::bars(&per_hour, None, |i, n| {
            format!("{}: {n} events", view::time(from + i as i64 * HOUR))
        }),
        deploys: charts::markers(
            deploys
                .iter()
                .map(|d| (d.started_ms, super::overview::deploy_label(d))),
            from,
            to,
        ),
        w: charts::WIDTH,
        h: charts::HEIGHT,
        chrome: Chrome::new(&who, "/issues", i.title.clone()),
        id: i.id,
        title: i.title.clone(),
        culprit: i.culprit.clone(),
        level: i.level.as_str(),
        status: i.status.as_str(),
        count: i.count,
        users: i.user_count,
        first_seen: view::time(i.first_seen_ms),
        last_seen: view::time(i.last_seen_ms),
        first_release: i.first_release.clone().unwrap_or_default(),
        last_release: i.last_release.clone().unwrap_or_default(),
        releases: seen(&detail.releases, now),
        environments: seen(&detail.environments, now),
        event,
        event_id: shown
            .as_ref()
            .map(|e| e.event_id.clone())
            .unwrap_or_default(),
        event_time: shown
            .as_ref()
            .map(|e| view::time(e.received_ms))
            .unwrap_or_default(),
        unreadable,
        older: if more {
            events.last().map(|e| e.id)
        } else {
            None
        },
        events: events
            .iter()
            .map(|e| EventLine {
                id: e.id,
                event_id: e.event_id.clone(),
                received: view::ago(e.received_ms, now),
                release: e.release.clone().unwrap_or_default(),
                environment: e.environment.clone().unwrap_or_default(),
                shown: shown.as_ref().is_some_and(|s| s.id == e.id),
            })
            .collect(),
    })
}

/// Resolve, ignore or reopen one issue.
pub async fn set_status(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (form, id) = match super::posted_on(&who, &body, &id, "issue") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let status = match form.get("action") {
        Some("resolve") => IssueStatus::Resolved,
        Some("ignore") => IssueStatus::Ignored,
        Some("reopen") => IssueStatus::Unresolved,
        _ => return bad_request("action: use resolve, ignore or reopen"),
    };
    let now = web.clock.now_ms();
    match blocking(&web, move |s| s.set_issue_status(id, status, now)).await {
        Ok(true) => {
            tracing::info!(user = %who.user.email, issue = id, status = status.as_str(), "issue status changed");
            see_other(&format!("/issues/{id}"))
        }
        Ok(false) => not_found(&format!("There is no issue {id}.")),
        Err(r) => r,
    }
}
