//! Background jobs: event retention, uptime roll-ups and uptime history retention.

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

/// Starts the background jobs on the runtime.
pub fn spawn(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut minutes = 0u64;
        loop {
            tick.tick().await;
            let s = state.clone();
            let hourly = minutes.is_multiple_of(60);
            minutes += 1;
            let _ = tokio::task::spawn_blocking(move || {
                roll_up_checks(&s);
                if hourly {
                    apply_retention(&s);
                    prune_checks(&s);
                }
            })
            .await;
        }
    })
}

/// A result is stored up to a check's timeout after its start time, and a rolled-up
/// bucket is final; so buckets are rolled up only once this much older than now.
const ROLLUP_LAG_MS: i64 = 2 * 60_000;

/// Rolls up every complete minute, hour and day of check results.
pub fn roll_up_checks(state: &AppState) -> u64 {
    match state
        .store
        .rollup_checks(state.clock.now_ms() - ROLLUP_LAG_MS)
    {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not roll up check results; will retry");
            0
        }
    }
}

/// Deletes raw check results and roll-ups past `[uptime]` retention.
pub fn prune_checks(state: &AppState) -> u64 {
    let u = &state.uptime;
    let ms = |d: std::time::Duration| d.as_millis() as i64;
    let retention = lookout_store::CheckRetention {
        raw_ms: ms(u.raw_retention),
        minute_ms: ms(u.minute_retention),
        hour_ms: ms(u.hour_retention),
        day_ms: ms(u.day_retention),
    };
    match state.store.prune_checks(&retention, state.clock.now_ms()) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not prune uptime history; will retry");
            0
        }
    }
}

/// Deletes events past each project's retention; issues stay.
pub fn apply_retention(state: &AppState) -> u64 {
    let now = state.clock.now_ms();
    let mut total = 0;
    for p in state.projects.all() {
        let days = p.project.settings.retention_days;
        if days == 0 {
            continue;
        }
        match state
            .store
            .delete_events_before(p.project.id, now - days as i64 * DAY_MS)
        {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(project = %p.project.slug, deleted = n, days, "deleted events past retention");
                total += n;
            }
            Err(e) => {
                tracing::warn!(project = %p.project.slug, error = %e, "could not apply retention")
            }
        }
    }
    total
}
