//! Sign-in, sign-out and the first user's setup.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use askama::Template;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, Html, IntoResponse, Response};
use serde::Deserialize;

use super::{blocking, internal, see_other};
use crate::auth::{self, SignedIn, FAILURE_WINDOW_MS, LOGIN_COOKIE, MAX_FAILURES};
use crate::form::Form;
use crate::Web;

/// Form bodies are small; anything larger is not one of ours.
pub(crate) const FORM_LIMIT: usize = 64 * 1024;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    no_user: bool,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only paths on this server: `//host` or `http://…` would send the user away.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/overview",
    }
}

fn login_form(
    web: &Web,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let csrf = auth::new_secret();
    let page = LoginPage {
        csrf: &csrf,
        next,
        email,
        error,
        no_user: web.setup_token().is_some(),
    };
    match page.render() {
        Ok(html) => (
            status,
            [
                (
                    header::SET_COOKIE,
                    auth::set_cookie(web, headers, LOGIN_COOKIE, &csrf, 3600),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => internal(&e.to_string()),
    }
}

/// Ends the setup token once a user exists: `lookout user create` writes the store while
/// the server runs, and the sign-in page must then stop saying that no user exists (and
/// the setup link stop offering its form).
async fn spend_setup_token_if_a_user_exists(web: &Arc<Web>) {
    if web.setup_token().is_none() {
        return;
    }
    if let Ok(n) = blocking(web, |s| s.count_users()).await {
        if n > 0 {
            *web.setup_token.lock() = None;
        }
    }
}

/// The sign-in form.
pub async fn login_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    spend_setup_token_if_a_user_exists(&web).await;
    login_form(
        &web,
        &headers,
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        "",
        None,
    )
}

/// Verifies against a fixed hash when the account does not exist, so the answer takes as
/// long as for a wrong password and does not tell which accounts exist.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| auth::hash_password("no such account").unwrap_or_default())
}

/// Signs in: CSRF (the form's token must equal its cookie's), the rate limit per account
/// and per address, then the password.
pub async fn login(State(web): State<Arc<Web>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = req.headers().clone();
    let addr = web.trusted_proxies.client(peer, &headers);
    let body = match axum::body::to_bytes(req.into_body(), FORM_LIMIT).await {
        Ok(b) => b,
        Err(_) => return super::bad_request("the form is too large"),
    };
    let form = Form::parse(&body);
    let next = safe_next(form.get("next")).to_string();
    let email = form.text("email").unwrap_or("").to_lowercase();
    let expected = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !auth::same_secret(form.get("csrf").unwrap_or(""), expected) {
        return login_form(
            &web,
            &headers,
            StatusCode::FORBIDDEN,
            &next,
            &email,
            Some("The form had expired. Sign in again."),
        );
    }
    let keys = auth::failure_keys(&email, addr);
    let now = web.clock.now_ms();
    let since = now - FAILURE_WINDOW_MS;
    let ks = keys.clone();
    let failures = match blocking(&web, move |s| {
        ks.iter()
            .map(|k| s.count_login_failures(k, since))
            .try_fold(0, |m, n| n.map(|n| m.max(n)))
    })
    .await
    {
        Ok(n) => n,
        Err(r) => return r,
    };
    if failures >= MAX_FAILURES {
        tracing::warn!(account = %email, addr = ?addr, "sign-in refused: too many failed attempts");
        let mut r = login_form(
            &web,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            &email,
            Some("Too many failed sign-ins: wait a minute and try again."),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
        return r;
    }
    let password = form.get("password").unwrap_or("").to_string();
    let store = web.store.clone();
    let e = email.clone();
    let user = tokio::task::spawn_blocking(move || {
        let user = store.get_user_by_email(&e)?;
        let hash = user
            .as_ref()
            .map_or(dummy_hash(), |u| u.password_hash.as_str());
        let ok = auth::verify_password(&password, hash);
        Ok::<_, lookout_store::StoreError>(user.filter(|_| ok))
    })
    .await;
    let user = match user {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => return internal(&e.to_string()),
        Err(e) => return internal(&e.to_string()),
    };
    let Some(user) = user else {
        let forget = now - 10 * FAILURE_WINDOW_MS;
        if let Err(r) = blocking(&web, move |s| {
            keys.iter()
                .try_for_each(|k| s.record_login_failure(k, now, forget))
        })
        .await
        {
            return r;
        }
        tracing::info!(account = %email, addr = ?addr, "sign-in failed: wrong email or password");
        return login_form(
            &web,
            &headers,
            StatusCode::UNAUTHORIZED,
            &next,
            &email,
            Some("Wrong email or password."),
        );
    };
    match auth::start_session(&web, &headers, &user).await {
        Ok(cookie) => {
            tracing::info!(user = %user.email, "signed in");
            (
                // Two cookies: an array of headers would keep only the last.
                AppendHeaders([
                    (header::SET_COOKIE, cookie),
                    (
                        header::SET_COOKIE,
                        auth::set_cookie(&web, &headers, LOGIN_COOKIE, "", 0),
                    ),
                ]),
                see_other(&next),
            )
                .into_response()
        }
        Err(r) => r,
    }
}

/// Signs out: ends the session and deletes its cookie.
pub async fn logout(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = who.check_csrf(form.get("csrf")) {
        return r;
    }
    if let Some(id) = auth::cookie(&headers, auth::SESSION_COOKIE) {
        let (hash, now) = (auth::token_hash(id), web.clock.now_ms());
        if let Err(r) = blocking(&web, move |s| s.delete_session(&hash, now)).await {
            return r;
        }
    }
    (
        [(
            header::SET_COOKIE,
            auth::set_cookie(&web, &headers, auth::SESSION_COOKIE, "", 0),
        )],
        see_other("/login"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    token: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// Whether `given` is the setup token still in force.
fn setup_allowed(web: &Web, given: &str) -> bool {
    web.setup_token()
        .is_some_and(|t| auth::same_secret(given, &t))
}

fn setup_refused() -> Response {
    super::error_page(
        StatusCode::NOT_FOUND,
        "This setup link is not valid: a user exists already, or the link is not the one printed in the server log at start. Sign in, or add users with `lookout user create`.",
    )
}

/// The first user's form, reached by the link printed at start.
pub async fn setup_page(State(web): State<Arc<Web>>, Query(q): Query<TokenQuery>) -> Response {
    spend_setup_token_if_a_user_exists(&web).await;
    let token = q.token.unwrap_or_default();
    if !setup_allowed(&web, &token) {
        return setup_refused();
    }
    super::render(&SetupPage {
        token: &token,
        email: "",
        error: None,
    })
}

/// Creates the first user and signs them in; the setup token is used up.
pub async fn setup(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    let token = form.get("token").unwrap_or("").to_string();
    if !setup_allowed(&web, &token) {
        return setup_refused();
    }
    let email = form.text("email").unwrap_or("").to_lowercase();
    let password = form.get("password").unwrap_or("").to_string();
    let problem = if !email.contains('@') {
        Some("Enter an email address: it is the name you sign in with.")
    } else {
        auth::check_new_password(&password).err()
    };
    if let Some(p) = problem {
        let page = SetupPage {
            token: &token,
            email: &email,
            error: Some(p),
        };
        return (StatusCode::BAD_REQUEST, super::render(&page)).into_response();
    }
    let now = web.clock.now_ms();
    let e = email.clone();
    let created = blocking(&web, move |s| {
        if s.count_users()? > 0 {
            return Ok(None);
        }
        let hash = auth::hash_password(&password).map_err(lookout_store::StoreError::Corrupt)?;
        s.create_user(&e, &hash, now).map(Some)
    })
    .await;
    let user = match created {
        Ok(Some(u)) => u,
        Ok(None) => return setup_refused(),
        Err(r) => return r,
    };
    *web.setup_token.lock() = None;
    tracing::info!(user = %user.email, "the first dashboard user was created");
    match auth::start_session(&web, &headers, &user).await {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], see_other("/overview")).into_response(),
        Err(r) => r,
    }
}
