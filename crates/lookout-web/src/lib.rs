//! lookout's signed-in dashboard: server-rendered pages from compile-time checked askama
//! templates (askama escapes every value; no HTML is built from strings), charts drawn
//! on the server as inline SVG, vendored CSS and a little JavaScript, accounts with
//! argon2id passwords, cookie sessions with CSRF tokens, and API tokens.
//!
//! The server mounts [`routes`] at `/` and hands in what only it has through [`Backend`]
//! (payload decompression, the live monitor registry, the alert engine, ingest).
//!
//! A page is one handler in `pages/` and one template in `templates/`; a page reached
//! from the navigation adds one line to [`NAV`].

// Helpers fail with the page to answer (`Response`): it is built once, on the failing
// path, and handed straight back by the handler, so boxing it buys nothing.
#![allow(clippy::result_large_err)]

pub mod auth;
mod charts;
mod form;
mod markdown;
mod pages;
mod view;

use std::sync::Arc;

use axum::handler::Handler;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use lookout_core::clock::Clock;
use lookout_store::{MonitorStatus, Project, Store};
use parking_lot::Mutex;

pub use auth::{hash_password, new_secret, token_hash, verify_password, Scope};
pub use pages::tokens::TOKEN_PREFIX;

/// What the dashboard needs from the server that the store does not hold. Every method
/// blocks (it is called on the blocking pool).
pub trait Backend: Send + Sync + 'static {
    /// A stored event payload as its JSON bytes.
    fn event_json(&self, payload: &[u8]) -> Result<Vec<u8>, String>;
    /// The DSN SDKs should use for a project.
    fn dsn(&self, project: &Project) -> String;
    /// A monitor's live status from the scheduler, when it has one.
    fn monitor_status(&self, id: i64) -> Option<MonitorStatus>;
    /// The last check's phase timings in ms: DNS, connect, TLS, first byte, total.
    fn last_phases(&self, id: i64) -> Option<[Option<f64>; 5]>;
    /// Pauses or resumes a monitor (store and scheduler); `false` if unknown.
    fn set_monitor_paused(&self, id: i64, paused: bool) -> Result<bool, String>;
    /// Queues a check of a monitor now; `false` if unknown, paused or a heartbeat.
    fn check_now(&self, id: i64) -> Result<bool, String>;
    /// Acknowledges an open incident; `false` if it is not open.
    fn acknowledge(&self, id: i64, by: &str) -> Result<bool, String>;
    /// Resolves an open incident; `false` if it is not open.
    fn resolve(&self, id: i64, by: &str) -> Result<bool, String>;
    /// The Markdown runbook of an alert rule, if it has one.
    fn runbook(&self, rule: &str) -> Option<String>;
    /// Sends a test error to a project through the real ingest path; its event id.
    fn send_test_error(&self, project: &Project) -> Result<String, String>;
    /// This instance's id and the lease TTL in ms (an instance silent longer is dead).
    fn this_instance(&self) -> (String, i64);
    /// Every service level objective, evaluated now.
    fn slos(&self) -> Result<Vec<SloReport>, String>;
}

/// One multiwindow burn-rate condition of an objective and where it stands.
#[derive(Debug, Clone)]
pub struct BurnRateReport {
    /// `page` or `ticket`.
    pub alert: String,
    /// The rate both windows must reach.
    pub factor: f64,
    /// The long window, ms (the short one is a twelfth of it).
    pub long_ms: i64,
    /// The burn rate over the long window.
    pub long: Option<f64>,
    /// The burn rate over the short window.
    pub short: Option<f64>,
    /// Both reach the factor.
    pub firing: bool,
}

/// An objective and where it stands, for the SLO page.
#[derive(Debug, Clone)]
pub struct SloReport {
    /// Its name.
    pub name: String,
    /// availability, errors_per_hour, error_ratio, latency or health_latency.
    pub kind: String,
    /// What it measures: the monitor, group or project (and transaction or sub-check).
    pub subject: String,
    /// `30d` or `calendar_month`.
    pub window: String,
    /// Where the window starts, Unix ms, and the evaluation; or why it cannot be
    /// evaluated (a monitor or project it names is gone).
    pub state: Result<(i64, lookout_core::slo::Status), String>,
    /// The multiwindow burn rates.
    pub burn_rates: Vec<BurnRateReport>,
    /// `page` or `ticket` when a burn-rate alert fires.
    pub alert: Option<String>,
}

/// The navigation, in order: (path, label). A new page reached from the menu adds a line.
pub const NAV: &[(&str, &str)] = &[
    ("/overview", "Overview"),
    ("/issues", "Issues"),
    ("/monitors", "Monitors"),
    ("/incidents", "Incidents"),
    ("/deploys", "Deploys"),
    ("/slos", "SLOs"),
    ("/install", "Setup"),
    ("/tokens", "API tokens"),
    ("/instances", "Instances"),
];

/// Routes that answer without signing in: `/` (which redirects), the sign-in and
/// first-user pages and the vendored assets. Every other dashboard route needs a session.
pub const PUBLIC_PATHS: &[&str] = &["/", "/login", "/setup", "/static/{file}"];

/// The dashboard's state.
pub struct Web {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// What the server provides.
    pub backend: Arc<dyn Backend>,
    /// The URL this server is reached at.
    pub public_url: String,
    /// Whether cookies are marked `Secure` (the public URL is https).
    secure: bool,
    /// The one-time token that creates the first user, while no user exists.
    setup_token: Mutex<Option<String>>,
    /// Proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    trusted_proxies: auth::TrustedProxies,
}

impl Web {
    /// The dashboard over `store`. Blocking: when no user exists yet it makes a one-time
    /// setup token and logs the link that uses it.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        backend: Arc<dyn Backend>,
        public_url: &str,
    ) -> lookout_store::Result<Web> {
        let public_url = public_url.trim_end_matches('/').to_string();
        let setup_token = if store.count_users()? == 0 {
            let t = new_secret();
            tracing::warn!(
                "no dashboard user exists yet: create the first one at {public_url}/setup?token={t} (or with `lookout user create`)"
            );
            Some(t)
        } else {
            None
        };
        Ok(Web {
            store,
            clock,
            backend,
            secure: public_url.starts_with("https://"),
            public_url,
            setup_token: Mutex::new(setup_token),
            trusted_proxies: auth::TrustedProxies::default(),
        })
    }

    /// Takes the client's address from `X-Forwarded-For` when a request comes through one
    /// of `proxies`, so the sign-in limit per address counts each client, not the proxy.
    pub fn with_trusted_proxies(mut self, proxies: auth::TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The first-user setup token, while no user has been created with it.
    pub fn setup_token(&self) -> Option<String> {
        self.setup_token.lock().clone()
    }
}

/// A router that records what it routes, so tests can walk every route (a route added
/// here is checked for sign-in without anyone remembering to list it).
struct Routes {
    router: Router<Arc<Web>>,
    list: Vec<(Method, &'static str)>,
}

impl Routes {
    fn add<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Routes
    where
        H: Handler<T, Arc<Web>>,
        T: 'static,
    {
        let route = if method == Method::POST {
            post(handler)
        } else {
            get(handler)
        };
        self.router = self.router.route(path, route);
        self.list.push((method, path));
        self
    }

    fn get<H: Handler<T, Arc<Web>>, T: 'static>(self, path: &'static str, h: H) -> Routes {
        self.add(Method::GET, path, h)
    }

    fn post<H: Handler<T, Arc<Web>>, T: 'static>(self, path: &'static str, h: H) -> Routes {
        self.add(Method::POST, path, h)
    }
}

fn build() -> Routes {
    use pages::*;
    Routes {
        router: Router::new(),
        list: Vec::new(),
    }
    .get("/", root)
    .get("/login", account::login_page)
    .post("/login", account::login)
    .post("/logout", account::logout)
    .get("/setup", account::setup_page)
    .post("/setup", account::setup)
    .get("/static/{file}", static_file)
    .get("/overview", overview::page)
    .get("/issues", issues::page)
    .post("/issues/bulk", issues::bulk)
    .get("/issues/{id}", issue::page)
    .post("/issues/{id}/status", issue::set_status)
    .get("/monitors", monitors::page)
    .get("/monitors/{id}", monitor::page)
    .post("/monitors/{id}/action", monitor::action)
    .get("/incidents", incidents::page)
    .get("/incidents/{id}", incident::page)
    .post("/incidents/{id}/action", incident::action)
    .get("/deploys", deploys::page)
    .get("/deploys/{id}", deploys::detail)
    .get("/slos", slos::page)
    .get("/install", install::page)
    .post("/install/test-error", install::test_error)
    .get("/tokens", tokens::page)
    .post("/tokens", tokens::create)
    .post("/tokens/{id}/revoke", tokens::revoke)
    .get("/instances", instances::page)
}

/// Every dashboard route, with the state applied.
pub fn routes<S: Clone + Send + Sync + 'static>(web: Arc<Web>) -> Router<S> {
    build().router.with_state(web)
}

/// Every dashboard route as (method, path pattern), for tests that walk them.
pub fn route_list() -> Vec<(Method, &'static str)> {
    build().list
}

const CSS: &str = include_str!("../static/app.css");
const JS: &str = include_str!("../static/app.js");

/// The vendored assets, cached for a day (their content changes only with a release).
async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return pages::not_found("no such file"),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_menu_entry_is_a_page_and_public_paths_are_routes() {
        let routes = route_list();
        for (path, label) in NAV {
            assert!(
                routes.contains(&(Method::GET, *path)),
                "the menu's {label} ({path}) has no page"
            );
        }
        for path in PUBLIC_PATHS {
            assert!(
                routes.iter().any(|(_, p)| p == path),
                "{path} is listed public but not routed"
            );
        }
    }
}
