//! API tokens of the signed-in user: create (shown once), list, revoke. The JSON API takes
//! them as bearer tokens, within their scopes.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lookout_store::NewApiToken;

use super::{blocking, not_found, render, see_other, Chrome};
use crate::auth::{self, Scope, SignedIn};
use crate::form::Form;
use crate::{view, Web};

/// Every token starts so, which makes a leaked one recognisable to secret scanners.
pub const TOKEN_PREFIX: &str = "lkt_";

pub(crate) struct Line {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct Page {
    chrome: Chrome,
    tokens: Vec<Line>,
    scopes: Vec<&'static str>,
    created: Option<String>,
    error: Option<String>,
}

async fn show(
    web: &Arc<Web>,
    who: &SignedIn,
    created: Option<String>,
    error: Option<String>,
) -> Response {
    let user = who.user.id;
    let tokens = match blocking(web, move |s| s.list_api_tokens(user)).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let now = web.clock.now_ms();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = render(&Page {
        chrome: Chrome::new(who, "/tokens", "API tokens"),
        tokens: tokens
            .iter()
            .map(|t| Line {
                id: t.id,
                name: t.name.clone(),
                prefix: t.prefix.clone(),
                scopes: t.scopes.join(", "),
                created: view::time(t.created_ms),
                last_used: t
                    .last_used_ms
                    .map(|u| view::ago(u, now))
                    .unwrap_or_else(|| "never".into()),
                revoked: t.revoked_ms.is_some(),
            })
            .collect(),
        scopes: Scope::ALL.iter().map(|(_, n)| *n).collect(),
        created,
        error,
    });
    let mut page = page.into_response();
    *page.status_mut() = status;
    // The page may hold a new token: no cache keeps it.
    page.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    page
}

/// The token list.
pub async fn page(State(web): State<Arc<Web>>, who: SignedIn) -> Response {
    show(&web, &who, None, None).await
}

/// Creates a token and shows it once.
pub async fn create(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    body: axum::body::Bytes,
) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = who.check_csrf(form.get("csrf")) {
        return r;
    }
    let Some(name) = form.text("name").map(str::to_string) else {
        return show(
            &web,
            &who,
            None,
            Some("Name the token, e.g. after what will use it.".into()),
        )
        .await;
    };
    let scopes: Vec<String> = form.all("scope").map(str::to_string).collect();
    if let Some(bad) = scopes.iter().find(|s| Scope::parse(s).is_none()) {
        return show(
            &web,
            &who,
            None,
            Some(format!(
                "`{bad}` is not a scope: use read, write or project:releases"
            )),
        )
        .await;
    }
    if scopes.is_empty() {
        return show(&web, &who, None, Some("Choose at least one scope.".into())).await;
    }
    let token = format!("{TOKEN_PREFIX}{}", auth::new_secret());
    let new = NewApiToken {
        user_id: who.user.id,
        name,
        token_hash: auth::token_hash(&token),
        prefix: token[..TOKEN_PREFIX.len() + 6].to_string(),
        scopes,
        created_ms: web.clock.now_ms(),
    };
    match blocking(&web, move |s| s.create_api_token(&new)).await {
        Ok(t) => {
            tracing::info!(user = %who.user.email, token = %t.name, scopes = ?t.scopes, "API token created");
            show(&web, &who, Some(token), None).await
        }
        Err(r) => r,
    }
}

/// Revokes one of the user's tokens.
pub async fn revoke(
    State(web): State<Arc<Web>>,
    who: SignedIn,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (_, id) = match super::posted_on(&who, &body, &id, "token") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (user, now) = (who.user.id, web.clock.now_ms());
    match blocking(&web, move |s| s.revoke_api_token(user, id, now)).await {
        Ok(true) => {
            tracing::info!(user = %who.user.email, token = id, "API token revoked");
            see_other("/tokens")
        }
        Ok(false) => not_found(&format!("You have no unrevoked token {id}.")),
        Err(r) => r,
    }
}
