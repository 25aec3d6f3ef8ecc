//! Alerting at run time: the incident engine (pure, `lookout_core::alert`) fed with the
//! signals recorded by ingest and monitors and with windowed measures; every step's
//! decisions written in one transaction (incidents, timeline, queued notifications, the
//! signal cursor); and the dispatcher that delivers the queued notifications.

pub mod config;
pub mod dispatch;
pub mod links;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use lookout_core::alert::engine::{
    Action, Engine, IncidentKey, IncidentState, NotifyEvent, Silence, SilenceTarget, Subject,
};
use lookout_core::alert::rule::{Condition, Rule};
use lookout_notify::{Channel, Notification, NotificationEvent, Runbook};
use lookout_store::{
    AlertBatch, EventCountFilter, IncidentRef, IncidentUpdate, NewIncident, NewOutboxMessage,
    SilenceRow, Store, TimelineEntry,
};
use tokio::sync::Notify;

use crate::state::AppState;

/// The cursor of signals handled.
const SIGNAL_CURSOR: &str = "alerts.signals";
/// Signals read per step.
const SIGNAL_PAGE: u32 = 500;
/// The longest the loop sleeps: the injected clock is read, never waited on.
const MAX_SLEEP: Duration = Duration::from_millis(200);
/// How often the cursor alone is written when signals lead to no decision. Under an error
/// storm signals arrive with nearly every ingest batch; writing the cursor for each of
/// them would take the database's write lock hundreds of times a second from ingest.
/// After a crash, at most this much of signals that decided nothing is read again (and
/// decides nothing again), while any decision is still written with its cursor.
const CURSOR_ONLY_EVERY: Duration = Duration::from_secs(1);
/// The shortest time between two runs woken by signals. Under an error storm a signal
/// comes with every ingest batch (hundreds a second), and with the reference rules most
/// runs count occurrences into open incidents: a write each, competing with ingest for
/// the database. Waiting this long gathers them into one run and adds at most this much
/// to a signal's way to a channel; a signal after a quiet moment waits for nothing.
const SIGNAL_RUN_GAP: Duration = Duration::from_millis(25);

/// A rule's runbook, read at start.
#[derive(Debug, Clone)]
pub struct RunbookDoc {
    /// Its first heading, or the file name.
    pub title: String,
    /// The path as configured.
    pub path: String,
    /// The whole Markdown text.
    pub text: String,
}

/// The alerting runtime.
pub struct Alerts {
    engine: Mutex<Engine>,
    /// Row ids of open incidents.
    ids: Mutex<HashMap<IncidentKey, i64>>,
    /// Serialises engine steps with their writes, so actions reach the store in order;
    /// holds when the cursor was last written.
    step_lock: Mutex<Option<std::time::Instant>>,
    /// Channels by name.
    pub channels: HashMap<String, Arc<dyn Channel>>,
    /// Runbooks by rule name.
    pub runbooks: HashMap<String, RunbookDoc>,
    /// Wakes the dispatcher when notifications are queued.
    pub queued: Notify,
    /// Wakes the evaluation loop (new signals).
    pub wake: Notify,
    secret: Vec<u8>,
    evaluate_every_ms: i64,
    /// Names of the rules declared in the config file (the others came through the API).
    config_rules: std::collections::HashSet<String>,
}

impl Alerts {
    /// Builds the runtime from the config: rules with their scopes resolved to ids,
    /// policies, channels, runbooks; then restores open incidents from the store.
    pub fn new(
        config: &crate::Config,
        store: &dyn Store,
        secret: Vec<u8>,
    ) -> anyhow::Result<Alerts> {
        let projects = store.list_projects()?;
        let monitors = store.list_monitors()?;
        let mut rules = Vec::new();
        let mut runbooks = HashMap::new();
        for (i, rc) in config.rules.iter().enumerate() {
            let mut rule = rc
                .rule()
                .map_err(|(k, m)| anyhow::anyhow!("rules[{i}].{k}: {m}"))?;
            rule.projects = rc.projects.as_ref().map(|slugs| {
                projects
                    .iter()
                    .filter(|p| slugs.contains(&p.slug))
                    .map(|p| p.id)
                    .collect()
            });
            rule.monitors = rc.monitors.as_ref().map(|names| {
                monitors
                    .iter()
                    .filter(|m| names.contains(&m.name))
                    .map(|m| m.id)
                    .collect()
            });
            if let Some(path) = &rc.runbook {
                let full = config
                    .base_dir
                    .clone()
                    .unwrap_or_else(|| ".".into())
                    .join(path);
                let text = std::fs::read_to_string(&full).with_context(|| {
                    format!("rules[{i}].runbook: cannot read {}", full.display())
                })?;
                let title = text
                    .lines()
                    .find_map(|l| l.strip_prefix("# "))
                    .map(str::trim)
                    .unwrap_or(path)
                    .to_string();
                runbooks.insert(
                    rule.name.clone(),
                    RunbookDoc {
                        title,
                        path: path.clone(),
                        text,
                    },
                );
            }
            rules.push(rule);
        }
        let config_rules = rules.iter().map(|r| r.name.clone()).collect();
        // Rules created through the API; a config rule of the same name wins.
        for stored in store.list_rules()? {
            let parsed = serde_json::from_value::<config::RuleConfig>(stored.spec.clone())
                .map_err(|e| e.to_string())
                .and_then(|rc| {
                    api_rule(&rc, &projects, &monitors).map_err(|(k, m)| format!("{k}: {m}"))
                });
            match parsed {
                Ok(rule) if rules.iter().any(|r| r.name == rule.name) => tracing::warn!(
                    rule = %rule.name,
                    "a rule created through the API has the name of a config rule; the config's is used"
                ),
                Ok(rule) => rules.push(rule),
                Err(e) => {
                    tracing::error!(rule = %stored.name, error = %e, "stored rule not loaded")
                }
            }
        }
        let policies =
            config::policies(&config.severities).map_err(|(k, m)| anyhow::anyhow!("{k}: {m}"))?;
        let mut engine = Engine::new(rules, policies).map_err(|e| anyhow::anyhow!("rules: {e}"))?;
        engine.set_monitor_names(monitors.iter().map(|m| (m.id, m.name.clone())).collect());
        let mut ids = HashMap::new();
        let mut states = Vec::new();
        for row in store.open_incidents()? {
            match serde_json::from_value::<IncidentState>(row.state.clone()) {
                Ok(s) => {
                    ids.insert(s.key.clone(), row.id);
                    states.push(s);
                }
                Err(e) => {
                    tracing::error!(incident = row.id, error = %e, "incident state unreadable; it stays open but is no longer escalated")
                }
            }
        }
        engine.restore(states);
        let mut channels = HashMap::new();
        for (name, c) in &config.channels {
            let ch =
                lookout_notify::build(c).map_err(|e| anyhow::anyhow!("channels.{name}: {e}"))?;
            channels.insert(name.clone(), Arc::<dyn Channel>::from(ch));
        }
        Ok(Alerts {
            engine: Mutex::new(engine),
            ids: Mutex::new(ids),
            step_lock: Mutex::new(None),
            channels,
            runbooks,
            queued: Notify::new(),
            wake: Notify::new(),
            secret,
            evaluate_every_ms: config.alerts.evaluate_every.as_millis().max(1) as i64,
            config_rules,
        })
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The row id of an open incident.
    pub fn incident_id(&self, key: &IncidentKey) -> Option<i64> {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
    }

    /// The engine's state of an open incident, by row id.
    pub fn open_state(&self, id: i64) -> Option<IncidentState> {
        let key = self
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.clone())?;
        self.engine().incident(&key).cloned()
    }

    /// The rules in force.
    pub fn rules(&self) -> Vec<Rule> {
        self.engine().rules().to_vec()
    }

    /// Whether a rule comes from the config file (else from the API).
    pub fn is_config_rule(&self, name: &str) -> bool {
        self.config_rules.contains(name)
    }

    /// Creates a rule through the API: validated, stored, then in force.
    pub fn create_rule(
        &self,
        app: &AppState,
        rc: &config::RuleConfig,
    ) -> Result<Rule, (String, String)> {
        let projects = app.store.list_projects().map_err(internal)?;
        let monitors = app.store.list_monitors().map_err(internal)?;
        let rule = api_rule(rc, &projects, &monitors).map_err(|(k, m)| (k.to_string(), m))?;
        if let Some(c) = rule.notify.iter().find(|c| !self.channels.contains_key(*c)) {
            return Err(("notify".into(), format!("no channel `{c}`")));
        }
        if self.engine().rule(&rule.name).is_some() {
            return Err((
                "name".into(),
                format!("a rule named \"{}\" already exists", rule.name),
            ));
        }
        let spec = serde_json::to_value(rc).map_err(internal)?;
        app.store
            .create_rule(&lookout_store::StoredRule {
                name: rule.name.clone(),
                spec,
                created_ms: app.clock.now_ms(),
            })
            .map_err(|e| match e {
                lookout_store::StoreError::Conflict(_) => (
                    "name".to_string(),
                    format!("a rule named \"{}\" already exists", rule.name),
                ),
                other => internal(other),
            })?;
        self.engine()
            .add_rule(rule.clone())
            .map_err(|m| ("when".to_string(), m))?;
        Ok(rule)
    }

    /// Deletes a rule created through the API; its open incidents resolve. `Ok(false)`
    /// when no such rule exists.
    pub fn delete_rule(&self, app: &AppState, name: &str) -> anyhow::Result<bool> {
        if !app.store.delete_rule(name)? {
            return Ok(false);
        }
        self.engine().remove_rule(name);
        self.wake.notify_one();
        Ok(true)
    }

    /// The signed acknowledge link of an incident.
    pub fn ack_url(&self, public_url: &str, incident_id: i64) -> String {
        links::ack_url(public_url, &self.secret, incident_id)
    }

    /// Whether `sig` is the acknowledge signature of `incident_id`.
    pub fn verify_ack(&self, incident_id: i64, sig: &str) -> bool {
        links::verify(&self.secret, incident_id, sig)
    }

    /// Runs one engine step and writes its decisions in one transaction. On a write
    /// failure the engine's open incidents are reloaded from the store (copying the
    /// engine before every step would cost more than the step with thousands open), so the
    /// step can be retried and nothing is decided twice or lost.
    pub fn step(
        &self,
        app: &AppState,
        now_ms: i64,
        cursor: Option<i64>,
        f: impl FnOnce(&mut Engine) -> Vec<Action>,
    ) -> anyhow::Result<Vec<Action>> {
        let mut cursor_written = self.step_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut engine = self.engine();
        let actions = f(&mut engine);
        if actions.is_empty()
            && (cursor.is_none() || cursor_written.is_some_and(|t| t.elapsed() < CURSOR_ONLY_EVERY))
        {
            return Ok(actions);
        }
        let (batch, new_keys) = self.batch(app, &engine, &actions, now_ms, cursor);
        match app.store.apply_alerts(&batch) {
            Ok(new_ids) => {
                if cursor.is_some() {
                    *cursor_written = Some(std::time::Instant::now());
                }
                let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
                for (key, id) in new_keys.into_iter().zip(new_ids) {
                    ids.insert(key, id);
                }
                for a in &actions {
                    if let Action::Resolved { key, .. } = a {
                        ids.remove(key);
                    }
                }
                drop(ids);
                if !batch.messages.is_empty() {
                    self.queued.notify_one();
                }
                for a in &actions {
                    log_action(a);
                }
                Ok(actions)
            }
            Err(e) => {
                let stored = app.store.open_incidents().map(|rows| {
                    rows.into_iter()
                        .filter_map(|r| serde_json::from_value::<IncidentState>(r.state).ok())
                        .collect::<Vec<_>>()
                });
                match stored {
                    Ok(open) => engine.reset_open(open),
                    Err(e2) => tracing::error!(error = %e2, "cannot reload incidents either"),
                }
                Err(anyhow::anyhow!("cannot record alert decisions: {e}"))
            }
        }
    }

    /// Turns actions into one store batch; returns the keys of the incidents it opens.
    fn batch(
        &self,
        app: &AppState,
        engine: &Engine,
        actions: &[Action],
        now_ms: i64,
        cursor: Option<i64>,
    ) -> (AlertBatch, Vec<IncidentKey>) {
        let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = AlertBatch {
            cursor: cursor.map(|c| (SIGNAL_CURSOR.to_string(), c)),
            ..AlertBatch::default()
        };
        let mut new_keys: Vec<IncidentKey> = Vec::new();
        let refer = |key: &IncidentKey, new_keys: &[IncidentKey]| -> Option<IncidentRef> {
            if let Some(i) = new_keys.iter().rposition(|k| k == key) {
                return Some(IncidentRef::New(i));
            }
            ids.get(key).map(|id| IncidentRef::Id(*id))
        };
        let mut touched: Vec<IncidentKey> = Vec::new();
        for a in actions {
            match a {
                Action::Opened {
                    key,
                    severity,
                    title,
                    summary,
                    count,
                    at_ms,
                } => {
                    let (kind, id) = subject_parts(&key.subject);
                    batch.opens.push(NewIncident {
                        rule: key.rule.clone(),
                        subject_kind: kind.to_string(),
                        subject_id: id,
                        severity: severity.as_str().to_string(),
                        title: title.clone(),
                        summary: summary.clone(),
                        count: *count as i64,
                        opened_ms: *at_ms,
                        state: serde_json::Value::Null,
                        runbook: self.runbooks.get(&key.rule).map(|r| r.path.clone()),
                    });
                    new_keys.push(key.clone());
                    batch.timeline.push((
                        IncidentRef::New(new_keys.len() - 1),
                        entry(*at_ms, "triggered", title.clone(), None),
                    ));
                    touched.push(key.clone());
                }
                Action::Updated { key, count } => {
                    if let Some(r) = refer(key, &new_keys) {
                        batch.updates.push((
                            r,
                            IncidentUpdate {
                                count: Some(*count as i64),
                                ..IncidentUpdate::default()
                            },
                        ));
                        touched.push(key.clone());
                    }
                }
                Action::Notify {
                    key,
                    event,
                    channels,
                } => {
                    let Some(r) = refer(key, &new_keys) else {
                        continue;
                    };
                    // A resolution notifies after the engine dropped the incident: the stored
                    // row has what it needs.
                    let state = match engine.incident(key) {
                        Some(s) => Some(s.clone()),
                        None => self.stored_state(app, r),
                    };
                    if let Some(state) = state {
                        for channel in channels {
                            batch.messages.push((
                                r,
                                NewOutboxMessage {
                                    channel: channel.clone(),
                                    event: notify_name(event).to_string(),
                                    payload: self.payload(app, &state, event, r),
                                    now_ms,
                                },
                            ));
                        }
                    }
                    touched.push(key.clone());
                }
                Action::Resolved { key, at_ms, reason } => {
                    if let Some(r) = refer(key, &new_keys) {
                        batch.updates.push((
                            r,
                            IncidentUpdate {
                                status: Some("resolved".into()),
                                resolved: Some((*at_ms, resolved_by(reason))),
                                ..IncidentUpdate::default()
                            },
                        ));
                        batch
                            .timeline
                            .push((r, entry(*at_ms, "resolved", reason.clone(), None)));
                    }
                }
                Action::Timeline {
                    key,
                    at_ms,
                    entry: text,
                } => {
                    if let Some(r) = refer(key, &new_keys) {
                        // The engine's only line about a person is an acknowledgement.
                        let (kind, actor) = match text.strip_prefix("acknowledged by ") {
                            Some(by) => ("acknowledged", Some(by)),
                            None => ("note", None),
                        };
                        batch
                            .timeline
                            .push((r, entry(*at_ms, kind, text.clone(), actor)));
                    }
                    touched.push(key.clone());
                }
            }
        }
        // The engine's state of every incident touched, so a restart resumes its timers.
        touched.sort_by(|a, b| {
            a.rule
                .cmp(&b.rule)
                .then(subject_parts(&a.subject).cmp(&subject_parts(&b.subject)))
        });
        touched.dedup();
        for key in touched {
            let Some(state) = engine.incident(&key) else {
                continue;
            };
            let Some(r) = refer(&key, &new_keys) else {
                continue;
            };
            let value = serde_json::to_value(state).unwrap_or_default();
            let status = match state.status {
                lookout_core::alert::engine::IncidentStatus::Triggered => "triggered",
                lookout_core::alert::engine::IncidentStatus::Acknowledged => "acknowledged",
            };
            batch.updates.push((
                r,
                IncidentUpdate {
                    state: Some(value),
                    count: Some(state.count as i64),
                    status: Some(status.into()),
                    acked: state.acked_ms.zip(state.acked_by.clone()),
                    ..IncidentUpdate::default()
                },
            ));
        }
        (batch, new_keys)
    }

    /// The stored engine state of an incident the engine no longer holds.
    fn stored_state(&self, app: &AppState, r: IncidentRef) -> Option<IncidentState> {
        let IncidentRef::Id(id) = r else { return None };
        let row = app.store.get_incident(id).ok()??;
        serde_json::from_value(row.state).ok()
    }

    /// What a notification says, stored with the queued message; its `id` and
    /// `incident_id` are filled in when it is sent (the row ids are known then).
    fn payload(
        &self,
        app: &AppState,
        state: &IncidentState,
        event: &NotifyEvent,
        r: IncidentRef,
    ) -> serde_json::Value {
        let incident_id = match r {
            IncidentRef::Id(id) => id,
            IncidentRef::New(_) => 0,
        };
        let runbook = self.runbooks.get(&state.key.rule).map(|rb| Runbook {
            title: rb.title.clone(),
            url: None,
            text: Some(
                rb.text
                    .lines()
                    .skip(1)
                    .filter(|l| !l.trim().is_empty())
                    .take(6)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        });
        let n = Notification {
            id: String::new(),
            event: match event {
                NotifyEvent::Triggered => NotificationEvent::Triggered,
                NotifyEvent::Escalated { step } => NotificationEvent::Escalated { step: *step },
                NotifyEvent::Reminder => NotificationEvent::Reminder,
                NotifyEvent::Acknowledged { by } => {
                    NotificationEvent::Acknowledged { by: by.clone() }
                }
                NotifyEvent::Resolved { by } => NotificationEvent::Resolved { by: by.clone() },
            },
            incident_id,
            dedup_key: String::new(),
            severity: state.severity,
            title: state.title.clone(),
            summary: state.summary.clone(),
            rule: state.key.rule.clone(),
            subject: subject_label(app, &state.key.subject),
            count: state.count,
            triggered_ms: state.opened_ms,
            incident_url: None,
            ack_url: None,
            runbook,
        };
        serde_json::to_value(n).unwrap_or_default()
    }

    /// The silences in the store, applied to the engine.
    pub fn load_silences(&self, app: &AppState, now_ms: i64) -> anyhow::Result<()> {
        let rows = app.store.active_silences(now_ms)?;
        let silences = rows.iter().filter_map(silence_of).collect();
        self.step(app, now_ms, None, |e| e.set_silences(now_ms, silences))?;
        Ok(())
    }

    /// Acknowledges an incident by row id; `false` when it is not open.
    pub fn acknowledge(&self, app: &AppState, id: i64, by: &str) -> anyhow::Result<bool> {
        let Some(key) = self.key_of(id) else {
            return Ok(false);
        };
        let now = app.clock.now_ms();
        self.step(app, now, None, |e| e.acknowledge(now, &key, by))?;
        Ok(true)
    }

    /// Resolves an incident by hand; `false` when it is not open.
    pub fn resolve(&self, app: &AppState, id: i64, by: &str) -> anyhow::Result<bool> {
        let Some(key) = self.key_of(id) else {
            return Ok(false);
        };
        let now = app.clock.now_ms();
        let by_owned = by.to_string();
        self.step(app, now, None, |e| e.resolve(now, &key, Some(&by_owned)))?;
        Ok(true)
    }

    fn key_of(&self, id: i64) -> Option<IncidentKey> {
        self.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.clone())
    }
}

fn internal(e: impl std::fmt::Display) -> (String, String) {
    (
        "(server)".to_string(),
        format!("the database reported an error: {e}"),
    )
}

/// A rule created through the API, with its scope resolved to ids. Runbooks are files
/// beside the config, so only rules declared there can name one.
fn api_rule(
    rc: &config::RuleConfig,
    projects: &[lookout_store::Project],
    monitors: &[lookout_store::Monitor],
) -> Result<Rule, (&'static str, String)> {
    if rc.name.trim().is_empty() {
        return Err(("name", "must not be empty".into()));
    }
    if rc.runbook.is_some() {
        return Err((
            "runbook",
            "runbooks are files beside the config: declare a rule with a runbook in the config file"
                .into(),
        ));
    }
    let mut rule = rc.rule()?;
    if let Some(slugs) = &rc.projects {
        let mut ids = Vec::new();
        for slug in slugs {
            let p = projects
                .iter()
                .find(|p| &p.slug == slug)
                .ok_or(("projects", format!("no project `{slug}`")))?;
            ids.push(p.id);
        }
        rule.projects = Some(ids);
    }
    if let Some(names) = &rc.monitors {
        let mut ids = Vec::new();
        for name in names {
            let m = monitors
                .iter()
                .find(|m| &m.name == name)
                .ok_or(("monitors", format!("no monitor named \"{name}\"")))?;
            ids.push(m.id);
        }
        rule.monitors = Some(ids);
    }
    rule.validate().map_err(|m| ("when", m))?;
    Ok(rule)
}

/// Runs the evaluation loop until aborted: new signals, windowed measures, timers.
pub async fn run(app: Arc<AppState>) {
    let alerts = app.alerts.clone();
    let mut signals = app.signals.subscribe();
    let mut next_measure = 0i64;
    let mut cursor = {
        let a = app.clone();
        tokio::task::spawn_blocking(move || initial_cursor(&a))
            .await
            .unwrap_or(0)
    };
    loop {
        let run_started = std::time::Instant::now();
        let now = app.clock.now_ms();
        let a = app.clone();
        let measure = now >= next_measure;
        let res = tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
            let alerts = a.alerts.clone();
            // New signals, oldest first, a page at a time.
            loop {
                let page = a.store.signals_after(cursor, SIGNAL_PAGE)?;
                let Some(last) = page.last().map(|s| s.id) else {
                    break;
                };
                alerts.step(&a, now, Some(last), |e| {
                    page.iter().flat_map(|s| e.on_signal(now, s)).collect()
                })?;
                cursor = last;
                if page.len() < SIGNAL_PAGE as usize {
                    break;
                }
            }
            if measure {
                // Monitors created through the API since the start get their names too.
                alerts.engine().set_monitor_names(a.monitors.names());
                let measures = measures(&a, &alerts.rules(), now)?;
                if !measures.is_empty() {
                    alerts.step(&a, now, None, |e| {
                        measures
                            .iter()
                            .flat_map(|(rule, subject, v)| e.on_measure(now, rule, *subject, *v))
                            .collect()
                    })?;
                }
                alerts.load_silences(&a, now)?;
            }
            // Timers only when one is due: a tick walks every open incident.
            let due = alerts.engine().next_deadline_ms().is_some_and(|t| t <= now);
            if due {
                alerts.step(&a, now, None, |e| e.tick(now))?;
            }
            Ok(cursor)
        })
        .await;
        match res {
            Ok(Ok(c)) => {
                cursor = c;
                if measure {
                    next_measure = now + alerts.evaluate_every_ms;
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "alert evaluation failed; retrying"),
            Err(e) => tracing::error!(error = %e, "alert evaluation panicked"),
        }
        tokio::select! {
            _ = tokio::time::sleep(MAX_SLEEP) => {}
            _ = signals.recv() => {
                let since = run_started.elapsed();
                if since < SIGNAL_RUN_GAP {
                    tokio::time::sleep(SIGNAL_RUN_GAP - since).await;
                }
                // The writer sends each signal of a batch: one run reads them all.
                while !matches!(
                    signals.try_recv(),
                    Err(tokio::sync::broadcast::error::TryRecvError::Empty
                        | tokio::sync::broadcast::error::TryRecvError::Closed)
                ) {}
            }
            _ = alerts.wake.notified() => {}
        }
    }
}

/// Where signal handling resumes: the stored cursor, or on the very first start the
/// newest signal (old facts are not news).
fn initial_cursor(app: &AppState) -> i64 {
    match app.store.cursor(SIGNAL_CURSOR) {
        Ok(Some(c)) => c,
        Ok(None) => {
            let mut last = 0;
            while let Ok(page) = app.store.signals_after(last, SIGNAL_PAGE) {
                match page.last() {
                    Some(s) => last = s.id,
                    None => break,
                }
            }
            last
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the alert cursor; starting from the newest signal");
            0
        }
    }
}

/// The windowed measures of every measured rule: error counts and p95 per project,
/// health document fields per monitor.
fn measures(
    app: &AppState,
    rules: &[Rule],
    now: i64,
) -> anyhow::Result<Vec<(String, Subject, f64)>> {
    let mut out = Vec::new();
    let projects: Vec<i64> = app.projects.all().iter().map(|p| p.project.id).collect();
    let in_scope =
        |scope: &Option<Vec<i64>>, id: i64| scope.as_ref().is_none_or(|s| s.contains(&id));
    for rule in rules {
        match &rule.condition {
            Condition::ErrorCount {
                window_ms, filter, ..
            } => {
                let f = EventCountFilter {
                    levels: match filter.level {
                        Some(l) => vec![l.as_str().to_string()],
                        None => EventCountFilter::default().levels,
                    },
                    environment: filter.environment.clone(),
                    release: filter.release.clone(),
                };
                for &p in projects.iter().filter(|p| in_scope(&rule.projects, **p)) {
                    let n = app.store.count_events(p, now - window_ms, now + 1, &f)?;
                    out.push((rule.name.clone(), Subject::Project(p), n as f64));
                }
            }
            Condition::LatencyP95 { window_ms, .. } => {
                for &p in projects.iter().filter(|p| in_scope(&rule.projects, **p)) {
                    let mut d: Vec<f64> = app
                        .store
                        .list_transactions(p, now - window_ms, 100_000)?
                        .iter()
                        .map(|t| t.duration_ms)
                        .collect();
                    d.sort_by(f64::total_cmp);
                    if let Some(p95) = lookout_core::stats::nearest_rank(&d, 95.0) {
                        out.push((rule.name.clone(), Subject::Project(p), p95));
                    }
                }
            }
            Condition::HealthField { path, .. } => {
                for (mid, _, doc) in app.monitors.health_documents() {
                    if !in_scope(&rule.monitors, mid) {
                        continue;
                    }
                    if let Some(v) = health_value(&doc, path) {
                        out.push((rule.name.clone(), Subject::Monitor(mid), v));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A number in a health document's `checks`, by dotted path (`memory.percentage`).
fn health_value(checks: &serde_json::Value, path: &str) -> Option<f64> {
    let mut v = checks;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    v.as_f64()
}

fn silence_of(row: &SilenceRow) -> Option<Silence> {
    let target = match row.target_kind.as_str() {
        "rule" => SilenceTarget::Rule(row.target.clone()),
        "monitor" => SilenceTarget::Monitor(row.target.parse().ok()?),
        "project" => SilenceTarget::Project(row.target.parse().ok()?),
        _ => return None,
    };
    Some(Silence {
        target,
        until_ms: row.until_ms,
        reason: row.reason.clone(),
    })
}

fn entry(at_ms: i64, kind: &str, text: String, actor: Option<&str>) -> TimelineEntry {
    TimelineEntry {
        at_ms,
        kind: kind.to_string(),
        text,
        actor: actor.map(str::to_string),
    }
}

/// "resolved by alice" → Some("alice"); automatic resolutions have no author.
fn resolved_by(reason: &str) -> Option<String> {
    reason
        .strip_prefix("resolved by ")
        .map(|s| s.trim().to_string())
}

fn subject_parts(s: &Subject) -> (&'static str, i64) {
    match s {
        Subject::Project(id) => ("project", *id),
        Subject::Issue(id) => ("issue", *id),
        Subject::Monitor(id) => ("monitor", *id),
    }
}

/// "project web", "monitor Homepage", "issue 12": names where they are known.
fn subject_label(app: &AppState, s: &Subject) -> String {
    match s {
        Subject::Project(id) => match app.projects.get(*id) {
            Some(p) => format!("project {}", p.project.slug),
            None => format!("project {id}"),
        },
        Subject::Monitor(id) => match app.monitors.name(*id) {
            Some(n) => format!("monitor {n}"),
            None => format!("monitor {id}"),
        },
        Subject::Issue(id) => format!("issue {id}"),
    }
}

fn notify_name(e: &NotifyEvent) -> &'static str {
    match e {
        NotifyEvent::Triggered => "triggered",
        NotifyEvent::Escalated { .. } => "escalated",
        NotifyEvent::Reminder => "reminder",
        NotifyEvent::Acknowledged { .. } => "acknowledged",
        NotifyEvent::Resolved { .. } => "resolved",
    }
}

fn log_action(a: &Action) {
    match a {
        Action::Opened {
            key,
            severity,
            title,
            ..
        } => {
            tracing::warn!(rule = %key.rule, severity = severity.as_str(), "incident opened: {title}")
        }
        Action::Resolved { key, reason, .. } => {
            tracing::info!(rule = %key.rule, "incident resolved: {reason}")
        }
        Action::Notify {
            key,
            event,
            channels,
        } => {
            tracing::info!(rule = %key.rule, event = notify_name(event), channels = ?channels, "notification queued")
        }
        _ => {}
    }
}
