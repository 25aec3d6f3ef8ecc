//! Sentry cron check-ins drive heartbeat monitors, so `Sentry.withMonitor()` and
//! `@sentry_sdk.monitor` work unchanged: a check-in names a monitor by slug within its
//! project; one that carries a `monitor_config` creates the monitor (or updates its
//! schedule), as Sentry does.

use std::sync::Arc;
use std::time::Duration;

use lookout_core::heartbeat::{HeartbeatSchedule, HeartbeatSpec, Ping};
use lookout_store::{CheckInRow, Monitor, MonitorSource, NewMonitor, Store};
use tokio::sync::mpsc;

use super::spec::{MonitorConfig, MonitorDef, MonitorKind};
use super::sync::new_token;
use super::Monitors;
use crate::bus::CheckIns;

/// The monitor definition a Sentry `monitor_config` stands for.
fn config_of(project: &str, slug: &str, spec: &HeartbeatSpec) -> MonitorConfig {
    let ms = |v: i64| Duration::from_millis(v.max(0) as u64);
    let (period, cron, timezone) = match &spec.schedule {
        HeartbeatSchedule::Period { period_ms } => (Some(ms(*period_ms)), None, None),
        HeartbeatSchedule::Cron(c) => (
            None,
            Some(c.expr().to_string()),
            Some(c.timezone().to_string()).filter(|tz| tz != "UTC"),
        ),
    };
    MonitorConfig {
        name: slug.to_string(),
        kind: MonitorKind::Heartbeat,
        project: Some(project.to_string()),
        slug: Some(slug.to_string()),
        period,
        cron,
        timezone,
        grace: Some(ms(spec.grace_ms)),
        max_runtime: spec.max_runtime_ms.map(ms),
        alert_after: Some(spec.failure_threshold),
        recover_after: Some(spec.recovery_threshold),
        ..MonitorConfig::empty(slug, MonitorKind::Heartbeat)
    }
}

/// Applies durable check-ins to their monitors as ingest hands them over, creating or
/// updating monitors from `monitor_config`; runs until the channel closes.
pub async fn run(mut rx: mpsc::Receiver<CheckIns>, store: Arc<dyn Store>, monitors: Arc<Monitors>) {
    while let Some(rows) = rx.recv().await {
        for row in rows {
            if let Err(e) = apply_one(&store, &monitors, &row).await {
                tracing::warn!(slug = %row.monitor_slug, error = %e, "check-in not applied to a monitor");
            }
        }
    }
}

async fn apply_one(
    store: &Arc<dyn Store>,
    monitors: &Monitors,
    row: &CheckInRow,
) -> anyhow::Result<()> {
    let Some(ping) = Ping::from_sentry_check_in(row.status, row.duration_s) else {
        return Ok(());
    };
    if let Some(text) = &row.monitor_config {
        let value: serde_json::Value = serde_json::from_str(text)?;
        let spec = HeartbeatSpec::from_sentry_monitor_config(&value)
            .map_err(|e| anyhow::anyhow!("monitor_config: {e}"))?;
        let (store, row) = (store.clone(), row.clone());
        let stored =
            tokio::task::spawn_blocking(move || upsert(store.as_ref(), &row, &spec)).await??;
        if let Some((m, def)) = stored {
            tracing::info!(monitor = %m.name, id = m.id, "monitor created or updated by a Sentry check-in");
            monitors.upsert(m, def);
        }
    }
    if !monitors.check_in(row.project_id, &row.monitor_slug, ping, row.received_ms) {
        tracing::debug!(slug = %row.monitor_slug, "check-in for an unknown monitor without monitor_config");
    }
    Ok(())
}

/// Creates or updates the monitor a check-in's `monitor_config` stands for; `None` when
/// nothing changed or the monitor is declared elsewhere (config or API definitions win).
fn upsert(
    store: &dyn Store,
    row: &CheckInRow,
    spec: &HeartbeatSpec,
) -> anyhow::Result<Option<(Monitor, MonitorDef)>> {
    let (pid, slug) = (row.project_id, &row.monitor_slug);
    let project = store
        .get_project(pid)?
        .ok_or_else(|| anyhow::anyhow!("unknown project {pid}"))?;
    let config = config_of(&project.slug, slug, spec);
    let def = config.validate()?;
    let spec_json = serde_json::to_value(&config)?;
    let new = |token: Option<String>| NewMonitor {
        name: slug.clone(),
        kind: MonitorKind::Heartbeat,
        spec: spec_json.clone(),
        source: MonitorSource::CheckIn,
        project_id: Some(pid),
        token,
        slug: Some(slug.clone()),
        now_ms: row.received_ms,
    };
    let stored = match store.get_monitor_by_slug(pid, slug)? {
        None => Some(store.create_monitor(&new(Some(new_token())))?),
        Some(m) if m.source != MonitorSource::CheckIn => None,
        Some(m) if m.spec == spec_json => None,
        Some(m) => store.update_monitor(m.id, &new(m.token.clone()))?,
    };
    Ok(stored.map(|m| (m, def)))
}
