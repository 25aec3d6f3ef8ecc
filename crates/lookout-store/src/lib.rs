//! Storage for lookout. One [`Store`] trait, implemented for SQLite (the default, embedded)
//! and PostgreSQL (several instances sharing one database). Both pass the same test suite.
//!
//! Times are Unix milliseconds (`i64`) throughout; conversion to RFC 3339 happens at the
//! API edge. Event payloads are stored as given (zstd-compressed JSON): the store never
//! looks inside them.

mod batch;
mod error;
pub mod model;
pub mod postgres;
pub mod sqlite;

pub use error::StoreError;
pub use model::*;

use lookout_core::signal::Signal;

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything lookout persists. Implementations are synchronous and thread-safe: ingest
/// writes through one batching writer thread, readers call from a blocking pool.
pub trait Store: Send + Sync + 'static {
    /// A short name for logs and `/metrics`: "sqlite" or "postgres".
    fn kind(&self) -> &'static str;

    /// Round-trips a trivial query; used by `/api/health`.
    fn ping(&self) -> Result<()>;

    // --- projects ---

    /// Creates a project. `id` and `public_key` are taken from `new` when given (projects
    /// declared in the config), else assigned. Fails with `Conflict` on a duplicate slug,
    /// id or key.
    fn create_project(&self, new: &NewProject) -> Result<Project>;
    /// Creates the project if its id is unknown, else updates slug, name, key and settings
    /// to match (config-declared projects are authoritative).
    fn upsert_project(&self, new: &NewProject) -> Result<Project>;
    /// All projects, by id.
    fn list_projects(&self) -> Result<Vec<Project>>;
    /// One project by numeric id.
    fn get_project(&self, id: i64) -> Result<Option<Project>>;
    /// One project by slug.
    fn get_project_by_slug(&self, slug: &str) -> Result<Option<Project>>;

    // --- ingest ---

    /// Writes a batch in one transaction: events (grouped into issues, duplicates by
    /// `(project_id, event_id)` skipped), transactions, sessions, client reports, check-ins,
    /// attachments and outcome counters; records the signals that follow. Returns, in the
    /// order of `batch.events`, what happened to each event, and the signals recorded.
    /// When this returns `Ok`, everything in the batch is durable.
    fn write_batch(&self, batch: &WriteBatch) -> Result<BatchResult>;

    // --- issues and events ---

    /// Issues of a project matching `filter`, sorted and paged.
    fn list_issues(&self, filter: &IssueFilter) -> Result<Vec<Issue>>;
    /// One issue with the releases and environments it was seen in.
    fn get_issue(&self, id: i64) -> Result<Option<IssueDetail>>;
    /// Sets an issue's status (`resolved`, `ignored`, `unresolved`); `false` if unknown.
    fn set_issue_status(&self, id: i64, status: IssueStatus, now_ms: i64) -> Result<bool>;
    /// Events of an issue, newest first; `before_id` pages by event row id.
    fn list_events(
        &self,
        issue_id: i64,
        limit: u32,
        before_id: Option<i64>,
    ) -> Result<Vec<StoredEvent>>;
    /// The newest event of an issue.
    fn latest_event(&self, issue_id: i64) -> Result<Option<StoredEvent>>;
    /// One event by its 32-hex id within a project.
    fn get_event(&self, project_id: i64, event_id: &str) -> Result<Option<StoredEvent>>;
    /// Deletes a project's events (and their attachments) received before `cutoff_ms`;
    /// issues stay. Returns how many events went.
    fn delete_events_before(&self, project_id: i64, cutoff_ms: i64) -> Result<u64>;

    // --- counters ---

    /// Sum of outcome quantities for a project, category and outcome since `since_ms`
    /// (used to restore the monthly quota counter at start).
    fn outcome_total(
        &self,
        project_id: i64,
        category: &str,
        outcome: &str,
        since_ms: i64,
    ) -> Result<u64>;
    /// Outcome totals of a project since `since_ms`, grouped by outcome, category and
    /// reason: what was accepted, rate-limited, over quota, invalid, or dropped by SDKs.
    fn outcome_summary(&self, project_id: i64, since_ms: i64) -> Result<Vec<OutcomeCount>>;
    /// Session health per release and environment since `since_ms`.
    fn release_health(&self, project_id: i64, since_ms: i64) -> Result<Vec<ReleaseHealth>>;
    /// Transactions of a project, newest first (for latency percentiles later).
    fn list_transactions(
        &self,
        project_id: i64,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<TransactionRow>>;
    /// Check-ins of a project, newest first.
    fn list_check_ins(&self, project_id: i64, limit: u32) -> Result<Vec<CheckInRow>>;
    /// Attachments of an event.
    fn list_attachments(&self, project_id: i64, event_id: &str) -> Result<Vec<AttachmentRow>>;

    // --- signals ---

    /// Signals with `id > after_id`, oldest first, at most `limit`.
    fn signals_after(&self, after_id: i64, limit: u32) -> Result<Vec<Signal>>;
}
