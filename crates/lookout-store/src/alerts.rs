//! Alerts: incidents and their timelines, the notification outbox, silences, stored
//! rules, broken channels, cursors and the signals the alert engine reads.

use lookout_core::signal::Signal;

use crate::alert_batch::{self, AlertTx, IncidentInsert};
use crate::model::*;
use crate::sql::{
    params, push_arg, sql, Conn, Insert, Param, Returns, Row, Sql, ToParam, Ty, Update,
};
use crate::{batch, Db, Result, StoreError};

/// Incidents, notifications and what the alert engine keeps between runs.
pub trait AlertStore: Send + Sync + 'static {
    /// Writes one step of the alert engine in one transaction: opens, updates, timeline,
    /// queued notifications and the cursor. Returns the ids of `batch.opens`, in order.
    ///
    /// `IncidentRef::New(i)` names the i-th of `batch.opens`; an index past them is
    /// `Invalid`. Updates of one incident apply in order; updates of stored incidents apply
    /// before the opens, so one batch can resolve an incident and open the next one for the
    /// same rule and subject. Opening an incident while another for the same rule and
    /// subject is not resolved is a `Conflict`, also between instances applying at once.
    /// Messages are queued `pending`, due at their `now_ms`; the cursor is set to the
    /// batch's value. On any error nothing of the batch is written.
    fn apply_alerts(&self, batch: &AlertBatch) -> Result<Vec<i64>>;
    /// Incidents not resolved, oldest first (to restore the engine).
    fn open_incidents(&self) -> Result<Vec<IncidentRow>>;
    /// Incidents matching `filter`, newest first.
    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<IncidentRow>>;
    /// One incident.
    fn get_incident(&self, id: i64) -> Result<Option<IncidentRow>>;
    /// An incident's timeline, oldest first.
    fn incident_timeline(&self, id: i64) -> Result<Vec<TimelineEntry>>;
    /// A named cursor's value (`None` before the first write).
    fn cursor(&self, name: &str) -> Result<Option<i64>>;

    /// Claims the pending notifications due at `now_ms`, oldest first (by due time, then
    /// id), at most `limit`.
    ///
    /// Each message returned is leased: its `next_attempt_ms` moves to `now_ms` + 60 s (and
    /// is returned so), so that other instances calling meanwhile skip it and no two
    /// callers get the same message while the lease lasts. The caller records the outcome
    /// with `update_message`; if it never does (it died mid-delivery), the message is due
    /// again when the lease ends.
    fn due_messages(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxMessage>>;
    /// Records a delivery attempt's result (status, attempts, next attempt, error, sent
    /// time), which ends the lease `due_messages` took; an unknown id changes nothing.
    /// With `sent`, also a timeline line for the incident is the caller's job (through
    /// `apply_alerts`).
    fn update_message(&self, id: i64, update: &OutboxUpdate) -> Result<()>;
    /// Notifications of an incident, oldest first.
    fn incident_messages(&self, incident_id: i64) -> Result<Vec<OutboxMessage>>;
    /// When the earliest pending notification is due (a leased one: when its lease ends).
    fn next_message_due(&self) -> Result<Option<i64>>;

    /// Marks a channel broken (or, with `None`, repaired: the mark is deleted). Marking a
    /// broken channel again updates the reason and keeps `since_ms`.
    fn set_channel_broken(&self, channel: &str, reason: Option<&str>, now_ms: i64) -> Result<()>;
    /// Channels marked broken, by name.
    fn broken_channels(&self) -> Result<Vec<ChannelState>>;

    /// Creates a silence; its `id` is assigned (the one given is ignored).
    fn create_silence(&self, silence: &SilenceRow) -> Result<SilenceRow>;
    /// Silences that end after `now_ms`, by id.
    fn active_silences(&self, now_ms: i64) -> Result<Vec<SilenceRow>>;
    /// Deletes a silence; `false` if unknown.
    fn delete_silence(&self, id: i64) -> Result<bool>;

    /// Stores an alert rule created through the API; `Conflict` on a name in use.
    fn create_rule(&self, rule: &StoredRule) -> Result<()>;
    /// The stored rules, oldest first.
    fn list_rules(&self) -> Result<Vec<StoredRule>>;
    /// Deletes a stored rule; `false` if unknown.
    fn delete_rule(&self, name: &str) -> Result<bool>;

    /// Signals with `id > after_id`, oldest first, at most `limit`.
    fn signals_after(&self, after_id: i64, limit: u32) -> Result<Vec<Signal>>;
    /// How many notifications each channel has in each outbox status (pending, sent,
    /// failed…), for `/metrics`.
    fn outbox_counts(&self) -> Result<Vec<(String, String, u64)>>;
}

macro_rules! incident_cols {
    () => {
        "id, rule, subject_kind, subject_id, severity, status, title, summary, count, \
         opened_ms, acked_ms, acked_by, resolved_ms, resolved_by, state, runbook"
    };
}

pub(crate) use incident_cols;

macro_rules! outbox_cols {
    () => {
        "id, incident_id, channel, event, payload, status, attempts, next_attempt_ms, \
         last_error, created_ms, sent_ms"
    };
}

pub(crate) fn incident_from_row(row: &dyn Row) -> Result<IncidentRow> {
    Ok(IncidentRow {
        id: row.get(0)?,
        rule: row.get(1)?,
        subject_kind: row.name(2, "incidents.subject_kind")?,
        subject_id: row.get(3)?,
        severity: row.name(4, "incidents.severity")?,
        status: row.name(5, "incidents.status")?,
        title: row.get(6)?,
        summary: row.get(7)?,
        count: row.get(8)?,
        opened_ms: row.get(9)?,
        acked_ms: row.get(10)?,
        acked_by: row.get(11)?,
        resolved_ms: row.get(12)?,
        resolved_by: row.get(13)?,
        state: alert_batch::json_from_db(&row.get::<String>(14)?, "incident state")?,
        runbook: row.get(15)?,
    })
}

fn message_from_row(row: &dyn Row) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: row.get(0)?,
        incident_id: row.get(1)?,
        channel: row.get(2)?,
        event: row.name(3, "outbox.event")?,
        payload: alert_batch::json_from_db(&row.get::<String>(4)?, "message payload")?,
        status: row.name(5, "outbox.status")?,
        attempts: row.get(6)?,
        next_attempt_ms: row.get(7)?,
        last_error: row.get(8)?,
        created_ms: row.get(9)?,
        sent_ms: row.get(10)?,
    })
}

fn signal_from_row(row: &dyn Row) -> Result<Signal> {
    Ok(Signal {
        id: row.get(0)?,
        kind: row.name(1, "signals.kind")?,
        project_id: row.get(2)?,
        issue_id: row.get(3)?,
        event_id: row.get(4)?,
        monitor_id: row.get(6)?,
        detail: row.get(7)?,
        created_ms: row.get(5)?,
    })
}

fn silence_from_row(r: &dyn Row) -> Result<SilenceRow> {
    Ok(SilenceRow {
        id: r.get(0)?,
        target_kind: r.name(1, "silences.target_kind")?,
        target: r.get(2)?,
        until_ms: r.get(3)?,
        reason: r.get(4)?,
        created_by: r.get(5)?,
        created_ms: r.get(6)?,
    })
}

/// Turns a clash with the "one incident not resolved per rule and subject" index into a
/// `Conflict`.
fn incident_conflict(e: StoreError) -> StoreError {
    match e.unique_violation() {
        Some(detail) => alert_batch::open_conflict(&detail),
        None => e,
    }
}

static INCIDENT_UPDATES: Update = Update::new(
    "incidents",
    // NULL keeps a column, and the flags tell "set to NULL" (resolved by nobody) from
    // "keep".
    "status = COALESCE(?2, status),
     count = COALESCE(?3, count),
     summary = COALESCE(?4, summary),
     acked_ms = CASE WHEN ?5 THEN ?6 ELSE acked_ms END,
     acked_by = CASE WHEN ?5 THEN ?7 ELSE acked_by END,
     resolved_ms = CASE WHEN ?8 THEN ?9 ELSE resolved_ms END,
     resolved_by = CASE WHEN ?8 THEN ?10 ELSE resolved_by END,
     state = COALESCE(?11, state)",
    "id = ?1",
    &[
        Ty::Int8,
        Ty::Text,
        Ty::Int8,
        Ty::Text,
        Ty::Bool,
        Ty::Int8,
        Ty::Text,
        Ty::Bool,
        Ty::Int8,
        Ty::Text,
        Ty::Jsonb,
    ],
);

/// Ids are drawn in the batch's order, but on PostgreSQL rows go in in key order, the
/// same for every instance: two instances opening the same keys then wait on the first
/// one they share instead of deadlocking, and the second gets the conflict.
static INCIDENTS: Insert = Insert::new(
    "incidents",
    &[
        ("rule", Ty::Text),
        ("subject_kind", Ty::Text),
        ("subject_id", Ty::Int8),
        ("severity", Ty::Text),
        ("status", Ty::Text),
        ("title", Ty::Text),
        ("summary", Ty::Text),
        ("count", Ty::Int8),
        ("opened_ms", Ty::Int8),
        ("acked_ms", Ty::Int8),
        ("acked_by", Ty::Text),
        ("resolved_ms", Ty::Int8),
        ("resolved_by", Ty::Text),
        ("state", Ty::Jsonb),
        ("runbook", Ty::Text),
    ],
    "",
    Returns::Ids,
)
.locking("rule, subject_kind, subject_id");

static TIMELINE: Insert = Insert::new(
    "incident_timeline",
    &[
        ("incident_id", Ty::Int8),
        ("at_ms", Ty::Int8),
        ("kind", Ty::Text),
        ("text", Ty::Text),
        ("actor", Ty::Text),
    ],
    "",
    Returns::Nothing,
);

static OUTBOX: Insert = Insert::new(
    "outbox",
    &[
        ("incident_id", Ty::Int8),
        ("channel", Ty::Text),
        ("event", Ty::Text),
        ("payload", Ty::Jsonb),
        ("status", Ty::Text),
        ("attempts", Ty::Int8),
        ("next_attempt_ms", Ty::Int8),
        ("created_ms", Ty::Int8),
    ],
    "",
    Returns::Nothing,
);

static LEASES: Update = Update::new(
    "outbox",
    "next_attempt_ms = ?2",
    "id = ?1",
    &[Ty::Int8, Ty::Int8],
);

impl AlertTx for dyn Conn + '_ {
    fn update_incidents(&mut self, updates: &[(i64, IncidentUpdate)]) -> Result<()> {
        let states: Vec<Option<String>> = updates
            .iter()
            .map(|(_, u)| u.state.as_ref().map(alert_batch::json_to_db))
            .collect();
        let mut args = Vec::with_capacity(updates.len() * INCIDENT_UPDATES.params.len());
        for ((id, u), state) in updates.iter().zip(&states) {
            args.extend_from_slice(params![
                id,
                u.status,
                u.count,
                u.summary,
                u.acked.is_some(),
                u.acked.as_ref().map(|a| a.0),
                u.acked.as_ref().map(|a| a.1.as_str()),
                u.resolved.is_some(),
                u.resolved.as_ref().map(|r| r.0),
                u.resolved.as_ref().and_then(|r| r.1.as_deref()),
                state
            ]);
        }
        // Reopening a resolved incident can clash with a newer open one.
        self.update(&INCIDENT_UPDATES, &args)
            .map_err(incident_conflict)
    }

    fn insert_incidents(&mut self, rows: &[IncidentInsert<'_>]) -> Result<Vec<i64>> {
        let states: Vec<String> = rows
            .iter()
            .map(|r| alert_batch::json_to_db(r.state))
            .collect();
        let mut args = Vec::with_capacity(rows.len() * INCIDENTS.columns.len());
        for (r, state) in rows.iter().zip(&states) {
            args.extend_from_slice(params![
                r.new.rule,
                r.new.subject_kind,
                r.new.subject_id,
                r.new.severity,
                r.status,
                r.new.title,
                r.summary,
                r.count,
                r.new.opened_ms,
                r.acked.map(|a| a.0),
                r.acked.map(|a| a.1),
                r.resolved.map(|a| a.0),
                r.resolved.and_then(|a| a.1),
                state,
                r.new.runbook
            ]);
        }
        self.insert_ids(&INCIDENTS, &args)
            .map_err(incident_conflict)
    }

    fn append(
        &mut self,
        timeline: &[(i64, &TimelineEntry)],
        messages: &[(i64, &NewOutboxMessage)],
        cursor: Option<(&str, i64)>,
    ) -> Result<()> {
        if !timeline.is_empty() {
            let mut args = Vec::with_capacity(timeline.len() * TIMELINE.columns.len());
            for (id, t) in timeline {
                args.extend_from_slice(params![id, t.at_ms, t.kind, t.text, t.actor]);
            }
            self.insert_all(&TIMELINE, &args)?;
        }
        if !messages.is_empty() {
            let payloads: Vec<String> = messages
                .iter()
                .map(|(_, m)| alert_batch::json_to_db(&m.payload))
                .collect();
            let mut args = Vec::with_capacity(messages.len() * OUTBOX.columns.len());
            for ((id, m), payload) in messages.iter().zip(&payloads) {
                args.extend_from_slice(params![
                    id,
                    m.channel,
                    m.event,
                    payload,
                    OutboxStatus::Pending,
                    0i64,
                    m.now_ms,
                    m.now_ms
                ]);
            }
            self.insert_all(&OUTBOX, &args)?;
        }
        if let Some((name, value)) = cursor {
            self.exec(
                sql!(
                    "INSERT INTO alert_cursors (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value"
                ),
                params![name, value],
            )?;
        }
        Ok(())
    }
}

impl<D: Db> AlertStore for D {
    fn apply_alerts(&self, batch: &AlertBatch) -> Result<Vec<i64>> {
        self.transaction(|c| alert_batch::apply_alerts(c, batch))
    }

    fn open_incidents(&self) -> Result<Vec<IncidentRow>> {
        self.read(|c| {
            c.rows(
                // The predicate of `incidents_open_key`, so the partial index serves it.
                sql!(concat!(
                    "SELECT ",
                    incident_cols!(),
                    " FROM incidents WHERE status <> 'resolved' ORDER BY id"
                )),
                &[],
                incident_from_row,
            )
        })
    }

    fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<IncidentRow>> {
        let mut sql = String::from(concat!(
            "SELECT ",
            incident_cols!(),
            " FROM incidents WHERE TRUE"
        ));
        let limit = batch::page_limit(f.limit);
        let mut args: Vec<Param<'_>> = Vec::new();
        let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
        if !statuses.is_empty() {
            // One statement for any number of statuses, instead of one per list length.
            let p = push_arg(&mut args, (&statuses).param());
            sql.push_str(&format!(" AND status = ANY({p})"));
        }
        let subject = f.subject.map(|s| (s.kind(), s.id()));
        if let Some((kind, id)) = &subject {
            let kind = push_arg(&mut args, kind.param());
            let id = push_arg(&mut args, id.param());
            sql.push_str(&format!(" AND subject_kind = {kind} AND subject_id = {id}"));
        }
        if let Some(before) = &f.before_id {
            let p = push_arg(&mut args, before.param());
            sql.push_str(&format!(" AND id < {p}"));
        }
        let p = push_arg(&mut args, (&limit).param());
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {p}"));
        self.read(|c| c.rows(&Sql::owned(sql), &args, incident_from_row))
    }

    fn get_incident(&self, id: i64) -> Result<Option<IncidentRow>> {
        self.read(|c| {
            c.row(
                sql!(concat!(
                    "SELECT ",
                    incident_cols!(),
                    " FROM incidents WHERE id = ?1"
                )),
                params![id],
                incident_from_row,
            )
        })
    }

    fn incident_timeline(&self, id: i64) -> Result<Vec<TimelineEntry>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT at_ms, kind, text, actor FROM incident_timeline
                     WHERE incident_id = ?1 ORDER BY id"
                ),
                params![id],
                |r| {
                    Ok(TimelineEntry {
                        at_ms: r.get(0)?,
                        kind: r.name(1, "incident_timeline.kind")?,
                        text: r.get(2)?,
                        actor: r.get(3)?,
                    })
                },
            )
        })
    }

    fn cursor(&self, name: &str) -> Result<Option<i64>> {
        self.read(|c| {
            c.row(
                sql!("SELECT value FROM alert_cursors WHERE name = ?1"),
                params![name],
                |r| r.get(0),
            )
        })
    }

    fn due_messages(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxMessage>> {
        let lease = alert_batch::lease_end(now_ms);
        self.transaction(|c| {
            // Rows another instance is claiming right now are skipped rather than waited
            // for, and rows it already leased are no longer due, so no two instances get
            // the same message within a lease. (SQLite: the write transaction alone
            // keeps other processes out.)
            let mut due = c.rows(
                sql!(concat!(
                    "SELECT ",
                    outbox_cols!(),
                    " FROM outbox
                     WHERE status = 'pending' AND next_attempt_ms <= ?1
                     ORDER BY next_attempt_ms, id LIMIT ?2
                     FOR UPDATE SKIP LOCKED"
                )),
                params![now_ms, batch::page_limit(limit)],
                message_from_row,
            )?;
            let mut args = Vec::with_capacity(due.len() * 2);
            for m in &due {
                args.extend_from_slice(params![m.id, lease]);
            }
            c.update(&LEASES, &args)?;
            for m in &mut due {
                m.next_attempt_ms = lease;
            }
            Ok(due)
        })
    }

    fn update_message(&self, id: i64, u: &OutboxUpdate) -> Result<()> {
        self.write(|c| {
            c.exec(
                sql!(
                    "UPDATE outbox SET status = ?2, attempts = ?3, next_attempt_ms = ?4,
                         last_error = ?5, sent_ms = ?6
                     WHERE id = ?1"
                ),
                params![
                    id,
                    u.status,
                    u.attempts,
                    u.next_attempt_ms,
                    u.last_error,
                    u.sent_ms
                ],
            )
            .map(drop)
        })
    }

    fn incident_messages(&self, incident_id: i64) -> Result<Vec<OutboxMessage>> {
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    outbox_cols!(),
                    " FROM outbox WHERE incident_id = ?1 ORDER BY id"
                )),
                params![incident_id],
                message_from_row,
            )
        })
    }

    fn next_message_due(&self) -> Result<Option<i64>> {
        self.read(|c| {
            c.value(
                sql!("SELECT MIN(next_attempt_ms) FROM outbox WHERE status = 'pending'"),
                &[],
            )
        })
    }

    fn set_channel_broken(&self, channel: &str, reason: Option<&str>, now_ms: i64) -> Result<()> {
        self.write(|c| {
            match reason {
                // Marked again while broken: the reason follows, `since_ms` keeps the
                // first failure.
                Some(reason) => c.exec(
                    sql!(
                        "INSERT INTO broken_channels (channel, reason, since_ms)
                         VALUES (?1, ?2, ?3)
                         ON CONFLICT (channel) DO UPDATE SET reason = excluded.reason"
                    ),
                    params![channel, reason, now_ms],
                )?,
                None => c.exec(
                    sql!("DELETE FROM broken_channels WHERE channel = ?1"),
                    params![channel],
                )?,
            };
            Ok(())
        })
    }

    fn broken_channels(&self) -> Result<Vec<ChannelState>> {
        self.read(|c| {
            c.rows(
                sql!("SELECT channel, reason, since_ms FROM broken_channels ORDER BY channel"),
                &[],
                |r| {
                    Ok(ChannelState {
                        channel: r.get(0)?,
                        reason: r.get(1)?,
                        since_ms: r.get(2)?,
                    })
                },
            )
        })
    }

    fn create_silence(&self, s: &SilenceRow) -> Result<SilenceRow> {
        self.write(|c| {
            c.row(
                sql!(
                    "INSERT INTO silences (target_kind, target, until_ms, reason, created_by,
                         created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     RETURNING id, target_kind, target, until_ms, reason, created_by,
                         created_ms"
                ),
                params![
                    s.target_kind,
                    s.target,
                    s.until_ms,
                    s.reason,
                    s.created_by,
                    s.created_ms
                ],
                silence_from_row,
            )?
            .ok_or_else(|| StoreError::Corrupt("silence not returned".to_string()))
        })
    }

    fn active_silences(&self, now_ms: i64) -> Result<Vec<SilenceRow>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT id, target_kind, target, until_ms, reason, created_by, created_ms
                     FROM silences WHERE until_ms > ?1 ORDER BY id"
                ),
                params![now_ms],
                silence_from_row,
            )
        })
    }

    fn delete_silence(&self, id: i64) -> Result<bool> {
        let n = self.write(|c| c.exec(sql!("DELETE FROM silences WHERE id = ?1"), params![id]))?;
        Ok(n > 0)
    }

    fn create_rule(&self, rule: &StoredRule) -> Result<()> {
        let spec = rule.spec.to_string();
        self.write(|c| {
            c.exec(
                sql!("INSERT INTO alert_rules (name, spec, created_ms) VALUES (?1, ?2, ?3)"),
                params![rule.name, spec, rule.created_ms],
            )
            .map_err(StoreError::into_conflict)
            .map(drop)
        })
    }

    fn list_rules(&self) -> Result<Vec<StoredRule>> {
        self.read(|c| {
            c.rows(
                sql!("SELECT name, spec, created_ms FROM alert_rules ORDER BY created_ms, name"),
                &[],
                |row| {
                    let spec: String = row.get(1)?;
                    Ok(StoredRule {
                        name: row.get(0)?,
                        spec: serde_json::from_str(&spec)
                            .map_err(|e| StoreError::Corrupt(format!("rule spec: {e}")))?,
                        created_ms: row.get(2)?,
                    })
                },
            )
        })
    }

    fn outbox_counts(&self) -> Result<Vec<(String, String, u64)>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT channel, status, COUNT(*) FROM outbox
                     GROUP BY channel, status ORDER BY channel, status"
                ),
                &[],
                |r| {
                    let n: i64 = r.get(2)?;
                    Ok((r.get(0)?, r.get(1)?, u64::try_from(n).unwrap_or(0)))
                },
            )
        })
    }

    fn delete_rule(&self, name: &str) -> Result<bool> {
        let n = self.write(|c| {
            c.exec(
                sql!("DELETE FROM alert_rules WHERE name = ?1"),
                params![name],
            )
        })?;
        Ok(n > 0)
    }

    fn signals_after(&self, after_id: i64, limit: u32) -> Result<Vec<Signal>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT id, kind, project_id, issue_id, event_id, created_ms, monitor_id,
                         detail
                     FROM signals WHERE id > ?1 ORDER BY id LIMIT ?2"
                ),
                params![after_id, batch::page_limit(limit)],
                signal_from_row,
            )
        })
    }
}
