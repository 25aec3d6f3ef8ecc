//! The `write_batch` algorithm, written once over a few backend primitives so SQLite and
//! PostgreSQL cannot drift apart in how they group, deduplicate and raise signals.

use std::collections::{BTreeMap, HashMap, HashSet};

use lookout_core::issue::{self, IssueStatus, Substatus};
use lookout_core::signal::{Signal, SignalKind};

use crate::latency::HOUR_MS;
use crate::model::{
    AttachmentRow, BatchResult, CheckInRow, EventOutcome, NewEvent, OutcomeIncrement,
    SessionCounts, TransactionRow, WriteBatch,
};
use crate::Result;

/// `issue_values.kind` of releases.
pub(crate) const KIND_RELEASE: &str = "release";
/// `issue_values.kind` of environments.
pub(crate) const KIND_ENVIRONMENT: &str = "environment";

/// The state of an issue row as found (or just created) inside the batch transaction.
pub(crate) struct IssueState {
    pub id: i64,
    pub created: bool,
    pub status: IssueStatus,
    pub substatus: Option<Substatus>,
    pub last_seen_ms: i64,
}

/// What to add to an issue after its events of this batch went in.
pub(crate) struct IssueUpdate<'a> {
    pub id: i64,
    pub add_count: i64,
    pub add_users: i64,
    pub add_unhandled: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The newest event, when it is newer than what the issue has seen: it sets title,
    /// culprit, level and last release.
    pub latest: Option<&'a NewEvent>,
    pub status: IssueStatus,
    pub substatus: Option<Substatus>,
}

/// A value an issue was seen with in this batch.
pub(crate) struct ValueUpdate<'a> {
    pub kind: &'static str,
    pub value: &'a str,
    pub count: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// Events of a batch counted per project, hour of arrival, level, environment and release
/// (`""` for none).
pub(crate) struct EventHour<'a> {
    pub project_id: i64,
    pub hour_ms: i64,
    pub level: &'a str,
    pub environment: &'a str,
    pub release: &'a str,
    pub count: i64,
}

/// The statements a backend provides inside one open transaction. Each takes a whole
/// batch's rows, so a client/server database needs a handful of round trips per batch
/// rather than several per issue.
pub(crate) trait BatchTx {
    /// `event_id → issue_id` of the given ids already stored for the project.
    fn existing_events(&mut self, project_id: i64, ids: &[&str]) -> Result<HashMap<String, i64>>;
    /// For each `(first event, first seen)` of one project, sorted by fingerprint: finds
    /// the issue and locks it for this transaction, or creates it (count 0). Returns the
    /// states in the same order.
    fn find_or_create_issues(
        &mut self,
        project_id: i64,
        groups: &[(&NewEvent, i64)],
    ) -> Result<Vec<IssueState>>;
    /// Inserts `(issue_id, event)` rows, skipping ids stored meanwhile; `true` for each
    /// one written.
    fn insert_events(&mut self, rows: &[(i64, &NewEvent)]) -> Result<Vec<bool>>;
    /// Records `(issue_id, user_key)` rows; `true` for each one not known before.
    fn insert_users(&mut self, rows: &[(i64, &str)]) -> Result<Vec<bool>>;
    /// Adds to the counts of releases and environments of issues (keys are unique).
    fn upsert_values(&mut self, rows: &[(i64, ValueUpdate<'_>)]) -> Result<()>;
    /// Applies the batch's changes to issues.
    fn update_issues(&mut self, updates: &[IssueUpdate<'_>]) -> Result<()>;
    /// Removes an issue this batch created but wrote no event for (lost a race).
    fn delete_issue(&mut self, id: i64) -> Result<()>;
    /// Records signals, in order, assigning their ids.
    fn insert_signals(&mut self, signals: &mut [Signal]) -> Result<()>;
    /// Stores a transaction summary (skipped when its id is known).
    fn insert_transaction(&mut self, row: &TransactionRow) -> Result<()>;
    /// Merges request durations into the latency histograms.
    fn add_latency(&mut self, rows: &[crate::LatencySample]) -> Result<()>;
    /// Adds session counts.
    fn add_sessions(&mut self, row: &SessionCounts) -> Result<()>;
    /// Stores a check-in.
    fn insert_check_in(&mut self, row: &CheckInRow) -> Result<()>;
    /// Stores an attachment.
    fn insert_attachment(&mut self, row: &AttachmentRow) -> Result<()>;
    /// Adds to an outcome counter.
    fn add_outcome(&mut self, row: &OutcomeIncrement) -> Result<()>;
    /// Adds to the hourly event counts; rows come in key order.
    fn add_event_hours(&mut self, rows: &[EventHour<'_>]) -> Result<()>;
}

const DUPLICATE: EventOutcome = EventOutcome {
    issue_id: 0,
    new_issue: false,
    regressed: false,
    duplicate: true,
};

/// Runs the whole batch against an open transaction; the caller commits.
pub(crate) fn write_batch<T: BatchTx + ?Sized>(
    tx: &mut T,
    batch: &WriteBatch,
) -> Result<BatchResult> {
    let events = &batch.events;
    let mut outcomes: Vec<Option<EventOutcome>> = vec![None; events.len()];
    // For a repeat within the batch: the index of the first occurrence.
    let mut repeat_of: Vec<Option<usize>> = vec![None; events.len()];

    let mut first_index: HashMap<(i64, &str), usize> = HashMap::with_capacity(events.len());
    let mut per_project: Vec<(i64, Vec<&str>)> = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        let key = (ev.project_id, ev.event_id.as_str());
        if let Some(&first) = first_index.get(&key) {
            repeat_of[i] = Some(first);
            continue;
        }
        first_index.insert(key, i);
        match per_project.iter_mut().find(|(p, _)| *p == ev.project_id) {
            Some((_, ids)) => ids.push(&ev.event_id),
            None => per_project.push((ev.project_id, vec![&ev.event_id])),
        }
    }

    let mut stored: HashMap<(i64, String), i64> = HashMap::new();
    for (project_id, ids) in &per_project {
        for (event_id, issue_id) in tx.existing_events(*project_id, ids)? {
            stored.insert((*project_id, event_id), issue_id);
        }
    }

    // Groups in order of first appearance, so results and signals follow the batch order.
    let mut group_index: HashMap<(i64, &str), usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        if repeat_of[i].is_some() {
            continue;
        }
        if let Some(&issue_id) = stored.get(&(ev.project_id, ev.event_id.clone())) {
            outcomes[i] = Some(EventOutcome {
                issue_id,
                ..DUPLICATE
            });
            continue;
        }
        let g = *group_index
            .entry((ev.project_id, ev.fingerprint.as_str()))
            .or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
        groups[g].push(i);
    }

    // Issues are locked in one global order (project, fingerprint) so that several
    // PostgreSQL writers cannot deadlock on each other's issue rows.
    groups.sort_by(|a, b| {
        let (a, b) = (&events[a[0]], &events[b[0]]);
        (a.project_id, &a.fingerprint).cmp(&(b.project_id, &b.fingerprint))
    });
    let mut signals: Vec<(usize, Signal)> = Vec::new();
    write_groups(tx, events, &groups, &mut outcomes, &mut signals)?;
    // Signals follow the batch order, whatever order the issues were written in.
    signals.sort_by_key(|(i, _)| *i);
    let mut signals: Vec<Signal> = signals.into_iter().map(|(_, s)| s).collect();

    for (i, first) in repeat_of.iter().enumerate() {
        if let Some(first) = first {
            let issue_id = outcomes[*first].map_or(0, |o| o.issue_id);
            outcomes[i] = Some(EventOutcome {
                issue_id,
                ..DUPLICATE
            });
        }
    }

    for row in &batch.transactions {
        tx.insert_transaction(row)?;
    }
    tx.add_latency(&batch.latency)?;
    // Counter rows too are touched in key order, for the same reason as issues.
    let mut sessions: Vec<&SessionCounts> = batch.sessions.iter().collect();
    sessions.sort_by(|a, b| {
        (a.project_id, &a.release, &a.environment, a.bucket_ms).cmp(&(
            b.project_id,
            &b.release,
            &b.environment,
            b.bucket_ms,
        ))
    });
    for row in sessions {
        tx.add_sessions(row)?;
    }
    for row in &batch.check_ins {
        tx.insert_check_in(row)?;
    }
    for row in &batch.attachments {
        tx.insert_attachment(row)?;
    }
    let mut counters: Vec<&OutcomeIncrement> = batch.outcomes.iter().collect();
    counters.sort_by(|a, b| {
        (
            a.project_id,
            a.bucket_ms,
            &a.outcome,
            &a.category,
            &a.reason,
        )
            .cmp(&(
                b.project_id,
                b.bucket_ms,
                &b.outcome,
                &b.category,
                &b.reason,
            ))
    });
    // Every request of a group commit counts its own "accepted": one upsert per key.
    let mut merged: Vec<OutcomeIncrement> = Vec::new();
    for row in counters {
        match merged.last_mut() {
            Some(last)
                if (
                    last.project_id,
                    last.bucket_ms,
                    &last.outcome,
                    &last.category,
                    &last.reason,
                ) == (
                    row.project_id,
                    row.bucket_ms,
                    &row.outcome,
                    &row.category,
                    &row.reason,
                ) =>
            {
                last.quantity += row.quantity;
            }
            _ => merged.push(row.clone()),
        }
    }
    for row in &merged {
        tx.add_outcome(row)?;
    }
    tx.add_event_hours(&event_hours(events, &outcomes))?;
    // Last, so that a backend serialising signal writers holds its lock only briefly.
    if !signals.is_empty() {
        tx.insert_signals(&mut signals)?;
    }

    Ok(BatchResult {
        events: outcomes
            .into_iter()
            .map(|o| o.unwrap_or(DUPLICATE))
            .collect(),
        signals,
    })
}

/// The written events (not the duplicates) counted per hour row, in key order: counter
/// rows, like issues, are locked in one order by every writer.
fn event_hours<'a>(
    events: &'a [NewEvent],
    outcomes: &[Option<EventOutcome>],
) -> Vec<EventHour<'a>> {
    let mut counts: BTreeMap<(i64, i64, &str, &str, &str), i64> = BTreeMap::new();
    for (ev, outcome) in events.iter().zip(outcomes) {
        if outcome.is_none_or(|o| o.duplicate) {
            continue;
        }
        let key = (
            ev.project_id,
            ev.received_ms.div_euclid(HOUR_MS) * HOUR_MS,
            ev.level.as_str(),
            ev.environment.as_deref().unwrap_or(""),
            ev.release.as_deref().unwrap_or(""),
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
        .into_iter()
        .map(
            |((project_id, hour_ms, level, environment, release), count)| EventHour {
                project_id,
                hour_ms,
                level,
                environment,
                release,
                count,
            },
        )
        .collect()
}

/// What one group (issue) of the batch contributes, once its events are written.
struct GroupWork<'a> {
    issue: IssueState,
    /// Indexes (into the batch) of the events actually written, in batch order.
    written: Vec<usize>,
    users: Vec<&'a str>,
    values: Vec<ValueUpdate<'a>>,
    latest: Option<&'a NewEvent>,
    unhandled: Option<usize>,
    unhandled_count: i64,
}

fn write_groups<T: BatchTx + ?Sized>(
    tx: &mut T,
    events: &[NewEvent],
    groups: &[Vec<usize>],
    outcomes: &mut [Option<EventOutcome>],
    signals: &mut Vec<(usize, Signal)>,
) -> Result<()> {
    // Issues, one call per project (groups are sorted by project, then fingerprint).
    let mut issues: Vec<IssueState> = Vec::with_capacity(groups.len());
    let mut start = 0;
    while start < groups.len() {
        let project_id = events[groups[start][0]].project_id;
        let end = groups[start..]
            .iter()
            .position(|g| events[g[0]].project_id != project_id)
            .map_or(groups.len(), |n| start + n);
        let keys: Vec<(&NewEvent, i64)> = groups[start..end]
            .iter()
            .map(|g| {
                let first_seen = g.iter().map(|&i| events[i].received_ms).min();
                let first = &events[g[0]];
                (first, first_seen.unwrap_or(first.received_ms))
            })
            .collect();
        issues.extend(tx.find_or_create_issues(project_id, &keys)?);
        start = end;
    }

    let rows: Vec<(i64, &NewEvent)> = groups
        .iter()
        .zip(&issues)
        .flat_map(|(g, issue)| g.iter().map(move |&i| (issue.id, &events[i])))
        .collect();
    let mut flags = tx.insert_events(&rows)?.into_iter();

    let mut work: Vec<GroupWork<'_>> = Vec::with_capacity(groups.len());
    for (group, issue) in groups.iter().zip(issues) {
        let mut w = GroupWork {
            issue,
            written: Vec::with_capacity(group.len()),
            users: Vec::new(),
            values: Vec::new(),
            latest: None,
            unhandled: None,
            unhandled_count: 0,
        };
        let mut seen_users: HashSet<&str> = HashSet::new();
        for &i in group {
            if !flags.next().unwrap_or(false) {
                outcomes[i] = Some(EventOutcome {
                    issue_id: w.issue.id,
                    ..DUPLICATE
                });
                continue;
            }
            let ev = &events[i];
            w.written.push(i);
            if w.latest.is_none_or(|l| ev.received_ms >= l.received_ms) {
                w.latest = Some(ev);
            }
            if ev.handled == Some(false) {
                w.unhandled_count += 1;
                w.unhandled.get_or_insert(i);
            }
            if let Some(key) = ev.user_key.as_deref() {
                if seen_users.insert(key) {
                    w.users.push(key);
                }
            }
            for (kind, value) in [
                (KIND_RELEASE, ev.release.as_deref()),
                (KIND_ENVIRONMENT, ev.environment.as_deref()),
            ] {
                let Some(value) = value else { continue };
                match w
                    .values
                    .iter_mut()
                    .find(|v| v.kind == kind && v.value == value)
                {
                    Some(v) => {
                        v.count += 1;
                        v.first_seen_ms = v.first_seen_ms.min(ev.received_ms);
                        v.last_seen_ms = v.last_seen_ms.max(ev.received_ms);
                    }
                    None => w.values.push(ValueUpdate {
                        kind,
                        value,
                        count: 1,
                        first_seen_ms: ev.received_ms,
                        last_seen_ms: ev.received_ms,
                    }),
                }
            }
        }
        work.push(w);
    }

    let user_rows: Vec<(i64, &str)> = work
        .iter()
        .flat_map(|w| w.users.iter().map(move |&u| (w.issue.id, u)))
        .collect();
    let mut added_users: HashMap<i64, i64> = HashMap::new();
    if !user_rows.is_empty() {
        for ((issue_id, _), added) in user_rows.iter().zip(tx.insert_users(&user_rows)?) {
            if added {
                *added_users.entry(*issue_id).or_default() += 1;
            }
        }
    }
    let value_rows: Vec<(i64, ValueUpdate<'_>)> = work
        .iter_mut()
        .flat_map(|w| {
            let id = w.issue.id;
            std::mem::take(&mut w.values)
                .into_iter()
                .map(move |v| (id, v))
        })
        .collect();
    if !value_rows.is_empty() {
        tx.upsert_values(&value_rows)?;
    }

    let mut updates = Vec::with_capacity(work.len());
    for w in &work {
        let (Some(&lead_i), Some(latest)) = (w.written.first(), w.latest) else {
            if w.issue.created {
                tx.delete_issue(w.issue.id)?;
            }
            continue;
        };
        let arrival =
            issue::on_events((!w.issue.created).then_some((w.issue.status, w.issue.substatus)));
        let newer = w.issue.created || latest.received_ms >= w.issue.last_seen_ms;
        updates.push(IssueUpdate {
            id: w.issue.id,
            add_count: w.written.len() as i64,
            add_users: added_users.get(&w.issue.id).copied().unwrap_or(0),
            add_unhandled: w.unhandled_count,
            first_seen_ms: w
                .written
                .iter()
                .map(|&i| events[i].received_ms)
                .min()
                .unwrap_or(latest.received_ms),
            last_seen_ms: latest.received_ms,
            latest: newer.then_some(latest),
            status: arrival.status,
            substatus: arrival.substatus,
        });

        let regressed = arrival.regressed;
        for &i in &w.written {
            outcomes[i] = Some(EventOutcome {
                issue_id: w.issue.id,
                new_issue: w.issue.created && i == lead_i,
                regressed: regressed && i == lead_i,
                duplicate: false,
            });
        }
        if !arrival.signals {
            continue;
        }
        let mut signal = |kind: SignalKind, i: usize| {
            let ev = &events[i];
            signals.push((
                i,
                Signal {
                    id: 0,
                    kind,
                    project_id: Some(ev.project_id),
                    issue_id: Some(w.issue.id),
                    event_id: Some(ev.event_id.clone()),
                    monitor_id: None,
                    // The event's title (its issue's), so alerts say what happened without a lookup.
                    detail: Some(ev.title.clone()),
                    created_ms: ev.received_ms,
                },
            ))
        };
        if w.issue.created {
            signal(SignalKind::NewIssue, lead_i);
        }
        if regressed {
            signal(SignalKind::Regression, lead_i);
        }
        // One per issue and batch: the alert engine counts issues, and a storm of
        // unhandled events must not write hundreds of rows per batch.
        if let Some(i) = w.unhandled {
            signal(SignalKind::Unhandled, i);
        }
    }
    if !updates.is_empty() {
        tx.update_issues(&updates)?;
    }
    Ok(())
}

/// Page size for lists: 0 or absurd values fall back to 100.
pub(crate) fn page_limit(limit: u32) -> i64 {
    if limit == 0 || limit > 1000 {
        100
    } else {
        i64::from(limit)
    }
}

/// A `LIKE` pattern matching `text` anywhere, with `\` as the escape character.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Share of sessions that did not crash, 0–100, two decimals.
pub(crate) fn crash_free_rate(sessions: u64, crashed: u64) -> f64 {
    if sessions == 0 {
        return 100.0;
    }
    let rate = 100.0 * (1.0 - crashed as f64 / sessions as f64);
    (rate * 100.0).round() / 100.0
}

/// A fresh DSN public key.
pub(crate) fn new_public_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Converts a stored non-negative counter.
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Converts a counter for storage; counters never get near `i64::MAX`.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(like_pattern("a%b_c\\d"), "%a\\%b\\_c\\\\d%");
    }

    #[test]
    fn crash_free_rate_rounds() {
        assert_eq!(crash_free_rate(0, 0), 100.0);
        assert_eq!(crash_free_rate(3, 1), 66.67);
        assert_eq!(crash_free_rate(4, 4), 0.0);
    }

    #[test]
    fn page_limit_caps() {
        assert_eq!(page_limit(0), 100);
        assert_eq!(page_limit(5000), 100);
        assert_eq!(page_limit(20), 20);
    }
}
