//! Deploys: each one with its project, environment, release, commit, times, the
//! verification's verdict and the watch's verdict with the error rate before and after;
//! and one deploy in full (each check's result, the rollback, the watch's reasons).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use lookout_store::{Deploy, DeployFilter, Project};
use serde_json::Value;

use super::{blocking, not_found, parse_id, render, Chrome};
use crate::auth::SignedIn;
use crate::view;
use crate::Web;

/// Deploys the list shows.
const LIST: u32 = 100;

pub(crate) struct Line {
    pub id: i64,
    pub project: String,
    pub environment: String,
    pub release: String,
    pub commit: String,
    pub started: String,
    pub took: String,
    /// The verification's verdict, or empty when the deploy was recorded without one.
    pub verdict: String,
    /// `good`, `bad`, `watching` or empty (not watched).
    pub watch: &'static str,
    /// Errors a minute before → after, once judged.
    pub rate: String,
}

/// The CSS class of a verdict's badge.
fn verdict_class(verdict: &str) -> &'static str {
    match verdict {
        "passed" | "good" => "st-up",
        "rolled_back" | "watching" | "judging" => "st-degraded",
        "" => "st-unknown",
        _ => "st-down",
    }
}

fn short_commit(c: Option<&str>) -> String {
    c.map(|c| c.chars().take(12).collect()).unwrap_or_default()
}

fn watch_state(d: &Deploy, now: i64) -> &'static str {
    match (d.watch_verdict.as_deref(), d.watch_until_ms) {
        (Some("bad"), _) => "bad",
        (Some(_), _) => "good",
        (None, Some(until)) if until > now => "watching",
        (None, Some(_)) => "judging",
        (None, None) => "",
    }
}

fn rate(d: &Deploy) -> String {
    let Some(w) = &d.watch else {
        return String::new();
    };
    match (
        w.get("errors_per_min_before").and_then(Value::as_f64),
        w.get("errors_per_min_after").and_then(Value::as_f64),
    ) {
        (Some(b), Some(a)) => format!("{b:.2} → {a:.2} errors/min"),
        _ => String::new(),
    }
}

fn project_name(projects: &[Project], id: i64) -> String {
    projects
        .iter()
        .find(|p| p.id == id)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| format!("project {id}"))
}

fn line(d: &Deploy, projects: &[Project], now: i64) -> Line {
    Line {
        id: d.id,
        project: project_name(projects, d.project_id),
        environment: d.environment.clone(),
        release: d.release.clone(),
        commit: short_commit(d.commit.as_deref()),
        started: view::time(d.started_ms),
        took: d
            .finished_ms
            .map(|f| view::duration(f - d.started_ms))
            .unwrap_or_default(),
        verdict: d.verdict.clone().unwrap_or_default(),
        watch: watch_state(d, now),
        rate: rate(d),
    }
}

#[derive(Template)]
#[template(path = "deploys.html")]
struct ListPage {
    chrome: Chrome,
    projects: Vec<(String, String, bool)>,
    deploys: Vec<Line>,
}

impl ListPage {
    fn class(&self, verdict: &str) -> &'static str {
        verdict_class(verdict)
    }
}

/// `?project=` of the list.
#[derive(serde::Deserialize)]
pub struct ListQuery {
    project: Option<String>,
}

/// The deploy list, newest first.
pub async fn page(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    Query(q): Query<ListQuery>,
) -> Response {
    let wanted = q.project.filter(|p| !p.is_empty());
    let loaded = blocking(&web, move |s| {
        let projects = s.list_projects()?;
        let project_id = match &wanted {
            Some(slug) => match projects.iter().find(|p| &p.slug == slug) {
                Some(p) => Some(p.id),
                None => return Ok(Err(slug.clone())),
            },
            None => None,
        };
        let deploys = s.list_deploys(&DeployFilter {
            project_id,
            limit: LIST,
            ..DeployFilter::default()
        })?;
        Ok(Ok((projects, project_id, deploys)))
    })
    .await;
    let (projects, project_id, deploys) = match loaded {
        Ok(Ok(v)) => v,
        Ok(Err(slug)) => {
            return not_found(&format!(
                "There is no project `{slug}`: pick one from the list."
            ))
        }
        Err(r) => return r,
    };
    let now = web.clock.now_ms();
    render(&ListPage {
        chrome: Chrome::new(&who, "/deploys", "Deploys"),
        deploys: deploys.iter().map(|d| line(d, &projects, now)).collect(),
        projects: projects
            .iter()
            .map(|p| (p.slug.clone(), p.name.clone(), Some(p.id) == project_id))
            .collect(),
    })
}

pub(crate) struct CheckLine {
    pub name: String,
    pub outcome: String,
    pub summary: String,
    pub attempts: String,
    pub took: String,
}

fn str_of(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Checks as `deploy verify` reports them; an entry of another shape shows what it has.
fn check_lines(checks: &Value) -> Vec<CheckLine> {
    checks
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| CheckLine {
            name: format!("{} {}", str_of(c, "kind"), str_of(c, "target"))
                .trim()
                .to_string(),
            outcome: str_of(c, "outcome"),
            summary: str_of(c, "summary"),
            attempts: str_of(c, "attempts"),
            took: took(c),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "deploy.html")]
struct DetailPage {
    chrome: Chrome,
    d: Line,
    name: String,
    url: String,
    commit: String,
    finished: String,
    watch_until: String,
    checks: Vec<CheckLine>,
    rollback_to: String,
    rollback_steps: Vec<CheckLine>,
    rolled_back: bool,
    watch_figures: Vec<(String, String)>,
    reasons: Vec<String>,
}

impl DetailPage {
    fn class(&self, verdict: &str) -> &'static str {
        verdict_class(verdict)
    }
}

/// One deploy.
pub async fn detail(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let id = match parse_id(&id, "deploy") {
        Ok(id) => id,
        Err(r) => return r,
    };
    let loaded = blocking(&web, move |s| {
        let Some(d) = s.get_deploy(id)? else {
            return Ok(None);
        };
        Ok(Some((d, s.list_projects()?)))
    })
    .await;
    let (d, projects) = match loaded {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(&format!("There is no deploy {id}.")),
        Err(r) => return r,
    };
    let now = web.clock.now_ms();
    let rollback = d.rollback.clone().unwrap_or(Value::Null);
    let rollback_steps = rollback
        .get("steps")
        .and_then(Value::as_array)
        .map(|steps| {
            steps
                .iter()
                .map(|s| CheckLine {
                    name: str_of(s, "command"),
                    outcome: str_of(s, "outcome"),
                    summary: str_of(s, "reason"),
                    attempts: str_of(s, "exit_code"),
                    took: took(s),
                })
                .collect()
        })
        .unwrap_or_default();
    let watch = d.watch.clone().unwrap_or(Value::Null);
    let figure = |key: &str| {
        watch
            .get(key)
            .filter(|v| !v.is_null())
            .map(Value::to_string)
    };
    let watch_figures = [
        ("Errors before", "errors_before"),
        ("Errors after", "errors_after"),
        ("Errors a minute before", "errors_per_min_before"),
        ("Errors a minute after", "errors_per_min_after"),
        ("New issues", "new_issues"),
        ("Issues with unhandled errors", "unhandled"),
        ("Sessions", "sessions"),
        ("Crash-free sessions, %", "crash_free_percent"),
        ("Window, minutes", "window_min"),
    ]
    .into_iter()
    .filter_map(|(label, key)| figure(key).map(|v| (label.to_string(), v)))
    .collect();
    let reasons = watch
        .get("reasons")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    render(&DetailPage {
        chrome: Chrome::new(&who, "/deploys", format!("Deploy {}", d.release)),
        name: d.name.clone().unwrap_or_default(),
        url: d
            .url
            .clone()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .unwrap_or_default(),
        commit: d.commit.clone().unwrap_or_default(),
        finished: d.finished_ms.map(view::time).unwrap_or_default(),
        watch_until: d.watch_until_ms.map(view::time).unwrap_or_default(),
        checks: check_lines(&d.checks),
        rollback_to: str_of(&rollback, "to"),
        rolled_back: d.rollback.is_some(),
        rollback_steps,
        watch_figures,
        reasons,
        d: line(&d, &projects, now),
    })
}

/// A check's or step's `duration_ms` as seconds with one decimal; empty when absent.
fn took(v: &Value) -> String {
    v.get("duration_ms")
        .and_then(Value::as_i64)
        .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
        .unwrap_or_default()
}
