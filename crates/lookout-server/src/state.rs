//! What the HTTP API and `/api/health` handlers share: handles built at the edge
//! (`lib.rs`) from the parts below, which never see it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_core::clock::Clock;
use lookout_store::Store;
use secrecy::SecretString;

use crate::alerts::channels::Channels;
use crate::alerts::links::AckLinks;
use crate::alerts::Alerts;
use crate::monitors::Monitors;
use crate::payload::Payloads;
use crate::projects::Projects;
use crate::status::Pages;

/// The handlers' shared state.
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Known projects and their runtime state.
    pub projects: Arc<Projects>,
    /// Uptime monitors and their scheduler.
    pub monitors: Arc<Monitors>,
    /// Public status pages (their domains change with the API).
    pub status_pages: Arc<Pages>,
    /// Alert rules and incidents.
    pub alerts: Arc<Alerts>,
    /// Notification channels.
    pub channels: Arc<Channels>,
    /// Acknowledge links.
    pub links: Arc<AckLinks>,
    /// Event payload compression.
    pub payloads: Arc<Payloads>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The JSON API's bearer token.
    pub api_token: SecretString,
    /// The URL this server is reached at (for DSNs and links).
    pub public_url: String,
    /// When the server started, for `uptime`.
    pub started: Instant,
    /// `[deploy.watch]`: the window a recorded deploy is watched for.
    pub deploy_watch: Arc<crate::deploys::config::WatchConfig>,
    /// `/api/health` reports the scheduler degraded past this lateness (`[uptime]`).
    pub max_lateness: Duration,
    /// Service level objectives of the config file (the API's are in the store).
    pub slos: Arc<crate::slo::Slos>,
    /// Uploaded source maps, for the upload endpoints to index what they store.
    pub symbolicator: Arc<crate::sourcemaps::Symbolicator>,
    /// Regroups stored events through bundles as they are stored.
    pub regrouper: Arc<crate::sourcemaps::regroup::Regrouper>,
    /// `[sourcemaps]` limits.
    pub sourcemaps: crate::config::SourcemapsConfig,
    /// `[releases]`: the repositories sentry-cli is told of.
    pub releases: crate::config::ReleasesConfig,
    /// The ingest writer, for its queue depth.
    pub writer: crate::writer::Writer,
    /// `[metrics] public`: `/metrics` without the token.
    pub metrics_public: bool,
    /// The fleet this instance belongs to (one instance on SQLite).
    pub cluster: Arc<crate::cluster::Cluster>,
}

impl AppState {
    /// The DSN of a project as SDKs should use it.
    pub fn dsn(&self, public_key: &str, project_id: i64) -> String {
        crate::dashboard::dsn(&self.public_url, public_key, project_id)
    }
}
