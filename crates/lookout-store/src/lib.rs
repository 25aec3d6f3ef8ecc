//! Storage for lookout. One [`Store`] trait, implemented for SQLite (the default, embedded)
//! and PostgreSQL (several instances sharing one database). Both pass the same test suite.
//!
//! Times are Unix milliseconds (`i64`) throughout; conversion to RFC 3339 happens at the
//! API edge. Event payloads are stored as given (zstd-compressed JSON): the store never
//! looks inside them.

mod alerts;
mod batch;
mod checks;
mod error;
pub mod model;
pub mod postgres;
pub mod sqlite;

pub use error::StoreError;
pub use model::*;

use std::collections::HashMap;

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
    /// How many events of a project were received in `[from_ms, to_ms)` at the given
    /// levels (e.g. `["error", "fatal"]`), optionally only of one environment or release;
    /// for windowed alert rules such as "errors > 50 in 5m".
    fn count_events(
        &self,
        project_id: i64,
        from_ms: i64,
        to_ms: i64,
        filter: &EventCountFilter,
    ) -> Result<u64>;
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

    // --- monitors ---

    /// Creates a monitor with a default status. Fails with `Conflict` on a duplicate name
    /// within the project, token, or slug within the project.
    fn create_monitor(&self, new: &NewMonitor) -> Result<Monitor>;
    /// Creates the monitor, or updates the one with the same project and name (kind, spec,
    /// source, token, slug, `updated_ms`); its status, paused flag and history stay.
    fn upsert_monitor(&self, new: &NewMonitor) -> Result<Monitor>;
    /// Replaces a monitor's definition; `None` if unknown. Status and history stay.
    fn update_monitor(&self, id: i64, new: &NewMonitor) -> Result<Option<Monitor>>;
    /// Deletes a monitor with its results, roll-ups, outages and maintenance windows;
    /// `false` if unknown.
    fn delete_monitor(&self, id: i64) -> Result<bool>;
    /// Deletes the config-declared monitors whose ids are not in `keep` (they were removed
    /// from the config); returns how many went.
    fn prune_config_monitors(&self, keep: &[i64]) -> Result<u64>;
    /// All monitors, by id.
    fn list_monitors(&self) -> Result<Vec<Monitor>>;
    /// One monitor by id.
    fn get_monitor(&self, id: i64) -> Result<Option<Monitor>>;
    /// The heartbeat monitor whose ping token this is.
    fn get_monitor_by_token(&self, token: &str) -> Result<Option<Monitor>>;
    /// The monitor a project's Sentry check-ins name by slug.
    fn get_monitor_by_slug(&self, project_id: i64, slug: &str) -> Result<Option<Monitor>>;
    /// Pauses or resumes; `false` if unknown.
    fn set_monitor_paused(&self, id: i64, paused: bool, now_ms: i64) -> Result<bool>;

    /// Writes results, statuses, outage changes and signals in one transaction and
    /// returns the signals with their ids.
    fn write_checks(&self, batch: &CheckBatch) -> Result<Vec<Signal>>;
    /// Raw results of a monitor in `[from_ms, to_ms)`, newest first, at most `limit`.
    fn check_results(
        &self,
        monitor_id: i64,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<CheckRecord>>;
    /// Rolls up every complete bucket (minute, hour, day) up to `now_ms` that is not yet
    /// rolled up, from the raw results; idempotent. Returns how many roll-ups were written.
    /// Each resolution keeps a watermark, so a bucket is final once rolled up: pass `now_ms`
    /// minus the longest check timeout, or a result written late misses its bucket.
    fn rollup_checks(&self, now_ms: i64) -> Result<u64>;
    /// Deletes raw results and roll-ups past their retention (a roll-up once all of its
    /// bucket is); returns how many rows went.
    fn prune_checks(&self, retention: &CheckRetention, now_ms: i64) -> Result<u64>;
    /// Roll-ups of a monitor at one resolution with `start_ms` in `[from_ms, to_ms)`,
    /// oldest first.
    fn check_rollups(
        &self,
        monitor_id: i64,
        resolution: Resolution,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Rollup>>;
    /// Count, failures and latency percentiles of a monitor over `[from_ms, to_ms)`: exact
    /// from raw results where they are kept, else from hour roll-ups.
    ///
    /// When raw results of the range were pruned, hours up to the first one the raw results
    /// cover in full come from their roll-ups (those starting in the range), and the rest
    /// from raw results. Counts and failures then still add up exactly and the maximum is
    /// the largest maximum, but percentiles do not merge: each is the mean of the parts'
    /// percentiles weighted by their check counts, an approximation that is close for
    /// steady latencies and can be far off across a spike.
    fn latency_summary(&self, monitor_id: i64, from_ms: i64, to_ms: i64) -> Result<LatencySummary>;
    /// Outages of a monitor overlapping `[from_ms, to_ms)`, newest first, at most `limit`.
    fn outages(&self, monitor_id: i64, from_ms: i64, to_ms: i64, limit: u32)
        -> Result<Vec<Outage>>;
    /// Downtime in ms per monitor within `[from_ms, to_ms)` (outages clipped to the range,
    /// an open one counting up to `to_ms`); monitors without downtime are absent.
    fn downtime(&self, from_ms: i64, to_ms: i64) -> Result<HashMap<i64, i64>>;

    /// Creates a one-off maintenance window.
    fn create_maintenance(&self, new: &NewMaintenance) -> Result<Maintenance>;
    /// Maintenance windows that end after `after_ms`, by start.
    fn list_maintenance(&self, after_ms: i64) -> Result<Vec<Maintenance>>;
    /// Deletes a maintenance window; `false` if unknown.
    fn delete_maintenance(&self, id: i64) -> Result<bool>;

    // --- alerts ---

    /// Writes one step of the alert engine in one transaction: opens, updates, timeline,
    /// queued notifications and the cursor. Returns the ids of `batch.opens`, in order.
    ///
    /// `IncidentRef::New(i)` names the i-th of `batch.opens`; an index past them is
    /// `Invalid`. Updates of one incident apply in order; updates of stored incidents apply
    /// before the opens, so one batch can resolve an incident and open the next one for the
    /// same rule and subject. Opening an incident while another for the same rule and
    /// subject is not resolved is a `Conflict`, also between instances applying at once.
    /// Messages are queued `pending`, due at their `now_ms`; the cursor is set to the
    /// batch's value. On any error nothing of the batch is written.
    fn apply_alerts(&self, batch: &AlertBatch) -> Result<Vec<i64>>;
    /// Incidents not resolved, oldest first (to restore the engine).
    fn open_incidents(&self) -> Result<Vec<IncidentRow>>;
    /// Incidents matching `filter`, newest first.
    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentRow>>;
    /// One incident.
    fn get_incident(&self, id: i64) -> Result<Option<IncidentRow>>;
    /// An incident's timeline, oldest first.
    fn incident_timeline(&self, id: i64) -> Result<Vec<TimelineEntry>>;
    /// A named cursor's value (`None` before the first write).
    fn cursor(&self, name: &str) -> Result<Option<i64>>;

    /// Claims the pending notifications due at `now_ms`, oldest first (by due time, then
    /// id), at most `limit`.
    ///
    /// Each message returned is leased: its `next_attempt_ms` moves to `now_ms` + 60 s (and
    /// is returned so), so that other instances calling meanwhile skip it and no two
    /// callers get the same message while the lease lasts. The caller records the outcome
    /// with `update_message`; if it never does (it died mid-delivery), the message is due
    /// again when the lease ends.
    fn due_messages(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxMessage>>;
    /// Records a delivery attempt's result (status, attempts, next attempt, error, sent
    /// time), which ends the lease `due_messages` took; an unknown id changes nothing.
    /// With `sent`, also a timeline line for the incident is the caller's job (through
    /// `apply_alerts`).
    fn update_message(&self, id: i64, update: &OutboxUpdate) -> Result<()>;
    /// Notifications of an incident, oldest first.
    fn incident_messages(&self, incident_id: i64) -> Result<Vec<OutboxMessage>>;
    /// When the earliest pending notification is due (a leased one: when its lease ends).
    fn next_message_due(&self) -> Result<Option<i64>>;

    /// Marks a channel broken (or, with `None`, repaired: the mark is deleted). Marking a
    /// broken channel again updates the reason and keeps `since_ms`.
    fn set_channel_broken(&self, channel: &str, reason: Option<&str>, now_ms: i64) -> Result<()>;
    /// Channels marked broken, by name.
    fn broken_channels(&self) -> Result<Vec<ChannelState>>;

    /// Creates a silence; its `id` is assigned (the one given is ignored).
    fn create_silence(&self, silence: &SilenceRow) -> Result<SilenceRow>;
    /// Silences that end after `now_ms`, by id.
    fn active_silences(&self, now_ms: i64) -> Result<Vec<SilenceRow>>;
    /// Deletes a silence; `false` if unknown.
    fn delete_silence(&self, id: i64) -> Result<bool>;

    /// Stores an alert rule created through the API; `Conflict` on a name in use.
    fn create_rule(&self, rule: &StoredRule) -> Result<()>;
    /// The stored rules, oldest first.
    fn list_rules(&self) -> Result<Vec<StoredRule>>;
    /// Deletes a stored rule; `false` if unknown.
    fn delete_rule(&self, name: &str) -> Result<bool>;

    // --- payload dictionaries ---

    /// Stores a compression dictionary of event payloads; `Conflict` on an id in use.
    fn save_payload_dict(&self, dict: &PayloadDict) -> Result<()>;
    /// Every stored dictionary, oldest first.
    fn payload_dicts(&self) -> Result<Vec<PayloadDict>>;

    // --- signals ---

    /// Signals with `id > after_id`, oldest first, at most `limit`.
    fn signals_after(&self, after_id: i64, limit: u32) -> Result<Vec<Signal>>;
}
