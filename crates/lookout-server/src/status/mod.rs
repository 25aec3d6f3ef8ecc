//! Public status pages: `/status/{slug}` (HTML without JavaScript), its JSON summary
//! (`/status/{slug}.json`), its Atom feed of incidents (`/status/{slug}/feed.atom`) and
//! SVG badges (`/badge/{slug}/{monitor}.svg`); and the same page at `/` of its own domain.
//!
//! Nothing here needs a sign-in, and nothing here shares a limiter with the sign-in pages:
//! a status page answers while they are rate-limited. What may be shown is decided in
//! [`view`] alone; the renderers see only its public types. Answers carry a short
//! `Cache-Control` so a CDN in front can absorb a crowd checking during an outage.
//!
//! A page's own domain is served by [`by_host`], a layer around the whole router: a
//! request whose `Host` is a configured domain, for `/`, `/feed.atom` or `/summary.json`,
//! gets that page's answer; every other request goes on to the routes (the dashboard at
//! `/`, the API…) untouched.

pub mod config;
mod render;
mod uptime;
mod view;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lookout_core::clock::Clock;
use lookout_store::{StatusPage, Store};
use parking_lot::RwLock;
use serde::Deserialize;

use crate::monitors::Monitors;
use view::PublicPage;

/// How long a CDN or browser may keep a public answer: short, so an outage shows within
/// half a minute, long enough that a crowd refreshing during one hits the cache.
const CACHE_CONTROL: &str = "public, max-age=30";

/// What the public handlers need.
pub struct Pages {
    store: Arc<dyn Store>,
    monitors: Arc<Monitors>,
    clock: Arc<dyn Clock>,
    public_url: String,
    /// Own domains (normalised) to page slugs.
    domains: RwLock<HashMap<String, String>>,
}

impl Pages {
    /// The handle, with the domains of the pages stored now.
    pub fn new(
        store: Arc<dyn Store>,
        monitors: Arc<Monitors>,
        clock: Arc<dyn Clock>,
        public_url: String,
        pages: &[StatusPage],
    ) -> Self {
        let p = Pages {
            store,
            monitors,
            clock,
            public_url: public_url.trim_end_matches('/').to_string(),
            domains: RwLock::new(HashMap::new()),
        };
        p.set_domains(pages);
        p
    }

    /// Takes the domains of `pages` (all pages stored), after a change through the API.
    pub fn set_domains(&self, pages: &[StatusPage]) {
        *self.domains.write() = pages
            .iter()
            .filter_map(|p| Some((p.domain.clone()?, p.slug.clone())))
            .collect();
    }

    fn slug_for_host(&self, host: &str) -> Option<String> {
        let domains = self.domains.read();
        if domains.is_empty() {
            return None;
        }
        domains.get(&config::normal_host(strip_port(host))).cloned()
    }

    /// Reads the public view of page `slug`; `None` if there is no such page.
    async fn view(&self, slug: String) -> Result<Option<PublicPage>, Response> {
        let store = self.store.clone();
        let live = self.monitors.statuses();
        let windows = self.monitors.config_windows();
        let now = self.clock.now_ms();
        tokio::task::spawn_blocking(move || {
            let Some(page) = store.get_status_page(&slug)? else {
                return Ok(None);
            };
            view::load(store.as_ref(), &page, &live, &windows, now).map(Some)
        })
        .await
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))
    }
}

fn failed(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "a status page could not be read");
    public(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain; charset=utf-8",
        "The status page is unavailable for a moment; try again shortly.\n".to_string(),
    )
}

/// `host:port` or `[v6]:port` without the port.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// A public answer: its type, a short shared cache lifetime, no sniffing.
fn public(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The public routes.
pub fn routes<S>(pages: Arc<Pages>) -> Router<S> {
    Router::new()
        .route("/status/{slug}", get(page_or_json))
        .route("/status/{slug}/", get(page))
        .route("/status/{slug}/summary.json", get(summary))
        .route("/status/{slug}/feed.atom", get(feed))
        .route("/badge/{slug}/{file}", get(badge))
        .with_state(pages)
}

/// Serves a page on its own domain; passes everything else on.
pub async fn by_host(State(pages): State<Arc<Pages>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host());
    let slug = host.and_then(|h| pages.slug_for_host(h));
    let Some(slug) = slug else {
        return next.run(req).await;
    };
    if req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD {
        return next.run(req).await;
    }
    match req.uri().path() {
        "/" | "/index.html" => html(&pages, slug).await,
        "/feed.atom" => atom(&pages, slug).await,
        "/summary.json" => json(&pages, slug).await,
        _ => next.run(req).await,
    }
}

async fn page_or_json(State(pages): State<Arc<Pages>>, Path(slug): Path<String>) -> Response {
    match slug.strip_suffix(".json") {
        Some(slug) => json(&pages, slug.to_string()).await,
        None => html(&pages, slug).await,
    }
}

async fn page(State(pages): State<Arc<Pages>>, Path(slug): Path<String>) -> Response {
    html(&pages, slug).await
}

async fn summary(State(pages): State<Arc<Pages>>, Path(slug): Path<String>) -> Response {
    json(&pages, slug).await
}

async fn feed(State(pages): State<Arc<Pages>>, Path(slug): Path<String>) -> Response {
    atom(&pages, slug).await
}

fn not_found(what: &str) -> Response {
    public(
        StatusCode::NOT_FOUND,
        "text/html; charset=utf-8",
        render::not_found(what),
    )
}

async fn html(pages: &Pages, slug: String) -> Response {
    match pages.view(slug.clone()).await {
        Ok(Some(v)) => match render::page(&v) {
            Ok(body) => public(StatusCode::OK, "text/html; charset=utf-8", body),
            Err(e) => failed(&e),
        },
        Ok(None) => not_found(&slug),
        Err(r) => r,
    }
}

async fn json(pages: &Pages, slug: String) -> Response {
    match pages.view(slug.clone()).await {
        Ok(Some(v)) => public(
            StatusCode::OK,
            "application/json",
            render::summary(&v, &pages.public_url),
        ),
        Ok(None) => public(
            StatusCode::NOT_FOUND,
            "application/json",
            serde_json::json!({"detail": format!("no status page `{slug}`")}).to_string(),
        ),
        Err(r) => r,
    }
}

async fn atom(pages: &Pages, slug: String) -> Response {
    match pages.view(slug.clone()).await {
        Ok(Some(v)) => match render::feed(&v, &pages.public_url) {
            Ok(body) => public(StatusCode::OK, "application/atom+xml; charset=utf-8", body),
            Err(e) => failed(&e),
        },
        Ok(None) => not_found(&slug),
        Err(r) => r,
    }
}

/// `?metric=state|uptime&period=24h|7d|30d|90d`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BadgeQuery {
    metric: Option<String>,
    period: Option<String>,
}

async fn badge(
    State(pages): State<Arc<Pages>>,
    Path((slug, file)): Path<(String, String)>,
    query: Result<Query<BadgeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let bad = |msg: String| {
        public(
            StatusCode::BAD_REQUEST,
            "application/json",
            serde_json::json!({ "detail": msg }).to_string(),
        )
    };
    let Ok(Query(q)) = query else {
        return bad(
            "the query takes metric (state or uptime) and period (24h, 7d, 30d or 90d)".into(),
        );
    };
    let Some(name) = file.strip_suffix(".svg") else {
        return not_found(&slug);
    };
    let metric = match q.metric.as_deref().unwrap_or("state") {
        m @ ("state" | "uptime") => m,
        other => return bad(format!("metric `{other}` is unknown: use state or uptime")),
    };
    let period = q.period.as_deref().unwrap_or("30d");
    if !matches!(period, "24h" | "7d" | "30d" | "90d") {
        return bad(format!(
            "period `{period}` is unknown: use 24h, 7d, 30d or 90d"
        ));
    }
    let v = match pages.view(slug.clone()).await {
        Ok(Some(v)) => v,
        Ok(None) => return not_found(&slug),
        Err(r) => return r,
    };
    let Some(m) = v.monitor(name) else {
        return not_found(&slug);
    };
    let body = match metric {
        "uptime" => render::uptime_badge(m, period),
        _ => render::state_badge(m),
    };
    match body {
        Ok(svg) => public(StatusCode::OK, "image/svg+xml", svg),
        Err(e) => failed(&e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_stripped() {
        assert_eq!(
            super::strip_port("status.acme.example:8080"),
            "status.acme.example"
        );
        assert_eq!(
            super::strip_port("status.acme.example"),
            "status.acme.example"
        );
        assert_eq!(super::strip_port("[::1]:80"), "::1");
    }
}
