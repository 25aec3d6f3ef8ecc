//! How an alert batch is checked and folded into a few set-wise statements, and in what
//! order they run (the statements themselves are in `alerts`).

use std::collections::BTreeMap;

use crate::model::{
    AlertBatch, IncidentRef, IncidentStatus, IncidentUpdate, NewIncident, NewOutboxMessage,
    TimelineEntry,
};
use crate::{Result, StoreError};

// `resolved` and `pending`, the statuses the indexes are partial on, are spelled out in the
// SQL so the planners can match the queries' terms to the index predicates.

/// How long `due_messages` hands a message to one caller: another instance skips it until
/// the caller records the outcome or this runs out (the caller died mid-delivery).
pub(crate) const LEASE_MS: i64 = 60_000;

/// When a message claimed at `now_ms` becomes due again if its outcome is never recorded.
pub(crate) fn lease_end(now_ms: i64) -> i64 {
    now_ms.saturating_add(LEASE_MS)
}

/// An incident row to insert: a [`NewIncident`] with this batch's updates of it already
/// applied, so that opening and changing it in one batch is one insert.
pub(crate) struct IncidentInsert<'a> {
    pub new: &'a NewIncident,
    pub status: IncidentStatus,
    pub count: i64,
    pub summary: &'a str,
    pub acked: Option<(i64, &'a str)>,
    pub resolved: Option<(i64, Option<&'a str>)>,
    pub state: &'a serde_json::Value,
}

impl<'a> IncidentInsert<'a> {
    fn open(new: &'a NewIncident) -> Self {
        Self {
            new,
            status: IncidentStatus::Triggered,
            count: new.count,
            summary: &new.summary,
            acked: None,
            resolved: None,
            state: &new.state,
        }
    }

    fn apply(&mut self, u: &'a IncidentUpdate) {
        if let Some(status) = u.status {
            self.status = status;
        }
        if let Some(count) = u.count {
            self.count = count;
        }
        if let Some(summary) = &u.summary {
            self.summary = summary;
        }
        if let Some((at, by)) = &u.acked {
            self.acked = Some((*at, by));
        }
        if let Some((at, by)) = &u.resolved {
            self.resolved = Some((*at, by.as_deref()));
        }
        if let Some(state) = &u.state {
            self.state = state;
        }
    }
}

/// Folds `later` into `into`: applying the result is applying both, in order.
fn merge(into: &mut IncidentUpdate, later: &IncidentUpdate) {
    if later.status.is_some() {
        into.status = later.status;
    }
    if later.count.is_some() {
        into.count = later.count;
    }
    if later.summary.is_some() {
        into.summary.clone_from(&later.summary);
    }
    if later.acked.is_some() {
        into.acked.clone_from(&later.acked);
    }
    if later.resolved.is_some() {
        into.resolved.clone_from(&later.resolved);
    }
    if later.state.is_some() {
        into.state.clone_from(&later.state);
    }
}

/// The statements a backend provides inside the transaction of `apply_alerts`.
pub(crate) trait AlertTx {
    /// Applies changes to stored incidents (one per id, sorted by id).
    fn update_incidents(&mut self, updates: &[(i64, IncidentUpdate)]) -> Result<()>;
    /// Inserts incidents and returns their ids in the same order. A clash with an incident
    /// not resolved is a `Conflict`.
    fn insert_incidents(&mut self, rows: &[IncidentInsert<'_>]) -> Result<Vec<i64>>;
    /// Appends timeline lines (in order), queues messages (in order, pending and due at
    /// their `now_ms`) and sets the cursor.
    fn append(
        &mut self,
        timeline: &[(i64, &TimelineEntry)],
        messages: &[(i64, &NewOutboxMessage)],
        cursor: Option<(&str, i64)>,
    ) -> Result<()>;
}

/// Checks that every `IncidentRef::New` of the batch names one of its opens.
fn check_refs(batch: &AlertBatch) -> Result<()> {
    let opens = batch.opens.len();
    let refs = batch
        .updates
        .iter()
        .map(|(r, _)| ("an update", r))
        .chain(batch.timeline.iter().map(|(r, _)| ("a timeline line", r)))
        .chain(batch.messages.iter().map(|(r, _)| ("a message", r)));
    for (what, r) in refs {
        if let IncidentRef::New(i) = r {
            if *i >= opens {
                return Err(StoreError::Invalid(format!(
                    "{what} refers to new incident #{i}, but the batch opens {opens}"
                )));
            }
        }
    }
    Ok(())
}

/// Runs an alert batch against an open transaction; the caller commits.
///
/// Updates of stored incidents go first, then the opens (with their own updates folded
/// in): a batch that resolves an incident and opens a new one for the same rule and
/// subject then works, instead of clashing with the incident it resolves.
pub(crate) fn apply_alerts<T: AlertTx + ?Sized>(
    tx: &mut T,
    batch: &AlertBatch,
) -> Result<Vec<i64>> {
    // Before any write, so a bad batch costs no statement at all.
    check_refs(batch)?;

    let mut inserts: Vec<IncidentInsert<'_>> =
        batch.opens.iter().map(IncidentInsert::open).collect();
    // A BTreeMap: one update per incident, touched in id order so that PostgreSQL
    // instances lock rows in the same order.
    let mut stored: BTreeMap<i64, IncidentUpdate> = BTreeMap::new();
    for (r, u) in &batch.updates {
        match r {
            IncidentRef::New(i) => match inserts.get_mut(*i) {
                Some(insert) => insert.apply(u),
                None => return Err(StoreError::Invalid(format!("no new incident #{i}"))),
            },
            IncidentRef::Id(id) => merge(stored.entry(*id).or_default(), u),
        }
    }
    let stored: Vec<(i64, IncidentUpdate)> = stored.into_iter().collect();
    if !stored.is_empty() {
        tx.update_incidents(&stored)?;
    }

    let ids = if inserts.is_empty() {
        Vec::new()
    } else {
        tx.insert_incidents(&inserts)?
    };
    if ids.len() != inserts.len() {
        return Err(StoreError::Corrupt(format!(
            "{} incidents opened, {} ids returned",
            inserts.len(),
            ids.len()
        )));
    }
    let resolve = |r: &IncidentRef| -> Result<i64> {
        match r {
            IncidentRef::Id(id) => Ok(*id),
            IncidentRef::New(i) => ids
                .get(*i)
                .copied()
                .ok_or_else(|| StoreError::Invalid(format!("no new incident #{i}"))),
        }
    };
    let timeline = batch
        .timeline
        .iter()
        .map(|(r, t)| Ok((resolve(r)?, t)))
        .collect::<Result<Vec<_>>>()?;
    let messages = batch
        .messages
        .iter()
        .map(|(r, m)| Ok((resolve(r)?, m)))
        .collect::<Result<Vec<_>>>()?;
    let cursor = batch.cursor.as_ref().map(|(name, v)| (name.as_str(), *v));
    if !timeline.is_empty() || !messages.is_empty() || cursor.is_some() {
        tx.append(&timeline, &messages, cursor)?;
    }
    Ok(ids)
}

/// The `Conflict` for a write that broke "one incident not resolved per rule and
/// subject"; `detail` is what the database said about it.
pub(crate) fn open_conflict(detail: &str) -> StoreError {
    StoreError::Conflict(format!(
        "an incident for the same rule and subject is already open ({detail})"
    ))
}

/// Stored JSON text (incident state, message payload).
pub(crate) fn json_to_db(v: &serde_json::Value) -> String {
    v.to_string()
}

/// Parses stored JSON text; `what` names it in the error.
pub(crate) fn json_from_db(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        IncidentUpdate, NotifyKind, OutboxStatus, Severity, SubjectKind, TimelineKind,
    };

    fn incident(rule: &str) -> NewIncident {
        NewIncident {
            rule: rule.to_string(),
            subject_kind: SubjectKind::Monitor,
            subject_id: 1,
            severity: Severity::High,
            title: "down".to_string(),
            summary: "first".to_string(),
            count: 1,
            opened_ms: 10,
            state: serde_json::json!({"step": 0}),
            runbook: None,
        }
    }

    /// Records what `apply_alerts` asks of a backend.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
        next_id: i64,
    }

    impl AlertTx for Recorder {
        fn update_incidents(&mut self, updates: &[(i64, IncidentUpdate)]) -> Result<()> {
            for (id, u) in updates {
                self.calls.push(format!(
                    "update {id} {:?} {:?} {:?}",
                    u.status.map(IncidentStatus::as_str),
                    u.count,
                    u.summary
                ));
            }
            Ok(())
        }

        fn insert_incidents(&mut self, rows: &[IncidentInsert<'_>]) -> Result<Vec<i64>> {
            let mut ids = Vec::new();
            for r in rows {
                self.next_id += 1;
                self.calls.push(format!(
                    "insert {} {} {} {} {:?} {:?} {}",
                    r.new.rule, r.status, r.count, r.summary, r.acked, r.resolved, r.state
                ));
                ids.push(self.next_id + 100);
            }
            Ok(ids)
        }

        fn append(
            &mut self,
            timeline: &[(i64, &TimelineEntry)],
            messages: &[(i64, &NewOutboxMessage)],
            cursor: Option<(&str, i64)>,
        ) -> Result<()> {
            for (id, t) in timeline {
                self.calls.push(format!("timeline {id} {}", t.kind));
            }
            for (id, m) in messages {
                self.calls.push(format!("message {id} {}", m.channel));
            }
            self.calls.push(format!("cursor {cursor:?}"));
            Ok(())
        }
    }

    fn line(kind: TimelineKind) -> TimelineEntry {
        TimelineEntry {
            at_ms: 10,
            kind,
            text: String::new(),
            actor: None,
        }
    }

    #[test]
    fn folds_updates_and_resolves_refs() {
        let batch = AlertBatch {
            opens: vec![incident("a"), incident("b")],
            updates: vec![
                (
                    IncidentRef::Id(7),
                    IncidentUpdate {
                        status: Some(IncidentStatus::Acknowledged),
                        count: Some(2),
                        ..IncidentUpdate::default()
                    },
                ),
                (
                    IncidentRef::New(1),
                    IncidentUpdate {
                        count: Some(5),
                        resolved: Some((20, None)),
                        status: Some(IncidentStatus::Resolved),
                        state: Some(serde_json::json!({"step": 1})),
                        ..IncidentUpdate::default()
                    },
                ),
                (
                    IncidentRef::Id(3),
                    IncidentUpdate {
                        summary: Some("x".into()),
                        ..IncidentUpdate::default()
                    },
                ),
                (
                    IncidentRef::Id(7),
                    IncidentUpdate {
                        count: Some(3),
                        ..IncidentUpdate::default()
                    },
                ),
            ],
            timeline: vec![
                (IncidentRef::New(1), line(TimelineKind::Triggered)),
                (IncidentRef::Id(7), line(TimelineKind::Note)),
            ],
            messages: vec![(
                IncidentRef::New(0),
                NewOutboxMessage {
                    channel: "slack".into(),
                    event: NotifyKind::Triggered,
                    payload: serde_json::json!({}),
                    now_ms: 10,
                },
            )],
            cursor: Some(("signals".into(), 9)),
        };
        let mut rec = Recorder::default();
        let ids = apply_alerts(&mut rec, &batch).unwrap();
        assert_eq!(ids, vec![101, 102]);
        assert_eq!(
            rec.calls,
            vec![
                "update 3 None None Some(\"x\")",
                "update 7 Some(\"acknowledged\") Some(3) None",
                "insert a triggered 1 first None None {\"step\":0}",
                "insert b resolved 5 first None Some((20, None)) {\"step\":1}",
                "timeline 102 triggered",
                "timeline 7 note",
                "message 101 slack",
                "cursor Some((\"signals\", 9))",
            ]
        );
    }

    #[test]
    fn out_of_range_refs_write_nothing() {
        for batch in [
            AlertBatch {
                opens: vec![incident("a")],
                updates: vec![(IncidentRef::New(1), IncidentUpdate::default())],
                ..AlertBatch::default()
            },
            AlertBatch {
                timeline: vec![(IncidentRef::New(0), line(TimelineKind::Note))],
                ..AlertBatch::default()
            },
        ] {
            let mut rec = Recorder::default();
            let err = apply_alerts(&mut rec, &batch).unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
            assert!(rec.calls.is_empty(), "{:?}", rec.calls);
        }
    }

    #[test]
    fn empty_batch_touches_nothing() {
        let mut rec = Recorder::default();
        assert_eq!(
            apply_alerts(&mut rec, &AlertBatch::default()).unwrap(),
            Vec::<i64>::new()
        );
        assert!(rec.calls.is_empty());
    }

    #[test]
    fn the_statuses_spelled_out_in_sql_are_the_stored_names() {
        assert_eq!(IncidentStatus::Resolved.as_str(), "resolved");
        assert_eq!(OutboxStatus::Pending.as_str(), "pending");
    }

    #[test]
    fn lease_saturates() {
        assert_eq!(lease_end(1_000), 61_000);
        assert_eq!(lease_end(i64::MAX - 5), i64::MAX);
    }
}
