//! Setup: each project's DSN with a copy button, the SDK snippets for Next.js, Node, the
//! browser, Python and Rust, and the reference runbook's "send a test error" as a button.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{backend, bad_request, blocking, not_found, render, see_other, Chrome};
use crate::auth::SignedIn;
use crate::form::Form;
use crate::Web;

pub(crate) struct ProjectSetup {
    pub slug: String,
    pub name: String,
    pub dsn: String,
}

#[derive(Template)]
#[template(path = "install.html")]
struct Page {
    chrome: Chrome,
    projects: Vec<ProjectSetup>,
    sent: Option<String>,
}

#[derive(Deserialize)]
pub struct SentQuery {
    sent: Option<String>,
}

/// The setup page.
pub async fn page(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    Query(q): Query<SentQuery>,
) -> Response {
    let projects = match blocking(&web, |s| s.list_projects()).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    render(&Page {
        chrome: Chrome::new(&who, "/install", "Setup"),
        projects: projects
            .iter()
            .map(|p| ProjectSetup {
                slug: p.slug.clone(),
                name: p.name.clone(),
                dsn: web.backend.dsn(p),
            })
            .collect(),
        sent: q.sent.filter(|s| s.chars().all(|c| c.is_ascii_hexdigit())),
    })
}

/// Sends a test error to a project through the real ingest path.
pub async fn test_error(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = who.check_csrf(form.get("csrf")) {
        return r;
    }
    let Some(slug) = form.text("project").map(str::to_string) else {
        return bad_request("project: which project to send the test error to");
    };
    let s2 = slug.clone();
    let project = match blocking(&web, move |s| s.get_project_by_slug(&s2)).await {
        Ok(Some(p)) => p,
        Ok(None) => return not_found(&format!("There is no project `{slug}`.")),
        Err(r) => return r,
    };
    match backend(&web, move |b| b.send_test_error(&project)).await {
        Ok(event_id) => {
            tracing::info!(user = %who.user.email, project = %slug, event = %event_id, "test error sent from the dashboard");
            see_other(&format!("/install?sent={event_id}"))
        }
        Err(r) => r,
    }
}
