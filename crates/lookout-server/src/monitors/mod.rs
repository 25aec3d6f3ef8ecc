//! Uptime monitoring at run time: the scheduler that runs every monitor's checks on time,
//! the heartbeat pings and Sentry cron check-ins that feed push monitors, and the recorder
//! that writes results, outages and signals in batches.
//!
//! The state machines are pure (`lookout_core::monitor`, `lookout_core::heartbeat`); this
//! module owns their instances, the clock and the I/O.

pub mod checkin;
pub mod recorder;
pub mod scheduler;
pub mod spec;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use lookout_core::heartbeat::{HeartbeatEvent, HeartbeatState, Ping};
use lookout_core::maintenance::MaintenanceWindow;
use lookout_core::monitor::{
    spread_offset_ms, tls_warning, MonitorState, Outcome, State, Transition,
};
use lookout_core::signal::{Signal, SignalKind};
use lookout_probe::{CheckResult, Status};
use lookout_store::{CheckOutcome, CheckRecord, Maintenance, Monitor, MonitorStatus, OutageChange};
use tokio::sync::{mpsc, Notify, Semaphore};

use recorder::Record;
use spec::{MonitorConfig, MonitorDef, Probe};

/// Lateness is judged over this trailing window.
const LATENESS_WINDOW_MS: i64 = 60_000;

/// A maintenance window from the config, resolved to monitor ids.
#[derive(Debug, Clone)]
pub struct ConfigWindow {
    /// Its name, for display.
    pub name: String,
    /// The monitors it covers; `None` for all.
    pub monitor_ids: Option<Vec<i64>>,
    /// When it is active.
    pub window: MaintenanceWindow,
}

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
    /// The `checks` of the last health document read, for alert rules on its fields.
    last_health: Option<serde_json::Value>,
}

/// Scheduler figures for `/api/health` and the benchmark.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct SchedulerStats {
    /// Monitors loaded.
    pub monitors: usize,
    /// Checks running now.
    pub running: usize,
    /// Checks started since start.
    pub checks_started: u64,
    /// Checks that were due but had not started at the last scheduler pass.
    pub overdue: usize,
    /// Lateness (start minus scheduled time) over the last minute, ms.
    pub late_p50_ms: i64,
    /// 99th percentile of the same.
    pub late_p99_ms: i64,
    /// Maximum of the same.
    pub late_max_ms: i64,
}

struct Inner {
    entries: HashMap<i64, Entry>,
    by_token: HashMap<String, i64>,
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
}

/// All monitors and their schedule.
pub struct Monitors {
    inner: Mutex<Inner>,
    wake: Notify,
    records: mpsc::Sender<Record>,
    permits: Arc<Semaphore>,
    clock: Arc<dyn lookout_core::clock::Clock>,
}

impl Monitors {
    /// An empty set; `records` goes to the recorder.
    pub fn new(
        clock: Arc<dyn lookout_core::clock::Clock>,
        records: mpsc::Sender<Record>,
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
            }),
            wake: Notify::new(),
            records,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep monitoring.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces a monitor (its definition already validated). The state machine
    /// is restored from the stored status, so a restart or an edit does not forget an
    /// ongoing outage.
    pub fn upsert(&self, monitor: Monitor, def: MonitorDef) {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let generation = inner
            .entries
            .get(&monitor.id)
            .map_or(0, |e| e.generation + 1);
        inner.unindex(monitor.id);
        let def = Arc::new(def);
        let status = monitor.status.clone();
        let machine = {
            let mut m = MonitorState::restore(
                def.settings,
                status.state,
                status.down_since_ms,
                status.last_check_ms,
            );
            if monitor.paused {
                m.pause();
            }
            m
        };
        let heartbeat = match &def.probe {
            Probe::Heartbeat(spec) => Some(HeartbeatState::restore(
                spec.clone(),
                monitor.created_ms,
                status.state,
                status.last_check_ms,
                status.running_since_ms,
            )),
            Probe::Check(_) => None,
        };
        if let Some(t) = &monitor.token {
            inner.by_token.insert(t.clone(), monitor.id);
        }
        if let (Some(p), Some(s)) = (monitor.project_id, &monitor.slug) {
            inner.by_slug.insert((p, s.clone()), monitor.id);
        }
        let id = monitor.id;
        let mut entry = Entry {
            monitor,
            def,
            machine,
            heartbeat,
            status,
            generation,
            running: false,
            queued: None,
            last_timings: None,
            last_health: None,
        };
        entry.status.state = entry.health_state();
        let due = entry.first_due(now);
        inner.entries.insert(id, entry);
        if let Some(due) = due {
            inner.schedule(id, due);
        }
        drop(inner);
        self.wake.notify_one();
    }

    /// Forgets a monitor.
    pub fn remove(&self, id: i64) {
        let mut inner = self.lock();
        inner.unindex(id);
        inner.entries.remove(&id);
    }

    /// Pauses or resumes a monitor.
    pub fn set_paused(&self, id: i64, paused: bool) {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let Some(e) = inner.entries.get_mut(&id) else {
            return;
        };
        e.generation += 1;
        e.monitor.paused = paused;
        if paused {
            e.machine.pause();
        } else {
            e.machine.resume(now);
        }
        e.status.state = e.health_state();
        e.queued = None;
        let due = e.first_due(now);
        let status = e.status.clone();
        if let Some(due) = due {
            inner.schedule(id, due);
        }
        drop(inner);
        self.send(Record::status(id, status));
        self.wake.notify_one();
    }

    /// Replaces the maintenance windows.
    pub fn set_windows(&self, config: Vec<ConfigWindow>, api: Vec<Maintenance>) {
        let mut inner = self.lock();
        inner.config_windows = config;
        inner.api_windows = api;
    }

    /// Replaces only the API-created maintenance windows.
    pub fn set_api_windows(&self, api: Vec<Maintenance>) {
        self.lock().api_windows = api;
    }

    /// The current status of every monitor, by id.
    pub fn statuses(&self) -> HashMap<i64, MonitorStatus> {
        self.lock()
            .entries
            .iter()
            .map(|(id, e)| (*id, e.shown_status()))
            .collect()
    }

    /// The current status of one monitor.
    pub fn status(&self, id: i64) -> Option<MonitorStatus> {
        self.lock().entries.get(&id).map(Entry::shown_status)
    }

    /// The last check's per-phase timings and HTTP status.
    pub fn last_timings(&self, id: i64) -> Option<(lookout_probe::Timings, Option<u16>)> {
        self.lock().entries.get(&id).and_then(|e| e.last_timings)
    }

    /// One monitor's name.
    pub fn name(&self, id: i64) -> Option<String> {
        self.lock().entries.get(&id).map(|e| e.monitor.name.clone())
    }

    /// Every monitor's name, by id.
    pub fn names(&self) -> HashMap<i64, String> {
        self.lock()
            .entries
            .iter()
            .map(|(id, e)| (*id, e.monitor.name.clone()))
            .collect()
    }

    /// The `checks` object of each health monitor's last document, with its project.
    pub fn health_documents(&self) -> Vec<(i64, Option<i64>, serde_json::Value)> {
        self.lock()
            .entries
            .values()
            .filter_map(|e| {
                let doc = e.last_health.clone()?;
                Some((e.monitor.id, e.monitor.project_id, doc))
            })
            .collect()
    }

    /// When a monitor's next check (or heartbeat deadline) is due.
    pub fn next_check(&self, id: i64) -> Option<i64> {
        self.lock().entries.get(&id).and_then(|e| e.queued)
    }

    /// Scheduler figures.
    pub fn stats(&self) -> SchedulerStats {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        inner.trim_lateness(now);
        let mut late: Vec<i64> = inner.lateness.iter().map(|&(_, l)| l).collect();
        late.sort_unstable();
        let pct = |p: f64| -> i64 { lookout_core::stats::nearest_rank(&late, p).unwrap_or(0) };
        SchedulerStats {
            monitors: inner.entries.len(),
            running: inner.entries.values().filter(|e| e.running).count(),
            checks_started: inner.checks_started,
            overdue: inner.overdue,
            late_p50_ms: pct(50.0),
            late_p99_ms: pct(99.0),
            late_max_ms: late.last().copied().unwrap_or(0),
        }
    }

    /// Takes every check that is due at `now`, marking it running. Heartbeat deadlines are
    /// handled here directly (they need no I/O); outbound checks are returned to be run.
    fn take_due(&self, now: i64) -> Vec<DueCheck> {
        let mut inner = self.lock();
        let mut out = Vec::new();
        let mut records = Vec::new();
        while let Some(&Reverse((due, id, gen))) = inner.queue.peek() {
            if due > now {
                break;
            }
            inner.queue.pop();
            let until = inner.maintenance_until(id, now);
            let Some(e) = inner.entries.get_mut(&id) else {
                continue;
            };
            if e.generation != gen || e.queued != Some(due) || e.running {
                continue;
            }
            e.queued = None;
            match &e.def.probe {
                Probe::Check(check) => {
                    e.running = true;
                    out.push(DueCheck {
                        id,
                        generation: gen,
                        scheduled_ms: due,
                        check: check.clone(),
                    });
                }
                Probe::Heartbeat(_) => {
                    let record = e.heartbeat_tick(now, until);
                    if let Some(r) = record {
                        records.push(r);
                    }
                    if let Some(next) = e.next_due() {
                        inner.schedule(id, next.max(now + 1));
                    }
                }
            }
        }
        inner.overdue = out.len();
        inner.checks_started += out.len() as u64;
        drop(inner);
        for r in records {
            self.send(r);
        }
        out
    }

    /// When the next item is due, if any.
    fn next_due(&self) -> Option<i64> {
        self.lock().queue.peek().map(|Reverse((due, _, _))| *due)
    }

    /// Applies a finished check: state machine, TLS warnings, outage and signals; then
    /// schedules the next check.
    fn finish(&self, due: &DueCheck, started_ms: i64, result: CheckResult) {
        let mut inner = self.lock();
        inner
            .lateness
            .push_back((started_ms, started_ms - due.scheduled_ms));
        inner.trim_lateness(started_ms);
        let until = inner.maintenance_until(due.id, started_ms);
        let Some(e) = inner.entries.get_mut(&due.id) else {
            return;
        };
        if e.generation != due.generation {
            // Redefined or paused while the check ran: its result belongs to the old one.
            e.running = false;
            return;
        }
        e.running = false;
        let record = e.apply_check(due.scheduled_ms, started_ms, &result, until);
        let next = e.next_due().map(|n| n.max(started_ms + 1));
        if let Some(next) = next {
            inner.schedule(due.id, next);
        }
        drop(inner);
        self.send(record);
    }

    /// A heartbeat ping by token: `None` when no monitor has that token (or it is
    /// paused). The receiver fires once the ping is durable.
    pub fn ping(
        &self,
        token: &str,
        ping: Ping,
    ) -> Option<(MonitorStatus, tokio::sync::oneshot::Receiver<()>)> {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let id = *inner.by_token.get(token)?;
        let (status, mut record) = inner.ping_entry(id, now, ping)?;
        drop(inner);
        let (tx, rx) = tokio::sync::oneshot::channel();
        record.ack = Some(tx);
        self.send(record);
        self.wake.notify_one();
        Some((status, rx))
    }

    /// Whether a token belongs to a monitor.
    pub fn has_token(&self, token: &str) -> bool {
        self.lock().by_token.contains_key(token)
    }

    /// A Sentry check-in for a project's monitor slug; `false` when no monitor has it.
    pub fn check_in(&self, project_id: i64, slug: &str, ping: Ping, at_ms: i64) -> bool {
        let mut inner = self.lock();
        let Some(&id) = inner.by_slug.get(&(project_id, slug.to_string())) else {
            return false;
        };
        let sent = inner.ping_entry(id, at_ms, ping);
        drop(inner);
        if let Some((_, record)) = sent {
            self.send(record);
        }
        self.wake.notify_one();
        true
    }

    /// Whether a project has a monitor with this Sentry slug.
    pub fn has_slug(&self, project_id: i64, slug: &str) -> bool {
        self.lock()
            .by_slug
            .contains_key(&(project_id, slug.to_string()))
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
}

impl Inner {
    /// Queues monitor `id` at `due`, unless it is already queued as early.
    fn schedule(&mut self, id: i64, due: i64) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        if e.queued.is_some_and(|q| q <= due) {
            return;
        }
        e.queued = Some(due);
        let gen = e.generation;
        self.queue.push(Reverse((due, id, gen)));
    }

    fn unindex(&mut self, id: i64) {
        if let Some(e) = self.entries.get(&id) {
            if let Some(t) = &e.monitor.token {
                self.by_token.remove(t);
            }
            if let (Some(p), Some(s)) = (e.monitor.project_id, &e.monitor.slug) {
                self.by_slug.remove(&(p, s.clone()));
            }
        }
    }

    fn trim_lateness(&mut self, now: i64) {
        while self
            .lateness
            .front()
            .is_some_and(|&(t, _)| t < now - LATENESS_WINDOW_MS)
        {
            self.lateness.pop_front();
        }
    }

    /// When the maintenance window covering monitor `id` at `now` ends, if one does.
    fn maintenance_until(&self, id: i64, now: i64) -> Option<i64> {
        let config = self
            .config_windows
            .iter()
            .filter(|w| w.monitor_ids.as_ref().is_none_or(|ids| ids.contains(&id)))
            .filter_map(|w| w.window.active_until(now));
        let api = self
            .api_windows
            .iter()
            .filter(|w| w.monitor_id.is_none_or(|m| m == id))
            .filter(|w| w.start_ms <= now && now < w.end_ms)
            .map(|w| w.end_ms);
        config.chain(api).max()
    }

    /// Applies a ping; the caller sends the record once the lock is released.
    fn ping_entry(&mut self, id: i64, now: i64, ping: Ping) -> Option<(MonitorStatus, Record)> {
        let until = self.maintenance_until(id, now);
        let e = self.entries.get_mut(&id)?;
        if e.monitor.paused {
            return None;
        }
        let record = e.heartbeat_ping(now, ping, until)?;
        let status = e.shown_status();
        if let Some(next) = e.next_due() {
            self.schedule(id, next.max(now + 1));
        }
        Some((status, record))
    }
}

/// A check due to run.
struct DueCheck {
    id: i64,
    generation: u64,
    scheduled_ms: i64,
    check: Arc<lookout_probe::Check>,
}

impl Entry {
    /// The confirmed health, which is what is stored: a paused or in-maintenance monitor
    /// that was down must come back down after a restart.
    fn health_state(&self) -> State {
        match &self.heartbeat {
            Some(h) => h.state(),
            None => self.machine.health(),
        }
    }

    /// The status as shown: paused and maintenance take precedence over health.
    fn shown_status(&self) -> MonitorStatus {
        MonitorStatus {
            state: self.shown_state(),
            ..self.status.clone()
        }
    }

    fn shown_state(&self) -> State {
        match &self.heartbeat {
            Some(h) if !self.monitor.paused => {
                if self.machine.maintenance_until_ms().is_some() {
                    State::Maintenance
                } else {
                    h.state()
                }
            }
            _ => self.machine.state(),
        }
    }

    /// The first time this monitor is due: for a check, on its own phase within the
    /// interval (so many monitors spread out), but never before its last check's
    /// interval has passed; for a heartbeat, its next deadline.
    fn first_due(&self, now: i64) -> Option<i64> {
        if self.monitor.paused {
            return None;
        }
        if self.heartbeat.is_some() {
            return self.next_due();
        }
        let interval = self.def.settings.interval_ms;
        let natural = self.machine.next_due_ms();
        if natural > 0 && natural >= now {
            return Some(natural);
        }
        let phase = spread_offset_ms(self.monitor.id as u64, interval);
        let base = now - now.rem_euclid(interval) + phase;
        Some(if base < now { base + interval } else { base })
    }

    fn next_due(&self) -> Option<i64> {
        if self.monitor.paused {
            return None;
        }
        match &self.heartbeat {
            Some(h) => h.next_deadline_ms(),
            None => Some(self.machine.next_due_ms()),
        }
    }

    fn sync_maintenance(&mut self, until: Option<i64>) {
        match until {
            Some(u) => self.machine.enter_maintenance(u),
            None => self.machine.exit_maintenance(),
        }
    }

    fn apply_check(
        &mut self,
        scheduled_ms: i64,
        started_ms: i64,
        result: &CheckResult,
        until: Option<i64>,
    ) -> Record {
        self.sync_maintenance(until);
        let error = result.error.as_ref().map(|e| e.to_string()).or_else(|| {
            (result.status != Status::Up)
                .then(|| result.detail.clone())
                .flatten()
        });
        let outcome = match result.status {
            Status::Up => Outcome::Up,
            Status::Degraded => Outcome::Degraded {
                reason: error.clone().unwrap_or_else(|| "degraded".into()),
            },
            Status::Down => Outcome::Down {
                reason: error.clone().unwrap_or_else(|| "down".into()),
            },
        };
        let transitions = self.machine.record(scheduled_ms, outcome);
        self.last_timings = Some((result.timings, result.http_status));
        self.last_health = result.health_checks.clone();
        let mut record = Record::default();
        let id = self.monitor.id;
        let latency = result.timings.total_ms.map(|t| t.round().max(0.0) as u32);
        record.result = Some(CheckRecord {
            monitor_id: id,
            at_ms: started_ms,
            latency_ms: latency,
            outcome: match result.status {
                Status::Up => CheckOutcome::Up,
                Status::Degraded => CheckOutcome::Degraded,
                Status::Down => CheckOutcome::Down,
            },
            maintenance: until.is_some(),
            error: error.clone(),
        });
        for t in transitions {
            let (kind, detail) = match &t {
                Transition::WentDown { reason, since_ms } => {
                    record.outages.push(OutageChange::Open {
                        monitor_id: id,
                        start_ms: *since_ms,
                        cause: reason.clone(),
                    });
                    (SignalKind::MonitorDown, reason.clone())
                }
                Transition::Recovered { down_for_ms } => {
                    record.outages.push(OutageChange::Close {
                        monitor_id: id,
                        end_ms: scheduled_ms,
                    });
                    (
                        SignalKind::MonitorUp,
                        format!(
                            "up again after {}",
                            humantime::format_duration(std::time::Duration::from_secs(
                                (*down_for_ms / 1000).max(0) as u64
                            ))
                        ),
                    )
                }
                Transition::Degraded { reason } => (SignalKind::MonitorDegraded, reason.clone()),
                Transition::Undegraded => {
                    (SignalKind::MonitorUndegraded, "no longer degraded".into())
                }
            };
            record.signals.push(self.signal(kind, detail, scheduled_ms));
        }
        if let Some(tls) = result.tls.as_ref().filter(|_| self.def.has_certificate) {
            self.status.tls_expires_ms = Some(tls.not_after_unix * 1000);
            let max = self.def.tls_expiry_days.iter().copied().max().unwrap_or(0);
            if tls.days_left > i64::from(max) {
                self.status.tls_warned_days = None;
            }
            let warned = self.status.tls_warned_days.map(|d| d as u32);
            if until.is_none() {
                if let Some(days) = tls_warning(tls.days_left, &self.def.tls_expiry_days, warned) {
                    self.status.tls_warned_days = Some(i64::from(days));
                    let detail = if tls.days_left < 0 {
                        format!("the certificate of {} has expired", self.target())
                    } else {
                        format!(
                            "the certificate of {} expires in {} days",
                            self.target(),
                            tls.days_left
                        )
                    };
                    record
                        .signals
                        .push(self.signal(SignalKind::TlsExpiring, detail, started_ms));
                }
            }
        }
        self.status.state = self.health_state();
        self.status.last_check_ms = Some(scheduled_ms);
        self.status.last_latency_ms = latency.map(i64::from);
        self.status.last_error = error;
        self.status.down_since_ms = self.machine.down_since_ms();
        record.status = Some((id, self.status.clone()));
        record
    }

    fn heartbeat_ping(&mut self, now: i64, ping: Ping, until: Option<i64>) -> Option<Record> {
        self.sync_maintenance(until);
        let h = self.heartbeat.as_mut()?;
        let events = h.ping(now, ping.clone());
        // A run's duration: as the job reported it, else since its start ping.
        let measured = h.last_duration_ms();
        let mut record = self.heartbeat_events(now, events, until);
        let (outcome, error, latency) = match &ping {
            Ping::Start => (None, None, None),
            Ping::Success { duration_ms } => {
                (Some(CheckOutcome::Up), None, duration_ms.or(measured))
            }
            Ping::Fail {
                exit_code,
                duration_ms,
            } => (
                Some(CheckOutcome::Down),
                Some(match exit_code {
                    Some(c) => format!("the run failed with exit code {c}"),
                    None => "the run reported a failure".to_string(),
                }),
                duration_ms.or(measured),
            ),
        };
        if let Some(outcome) = outcome {
            record.result = Some(CheckRecord {
                monitor_id: self.monitor.id,
                at_ms: now,
                latency_ms: latency.map(|d| d.clamp(0, i64::from(u32::MAX)) as u32),
                outcome,
                maintenance: until.is_some(),
                error: error.clone(),
            });
            self.status.last_latency_ms = latency;
            self.status.last_error = error;
        }
        self.status.last_check_ms = Some(now);
        self.status.running_since_ms = self.heartbeat.as_ref().and_then(|h| h.running_since_ms());
        self.status.state = self.health_state();
        record.status = Some((self.monitor.id, self.status.clone()));
        Some(record)
    }

    fn heartbeat_tick(&mut self, now: i64, until: Option<i64>) -> Option<Record> {
        self.sync_maintenance(until);
        let h = self.heartbeat.as_mut()?;
        let events = h.tick(now);
        if events.is_empty() {
            return None;
        }
        let mut record = self.heartbeat_events(now, events, until);
        self.status.running_since_ms = self.heartbeat.as_ref().and_then(|h| h.running_since_ms());
        self.status.state = self.health_state();
        record.status = Some((self.monitor.id, self.status.clone()));
        Some(record)
    }

    fn heartbeat_events(
        &mut self,
        now: i64,
        events: Vec<HeartbeatEvent>,
        until: Option<i64>,
    ) -> Record {
        let mut record = Record::default();
        let id = self.monitor.id;
        for ev in events {
            let (kind, detail, outcome_down) = match ev {
                HeartbeatEvent::Missed { expected_ms } => (
                    SignalKind::HeartbeatMissed,
                    format!(
                        "no ping since the run expected at {}",
                        crate::time_fmt::iso(expected_ms)
                    ),
                    true,
                ),
                HeartbeatEvent::TooLong { started_ms } => (
                    SignalKind::HeartbeatMissed,
                    format!(
                        "the run started at {} has not finished",
                        crate::time_fmt::iso(started_ms)
                    ),
                    true,
                ),
                HeartbeatEvent::Failed { exit_code } => (
                    SignalKind::HeartbeatFailed,
                    match exit_code {
                        Some(c) => format!("the run failed with exit code {c}"),
                        None => "the run reported a failure".to_string(),
                    },
                    true,
                ),
                HeartbeatEvent::Recovered { down_for_ms } => (
                    SignalKind::MonitorUp,
                    format!(
                        "up again after {}",
                        humantime::format_duration(std::time::Duration::from_secs(
                            (down_for_ms / 1000).max(0) as u64
                        ))
                    ),
                    false,
                ),
            };
            if until.is_some() {
                continue;
            }
            if outcome_down {
                if self.status.down_since_ms.is_none() {
                    let since = self
                        .heartbeat
                        .as_ref()
                        .and_then(|h| h.down_since_ms())
                        .unwrap_or(now);
                    self.status.down_since_ms = Some(since);
                    record.outages.push(OutageChange::Open {
                        monitor_id: id,
                        start_ms: since,
                        cause: detail.clone(),
                    });
                }
                self.status.last_error = Some(detail.clone());
            } else {
                self.status.down_since_ms = None;
                self.status.last_error = None;
                record.outages.push(OutageChange::Close {
                    monitor_id: id,
                    end_ms: now,
                });
            }
            record.signals.push(self.signal(kind, detail, now));
        }
        record
    }

    fn signal(&self, kind: SignalKind, detail: String, at_ms: i64) -> Signal {
        Signal {
            id: 0,
            kind,
            project_id: self.monitor.project_id,
            issue_id: None,
            event_id: None,
            monitor_id: Some(self.monitor.id),
            detail: Some(format!("{}: {detail}", self.monitor.name)),
            created_ms: at_ms,
        }
    }

    fn target(&self) -> String {
        let c = &self.def.config;
        c.url
            .clone()
            .or_else(|| c.host.clone())
            .unwrap_or_else(|| self.monitor.name.clone())
    }
}

/// Builds the runtime definition of a stored monitor, whose spec was validated when it
/// was written; a spec that no longer validates (a CA file gone) is reported.
pub fn def_of(monitor: &Monitor) -> Result<MonitorDef, String> {
    let config: MonitorConfig = serde_json::from_value(monitor.spec.clone())
        .map_err(|e| format!("stored definition unreadable: {e}"))?;
    config.validate().map_err(|e| e.to_string())
}

/// Makes the store's config-declared monitors match `[[monitors]]` (keeping each one's
/// history, status and generated ping token), deletes those removed from the config, and
/// returns every stored monitor with its runtime definition.
pub fn sync_config(
    store: &dyn lookout_store::Store,
    config: &crate::Config,
    now_ms: i64,
) -> anyhow::Result<Vec<(Monitor, MonitorDef)>> {
    use anyhow::Context;
    let existing = store.list_monitors()?;
    let mut keep = Vec::new();
    for (i, m) in config.monitors.iter().enumerate() {
        let project_id = match &m.project {
            None => None,
            Some(slug) => Some(
                store
                    .get_project_by_slug(slug)?
                    .with_context(|| {
                        format!(
                            "monitors[{i}].project: (monitor \"{}\") no project `{slug}`; declare it in [[projects]]",
                            m.name
                        )
                    })?
                    .id,
            ),
        };
        m.validate()
            .map_err(|e| anyhow::anyhow!("monitors[{i}].{}: {e}", e.key))?;
        let token = match (&m.token, m.kind) {
            (Some(t), _) => Some(t.clone()),
            (None, spec::MonitorKind::Heartbeat) => Some(
                existing
                    .iter()
                    .find(|e| e.project_id == project_id && e.name == m.name)
                    .and_then(|e| e.token.clone())
                    .unwrap_or_else(new_token),
            ),
            (None, _) => None,
        };
        let stored = store
            .upsert_monitor(&lookout_store::NewMonitor {
                name: m.name.clone(),
                kind: m.kind.as_str().to_string(),
                spec: serde_json::to_value(m)?,
                source: lookout_store::MonitorSource::Config,
                project_id,
                token,
                slug: m.slug.clone(),
                now_ms,
            })
            .with_context(|| format!("monitors[{i}] (\"{}\") cannot be stored", m.name))?;
        if m.paused.is_some_and(|p| p != stored.paused) {
            store.set_monitor_paused(stored.id, m.paused.unwrap_or(false), now_ms)?;
        }
        keep.push(stored.id);
    }
    let removed = store.prune_config_monitors(&keep)?;
    if removed > 0 {
        tracing::info!(removed, "deleted monitors no longer in the config");
    }
    let mut out = Vec::new();
    for m in store.list_monitors()? {
        match def_of(&m) {
            Ok(def) => out.push((m, def)),
            Err(e) => {
                tracing::error!(monitor = %m.name, error = %e, "monitor not loaded; fix or delete it")
            }
        }
    }
    Ok(out)
}

/// The config's maintenance windows, with monitor names resolved to ids.
pub fn config_windows(
    config: &crate::Config,
    monitors: &[(Monitor, MonitorDef)],
) -> Vec<ConfigWindow> {
    config
        .maintenance
        .iter()
        .filter_map(|w| {
            let window = w.window().ok()?;
            let monitor_ids = w.monitors.as_ref().map(|names| {
                monitors
                    .iter()
                    .filter(|(m, _)| {
                        m.source == lookout_store::MonitorSource::Config && names.contains(&m.name)
                    })
                    .map(|(m, _)| m.id)
                    .collect()
            });
            Some(ConfigWindow {
                name: w.name.clone(),
                monitor_ids,
                window,
            })
        })
        .collect()
}

/// A new heartbeat ping token: unguessable, URL-safe.
pub fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
