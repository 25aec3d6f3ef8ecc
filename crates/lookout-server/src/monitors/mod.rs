//! Uptime monitoring at run time: the scheduler that runs every monitor's checks on time,
//! the heartbeat pings and Sentry cron check-ins that feed push monitors, and the recorder
//! that writes results, outages and signals in batches.
//!
//! The state machines are pure (`lookout_core::monitor`, `lookout_core::heartbeat`); this
//! module owns their instances, the clock and the I/O. The parts: `registry` (the
//! monitors defined and what the API reads of them), [`scheduler`] (the queue of due
//! checks and the loop that runs them), `checks` (applying a finished check),
//! `heartbeats` (pings, check-ins and missed deadlines), [`maintenance`] (windows in
//! which nothing alerts), [`sync`] (the config's monitors into the store), [`checkin`]
//! (Sentry check-ins handed over by ingest), [`recorder`] (writing what all of them
//! produce) and the definitions ([`spec`], [`config`]).
//!
//! What the alert runtime needs to know (names, health documents) is told through a
//! [`MonitorFact`] channel; it never reads this module's memory.

pub mod checkin;
mod checks;
pub mod config;
mod entry;
mod heartbeats;
pub mod maintenance;
pub mod recorder;
mod registry;
pub mod scheduler;
pub mod spec;
pub mod sync;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use lookout_core::clock::Clock;
use lookout_core::heartbeat::HeartbeatState;
use lookout_core::monitor::MonitorState;
use lookout_store::{Maintenance, Monitor, MonitorStatus};
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::{mpsc, Notify, Semaphore};

use crate::bus::MonitorFact;
use maintenance::ConfigWindow;
use recorder::Record;
use spec::MonitorDef;

/// One monitor's runtime state.
struct Entry {
    monitor: Monitor,
    def: Arc<MonitorDef>,
    machine: MonitorState,
    heartbeat: Option<HeartbeatState>,
    status: MonitorStatus,
    /// Bumped whenever the monitor is redefined, paused or removed, so queue items and
    /// checks in flight from before are recognised as stale.
    generation: u64,
    running: bool,
    /// The due time of this monitor's one live queue item.
    queued: Option<i64>,
    /// The last check's per-phase timings and HTTP status: shown, not stored (they would
    /// quadruple the size of every stored result).
    last_timings: Option<(lookout_probe::Timings, Option<u16>)>,
    /// A pm2 monitor's last figures: shown, like the timings.
    last_pm2: Option<lookout_probe::pm2::Pm2Figures>,
    /// A pm2 app restarted at the last check: the crash-loop signal is raised once per
    /// run of restarts.
    crash_looping: bool,
    /// Whether the last check read a health document (the alert runtime was told its
    /// fields, and must be told when there are none any more).
    has_health: bool,
    /// Checked at once (created at run time, or resumed) rather than on its phase within
    /// the interval: the next full-interval wait moves back onto the phase.
    off_phase: bool,
    /// Taken over from another live instance: not checked before this time, when its
    /// state is read again from the store (see `Monitors::hold`).
    held_until: Option<i64>,
}

/// Scheduler figures for `/api/health` and the benchmark.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct SchedulerStats {
    /// Monitors loaded.
    pub monitors: usize,
    /// Checks running now.
    pub running: usize,
    /// Checks started since start.
    pub checks_started: u64,
    /// Checks that were due but had not started at the last scheduler pass.
    pub overdue: usize,
    /// Monitors this instance runs (all of them, unless other instances share them).
    pub owned: usize,
    /// Lateness (start minus scheduled time) over the last minute, ms.
    pub late_p50_ms: i64,
    /// 99th percentile of the same.
    pub late_p99_ms: i64,
    /// Maximum of the same.
    pub late_max_ms: i64,
}

struct Inner {
    entries: HashMap<i64, Entry>,
    /// Heartbeat monitors by the digest of their ping token: a lookup then compares
    /// digests, so its timing says nothing about the token.
    by_token: HashMap<[u8; 32], i64>,
    by_slug: HashMap<(i64, String), i64>,
    /// (due, monitor id, generation); items whose due time is not their entry's `queued`
    /// or whose generation is old are stale and skipped.
    queue: BinaryHeap<Reverse<(i64, i64, u64)>>,
    config_windows: Vec<ConfigWindow>,
    api_windows: Vec<Maintenance>,
    /// (start time, lateness) of recent checks.
    lateness: VecDeque<(i64, i64)>,
    checks_started: u64,
    overdue: usize,
    /// The next free slot of the warm-up (see `registry::WARM_UP_SPACING_MS`).
    warm_up_next: i64,
    /// This instance's id and the live instances' (sorted), which share the monitors
    /// (`crate::cluster::owner`); with fewer than two, this instance runs them all.
    me: String,
    members: Vec<String>,
    /// Until when this instance's fleet lease lets it run anything (see
    /// `Monitors::renew_lease`); `None`: not fenced (no fleet wired, as in unit tests).
    lease_until: Option<std::time::Instant>,
}

impl Inner {
    /// Whether this instance runs monitor `id`'s checks and deadlines.
    pub(crate) fn owns(&self, id: i64) -> bool {
        self.members.len() < 2 || crate::cluster::owner(id, &self.members) == Some(&self.me)
    }

    /// Whether the fleet lease has run out: nothing may run until it is renewed.
    pub(crate) fn fenced(&self) -> bool {
        self.lease_until
            .is_some_and(|t| std::time::Instant::now() >= t)
    }
}

/// All monitors and their schedule.
pub struct Monitors {
    inner: Mutex<Inner>,
    wake: Notify,
    /// Told after every finished check, for callers waiting for a first result.
    checked: Notify,
    records: mpsc::Sender<Record>,
    facts: mpsc::Sender<MonitorFact>,
    permits: Arc<Semaphore>,
    clock: Arc<dyn Clock>,
    /// Check durations per phase, for `/metrics`.
    pub timings: crate::metrics::CheckTimings,
}

impl Monitors {
    /// An empty set; `records` goes to the recorder, `facts` to the alert runtime.
    pub fn new(
        clock: Arc<dyn Clock>,
        records: mpsc::Sender<Record>,
        facts: mpsc::Sender<MonitorFact>,
        max_concurrent: usize,
    ) -> Self {
        Monitors {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                by_token: HashMap::new(),
                by_slug: HashMap::new(),
                queue: BinaryHeap::new(),
                config_windows: Vec::new(),
                api_windows: Vec::new(),
                lateness: VecDeque::new(),
                checks_started: 0,
                overdue: 0,
                warm_up_next: 0,
                me: String::new(),
                members: Vec::new(),
                lease_until: None,
            }),
            wake: Notify::new(),
            checked: Notify::new(),
            records,
            facts,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            clock,
            timings: crate::metrics::CheckTimings::default(),
        }
    }

    /// The time by the injected clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    fn send(&self, record: Record) {
        // The recorder drains continuously; a full queue means the database is stuck, and
        // results are then dropped rather than blocking the scheduler (signals too, which
        // is logged: the state machines still hold the truth and will be persisted with
        // the next result).
        if let Err(e) = self.records.try_send(record) {
            tracing::warn!(error = %e, "the monitor recorder is behind; a check result was dropped");
        }
    }

    /// Tells the alert runtime; a full queue (the runtime stuck) drops the fact.
    fn tell(&self, fact: MonitorFact) {
        if let Err(e) = self.facts.try_send(fact) {
            tracing::warn!(error = %e, "the alert runtime is behind; a monitor fact was dropped");
        }
    }
}

/// The index key of a ping token.
fn token_key(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}
