//! Signals: facts that producers (ingest, monitors, deploys) record and the alert engine
//! consumes. Producers never know who listens.

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// The first event of a new issue.
    NewIssue,
    /// An event for an issue that had been resolved.
    Regression,
    /// An event whose exception mechanism says `handled: false`.
    Unhandled,
    /// A monitor's failure was confirmed.
    MonitorDown,
    /// A monitor that was down answers again.
    MonitorUp,
    /// A monitor answers but reports a problem (confirmed).
    MonitorDegraded,
    /// A degraded monitor is healthy again.
    MonitorUndegraded,
    /// A certificate crossed one of its expiry warning thresholds (or expired).
    TlsExpiring,
    /// A heartbeat or cron monitor did not ping in time, or ran too long.
    HeartbeatMissed,
    /// A heartbeat or cron monitor reported a failed run.
    HeartbeatFailed,
    /// A PM2 app restarted between two checks, once per run of restarts.
    CrashLoop,
    /// The watch after a deploy judged its release bad (once per deploy); the detail
    /// names the release and says why.
    DeployBad,
}

impl SignalKind {
    /// The stable name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::NewIssue => "new_issue",
            SignalKind::Regression => "regression",
            SignalKind::Unhandled => "unhandled",
            SignalKind::MonitorDown => "monitor_down",
            SignalKind::MonitorUp => "monitor_up",
            SignalKind::MonitorDegraded => "monitor_degraded",
            SignalKind::MonitorUndegraded => "monitor_undegraded",
            SignalKind::TlsExpiring => "tls_expiring",
            SignalKind::HeartbeatMissed => "heartbeat_missed",
            SignalKind::HeartbeatFailed => "heartbeat_failed",
            SignalKind::CrashLoop => "crash_loop",
            SignalKind::DeployBad => "deploy_bad",
        }
    }

    /// Parses [`SignalKind::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new_issue" => SignalKind::NewIssue,
            "regression" => SignalKind::Regression,
            "unhandled" => SignalKind::Unhandled,
            "monitor_down" => SignalKind::MonitorDown,
            "monitor_up" => SignalKind::MonitorUp,
            "monitor_degraded" => SignalKind::MonitorDegraded,
            "monitor_undegraded" => SignalKind::MonitorUndegraded,
            "tls_expiring" => SignalKind::TlsExpiring,
            "heartbeat_missed" => SignalKind::HeartbeatMissed,
            "heartbeat_failed" => SignalKind::HeartbeatFailed,
            "crash_loop" => SignalKind::CrashLoop,
            "deploy_bad" => SignalKind::DeployBad,
            _ => return None,
        })
    }
}

/// A recorded signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Monotonic id assigned by the store.
    pub id: i64,
    /// What happened.
    pub kind: SignalKind,
    /// The project it happened in (monitors need not belong to one).
    pub project_id: Option<i64>,
    /// The issue concerned, if any.
    pub issue_id: Option<i64>,
    /// The event that caused it, if any (32 hex digits).
    pub event_id: Option<String>,
    /// The monitor concerned, if any.
    pub monitor_id: Option<i64>,
    /// What happened, in plain words (a monitor's failure reason, days left on a
    /// certificate, why a release was judged bad); `None` for issue signals, whose issue says it all.
    pub detail: Option<String>,
    /// When it was recorded, Unix milliseconds.
    pub created_ms: i64,
}
