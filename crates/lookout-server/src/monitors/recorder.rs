//! Writes what the scheduler and heartbeats produce (results, statuses, outages, signals)
//! in batches: at 10,000 monitors that is ~170 results a second, one transaction each
//! would be wasteful, and a batch per quarter second keeps the API current.

use std::sync::Arc;
use std::time::Duration;

use lookout_core::backoff::Backoff;
use lookout_core::signal::Signal;
use lookout_store::{
    CheckBatch, CheckRecord, HealthReading, LatencySample, MonitorStatus, OutageChange, Store,
};
use tokio::sync::{mpsc, oneshot};

use crate::bus::SignalSender;

/// Results per transaction at most.
const MAX_BATCH: usize = 1_000;
/// How long results wait for company before being written.
const LINGER: Duration = Duration::from_millis(250);
/// How long after a check its result is stored, but for a database slower than a second:
/// an instance taking a monitor over waits this much beyond the handover, so that a last
/// check its previous owner made meanwhile is in the store when it reads the state.
pub const STORED_WITHIN: Duration = Duration::from_millis(LINGER.as_millis() as u64 + 1_000);
/// Records waiting for the recorder before new ones are dropped.
pub const QUEUE: usize = 50_000;
/// Waits between attempts while the database is unavailable; the recorder never gives up.
const RETRY: Backoff = Backoff {
    base: Duration::from_millis(200),
    cap: Duration::from_secs(30),
    max_attempts: None,
};

/// What one check or ping produced.
#[derive(Debug, Default)]
pub struct Record {
    /// The raw result, if the event was a check or a finishing ping.
    pub result: Option<CheckRecord>,
    /// The monitor's new status.
    pub status: Option<(i64, MonitorStatus)>,
    /// Outages opened or closed.
    pub outages: Vec<OutageChange>,
    /// Signals for the alert engine.
    pub signals: Vec<Signal>,
    /// Told once the record is durable (a ping is answered only then).
    pub ack: Option<oneshot::Sender<()>>,
    /// Durations of a health document's sub-checks, for health latency objectives.
    pub latency: Vec<LatencySample>,
    /// A health monitor's reading, for the alert loop on whichever instance holds it.
    pub health: Option<HealthReading>,
}

impl Record {
    /// A status change alone (pause, resume).
    pub fn status(id: i64, status: MonitorStatus) -> Self {
        Record {
            status: Some((id, status)),
            ..Record::default()
        }
    }
}

/// What the recorder writes to, and whom it tells of signals.
pub struct Sink {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Wakes the alert loop for each signal written.
    pub signals: SignalSender,
}

/// Drains `rx` into the store until `stop` fires; then writes what is queued and returns.
pub async fn run(sink: Sink, mut rx: mpsc::Receiver<Record>, mut stop: oneshot::Receiver<()>) {
    let sink = Arc::new(sink);
    let mut acks = Vec::new();
    loop {
        let mut batch = CheckBatch::default();
        let mut latency = Vec::new();
        let mut health = Vec::new();
        let first = tokio::select! {
            r = rx.recv() => r,
            _ = &mut stop => None,
        };
        let Some(first) = first else { break };
        add(&mut batch, &mut acks, &mut latency, &mut health, first);
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.results.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => add(&mut batch, &mut acks, &mut latency, &mut health, r),
                Ok(None) | Err(_) => break,
            }
        }
        write(&sink, batch).await;
        write_latency(&sink, latency).await;
        write_health(&sink, health).await;
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    let mut batch = CheckBatch::default();
    let mut latency = Vec::new();
    let mut health = Vec::new();
    while let Ok(r) = rx.try_recv() {
        add(&mut batch, &mut acks, &mut latency, &mut health, r);
    }
    if !batch.results.is_empty() || !batch.statuses.is_empty() || !batch.signals.is_empty() {
        write(&sink, batch).await;
    }
    write_latency(&sink, latency).await;
    write_health(&sink, health).await;
    for ack in acks {
        let _ = ack.send(());
    }
}

fn add(
    batch: &mut CheckBatch,
    acks: &mut Vec<oneshot::Sender<()>>,
    latency: &mut Vec<LatencySample>,
    health: &mut Vec<HealthReading>,
    r: Record,
) {
    acks.extend(r.ack);
    if let Some(h) = r.health {
        // Only the latest reading of a monitor matters.
        health.retain(|o| o.monitor_id != h.monitor_id);
        health.push(h);
    }
    latency.extend(r.latency);
    batch.results.extend(r.result);
    if let Some((id, status)) = r.status {
        // Only the latest status of a monitor matters.
        match batch.statuses.iter_mut().find(|(i, _)| *i == id) {
            Some(slot) => slot.1 = status,
            None => batch.statuses.push((id, status)),
        }
    }
    batch.outages.extend(r.outages);
    batch.signals.extend(r.signals);
}

/// Writes health sub-check durations once; losing one batch of them to a database
/// failure costs a few readings of a latency objective, not an alert.
async fn write_latency(sink: &Arc<Sink>, latency: Vec<LatencySample>) {
    if latency.is_empty() {
        return;
    }
    let s = sink.clone();
    match tokio::task::spawn_blocking(move || s.store.record_latency(&latency)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot write health check latencies"),
        Err(e) => tracing::error!(error = %e, "the latency writer panicked"),
    }
}

/// Writes health readings once; a lost batch is replaced by the next check's.
async fn write_health(sink: &Arc<Sink>, health: Vec<HealthReading>) {
    if health.is_empty() {
        return;
    }
    let s = sink.clone();
    match tokio::task::spawn_blocking(move || s.store.put_health_readings(&health)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot write health readings"),
        Err(e) => tracing::error!(error = %e, "the health reading writer panicked"),
    }
}

/// Writes a batch, retrying while the database is unavailable: signals and outages must
/// not be lost to a transient failure.
async fn write(sink: &Arc<Sink>, batch: CheckBatch) {
    let batch = Arc::new(batch);
    let mut failed = 0u32;
    loop {
        let (s, b) = (sink.clone(), batch.clone());
        let res = tokio::task::spawn_blocking(move || s.store.write_checks(&b)).await;
        match res {
            Ok(Ok(signals)) => {
                for sig in signals {
                    tracing::info!(
                        kind = sig.kind.as_str(),
                        monitor = sig.monitor_id,
                        detail = sig.detail.as_deref().unwrap_or(""),
                        "monitor signal"
                    );
                    let _ = sink.signals.send(sig);
                }
                return;
            }
            Ok(Err(e)) => {
                failed = failed.saturating_add(1);
                let wait = RETRY.delay(failed).unwrap_or(RETRY.cap);
                tracing::warn!(error = %e, retry_in = ?wait, "cannot write check results; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "the check writer panicked; results of one batch are lost");
                return;
            }
        }
    }
}
