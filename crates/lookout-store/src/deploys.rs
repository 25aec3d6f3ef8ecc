//! Deploys: a release put into an environment, its verification (each check's result, the
//! verdict, any rollback) and the watch that judges the release by what it does after.

use serde::Serialize;

use crate::alert_batch::{json_from_db, json_to_db};
use crate::events::insert_signals;
use crate::sql::{params, push_arg, sql, Conn, Param, Row, Sql, ToParam};
use lookout_core::deploy_watch::{ReleaseCounts, WatchCounts};
use lookout_core::signal::Signal;

use crate::model::EventCountFilter;
use crate::{batch, Db, EventStore, LatencyQuery, LatencyStore, Result, StoreError, KIND_REQUEST};

/// A deploy to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeploy {
    /// The project deployed.
    pub project_id: i64,
    /// e.g. `production`.
    pub environment: String,
    /// The release deployed (as the SDKs send it).
    pub release: String,
    /// A name for this deploy (Sentry's `name`), e.g. the pipeline run.
    pub name: Option<String>,
    /// A link to it (Sentry's `url`), e.g. the CI run.
    pub url: Option<String>,
    /// The commit deployed.
    pub commit: Option<String>,
    /// When it started, Unix ms.
    pub started_ms: i64,
    /// When it finished (verification and any rollback included), Unix ms.
    pub finished_ms: Option<i64>,
    /// `passed`, `failed`, `rolled_back`, `rollback_failed`; none for a deploy recorded
    /// without verification.
    pub verdict: Option<String>,
    /// Each check's result, as `deploy verify` reports it (a JSON array).
    pub checks: serde_json::Value,
    /// The rollback, when one ran.
    pub rollback: Option<serde_json::Value>,
    /// When the watch after the deploy ends and judges the release; none: not watched.
    pub watch_until_ms: Option<i64>,
    /// When it was recorded.
    pub now_ms: i64,
}

/// A recorded deploy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deploy {
    /// Id.
    pub id: i64,
    /// The project deployed.
    pub project_id: i64,
    /// e.g. `production`.
    pub environment: String,
    /// The release deployed.
    pub release: String,
    /// Its name.
    pub name: Option<String>,
    /// A link to it.
    pub url: Option<String>,
    /// The commit deployed.
    pub commit: Option<String>,
    /// Started, Unix ms.
    pub started_ms: i64,
    /// Finished, Unix ms.
    pub finished_ms: Option<i64>,
    /// The verification's verdict.
    pub verdict: Option<String>,
    /// Each check's result.
    pub checks: serde_json::Value,
    /// The rollback, when one ran.
    pub rollback: Option<serde_json::Value>,
    /// When the watch ends, Unix ms.
    pub watch_until_ms: Option<i64>,
    /// The watch's verdict (`good` or `bad`) once judged.
    pub watch_verdict: Option<String>,
    /// The watch's figures once judged.
    pub watch: Option<serde_json::Value>,
    /// Recorded, Unix ms.
    pub created_ms: i64,
}

/// Which deploys to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeployFilter {
    /// Only this project's.
    pub project_id: Option<i64>,
    /// Only to this environment.
    pub environment: Option<String>,
    /// Only of this release.
    pub release: Option<String>,
    /// At most this many (0: 100).
    pub limit: u32,
}

/// Deploys and their verdicts.
pub trait DeployStore: Send + Sync + 'static {
    /// Records a deploy.
    fn create_deploy(&self, new: &NewDeploy) -> Result<Deploy>;
    /// Deploys matching `filter`, newest (by start) first.
    fn list_deploys(&self, filter: &DeployFilter) -> Result<Vec<Deploy>>;
    /// One deploy.
    fn get_deploy(&self, id: i64) -> Result<Option<Deploy>>;
    /// For each time in `times`, the project's latest deploy started at or before it:
    /// which deploy came before an issue's first event.
    fn deploys_before(&self, project_id: i64, times: &[i64]) -> Result<Vec<Option<Deploy>>>;
    /// Deploys whose watch ended at or before `now_ms` and is not judged yet, oldest first.
    fn watches_due(&self, now_ms: i64) -> Result<Vec<Deploy>>;
    /// Records the watch's verdict and figures; false when it was already judged (another
    /// instance did it), so the verdict is acted on once.
    fn judge_deploy(&self, id: i64, verdict: &str, figures: &serde_json::Value) -> Result<bool> {
        self.judge_deploy_signalling(id, verdict, figures, None)
    }
    /// [`DeployStore::judge_deploy`], recording `signal` (the alert engine's `deploy_bad`)
    /// in the same transaction when this call is the one that judges, so a verdict raises
    /// its signal exactly once even with several instances judging; its id is set.
    fn judge_deploy_signalling(
        &self,
        id: i64,
        verdict: &str,
        figures: &serde_json::Value,
        signal: Option<&mut Signal>,
    ) -> Result<bool>;
    /// Replaces a judged deploy's figures (the rollback hook adds how it went); the
    /// verdict stays.
    fn set_watch_figures(&self, id: i64, figures: &serde_json::Value) -> Result<()>;
    /// What the watch after deploy `d` counts in `[from_ms, until_ms)` and in as long a
    /// window before it: errors in its environment, issues first seen in its release,
    /// issues with unhandled errors from its release, and its release's sessions.
    fn watch_counts(&self, d: &Deploy, from_ms: i64, until_ms: i64) -> Result<WatchCounts>;
    /// What `release` did in `[from_ms, until_ms)` (in `environment`, when given): its
    /// errors, requests and their p95, new issues, issues with unhandled errors, sessions.
    /// Requests (transactions and v2 segment spans) are read from the latency histograms,
    /// which are kept per minute: the window's first minute counts whole.
    fn release_counts(
        &self,
        project_id: i64,
        release: &str,
        environment: Option<&str>,
        from_ms: i64,
        until_ms: i64,
    ) -> Result<ReleaseCounts>;
}

/// Issues first seen in `release` in `[from_ms, until_ms)`.
fn new_issues(
    c: &mut dyn Conn,
    project_id: i64,
    release: &str,
    from_ms: i64,
    until_ms: i64,
) -> Result<u64> {
    let n: i64 = c.value(
        sql!(
            "SELECT COUNT(*) FROM issues
             WHERE project_id = ?1 AND first_release = ?2
               AND first_seen_ms >= ?3 AND first_seen_ms < ?4"
        ),
        params![project_id, release, from_ms, until_ms],
    )?;
    Ok(batch::to_u64(n))
}

/// Issues with unhandled errors from `release` in `[from_ms, until_ms)`, read from the
/// `unhandled` signals the writer records (one per issue and batch).
fn unhandled_issues(
    c: &mut dyn Conn,
    project_id: i64,
    release: &str,
    from_ms: i64,
    until_ms: i64,
) -> Result<u64> {
    let n: i64 = c.value(
        sql!(
            "SELECT COUNT(DISTINCT s.issue_id) FROM signals s
             JOIN events e ON e.project_id = s.project_id AND e.event_id = s.event_id
             WHERE s.kind = 'unhandled' AND s.project_id = ?1
               AND s.created_ms >= ?2 AND s.created_ms < ?3 AND e.release = ?4"
        ),
        params![project_id, from_ms, until_ms, release],
    )?;
    Ok(batch::to_u64(n))
}

/// Sessions of `release` and how many crashed. They are kept in hour buckets of their
/// start, so every bucket the window touches counts.
fn session_counts(
    c: &mut dyn Conn,
    project_id: i64,
    release: &str,
    environment: Option<&str>,
    from_ms: i64,
    until_ms: i64,
) -> Result<(u64, u64)> {
    let first_bucket = from_ms - from_ms.rem_euclid(3_600_000);
    let (sessions, crashed) = c
        .row(
            sql!(
                "SELECT CAST(COALESCE(SUM(healthy + errored + crashed + abnormal), 0) AS BIGINT),
                     CAST(COALESCE(SUM(crashed), 0) AS BIGINT)
                 FROM session_counts
                 WHERE project_id = ?1 AND release = ?2
                   AND bucket_ms >= ?3 AND bucket_ms < ?4
                   AND (environment = ?5 OR ?5 IS NULL)"
            ),
            params![project_id, release, first_bucket, until_ms, environment],
            |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
        )?
        .unwrap_or((0, 0));
    Ok((batch::to_u64(sessions), batch::to_u64(crashed)))
}

macro_rules! deploy_cols {
    () => {
        "id, project_id, environment, release, name, url, commit_sha, started_ms, finished_ms,
         verdict, checks, rollback, watch_until_ms, watch_verdict, watch, created_ms"
    };
}

fn deploy_from_row(r: &dyn Row) -> Result<Deploy> {
    let json = |i: usize, what: &str| -> Result<Option<serde_json::Value>> {
        r.get::<Option<String>>(i)?
            .map(|t| json_from_db(&t, what))
            .transpose()
    };
    Ok(Deploy {
        id: r.get(0)?,
        project_id: r.get(1)?,
        environment: r.get(2)?,
        release: r.get(3)?,
        name: r.get(4)?,
        url: r.get(5)?,
        commit: r.get(6)?,
        started_ms: r.get(7)?,
        finished_ms: r.get(8)?,
        verdict: r.get(9)?,
        checks: json(10, "deploy checks")?.unwrap_or(serde_json::Value::Null),
        rollback: json(11, "deploy rollback")?,
        watch_until_ms: r.get(12)?,
        watch_verdict: r.get(13)?,
        watch: json(14, "deploy watch")?,
        created_ms: r.get(15)?,
    })
}

fn deploy_before(c: &mut dyn Conn, project_id: i64, at_ms: i64) -> Result<Option<Deploy>> {
    c.row(
        sql!(concat!(
            "SELECT ",
            deploy_cols!(),
            " FROM deploys WHERE project_id = ?1 AND started_ms <= ?2
             ORDER BY started_ms DESC, id DESC LIMIT 1"
        )),
        params![project_id, at_ms],
        deploy_from_row,
    )
}

impl<D: Db> DeployStore for D {
    fn watch_counts(&self, d: &Deploy, from_ms: i64, until_ms: i64) -> Result<WatchCounts> {
        let window = until_ms - from_ms;
        let errors = EventCountFilter {
            environment: Some(d.environment.clone()),
            ..EventCountFilter::default()
        };
        let errors_before = self.count_events(d.project_id, from_ms - window, from_ms, &errors)?;
        let errors_after = self.count_events(d.project_id, from_ms, until_ms, &errors)?;
        self.read(|c| {
            let (sessions, crashed) = session_counts(
                c,
                d.project_id,
                &d.release,
                Some(&d.environment),
                from_ms,
                until_ms,
            )?;
            Ok(WatchCounts {
                window_ms: window,
                errors_before,
                errors_after,
                new_issues: new_issues(c, d.project_id, &d.release, from_ms, until_ms)?,
                unhandled: unhandled_issues(c, d.project_id, &d.release, from_ms, until_ms)?,
                sessions,
                crashed,
            })
        })
    }

    fn release_counts(
        &self,
        project_id: i64,
        release: &str,
        environment: Option<&str>,
        from_ms: i64,
        until_ms: i64,
    ) -> Result<ReleaseCounts> {
        let errors = self.count_events(
            project_id,
            from_ms,
            until_ms,
            &EventCountFilter {
                environment: environment.map(str::to_string),
                release: Some(release.to_string()),
                ..EventCountFilter::default()
            },
        )?;
        // Every request is in the histograms (a row per transaction is kept too, but
        // not per segment span), so the count is whole and the p95 is that of all of them,
        // within half a histogram bucket (0.5 %).
        let requests = self
            .latency_total(&LatencyQuery {
                kind: KIND_REQUEST,
                owner_id: project_id,
                from_ms,
                to_ms: until_ms,
                name: None,
                release: Some(release.to_string()),
                environment: environment.map(str::to_string),
            })?
            .hist;
        self.read(|c| {
            let (sessions, crashed) =
                session_counts(c, project_id, release, environment, from_ms, until_ms)?;
            Ok(ReleaseCounts {
                errors,
                requests: requests.count(),
                new_issues: new_issues(c, project_id, release, from_ms, until_ms)?,
                unhandled: unhandled_issues(c, project_id, release, from_ms, until_ms)?,
                sessions,
                crashed,
                request_p95_ms: requests.quantile(95.0),
            })
        })
    }

    fn create_deploy(&self, new: &NewDeploy) -> Result<Deploy> {
        let checks = json_to_db(&new.checks);
        let rollback = new.rollback.as_ref().map(json_to_db);
        self.write(|c| {
            c.row(
                sql!(concat!(
                    "INSERT INTO deploys (project_id, environment, release, name, url,
                         commit_sha, started_ms, finished_ms, verdict, checks, rollback,
                         watch_until_ms, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     RETURNING ",
                    deploy_cols!()
                )),
                params![
                    new.project_id,
                    new.environment,
                    new.release,
                    new.name,
                    new.url,
                    new.commit,
                    new.started_ms,
                    new.finished_ms,
                    new.verdict,
                    checks,
                    rollback,
                    new.watch_until_ms,
                    new.now_ms
                ],
                deploy_from_row,
            )?
            .ok_or_else(|| StoreError::Corrupt("the new deploy was not returned".into()))
        })
    }

    fn list_deploys(&self, f: &DeployFilter) -> Result<Vec<Deploy>> {
        let mut text = String::from(concat!(
            "SELECT ",
            deploy_cols!(),
            " FROM deploys WHERE 1 = 1"
        ));
        let limit = i64::from(if f.limit == 0 { 100 } else { f.limit });
        let mut args: Vec<Param<'_>> = Vec::new();
        if let Some(p) = &f.project_id {
            text.push_str(&format!(
                " AND project_id = {}",
                push_arg(&mut args, p.param())
            ));
        }
        if let Some(e) = &f.environment {
            text.push_str(&format!(
                " AND environment = {}",
                push_arg(&mut args, e.param())
            ));
        }
        if let Some(r) = &f.release {
            text.push_str(&format!(
                " AND release = {}",
                push_arg(&mut args, r.param())
            ));
        }
        let l = push_arg(&mut args, limit.param());
        text.push_str(&format!(" ORDER BY started_ms DESC, id DESC LIMIT {l}"));
        self.read(|c| c.rows(&Sql::owned(text), &args, deploy_from_row))
    }

    fn get_deploy(&self, id: i64) -> Result<Option<Deploy>> {
        self.read(|c| {
            c.row(
                sql!(concat!(
                    "SELECT ",
                    deploy_cols!(),
                    " FROM deploys WHERE id = ?1"
                )),
                params![id],
                deploy_from_row,
            )
        })
    }

    fn deploys_before(&self, project_id: i64, times: &[i64]) -> Result<Vec<Option<Deploy>>> {
        self.read(|c| {
            times
                .iter()
                .map(|&t| deploy_before(c, project_id, t))
                .collect()
        })
    }

    fn watches_due(&self, now_ms: i64) -> Result<Vec<Deploy>> {
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    deploy_cols!(),
                    " FROM deploys
                     WHERE watch_until_ms <= ?1 AND watch_verdict IS NULL
                     ORDER BY watch_until_ms, id"
                )),
                params![now_ms],
                deploy_from_row,
            )
        })
    }

    fn set_watch_figures(&self, id: i64, figures: &serde_json::Value) -> Result<()> {
        let figures = json_to_db(figures);
        self.write(|c| {
            c.exec(
                sql!(
                    "UPDATE deploys SET watch = ?2
                     WHERE id = ?1 AND watch_verdict IS NOT NULL"
                ),
                params![id, figures],
            )?;
            Ok(())
        })
    }

    fn judge_deploy_signalling(
        &self,
        id: i64,
        verdict: &str,
        figures: &serde_json::Value,
        signal: Option<&mut Signal>,
    ) -> Result<bool> {
        let figures = json_to_db(figures);
        self.transaction(|c| {
            let changed = c.exec(
                sql!(
                    "UPDATE deploys SET watch_verdict = ?2, watch = ?3
                     WHERE id = ?1 AND watch_verdict IS NULL"
                ),
                params![id, verdict, figures],
            )?;
            if changed != 1 {
                return Ok(false);
            }
            if let Some(s) = signal {
                insert_signals(c, std::slice::from_mut(s))?;
            }
            Ok(true)
        })
    }
}
