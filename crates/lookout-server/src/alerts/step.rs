//! One engine step and its decisions, written in one transaction: incidents opened and
//! updated, timeline lines, queued notifications and the signal cursor. The engine's
//! typed decisions become store rows here, and nowhere else.

use std::time::{Duration, Instant};

use lookout_core::alert::engine::{Action, Engine, IncidentKey, IncidentState, IncidentStatus};
use lookout_core::alert::timeline::TimelineKind;
use lookout_store::{
    AlertBatch, IncidentRef, IncidentUpdate, NewIncident, NewOutboxMessage, TimelineEntry,
};

use super::Alerts;

/// The cursor of signals handled.
pub(super) const SIGNAL_CURSOR: &str = "alerts.signals";
/// When a person last changed incidents through an instance that does not run the loop:
/// the loop's holder then reloads its open incidents.
pub(super) const CHANGED_ELSEWHERE: &str = "alerts.changed";

/// On whose behalf a step writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum By {
    /// The evaluation loop: written only while this instance holds the `alerts` lease,
    /// checked in the write's transaction, so a stale holder cannot commit a step.
    Loop,
    /// A person (acknowledge, resolve, silences), through whichever instance they used.
    Person,
}
/// How often the cursor alone is written when signals lead to no decision. Under an error
/// storm signals arrive with nearly every ingest batch; writing the cursor for each of
/// them would take the database's write lock hundreds of times a second from ingest.
/// After a crash, at most this much of signals that decided nothing is read again (and
/// decides nothing again), while any decision is still written with its cursor.
const CURSOR_ONLY_EVERY: Duration = Duration::from_secs(1);

impl Alerts {
    /// Runs one engine step and writes its decisions in one transaction. On a write
    /// failure the engine's open incidents are reloaded from the store (copying the
    /// engine before every step would cost more than the step with thousands open), so the
    /// step can be retried and nothing is decided twice or lost. Blocking.
    pub(super) fn step(
        &self,
        now_ms: i64,
        cursor: Option<i64>,
        f: impl FnOnce(&mut Engine) -> Vec<Action>,
    ) -> anyhow::Result<Vec<Action>> {
        self.step_by(By::Loop, now_ms, cursor, f)
    }

    /// [`Alerts::step`] on behalf of `by`.
    pub(super) fn step_by(
        &self,
        by: By,
        now_ms: i64,
        cursor: Option<i64>,
        f: impl FnOnce(&mut Engine) -> Vec<Action>,
    ) -> anyhow::Result<Vec<Action>> {
        let mut cursor_written = self.step_lock.lock();
        let mut engine = self.engine();
        let actions = f(&mut engine);
        if actions.is_empty()
            && (cursor.is_none() || cursor_written.is_some_and(|t| t.elapsed() < CURSOR_ONLY_EVERY))
        {
            return Ok(actions);
        }
        let (mut batch, new_keys) = self.batch(&engine, &actions, now_ms, cursor);
        let holder = self.cluster.holds(crate::cluster::ALERTS);
        let written = if by == By::Loop || holder {
            self.store
                .apply_alerts_fenced(&batch, &self.cluster.fence(crate::cluster::ALERTS))
        } else {
            if batch.cursor.is_none() {
                batch.cursor = Some((CHANGED_ELSEWHERE.to_string(), now_ms));
            }
            self.store.apply_alerts(&batch)
        };
        match written {
            Ok(new_ids) => {
                if cursor.is_some() {
                    *cursor_written = Some(Instant::now());
                }
                let mut ids = self.ids.lock();
                for (key, id) in new_keys.into_iter().zip(new_ids) {
                    ids.insert(key, id);
                }
                for a in &actions {
                    if let Action::Resolved { key, .. } = a {
                        ids.remove(key);
                    }
                }
                drop(ids);
                if !batch.messages.is_empty() {
                    self.outbox.notify_one();
                }
                for a in &actions {
                    log_action(a);
                }
                Ok(actions)
            }
            Err(e) => {
                let stored = self.store.open_incidents().map(|rows| {
                    rows.into_iter()
                        .filter_map(|r| serde_json::from_value::<IncidentState>(r.state).ok())
                        .collect::<Vec<_>>()
                });
                match stored {
                    Ok(open) => engine.reset_open(open),
                    Err(e2) => tracing::error!(error = %e2, "cannot reload incidents either"),
                }
                Err(anyhow::anyhow!("cannot record alert decisions: {e}"))
            }
        }
    }

    /// Turns actions into one store batch; returns the keys of the incidents it opens.
    fn batch(
        &self,
        engine: &Engine,
        actions: &[Action],
        now_ms: i64,
        cursor: Option<i64>,
    ) -> (AlertBatch, Vec<IncidentKey>) {
        let ids = self.ids.lock();
        let mut batch = AlertBatch {
            cursor: cursor.map(|c| (SIGNAL_CURSOR.to_string(), c)),
            ..AlertBatch::default()
        };
        let mut new_keys: Vec<IncidentKey> = Vec::new();
        let refer = |key: &IncidentKey, new_keys: &[IncidentKey]| -> Option<IncidentRef> {
            if let Some(i) = new_keys.iter().rposition(|k| k == key) {
                return Some(IncidentRef::New(i));
            }
            ids.get(key).map(|id| IncidentRef::Id(*id))
        };
        let mut touched: Vec<IncidentKey> = Vec::new();
        for a in actions {
            match a {
                Action::Opened {
                    key,
                    severity,
                    title,
                    summary,
                    count,
                    at_ms,
                } => {
                    batch.opens.push(NewIncident {
                        rule: key.rule.clone(),
                        subject_kind: key.subject.kind(),
                        subject_id: key.subject.id(),
                        severity: *severity,
                        title: title.clone(),
                        summary: summary.clone(),
                        count: *count as i64,
                        opened_ms: *at_ms,
                        state: serde_json::Value::Null,
                        runbook: self.runbooks.get(&key.rule).map(|r| r.path.clone()),
                    });
                    new_keys.push(key.clone());
                    batch.timeline.push((
                        IncidentRef::New(new_keys.len() - 1),
                        entry(*at_ms, TimelineKind::Triggered, title.clone(), None),
                    ));
                    touched.push(key.clone());
                }
                Action::Updated { key, count } => {
                    if let Some(r) = refer(key, &new_keys) {
                        batch.updates.push((
                            r,
                            IncidentUpdate {
                                count: Some(*count as i64),
                                ..IncidentUpdate::default()
                            },
                        ));
                        touched.push(key.clone());
                    }
                }
                Action::Notify {
                    key,
                    event,
                    channels,
                } => {
                    let Some(r) = refer(key, &new_keys) else {
                        continue;
                    };
                    // A resolution notifies after the engine dropped the incident: the stored
                    // row has what it needs.
                    let state = match engine.incident(key) {
                        Some(s) => Some(s.clone()),
                        None => self.stored_state(r),
                    };
                    if let Some(state) = state {
                        for channel in channels {
                            batch.messages.push((
                                r,
                                NewOutboxMessage {
                                    channel: channel.clone(),
                                    event: event.kind(),
                                    payload: self.payload(engine, &state, event, r),
                                    now_ms,
                                },
                            ));
                        }
                    }
                    touched.push(key.clone());
                }
                Action::Resolved { key, at_ms, reason } => {
                    if let Some(r) = refer(key, &new_keys) {
                        batch.updates.push((
                            r,
                            IncidentUpdate {
                                status: Some(IncidentStatus::Resolved),
                                resolved: Some((*at_ms, reason.by().map(str::to_string))),
                                ..IncidentUpdate::default()
                            },
                        ));
                        batch.timeline.push((
                            r,
                            entry(*at_ms, TimelineKind::Resolved, reason.to_string(), None),
                        ));
                    }
                }
                Action::Timeline {
                    key,
                    at_ms,
                    entry: note,
                } => {
                    if let Some(r) = refer(key, &new_keys) {
                        batch.timeline.push((
                            r,
                            entry(*at_ms, note.kind(), note.to_string(), note.actor()),
                        ));
                    }
                    touched.push(key.clone());
                }
            }
        }
        // The engine's state of every incident touched, so a restart resumes its timers.
        touched.sort();
        touched.dedup();
        for key in touched {
            let Some(state) = engine.incident(&key) else {
                continue;
            };
            let Some(r) = refer(&key, &new_keys) else {
                continue;
            };
            let value = serde_json::to_value(state).unwrap_or_default();
            batch.updates.push((
                r,
                IncidentUpdate {
                    state: Some(value),
                    count: Some(state.count as i64),
                    status: Some(state.status),
                    acked: state.acked_ms.zip(state.acked_by.clone()),
                    ..IncidentUpdate::default()
                },
            ));
        }
        (batch, new_keys)
    }

    /// The stored engine state of an incident the engine no longer holds.
    fn stored_state(&self, r: IncidentRef) -> Option<IncidentState> {
        let IncidentRef::Id(id) = r else { return None };
        let row = self.store.get_incident(id).ok()??;
        serde_json::from_value(row.state).ok()
    }
}

/// A timeline row.
fn entry(at_ms: i64, kind: TimelineKind, text: String, actor: Option<&str>) -> TimelineEntry {
    TimelineEntry {
        at_ms,
        kind,
        text,
        actor: actor.map(str::to_string),
    }
}

fn log_action(a: &Action) {
    match a {
        Action::Opened {
            key,
            severity,
            title,
            ..
        } => {
            tracing::warn!(rule = %key.rule, severity = severity.as_str(), "incident opened: {title}")
        }
        Action::Resolved { key, reason, .. } => {
            tracing::info!(rule = %key.rule, "incident resolved: {reason}")
        }
        Action::Notify {
            key,
            event,
            channels,
        } => {
            tracing::info!(rule = %key.rule, event = event.kind().as_str(), channels = ?channels, "notification queued")
        }
        _ => {}
    }
}
