//! Alerting at run time, one way from inputs to channels:
//!
//! ```text
//! signals (read from the store by cursor) ──┐
//! windowed measures (store; health facts) ──┼─► engine step ─► one transaction: incidents,
//! timers, people (ack, resolve, silences) ──┘    timeline, outbox ─► dispatcher ─► channels
//! ```
//!
//! The engine is pure (`lookout_core::alert`); this module owns its instance and the I/O.
//! `rules` builds the rules in force; `evaluate` is the loop that feeds the engine;
//! `measures` computes windowed values; `step` runs one engine step and writes its
//! decisions; `notification` says what a queued message says; [`dispatch`] delivers the
//! outbox through the [`channels`]; [`links`] signs the acknowledge links.

pub mod channels;
pub mod config;
pub mod dispatch;
mod evaluate;
pub mod links;
mod measures;
mod notification;
mod rules;
mod step;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_core::alert::engine::{Engine, IncidentKey, IncidentState, Silence, SilenceTarget};
use lookout_core::alert::rule::Rule;
use lookout_core::clock::Clock;
use lookout_store::{SilenceRow, Store, StoreError, StoredRule};
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::Notify;

use crate::projects::Projects;
use channels::Channels;
use config::{RuleConfig, SeverityConfig};
pub use evaluate::run;
pub use rules::RunbookDoc;

/// The config the runtime is built from.
pub struct Setup<'a> {
    /// `[[rules]]`.
    pub rules: &'a [RuleConfig],
    /// `[severities.NAME]`.
    pub severities: &'a BTreeMap<String, SeverityConfig>,
    /// The directory runbook paths are relative to (the config file's).
    pub runbook_dir: Option<&'a Path>,
    /// How often windowed rules are evaluated.
    pub evaluate_every: Duration,
}

/// What the runtime works with.
pub struct Handles {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Projects, for measures and for naming them in notifications.
    pub projects: Arc<Projects>,
    /// Channels, to check the ones a rule names.
    pub channels: Arc<Channels>,
    /// Wakes the dispatcher when notifications are queued.
    pub outbox: Arc<Notify>,
    /// Service level objectives, for `slo burn rate` rules.
    pub slos: Arc<crate::slo::Slos>,
    /// The fleet: the loop runs only on the holder of the `alerts` duty, and its writes
    /// are fenced by that lease.
    pub cluster: Arc<crate::cluster::Cluster>,
}

/// Why a rule could not be created.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The definition is wrong at `key`.
    #[error("{key}: {message}")]
    Invalid {
        /// The key at fault.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A rule has that name.
    #[error("name: a rule named \"{0}\" already exists")]
    Exists(String),
    /// The database failed.
    #[error("the database reported an error: {0}")]
    Store(#[from] StoreError),
    /// The rule could not be written as JSON for the store.
    #[error("cannot encode the rule: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The alerting runtime.
pub struct Alerts {
    engine: Mutex<Engine>,
    /// Row ids of open incidents.
    ids: Mutex<HashMap<IncidentKey, i64>>,
    /// Serialises engine steps with their writes, so actions reach the store in order;
    /// holds when the cursor was last written.
    step_lock: Mutex<Option<Instant>>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    projects: Arc<Projects>,
    channels: Arc<Channels>,
    outbox: Arc<Notify>,
    slos: Arc<crate::slo::Slos>,
    /// Wakes the evaluation loop (a rule removed).
    wake: Notify,
    runbooks: HashMap<String, RunbookDoc>,
    /// Names of the rules declared in the config file (the others came through the API).
    config_rules: HashSet<String>,
    evaluate_every_ms: i64,
    cluster: Arc<crate::cluster::Cluster>,
    /// Rule specs loaded from the store: `sync_rules` reloads only when they change.
    stored_rules: Mutex<Vec<StoredRule>>,
}

impl Alerts {
    /// Builds the runtime: rules with their scopes resolved to ids, policies, runbooks;
    /// then restores open incidents from the store. Blocking.
    pub fn new(setup: Setup<'_>, handles: Handles) -> anyhow::Result<Alerts> {
        let store = handles.store.as_ref();
        let projects = store.list_projects()?;
        let monitors = store.list_monitors()?;
        let loaded = rules::load(&setup, store, &projects, &monitors)?;
        let policies =
            config::policies(setup.severities).map_err(|(k, m)| anyhow::anyhow!("{k}: {m}"))?;
        let mut engine =
            Engine::new(loaded.rules, policies).map_err(|e| anyhow::anyhow!("rules: {e}"))?;
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
        let stored_rules = store.list_rules()?;
        Ok(Alerts {
            cluster: handles.cluster,
            stored_rules: Mutex::new(stored_rules),
            engine: Mutex::new(engine),
            ids: Mutex::new(ids),
            step_lock: Mutex::new(None),
            store: handles.store,
            clock: handles.clock,
            projects: handles.projects,
            channels: handles.channels,
            outbox: handles.outbox,
            slos: handles.slos,
            wake: Notify::new(),
            runbooks: loaded.runbooks,
            config_rules: loaded.config_rules,
            evaluate_every_ms: setup.evaluate_every.as_millis().max(1) as i64,
        })
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock()
    }

    /// The engine's state of an open incident, by row id.
    pub fn open_state(&self, id: i64) -> Option<IncidentState> {
        let key = self.key_of(id)?;
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

    /// The runbook of a rule, if it has one.
    pub fn runbook(&self, rule: &str) -> Option<&RunbookDoc> {
        self.runbooks.get(rule)
    }

    /// Creates a rule through the API: validated, stored, then in force. Blocking.
    pub fn create_rule(&self, rc: &RuleConfig) -> Result<Rule, RuleError> {
        let projects = self.store.list_projects()?;
        let monitors = self.store.list_monitors()?;
        let rule = rules::api_rule(rc, &projects, &monitors)
            .map_err(|(key, message)| RuleError::Invalid { key, message })?;
        if let Some(c) = rule.notify.iter().find(|c| !self.channels.contains(c)) {
            return Err(RuleError::Invalid {
                key: "notify",
                message: format!("no channel `{c}`"),
            });
        }
        if self.engine().rule(&rule.name).is_some() {
            return Err(RuleError::Exists(rule.name));
        }
        let spec = serde_json::to_value(rc)?;
        let stored = StoredRule {
            name: rule.name.clone(),
            spec,
            created_ms: self.clock.now_ms(),
        };
        match self.store.create_rule(&stored) {
            Err(StoreError::Conflict(_)) => return Err(RuleError::Exists(rule.name)),
            other => other?,
        }
        self.engine()
            .add_rule(rule.clone())
            .map_err(|message| RuleError::Invalid {
                key: "when",
                message,
            })?;
        Ok(rule)
    }

    /// Deletes a rule created through the API; its open incidents resolve. `Ok(false)`
    /// when no such rule exists. Blocking.
    pub fn delete_rule(&self, name: &str) -> anyhow::Result<bool> {
        if !self.store.delete_rule(name)? {
            return Ok(false);
        }
        self.engine().remove_rule(name);
        self.wake.notify_one();
        Ok(true)
    }

    /// The silences in the store, applied to the engine (a person set or lifted one).
    /// Blocking.
    pub fn load_silences(&self, now_ms: i64) -> anyhow::Result<()> {
        self.load_silences_by(now_ms, step::By::Person)
    }

    fn load_silences_by(&self, now_ms: i64, by: step::By) -> anyhow::Result<()> {
        let rows = self.store.active_silences(now_ms)?;
        let silences = rows.iter().filter_map(silence_of).collect();
        self.step_by(by, now_ms, None, |e| e.set_silences(now_ms, silences))?;
        Ok(())
    }

    /// Replaces the engine's open incidents (and their row ids) with the store's: this
    /// instance takes the loop over, or another instance changed an incident. Blocking.
    fn reload_open(&self) -> anyhow::Result<()> {
        let _serial = self.step_lock.lock();
        let mut ids = HashMap::new();
        let mut states = Vec::new();
        for row in self.store.open_incidents()? {
            if let Ok(s) = serde_json::from_value::<IncidentState>(row.state.clone()) {
                ids.insert(s.key.clone(), row.id);
                states.push(s);
            }
        }
        self.engine().reset_open(states);
        *self.ids.lock() = ids;
        Ok(())
    }

    /// Puts in force the rules created or deleted through other instances' APIs.
    /// Blocking.
    pub fn sync_rules(&self) -> anyhow::Result<()> {
        let stored = self.store.list_rules()?;
        if *self.stored_rules.lock() == stored {
            return Ok(());
        }
        let projects = self.store.list_projects()?;
        let monitors = self.store.list_monitors()?;
        let mut engine = self.engine();
        let api: Vec<String> = engine
            .rules()
            .iter()
            .map(|r| r.name.clone())
            .filter(|n| !self.config_rules.contains(n))
            .collect();
        for name in &api {
            if !stored.iter().any(|s| &s.name == name) {
                engine.remove_rule(name);
                tracing::info!(rule = %name, "rule deleted through another instance");
            }
        }
        for s in &stored {
            if engine.rule(&s.name).is_some() {
                continue;
            }
            let rule = serde_json::from_value::<RuleConfig>(s.spec.clone())
                .map_err(|e| e.to_string())
                .and_then(|rc| {
                    rules::api_rule(&rc, &projects, &monitors).map_err(|(k, m)| format!("{k}: {m}"))
                })
                .and_then(|rule| engine.add_rule(rule));
            match rule {
                Ok(()) => tracing::info!(rule = %s.name, "rule created through another instance"),
                Err(e) => tracing::error!(rule = %s.name, error = %e, "stored rule not loaded"),
            }
        }
        drop(engine);
        *self.stored_rules.lock() = stored;
        self.wake.notify_one();
        Ok(())
    }

    /// Acknowledges an incident by row id; `false` when it is not open. Blocking.
    pub fn acknowledge(&self, id: i64, by: &str) -> anyhow::Result<bool> {
        if !self.cluster.holds(crate::cluster::ALERTS) {
            // Another instance runs the loop: this engine's incidents may be stale.
            self.reload_open()?;
        }
        let Some(key) = self.key_of(id) else {
            return Ok(false);
        };
        let now = self.clock.now_ms();
        self.step_by(step::By::Person, now, None, |e| {
            e.acknowledge(now, &key, by)
        })?;
        Ok(true)
    }

    /// Resolves an incident by hand; `false` when it is not open. Blocking.
    pub fn resolve(&self, id: i64, by: &str) -> anyhow::Result<bool> {
        if !self.cluster.holds(crate::cluster::ALERTS) {
            // Another instance runs the loop: this engine's incidents may be stale.
            self.reload_open()?;
        }
        let Some(key) = self.key_of(id) else {
            return Ok(false);
        };
        let now = self.clock.now_ms();
        self.step_by(step::By::Person, now, None, |e| {
            e.resolve(now, &key, Some(by))
        })?;
        Ok(true)
    }

    fn key_of(&self, id: i64) -> Option<IncidentKey> {
        self.ids
            .lock()
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.clone())
    }
}

/// A stored silence as the engine applies it; `None` for a row it cannot read.
fn silence_of(row: &SilenceRow) -> Option<Silence> {
    Some(Silence {
        target: SilenceTarget::new(row.target_kind, &row.target)?,
        until_ms: row.until_ms,
        reason: row.reason.clone(),
    })
}
