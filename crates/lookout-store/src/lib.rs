//! Storage for lookout. One [`Store`] trait, split by domain ([`ProjectStore`],
//! [`EventStore`], [`MonitorStore`], [`AlertStore`], [`StatusPageStore`], [`DeployStore`],
//! [`LatencyStore`], [`SloStore`]…),
//! implemented once in SQL for SQLite
//! (the default, embedded) and PostgreSQL (several instances sharing one database). Both
//! pass the same test suite.
//!
//! Each domain file holds its trait and its one SQL implementation, written against the
//! dialect layer in `sql`; what differs between the databases (connections, pools,
//! pragmas, type adapters, batch statements, locks) lives in `sqlite` and `postgres`.
//! A new domain adds its own file with a trait implemented for every [`Db`]-backed store,
//! and one more supertrait of [`Store`].
//!
//! Times are Unix milliseconds (`i64`) throughout; conversion to RFC 3339 happens at the
//! API edge. Event payloads are stored as given (zstd-compressed JSON): the store never
//! looks inside them.

mod accounts;
mod alert_batch;
mod alerts;
mod batch;
mod checks;
mod deploys;
mod error;
mod events;
pub mod files;
mod instances;
mod latency;
mod migrate;
pub use migrate::latest_version;
pub mod model;
mod monitors;
mod names;
pub mod postgres;
mod projects;
mod regroup;
mod releases;
mod slos;
mod sql;
pub mod sqlite;
mod status_pages;
#[cfg(test)]
#[path = "../../../tests/suite_switch.rs"]
mod suite_switch;

pub use accounts::AccountStore;
pub use alerts::AlertStore;
pub use deploys::{Deploy, DeployFilter, DeployStore, NewDeploy};
pub use error::StoreError;
pub use events::EventStore;
pub use instances::{Duty, Fence, HealthReading, InstanceRow, InstanceStore};
pub use latency::{
    LatencyQuery, LatencySample, LatencyStats, LatencyStore, PercentileSummary, KIND_HEALTH,
    KIND_REQUEST, MINUTE_RETENTION_MS,
};
pub use model::*;
pub use monitors::MonitorStore;
pub use projects::ProjectStore;
pub use regroup::{
    NewRegroupJob, RegroupCandidate, RegroupJob, RegroupMove, RegroupStep, RegroupStore,
};
pub use releases::{
    ArtifactFile, BundleInfo, Commit, NewBundle, RegroupWindow, Release, ReleaseRef, ReleaseStore,
    ReleaseUpdate, SavedBundle,
};
pub use slos::{SloStore, StoredSlo};
pub use status_pages::StatusPageStore;

use sql::Conn;

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything lookout persists. Implementations are synchronous and thread-safe: ingest
/// writes through one batching writer thread, readers call from a blocking pool.
pub trait Store:
    ProjectStore
    + EventStore
    + MonitorStore
    + AlertStore
    + StatusPageStore
    + AccountStore
    + LatencyStore
    + SloStore
    + DeployStore
    + ReleaseStore
    + RegroupStore
    + InstanceStore
{
    /// A short name for logs and `/metrics`: "sqlite" or "postgres".
    fn kind(&self) -> &'static str;

    /// Round-trips a trivial query; used by `/api/health`.
    fn ping(&self) -> Result<()>;
}

/// One import for call sites: the store and its domain traits.
pub mod prelude {
    pub use crate::{
        AccountStore, AlertStore, DeployStore, EventStore, InstanceStore, LatencyStore,
        MonitorStore, ProjectStore, RegroupStore, ReleaseStore, SloStore, StatusPageStore, Store,
    };
}

/// A database the SQL implementation runs on: how it lends connections.
pub(crate) trait Db: Send + Sync + 'static {
    /// "sqlite" or "postgres".
    fn kind(&self) -> &'static str;
    /// Runs `f` on a connection that only reads.
    fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T>;
    /// Runs `f` on the writing connection, each statement committing by itself.
    fn write<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T>;
    /// Runs `f` in a write transaction, committed when `f` succeeds and rolled back when
    /// it fails (or panics).
    fn transaction<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T>;
    /// Runs `f` in a read transaction that sees one snapshot throughout.
    fn snapshot<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T>;
}

impl<D: Db> Store for D {
    fn kind(&self) -> &'static str {
        Db::kind(self)
    }

    fn ping(&self) -> Result<()> {
        self.read(|c| c.value::<i64>(sql::sql!("SELECT 1"), &[]).map(drop))
    }
}
