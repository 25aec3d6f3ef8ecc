//! The issue list of a project: filters (status, level, release, environment), search,
//! sort, a 24-hour sparkline per issue, bulk resolve / ignore, and paging.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use lookout_store::{IssueFilter, IssueSort, IssueStatus, Project};
use serde::Deserialize;

use super::{bad_request, blocking, render, see_other, Chrome};
use crate::auth::SignedIn;
use crate::charts;
use crate::form::Form;
use crate::view;
use crate::Web;

const PAGE: u32 = 50;
const HOUR: i64 = 3_600_000;

/// The list's query: every filter is a plain GET parameter, so a filtered list is a link.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    project: Option<String>,
    status: Option<String>,
    level: Option<String>,
    release: Option<String>,
    environment: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    page: Option<u32>,
}

pub(crate) struct Row {
    pub id: i64,
    pub title: String,
    pub culprit: String,
    pub level: &'static str,
    pub status: &'static str,
    pub count: u64,
    pub users: u64,
    pub last_seen: String,
    pub first_seen: String,
    pub spark: String,
}

pub(crate) struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

fn choices(options: &[(&'static str, &'static str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value,
            label,
            selected: *value == current,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "issues.html")]
struct Page {
    chrome: Chrome,
    projects: Vec<(String, String, bool)>,
    statuses: Vec<Choice>,
    levels: Vec<Choice>,
    sorts: Vec<Choice>,
    release: String,
    environment: String,
    q: String,
    rows: Vec<Row>,
    page: u32,
    prev: Option<String>,
    next: Option<String>,
    here: String,
}

fn link(q: &ListQuery, project: &str, page: u32) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("project", project);
    for (k, v) in [
        ("status", &q.status),
        ("level", &q.level),
        ("release", &q.release),
        ("environment", &q.environment),
        ("q", &q.q),
        ("sort", &q.sort),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            s.append_pair(k, v);
        }
    }
    if page > 0 {
        s.append_pair("page", &page.to_string());
    }
    format!("/issues?{}", s.finish())
}

fn pick_project(projects: &[Project], wanted: Option<&str>) -> Option<Project> {
    match wanted.filter(|w| !w.is_empty()) {
        Some(w) => projects.iter().find(|p| p.slug == w).cloned(),
        None => projects.first().cloned(),
    }
}

/// The issue list.
pub async fn page(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return bad_request("The list's query is malformed: start again from the Issues link.");
    };
    let status_name = q.status.clone().unwrap_or_else(|| "unresolved".into());
    let status = match status_name.as_str() {
        "all" => None,
        s => match IssueStatus::parse(s) {
            Some(s) => Some(s),
            None => {
                return bad_request(&format!(
                    "status `{s}` is unknown: use unresolved, resolved, ignored or all"
                ))
            }
        },
    };
    let level_name = q.level.clone().unwrap_or_default();
    let level = match level_name.as_str() {
        "" => None,
        l => match lookout_sentry::event::Level::parse(l) {
            Some(l) => Some(l),
            None => {
                return bad_request(&format!(
                    "level `{l}` is unknown: use debug, info, warning, error or fatal"
                ))
            }
        },
    };
    let sort_name = q.sort.clone().unwrap_or_else(|| "last_seen".into());
    let sort = match sort_name.as_str() {
        "last_seen" => IssueSort::LastSeen,
        "first_seen" => IssueSort::FirstSeen,
        "count" => IssueSort::Count,
        s => {
            return bad_request(&format!(
                "sort `{s}` is unknown: use last_seen, first_seen or count"
            ))
        }
    };
    let page = q.page.unwrap_or(0).min(10_000);
    let now = web.clock.now_ms();
    let from = (now / HOUR + 1) * HOUR - 24 * HOUR;
    let wanted = q.project.clone();
    let filter = IssueFilter {
        project_id: 0,
        status,
        level,
        release: q.release.clone().filter(|s| !s.is_empty()),
        environment: q.environment.clone().filter(|s| !s.is_empty()),
        text: q.q.clone().filter(|s| !s.is_empty()),
        sort,
        limit: PAGE + 1,
        offset: page * PAGE,
    };
    let loaded = blocking(&web, move |s| {
        let projects = s.list_projects()?;
        let Some(project) = pick_project(&projects, wanted.as_deref()) else {
            return Ok((projects, None, Vec::new(), Vec::new()));
        };
        let issues = s.list_issues(&IssueFilter {
            project_id: project.id,
            ..filter
        })?;
        let ids: Vec<i64> = issues.iter().take(PAGE as usize).map(|i| i.id).collect();
        let counts = s.issue_hourly_counts(project.id, &ids, from)?;
        Ok((projects, Some(project), issues, counts))
    })
    .await;
    let (projects, project, mut issues, counts) = match loaded {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(project) = project else {
        return super::not_found("No such project: pick one from the Issues page.");
    };
    let more = issues.len() > PAGE as usize;
    issues.truncate(PAGE as usize);
    let mut hours: HashMap<i64, Vec<Option<u64>>> = HashMap::new();
    for (issue, start, n) in counts {
        let slot = hours.entry(issue).or_insert_with(|| vec![Some(0); 24]);
        if let Ok(i) = usize::try_from((start - from) / HOUR) {
            if let Some(v) = slot.get_mut(i) {
                *v = Some(n);
            }
        }
    }
    let rows = issues
        .iter()
        .map(|i| {
            let h = hours.remove(&i.id).unwrap_or_else(|| vec![Some(0); 24]);
            let max = h.iter().flatten().copied().max().unwrap_or(0);
            Row {
                id: i.id,
                title: i.title.clone(),
                culprit: i.culprit.clone(),
                level: i.level.as_str(),
                status: i.status.as_str(),
                count: i.count,
                users: i.user_count,
                last_seen: view::ago(i.last_seen_ms, now),
                first_seen: view::ago(i.first_seen_ms, now),
                spark: charts::polyline(&h, max, 96.0, 20.0),
            }
        })
        .collect();
    render(&Page {
        chrome: Chrome::new(&who, "/issues", format!("Issues of {}", project.name)),
        projects: projects
            .iter()
            .map(|p| (p.slug.clone(), p.name.clone(), p.id == project.id))
            .collect(),
        statuses: choices(
            &[
                ("unresolved", "Unresolved"),
                ("resolved", "Resolved"),
                ("ignored", "Ignored"),
                ("all", "All"),
            ],
            &status_name,
        ),
        levels: choices(
            &[
                ("", "Any level"),
                ("fatal", "Fatal"),
                ("error", "Error"),
                ("warning", "Warning"),
                ("info", "Info"),
                ("debug", "Debug"),
            ],
            &level_name,
        ),
        sorts: choices(
            &[
                ("last_seen", "Last seen"),
                ("first_seen", "First seen"),
                ("count", "Most events"),
            ],
            &sort_name,
        ),
        release: q.release.clone().unwrap_or_default(),
        environment: q.environment.clone().unwrap_or_default(),
        q: q.q.clone().unwrap_or_default(),
        rows,
        page,
        prev: (page > 0).then(|| link(&q, &project.slug, page - 1)),
        next: more.then(|| link(&q, &project.slug, page + 1)),
        here: link(&q, &project.slug, page),
    })
}

/// Resolves, ignores or reopens the checked issues, then goes back to the list.
pub async fn bulk(State(web): State<Arc<Web>>, who: SignedIn, body: axum::body::Bytes) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = who.check_csrf(form.get("csrf")) {
        return r;
    }
    let status = match form.get("action") {
        Some("resolve") => IssueStatus::Resolved,
        Some("ignore") => IssueStatus::Ignored,
        Some("reopen") => IssueStatus::Unresolved,
        _ => return bad_request("action: use resolve, ignore or reopen"),
    };
    let mut ids = Vec::new();
    for id in form.all("id") {
        match id.parse::<i64>() {
            Ok(id) => ids.push(id),
            Err(_) => return bad_request(&format!("`{id}` is not an issue id")),
        }
    }
    let back = form
        .get("back")
        .filter(|b| b.starts_with("/issues") && !b.starts_with("//"))
        .unwrap_or("/issues")
        .to_string();
    let now = web.clock.now_ms();
    let n = ids.len();
    if let Err(r) = blocking(&web, move |s| {
        ids.iter()
            .try_for_each(|id| s.set_issue_status(*id, status, now).map(drop))
    })
    .await
    {
        return r;
    }
    tracing::info!(user = %who.user.email, issues = n, status = status.as_str(), "issues changed in bulk");
    see_other(&back)
}
