//! Incidents: the open ones first, then the latest resolved.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use lookout_core::alert::incident::IncidentStatus;
use lookout_store::IncidentFilter;

use super::{blocking, render, Chrome};
use crate::auth::SignedIn;
use crate::view;
use crate::Web;

pub(crate) struct Line {
    pub id: i64,
    pub title: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub opened: String,
    pub who: String,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct Page {
    chrome: Chrome,
    open: Vec<Line>,
    resolved: Vec<Line>,
}

/// The incident list.
pub async fn page(State(web): State<Arc<Web>>, who: SignedIn) -> Response {
    let loaded = blocking(&web, |s| {
        let open = s.open_incidents()?;
        let resolved = s.list_incidents(&IncidentFilter {
            statuses: vec![IncidentStatus::Resolved],
            subject: None,
            limit: 50,
            before_id: None,
        })?;
        Ok((open, resolved))
    })
    .await;
    let (mut open, resolved) = match loaded {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = web.clock.now_ms();
    open.sort_by_key(|i| (i.severity, std::cmp::Reverse(i.opened_ms)));
    let line = |i: &lookout_store::IncidentRow| Line {
        id: i.id,
        title: i.title.clone(),
        severity: i.severity.as_str(),
        status: i.status.as_str(),
        opened: view::ago(i.opened_ms, now),
        who: i
            .resolved_by
            .clone()
            .or_else(|| i.acked_by.clone())
            .unwrap_or_default(),
    };
    render(&Page {
        chrome: Chrome::new(&who, "/incidents", "Incidents"),
        open: open.iter().map(line).collect(),
        resolved: resolved.iter().map(line).collect(),
    })
}
