//! Background jobs: event retention.

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;

const DAY_MS: i64 = 86_400_000;

/// Starts the background jobs on the runtime.
pub fn spawn(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || apply_retention(&s)).await;
        }
    })
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
