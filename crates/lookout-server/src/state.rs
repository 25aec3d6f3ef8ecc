//! What every request handler shares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use lookout_core::clock::Clock;
use lookout_core::signal::Signal;
use lookout_sentry::limits::Limits;
use lookout_store::Store;
use tokio::sync::broadcast;

use crate::config::Secret;
use crate::projects::Projects;
use crate::writer::Writer;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Ingest counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events acknowledged to SDKs.
    pub events_accepted: Counter,
    /// Requests answered with an error.
    pub rejected_requests: Counter,
    /// Requests refused because the write queue was full.
    pub queue_full: Counter,
}

/// Shared server state.
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Known projects and their runtime state.
    pub projects: Projects,
    /// The batching writer.
    pub writer: Writer,
    /// Protocol limits.
    pub limits: Limits,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The JSON API's bearer token.
    pub api_token: Secret,
    /// The URL this server is reached at (for DSNs and links).
    pub public_url: String,
    /// When the server started, for `uptime`.
    pub started: Instant,
    /// Signals as they are recorded, for in-process consumers.
    pub signals: broadcast::Sender<Signal>,
    /// Counters.
    pub metrics: Metrics,
    /// Uptime monitors and their scheduler.
    pub monitors: Arc<crate::monitors::Monitors>,
    /// `[uptime]` settings.
    pub uptime: crate::config::UptimeConfig,
    /// Alert rules, incidents and notification channels.
    pub alerts: Arc<crate::alerts::Alerts>,
    /// Event payload compression.
    pub payloads: Arc<crate::payload::Payloads>,
}

impl AppState {
    /// The DSN of a project as SDKs should use it.
    pub fn dsn(&self, public_key: &str, project_id: i64) -> String {
        let base = self.public_url.trim_end_matches('/');
        match base.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{public_key}@{rest}/{project_id}"),
            None => format!("http://{public_key}@{base}/{project_id}"),
        }
    }
}
