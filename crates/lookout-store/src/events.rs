//! Events and issues: ingest batches, issues, events, counters, transactions, sessions,
//! check-ins and attachments.

use std::collections::HashMap;

use lookout_core::issue::{self, IssueStatus, Substatus};
use lookout_core::signal::Signal;

use crate::batch::{self, BatchTx, EventHour, IssueState, IssueUpdate, ValueUpdate};
use crate::latency::HOUR_MS;
use crate::model::*;
use crate::sql::{
    params, push_arg, sql, Conn, Insert, Lock, Param, Returns, Row, Sql, ToParam, Ty, Update,
};
use crate::{Db, Result, StoreError};

/// Events and issues, and the counters ingest keeps.
pub trait EventStore: Send + Sync + 'static {
    /// Writes a batch in one transaction: events (grouped into issues, duplicates by
    /// `(project_id, event_id)` skipped), transactions, sessions, client reports, check-ins,
    /// attachments and outcome counters; records the signals that follow. Returns, in the
    /// order of `batch.events`, what happened to each event, and the signals recorded.
    /// When this returns `Ok`, everything in the batch is durable.
    fn write_batch(&self, batch: &WriteBatch) -> Result<BatchResult>;

    /// Issues of a project matching `filter`, sorted and paged.
    fn list_issues(&self, filter: &IssueFilter) -> Result<Vec<Issue>>;
    /// One issue with the releases and environments it was seen in.
    fn get_issue(&self, id: i64) -> Result<Option<IssueDetail>>;
    /// Sets an issue's status (`resolved`, `ignored`, `unresolved`); `false` if unknown.
    fn set_issue_status(&self, id: i64, status: IssueStatus, now_ms: i64) -> Result<bool>;
    /// Events of an issue, newest first; `before_id` pages by event row id.
    fn list_events(
        &self,
        issue_id: i64,
        limit: u32,
        before_id: Option<i64>,
    ) -> Result<Vec<StoredEvent>>;
    /// The newest event of an issue.
    fn latest_event(&self, issue_id: i64) -> Result<Option<StoredEvent>>;
    /// One event by its 32-hex id within a project.
    fn get_event(&self, project_id: i64, event_id: &str) -> Result<Option<StoredEvent>>;
    /// How many events of a project were received in `[from_ms, to_ms)` at the given
    /// levels (e.g. error and fatal), optionally only of one environment or release;
    /// for windowed alert rules such as "errors > 50 in 5m".
    fn count_events(
        &self,
        project_id: i64,
        from_ms: i64,
        to_ms: i64,
        filter: &EventCountFilter,
    ) -> Result<u64>;
    /// [`EventStore::count_events`] per hour (UTC) of `[from_ms, to_ms)`, in one query:
    /// `(start of the hour, count)` for the hours with any, oldest first.
    fn count_events_by_hour(
        &self,
        project_id: i64,
        from_ms: i64,
        to_ms: i64,
        filter: &EventCountFilter,
    ) -> Result<Vec<(i64, u64)>>;
    /// Deletes a project's events (and their attachments) received before `cutoff_ms`;
    /// issues stay (and the hourly error counts). Returns how many events went.
    fn delete_events_before(&self, project_id: i64, cutoff_ms: i64) -> Result<u64>;

    /// Sum of outcome quantities for a project, category and outcome since `since_ms`
    /// (used to restore the monthly quota counter at start).
    fn outcome_total(
        &self,
        project_id: i64,
        category: &str,
        outcome: &str,
        since_ms: i64,
    ) -> Result<u64>;
    /// Outcome totals of a project since `since_ms`, grouped by outcome, category and
    /// reason: what was accepted, rate-limited, over quota, invalid, or dropped by SDKs.
    fn outcome_summary(&self, project_id: i64, since_ms: i64) -> Result<Vec<OutcomeCount>>;
    /// Session health per release and environment since `since_ms`.
    fn release_health(&self, project_id: i64, since_ms: i64) -> Result<Vec<ReleaseHealth>>;
    /// Transactions of a project, newest first (for latency percentiles later).
    fn list_transactions(
        &self,
        project_id: i64,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<TransactionRow>>;
    /// Check-ins of a project, newest first.
    fn list_check_ins(&self, project_id: i64, limit: u32) -> Result<Vec<CheckInRow>>;
    /// Attachments of an event.
    fn list_attachments(&self, project_id: i64, event_id: &str) -> Result<Vec<AttachmentRow>>;
    /// Events of a project received in `[from_ms, to_ms)` per hour: `(hour start ms,
    /// count)` for the hours that had any, oldest first.
    fn hourly_event_counts(
        &self,
        project_id: i64,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, u64)>>;
    /// Events of each of `issue_ids` (of project `project_id`) received since `from_ms`
    /// per hour: `(issue id, hour start ms, count)` for the hours that had any.
    fn issue_hourly_counts(
        &self,
        project_id: i64,
        issue_ids: &[i64],
        from_ms: i64,
    ) -> Result<Vec<(i64, i64, u64)>>;
    /// How many issues each project has in each status (for `/metrics`).
    fn issue_counts(&self) -> Result<Vec<(i64, String, u64)>>;
}

macro_rules! issue_cols {
    () => {
        "id, project_id, fingerprint, grouping_version, title, culprit, level, status, \
         substatus, platform, first_seen_ms, last_seen_ms, count, user_count, \
         unhandled_count, first_release, last_release, resolved_ms"
    };
}

macro_rules! event_cols {
    () => {
        "id, project_id, issue_id, event_id, timestamp_ms, received_ms, level, release, \
         environment, title, payload"
    };
}

fn issue_from_row(row: &dyn Row) -> Result<Issue> {
    Ok(Issue {
        id: row.get(0)?,
        project_id: row.get(1)?,
        fingerprint: row.get(2)?,
        grouping_version: row.get(3)?,
        title: row.get(4)?,
        culprit: row.get(5)?,
        level: row.name(6, "issues.level")?,
        status: row.name(7, "issues.status")?,
        substatus: row.name_opt(8, "issues.substatus")?,
        platform: row.get(9)?,
        first_seen_ms: row.get(10)?,
        last_seen_ms: row.get(11)?,
        count: batch::to_u64(row.get(12)?),
        user_count: batch::to_u64(row.get(13)?),
        unhandled_count: batch::to_u64(row.get(14)?),
        first_release: row.get(15)?,
        last_release: row.get(16)?,
        resolved_ms: row.get(17)?,
    })
}

fn event_from_row(row: &dyn Row) -> Result<StoredEvent> {
    Ok(StoredEvent {
        id: row.get(0)?,
        project_id: row.get(1)?,
        issue_id: row.get(2)?,
        event_id: row.get(3)?,
        timestamp_ms: row.get(4)?,
        received_ms: row.get(5)?,
        level: row.name(6, "events.level")?,
        release: row.get(7)?,
        environment: row.get(8)?,
        title: row.get(9)?,
        payload: row.get(10)?,
    })
}

fn seen_from_row(row: &dyn Row) -> Result<SeenValue> {
    Ok(SeenValue {
        value: row.get(0)?,
        count: batch::to_u64(row.get(1)?),
        first_seen_ms: row.get(2)?,
        last_seen_ms: row.get(3)?,
    })
}

impl<D: Db> EventStore for D {
    fn write_batch(&self, b: &WriteBatch) -> Result<BatchResult> {
        self.transaction(|c| batch::write_batch(c, b))
    }

    fn list_issues(&self, f: &IssueFilter) -> Result<Vec<Issue>> {
        let mut sql = String::from(concat!(
            "SELECT ",
            issue_cols!(),
            " FROM issues i WHERE project_id = ?1"
        ));
        let status = f.status.map(IssueStatus::as_str);
        let pattern = f
            .text
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(batch::like_pattern);
        let limit = batch::page_limit(f.limit);
        let offset = i64::from(f.offset);
        let mut args: Vec<Param<'_>> = vec![f.project_id.param()];
        if let Some(status) = status {
            sql.push_str(&format!(
                " AND status = {}",
                push_arg(&mut args, status.param())
            ));
        }
        if let Some(level) = &f.level {
            sql.push_str(&format!(
                " AND level = {}",
                push_arg(&mut args, level.param())
            ));
        }
        for (kind, value) in [
            (batch::KIND_RELEASE, &f.release),
            (batch::KIND_ENVIRONMENT, &f.environment),
        ] {
            if let Some(value) = value {
                let k = push_arg(&mut args, kind.param());
                let v = push_arg(&mut args, value.param());
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM issue_values v
                       WHERE v.issue_id = i.id AND v.kind = {k} AND v.value = {v})"
                ));
            }
        }
        if let Some(pattern) = &pattern {
            // Case-insensitive: ILIKE, and SQLite's LIKE is for ASCII, which covers titles
            // in practice.
            let p = push_arg(&mut args, pattern.param());
            sql.push_str(&format!(
                " AND (title ILIKE {p} ESCAPE '\\' OR culprit ILIKE {p} ESCAPE '\\')"
            ));
        }
        sql.push_str(match f.sort {
            IssueSort::LastSeen => " ORDER BY last_seen_ms DESC, id DESC",
            IssueSort::FirstSeen => " ORDER BY first_seen_ms DESC, id DESC",
            IssueSort::Count => " ORDER BY count DESC, id DESC",
        });
        let l = push_arg(&mut args, limit.param());
        let o = push_arg(&mut args, offset.param());
        sql.push_str(&format!(" LIMIT {l} OFFSET {o}"));
        self.read(|c| c.rows(&Sql::owned(sql), &args, issue_from_row))
    }

    fn get_issue(&self, id: i64) -> Result<Option<IssueDetail>> {
        self.read(|c| {
            let Some(issue) = c.row(
                sql!(concat!(
                    "SELECT ",
                    issue_cols!(),
                    " FROM issues WHERE id = ?1"
                )),
                params![id],
                issue_from_row,
            )?
            else {
                return Ok(None);
            };
            let mut values = |kind: &str| {
                c.rows(
                    sql!(
                        "SELECT value, count, first_seen_ms, last_seen_ms FROM issue_values
                         WHERE issue_id = ?1 AND kind = ?2 ORDER BY last_seen_ms DESC, value"
                    ),
                    params![id, kind],
                    seen_from_row,
                )
            };
            Ok(Some(IssueDetail {
                releases: values(batch::KIND_RELEASE)?,
                environments: values(batch::KIND_ENVIRONMENT)?,
                issue,
            }))
        })
    }

    fn set_issue_status(&self, id: i64, status: IssueStatus, now_ms: i64) -> Result<bool> {
        let change = issue::set_status(status, now_ms);
        let n = self.write(|c| {
            c.exec(
                sql!(
                    "UPDATE issues SET status = ?2, substatus = ?3,
                         resolved_ms = COALESCE(?4, resolved_ms)
                     WHERE id = ?1"
                ),
                params![
                    id,
                    change.status.as_str(),
                    change.substatus.map(Substatus::as_str),
                    change.resolved_ms
                ],
            )
        })?;
        Ok(n > 0)
    }

    fn list_events(
        &self,
        issue_id: i64,
        limit: u32,
        before_id: Option<i64>,
    ) -> Result<Vec<StoredEvent>> {
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    event_cols!(),
                    " FROM events WHERE issue_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
                )),
                params![
                    issue_id,
                    before_id.unwrap_or(i64::MAX),
                    batch::page_limit(limit)
                ],
                event_from_row,
            )
        })
    }

    fn latest_event(&self, issue_id: i64) -> Result<Option<StoredEvent>> {
        self.read(|c| {
            c.row(
                sql!(concat!(
                    "SELECT ",
                    event_cols!(),
                    " FROM events WHERE issue_id = ?1 ORDER BY id DESC LIMIT 1"
                )),
                params![issue_id],
                event_from_row,
            )
        })
    }

    fn get_event(&self, project_id: i64, event_id: &str) -> Result<Option<StoredEvent>> {
        self.read(|c| {
            c.row(
                sql!(concat!(
                    "SELECT ",
                    event_cols!(),
                    " FROM events WHERE project_id = ?1 AND event_id = ?2"
                )),
                params![project_id, event_id],
                event_from_row,
            )
        })
    }

    fn count_events(
        &self,
        project_id: i64,
        from_ms: i64,
        to_ms: i64,
        filter: &EventCountFilter,
    ) -> Result<u64> {
        let levels: Vec<&str> = filter.levels.iter().map(|l| l.as_str()).collect();
        // The filters compare before testing for NULL: PostgreSQL types a placeholder at
        // its first use.
        let n: i64 = self.read(|c| {
            c.value(
                sql!(
                    "SELECT COUNT(*) FROM events
                     WHERE project_id = ?1 AND received_ms >= ?2 AND received_ms < ?3
                       AND level = ANY(?4)
                       AND (environment = ?5 OR ?5 IS NULL)
                       AND (release = ?6 OR ?6 IS NULL)"
                ),
                params![
                    project_id,
                    from_ms,
                    to_ms,
                    levels,
                    filter.environment,
                    filter.release
                ],
            )
        })?;
        Ok(batch::to_u64(n))
    }

    fn count_events_by_hour(
        &self,
        project_id: i64,
        from_ms: i64,
        to_ms: i64,
        filter: &EventCountFilter,
    ) -> Result<Vec<(i64, u64)>> {
        let levels: Vec<&str> = filter.levels.iter().map(|l| l.as_str()).collect();
        // Whole hours come from the hourly counts; only the cut hours at the edges count
        // event rows, so 30 days cost ~720 counter rows rather than every event.
        let first = (from_ms + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS;
        let last = to_ms.div_euclid(HOUR_MS) * HOUR_MS;
        let (first, last) = if first < last {
            (first, last)
        } else {
            (to_ms, to_ms)
        };
        self.snapshot(|c| {
            let mut out: std::collections::BTreeMap<i64, u64> = Default::default();
            for (from, to) in [(from_ms, first), (last, to_ms)] {
                if from >= to {
                    continue;
                }
                let rows = c.rows(
                    sql!(
                        "SELECT received_ms / 3600000, COUNT(*) FROM events
                         WHERE project_id = ?1 AND received_ms >= ?2 AND received_ms < ?3
                           AND level = ANY(?4)
                           AND (environment = ?5 OR ?5 IS NULL)
                           AND (release = ?6 OR ?6 IS NULL)
                         GROUP BY received_ms / 3600000"
                    ),
                    params![
                        project_id,
                        from,
                        to,
                        levels,
                        filter.environment,
                        filter.release
                    ],
                    |r| Ok((r.get::<i64>(0)? * HOUR_MS, batch::to_u64(r.get(1)?))),
                )?;
                for (hour, n) in rows {
                    *out.entry(hour).or_default() += n;
                }
            }
            if first < last {
                let rows = c.rows(
                    sql!(
                        "SELECT hour_ms, CAST(SUM(count) AS BIGINT) FROM event_hours
                         WHERE project_id = ?1 AND hour_ms >= ?2 AND hour_ms < ?3
                           AND level = ANY(?4)
                           AND (environment = ?5 OR ?5 IS NULL)
                           AND (release = ?6 OR ?6 IS NULL)
                         GROUP BY hour_ms"
                    ),
                    params![
                        project_id,
                        first,
                        last,
                        levels,
                        filter.environment,
                        filter.release
                    ],
                    |r| Ok((r.get::<i64>(0)?, batch::to_u64(r.get(1)?))),
                )?;
                for (hour, n) in rows {
                    *out.entry(hour).or_default() += n;
                }
            }
            out.retain(|_, n| *n > 0);
            Ok(out.into_iter().collect())
        })
    }

    fn delete_events_before(&self, project_id: i64, cutoff_ms: i64) -> Result<u64> {
        self.transaction(|c| {
            c.exec(
                sql!(
                    "DELETE FROM attachments WHERE project_id = ?1 AND event_id IN
                         (SELECT event_id FROM events WHERE project_id = ?1 AND received_ms < ?2)"
                ),
                params![project_id, cutoff_ms],
            )?;
            c.exec(
                sql!("DELETE FROM events WHERE project_id = ?1 AND received_ms < ?2"),
                params![project_id, cutoff_ms],
            )
        })
    }

    fn outcome_total(
        &self,
        project_id: i64,
        category: &str,
        outcome: &str,
        since_ms: i64,
    ) -> Result<u64> {
        let total: i64 = self.read(|c| {
            c.value(
                sql!(
                    "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM outcomes
                     WHERE project_id = ?1 AND category = ?2 AND outcome = ?3
                       AND bucket_ms >= ?4"
                ),
                params![project_id, category, outcome, since_ms],
            )
        })?;
        Ok(batch::to_u64(total))
    }

    fn outcome_summary(&self, project_id: i64, since_ms: i64) -> Result<Vec<OutcomeCount>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT outcome, category, reason, CAST(SUM(quantity) AS BIGINT)
                     FROM outcomes WHERE project_id = ?1 AND bucket_ms >= ?2
                     GROUP BY outcome, category, reason ORDER BY outcome, category, reason"
                ),
                params![project_id, since_ms],
                |r| {
                    Ok(OutcomeCount {
                        outcome: r.get(0)?,
                        category: r.get(1)?,
                        reason: r.get(2)?,
                        quantity: batch::to_u64(r.get(3)?),
                    })
                },
            )
        })
    }

    fn release_health(&self, project_id: i64, since_ms: i64) -> Result<Vec<ReleaseHealth>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT release, environment, CAST(SUM(healthy) AS BIGINT),
                         CAST(SUM(errored) AS BIGINT), CAST(SUM(crashed) AS BIGINT),
                         CAST(SUM(abnormal) AS BIGINT)
                     FROM session_counts WHERE project_id = ?1 AND bucket_ms >= ?2
                     GROUP BY release, environment ORDER BY release, environment"
                ),
                params![project_id, since_ms],
                |r| {
                    let healthy = batch::to_u64(r.get(2)?);
                    let errored = batch::to_u64(r.get(3)?);
                    let crashed = batch::to_u64(r.get(4)?);
                    let abnormal = batch::to_u64(r.get(5)?);
                    let sessions = healthy + errored + crashed + abnormal;
                    Ok(ReleaseHealth {
                        release: r.get(0)?,
                        environment: r.get(1)?,
                        sessions,
                        crashed,
                        errored,
                        abnormal,
                        crash_free_rate: batch::crash_free_rate(sessions, crashed),
                    })
                },
            )
        })
    }

    fn list_transactions(
        &self,
        project_id: i64,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<TransactionRow>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT project_id, event_id, name, op, status, start_ms, duration_ms,
                         release, environment
                     FROM transactions WHERE project_id = ?1 AND start_ms >= ?2
                     ORDER BY start_ms DESC, id DESC LIMIT ?3"
                ),
                params![project_id, since_ms, batch::page_limit(limit)],
                |r| {
                    Ok(TransactionRow {
                        project_id: r.get(0)?,
                        event_id: r.get(1)?,
                        name: r.get(2)?,
                        op: r.get(3)?,
                        status: r.get(4)?,
                        start_ms: r.get(5)?,
                        duration_ms: r.get(6)?,
                        release: r.get(7)?,
                        environment: r.get(8)?,
                    })
                },
            )
        })
    }

    fn list_check_ins(&self, project_id: i64, limit: u32) -> Result<Vec<CheckInRow>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT project_id, check_in_id, monitor_slug, status, duration_s,
                         environment, monitor_config, received_ms
                     FROM check_ins WHERE project_id = ?1
                     ORDER BY received_ms DESC, id DESC LIMIT ?2"
                ),
                params![project_id, batch::page_limit(limit)],
                |r| {
                    Ok(CheckInRow {
                        project_id: r.get(0)?,
                        check_in_id: r.get(1)?,
                        monitor_slug: r.get(2)?,
                        status: r.name(3, "check_ins.status")?,
                        duration_s: r.get(4)?,
                        environment: r.get(5)?,
                        monitor_config: r.get(6)?,
                        received_ms: r.get(7)?,
                    })
                },
            )
        })
    }

    fn hourly_event_counts(
        &self,
        project_id: i64,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, u64)>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT received_ms / 3600000 AS h, COUNT(*) FROM events
                     WHERE project_id = ?1 AND received_ms >= ?2 AND received_ms < ?3
                     GROUP BY h ORDER BY h"
                ),
                params![project_id, from_ms, to_ms],
                |r| Ok((r.get::<i64>(0)? * 3_600_000, batch::to_u64(r.get(1)?))),
            )
        })
    }

    fn issue_hourly_counts(
        &self,
        project_id: i64,
        issue_ids: &[i64],
        from_ms: i64,
    ) -> Result<Vec<(i64, i64, u64)>> {
        if issue_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|c| {
            // Ids follow arrival, so the first event received since `from_ms` bounds the
            // range of each issue's `(issue_id, id)` index: a busy issue's older events
            // are never visited. (An event stored out of arrival order right at the
            // boundary may be missed: these counts draw sparklines.)
            let first: Option<i64> = c.row(
                sql!(
                    "SELECT id FROM events WHERE project_id = ?1 AND received_ms >= ?2
                     ORDER BY received_ms LIMIT 1"
                ),
                params![project_id, from_ms],
                |r| r.get(0),
            )?;
            let Some(first) = first else {
                return Ok(Vec::new());
            };
            c.rows(
                sql!(
                    "SELECT issue_id, received_ms / 3600000 AS h, COUNT(*) FROM events
                     WHERE issue_id = ANY(?1) AND id >= ?3 AND received_ms >= ?2
                     GROUP BY issue_id, h"
                ),
                params![issue_ids, from_ms, first],
                |r| {
                    Ok((
                        r.get::<i64>(0)?,
                        r.get::<i64>(1)? * 3_600_000,
                        batch::to_u64(r.get(2)?),
                    ))
                },
            )
        })
    }

    fn issue_counts(&self) -> Result<Vec<(i64, String, u64)>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT project_id, status, COUNT(*) FROM issues
                     GROUP BY project_id, status ORDER BY project_id, status"
                ),
                &[],
                |r| Ok((r.get(0)?, r.get(1)?, batch::to_u64(r.get(2)?))),
            )
        })
    }

    fn list_attachments(&self, project_id: i64, event_id: &str) -> Result<Vec<AttachmentRow>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT project_id, event_id, filename, content_type, attachment_type, data,
                         size, received_ms
                     FROM attachments WHERE project_id = ?1 AND event_id = ?2 ORDER BY id"
                ),
                params![project_id, event_id],
                |r| {
                    Ok(AttachmentRow {
                        project_id: r.get(0)?,
                        event_id: r.get(1)?,
                        filename: r.get(2)?,
                        content_type: r.get(3)?,
                        attachment_type: r.get(4)?,
                        data: r.get(5)?,
                        size: batch::to_u64(r.get(6)?),
                        received_ms: r.get(7)?,
                    })
                },
            )
        })
    }
}

static ISSUES: Insert = Insert::new(
    "issues",
    &[
        ("project_id", Ty::Int8),
        ("fingerprint", Ty::Text),
        ("grouping_version", Ty::Text),
        ("title", Ty::Text),
        ("culprit", Ty::Text),
        ("level", Ty::Text),
        ("status", Ty::Text),
        ("substatus", Ty::Text),
        ("platform", Ty::Text),
        ("first_seen_ms", Ty::Int8),
        ("last_seen_ms", Ty::Int8),
        ("count", Ty::Int8),
        ("user_count", Ty::Int8),
        ("unhandled_count", Ty::Int8),
        ("first_release", Ty::Text),
        ("last_release", Ty::Text),
    ],
    "ON CONFLICT (project_id, fingerprint) DO NOTHING",
    Returns::Written(&["project_id", "fingerprint"]),
);

static EVENTS: Insert = Insert::new(
    "events",
    &[
        ("project_id", Ty::Int8),
        ("issue_id", Ty::Int8),
        ("event_id", Ty::Text),
        ("timestamp_ms", Ty::Int8),
        ("received_ms", Ty::Int8),
        ("level", Ty::Text),
        ("release", Ty::Text),
        ("environment", Ty::Text),
        ("title", Ty::Text),
        ("payload", Ty::Bytea),
    ],
    "ON CONFLICT (project_id, event_id) DO NOTHING",
    Returns::Written(&["project_id", "event_id"]),
);

static USERS: Insert = Insert::new(
    "issue_users",
    &[("issue_id", Ty::Int8), ("user_key", Ty::Text)],
    "ON CONFLICT DO NOTHING",
    Returns::Written(&["issue_id", "user_key"]),
);

static VALUES: Insert = Insert::new(
    "issue_values",
    &[
        ("issue_id", Ty::Int8),
        ("kind", Ty::Text),
        ("value", Ty::Text),
        ("count", Ty::Int8),
        ("first_seen_ms", Ty::Int8),
        ("last_seen_ms", Ty::Int8),
    ],
    "ON CONFLICT (issue_id, kind, value) DO UPDATE SET
         count = issue_values.count + excluded.count,
         first_seen_ms = LEAST(issue_values.first_seen_ms, excluded.first_seen_ms),
         last_seen_ms = GREATEST(issue_values.last_seen_ms, excluded.last_seen_ms)",
    Returns::Nothing,
);

static EVENT_HOURS: Insert = Insert::new(
    "event_hours",
    &[
        ("project_id", Ty::Int8),
        ("hour_ms", Ty::Int8),
        ("level", Ty::Text),
        ("environment", Ty::Text),
        ("release", Ty::Text),
        ("count", Ty::Int8),
    ],
    "ON CONFLICT (project_id, hour_ms, level, environment, release) DO UPDATE SET
         count = event_hours.count + excluded.count",
    Returns::Nothing,
);

static ISSUE_UPDATES: Update = Update::new(
    "issues",
    "count = count + ?2,
     user_count = user_count + ?3,
     unhandled_count = unhandled_count + ?4,
     first_seen_ms = LEAST(first_seen_ms, ?5),
     last_seen_ms = GREATEST(last_seen_ms, ?6),
     status = ?7,
     substatus = ?8,
     title = COALESCE(?9, title),
     culprit = COALESCE(?10, culprit),
     level = COALESCE(?11, level),
     last_release = COALESCE(?12, last_release)",
    "id = ?1",
    &[
        Ty::Int8,
        Ty::Int8,
        Ty::Int8,
        Ty::Int8,
        Ty::Int8,
        Ty::Int8,
        Ty::Text,
        Ty::Text,
        Ty::Text,
        Ty::Text,
        Ty::Text,
        Ty::Text,
    ],
);

/// Signals, ids assigned in order. On SQLite each row's id is the last insert's row id:
/// `RETURNING` would gather rows in a temporary table, which cost 7 % of the writer's time.
pub(crate) static SIGNALS: Insert = Insert::new(
    "signals",
    &[
        ("kind", Ty::Text),
        ("project_id", Ty::Int8),
        ("issue_id", Ty::Int8),
        ("event_id", Ty::Text),
        ("monitor_id", Ty::Int8),
        ("detail", Ty::Text),
        ("created_ms", Ty::Int8),
    ],
    "",
    Returns::Ids,
);

/// Records signals in order, assigning their ids.
pub(crate) fn insert_signals(c: &mut dyn Conn, signals: &mut [Signal]) -> Result<()> {
    // Held until commit: signal ids then become visible in id order, so a reader paging
    // with `id > last_seen` cannot skip a signal committed late by another instance.
    c.lock(Lock::Signals)?;
    let mut args = Vec::with_capacity(signals.len() * SIGNALS.columns.len());
    for s in signals.iter() {
        args.extend_from_slice(params![
            s.kind.as_str(),
            s.project_id,
            s.issue_id,
            s.event_id,
            s.monitor_id,
            s.detail,
            s.created_ms
        ]);
    }
    let ids = c.insert_ids(&SIGNALS, &args)?;
    for (s, id) in signals.iter_mut().zip(ids) {
        s.id = id;
    }
    Ok(())
}

/// Locks the project's issues with these fingerprints, in fingerprint order (the same
/// order every instance uses, so they cannot deadlock).
fn lock_issues(
    c: &mut dyn Conn,
    project_id: i64,
    fingerprints: &[&str],
) -> Result<HashMap<String, IssueState>> {
    let rows = c.rows(
        sql!(
            "SELECT id, fingerprint, status, substatus, last_seen_ms FROM issues
             WHERE project_id = ?1 AND fingerprint = ANY(?2)
             ORDER BY fingerprint FOR UPDATE"
        ),
        params![project_id, fingerprints],
        |r| {
            Ok((
                r.get::<String>(1)?,
                IssueState {
                    id: r.get(0)?,
                    created: false,
                    status: r.name(2, "issues.status")?,
                    substatus: r.name_opt(3, "issues.substatus")?,
                    last_seen_ms: r.get(4)?,
                },
            ))
        },
    )?;
    Ok(rows.into_iter().collect())
}

impl BatchTx for dyn Conn + '_ {
    fn existing_events(&mut self, project_id: i64, ids: &[&str]) -> Result<HashMap<String, i64>> {
        let rows = self.rows(
            sql!("SELECT event_id, issue_id FROM events WHERE project_id = ?1 AND event_id = ANY(?2)"),
            params![project_id, ids],
            |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
        )?;
        Ok(rows.into_iter().collect())
    }

    fn find_or_create_issues(
        &mut self,
        project_id: i64,
        groups: &[(&NewEvent, i64)],
    ) -> Result<Vec<IssueState>> {
        let fingerprints: Vec<&str> = groups.iter().map(|(e, _)| e.fingerprint.as_str()).collect();
        let mut found = lock_issues(self, project_id, &fingerprints)?;
        let missing: Vec<&(&NewEvent, i64)> = groups
            .iter()
            .filter(|(e, _)| !found.contains_key(&e.fingerprint))
            .collect();
        if !missing.is_empty() {
            let mut args = Vec::with_capacity(missing.len() * ISSUES.columns.len());
            for (e, first_seen) in &missing {
                args.extend_from_slice(params![
                    project_id,
                    e.fingerprint,
                    e.grouping_version,
                    e.title,
                    e.culprit,
                    e.level,
                    IssueStatus::Unresolved.as_str(),
                    Substatus::New.as_str(),
                    e.platform,
                    first_seen,
                    first_seen,
                    0i64,
                    0i64,
                    0i64,
                    e.release,
                    e.release
                ]);
            }
            let created = self.insert_new(&ISSUES, &args)?;
            // Created here, or by another instance since the look-up: its insert has
            // committed (ours waited for it), so the row is there to lock now.
            let fresh: Vec<&str> = missing
                .iter()
                .map(|(e, _)| e.fingerprint.as_str())
                .collect();
            let mut locked = lock_issues(self, project_id, &fresh)?;
            for ((e, _), created) in missing.iter().zip(created) {
                if let Some(state) = locked.get_mut(&e.fingerprint) {
                    state.created = created;
                }
            }
            found.extend(locked);
        }
        groups
            .iter()
            .map(|(e, _)| {
                found
                    .remove(&e.fingerprint)
                    .ok_or_else(|| StoreError::Corrupt(format!("issue {} vanished", e.fingerprint)))
            })
            .collect()
    }

    fn insert_events(&mut self, rows: &[(i64, &NewEvent)]) -> Result<Vec<bool>> {
        let mut args = Vec::with_capacity(rows.len() * EVENTS.columns.len());
        for (issue_id, e) in rows {
            args.extend_from_slice(params![
                e.project_id,
                issue_id,
                e.event_id,
                e.timestamp_ms,
                e.received_ms,
                e.level,
                e.release,
                e.environment,
                e.title,
                e.payload
            ]);
        }
        self.insert_new(&EVENTS, &args)
    }

    fn insert_users(&mut self, rows: &[(i64, &str)]) -> Result<Vec<bool>> {
        let mut args = Vec::with_capacity(rows.len() * 2);
        for (issue_id, key) in rows {
            args.extend_from_slice(params![issue_id, key]);
        }
        self.insert_new(&USERS, &args)
    }

    fn upsert_values(&mut self, rows: &[(i64, ValueUpdate<'_>)]) -> Result<()> {
        let mut args = Vec::with_capacity(rows.len() * VALUES.columns.len());
        for (issue_id, v) in rows {
            args.extend_from_slice(params![
                issue_id,
                v.kind,
                v.value,
                v.count,
                v.first_seen_ms,
                v.last_seen_ms
            ]);
        }
        self.insert_all(&VALUES, &args)
    }

    fn update_issues(&mut self, updates: &[IssueUpdate<'_>]) -> Result<()> {
        let mut args = Vec::with_capacity(updates.len() * ISSUE_UPDATES.params.len());
        for u in updates {
            args.extend_from_slice(params![
                u.id,
                u.add_count,
                u.add_users,
                u.add_unhandled,
                u.first_seen_ms,
                u.last_seen_ms,
                u.status.as_str(),
                u.substatus.map(Substatus::as_str),
                u.latest.map(|e| e.title.as_str()),
                u.latest.map(|e| e.culprit.as_str()),
                u.latest.map(|e| e.level.as_str()),
                u.latest.and_then(|e| e.release.as_deref())
            ]);
        }
        self.update(&ISSUE_UPDATES, &args)
    }

    fn delete_issue(&mut self, id: i64) -> Result<()> {
        self.exec(sql!("DELETE FROM issues WHERE id = ?1"), params![id])
            .map(drop)
    }

    fn insert_signals(&mut self, signals: &mut [Signal]) -> Result<()> {
        insert_signals(self, signals)
    }

    fn insert_transaction(&mut self, t: &TransactionRow) -> Result<()> {
        self.exec(
            sql!(
                "INSERT INTO transactions (project_id, event_id, name, op, status, start_ms,
                     duration_ms, release, environment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (project_id, event_id) DO NOTHING"
            ),
            params![
                t.project_id,
                t.event_id,
                t.name,
                t.op,
                t.status,
                t.start_ms,
                t.duration_ms,
                t.release,
                t.environment
            ],
        )
        .map(drop)
    }

    fn add_latency(&mut self, rows: &[crate::LatencySample]) -> Result<()> {
        crate::latency::add_samples(self, rows)
    }

    fn add_sessions(&mut self, s: &SessionCounts) -> Result<()> {
        self.exec(
            sql!(
                "INSERT INTO session_counts (project_id, release, environment, bucket_ms,
                     healthy, errored, crashed, abnormal)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (project_id, release, environment, bucket_ms) DO UPDATE SET
                     healthy = session_counts.healthy + excluded.healthy,
                     errored = session_counts.errored + excluded.errored,
                     crashed = session_counts.crashed + excluded.crashed,
                     abnormal = session_counts.abnormal + excluded.abnormal"
            ),
            params![
                s.project_id,
                s.release,
                s.environment,
                s.bucket_ms,
                batch::to_i64(s.healthy),
                batch::to_i64(s.errored),
                batch::to_i64(s.crashed),
                batch::to_i64(s.abnormal)
            ],
        )
        .map(drop)
    }

    fn insert_check_in(&mut self, r: &CheckInRow) -> Result<()> {
        self.exec(
            sql!(
                "INSERT INTO check_ins (project_id, check_in_id, monitor_slug, status,
                     duration_s, environment, monitor_config, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            params![
                r.project_id,
                r.check_in_id,
                r.monitor_slug,
                r.status,
                r.duration_s,
                r.environment,
                r.monitor_config,
                r.received_ms
            ],
        )
        .map(drop)
    }

    fn insert_attachment(&mut self, a: &AttachmentRow) -> Result<()> {
        self.exec(
            sql!(
                "INSERT INTO attachments (project_id, event_id, filename, content_type,
                     attachment_type, data, size, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ),
            params![
                a.project_id,
                a.event_id,
                a.filename,
                a.content_type,
                a.attachment_type,
                a.data,
                batch::to_i64(a.size),
                a.received_ms
            ],
        )
        .map(drop)
    }

    fn add_outcome(&mut self, o: &OutcomeIncrement) -> Result<()> {
        self.exec(
            sql!(
                "INSERT INTO outcomes (project_id, bucket_ms, outcome, category, reason,
                     quantity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (project_id, bucket_ms, outcome, category, reason) DO UPDATE SET
                     quantity = outcomes.quantity + excluded.quantity"
            ),
            params![
                o.project_id,
                o.bucket_ms,
                o.outcome,
                o.category,
                o.reason,
                batch::to_i64(o.quantity)
            ],
        )
        .map(drop)
    }

    fn add_event_hours(&mut self, rows: &[EventHour<'_>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut args = Vec::with_capacity(rows.len() * EVENT_HOURS.columns.len());
        for r in rows {
            args.extend_from_slice(params![
                r.project_id,
                r.hour_ms,
                r.level,
                r.environment,
                r.release,
                r.count
            ]);
        }
        self.insert_all(&EVENT_HOURS, &args)
    }
}
