//! Sentry cron check-ins drive heartbeat monitors, so `Sentry.withMonitor()` and
//! `@sentry_sdk.monitor` work unchanged: a check-in names a monitor by slug within its
//! project; one that carries a `monitor_config` creates the monitor (or updates its
//! schedule), as Sentry does.

use std::sync::Arc;
use std::time::Duration;

use lookout_core::heartbeat::{HeartbeatSchedule, HeartbeatSpec, Ping};
use lookout_store::{CheckInRow, MonitorSource, NewMonitor};

use super::spec::{MonitorConfig, MonitorKind};
use crate::state::AppState;

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

/// Applies durable check-ins to their monitors, creating or updating monitors from
/// `monitor_config`; runs after the ingest answer, off the request path.
pub fn apply(app: Arc<AppState>, rows: Vec<CheckInRow>) {
    tokio::spawn(async move {
        for row in rows {
            if let Err(e) = apply_one(&app, &row).await {
                tracing::warn!(slug = %row.monitor_slug, error = %e, "check-in not applied to a monitor");
            }
        }
    });
}

async fn apply_one(app: &Arc<AppState>, row: &CheckInRow) -> anyhow::Result<()> {
    let Some(ping) = Ping::from_sentry_check_in(&row.status, row.duration_s) else {
        return Ok(());
    };
    if let Some(text) = &row.monitor_config {
        upsert_from_config(app, row, text).await?;
    }
    if !app
        .monitors
        .check_in(row.project_id, &row.monitor_slug, ping, row.received_ms)
    {
        tracing::debug!(slug = %row.monitor_slug, "check-in for an unknown monitor without monitor_config");
    }
    Ok(())
}

async fn upsert_from_config(
    app: &Arc<AppState>,
    row: &CheckInRow,
    text: &str,
) -> anyhow::Result<()> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let spec = HeartbeatSpec::from_sentry_monitor_config(&value)
        .map_err(|e| anyhow::anyhow!("monitor_config: {e}"))?;
    let project = app
        .projects
        .get(row.project_id)
        .ok_or_else(|| anyhow::anyhow!("unknown project {}", row.project_id))?;
    let config = config_of(&project.project.slug, &row.monitor_slug, &spec);
    let def = config.validate()?;
    let (store, pid, slug) = (app.store.clone(), row.project_id, row.monitor_slug.clone());
    let now = row.received_ms;
    let spec_json = serde_json::to_value(&config)?;
    let stored = tokio::task::spawn_blocking(move || -> anyhow::Result<Option<_>> {
        let existing = store.get_monitor_by_slug(pid, &slug)?;
        let new = |token: Option<String>| NewMonitor {
            name: slug.clone(),
            kind: MonitorKind::Heartbeat.as_str().to_string(),
            spec: spec_json.clone(),
            source: MonitorSource::CheckIn,
            project_id: Some(pid),
            token,
            slug: Some(slug.clone()),
            now_ms: now,
        };
        Ok(match existing {
            None => Some(store.create_monitor(&new(Some(super::new_token())))?),
            // Declared in the config or through the API: those definitions win.
            Some(m) if m.source != MonitorSource::CheckIn => None,
            Some(m) if m.spec == spec_json => None,
            Some(m) => store.update_monitor(m.id, &new(m.token.clone()))?,
        })
    })
    .await??;
    if let Some(m) = stored {
        tracing::info!(monitor = %m.name, id = m.id, "monitor created or updated by a Sentry check-in");
        app.monitors.upsert(m, def);
    }
    Ok(())
}
