//! The monitors of the config file into the store, and stored monitors back into
//! runtime definitions.

use anyhow::Context;
use lookout_core::monitor::{Outcome, State};
use lookout_store::{CheckOutcome, Monitor, MonitorSource, NewMonitor, Store};

use super::spec::{MonitorConfig, MonitorDef, MonitorKind, Probe};

/// Builds the runtime definition of a stored monitor, whose spec was validated when it
/// was written; a spec that no longer validates (a CA file gone) is reported.
pub fn def_of(monitor: &Monitor) -> Result<MonitorDef, String> {
    let config: MonitorConfig = serde_json::from_value(monitor.spec.clone())
        .map_err(|e| format!("stored definition unreadable: {e}"))?;
    config.validate().map_err(|e| e.to_string())
}

/// Makes the store's config-declared monitors match `[[monitors]]` (keeping each one's
/// history, status and generated ping token), deletes those removed from the config
/// unless `prune` is false, and returns every stored monitor with its runtime definition.
///
/// `prune` is false while other live instances run a different config: during a rolling
/// config change the instance with the older (or newer) file must not delete what the
/// others still declare and check.
pub fn sync_config(
    store: &dyn Store,
    monitors: &[MonitorConfig],
    now_ms: i64,
    prune: bool,
) -> anyhow::Result<Vec<(Monitor, MonitorDef)>> {
    let existing = store.list_monitors()?;
    let mut keep = Vec::new();
    for (i, m) in monitors.iter().enumerate() {
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
            (None, MonitorKind::Heartbeat) => Some(
                existing
                    .iter()
                    .find(|e| e.project_id == project_id && e.name == m.name)
                    .and_then(|e| e.token.clone())
                    .unwrap_or_else(new_token),
            ),
            (None, _) => None,
        };
        let stored = store
            .upsert_monitor(&NewMonitor {
                name: m.name.clone(),
                kind: m.kind,
                spec: serde_json::to_value(m)?,
                source: MonitorSource::Config,
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
    if prune {
        let removed = store.prune_config_monitors(&keep)?;
        if removed > 0 {
            tracing::info!(removed, "deleted monitors no longer in the config");
        }
    } else {
        let extra = existing
            .iter()
            .filter(|m| m.source == MonitorSource::Config && !keep.contains(&m.id))
            .count();
        if extra > 0 {
            tracing::warn!(
                kept = extra,
                "config monitors missing from this file are kept: other live instances run a different config"
            );
        }
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

/// A new heartbeat ping token: unguessable, URL-safe.
pub fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Loads what other instances changed (see `Monitors::plan_sync`). Blocking.
pub fn from_store(monitors: &super::Monitors, store: &dyn Store) {
    // A monitor created here while the list is read is not in it, and must not be
    // taken for one deleted elsewhere.
    let listed_ms = monitors.now_ms();
    let stored = match store.list_monitors() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read monitors made through other instances");
            return;
        }
    };
    let (load, gone) = monitors.plan_sync(stored, listed_ms);
    for id in gone {
        monitors.remove(id);
    }
    upsert_all(monitors, store, load);
    // After the upsert: a request for a monitor created elsewhere just now finds it known.
    match store.check_requests() {
        Ok(ids) if !ids.is_empty() => {
            let settled = monitors.take_requests(&ids);
            if let Err(e) = store.clear_check_requests(&settled) {
                tracing::warn!(error = %e, "cannot clear check requests; they are taken again");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read check requests"),
    }
    match store.list_maintenance(monitors.now_ms()) {
        Ok(windows) => monitors.set_api_windows(windows),
        Err(e) => tracing::warn!(error = %e, "cannot read maintenance windows"),
    }
}

/// Reloads monitors `ids` from the store: this instance runs them from now on, from the
/// state the previous one left. Blocking.
pub fn reload(monitors: &super::Monitors, store: &dyn Store, ids: &[i64]) {
    match store.list_monitors() {
        Ok(stored) => {
            let load: Vec<Monitor> = stored
                .into_iter()
                .filter(|m| ids.binary_search(&m.id).is_ok())
                .collect();
            tracing::info!(
                monitors = load.len(),
                "took over monitors from another instance"
            );
            upsert_all(monitors, store, load);
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot reload the monitors taken over; they wait for the next change")
        }
    }
}

/// The latest results of monitor `m` that a failure (or recovery) streak still pending
/// confirmation is made of, newest first; empty when none can be: its last check passed
/// while it was up, or one result confirms a change. Only results since its last
/// redefinition or resume (`updated_ms`) and after its last maintenance window count,
/// as in the state machine. A store error restarts the streak (logged).
pub fn recent_outcomes(store: &dyn Store, m: &Monitor, def: &MonitorDef) -> Vec<(i64, Outcome)> {
    let s = def.settings;
    let need = s.alert_after.max(s.recover_after);
    let pending =
        m.status.last_error.is_some() || matches!(m.status.state, State::Down | State::Degraded);
    if m.paused || need <= 1 || !pending || matches!(def.probe, Probe::Heartbeat(_)) {
        return Vec::new();
    }
    match store.check_results(m.id, m.updated_ms, i64::MAX, need) {
        Ok(results) => results
            .into_iter()
            .take_while(|r| !r.maintenance)
            .map(|r| {
                let reason = |or: &str| r.error.clone().unwrap_or_else(|| or.into());
                let o = match r.outcome {
                    CheckOutcome::Up => Outcome::Up,
                    CheckOutcome::Degraded => Outcome::Degraded {
                        reason: reason("degraded"),
                    },
                    CheckOutcome::Down => Outcome::Down {
                        reason: reason("down"),
                    },
                };
                (r.at_ms, o)
            })
            .collect(),
        Err(e) => {
            tracing::warn!(monitor = %m.name, error = %e, "cannot read the last results; a failure streak starts again");
            Vec::new()
        }
    }
}

/// Loads stored monitors into `monitors`, each continuing the streak its last results
/// built. Blocking.
pub fn upsert_all(monitors: &super::Monitors, store: &dyn Store, load: Vec<Monitor>) {
    for m in load {
        match def_of(&m) {
            Ok(def) => {
                let recent = recent_outcomes(store, &m, &def);
                monitors.upsert_restored(m, def, &recent)
            }
            Err(e) => {
                tracing::error!(monitor = %m.name, error = %e, "monitor not loaded; fix or delete it")
            }
        }
    }
}
