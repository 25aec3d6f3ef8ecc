//! Delivers the persisted outbox: due messages are leased from the store, grouped by
//! channel, paced (a Slack hook takes about one message a second, so several waiting
//! messages go out together in one), sent on the blocking pool, and their outcome
//! recorded: delivered, retried with backoff (a receiver's `Retry-After` wins), or given
//! up — and a receiver that says the hook is gone marks the channel broken instead of
//! being retried forever. The timeline of each incident says what happened.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lookout_core::alert::notify::OutboxStatus;
use lookout_core::alert::timeline::TimelineKind;
use lookout_core::clock::Clock;
use lookout_notify::{Delivery, Next, Notification, RetryPolicy};
use lookout_store::{AlertBatch, IncidentRef, OutboxMessage, OutboxUpdate, Store, TimelineEntry};
use tokio::sync::Notify;

use super::channels::Channels;
use super::links::AckLinks;

/// Messages leased per round.
const PAGE: u32 = 100;
/// The longest the dispatcher sleeps: the injected clock is read, never waited on.
const MAX_SLEEP: Duration = Duration::from_millis(200);

/// What the dispatcher works with.
pub struct Dispatcher {
    /// The outbox.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Where messages go.
    pub channels: Arc<Channels>,
    /// The acknowledge links messages carry.
    pub links: Arc<AckLinks>,
    /// Told when messages are queued.
    pub queued: Arc<Notify>,
    /// The fleet: one instance at a time delivers (the `outbox` duty).
    pub cluster: Arc<crate::cluster::Cluster>,
}

/// Runs the dispatcher until aborted.
pub async fn run(app: Arc<Dispatcher>) {
    let policy = RetryPolicy::default();
    // When each channel last sent, for pacing.
    let mut last_sent: HashMap<String, i64> = HashMap::new();
    loop {
        if !app.cluster.holds(crate::cluster::OUTBOX) {
            // Messages claimed by a holder that died stay leased until their lease
            // ends, then the new holder sends them: none is sent twice, none lost.
            tokio::time::sleep(MAX_SLEEP).await;
            continue;
        }
        let now = app.clock.now_ms();
        let a = app.clone();
        let due = tokio::task::spawn_blocking(move || a.store.due_messages(now, PAGE)).await;
        let due = match due {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the notification outbox; retrying");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let mut by_channel: Vec<(String, Vec<OutboxMessage>)> = Vec::new();
        for m in due {
            match by_channel.iter_mut().find(|(c, _)| *c == m.channel) {
                Some((_, v)) => v.push(m),
                None => by_channel.push((m.channel.clone(), vec![m])),
            }
        }
        let mut sends = Vec::new();
        for (name, messages) in by_channel {
            let app = app.clone();
            let Some(channel) = app.channels.get(&name).cloned() else {
                let a = app.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    for m in &messages {
                        give_up(
                            &a,
                            m,
                            now,
                            OutboxStatus::Failed,
                            "the channel is no longer configured",
                        );
                    }
                })
                .await;
                continue;
            };
            let gap = channel.min_interval().as_millis() as i64;
            let ready_at = last_sent.get(&name).map_or(now, |t| t + gap);
            if ready_at > now {
                // Paced: put them back until the channel may send again.
                let a = app.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    for m in &messages {
                        put_back(&a, m, ready_at);
                    }
                })
                .await;
                continue;
            }
            last_sent.insert(name.clone(), now);
            sends.push(tokio::task::spawn_blocking(move || {
                deliver(&app, &name, channel.as_ref(), messages, now, &policy)
            }));
        }
        for s in sends {
            let _ = s.await;
        }
        let a = app.clone();
        let next = tokio::task::spawn_blocking(move || a.store.next_message_due())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let sleep = match next {
            Some(t) => Duration::from_millis((t - app.clock.now_ms()).clamp(1, 200) as u64),
            None => MAX_SLEEP,
        }
        .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = app.queued.notified() => {}
        }
    }
}

/// Sends one channel's due messages in batches of what the channel takes at once.
fn deliver(
    app: &Dispatcher,
    name: &str,
    channel: &dyn lookout_notify::Channel,
    messages: Vec<OutboxMessage>,
    now: i64,
    policy: &RetryPolicy,
) {
    let broken = app
        .store
        .broken_channels()
        .map(|b| b.into_iter().find(|c| c.channel == name))
        .unwrap_or(None);
    if let Some(b) = broken {
        for m in &messages {
            give_up(
                app,
                m,
                now,
                OutboxStatus::Broken,
                &format!("not sent: channel {name} is broken ({})", b.reason),
            );
        }
        return;
    }
    let mut rest: &[OutboxMessage] = &messages;
    let mut first = true;
    while !rest.is_empty() {
        let n = channel.max_batch().max(1).min(rest.len());
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        if !first && !channel.min_interval().is_zero() {
            // Only one request per round to a paced channel; the rest wait their turn.
            for m in batch.iter().chain(rest) {
                put_back(app, m, now + channel.min_interval().as_millis() as i64);
            }
            return;
        }
        first = false;
        let notes: Vec<Notification> = batch.iter().filter_map(|m| notification(app, m)).collect();
        let delivery = if notes.len() == batch.len() {
            channel.send(&notes)
        } else {
            Delivery::Rejected {
                reason: "the stored notification is unreadable".into(),
            }
        };
        record(app, name, channel.kind(), batch, &delivery, now, policy);
    }
}

/// The notification of a stored message, with what is known only now: its id, the
/// incident's id and links.
fn notification(app: &Dispatcher, m: &OutboxMessage) -> Option<Notification> {
    let mut n: Notification = serde_json::from_value(m.payload.clone()).ok()?;
    n.id = format!("ntf_{}", m.id);
    n.incident_id = m.incident_id;
    n.dedup_key = format!("lookout-incident-{}", m.incident_id);
    n.incident_url = Some(app.links.incident_page(m.incident_id));
    let page = app.links.url(m.incident_id);
    // The acknowledge page shows the runbook too: one link that works without a token.
    if let Some(rb) = n.runbook.as_mut() {
        rb.url = Some(format!("{page}#runbook"));
    }
    n.ack_url = Some(page);
    Some(n)
}

fn record(
    app: &Dispatcher,
    name: &str,
    kind: &str,
    batch: &[OutboxMessage],
    delivery: &Delivery,
    now: i64,
    policy: &RetryPolicy,
) {
    let mut timeline = Vec::new();
    for m in batch {
        let attempts = m.attempts + 1;
        let (update, line) = match policy.next(attempts as u32, delivery) {
            Next::Done => (
                OutboxUpdate {
                    status: OutboxStatus::Sent,
                    attempts,
                    next_attempt_ms: now,
                    last_error: Some(delivery.to_string()),
                    sent_ms: Some(now),
                },
                (
                    TimelineKind::Notified,
                    format!("{} sent to {name} ({kind}): {delivery}", m.event),
                ),
            ),
            Next::RetryIn(wait) => (
                OutboxUpdate {
                    status: OutboxStatus::Pending,
                    attempts,
                    next_attempt_ms: now + wait.as_millis() as i64,
                    last_error: Some(delivery.to_string()),
                    sent_ms: None,
                },
                (
                    TimelineKind::NotifyFailed,
                    format!(
                        "{} to {name} failed (attempt {attempts}): {delivery}; retrying in {}",
                        m.event,
                        humantime::format_duration(Duration::from_secs(wait.as_secs()))
                    ),
                ),
            ),
            Next::GiveUp(reason) => {
                let status = if matches!(delivery, Delivery::Broken { .. }) {
                    OutboxStatus::Broken
                } else {
                    OutboxStatus::Failed
                };
                (
                    OutboxUpdate {
                        status,
                        attempts,
                        next_attempt_ms: now,
                        last_error: Some(reason.clone()),
                        sent_ms: None,
                    },
                    (
                        TimelineKind::NotifyFailed,
                        format!("{} to {name} not delivered: {reason}", m.event),
                    ),
                )
            }
        };
        if let Err(e) = app.store.update_message(m.id, &update) {
            tracing::error!(message = m.id, error = %e, "cannot record a delivery attempt");
        }
        timeline.push((
            IncidentRef::Id(m.incident_id),
            TimelineEntry {
                at_ms: now,
                kind: line.0,
                text: line.1,
                actor: None,
            },
        ));
    }
    if let Delivery::Broken { reason } = delivery {
        tracing::error!(channel = name, %reason, "the channel is broken; fix its config");
        let _ = app.store.set_channel_broken(name, Some(reason), now);
    }
    match delivery {
        Delivery::Delivered { .. } => {
            tracing::info!(
                channel = name,
                messages = batch.len(),
                "notification delivered"
            )
        }
        other => tracing::warn!(channel = name, outcome = %other, "notification not delivered"),
    }
    let _ = app.store.apply_alerts(&AlertBatch {
        timeline,
        ..AlertBatch::default()
    });
}

/// Leaves a message pending until `at_ms` without counting an attempt.
fn put_back(app: &Dispatcher, m: &OutboxMessage, at_ms: i64) {
    let _ = app.store.update_message(
        m.id,
        &OutboxUpdate {
            status: OutboxStatus::Pending,
            attempts: m.attempts,
            next_attempt_ms: at_ms,
            last_error: m.last_error.clone(),
            sent_ms: None,
        },
    );
}

fn give_up(app: &Dispatcher, m: &OutboxMessage, now: i64, status: OutboxStatus, reason: &str) {
    let _ = app.store.update_message(
        m.id,
        &OutboxUpdate {
            status,
            attempts: m.attempts,
            next_attempt_ms: now,
            last_error: Some(reason.to_string()),
            sent_ms: None,
        },
    );
    let _ = app.store.apply_alerts(&AlertBatch {
        timeline: vec![(
            IncidentRef::Id(m.incident_id),
            TimelineEntry {
                at_ms: now,
                kind: TimelineKind::NotifyFailed,
                text: format!("{} to {}: {reason}", m.event, m.channel),
                actor: None,
            },
        )],
        ..AlertBatch::default()
    });
}
