//! Background jobs: event retention, uptime roll-ups, uptime history, and latency
//! histograms merged into their roll-ups and pruned.

use std::sync::Arc;
use std::time::Duration;

use lookout_core::clock::Clock;
use lookout_store::{CheckRetention, Store};

use crate::projects::Projects;

const DAY_MS: i64 = 86_400_000;

/// What the jobs work with.
pub struct Jobs {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Projects, for their event retention.
    pub projects: Arc<Projects>,
    /// How long uptime history is kept (`[uptime]`).
    pub retention: CheckRetention,
    /// Artifact bundles older than this go (`[sourcemaps] retention`)…
    pub artifact_retention: Duration,
    /// …unless bound to one of the project's newest this many releases.
    pub keep_releases: u32,
    /// The source map index, told of the bundles removed.
    pub symbolicator: Arc<crate::sourcemaps::Symbolicator>,
    /// The fleet: one instance at a time runs the jobs (the `jobs` duty).
    pub cluster: Arc<crate::cluster::Cluster>,
}

/// Starts the background jobs on the runtime.
pub fn spawn(jobs: Jobs) -> tokio::task::JoinHandle<()> {
    let jobs = Arc::new(jobs);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(COMPACT_EVERY);
        let per_minute = (60 / COMPACT_EVERY.as_secs()).max(1);
        let mut ticks = 0u64;
        let mut minutes = 0u64;
        loop {
            tick.tick().await;
            if !jobs.cluster.holds(crate::cluster::JOBS) {
                continue;
            }
            let j = jobs.clone();
            let minutely = ticks.is_multiple_of(per_minute);
            ticks += 1;
            let hourly = minutely && minutes.is_multiple_of(60);
            minutes += u64::from(minutely);
            let _ = tokio::task::spawn_blocking(move || {
                compact_latency(j.store.as_ref());
                if !minutely {
                    return;
                }
                let now = j.clock.now_ms();
                roll_up_checks(j.store.as_ref(), now);
                if hourly {
                    apply_retention(j.store.as_ref(), &j.projects, now);
                    prune_checks(j.store.as_ref(), &j.retention, now);
                    prune_latency(j.store.as_ref(), &j.retention, now);
                    prune_artifacts(&j, now);
                }
            })
            .await;
        }
    })
}

/// How often request durations written since are merged into their minute, hour and day
/// rows: queries read what is not merged yet, so this bounds how much that is.
const COMPACT_EVERY: Duration = Duration::from_secs(5);

/// Merges the latency histograms written since the last time into their roll-up rows.
pub fn compact_latency(store: &dyn Store) -> u64 {
    match store.compact_latency() {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not merge latency histograms; will retry");
            0
        }
    }
}

/// Removes upload chunks never assembled (after a day) and artifact bundles past
/// `[sourcemaps] retention` that no recent release needs.
pub fn prune_artifacts(j: &Jobs, now_ms: i64) {
    if let Err(e) = j.store.prune_chunks(now_ms - DAY_MS) {
        tracing::warn!(error = %e, "could not prune upload chunks; will retry");
    }
    let before = now_ms - j.artifact_retention.as_millis() as i64;
    match j.store.prune_bundles(before, j.keep_releases) {
        Ok(ids) if !ids.is_empty() => {
            j.symbolicator.remove_bundles(&ids);
            tracing::info!(
                removed = ids.len(),
                "removed artifact bundles past retention"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not prune artifact bundles; will retry"),
    }
}

/// A result is stored up to a check's timeout after its start time, and a rolled-up
/// bucket is final; so buckets are rolled up only once this much older than now.
const ROLLUP_LAG_MS: i64 = 2 * 60_000;

/// Rolls up every complete minute, hour and day of check results.
pub fn roll_up_checks(store: &dyn Store, now_ms: i64) -> u64 {
    match store.rollup_checks(now_ms - ROLLUP_LAG_MS) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not roll up check results; will retry");
            0
        }
    }
}

/// Deletes raw check results and roll-ups past their retention.
pub fn prune_checks(store: &dyn Store, retention: &CheckRetention, now_ms: i64) -> u64 {
    match store.prune_checks(retention, now_ms) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not prune uptime history; will retry");
            0
        }
    }
}

/// Deletes latency histograms: minute rows once no burn-rate window reaches them, hour
/// rows with the day roll-ups of uptime, and never before a calendar month's objective
/// could read them.
pub fn prune_latency(store: &dyn Store, retention: &CheckRetention, now_ms: i64) -> u64 {
    let hours_ms = retention.day_ms.max(35 * DAY_MS);
    match store.prune_latency(
        now_ms - lookout_store::MINUTE_RETENTION_MS,
        now_ms - hours_ms,
    ) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not prune latency histograms; will retry");
            0
        }
    }
}

/// Deletes events past each project's retention; issues stay.
pub fn apply_retention(store: &dyn Store, projects: &Projects, now_ms: i64) -> u64 {
    let mut total = 0;
    for p in projects.all() {
        let days = p.project.settings.retention_days;
        if days == 0 {
            continue;
        }
        match store.delete_events_before(p.project.id, now_ms - days as i64 * DAY_MS) {
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
