//! Regrouping events that arrived before their source maps: the jobs (one per stored
//! bundle and project, with a cursor, so a restart resumes), the events a job looks at, and
//! the moves of mapped events into the issue their mapped frames group them in, merging an
//! emptied issue into that one and leaving a redirect behind.

use std::collections::BTreeMap;

use lookout_core::issue::{IssueStatus, Substatus};

use crate::batch::{KIND_ENVIRONMENT, KIND_RELEASE};
use crate::sql::{params, sql, Conn, Row};
use crate::{Db, Result};

/// A job to create: regroup a project's recent events after a bundle was stored.
#[derive(Debug, Clone)]
pub struct NewRegroupJob {
    /// The project.
    pub project_id: i64,
    /// The bundle just stored.
    pub bundle_id: i64,
    /// The bundle's release, when it is bound to one: only that release's events can use it
    /// by file name, and events by debug id carry the release they were built for too, so
    /// a release-bound job looks only at that release's events.
    pub release: Option<String>,
    /// Events received before this are left as they are.
    pub since_ms: i64,
    /// At most this many events are looked at.
    pub max_events: u64,
    /// Now, Unix ms.
    pub now_ms: i64,
}

/// A regroup job and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct RegroupJob {
    /// Row id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The bundle that started it.
    pub bundle_id: i64,
    /// Only events of this release, when set.
    pub release: Option<String>,
    /// Only events received from this time on.
    pub since_ms: i64,
    /// The cap on events looked at.
    pub max_events: u64,
    /// The last event row looked at.
    pub after_event: i64,
    /// Events looked at so far.
    pub scanned: u64,
    /// Events moved to another issue (or whose issue was re-keyed) so far.
    pub moved: u64,
    /// When it finished.
    pub done_ms: Option<i64>,
}

/// A stored event a job may map.
#[derive(Debug, Clone)]
pub struct RegroupCandidate {
    /// Event row id.
    pub row_id: i64,
    /// Its 32-hex id.
    pub event_id: String,
    /// Its issue.
    pub issue_id: i64,
    /// The issue's fingerprint.
    pub fingerprint: String,
    /// The compressed payload as stored.
    pub payload: Vec<u8>,
}

/// One event mapped: its new payload and the grouping its mapped frames give.
#[derive(Debug, Clone)]
pub struct RegroupMove {
    /// Event row id.
    pub row_id: i64,
    /// The issue it is in now.
    pub from_issue: i64,
    /// The payload with mapped frames, compressed.
    pub payload: Vec<u8>,
    /// The mapped grouping's fingerprint.
    pub fingerprint: String,
    /// The grouping version.
    pub grouping_version: String,
    /// The mapped title.
    pub title: String,
    /// The mapped culprit.
    pub culprit: String,
    /// Whether the error was handled (unhandled ones count in `unhandled_count`).
    pub handled: bool,
    /// The user key the event counts under, if any.
    pub user_key: Option<String>,
}

/// What one step of a job did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegroupStep {
    /// Events moved into another issue.
    pub moved: u64,
    /// Issues whose fingerprint, title and culprit were replaced in place (all their
    /// events mapped to a grouping no issue had yet).
    pub rekeyed: u64,
    /// Issues emptied and merged away: `(old id, the issue it redirects to)`.
    pub merged: Vec<(i64, i64)>,
}

/// Regroup jobs and the moves they make.
pub trait RegroupStore: Send + Sync + 'static {
    /// Records a job to run; returns its id.
    fn enqueue_regroup(&self, job: &NewRegroupJob) -> Result<i64>;
    /// Jobs not finished, oldest first.
    fn pending_regroups(&self) -> Result<Vec<RegroupJob>>;
    /// One job.
    fn get_regroup(&self, id: i64) -> Result<Option<RegroupJob>>;
    /// The next `limit` events the job should look at: its project's, after its cursor,
    /// received since its start time, of its release when it has one; oldest first.
    fn regroup_candidates(&self, job: &RegroupJob, limit: u32) -> Result<Vec<RegroupCandidate>>;
    /// In one transaction: applies `moves` (each event re-pointed with its mapped payload;
    /// an issue all of whose events map to a grouping no issue has is re-keyed in place;
    /// an issue emptied by the moves is merged into the issue its events went to: counts,
    /// first and last seen, releases, environments and users added, then removed with a
    /// redirect), moves the job's cursor to `after_event` having looked at `scanned` more
    /// events, and marks it done when `done`. Records no signal: what was alerted stays
    /// alerted, and the merged events are not new.
    fn apply_regroup(
        &self,
        job_id: i64,
        after_event: i64,
        scanned: u64,
        moves: &[RegroupMove],
        done: bool,
        now_ms: i64,
    ) -> Result<RegroupStep>;
    /// Where a merged-away issue's events went (following merges of merges); `None` for an
    /// issue that was never merged.
    fn issue_redirect(&self, issue_id: i64) -> Result<Option<i64>>;
}

macro_rules! job_cols {
    () => {
        "id, project_id, bundle_id, release, since_ms, max_events, after_event, scanned, moved, done_ms"
    };
}

fn job_from_row(r: &dyn Row) -> Result<RegroupJob> {
    Ok(RegroupJob {
        id: r.get(0)?,
        project_id: r.get(1)?,
        bundle_id: r.get(2)?,
        release: r.get(3)?,
        since_ms: r.get(4)?,
        max_events: crate::batch::to_u64(r.get(5)?),
        after_event: r.get(6)?,
        scanned: crate::batch::to_u64(r.get(7)?),
        moved: crate::batch::to_u64(r.get(8)?),
        done_ms: r.get(9)?,
    })
}

/// An event's row as a move needs it.
struct EventRow {
    issue_id: i64,
    received_ms: i64,
    release: Option<String>,
    environment: Option<String>,
}

impl<D: Db> RegroupStore for D {
    fn enqueue_regroup(&self, j: &NewRegroupJob) -> Result<i64> {
        self.write(|c| {
            c.value(
                sql!(
                    "INSERT INTO regroup_jobs (project_id, bundle_id, release, since_ms,
                     max_events, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id"
                ),
                params![
                    j.project_id,
                    j.bundle_id,
                    j.release,
                    j.since_ms,
                    crate::batch::to_i64(j.max_events),
                    j.now_ms
                ],
            )
        })
    }

    fn pending_regroups(&self) -> Result<Vec<RegroupJob>> {
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    job_cols!(),
                    " FROM regroup_jobs WHERE done_ms IS NULL ORDER BY id"
                )),
                params![],
                job_from_row,
            )
        })
    }

    fn get_regroup(&self, id: i64) -> Result<Option<RegroupJob>> {
        self.read(|c| {
            c.row(
                sql!(concat!(
                    "SELECT ",
                    job_cols!(),
                    " FROM regroup_jobs WHERE id = ?1"
                )),
                params![id],
                job_from_row,
            )
        })
    }

    fn regroup_candidates(&self, job: &RegroupJob, limit: u32) -> Result<Vec<RegroupCandidate>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT e.id, e.event_id, e.issue_id, i.fingerprint, e.payload
                     FROM events e JOIN issues i ON i.id = e.issue_id
                     WHERE e.project_id = ?1 AND e.id > ?2 AND e.received_ms >= ?3
                       AND (?4 = '' OR e.release = ?4)
                     ORDER BY e.id LIMIT ?5"
                ),
                params![
                    job.project_id,
                    job.after_event,
                    job.since_ms,
                    job.release.as_deref().unwrap_or(""),
                    i64::from(limit)
                ],
                |r| {
                    Ok(RegroupCandidate {
                        row_id: r.get(0)?,
                        event_id: r.get(1)?,
                        issue_id: r.get(2)?,
                        fingerprint: r.get(3)?,
                        payload: r.get(4)?,
                    })
                },
            )
        })
    }

    fn apply_regroup(
        &self,
        job_id: i64,
        after_event: i64,
        scanned: u64,
        moves: &[RegroupMove],
        done: bool,
        now_ms: i64,
    ) -> Result<RegroupStep> {
        self.transaction(|c| {
            let mut step = RegroupStep::default();
            // Source issue → the issue its last moved event went to.
            let mut emptied: BTreeMap<i64, i64> = BTreeMap::new();
            for m in moves {
                match apply_move(c, m)? {
                    Moved::Nothing | Moved::Rewritten => {}
                    Moved::Rekeyed => step.rekeyed += 1,
                    Moved::Into(target) => {
                        step.moved += 1;
                        emptied.insert(m.from_issue, target);
                    }
                }
            }
            for (source, target) in emptied {
                let left: i64 = c.value(
                    sql!("SELECT COUNT(*) FROM events WHERE issue_id = ?1"),
                    params![source],
                )?;
                if left == 0 {
                    merge_issue(c, source, target, now_ms)?;
                    step.merged.push((source, target));
                }
            }
            let changed = crate::batch::to_i64(step.moved + step.rekeyed);
            c.exec(
                sql!(
                    "UPDATE regroup_jobs SET after_event = GREATEST(after_event, ?2),
                         scanned = scanned + ?3, moved = moved + ?4,
                         done_ms = CASE WHEN ?5 THEN ?6 ELSE done_ms END
                     WHERE id = ?1"
                ),
                params![
                    job_id,
                    after_event,
                    crate::batch::to_i64(scanned),
                    changed,
                    done,
                    now_ms
                ],
            )?;
            Ok(step)
        })
    }

    fn issue_redirect(&self, issue_id: i64) -> Result<Option<i64>> {
        self.read(|c| {
            c.row(
                sql!("SELECT into_id FROM issue_merges WHERE issue_id = ?1"),
                params![issue_id],
                |r| r.get(0),
            )
        })
    }
}

enum Moved {
    /// The event is no longer in the issue the job saw it in.
    Nothing,
    /// Its grouping did not change; only its frames were mapped.
    Rewritten,
    /// Its issue took the mapped grouping in place.
    Rekeyed,
    /// It went to this issue.
    Into(i64),
}

fn apply_move(c: &mut dyn Conn, m: &RegroupMove) -> Result<Moved> {
    let Some(ev) = c.row(
        sql!("SELECT issue_id, received_ms, release, environment FROM events WHERE id = ?1"),
        params![m.row_id],
        |r| {
            Ok(EventRow {
                issue_id: r.get(0)?,
                received_ms: r.get(1)?,
                release: r.get(2)?,
                environment: r.get(3)?,
            })
        },
    )?
    else {
        return Ok(Moved::Nothing);
    };
    if ev.issue_id != m.from_issue {
        return Ok(Moved::Nothing);
    }
    let Some(source_fp) = c.row(
        sql!("SELECT fingerprint FROM issues WHERE id = ?1 FOR UPDATE"),
        params![m.from_issue],
        |r| r.get::<String>(0),
    )?
    else {
        return Ok(Moved::Nothing);
    };
    let rewrite = |c: &mut dyn Conn, issue_id: i64| {
        c.exec(
            sql!("UPDATE events SET issue_id = ?2, payload = ?3, title = ?4 WHERE id = ?1"),
            params![m.row_id, issue_id, m.payload.as_slice(), m.title],
        )
    };
    if source_fp == m.fingerprint {
        rewrite(c, m.from_issue)?;
        return Ok(Moved::Rewritten);
    }
    let target = c.row(
        sql!("SELECT id FROM issues WHERE project_id = (SELECT project_id FROM issues WHERE id = ?1) AND fingerprint = ?2 FOR UPDATE"),
        params![m.from_issue, m.fingerprint],
        |r| r.get::<i64>(0),
    )?;
    let target = match target {
        Some(t) => t,
        None => {
            let others: i64 = c.value(
                sql!("SELECT COUNT(*) FROM events WHERE issue_id = ?1 AND id <> ?2"),
                params![m.from_issue, m.row_id],
            )?;
            if others == 0 {
                // The whole issue maps to a grouping no issue has: it keeps its id, its
                // history and its alerts, and takes the mapped name.
                c.exec(
                    sql!(
                        "UPDATE issues SET fingerprint = ?2, grouping_version = ?3, title = ?4,
                             culprit = ?5
                         WHERE id = ?1"
                    ),
                    params![
                        m.from_issue,
                        m.fingerprint,
                        m.grouping_version,
                        m.title,
                        m.culprit
                    ],
                )?;
                rewrite(c, m.from_issue)?;
                return Ok(Moved::Rekeyed);
            }
            // Some of the issue's events map elsewhere or not at all: a new issue for
            // these, without a new-issue alert (they were alerted on as the old one).
            c.value(
                sql!(
                    "INSERT INTO issues (project_id, fingerprint, grouping_version, title,
                         culprit, level, status, substatus, platform, first_seen_ms,
                         last_seen_ms, count, user_count, unhandled_count, first_release,
                         last_release)
                     SELECT project_id, ?2, ?3, ?4, ?5, level, ?6, ?7, platform, CAST(?8 AS BIGINT),
                         CAST(?8 AS BIGINT), 0, 0, 0, ?9, ?9
                     FROM issues WHERE id = ?1
                     RETURNING id"
                ),
                params![
                    m.from_issue,
                    m.fingerprint,
                    m.grouping_version,
                    m.title,
                    m.culprit,
                    IssueStatus::Unresolved.as_str(),
                    Substatus::Ongoing.as_str(),
                    ev.received_ms,
                    ev.release
                ],
            )?
        }
    };
    rewrite(c, target)?;
    let unhandled = i64::from(!m.handled);
    c.exec(
        sql!(
            "UPDATE issues SET count = count + 1, unhandled_count = unhandled_count + ?2,
                 first_seen_ms = LEAST(first_seen_ms, ?3),
                 last_seen_ms = GREATEST(last_seen_ms, ?3)
             WHERE id = ?1"
        ),
        params![target, unhandled, ev.received_ms],
    )?;
    c.exec(
        sql!(
            "UPDATE issues SET count = GREATEST(count - 1, 0),
                 unhandled_count = GREATEST(unhandled_count - ?2, 0)
             WHERE id = ?1"
        ),
        params![m.from_issue, unhandled],
    )?;
    for (kind, value) in [
        (KIND_RELEASE, ev.release.as_deref()),
        (KIND_ENVIRONMENT, ev.environment.as_deref()),
    ] {
        let Some(value) = value else { continue };
        c.exec(
            sql!(
                "INSERT INTO issue_values (issue_id, kind, value, count, first_seen_ms,
                     last_seen_ms) VALUES (?1, ?2, ?3, 1, ?4, ?4)
                 ON CONFLICT (issue_id, kind, value) DO UPDATE SET
                     count = issue_values.count + 1,
                     first_seen_ms = LEAST(issue_values.first_seen_ms, excluded.first_seen_ms),
                     last_seen_ms = GREATEST(issue_values.last_seen_ms, excluded.last_seen_ms)"
            ),
            params![target, kind, value, ev.received_ms],
        )?;
        c.exec(
            sql!(
                "UPDATE issue_values SET count = count - 1
                 WHERE issue_id = ?1 AND kind = ?2 AND value = ?3"
            ),
            params![m.from_issue, kind, value],
        )?;
        c.exec(
            sql!(
                "DELETE FROM issue_values
                 WHERE issue_id = ?1 AND kind = ?2 AND value = ?3 AND count <= 0"
            ),
            params![m.from_issue, kind, value],
        )?;
    }
    if let Some(user) = &m.user_key {
        let added = c.exec(
            sql!("INSERT INTO issue_users (issue_id, user_key) VALUES (?1, ?2) ON CONFLICT DO NOTHING"),
            params![target, user],
        )?;
        if added > 0 {
            c.exec(
                sql!("UPDATE issues SET user_count = user_count + 1 WHERE id = ?1"),
                params![target],
            )?;
        }
    }
    Ok(Moved::Into(target))
}

/// Folds what is left of an emptied issue (counts of events already deleted by retention,
/// its releases, environments and users) into `target`, removes it, and leaves a redirect.
fn merge_issue(c: &mut dyn Conn, source: i64, target: i64, now_ms: i64) -> Result<()> {
    c.exec(
        sql!(
            "UPDATE issues SET
                 count = issues.count + s.count,
                 unhandled_count = issues.unhandled_count + s.unhandled_count,
                 first_seen_ms = LEAST(issues.first_seen_ms, s.first_seen_ms),
                 last_seen_ms = GREATEST(issues.last_seen_ms, s.last_seen_ms),
                 first_release = COALESCE(
                     CASE WHEN s.first_seen_ms < issues.first_seen_ms THEN s.first_release END,
                     issues.first_release)
             FROM (SELECT count, unhandled_count, first_seen_ms, last_seen_ms, first_release
                   FROM issues WHERE id = ?2) AS s
             WHERE issues.id = ?1"
        ),
        params![target, source],
    )?;
    c.exec(
        sql!(
            "INSERT INTO issue_values (issue_id, kind, value, count, first_seen_ms, last_seen_ms)
             SELECT CAST(?1 AS BIGINT), kind, value, count, first_seen_ms, last_seen_ms
             FROM issue_values WHERE issue_id = ?2
             ON CONFLICT (issue_id, kind, value) DO UPDATE SET
                 count = issue_values.count + excluded.count,
                 first_seen_ms = LEAST(issue_values.first_seen_ms, excluded.first_seen_ms),
                 last_seen_ms = GREATEST(issue_values.last_seen_ms, excluded.last_seen_ms)"
        ),
        params![target, source],
    )?;
    c.exec(
        sql!(
            "INSERT INTO issue_users (issue_id, user_key)
             SELECT CAST(?1 AS BIGINT), user_key FROM issue_users WHERE issue_id = ?2
             ON CONFLICT DO NOTHING"
        ),
        params![target, source],
    )?;
    c.exec(
        sql!(
            "UPDATE issues SET user_count = (SELECT COUNT(*) FROM issue_users WHERE issue_id = ?1)
             WHERE id = ?1"
        ),
        params![target],
    )?;
    c.exec(
        sql!("DELETE FROM issue_values WHERE issue_id = ?1"),
        params![source],
    )?;
    c.exec(
        sql!("DELETE FROM issue_users WHERE issue_id = ?1"),
        params![source],
    )?;
    // Redirects to the source now lead to the target: one hop, whatever the history.
    c.exec(
        sql!("UPDATE issue_merges SET into_id = ?2 WHERE into_id = ?1"),
        params![source, target],
    )?;
    c.exec(
        sql!(
            "INSERT INTO issue_merges (issue_id, project_id, into_id, merged_ms)
             SELECT id, project_id, CAST(?2 AS BIGINT), CAST(?3 AS BIGINT) FROM issues WHERE id = ?1"
        ),
        params![source, target, now_ms],
    )?;
    c.exec(sql!("DELETE FROM issues WHERE id = ?1"), params![source])?;
    Ok(())
}
