//! The heartbeat loop: keeps this instance's duties, monitors, rules and projects in step
//! with the fleet ([`crate::cluster`] holds the membership; this wires it to the parts).

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{Change, Cluster};

/// What the heartbeat loop keeps in step with the fleet.
pub struct Members {
    /// The fleet.
    pub cluster: Arc<Cluster>,
    /// Monitors: which this instance runs.
    pub monitors: Arc<crate::monitors::Monitors>,
    /// The alert runtime: reloaded from the store when this instance takes the loop over.
    pub alerts: Arc<crate::alerts::Alerts>,
    /// Projects: those created through other instances are taken in.
    pub projects: Arc<crate::projects::Projects>,
    /// Payload dictionaries: those trained by the `jobs` holder are read by the others.
    pub payloads: Arc<crate::payload::Payloads>,
    /// How often definitions made through other instances are read.
    pub sync_every: Duration,
}

/// Heartbeats, claims duties and moves monitors until aborted; reads definitions made
/// through other instances every `sync_every`.
pub async fn run(m: Arc<Members>) {
    let mut next_sync = tokio::time::Instant::now();
    loop {
        let c = m.cluster.clone();
        match tokio::task::spawn_blocking(move || c.beat()).await {
            Ok(Ok(change)) => apply(&m, change).await,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "heartbeat failed; duties stop when their leases run out")
            }
            Err(e) => tracing::error!(error = %e, "heartbeat panicked"),
        }
        if tokio::time::Instant::now() >= next_sync {
            next_sync = tokio::time::Instant::now() + m.sync_every;
            let mm = m.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let store = mm.cluster.store();
                if let Err(e) = mm.projects.sync(store, mm.monitors.now_ms()) {
                    tracing::warn!(error = %e, "cannot read projects made through other instances");
                }
                crate::monitors::sync::from_store(&mm.monitors, store);
                if let Err(e) = mm.alerts.sync_rules() {
                    tracing::warn!(error = %e, "cannot read rules made through other instances");
                }
                if let Err(e) = mm.payloads.refresh() {
                    tracing::warn!(error = %e, "cannot read payload dictionaries trained elsewhere");
                }
            })
            .await;
        }
        tokio::time::sleep(m.cluster.beat_every()).await;
    }
}

/// Takes over monitors another instance may still be running: held for two heartbeats
/// (by then their last owner has seen the new membership and let them go) and the time
/// its last results take to be stored, then loaded again from the store and scheduled
/// from their last check. Two instances never check a monitor side by side at a handover.
pub fn take_over(monitors: &Arc<crate::monitors::Monitors>, cluster: &Arc<Cluster>, ids: Vec<i64>) {
    if ids.is_empty() {
        return;
    }
    let wait = 2 * cluster.beat_every() + crate::monitors::recorder::STORED_WITHIN;
    monitors.hold(&ids, monitors.now_ms() + wait.as_millis() as i64);
    let (monitors, cluster) = (monitors.clone(), cluster.clone());
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        let _ = tokio::task::spawn_blocking(move || {
            crate::monitors::sync::reload(&monitors, cluster.store(), &ids)
        })
        .await;
    });
}

async fn apply(m: &Arc<Members>, change: Change) {
    let id = m.cluster.id();
    for d in &change.gained {
        tracing::info!(duty = %d, instance = %id, "took duty");
    }
    for d in &change.lost {
        tracing::warn!(duty = %d, instance = %id, "lost duty: another instance holds it now");
    }
    if let Some(msg) = change.members.then(|| m.cluster.mismatch()).flatten() {
        tracing::warn!(mismatch = %msg, "configuration mismatch between instances");
    }
    if change.lapsed {
        tracing::warn!(
            instance = %id,
            "the last heartbeat is older than the lease: monitors were not checked meanwhile and are taken back from the store"
        );
    }
    if change.members || change.lapsed {
        let members = m.cluster.members();
        if change.members {
            tracing::info!(
                instances = members.len(),
                "the live instances changed; monitors are spread again"
            );
        }
        let shared = members.len() > 1;
        let gained = m.monitors.set_members(&id, members, change.lapsed);
        // Alone, nobody else ran them during a lapse: their queue is intact.
        if shared || !change.lapsed {
            take_over(&m.monitors, &m.cluster, gained);
        }
    }
    // Only now: the monitors taken back are held before the scheduler may run again.
    if let Some(until) = m.cluster.lease_until() {
        m.monitors.renew_lease(until);
    }
}
