//! One incident: acknowledge, resolve, add a note; its timeline, and its runbook rendered
//! from Markdown beside it.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use lookout_core::alert::incident::SubjectKind;
use lookout_core::alert::timeline::TimelineKind;
use lookout_store::{AlertBatch, IncidentRef, TimelineEntry};

use super::{
    backend, bad_request, blocking, error_page, not_found, parse_id, render, see_other, Chrome,
};
use crate::auth::SignedIn;
use crate::{markdown, view, Web};

pub(crate) struct Entry {
    pub at: String,
    pub kind: &'static str,
    pub text: String,
    pub actor: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct Page {
    chrome: Chrome,
    id: i64,
    title: String,
    summary: String,
    severity: &'static str,
    status: &'static str,
    rule: String,
    subject: Option<String>,
    opened: String,
    acked: String,
    resolved: String,
    timeline: Vec<Entry>,
    runbook: Option<String>,
}

/// The incident page.
pub async fn page(State(web): State<Arc<Web>>, who: SignedIn, Path(id): Path<String>) -> Response {
    let id = match parse_id(&id, "incident") {
        Ok(id) => id,
        Err(r) => return r,
    };
    let loaded = blocking(&web, move |s| {
        let Some(i) = s.get_incident(id)? else {
            return Ok(None);
        };
        Ok(Some((i, s.incident_timeline(id)?)))
    })
    .await;
    let (i, timeline) = match loaded {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(&format!("There is no incident {id}.")),
        Err(r) => return r,
    };
    let stamp = |t: Option<i64>, by: &Option<String>| match (t, by) {
        (Some(t), Some(b)) => format!("{} by {b}", view::time(t)),
        (Some(t), None) => view::time(t),
        _ => String::new(),
    };
    render(&Page {
        chrome: Chrome::new(&who, "/incidents", i.title.clone()),
        id,
        title: i.title.clone(),
        summary: i.summary.clone(),
        severity: i.severity.as_str(),
        status: i.status.as_str(),
        rule: i.rule.clone(),
        subject: match i.subject_kind {
            SubjectKind::Monitor => Some(format!("/monitors/{}", i.subject_id)),
            SubjectKind::Issue => Some(format!("/issues/{}", i.subject_id)),
            SubjectKind::Project => None,
        },
        opened: view::time(i.opened_ms),
        acked: stamp(i.acked_ms, &i.acked_by),
        resolved: stamp(i.resolved_ms, &i.resolved_by),
        timeline: timeline
            .iter()
            .map(|e| Entry {
                at: view::time(e.at_ms),
                kind: e.kind.as_str(),
                text: e.text.clone(),
                actor: e.actor.clone().unwrap_or_default(),
            })
            .collect(),
        runbook: web
            .backend
            .runbook(&i.rule)
            .as_deref()
            .map(markdown::render),
    })
}

/// Acknowledge, resolve, or add a note.
pub async fn action(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (form, id) = match super::posted_on(&who, &body, &id, "incident") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let by = who.user.email.clone();
    let action = form.get("action").unwrap_or("").to_string();
    let done = match action.as_str() {
        "ack" => backend(&web, move |b| b.acknowledge(id, &by)).await,
        "resolve" => backend(&web, move |b| b.resolve(id, &by)).await,
        "note" => {
            let Some(text) = form.text("text").map(str::to_string) else {
                return bad_request("Write the note first.");
            };
            let now = web.clock.now_ms();
            blocking(&web, move |s| {
                if s.get_incident(id)?.is_none() {
                    return Ok(false);
                }
                s.apply_alerts(&AlertBatch {
                    timeline: vec![(
                        IncidentRef::Id(id),
                        TimelineEntry {
                            at_ms: now,
                            kind: TimelineKind::Note,
                            text,
                            actor: Some(by),
                        },
                    )],
                    ..AlertBatch::default()
                })?;
                Ok(true)
            })
            .await
        }
        _ => return bad_request("action: use ack, resolve or note"),
    };
    match done {
        Ok(true) => {
            tracing::info!(user = %who.user.email, incident = id, action = %action, "incident action");
            see_other(&format!("/incidents/{id}"))
        }
        Ok(false) => error_page(
            StatusCode::CONFLICT,
            &format!("Incident {id} is not open (or does not exist)."),
        ),
        Err(r) => r,
    }
}
