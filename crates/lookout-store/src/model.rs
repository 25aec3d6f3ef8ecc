//! Records the store reads and writes.

pub use lookout_core::alert::incident::{IncidentStatus, Subject, SubjectKind};
pub use lookout_core::alert::notify::{NotifyKind, OutboxStatus};
pub use lookout_core::alert::silence::SilenceKind;
pub use lookout_core::alert::timeline::TimelineKind;
pub use lookout_core::alert::Severity;
pub use lookout_core::heartbeat::CheckInStatus;
pub use lookout_core::issue::{IssueStatus, Substatus};
pub use lookout_core::monitor::MonitorKind;
use lookout_core::settings::ProjectSettings;
pub use lookout_sentry::event::Level;
use serde::{Deserialize, Serialize};

/// A project to create or upsert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProject {
    /// Fixed numeric id (config-declared projects), or `None` to assign one.
    pub id: Option<i64>,
    /// URL-safe unique name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// 32 hex digits, or `None` to generate one.
    pub public_key: Option<String>,
    /// Limits, quota, scrubbing, CORS, retention.
    pub settings: ProjectSettings,
    /// Creation time, Unix ms.
    pub now_ms: i64,
}

/// A stored project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    /// Numeric id, as in the DSN path.
    pub id: i64,
    /// URL-safe unique name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The DSN's public key, 32 hex digits.
    pub public_key: String,
    /// Limits, quota, scrubbing, CORS, retention.
    pub settings: ProjectSettings,
    /// Creation time, Unix ms.
    pub created_ms: i64,
}

/// An event ready to store, already scrubbed, grouped and compressed by ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Project id.
    pub project_id: i64,
    /// 32 lower-case hex digits.
    pub event_id: String,
    /// When it happened (client time), Unix ms.
    pub timestamp_ms: i64,
    /// When lookout received it, Unix ms.
    pub received_ms: i64,
    /// debug / info / warning / error / fatal.
    pub level: Level,
    /// `platform` as sent.
    pub platform: Option<String>,
    /// `release`.
    pub release: Option<String>,
    /// `environment`.
    pub environment: Option<String>,
    /// Issue title this event would give (type: value, or message).
    pub title: String,
    /// Where it happened (function in module, or transaction).
    pub culprit: String,
    /// The grouping hash (32 hex digits).
    pub fingerprint: String,
    /// Which grouping algorithm produced `fingerprint`.
    pub grouping_version: String,
    /// `Some(false)` when the exception mechanism says unhandled.
    pub handled: Option<bool>,
    /// A stable key for the affected user (id, email, username or IP), if known.
    pub user_key: Option<String>,
    /// The scrubbed event JSON, zstd-compressed.
    pub payload: Vec<u8>,
}

/// A transaction summary (performance data; p95 latency comes from these).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransactionRow {
    /// Project id.
    pub project_id: i64,
    /// 32 hex digits.
    pub event_id: String,
    /// `transaction` (route name).
    pub name: String,
    /// `contexts.trace.op`.
    pub op: Option<String>,
    /// `contexts.trace.status` (ok, internal_error, …).
    pub status: Option<String>,
    /// Start, Unix ms.
    pub start_ms: i64,
    /// Duration in milliseconds.
    pub duration_ms: f64,
    /// `release`.
    pub release: Option<String>,
    /// `environment`.
    pub environment: Option<String>,
}

/// Session counts to add, for one project, release, environment and hour.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionCounts {
    /// Project id.
    pub project_id: i64,
    /// `attrs.release`.
    pub release: String,
    /// `attrs.environment` (empty when absent).
    pub environment: String,
    /// Start of the hour the sessions started in, Unix ms.
    pub bucket_ms: i64,
    /// Sessions that ended ok.
    pub healthy: u64,
    /// Sessions with handled errors.
    pub errored: u64,
    /// Sessions that crashed.
    pub crashed: u64,
    /// Sessions that ended abnormally.
    pub abnormal: u64,
}

/// Session health of one release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseHealth {
    /// Release.
    pub release: String,
    /// Environment.
    pub environment: String,
    /// Total sessions.
    pub sessions: u64,
    /// Crashed sessions.
    pub crashed: u64,
    /// Errored (but not crashed) sessions.
    pub errored: u64,
    /// Abnormal sessions.
    pub abnormal: u64,
    /// Share of sessions that did not crash, 0–100.
    pub crash_free_rate: f64,
}

/// A counter of what happened to submitted data, per hour.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeIncrement {
    /// Project id.
    pub project_id: i64,
    /// Start of the hour, Unix ms.
    pub bucket_ms: i64,
    /// accepted, rate_limited, quota, invalid, too_large, client_discard, …
    pub outcome: String,
    /// error, transaction, session, attachment, check_in, client_report, …
    pub category: String,
    /// Why (for dropped data): e.g. `queue_overflow` from a client report.
    pub reason: String,
    /// How many.
    pub quantity: u64,
}

/// Summed outcome counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeCount {
    /// Outcome.
    pub outcome: String,
    /// Category.
    pub category: String,
    /// Reason.
    pub reason: String,
    /// Total.
    pub quantity: u64,
}

/// A cron check-in (schedule logic comes with the uptime capability).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckInRow {
    /// Project id.
    pub project_id: i64,
    /// `check_in_id`, 32 hex digits.
    pub check_in_id: String,
    /// `monitor_slug`.
    pub monitor_slug: String,
    /// in_progress, ok, error (or Sentry's own words).
    pub status: CheckInStatus,
    /// `duration` in seconds, when sent.
    pub duration_s: Option<f64>,
    /// `environment`.
    pub environment: Option<String>,
    /// `monitor_config` as JSON text, when sent.
    pub monitor_config: Option<String>,
    /// When received, Unix ms.
    pub received_ms: i64,
}

/// An attachment kept with its event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttachmentRow {
    /// Project id.
    pub project_id: i64,
    /// The event it belongs to, 32 hex digits.
    pub event_id: String,
    /// `filename`.
    pub filename: String,
    /// `content_type`.
    pub content_type: Option<String>,
    /// `attachment_type`.
    pub attachment_type: Option<String>,
    /// The bytes.
    #[serde(skip)]
    pub data: Vec<u8>,
    /// Size in bytes.
    pub size: u64,
    /// When received, Unix ms.
    pub received_ms: i64,
}

/// Everything one group commit writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    /// Error and message events.
    pub events: Vec<NewEvent>,
    /// Transactions.
    pub transactions: Vec<TransactionRow>,
    /// Request durations for the latency histograms (transactions and segment spans).
    pub latency: Vec<crate::LatencySample>,
    /// Session counts to add.
    pub sessions: Vec<SessionCounts>,
    /// Cron check-ins.
    pub check_ins: Vec<CheckInRow>,
    /// Attachments.
    pub attachments: Vec<AttachmentRow>,
    /// Outcome counters to add (accepted, dropped, client reports).
    pub outcomes: Vec<OutcomeIncrement>,
}

/// What happened to one event of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventOutcome {
    /// The issue it joined (or, for a duplicate, the issue of the stored original).
    pub issue_id: i64,
    /// It created the issue.
    pub new_issue: bool,
    /// It reopened a resolved issue.
    pub regressed: bool,
    /// An event with this id was already stored; nothing was written for it.
    pub duplicate: bool,
}

/// The result of [`crate::Store::write_batch`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchResult {
    /// One per event of the batch, in order.
    pub events: Vec<EventOutcome>,
    /// Signals recorded by this batch.
    pub signals: Vec<lookout_core::signal::Signal>,
}

/// A stored issue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Issue {
    /// Id.
    pub id: i64,
    /// Project id.
    pub project_id: i64,
    /// Grouping hash.
    pub fingerprint: String,
    /// Grouping algorithm that made it.
    pub grouping_version: String,
    /// Title (type: value, or message).
    pub title: String,
    /// Where it happens.
    pub culprit: String,
    /// Level of the latest event.
    pub level: Level,
    /// unresolved / resolved / ignored.
    pub status: IssueStatus,
    /// For unresolved issues: new, ongoing or regressed.
    pub substatus: Option<Substatus>,
    /// Platform of the first event.
    pub platform: Option<String>,
    /// First event, Unix ms (received time).
    pub first_seen_ms: i64,
    /// Latest event, Unix ms (received time).
    pub last_seen_ms: i64,
    /// Number of events.
    pub count: u64,
    /// Distinct users affected.
    pub user_count: u64,
    /// Events whose mechanism said unhandled.
    pub unhandled_count: u64,
    /// Release of the first event.
    pub first_release: Option<String>,
    /// Release of the latest event.
    pub last_release: Option<String>,
    /// When it was last resolved, Unix ms.
    pub resolved_ms: Option<i64>,
}

/// A value (release or environment) an issue was seen with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeenValue {
    /// The release or environment.
    pub value: String,
    /// Events with it.
    pub count: u64,
    /// First seen, Unix ms.
    pub first_seen_ms: i64,
    /// Last seen, Unix ms.
    pub last_seen_ms: i64,
}

/// An issue with the releases and environments it was seen in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IssueDetail {
    /// The issue.
    pub issue: Issue,
    /// Releases, newest last seen first.
    pub releases: Vec<SeenValue>,
    /// Environments, newest last seen first.
    pub environments: Vec<SeenValue>,
}

/// Sort order of issue lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueSort {
    /// Most recently seen first.
    #[default]
    LastSeen,
    /// Newest issues first.
    FirstSeen,
    /// Most events first.
    Count,
}

/// Filters for [`crate::Store::list_issues`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IssueFilter {
    /// Project id (required).
    pub project_id: i64,
    /// Only this status.
    pub status: Option<IssueStatus>,
    /// Only this level.
    pub level: Option<Level>,
    /// Only issues seen in this release.
    pub release: Option<String>,
    /// Only issues seen in this environment.
    pub environment: Option<String>,
    /// Case-insensitive substring of title or culprit.
    pub text: Option<String>,
    /// Order.
    pub sort: IssueSort,
    /// Page size.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Row id (for paging).
    pub id: i64,
    /// Project id.
    pub project_id: i64,
    /// Issue id.
    pub issue_id: i64,
    /// 32 hex digits.
    pub event_id: String,
    /// Client time, Unix ms.
    pub timestamp_ms: i64,
    /// Received, Unix ms.
    pub received_ms: i64,
    /// Level.
    pub level: Level,
    /// Release.
    pub release: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Title.
    pub title: String,
    /// The scrubbed event JSON, zstd-compressed, as written.
    pub payload: Vec<u8>,
}

// --- monitors ---

/// Where a monitor was declared; config-declared monitors are re-synced at each start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorSource {
    /// `[[monitors]]` in the config file.
    Config,
    /// Created through the JSON API.
    Api,
    /// Created by a Sentry cron check-in carrying a `monitor_config`.
    CheckIn,
}

impl MonitorSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorSource::Config => "config",
            MonitorSource::Api => "api",
            MonitorSource::CheckIn => "check_in",
        }
    }

    /// Parses [`MonitorSource::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "config" => MonitorSource::Config,
            "api" => MonitorSource::Api,
            "check_in" => MonitorSource::CheckIn,
            _ => return None,
        })
    }
}

/// A monitor to create, upsert or update.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMonitor {
    /// Display name; unique within its project (or among monitors without one).
    pub name: String,
    /// `http`, `keyword`, `json`, `health`, `tcp`, `tls` or `heartbeat`.
    pub kind: MonitorKind,
    /// The validated definition as JSON; the server owns its shape, the store keeps it.
    pub spec: serde_json::Value,
    /// Where it was declared.
    pub source: MonitorSource,
    /// The project it belongs to, if any (heartbeats fed by Sentry check-ins need one).
    pub project_id: Option<i64>,
    /// The secret in a heartbeat's ping URL `/ping/{token}`; unique.
    pub token: Option<String>,
    /// The Sentry monitor slug that check-ins name; unique within the project.
    pub slug: Option<String>,
    /// Creation or update time, Unix ms.
    pub now_ms: i64,
}

/// The outcome of one check (or heartbeat ping) as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckOutcome {
    /// Everything held.
    Up,
    /// Answering, with a problem.
    Degraded,
    /// Failed (or, for a heartbeat, a failed or missed run).
    Down,
}

/// What a monitor's state is right now; written with each check batch, read at start to
/// restore the state machines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorStatus {
    /// `unknown`, `up`, `degraded`, `down`, `paused` or `maintenance`.
    pub state: lookout_core::monitor::State,
    /// When the last check ran (or the last ping arrived).
    pub last_check_ms: Option<i64>,
    /// The last check's total time, or a heartbeat run's duration.
    pub last_latency_ms: Option<i64>,
    /// The last failure's reason, while failing.
    pub last_error: Option<String>,
    /// When the current outage began, while down.
    pub down_since_ms: Option<i64>,
    /// When the certificate seen by the last https/tls check expires.
    pub tls_expires_ms: Option<i64>,
    /// The smallest expiry threshold (days) already warned about; cleared on renewal.
    pub tls_warned_days: Option<i64>,
    /// Heartbeat: when a `/start` ping came without its end yet.
    pub running_since_ms: Option<i64>,
}

impl Default for MonitorStatus {
    fn default() -> Self {
        MonitorStatus {
            state: lookout_core::monitor::State::Unknown,
            last_check_ms: None,
            last_latency_ms: None,
            last_error: None,
            down_since_ms: None,
            tls_expires_ms: None,
            tls_warned_days: None,
            running_since_ms: None,
        }
    }
}

/// A stored monitor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Monitor {
    /// Numeric id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// `http`, `keyword`, `json`, `health`, `tcp`, `tls` or `heartbeat`.
    pub kind: MonitorKind,
    /// The definition, as given to create/upsert.
    pub spec: serde_json::Value,
    /// Where it was declared.
    pub source: MonitorSource,
    /// Its project, if any.
    pub project_id: Option<i64>,
    /// Heartbeat ping token.
    pub token: Option<String>,
    /// Sentry monitor slug.
    pub slug: Option<String>,
    /// Paused by a user.
    pub paused: bool,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Last change of its definition, Unix ms.
    pub updated_ms: i64,
    /// Current state.
    pub status: MonitorStatus,
}

/// One raw check result. Kept small on purpose: raw results are the bulk of uptime data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRecord {
    /// The monitor checked.
    pub monitor_id: i64,
    /// When the check started (or the ping arrived), Unix ms; unique per monitor.
    pub at_ms: i64,
    /// Total time in ms (for heartbeats, the run's duration when known).
    pub latency_ms: Option<u32>,
    /// The verdict.
    pub outcome: CheckOutcome,
    /// Ran inside a maintenance window: shown, never counted as downtime.
    pub maintenance: bool,
    /// Why it failed, for Degraded and Down.
    pub error: Option<String>,
    /// What else it measured (phases, a pm2 app's memory and CPU).
    pub figures: CheckFigures,
}

/// What a check measured besides its total time, each absent when its kind does not
/// measure it: an HTTP check's phases, a pm2 app's memory and CPU. In a roll-up, each is
/// the mean over the bucket's checks that measured it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CheckFigures {
    /// Name resolution, ms.
    pub dns_ms: Option<u32>,
    /// TCP connect, ms.
    pub connect_ms: Option<u32>,
    /// TLS handshake, ms.
    pub tls_ms: Option<u32>,
    /// From sending the request to the response head, ms.
    pub first_byte_ms: Option<u32>,
    /// A pm2 app's memory, summed over its instances, KiB.
    pub memory_kb: Option<u32>,
    /// A pm2 app's CPU, summed over its instances, in tenths of a percent of one core.
    pub cpu_permille: Option<u32>,
}

impl CheckFigures {
    /// The figures in their stored order.
    pub fn to_array(self) -> [Option<u32>; 6] {
        [
            self.dns_ms,
            self.connect_ms,
            self.tls_ms,
            self.first_byte_ms,
            self.memory_kb,
            self.cpu_permille,
        ]
    }

    /// Reverses [`CheckFigures::to_array`].
    pub fn from_array(a: [Option<u32>; 6]) -> CheckFigures {
        CheckFigures {
            dns_ms: a[0],
            connect_ms: a[1],
            tls_ms: a[2],
            first_byte_ms: a[3],
            memory_kb: a[4],
            cpu_permille: a[5],
        }
    }

    /// Whether any phase timing is present.
    pub fn has_phases(&self) -> bool {
        self.to_array()[..4].iter().any(Option::is_some)
    }

    /// Whether a pm2 figure is present.
    pub fn has_process(&self) -> bool {
        self.memory_kb.is_some() || self.cpu_permille.is_some()
    }
}

/// A change to a monitor's outage record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutageChange {
    /// Down confirmed: an outage starting at `start_ms` (its first failing check).
    Open {
        /// The monitor.
        monitor_id: i64,
        /// When the first failing check of the streak ran.
        start_ms: i64,
        /// The failure's reason.
        cause: String,
    },
    /// Up again: the monitor's open outage ends at `end_ms`.
    Close {
        /// The monitor.
        monitor_id: i64,
        /// When the recovering check ran.
        end_ms: i64,
    },
}

/// A period a monitor was down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outage {
    /// Numeric id.
    pub id: i64,
    /// The monitor.
    pub monitor_id: i64,
    /// When it began.
    pub start_ms: i64,
    /// When it ended; `None` while ongoing.
    pub end_ms: Option<i64>,
    /// Why, in plain words.
    pub cause: String,
}

/// What the scheduler writes in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckBatch {
    /// Raw results (duplicates by `(monitor_id, at_ms)` are ignored).
    pub results: Vec<CheckRecord>,
    /// New current state per monitor id.
    pub statuses: Vec<(i64, MonitorStatus)>,
    /// Outages opened and closed, in order.
    pub outages: Vec<OutageChange>,
    /// Signals to record (ids assigned by the store).
    pub signals: Vec<lookout_core::signal::Signal>,
}

/// Roll-up granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// One-minute buckets.
    Minute,
    /// One-hour buckets.
    Hour,
    /// One-day buckets (UTC days).
    Day,
}

impl Resolution {
    /// The bucket length in ms.
    pub fn bucket_ms(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
            Resolution::Day => 86_400_000,
        }
    }
}

/// Check results aggregated over one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollup {
    /// The monitor.
    pub monitor_id: i64,
    /// Bucket size.
    pub resolution: Resolution,
    /// Bucket start, Unix ms (a multiple of the bucket length).
    pub start_ms: i64,
    /// Checks in the bucket.
    pub count: u32,
    /// Of which Down.
    pub failures: u32,
    /// Of which Degraded.
    pub degraded: u32,
    /// Of which in maintenance.
    pub maintenance: u32,
    /// Latency percentiles and maximum over checks with a latency, ms.
    pub p50_ms: Option<u32>,
    /// 95th percentile.
    pub p95_ms: Option<u32>,
    /// 99th percentile.
    pub p99_ms: Option<u32>,
    /// Maximum.
    pub max_ms: Option<u32>,
    /// Means of the figures over the checks that measured them.
    pub figures: CheckFigures,
}

/// How long each kind of uptime history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckRetention {
    /// Raw results.
    pub raw_ms: i64,
    /// Minute roll-ups.
    pub minute_ms: i64,
    /// Hour roll-ups.
    pub hour_ms: i64,
    /// Day roll-ups.
    pub day_ms: i64,
}

/// Latency and failure figures over a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LatencySummary {
    /// Checks in the range.
    pub count: u64,
    /// Of which Down.
    pub failures: u64,
    /// Latency percentiles and maximum, ms.
    pub p50_ms: Option<u32>,
    /// 95th percentile.
    pub p95_ms: Option<u32>,
    /// 99th percentile.
    pub p99_ms: Option<u32>,
    /// Maximum.
    pub max_ms: Option<u32>,
}

/// A one-off maintenance window created through the API (recurring ones live in the
/// config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Maintenance {
    /// Numeric id.
    pub id: i64,
    /// The monitor it covers; `None` for every monitor.
    pub monitor_id: Option<i64>,
    /// Start, Unix ms.
    pub start_ms: i64,
    /// End, Unix ms.
    pub end_ms: i64,
    /// Why (e.g. "deploy"); internal.
    pub reason: String,
    /// What status pages say about it; none: they show the window without a note.
    pub public_note: Option<String>,
    /// Creation time, Unix ms.
    pub created_ms: i64,
}

/// A maintenance window to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMaintenance {
    /// The monitor it covers; `None` for every monitor.
    pub monitor_id: Option<i64>,
    /// Start, Unix ms.
    pub start_ms: i64,
    /// End, Unix ms.
    pub end_ms: i64,
    /// Why; internal.
    pub reason: String,
    /// What status pages say about it.
    pub public_note: Option<String>,
    /// Creation time, Unix ms.
    pub now_ms: i64,
}

// --- alerts ---

/// Which events a windowed count includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCountFilter {
    /// Levels counted (an event's level is one of these).
    pub levels: Vec<Level>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this release.
    pub release: Option<String>,
}

impl Default for EventCountFilter {
    /// Errors: levels `error` and `fatal`.
    fn default() -> Self {
        EventCountFilter {
            levels: vec![Level::Error, Level::Fatal],
            environment: None,
            release: None,
        }
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRow {
    /// Numeric id.
    pub id: i64,
    /// The rule that opened it.
    pub rule: String,
    /// `project`, `issue` or `monitor`.
    pub subject_kind: SubjectKind,
    /// The project, issue or monitor id.
    pub subject_id: i64,
    /// `critical`, `high`, `medium` or `low`.
    pub severity: Severity,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: IncidentStatus,
    /// One line.
    pub title: String,
    /// A few lines.
    pub summary: String,
    /// Occurrences so far.
    pub count: i64,
    /// When it opened, Unix ms.
    pub opened_ms: i64,
    /// When it was acknowledged, and by whom.
    pub acked_ms: Option<i64>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When it resolved.
    pub resolved_ms: Option<i64>,
    /// Who resolved it (`None` when it resolved by itself).
    pub resolved_by: Option<String>,
    /// The engine's state for it (escalation step, timers…), opaque to the store.
    pub state: serde_json::Value,
    /// Its runbook, if the rule names one.
    pub runbook: Option<String>,
}

/// An incident to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    /// The rule.
    pub rule: String,
    /// `project`, `issue` or `monitor`.
    pub subject_kind: SubjectKind,
    /// The subject's id.
    pub subject_id: i64,
    /// How urgent.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// A few lines.
    pub summary: String,
    /// Occurrences so far.
    pub count: i64,
    /// Opening time, Unix ms.
    pub opened_ms: i64,
    /// The engine's state.
    pub state: serde_json::Value,
    /// The rule's runbook.
    pub runbook: Option<String>,
}

/// Changes to an incident; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentUpdate {
    /// New status.
    pub status: Option<IncidentStatus>,
    /// New count.
    pub count: Option<i64>,
    /// New summary.
    pub summary: Option<String>,
    /// Acknowledged: when and by whom.
    pub acked: Option<(i64, String)>,
    /// Resolved: when and by whom.
    pub resolved: Option<(i64, Option<String>)>,
    /// The engine's new state.
    pub state: Option<serde_json::Value>,
}

/// Which incident a change in an [`AlertBatch`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentRef {
    /// A stored incident.
    Id(i64),
    /// The incident at this index of `AlertBatch::opens`.
    New(usize),
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// When, Unix ms.
    pub at_ms: i64,
    /// `triggered`, `acknowledged`, `note`, `notified`, `notify_failed` or `resolved`.
    pub kind: TimelineKind,
    /// What happened, in plain words.
    pub text: String,
    /// Who did it, for people's actions.
    pub actor: Option<String>,
}

/// A notification waiting to be delivered (the persisted outbox).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxMessage {
    /// Numeric id; also the message's idempotency key.
    pub id: i64,
    /// The incident it is about.
    pub incident_id: i64,
    /// The channel name.
    pub channel: String,
    /// `triggered`, `escalated`, `reminder`, `acknowledged`, `resolved`.
    pub event: NotifyKind,
    /// What to send, as JSON (the notification), opaque to the store.
    pub payload: serde_json::Value,
    /// `pending`, `sent`, `failed` or `broken`.
    pub status: OutboxStatus,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due, while pending.
    pub next_attempt_ms: i64,
    /// The last error or the receiver's answer.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_ms: i64,
    /// When it was delivered.
    pub sent_ms: Option<i64>,
}

/// A notification to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxMessage {
    /// The channel name.
    pub channel: String,
    /// Which kind of notification.
    pub event: NotifyKind,
    /// What to send.
    pub payload: serde_json::Value,
    /// Queue time (and first attempt), Unix ms.
    pub now_ms: i64,
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxUpdate {
    /// `pending` (retry at `next_attempt_ms`), `sent`, `failed` or `broken`.
    pub status: OutboxStatus,
    /// Attempts made so far.
    pub attempts: i64,
    /// When to try again, while pending.
    pub next_attempt_ms: i64,
    /// The error or the receiver's answer.
    pub last_error: Option<String>,
    /// Delivery time, when sent.
    pub sent_ms: Option<i64>,
}

/// Everything one step of the alert engine decided, written in one transaction so a
/// crash never leaves an incident without its notifications or a signal handled twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertBatch {
    /// Incidents to open.
    pub opens: Vec<NewIncident>,
    /// Changes to incidents.
    pub updates: Vec<(IncidentRef, IncidentUpdate)>,
    /// Timeline lines.
    pub timeline: Vec<(IncidentRef, TimelineEntry)>,
    /// Notifications to queue.
    pub messages: Vec<(IncidentRef, NewOutboxMessage)>,
    /// A named cursor to advance (e.g. the last signal id handled).
    pub cursor: Option<(String, i64)>,
}

/// Incidents to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Only these statuses (empty = all).
    pub statuses: Vec<IncidentStatus>,
    /// Only this subject.
    pub subject: Option<Subject>,
    /// At most this many, newest first.
    pub limit: u32,
    /// Only incidents with id below this (paging).
    pub before_id: Option<i64>,
}

/// A silence: notifications for matching incidents are held until `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SilenceRow {
    /// Numeric id.
    pub id: i64,
    /// `rule`, `monitor` or `project`.
    pub target_kind: SilenceKind,
    /// The rule name, or the monitor or project id as text.
    pub target: String,
    /// Until when, Unix ms.
    pub until_ms: i64,
    /// Why.
    pub reason: String,
    /// Who created it.
    pub created_by: Option<String>,
    /// When, Unix ms.
    pub created_ms: i64,
}

/// A channel found broken (the receiver said the hook is gone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelState {
    /// The channel name.
    pub channel: String,
    /// Why it is broken.
    pub reason: String,
    /// Since when, Unix ms.
    pub since_ms: i64,
}

/// An alert rule created through the API, as its definition (the server owns its shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRule {
    /// Unique name.
    pub name: String,
    /// The definition as JSON.
    pub spec: serde_json::Value,
    /// When it was created, Unix ms.
    pub created_ms: i64,
}

// --- status pages ---

/// Where a status page was declared; config-declared pages are re-synced at each start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusPageSource {
    /// `[[status_pages]]` in the config file.
    Config,
    /// Created through the JSON API.
    Api,
}

impl StatusPageSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusPageSource::Config => "config",
            StatusPageSource::Api => "api",
        }
    }

    /// Parses [`StatusPageSource::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "config" => StatusPageSource::Config,
            "api" => StatusPageSource::Api,
            _ => return None,
        })
    }
}

/// A group of monitors on a status page, in display order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusPageGroup {
    /// Its heading; empty for the one unnamed group of a page that lists monitors only.
    pub name: String,
    /// The monitors shown, in order.
    pub monitor_ids: Vec<i64>,
}

/// A status page to create, upsert or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStatusPage {
    /// URL name (`/status/{slug}`); unique.
    pub slug: String,
    /// Heading.
    pub title: String,
    /// The host name it answers at `/` on; unique.
    pub domain: Option<String>,
    /// What it shows.
    pub groups: Vec<StatusPageGroup>,
    /// Where it was declared.
    pub source: StatusPageSource,
    /// Creation or update time, Unix ms.
    pub now_ms: i64,
}

/// A stored status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusPage {
    /// Numeric id.
    pub id: i64,
    /// URL name.
    pub slug: String,
    /// Heading.
    pub title: String,
    /// Its own host name, if any.
    pub domain: Option<String>,
    /// What it shows; monitors deleted since are left out.
    pub groups: Vec<StatusPageGroup>,
    /// Where it was declared.
    pub source: StatusPageSource,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Last change, Unix ms.
    pub updated_ms: i64,
}

/// A note about an incident written for the public, kept apart from the timeline's
/// internal notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicNote {
    /// Numeric id.
    pub id: i64,
    /// The incident.
    pub incident_id: i64,
    /// When, Unix ms.
    pub at_ms: i64,
    /// The text as published.
    pub text: String,
    /// Who wrote it (not shown on status pages).
    pub author: Option<String>,
}

/// A zstd dictionary event payloads of one project are compressed with.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadDict {
    /// zstd's dictionary id, which every frame compressed with it carries.
    pub id: u32,
    /// The project whose events it was trained on.
    pub project_id: i64,
    /// When it was trained, Unix ms.
    pub created_ms: i64,
    /// How many events it was trained on.
    pub samples: i64,
    /// The dictionary as zstd's trainer wrote it.
    pub dict: Vec<u8>,
}

/// A stored dictionary id back to zstd's `u32`.
pub(crate) fn dict_id(v: i64) -> crate::Result<u32> {
    u32::try_from(v).map_err(|_| crate::StoreError::Corrupt(format!("payload dictionary id {v}")))
}

// --- accounts ---

/// A dashboard user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Email, lower-case: the sign-in name.
    pub email: String,
    /// The argon2id hash in PHC string form.
    pub password_hash: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last successful sign-in, Unix ms.
    pub last_login_ms: Option<i64>,
}

/// A session to store: the cookie's id only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 of the session id, hex.
    pub id_hash: String,
    /// Whose.
    pub user_id: i64,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Expires, Unix ms.
    pub expires_ms: i64,
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Whose.
    pub user_id: i64,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Expires, Unix ms.
    pub expires_ms: i64,
}

/// An API token to store: the token only as its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiToken {
    /// Whose.
    pub user_id: i64,
    /// A name to recognise it by.
    pub name: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The token's first characters, shown in lists.
    pub prefix: String,
    /// What it may do (`read`, `write`, `project:releases`).
    pub scopes: Vec<String>,
    /// The projects (ids) it is limited to; `None` for every project.
    pub projects: Option<Vec<i64>>,
    /// Created, Unix ms.
    pub created_ms: i64,
}

/// A stored API token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Id.
    pub id: i64,
    /// Whose.
    pub user_id: i64,
    /// Its name.
    pub name: String,
    /// The token's first characters.
    pub prefix: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// The projects (ids) it is limited to; `None` for every project.
    pub projects: Option<Vec<i64>>,
    /// Created, Unix ms.
    pub created_ms: i64,
    /// Last used, Unix ms.
    pub last_used_ms: Option<i64>,
    /// Revoked, Unix ms.
    pub revoked_ms: Option<i64>,
}
