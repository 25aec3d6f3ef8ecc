//! One module per page: a handler that gathers what the page shows and one template
//! that draws it. Every handler but sign-in takes [`SignedIn`]; every form handler checks
//! the CSRF token first.

pub mod account;
pub mod incident;
pub mod incidents;
pub mod install;
pub mod instances;
pub mod issue;
pub mod issues;
pub mod monitor;
pub mod monitors;
pub mod overview;
pub mod tokens;

use std::sync::Arc;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use lookout_store::Store;

use crate::auth::SignedIn;
use crate::{Web, NAV};

/// A link of the navigation.
pub struct NavLink {
    /// Where.
    pub href: &'static str,
    /// Its label.
    pub label: &'static str,
    /// The current page's section.
    pub current: bool,
}

/// What every signed-in page's frame shows: the navigation, who is signed in, and the
/// CSRF token its forms carry.
pub struct Chrome {
    /// The page title.
    pub title: String,
    /// The navigation.
    pub nav: Vec<NavLink>,
    /// The signed-in user's email.
    pub user: String,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Chrome {
    /// The frame of a page in section `section` (a [`NAV`] path).
    pub fn new(who: &SignedIn, section: &str, title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            nav: NAV
                .iter()
                .map(|(href, label)| NavLink {
                    href,
                    label,
                    current: *href == section,
                })
                .collect(),
            user: who.user.email.clone(),
            csrf: who.csrf.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    message: &'a str,
}

/// Renders a template, or a plain 500 when it fails (it should not: templates are checked
/// at compile time, only a value's `Display` can fail).
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => internal(&format!("the page cannot be drawn: {e}")),
    }
}

/// An error page with `status`.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, message.to_string()).into_response(),
    }
}

/// A 404 page.
pub fn not_found(message: &str) -> Response {
    error_page(StatusCode::NOT_FOUND, message)
}

/// A 500 page; the cause goes to the log.
pub fn internal(cause: &str) -> Response {
    tracing::error!(error = cause, "a dashboard page failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on the server; the log says what.",
    )
}

/// A 400 page.
pub fn bad_request(message: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, message)
}

/// After a form: back to `to` (303, so a reload does not post again).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Runs store calls on the blocking pool.
pub async fn blocking<T, F>(web: &Arc<Web>, f: F) -> Result<T, Response>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> lookout_store::Result<T> + Send + 'static,
{
    let store = web.store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| internal(&format!("a database task failed: {e}")))?
        .map_err(|e| internal(&format!("the database reported an error: {e}")))
}

/// Runs a backend call on the blocking pool.
pub async fn backend<T, F>(web: &Arc<Web>, f: F) -> Result<T, Response>
where
    T: Send + 'static,
    F: FnOnce(&dyn crate::Backend) -> Result<T, String> + Send + 'static,
{
    let b = web.backend.clone();
    tokio::task::spawn_blocking(move || f(b.as_ref()))
        .await
        .map_err(|e| internal(&format!("a server task failed: {e}")))?
        .map_err(|e| internal(&e))
}

/// Parses a numeric path id.
pub fn parse_id(id: &str, what: &str) -> Result<i64, Response> {
    id.parse()
        .map_err(|_| bad_request(&format!("`{id}` is not a {what} id")))
}

/// The start of every form post on one thing (`/WHAT/{id}/…`): the form, its CSRF token
/// checked, and the thing's id.
pub fn posted_on(
    who: &SignedIn,
    body: &[u8],
    id: &str,
    what: &str,
) -> Result<(crate::form::Form, i64), Response> {
    let form = crate::form::Form::parse(body);
    who.check_csrf(form.get("csrf"))?;
    Ok((form, parse_id(id, what)?))
}

/// `/`: the overview when signed in, else sign-in.
pub async fn root(headers: axum::http::HeaderMap) -> Response {
    match crate::auth::cookie(&headers, crate::auth::SESSION_COOKIE) {
        Some(_) => see_other("/overview"),
        None => see_other("/login"),
    }
}
