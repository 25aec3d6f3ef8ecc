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
    pub projects: String,
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
    projects: Vec<String>,
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
    let (tokens, projects) = match blocking(web, move |s| {
        Ok((s.list_api_tokens(user)?, s.list_projects()?))
    })
    .await
    {
        Ok(t) => t,
        Err(r) => return r,
    };
    let slug = |id: &i64| {
        projects
            .iter()
            .find(|p| p.id == *id)
            .map_or_else(|| format!("#{id}"), |p| p.slug.clone())
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
                projects: match &t.projects {
                    None => "all".into(),
                    Some(ids) => ids.iter().map(slug).collect::<Vec<_>>().join(", "),
                },
                created: view::time(t.created_ms),
                last_used: t
                    .last_used_ms
                    .map(|u| view::ago(u, now))
                    .unwrap_or_else(|| "never".into()),
                revoked: t.revoked_ms.is_some(),
            })
            .collect(),
        scopes: Scope::ALL.iter().map(|(_, n)| *n).collect(),
        projects: projects.iter().map(|p| p.slug.clone()).collect(),
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
    // No project ticked: every project, as before projects could be chosen.
    let slugs: Vec<String> = form.all("project").map(str::to_string).collect();
    let projects = if slugs.is_empty() {
        None
    } else {
        let all = match blocking(&web, |s| s.list_projects()).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        let mut ids = Vec::new();
        for slug in &slugs {
            match all.iter().find(|p| &p.slug == slug) {
                Some(p) => ids.push(p.id),
                None => {
                    return show(
                        &web,
                        &who,
                        None,
                        Some(format!("There is no project `{slug}`.")),
                    )
                    .await
                }
            }
        }
        Some(ids)
    };
    let token = format!("{TOKEN_PREFIX}{}", auth::new_secret());
    let new = NewApiToken {
        user_id: who.user.id,
        name,
        token_hash: auth::token_hash(&token),
        prefix: token[..TOKEN_PREFIX.len() + 6].to_string(),
        scopes,
        projects,
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
