//! The PostgreSQL store, for several lookout instances sharing one database. Every write
//! that could race with another instance is an upsert or takes a row lock; migrations and
//! signal ids are serialised with advisory locks.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use lookout_core::signal::{Signal, SignalKind};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Row, Statement, Transaction};

use crate::alerts::{self, AlertTx, IncidentInsert};
use crate::batch::{self, BatchTx, IssueState, IssueUpdate, ValueUpdate};
use crate::checks::{self, CheckTx, RawSummary, RollupBuilder};
use crate::model::*;
use crate::{Result, Store, StoreError};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_monitors.sql")),
    (3, include_str!("../migrations/postgres/0003_alerts.sql")),
    (4, include_str!("../migrations/postgres/0004_rules.sql")),
    (
        5,
        include_str!("../migrations/postgres/0005_payload_dicts.sql"),
    ),
];

/// Advisory lock keys (arbitrary constants, "lookout" in ASCII plus a suffix).
const MIGRATION_LOCK: i64 = 0x6c6f_6f6b_6f75_7401;
const SIGNAL_LOCK: i64 = 0x6c6f_6f6b_6f75_7402;
const ROLLUP_LOCK: i64 = 0x6c6f_6f6b_6f75_7403;

const POOL_SIZE: u32 = 8;

const ISSUE_COLS: &str = "id, project_id, fingerprint, grouping_version, title, culprit, \
    level, status, substatus, platform, first_seen_ms, last_seen_ms, count, user_count, \
    unhandled_count, first_release, last_release, resolved_ms";
const EVENT_COLS: &str = "id, project_id, issue_id, event_id, timestamp_ms, received_ms, \
    level, release, environment, title, payload";
const PROJECT_COLS: &str = "id, slug, name, public_key, settings, created_ms";
const MONITOR_COLS: &str = checks::monitor_cols!("spec::text");
const INCIDENT_COLS: &str = alerts::incident_cols!("state::text");
const OUTBOX_COLS: &str = alerts::outbox_cols!("payload::text");

/// The PostgreSQL implementation of [`Store`].
pub struct PostgresStore {
    pool: r2d2::Pool<PgManager>,
    schema: Option<String>,
}

/// A client with its prepared statements, which PostgreSQL keeps per session.
struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PgConn {
    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let stmt = prepared(&mut self.client, &mut self.statements, sql)?;
        Ok(self.client.query(&stmt, params)?)
    }

    fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let stmt = prepared(&mut self.client, &mut self.statements, sql)?;
        Ok(self.client.query_opt(&stmt, params)?)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let stmt = prepared(&mut self.client, &mut self.statements, sql)?;
        Ok(self.client.execute(&stmt, params)?)
    }
}

/// Anything that can prepare a statement: a client or a transaction on it.
trait Prepare {
    fn prepare_now(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error>;
}

impl Prepare for Client {
    fn prepare_now(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        self.prepare(sql)
    }
}

impl Prepare for Transaction<'_> {
    fn prepare_now(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        self.prepare(sql)
    }
}

/// Prepares once per connection; saves a round trip on every later use.
fn prepared(
    on: &mut impl Prepare,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement> {
    if let Some(stmt) = cache.get(sql) {
        return Ok(stmt.clone());
    }
    let stmt = on.prepare_now(sql)?;
    cache.insert(sql.to_string(), stmt.clone());
    Ok(stmt)
}

/// Opens pooled connections, each with the store's `search_path`.
struct PgManager {
    config: postgres::Config,
    schema: Option<String>,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        if let Some(schema) = &self.schema {
            client.batch_execute(&format!("SET search_path TO {}", quote_ident(schema)))?;
        }
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// Schema names are restricted, so quoting them needs no escaping logic.
fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl PostgresStore {
    /// Connects to `url` (a `postgres://` URL or key=value string) and applies pending
    /// migrations in the default schema.
    pub fn connect(url: &str) -> Result<Self> {
        Self::open(url, None)
    }

    /// Like [`PostgresStore::connect`], but in `schema` (created if missing; lower-case
    /// letters, digits and `_`), which every pooled connection puts on its `search_path`.
    pub fn connect_in_schema(url: &str, schema: &str) -> Result<Self> {
        if !valid_schema(schema) {
            return Err(StoreError::Open(format!(
                "schema name {schema:?} must be 1-63 lower-case letters, digits or '_'"
            )));
        }
        Self::open(url, Some(schema.to_string()))
    }

    fn open(url: &str, schema: Option<String>) -> Result<Self> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Open(format!("bad PostgreSQL URL: {e}")))?;
        if let Some(schema) = &schema {
            let mut client = config
                .connect(NoTls)
                .map_err(|e| StoreError::Open(format!("cannot connect to PostgreSQL: {e}")))?;
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {}",
                    quote_ident(schema)
                ))
                .map_err(|e| StoreError::Open(format!("cannot create schema {schema}: {e}")))?;
        }
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(PgManager {
                config,
                schema: schema.clone(),
            })
            .map_err(|e| StoreError::Open(format!("cannot connect to PostgreSQL: {e}")))?;
        let store = Self { pool, schema };
        store
            .migrate()
            .map_err(|e| StoreError::Open(format!("migration failed: {e}")))?;
        Ok(store)
    }

    /// Drops the schema given to [`PostgresStore::connect_in_schema`] with everything in
    /// it (test cleanup); does nothing for a store in the default schema.
    pub fn drop_schema(&self) -> Result<()> {
        if let Some(schema) = &self.schema {
            self.conn()?.client.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                quote_ident(schema)
            ))?;
        }
        Ok(())
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<PgManager>> {
        Ok(self.pool.get()?)
    }

    /// Inserts a monitor, with `on_conflict` deciding what a clash does (empty: refuse).
    fn insert_monitor(&self, new: &NewMonitor, on_conflict: &str) -> Result<Monitor> {
        let spec = checks::spec_to_db(&new.spec);
        let row = self
            .conn()?
            .query(
                &format!(
                    "INSERT INTO monitors (name, kind, spec, source, project_id, token, slug,
                         created_ms, updated_ms)
                     VALUES ($1, $2, $3::text::jsonb, $4, $5, $6, $7, $8, $8) {on_conflict}
                     RETURNING {MONITOR_COLS}"
                ),
                &[
                    &new.name,
                    &new.kind,
                    &spec,
                    &new.source.as_str(),
                    &new.project_id,
                    &new.token,
                    &new.slug,
                    &new.now_ms,
                ],
            )
            .map_err(|e| match e {
                StoreError::Postgres(e) => monitor_conflict(e, new),
                e => e,
            })?;
        monitor_from_row(
            row.first().ok_or_else(|| {
                StoreError::Corrupt(format!("monitor {:?} not returned", new.name))
            })?,
        )
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.conn()?;
        for (version, sql) in MIGRATIONS {
            let mut tx = conn.client.transaction()?;
            // Several instances may start at once: one migrates, the others wait and then
            // find the version recorded.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
            )?;
            let done = tx
                .query_opt(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    &[version],
                )?
                .is_some();
            if !done {
                tx.batch_execute(sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)",
                    &[version, &now_ms()],
                )?;
                tracing::info!(version, "applied PostgreSQL migration");
            }
            tx.commit()?;
        }
        Ok(())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Turns uniqueness violations into [`StoreError::Conflict`].
fn conflict(e: postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let msg = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_string());
        return StoreError::Conflict(msg);
    }
    StoreError::Postgres(e)
}

fn status_of(s: &str) -> Result<IssueStatus> {
    IssueStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("issue status {s:?}")))
}

fn project_from_row(row: &Row) -> Result<Project> {
    let settings: &str = row.try_get(4)?;
    Ok(Project {
        id: row.try_get(0)?,
        slug: row.try_get(1)?,
        name: row.try_get(2)?,
        public_key: row.try_get(3)?,
        settings: serde_json::from_str(settings)
            .map_err(|e| StoreError::Corrupt(format!("project settings: {e}")))?,
        created_ms: row.try_get(5)?,
    })
}

fn issue_from_row(row: &Row) -> Result<Issue> {
    Ok(Issue {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        fingerprint: row.try_get(2)?,
        grouping_version: row.try_get(3)?,
        title: row.try_get(4)?,
        culprit: row.try_get(5)?,
        level: row.try_get(6)?,
        status: status_of(row.try_get(7)?)?,
        substatus: row.try_get(8)?,
        platform: row.try_get(9)?,
        first_seen_ms: row.try_get(10)?,
        last_seen_ms: row.try_get(11)?,
        count: batch::to_u64(row.try_get(12)?),
        user_count: batch::to_u64(row.try_get(13)?),
        unhandled_count: batch::to_u64(row.try_get(14)?),
        first_release: row.try_get(15)?,
        last_release: row.try_get(16)?,
        resolved_ms: row.try_get(17)?,
    })
}

fn event_from_row(row: &Row) -> Result<StoredEvent> {
    Ok(StoredEvent {
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        issue_id: row.try_get(2)?,
        event_id: row.try_get(3)?,
        timestamp_ms: row.try_get(4)?,
        received_ms: row.try_get(5)?,
        level: row.try_get(6)?,
        release: row.try_get(7)?,
        environment: row.try_get(8)?,
        title: row.try_get(9)?,
        payload: row.try_get(10)?,
    })
}

fn seen_from_row(row: &Row) -> Result<SeenValue> {
    Ok(SeenValue {
        value: row.try_get(0)?,
        count: batch::to_u64(row.try_get(1)?),
        first_seen_ms: row.try_get(2)?,
        last_seen_ms: row.try_get(3)?,
    })
}

fn signal_from_row(row: &Row) -> Result<Signal> {
    let kind: &str = row.try_get(1)?;
    Ok(Signal {
        id: row.try_get(0)?,
        kind: SignalKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("signal kind {kind:?}")))?,
        project_id: row.try_get(2)?,
        issue_id: row.try_get(3)?,
        event_id: row.try_get(4)?,
        monitor_id: row.try_get(6)?,
        detail: row.try_get(7)?,
        created_ms: row.try_get(5)?,
    })
}

fn map_rows<T>(rows: Vec<Row>, map: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(map).collect()
}

/// The batch primitives over an open write transaction.
struct PgTx<'a, 'c> {
    tx: &'a mut Transaction<'c>,
    statements: &'a mut HashMap<String, Statement>,
}

impl PgTx<'_, '_> {
    fn stmt(&mut self, sql: &str) -> Result<Statement> {
        prepared(self.tx, self.statements, sql)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let stmt = self.stmt(sql)?;
        Ok(self.tx.execute(&stmt, params)?)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let stmt = self.stmt(sql)?;
        Ok(self.tx.query(&stmt, params)?)
    }

    /// Locks the project's issues with these fingerprints, in fingerprint order (the
    /// same order every instance uses, so they cannot deadlock).
    fn lock_issues(
        &mut self,
        project_id: i64,
        fingerprints: &[&str],
    ) -> Result<HashMap<String, IssueState>> {
        let rows = self.query(
            "SELECT id, fingerprint, status, substatus, last_seen_ms FROM issues
             WHERE project_id = $1 AND fingerprint = ANY($2)
             ORDER BY fingerprint FOR UPDATE",
            &[&project_id, &fingerprints],
        )?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in &rows {
            found.insert(
                row.try_get(1)?,
                IssueState {
                    id: row.try_get(0)?,
                    created: false,
                    status: status_of(row.try_get(2)?)?,
                    substatus: row.try_get(3)?,
                    last_seen_ms: row.try_get(4)?,
                },
            );
        }
        Ok(found)
    }
}

impl BatchTx for PgTx<'_, '_> {
    fn existing_events(&mut self, project_id: i64, ids: &[&str]) -> Result<HashMap<String, i64>> {
        let rows = self.query(
            // A join against the unnested ids, not `= ANY($2)`: the planner then probes
            // the unique index per id instead of scanning the project's events.
            "SELECT e.event_id, e.issue_id FROM UNNEST($2::text[]) AS u(event_id)
             JOIN events e ON e.project_id = $1 AND e.event_id = u.event_id",
            &[&project_id, &ids],
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    fn find_or_create_issues(
        &mut self,
        project_id: i64,
        groups: &[(&NewEvent, i64)],
    ) -> Result<Vec<IssueState>> {
        let fingerprints: Vec<&str> = groups.iter().map(|(e, _)| e.fingerprint.as_str()).collect();
        let mut found = self.lock_issues(project_id, &fingerprints)?;
        let missing: Vec<&(&NewEvent, i64)> = groups
            .iter()
            .filter(|(e, _)| !found.contains_key(&e.fingerprint))
            .collect();
        if !missing.is_empty() {
            let fp: Vec<&str> = missing
                .iter()
                .map(|(e, _)| e.fingerprint.as_str())
                .collect();
            let gv: Vec<&str> = missing
                .iter()
                .map(|(e, _)| e.grouping_version.as_str())
                .collect();
            let title: Vec<&str> = missing.iter().map(|(e, _)| e.title.as_str()).collect();
            let culprit: Vec<&str> = missing.iter().map(|(e, _)| e.culprit.as_str()).collect();
            let level: Vec<&str> = missing.iter().map(|(e, _)| e.level.as_str()).collect();
            let platform: Vec<Option<&str>> =
                missing.iter().map(|(e, _)| e.platform.as_deref()).collect();
            let first_seen: Vec<i64> = missing.iter().map(|(_, t)| *t).collect();
            let release: Vec<Option<&str>> =
                missing.iter().map(|(e, _)| e.release.as_deref()).collect();
            let rows = self.query(
                "INSERT INTO issues (project_id, fingerprint, grouping_version, title, culprit,
                     level, status, substatus, platform, first_seen_ms, last_seen_ms, count,
                     user_count, unhandled_count, first_release, last_release)
                 SELECT $1, u.fp, u.gv, u.title, u.culprit, u.level, 'unresolved', 'new',
                     u.platform, u.first_seen, u.first_seen, 0, 0, 0, u.release, u.release
                 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::int8[], $9::text[])
                     AS u(fp, gv, title, culprit, level, platform, first_seen, release)
                 ORDER BY u.fp
                 ON CONFLICT (project_id, fingerprint) DO NOTHING
                 RETURNING id, fingerprint, first_seen_ms",
                &[
                    &project_id,
                    &fp,
                    &gv,
                    &title,
                    &culprit,
                    &level,
                    &platform,
                    &first_seen,
                    &release,
                ],
            )?;
            for row in &rows {
                let first_seen: i64 = row.try_get(2)?;
                found.insert(
                    row.try_get(1)?,
                    IssueState {
                        id: row.try_get(0)?,
                        created: true,
                        status: IssueStatus::Unresolved,
                        substatus: Some(batch::SUB_NEW.to_string()),
                        last_seen_ms: first_seen,
                    },
                );
            }
            if rows.len() < missing.len() {
                // Other instances created some since our look-up; their inserts have
                // committed (ours waited for them), so the rows are there to lock now.
                let raced: Vec<&str> = fp
                    .iter()
                    .copied()
                    .filter(|f| !found.contains_key(*f))
                    .collect();
                found.extend(self.lock_issues(project_id, &raced)?);
            }
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
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // One round trip for the whole batch: arrays unnested server-side, inserted in
        // key order so that instances inserting the same ids cannot deadlock.
        let project: Vec<i64> = rows.iter().map(|(_, e)| e.project_id).collect();
        let issue: Vec<i64> = rows.iter().map(|(i, _)| *i).collect();
        let ids: Vec<&str> = rows.iter().map(|(_, e)| e.event_id.as_str()).collect();
        let ts: Vec<i64> = rows.iter().map(|(_, e)| e.timestamp_ms).collect();
        let recv: Vec<i64> = rows.iter().map(|(_, e)| e.received_ms).collect();
        let level: Vec<&str> = rows.iter().map(|(_, e)| e.level.as_str()).collect();
        let release: Vec<Option<&str>> = rows.iter().map(|(_, e)| e.release.as_deref()).collect();
        let env: Vec<Option<&str>> = rows.iter().map(|(_, e)| e.environment.as_deref()).collect();
        let title: Vec<&str> = rows.iter().map(|(_, e)| e.title.as_str()).collect();
        let payload: Vec<&[u8]> = rows.iter().map(|(_, e)| e.payload.as_slice()).collect();
        let written_rows = self.query(
            "INSERT INTO events (project_id, issue_id, event_id, timestamp_ms, received_ms,
                 level, release, environment, title, payload)
             SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::int8[], $5::int8[],
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[])
                 AS u(project_id, issue_id, event_id, timestamp_ms, received_ms, level,
                      release, environment, title, payload)
             ORDER BY u.project_id, u.event_id
             ON CONFLICT (project_id, event_id) DO NOTHING
             RETURNING project_id, event_id",
            &[
                &project, &issue, &ids, &ts, &recv, &level, &release, &env, &title, &payload,
            ],
        )?;
        let mut written = HashSet::with_capacity(written_rows.len());
        for row in &written_rows {
            written.insert((row.try_get::<_, i64>(0)?, row.try_get::<_, String>(1)?));
        }
        Ok(rows
            .iter()
            .map(|(_, e)| written.contains(&(e.project_id, e.event_id.clone())))
            .collect())
    }

    fn insert_users(&mut self, rows: &[(i64, &str)]) -> Result<Vec<bool>> {
        let issue: Vec<i64> = rows.iter().map(|(i, _)| *i).collect();
        let key: Vec<&str> = rows.iter().map(|(_, k)| *k).collect();
        let added_rows = self.query(
            "INSERT INTO issue_users (issue_id, user_key)
             SELECT * FROM UNNEST($1::int8[], $2::text[]) AS u(issue_id, user_key)
             ORDER BY u.issue_id, u.user_key
             ON CONFLICT DO NOTHING
             RETURNING issue_id, user_key",
            &[&issue, &key],
        )?;
        let mut added = HashSet::with_capacity(added_rows.len());
        for row in &added_rows {
            added.insert((row.try_get::<_, i64>(0)?, row.try_get::<_, String>(1)?));
        }
        Ok(rows
            .iter()
            .map(|(i, k)| added.contains(&(*i, (*k).to_string())))
            .collect())
    }

    fn upsert_values(&mut self, rows: &[(i64, ValueUpdate<'_>)]) -> Result<()> {
        let issue: Vec<i64> = rows.iter().map(|(i, _)| *i).collect();
        let kind: Vec<&str> = rows.iter().map(|(_, v)| v.kind).collect();
        let value: Vec<&str> = rows.iter().map(|(_, v)| v.value).collect();
        let count: Vec<i64> = rows.iter().map(|(_, v)| v.count).collect();
        let first: Vec<i64> = rows.iter().map(|(_, v)| v.first_seen_ms).collect();
        let last: Vec<i64> = rows.iter().map(|(_, v)| v.last_seen_ms).collect();
        self.execute(
            "INSERT INTO issue_values (issue_id, kind, value, count, first_seen_ms, last_seen_ms)
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::int8[],
                 $6::int8[]) AS u(issue_id, kind, value, count, first_seen_ms, last_seen_ms)
             ORDER BY u.issue_id, u.kind, u.value
             ON CONFLICT (issue_id, kind, value) DO UPDATE SET
                 count = issue_values.count + excluded.count,
                 first_seen_ms = LEAST(issue_values.first_seen_ms, excluded.first_seen_ms),
                 last_seen_ms = GREATEST(issue_values.last_seen_ms, excluded.last_seen_ms)",
            &[&issue, &kind, &value, &count, &first, &last],
        )?;
        Ok(())
    }

    fn update_issues(&mut self, updates: &[IssueUpdate<'_>]) -> Result<()> {
        let id: Vec<i64> = updates.iter().map(|u| u.id).collect();
        let add_count: Vec<i64> = updates.iter().map(|u| u.add_count).collect();
        let add_users: Vec<i64> = updates.iter().map(|u| u.add_users).collect();
        let add_unhandled: Vec<i64> = updates.iter().map(|u| u.add_unhandled).collect();
        let first: Vec<i64> = updates.iter().map(|u| u.first_seen_ms).collect();
        let last: Vec<i64> = updates.iter().map(|u| u.last_seen_ms).collect();
        let status: Vec<&str> = updates.iter().map(|u| u.status.as_str()).collect();
        let substatus: Vec<Option<&str>> = updates.iter().map(|u| u.substatus).collect();
        let title: Vec<Option<&str>> = updates
            .iter()
            .map(|u| u.latest.map(|e| e.title.as_str()))
            .collect();
        let culprit: Vec<Option<&str>> = updates
            .iter()
            .map(|u| u.latest.map(|e| e.culprit.as_str()))
            .collect();
        let level: Vec<Option<&str>> = updates
            .iter()
            .map(|u| u.latest.map(|e| e.level.as_str()))
            .collect();
        let release: Vec<Option<&str>> = updates
            .iter()
            .map(|u| u.latest.and_then(|e| e.release.as_deref()))
            .collect();
        self.execute(
            "UPDATE issues SET
                 count = issues.count + u.add_count,
                 user_count = issues.user_count + u.add_users,
                 unhandled_count = issues.unhandled_count + u.add_unhandled,
                 first_seen_ms = LEAST(issues.first_seen_ms, u.first_seen_ms),
                 last_seen_ms = GREATEST(issues.last_seen_ms, u.last_seen_ms),
                 status = u.status,
                 substatus = u.substatus,
                 title = COALESCE(u.title, issues.title),
                 culprit = COALESCE(u.culprit, issues.culprit),
                 level = COALESCE(u.level, issues.level),
                 last_release = COALESCE(u.release, issues.last_release)
             FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],
                 $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                 AS u(id, add_count, add_users, add_unhandled, first_seen_ms, last_seen_ms,
                      status, substatus, title, culprit, level, release)
             WHERE issues.id = u.id",
            &[
                &id,
                &add_count,
                &add_users,
                &add_unhandled,
                &first,
                &last,
                &status,
                &substatus,
                &title,
                &culprit,
                &level,
                &release,
            ],
        )?;
        Ok(())
    }

    fn delete_issue(&mut self, id: i64) -> Result<()> {
        self.execute("DELETE FROM issues WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn insert_signals(&mut self, signals: &mut [Signal]) -> Result<()> {
        // Held until commit: signal ids then become visible in id order, so a reader
        // paging with `id > last_seen` cannot skip a signal committed late by another
        // instance.
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&SIGNAL_LOCK])?;
        let kind: Vec<&str> = signals.iter().map(|s| s.kind.as_str()).collect();
        let project: Vec<Option<i64>> = signals.iter().map(|s| s.project_id).collect();
        let issue: Vec<Option<i64>> = signals.iter().map(|s| s.issue_id).collect();
        let event: Vec<Option<&str>> = signals.iter().map(|s| s.event_id.as_deref()).collect();
        let monitor: Vec<Option<i64>> = signals.iter().map(|s| s.monitor_id).collect();
        let detail: Vec<Option<&str>> = signals.iter().map(|s| s.detail.as_deref()).collect();
        let created: Vec<i64> = signals.iter().map(|s| s.created_ms).collect();
        let rows = self.query(
            "INSERT INTO signals (kind, project_id, issue_id, event_id, monitor_id, detail,
                 created_ms)
             SELECT u.kind, u.project_id, u.issue_id, u.event_id, u.monitor_id, u.detail,
                 u.created_ms
             FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[], $5::int8[],
                 $6::text[], $7::int8[])
                 WITH ORDINALITY AS u(kind, project_id, issue_id, event_id, monitor_id, detail,
                     created_ms, n)
             ORDER BY u.n
             RETURNING id",
            &[&kind, &project, &issue, &event, &monitor, &detail, &created],
        )?;
        // Rows are inserted in ordinality order, so the ids, sorted, follow `signals`.
        let mut ids = rows
            .iter()
            .map(|r| r.try_get::<_, i64>(0))
            .collect::<std::result::Result<Vec<i64>, _>>()?;
        if ids.len() != signals.len() {
            return Err(StoreError::Corrupt(format!(
                "{} signals written, {} ids returned",
                signals.len(),
                ids.len()
            )));
        }
        ids.sort_unstable();
        for (s, id) in signals.iter_mut().zip(ids) {
            s.id = id;
        }
        Ok(())
    }

    fn insert_transaction(&mut self, t: &TransactionRow) -> Result<()> {
        self.execute(
            "INSERT INTO transactions (project_id, event_id, name, op, status, start_ms,
                 duration_ms, release, environment)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (project_id, event_id) DO NOTHING",
            &[
                &t.project_id,
                &t.event_id,
                &t.name,
                &t.op,
                &t.status,
                &t.start_ms,
                &t.duration_ms,
                &t.release,
                &t.environment,
            ],
        )?;
        Ok(())
    }

    fn add_sessions(&mut self, s: &SessionCounts) -> Result<()> {
        self.execute(
            "INSERT INTO session_counts (project_id, release, environment, bucket_ms,
                 healthy, errored, crashed, abnormal)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (project_id, release, environment, bucket_ms) DO UPDATE SET
                 healthy = session_counts.healthy + excluded.healthy,
                 errored = session_counts.errored + excluded.errored,
                 crashed = session_counts.crashed + excluded.crashed,
                 abnormal = session_counts.abnormal + excluded.abnormal",
            &[
                &s.project_id,
                &s.release,
                &s.environment,
                &s.bucket_ms,
                &batch::to_i64(s.healthy),
                &batch::to_i64(s.errored),
                &batch::to_i64(s.crashed),
                &batch::to_i64(s.abnormal),
            ],
        )?;
        Ok(())
    }

    fn insert_check_in(&mut self, c: &CheckInRow) -> Result<()> {
        self.execute(
            "INSERT INTO check_ins (project_id, check_in_id, monitor_slug, status,
                 duration_s, environment, monitor_config, received_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &c.project_id,
                &c.check_in_id,
                &c.monitor_slug,
                &c.status,
                &c.duration_s,
                &c.environment,
                &c.monitor_config,
                &c.received_ms,
            ],
        )?;
        Ok(())
    }

    fn insert_attachment(&mut self, a: &AttachmentRow) -> Result<()> {
        self.execute(
            "INSERT INTO attachments (project_id, event_id, filename, content_type,
                 attachment_type, data, size, received_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &a.project_id,
                &a.event_id,
                &a.filename,
                &a.content_type,
                &a.attachment_type,
                &a.data,
                &batch::to_i64(a.size),
                &a.received_ms,
            ],
        )?;
        Ok(())
    }

    fn add_outcome(&mut self, o: &OutcomeIncrement) -> Result<()> {
        self.execute(
            "INSERT INTO outcomes (project_id, bucket_ms, outcome, category, reason, quantity)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (project_id, bucket_ms, outcome, category, reason) DO UPDATE SET
                 quantity = outcomes.quantity + excluded.quantity",
            &[
                &o.project_id,
                &o.bucket_ms,
                &o.outcome,
                &o.category,
                &o.reason,
                &batch::to_i64(o.quantity),
            ],
        )?;
        Ok(())
    }
}

/// Turns a clash with the "one incident not resolved per rule and subject" index into a
/// `Conflict`.
fn incident_conflict(e: postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let detail = e.as_db_error().map_or_else(
            || e.to_string(),
            |d| d.detail().unwrap_or(d.message()).to_string(),
        );
        return alerts::open_conflict(&detail);
    }
    StoreError::Postgres(e)
}

fn incident_from_row(row: &Row) -> Result<IncidentRow> {
    Ok(IncidentRow {
        id: row.try_get(0)?,
        rule: row.try_get(1)?,
        subject_kind: row.try_get(2)?,
        subject_id: row.try_get(3)?,
        severity: row.try_get(4)?,
        status: row.try_get(5)?,
        title: row.try_get(6)?,
        summary: row.try_get(7)?,
        count: row.try_get(8)?,
        opened_ms: row.try_get(9)?,
        acked_ms: row.try_get(10)?,
        acked_by: row.try_get(11)?,
        resolved_ms: row.try_get(12)?,
        resolved_by: row.try_get(13)?,
        state: alerts::json_from_db(row.try_get(14)?, "incident state")?,
        runbook: row.try_get(15)?,
    })
}

fn message_from_row(row: &Row) -> Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: row.try_get(0)?,
        incident_id: row.try_get(1)?,
        channel: row.try_get(2)?,
        event: row.try_get(3)?,
        payload: alerts::json_from_db(row.try_get(4)?, "message payload")?,
        status: row.try_get(5)?,
        attempts: row.try_get(6)?,
        next_attempt_ms: row.try_get(7)?,
        last_error: row.try_get(8)?,
        created_ms: row.try_get(9)?,
        sent_ms: row.try_get(10)?,
    })
}

impl AlertTx for PgTx<'_, '_> {
    fn update_incidents(&mut self, updates: &[(i64, IncidentUpdate)]) -> Result<()> {
        let id: Vec<i64> = updates.iter().map(|(id, _)| *id).collect();
        let status: Vec<Option<&str>> = updates.iter().map(|(_, u)| u.status.as_deref()).collect();
        let count: Vec<Option<i64>> = updates.iter().map(|(_, u)| u.count).collect();
        let summary: Vec<Option<&str>> =
            updates.iter().map(|(_, u)| u.summary.as_deref()).collect();
        let acked: Vec<bool> = updates.iter().map(|(_, u)| u.acked.is_some()).collect();
        let acked_ms: Vec<Option<i64>> = updates
            .iter()
            .map(|(_, u)| u.acked.as_ref().map(|a| a.0))
            .collect();
        let acked_by: Vec<Option<&str>> = updates
            .iter()
            .map(|(_, u)| u.acked.as_ref().map(|a| a.1.as_str()))
            .collect();
        let resolved: Vec<bool> = updates.iter().map(|(_, u)| u.resolved.is_some()).collect();
        let resolved_ms: Vec<Option<i64>> = updates
            .iter()
            .map(|(_, u)| u.resolved.as_ref().map(|r| r.0))
            .collect();
        let resolved_by: Vec<Option<&str>> = updates
            .iter()
            .map(|(_, u)| u.resolved.as_ref().and_then(|r| r.1.as_deref()))
            .collect();
        let state: Vec<Option<String>> = updates
            .iter()
            .map(|(_, u)| u.state.as_ref().map(alerts::json_to_db))
            .collect();
        // One statement for all of them; NULL keeps a column, and the flags tell "set to
        // NULL" (resolved by nobody) from "keep".
        let stmt = self.stmt(
            "UPDATE incidents SET
                 status = COALESCE(u.status, incidents.status),
                 count = COALESCE(u.count, incidents.count),
                 summary = COALESCE(u.summary, incidents.summary),
                 acked_ms = CASE WHEN u.acked THEN u.acked_ms ELSE incidents.acked_ms END,
                 acked_by = CASE WHEN u.acked THEN u.acked_by ELSE incidents.acked_by END,
                 resolved_ms = CASE WHEN u.resolved THEN u.resolved_ms
                               ELSE incidents.resolved_ms END,
                 resolved_by = CASE WHEN u.resolved THEN u.resolved_by
                               ELSE incidents.resolved_by END,
                 state = COALESCE(u.state::jsonb, incidents.state)
             FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[], $5::bool[],
                 $6::int8[], $7::text[], $8::bool[], $9::int8[], $10::text[], $11::text[])
                 AS u(id, status, count, summary, acked, acked_ms, acked_by, resolved,
                      resolved_ms, resolved_by, state)
             WHERE incidents.id = u.id",
        )?;
        self.tx
            .execute(
                &stmt,
                &[
                    &id,
                    &status,
                    &count,
                    &summary,
                    &acked,
                    &acked_ms,
                    &acked_by,
                    &resolved,
                    &resolved_ms,
                    &resolved_by,
                    &state,
                ],
            )
            // Reopening a resolved incident can clash with a newer open one.
            .map_err(incident_conflict)?;
        Ok(())
    }

    fn insert_incidents(&mut self, rows: &[IncidentInsert<'_>]) -> Result<Vec<i64>> {
        let text = |f: for<'r> fn(&'r IncidentInsert<'r>) -> &'r str| -> Vec<&str> {
            rows.iter().map(f).collect()
        };
        let rule = text(|r| &r.new.rule);
        let kind = text(|r| &r.new.subject_kind);
        let severity = text(|r| &r.new.severity);
        let status = text(|r| r.status);
        let title = text(|r| &r.new.title);
        let summary = text(|r| r.summary);
        let subject: Vec<i64> = rows.iter().map(|r| r.new.subject_id).collect();
        let count: Vec<i64> = rows.iter().map(|r| r.count).collect();
        let opened: Vec<i64> = rows.iter().map(|r| r.new.opened_ms).collect();
        let acked_ms: Vec<Option<i64>> = rows.iter().map(|r| r.acked.map(|a| a.0)).collect();
        let acked_by: Vec<Option<&str>> = rows.iter().map(|r| r.acked.map(|a| a.1)).collect();
        let resolved_ms: Vec<Option<i64>> = rows.iter().map(|r| r.resolved.map(|a| a.0)).collect();
        let resolved_by: Vec<Option<&str>> =
            rows.iter().map(|r| r.resolved.and_then(|a| a.1)).collect();
        let state: Vec<String> = rows.iter().map(|r| alerts::json_to_db(r.state)).collect();
        let runbook: Vec<Option<&str>> = rows.iter().map(|r| r.new.runbook.as_deref()).collect();
        // Ids are drawn in the batch's order (as SQLite assigns them), but rows go in in
        // key order, the same for every instance: two instances opening the same keys then
        // wait on the first one they share instead of deadlocking, and the second gets the
        // conflict. The ids come back paired with their position, not in RETURNING's
        // unspecified order.
        let stmt = self.stmt(
            "WITH v AS MATERIALIZED (
                 SELECT nextval(pg_get_serial_sequence('incidents', 'id')) AS id, u.*
                 FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::int8[], $9::int8[], $10::int8[],
                     $11::text[], $12::int8[], $13::text[], $14::text[], $15::text[])
                     WITH ORDINALITY AS u(rule, subject_kind, subject_id, severity, status,
                         title, summary, count, opened_ms, acked_ms, acked_by, resolved_ms,
                         resolved_by, state, runbook, n)
                 ORDER BY u.n
             ), inserted AS (
                 INSERT INTO incidents (id, rule, subject_kind, subject_id, severity, status,
                     title, summary, count, opened_ms, acked_ms, acked_by, resolved_ms,
                     resolved_by, state, runbook)
                 SELECT id, rule, subject_kind, subject_id, severity, status, title, summary,
                     count, opened_ms, acked_ms, acked_by, resolved_ms, resolved_by,
                     state::jsonb, runbook
                 FROM v ORDER BY rule, subject_kind, subject_id
                 RETURNING id
             )
             SELECT v.n, v.id FROM v JOIN inserted USING (id) ORDER BY v.n",
        )?;
        let returned = self
            .tx
            .query(
                &stmt,
                &[
                    &rule,
                    &kind,
                    &subject,
                    &severity,
                    &status,
                    &title,
                    &summary,
                    &count,
                    &opened,
                    &acked_ms,
                    &acked_by,
                    &resolved_ms,
                    &resolved_by,
                    &state,
                    &runbook,
                ],
            )
            .map_err(incident_conflict)?;
        let mut ids = Vec::with_capacity(rows.len());
        for (expected, row) in (1i64..).zip(&returned) {
            let n: i64 = row.try_get(0)?;
            if n != expected {
                return Err(StoreError::Corrupt(format!(
                    "opened incident #{n} returned where #{expected} was expected"
                )));
            }
            ids.push(row.try_get(1)?);
        }
        Ok(ids)
    }

    fn append(
        &mut self,
        timeline: &[(i64, &TimelineEntry)],
        messages: &[(i64, &NewOutboxMessage)],
        cursor: Option<(&str, i64)>,
    ) -> Result<()> {
        let t_incident: Vec<i64> = timeline.iter().map(|(id, _)| *id).collect();
        let t_at: Vec<i64> = timeline.iter().map(|(_, t)| t.at_ms).collect();
        let t_kind: Vec<&str> = timeline.iter().map(|(_, t)| t.kind.as_str()).collect();
        let t_text: Vec<&str> = timeline.iter().map(|(_, t)| t.text.as_str()).collect();
        let t_actor: Vec<Option<&str>> = timeline.iter().map(|(_, t)| t.actor.as_deref()).collect();
        let m_incident: Vec<i64> = messages.iter().map(|(id, _)| *id).collect();
        let m_channel: Vec<&str> = messages.iter().map(|(_, m)| m.channel.as_str()).collect();
        let m_event: Vec<&str> = messages.iter().map(|(_, m)| m.event.as_str()).collect();
        let m_payload: Vec<String> = messages
            .iter()
            .map(|(_, m)| alerts::json_to_db(&m.payload))
            .collect();
        let m_now: Vec<i64> = messages.iter().map(|(_, m)| m.now_ms).collect();
        let cursor_name = cursor.map(|c| c.0);
        let cursor_value = cursor.map(|c| c.1);
        // One round trip for the three: each data-modifying CTE runs to completion whether
        // or not anything reads it, and an empty array inserts nothing. Rows go in in the
        // batch's order, so ids (and with them timelines) keep it.
        self.execute(
            "WITH timeline AS (
                 INSERT INTO incident_timeline (incident_id, at_ms, kind, text, actor)
                 SELECT u.incident_id, u.at_ms, u.kind, u.text, u.actor
                 FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[])
                     WITH ORDINALITY AS u(incident_id, at_ms, kind, text, actor, n)
                 ORDER BY u.n
             ), messages AS (
                 INSERT INTO outbox (incident_id, channel, event, payload, status, attempts,
                     next_attempt_ms, created_ms)
                 SELECT u.incident_id, u.channel, u.event, u.payload::jsonb, 'pending', 0,
                     u.now_ms, u.now_ms
                 FROM UNNEST($6::int8[], $7::text[], $8::text[], $9::text[], $10::int8[])
                     WITH ORDINALITY AS u(incident_id, channel, event, payload, now_ms, n)
                 ORDER BY u.n
             )
             INSERT INTO alert_cursors (name, value)
             SELECT $11::text, $12::int8 WHERE $11::text IS NOT NULL
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[
                &t_incident,
                &t_at,
                &t_kind,
                &t_text,
                &t_actor,
                &m_incident,
                &m_channel,
                &m_event,
                &m_payload,
                &m_now,
                &cursor_name,
                &cursor_value,
            ],
        )?;
        Ok(())
    }
}

/// Turns a uniqueness violation of a monitor write into a `Conflict` naming what clashed.
fn monitor_conflict(e: postgres::Error, new: &NewMonitor) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let violated = e
            .as_db_error()
            .and_then(|d| d.constraint())
            .unwrap_or_default()
            .to_string();
        return checks::monitor_conflict(&violated, new);
    }
    StoreError::Postgres(e)
}

fn monitor_from_row(row: &Row) -> Result<Monitor> {
    Ok(Monitor {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        kind: row.try_get(2)?,
        spec: checks::spec_from_db(row.try_get(3)?)?,
        source: checks::source_from_db(row.try_get(4)?)?,
        project_id: row.try_get(5)?,
        token: row.try_get(6)?,
        slug: row.try_get(7)?,
        paused: row.try_get(8)?,
        created_ms: row.try_get(9)?,
        updated_ms: row.try_get(10)?,
        status: MonitorStatus {
            state: checks::state_from_db(row.try_get(11)?)?,
            last_check_ms: row.try_get(12)?,
            last_latency_ms: row.try_get(13)?,
            last_error: row.try_get(14)?,
            down_since_ms: row.try_get(15)?,
            tls_expires_ms: row.try_get(16)?,
            tls_warned_days: row.try_get(17)?,
            running_since_ms: row.try_get(18)?,
        },
    })
}

fn rollup_from_row(row: &Row) -> Result<Rollup> {
    let int = |i: usize, what: &str| -> Result<u32> {
        checks::u32_from_db(i64::from(row.try_get::<_, i32>(i)?), what)
    };
    let opt = |i: usize, what: &str| -> Result<Option<u32>> {
        checks::opt_u32_from_db(row.try_get::<_, Option<i32>>(i)?.map(i64::from), what)
    };
    Ok(Rollup {
        monitor_id: row.try_get(0)?,
        resolution: checks::resolution_from_code(i64::from(row.try_get::<_, i16>(1)?))?,
        start_ms: row.try_get(2)?,
        count: int(3, "roll-up count")?,
        failures: int(4, "roll-up failures")?,
        degraded: int(5, "roll-up degraded")?,
        maintenance: int(6, "roll-up maintenance")?,
        p50_ms: opt(7, "roll-up p50")?,
        p95_ms: opt(8, "roll-up p95")?,
        p99_ms: opt(9, "roll-up p99")?,
        max_ms: opt(10, "roll-up max")?,
    })
}

const ROLLUP_COLS: &str = "monitor_id, resolution, start_ms, count, failures, degraded, \
    maintenance, p50_ms, p95_ms, p99_ms, max_ms";

/// The distinct monitor ids of `check_results` or `check_rollups`, one index probe each
/// (a loose index scan): neither table has an index that starts with time, so work over
/// a time range goes monitor by monitor.
fn monitor_ids_in(conn: &mut PgConn, table: &str) -> Result<Vec<i64>> {
    let rows = conn.query(
        &format!(
            "WITH RECURSIVE m(id) AS (
                 SELECT (SELECT MIN(monitor_id) FROM {table})
                 UNION ALL
                 SELECT (SELECT MIN(monitor_id) FROM {table} WHERE monitor_id > m.id)
                 FROM m WHERE m.id IS NOT NULL
             )
             SELECT id FROM m WHERE id IS NOT NULL"
        ),
        &[],
    )?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// Monitors per prune statement, so that one statement's locks and WAL stay bounded.
const PRUNE_MONITORS_PER_STATEMENT: usize = 256;
/// Roll-ups per upsert statement.
const ROLLUP_WRITE_ROWS: usize = 5_000;

impl CheckTx for PgTx<'_, '_> {
    fn insert_results(&mut self, results: &[&CheckRecord]) -> Result<()> {
        let monitor: Vec<i64> = results.iter().map(|r| r.monitor_id).collect();
        let at: Vec<i64> = results.iter().map(|r| r.at_ms).collect();
        let latency: Vec<Option<i32>> = results
            .iter()
            .map(|r| checks::latency_to_db(r.latency_ms))
            .collect();
        let code: Vec<i16> = results
            .iter()
            .map(|r| checks::pack_code(r.outcome, r.maintenance))
            .collect();
        let error: Vec<Option<&str>> = results.iter().map(|r| r.error.as_deref()).collect();
        self.execute(
            "INSERT INTO check_results (monitor_id, at_ms, latency_ms, code, error)
             SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::int4[], $4::int2[], $5::text[])
             ON CONFLICT DO NOTHING",
            &[&monitor, &at, &latency, &code, &error],
        )?;
        Ok(())
    }

    fn update_statuses(&mut self, statuses: &[&(i64, MonitorStatus)]) -> Result<()> {
        let id: Vec<i64> = statuses.iter().map(|(id, _)| *id).collect();
        let state: Vec<&str> = statuses.iter().map(|(_, s)| s.state.as_str()).collect();
        let col = |f: fn(&MonitorStatus) -> Option<i64>| -> Vec<Option<i64>> {
            statuses.iter().map(|(_, s)| f(s)).collect()
        };
        let last_check = col(|s| s.last_check_ms);
        let last_latency = col(|s| s.last_latency_ms);
        let down_since = col(|s| s.down_since_ms);
        let tls_expires = col(|s| s.tls_expires_ms);
        let tls_warned = col(|s| s.tls_warned_days);
        let running_since = col(|s| s.running_since_ms);
        let last_error: Vec<Option<&str>> = statuses
            .iter()
            .map(|(_, s)| s.last_error.as_deref())
            .collect();
        self.execute(
            "UPDATE monitors SET state = u.state, last_check_ms = u.last_check_ms,
                 last_latency_ms = u.last_latency_ms, last_error = u.last_error,
                 down_since_ms = u.down_since_ms, tls_expires_ms = u.tls_expires_ms,
                 tls_warned_days = u.tls_warned_days, running_since_ms = u.running_since_ms
             FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::int8[], $5::text[],
                 $6::int8[], $7::int8[], $8::int8[], $9::int8[])
                 AS u(id, state, last_check_ms, last_latency_ms, last_error, down_since_ms,
                      tls_expires_ms, tls_warned_days, running_since_ms)
             WHERE monitors.id = u.id",
            &[
                &id,
                &state,
                &last_check,
                &last_latency,
                &last_error,
                &down_since,
                &tls_expires,
                &tls_warned,
                &running_since,
            ],
        )?;
        Ok(())
    }

    fn open_outages(&mut self, opens: &[(i64, i64, &str)]) -> Result<()> {
        let monitor: Vec<i64> = opens.iter().map(|o| o.0).collect();
        let start: Vec<i64> = opens.iter().map(|o| o.1).collect();
        let cause: Vec<&str> = opens.iter().map(|o| o.2).collect();
        // The partial unique index `outages_open` turns a second open into a no-op.
        self.execute(
            "INSERT INTO outages (monitor_id, start_ms, cause)
             SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[])
             ON CONFLICT DO NOTHING",
            &[&monitor, &start, &cause],
        )?;
        Ok(())
    }

    fn close_outages(&mut self, closes: &[(i64, i64)]) -> Result<()> {
        let monitor: Vec<i64> = closes.iter().map(|c| c.0).collect();
        let end: Vec<i64> = closes.iter().map(|c| c.1).collect();
        self.execute(
            "UPDATE outages SET end_ms = u.end_ms
             FROM UNNEST($1::int8[], $2::int8[]) AS u(monitor_id, end_ms)
             WHERE outages.monitor_id = u.monitor_id AND outages.end_ms IS NULL",
            &[&monitor, &end],
        )?;
        Ok(())
    }

    fn record_signals(&mut self, signals: &mut [Signal]) -> Result<()> {
        self.insert_signals(signals)
    }
}

impl PgTx<'_, '_> {
    /// Upserts roll-ups, a few thousand per statement.
    fn write_rollups(&mut self, rollups: &[Rollup]) -> Result<()> {
        for part in rollups.chunks(ROLLUP_WRITE_ROWS) {
            let monitor: Vec<i64> = part.iter().map(|r| r.monitor_id).collect();
            let resolution: Vec<i16> = part
                .iter()
                .map(|r| checks::resolution_code(r.resolution))
                .collect();
            let start: Vec<i64> = part.iter().map(|r| r.start_ms).collect();
            let int = |f: fn(&Rollup) -> u32| -> Vec<i32> {
                part.iter().map(|r| checks::u32_to_db(f(r))).collect()
            };
            let opt = |f: fn(&Rollup) -> Option<u32>| -> Vec<Option<i32>> {
                part.iter().map(|r| checks::latency_to_db(f(r))).collect()
            };
            let (count, failures, degraded, maintenance) = (
                int(|r| r.count),
                int(|r| r.failures),
                int(|r| r.degraded),
                int(|r| r.maintenance),
            );
            let (p50, p95, p99, max) = (
                opt(|r| r.p50_ms),
                opt(|r| r.p95_ms),
                opt(|r| r.p99_ms),
                opt(|r| r.max_ms),
            );
            self.execute(
                "INSERT INTO check_rollups (monitor_id, resolution, start_ms, count, failures,
                     degraded, maintenance, p50_ms, p95_ms, p99_ms, max_ms)
                 SELECT * FROM UNNEST($1::int8[], $2::int2[], $3::int8[], $4::int4[],
                     $5::int4[], $6::int4[], $7::int4[], $8::int4[], $9::int4[], $10::int4[],
                     $11::int4[])
                 ON CONFLICT (monitor_id, resolution, start_ms) DO UPDATE SET
                     count = excluded.count,
                     failures = excluded.failures,
                     degraded = excluded.degraded,
                     maintenance = excluded.maintenance,
                     p50_ms = excluded.p50_ms,
                     p95_ms = excluded.p95_ms,
                     p99_ms = excluded.p99_ms,
                     max_ms = excluded.max_ms",
                &[
                    &monitor,
                    &resolution,
                    &start,
                    &count,
                    &failures,
                    &degraded,
                    &maintenance,
                    &p50,
                    &p95,
                    &p99,
                    &max,
                ],
            )?;
        }
        Ok(())
    }

    /// Rolls up the next chunk of one resolution's pending buckets; `None` when none are
    /// left, else how many roll-ups it wrote.
    fn rollup_chunk(
        &mut self,
        resolution: Resolution,
        ids: &[i64],
        now_ms: i64,
    ) -> Result<Option<u64>> {
        // Instances take turns; whoever comes second finds the watermark moved on.
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&ROLLUP_LOCK])?;
        let code = checks::resolution_code(resolution);
        let watermark: Option<i64> = match self
            .query(
                "SELECT done_ms FROM check_rollup_marks WHERE resolution = $1",
                &[&code],
            )?
            .first()
        {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        };
        let oldest: Option<i64> = match watermark {
            Some(_) => None,
            None => match self
                .query(
                    "SELECT MIN(x.oldest) FROM UNNEST($1::int8[]) AS u(id),
                         LATERAL (SELECT MIN(at_ms) AS oldest FROM check_results
                                  WHERE monitor_id = u.id) AS x",
                    &[&ids],
                )?
                .first()
            {
                Some(row) => row.try_get(0)?,
                None => None,
            },
        };
        let Some((start, end)) = checks::rollup_range(resolution, watermark, oldest, now_ms) else {
            return Ok(None);
        };
        let stop = checks::chunk_end(resolution, start, end);
        // No ORDER BY: the builder takes rows in any order, which leaves the planner free
        // to read a long range with a bitmap scan instead of sorting it.
        let scan = self.stmt(
            "SELECT monitor_id, at_ms, latency_ms, code FROM check_results
             WHERE monitor_id = ANY($1) AND at_ms >= $2 AND at_ms < $3",
        )?;
        let mut rollups = Vec::new();
        for part in ids.chunks(checks::ROLLUP_MONITORS_PER_SCAN) {
            let mut builder = RollupBuilder::new(resolution);
            // Streamed rather than collected: only the latencies are kept.
            let params: [&(dyn ToSql + Sync); 3] = [&part, &start, &stop];
            let mut rows = self.tx.query_raw(&scan, params)?;
            while let Some(row) = rows.next()? {
                builder.push(
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get::<_, Option<i32>>(2)?.map(i64::from),
                    i64::from(row.try_get::<_, i16>(3)?),
                )?;
            }
            rollups.extend(builder.finish());
        }
        self.write_rollups(&rollups)?;
        self.execute(
            "INSERT INTO check_rollup_marks (resolution, done_ms) VALUES ($1, $2)
             ON CONFLICT (resolution) DO UPDATE SET
                 done_ms = GREATEST(check_rollup_marks.done_ms, excluded.done_ms)",
            &[&code, &stop],
        )?;
        Ok(Some(rollups.len() as u64))
    }
}

impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn ping(&self) -> Result<()> {
        self.conn()?.client.simple_query("SELECT 1")?;
        Ok(())
    }

    fn create_project(&self, new: &NewProject) -> Result<Project> {
        let settings = serde_json::to_string(&new.settings)
            .map_err(|e| StoreError::Corrupt(format!("project settings: {e}")))?;
        let key = new.public_key.clone().unwrap_or_else(batch::new_public_key);
        let mut conn = self.conn()?;
        let mut tx = conn.client.transaction()?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO projects (id, slug, name, public_key, settings, created_ms)
                     VALUES (COALESCE($1::int8, nextval(pg_get_serial_sequence('projects', 'id'))),
                         $2, $3, $4, $5, $6)
                     RETURNING {PROJECT_COLS}"
                ),
                &[&new.id, &new.slug, &new.name, &key, &settings, &new.now_ms],
            )
            .map_err(conflict)?;
        if new.id.is_some() {
            bump_project_sequence(&mut tx)?;
        }
        tx.commit()?;
        project_from_row(&row)
    }

    fn upsert_project(&self, new: &NewProject) -> Result<Project> {
        let Some(id) = new.id else {
            let existing = self
                .conn()?
                .query_opt("SELECT id FROM projects WHERE slug = $1", &[&new.slug])?;
            return match existing {
                Some(row) => self.upsert_project(&NewProject {
                    id: Some(row.try_get(0)?),
                    ..new.clone()
                }),
                None => self.create_project(new),
            };
        };
        let settings = serde_json::to_string(&new.settings)
            .map_err(|e| StoreError::Corrupt(format!("project settings: {e}")))?;
        let key = new.public_key.clone().unwrap_or_else(batch::new_public_key);
        let mut conn = self.conn()?;
        let mut tx = conn.client.transaction()?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO projects (id, slug, name, public_key, settings, created_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (id) DO UPDATE SET
                         slug = excluded.slug,
                         name = excluded.name,
                         public_key = CASE WHEN $7 THEN excluded.public_key
                                      ELSE projects.public_key END,
                         settings = excluded.settings
                     RETURNING {PROJECT_COLS}"
                ),
                &[
                    &id,
                    &new.slug,
                    &new.name,
                    &key,
                    &settings,
                    &new.now_ms,
                    &new.public_key.is_some(),
                ],
            )
            .map_err(conflict)?;
        bump_project_sequence(&mut tx)?;
        tx.commit()?;
        project_from_row(&row)
    }

    fn list_projects(&self) -> Result<Vec<Project>> {
        let rows = self.conn()?.query(
            &format!("SELECT {PROJECT_COLS} FROM projects ORDER BY id"),
            &[],
        )?;
        map_rows(rows, project_from_row)
    }

    fn get_project(&self, id: i64) -> Result<Option<Project>> {
        self.conn()?
            .query_opt(
                &format!("SELECT {PROJECT_COLS} FROM projects WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(project_from_row)
            .transpose()
    }

    fn get_project_by_slug(&self, slug: &str) -> Result<Option<Project>> {
        self.conn()?
            .query_opt(
                &format!("SELECT {PROJECT_COLS} FROM projects WHERE slug = $1"),
                &[&slug],
            )?
            .as_ref()
            .map(project_from_row)
            .transpose()
    }

    fn write_batch(&self, b: &WriteBatch) -> Result<BatchResult> {
        let mut conn = self.conn()?;
        let PgConn { client, statements } = &mut *conn;
        let mut tx = client.transaction()?;
        let result = batch::write_batch(
            &mut PgTx {
                tx: &mut tx,
                statements,
            },
            b,
        )?;
        tx.commit()?;
        Ok(result)
    }

    fn list_issues(&self, f: &IssueFilter) -> Result<Vec<Issue>> {
        let mut sql = format!("SELECT {ISSUE_COLS} FROM issues i WHERE project_id = $1");
        let status = f.status.map(IssueStatus::as_str);
        let pattern = f
            .text
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(batch::like_pattern);
        let limit = batch::page_limit(f.limit);
        let offset = i64::from(f.offset);
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&f.project_id];
        if let Some(status) = &status {
            sql.push_str(&format!(" AND status = {}", push_arg(&mut args, status)));
        }
        if let Some(level) = &f.level {
            sql.push_str(&format!(" AND level = {}", push_arg(&mut args, level)));
        }
        if let Some(release) = &f.release {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM issue_values v WHERE v.issue_id = i.id
                   AND v.kind = 'release' AND v.value = {})",
                push_arg(&mut args, release)
            ));
        }
        if let Some(environment) = &f.environment {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM issue_values v WHERE v.issue_id = i.id
                   AND v.kind = 'environment' AND v.value = {})",
                push_arg(&mut args, environment)
            ));
        }
        if let Some(pattern) = &pattern {
            let p = push_arg(&mut args, pattern);
            sql.push_str(&format!(
                " AND (title ILIKE {p} ESCAPE '\\' OR culprit ILIKE {p} ESCAPE '\\')"
            ));
        }
        sql.push_str(match f.sort {
            IssueSort::LastSeen => " ORDER BY last_seen_ms DESC, id DESC",
            IssueSort::FirstSeen => " ORDER BY first_seen_ms DESC, id DESC",
            IssueSort::Count => " ORDER BY count DESC, id DESC",
        });
        let l = push_arg(&mut args, &limit);
        let o = push_arg(&mut args, &offset);
        sql.push_str(&format!(" LIMIT {l} OFFSET {o}"));
        let rows = self.conn()?.query(&sql, &args)?;
        map_rows(rows, issue_from_row)
    }

    fn get_issue(&self, id: i64) -> Result<Option<IssueDetail>> {
        let mut conn = self.conn()?;
        let Some(row) = conn.query_opt(
            &format!("SELECT {ISSUE_COLS} FROM issues WHERE id = $1"),
            &[&id],
        )?
        else {
            return Ok(None);
        };
        let issue = issue_from_row(&row)?;
        let mut values = |kind: &str| -> Result<Vec<SeenValue>> {
            let rows = conn.query(
                "SELECT value, count, first_seen_ms, last_seen_ms FROM issue_values
                 WHERE issue_id = $1 AND kind = $2 ORDER BY last_seen_ms DESC, value",
                &[&id, &kind],
            )?;
            map_rows(rows, seen_from_row)
        };
        Ok(Some(IssueDetail {
            releases: values(batch::KIND_RELEASE)?,
            environments: values(batch::KIND_ENVIRONMENT)?,
            issue,
        }))
    }

    fn set_issue_status(&self, id: i64, status: IssueStatus, now_ms: i64) -> Result<bool> {
        let n = self.conn()?.execute(
            "UPDATE issues SET
                 status = $2::text,
                 substatus = CASE $2::text WHEN 'unresolved' THEN 'ongoing' ELSE NULL END,
                 resolved_ms = CASE $2::text WHEN 'resolved' THEN $3 ELSE resolved_ms END
             WHERE id = $1",
            &[&id, &status.as_str(), &now_ms],
        )?;
        Ok(n > 0)
    }

    fn list_events(
        &self,
        issue_id: i64,
        limit: u32,
        before_id: Option<i64>,
    ) -> Result<Vec<StoredEvent>> {
        let rows = self.conn()?.query(
            &format!(
                "SELECT {EVENT_COLS} FROM events WHERE issue_id = $1 AND id < $2
                 ORDER BY id DESC LIMIT $3"
            ),
            &[
                &issue_id,
                &before_id.unwrap_or(i64::MAX),
                &batch::page_limit(limit),
            ],
        )?;
        map_rows(rows, event_from_row)
    }

    fn latest_event(&self, issue_id: i64) -> Result<Option<StoredEvent>> {
        self.conn()?
            .query_opt(
                &format!(
                    "SELECT {EVENT_COLS} FROM events WHERE issue_id = $1 ORDER BY id DESC LIMIT 1"
                ),
                &[&issue_id],
            )?
            .as_ref()
            .map(event_from_row)
            .transpose()
    }

    fn get_event(&self, project_id: i64, event_id: &str) -> Result<Option<StoredEvent>> {
        self.conn()?
            .query_opt(
                &format!("SELECT {EVENT_COLS} FROM events WHERE project_id = $1 AND event_id = $2"),
                &[&project_id, &event_id],
            )?
            .as_ref()
            .map(event_from_row)
            .transpose()
    }

    fn count_events(
        &self,
        project_id: i64,
        from_ms: i64,
        to_ms: i64,
        filter: &EventCountFilter,
    ) -> Result<u64> {
        let rows = self.conn()?.query(
            "SELECT COUNT(*)::int8 FROM events
             WHERE project_id = $1 AND received_ms >= $2 AND received_ms < $3
               AND level = ANY($4)
               AND ($5::text IS NULL OR environment = $5)
               AND ($6::text IS NULL OR release = $6)",
            &[
                &project_id,
                &from_ms,
                &to_ms,
                &filter.levels,
                &filter.environment,
                &filter.release,
            ],
        )?;
        let n: i64 = rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
        Ok(batch::to_u64(n))
    }

    fn delete_events_before(&self, project_id: i64, cutoff_ms: i64) -> Result<u64> {
        let mut conn = self.conn()?;
        let mut tx = conn.client.transaction()?;
        tx.execute(
            "DELETE FROM attachments WHERE project_id = $1 AND event_id IN
                 (SELECT event_id FROM events WHERE project_id = $1 AND received_ms < $2)",
            &[&project_id, &cutoff_ms],
        )?;
        let n = tx.execute(
            "DELETE FROM events WHERE project_id = $1 AND received_ms < $2",
            &[&project_id, &cutoff_ms],
        )?;
        tx.commit()?;
        Ok(n)
    }

    fn outcome_total(
        &self,
        project_id: i64,
        category: &str,
        outcome: &str,
        since_ms: i64,
    ) -> Result<u64> {
        let rows = self.conn()?.query(
            "SELECT COALESCE(SUM(quantity), 0)::int8 FROM outcomes
             WHERE project_id = $1 AND category = $2 AND outcome = $3 AND bucket_ms >= $4",
            &[&project_id, &category, &outcome, &since_ms],
        )?;
        match rows.first() {
            Some(row) => Ok(batch::to_u64(row.try_get(0)?)),
            None => Ok(0),
        }
    }

    fn outcome_summary(&self, project_id: i64, since_ms: i64) -> Result<Vec<OutcomeCount>> {
        let rows = self.conn()?.query(
            "SELECT outcome, category, reason, SUM(quantity)::int8 FROM outcomes
             WHERE project_id = $1 AND bucket_ms >= $2
             GROUP BY outcome, category, reason ORDER BY outcome, category, reason",
            &[&project_id, &since_ms],
        )?;
        map_rows(rows, |r| {
            Ok(OutcomeCount {
                outcome: r.try_get(0)?,
                category: r.try_get(1)?,
                reason: r.try_get(2)?,
                quantity: batch::to_u64(r.try_get(3)?),
            })
        })
    }

    fn release_health(&self, project_id: i64, since_ms: i64) -> Result<Vec<ReleaseHealth>> {
        let rows = self.conn()?.query(
            "SELECT release, environment, SUM(healthy)::int8, SUM(errored)::int8,
                 SUM(crashed)::int8, SUM(abnormal)::int8
             FROM session_counts WHERE project_id = $1 AND bucket_ms >= $2
             GROUP BY release, environment ORDER BY release, environment",
            &[&project_id, &since_ms],
        )?;
        map_rows(rows, |r| {
            let healthy = batch::to_u64(r.try_get(2)?);
            let errored = batch::to_u64(r.try_get(3)?);
            let crashed = batch::to_u64(r.try_get(4)?);
            let abnormal = batch::to_u64(r.try_get(5)?);
            let sessions = healthy + errored + crashed + abnormal;
            Ok(ReleaseHealth {
                release: r.try_get(0)?,
                environment: r.try_get(1)?,
                sessions,
                crashed,
                errored,
                abnormal,
                crash_free_rate: batch::crash_free_rate(sessions, crashed),
            })
        })
    }

    fn list_transactions(
        &self,
        project_id: i64,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<TransactionRow>> {
        let rows = self.conn()?.query(
            "SELECT project_id, event_id, name, op, status, start_ms, duration_ms, release,
                 environment
             FROM transactions WHERE project_id = $1 AND start_ms >= $2
             ORDER BY start_ms DESC, id DESC LIMIT $3",
            &[&project_id, &since_ms, &batch::page_limit(limit)],
        )?;
        map_rows(rows, |r| {
            Ok(TransactionRow {
                project_id: r.try_get(0)?,
                event_id: r.try_get(1)?,
                name: r.try_get(2)?,
                op: r.try_get(3)?,
                status: r.try_get(4)?,
                start_ms: r.try_get(5)?,
                duration_ms: r.try_get(6)?,
                release: r.try_get(7)?,
                environment: r.try_get(8)?,
            })
        })
    }

    fn list_check_ins(&self, project_id: i64, limit: u32) -> Result<Vec<CheckInRow>> {
        let rows = self.conn()?.query(
            "SELECT project_id, check_in_id, monitor_slug, status, duration_s, environment,
                 monitor_config, received_ms
             FROM check_ins WHERE project_id = $1
             ORDER BY received_ms DESC, id DESC LIMIT $2",
            &[&project_id, &batch::page_limit(limit)],
        )?;
        map_rows(rows, |r| {
            Ok(CheckInRow {
                project_id: r.try_get(0)?,
                check_in_id: r.try_get(1)?,
                monitor_slug: r.try_get(2)?,
                status: r.try_get(3)?,
                duration_s: r.try_get(4)?,
                environment: r.try_get(5)?,
                monitor_config: r.try_get(6)?,
                received_ms: r.try_get(7)?,
            })
        })
    }

    fn list_attachments(&self, project_id: i64, event_id: &str) -> Result<Vec<AttachmentRow>> {
        let rows = self.conn()?.query(
            "SELECT project_id, event_id, filename, content_type, attachment_type, data, size,
                 received_ms
             FROM attachments WHERE project_id = $1 AND event_id = $2 ORDER BY id",
            &[&project_id, &event_id],
        )?;
        map_rows(rows, |r| {
            Ok(AttachmentRow {
                project_id: r.try_get(0)?,
                event_id: r.try_get(1)?,
                filename: r.try_get(2)?,
                content_type: r.try_get(3)?,
                attachment_type: r.try_get(4)?,
                data: r.try_get(5)?,
                size: batch::to_u64(r.try_get(6)?),
                received_ms: r.try_get(7)?,
            })
        })
    }

    fn create_monitor(&self, new: &NewMonitor) -> Result<Monitor> {
        self.insert_monitor(new, "")
    }

    fn upsert_monitor(&self, new: &NewMonitor) -> Result<Monitor> {
        self.insert_monitor(
            new,
            "ON CONFLICT ((COALESCE(project_id, 0)), name) DO UPDATE SET
                 kind = excluded.kind, spec = excluded.spec, source = excluded.source,
                 token = excluded.token, slug = excluded.slug, updated_ms = excluded.updated_ms",
        )
    }

    fn update_monitor(&self, id: i64, new: &NewMonitor) -> Result<Option<Monitor>> {
        let spec = checks::spec_to_db(&new.spec);
        let row = self
            .conn()?
            .query_opt(
                &format!(
                    "UPDATE monitors SET name = $2, kind = $3, spec = $4::text::jsonb,
                         source = $5, project_id = $6, token = $7, slug = $8, updated_ms = $9
                     WHERE id = $1
                     RETURNING {MONITOR_COLS}"
                ),
                &[
                    &id,
                    &new.name,
                    &new.kind,
                    &spec,
                    &new.source.as_str(),
                    &new.project_id,
                    &new.token,
                    &new.slug,
                    &new.now_ms,
                ],
            )
            .map_err(|e| match e {
                StoreError::Postgres(e) => monitor_conflict(e, new),
                e => e,
            })?;
        row.as_ref().map(monitor_from_row).transpose()
    }

    fn delete_monitor(&self, id: i64) -> Result<bool> {
        // One statement: every data-modifying CTE runs, in one implicit transaction.
        let rows = self.conn()?.query(
            "WITH gone AS (DELETE FROM monitors WHERE id = $1 RETURNING id),
                 r AS (DELETE FROM check_results WHERE monitor_id = $1),
                 u AS (DELETE FROM check_rollups WHERE monitor_id = $1),
                 o AS (DELETE FROM outages WHERE monitor_id = $1),
                 w AS (DELETE FROM maintenance_windows WHERE monitor_id = $1)
             SELECT COUNT(*) FROM gone",
            &[&id],
        )?;
        let n: i64 = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        Ok(n > 0)
    }

    fn prune_config_monitors(&self, keep: &[i64]) -> Result<u64> {
        let rows = self.conn()?.query(
            "WITH gone AS (DELETE FROM monitors WHERE source = 'config' AND id <> ALL($1)
                           RETURNING id),
                 r AS (DELETE FROM check_results WHERE monitor_id IN (SELECT id FROM gone)),
                 u AS (DELETE FROM check_rollups WHERE monitor_id IN (SELECT id FROM gone)),
                 o AS (DELETE FROM outages WHERE monitor_id IN (SELECT id FROM gone)),
                 w AS (DELETE FROM maintenance_windows
                       WHERE monitor_id IN (SELECT id FROM gone))
             SELECT COUNT(*) FROM gone",
            &[&keep],
        )?;
        match rows.first() {
            Some(row) => Ok(batch::to_u64(row.try_get(0)?)),
            None => Ok(0),
        }
    }

    fn list_monitors(&self) -> Result<Vec<Monitor>> {
        let rows = self.conn()?.query(
            &format!("SELECT {MONITOR_COLS} FROM monitors ORDER BY id"),
            &[],
        )?;
        map_rows(rows, monitor_from_row)
    }

    fn get_monitor(&self, id: i64) -> Result<Option<Monitor>> {
        self.conn()?
            .query_opt(
                &format!("SELECT {MONITOR_COLS} FROM monitors WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(monitor_from_row)
            .transpose()
    }

    fn get_monitor_by_token(&self, token: &str) -> Result<Option<Monitor>> {
        self.conn()?
            .query_opt(
                &format!("SELECT {MONITOR_COLS} FROM monitors WHERE token = $1"),
                &[&token],
            )?
            .as_ref()
            .map(monitor_from_row)
            .transpose()
    }

    fn get_monitor_by_slug(&self, project_id: i64, slug: &str) -> Result<Option<Monitor>> {
        self.conn()?
            .query_opt(
                // The COALESCE term lets the lookup use `monitors_slug_key`.
                &format!(
                    "SELECT {MONITOR_COLS} FROM monitors
                     WHERE COALESCE(project_id, 0) = $1 AND slug = $2 AND project_id IS NOT NULL"
                ),
                &[&project_id, &slug],
            )?
            .as_ref()
            .map(monitor_from_row)
            .transpose()
    }

    fn set_monitor_paused(&self, id: i64, paused: bool, now_ms: i64) -> Result<bool> {
        // The state column keeps the confirmed health: the scheduler shows "paused" from
        // the flag and restores the health on resume.
        let n = self.conn()?.execute(
            "UPDATE monitors SET paused = $2, updated_ms = $3 WHERE id = $1",
            &[&id, &paused, &now_ms],
        )?;
        Ok(n > 0)
    }

    fn write_checks(&self, b: &CheckBatch) -> Result<Vec<Signal>> {
        let mut conn = self.conn()?;
        let PgConn { client, statements } = &mut *conn;
        let mut tx = client.transaction()?;
        let signals = checks::write_checks(
            &mut PgTx {
                tx: &mut tx,
                statements,
            },
            b,
        )?;
        tx.commit()?;
        Ok(signals)
    }

    fn check_results(
        &self,
        monitor_id: i64,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<CheckRecord>> {
        let rows = self.conn()?.query(
            "SELECT monitor_id, at_ms, latency_ms, code, error FROM check_results
             WHERE monitor_id = $1 AND at_ms >= $2 AND at_ms < $3
             ORDER BY at_ms DESC LIMIT $4",
            &[&monitor_id, &from_ms, &to_ms, &i64::from(limit)],
        )?;
        map_rows(rows, |r| {
            checks::check_record(
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get::<_, Option<i32>>(2)?.map(i64::from),
                i64::from(r.try_get::<_, i16>(3)?),
                r.try_get(4)?,
            )
        })
    }

    fn rollup_checks(&self, now_ms: i64) -> Result<u64> {
        let mut conn = self.conn()?;
        let mut written = 0u64;
        for resolution in checks::RESOLUTIONS {
            let ids = monitor_ids_in(&mut conn, "check_results")?;
            let PgConn { client, statements } = &mut *conn;
            // One transaction per chunk: a long catch-up commits as it goes.
            loop {
                let mut tx = client.transaction()?;
                let done = PgTx {
                    tx: &mut tx,
                    statements,
                }
                .rollup_chunk(resolution, &ids, now_ms)?;
                tx.commit()?;
                match done {
                    Some(n) => written += n,
                    None => break,
                }
            }
        }
        Ok(written)
    }

    fn prune_checks(&self, retention: &CheckRetention, now_ms: i64) -> Result<u64> {
        let mut conn = self.conn()?;
        let raw_ids = monitor_ids_in(&mut conn, "check_results")?;
        let rollup_ids = monitor_ids_in(&mut conn, "check_rollups")?;
        let mut total = 0u64;
        let raw_cut = now_ms.saturating_sub(retention.raw_ms);
        for part in raw_ids.chunks(PRUNE_MONITORS_PER_STATEMENT) {
            total += conn.execute(
                "DELETE FROM check_results WHERE monitor_id = ANY($1) AND at_ms < $2",
                &[&part, &raw_cut],
            )?;
        }
        for (resolution, keep_ms) in [
            (Resolution::Minute, retention.minute_ms),
            (Resolution::Hour, retention.hour_ms),
            (Resolution::Day, retention.day_ms),
        ] {
            // A bucket goes once all of it is past retention.
            let last_start = now_ms
                .saturating_sub(keep_ms)
                .saturating_sub(resolution.bucket_ms());
            let code = checks::resolution_code(resolution);
            for part in rollup_ids.chunks(PRUNE_MONITORS_PER_STATEMENT) {
                total += conn.execute(
                    "DELETE FROM check_rollups
                     WHERE monitor_id = ANY($1) AND resolution = $2 AND start_ms <= $3",
                    &[&part, &code, &last_start],
                )?;
            }
        }
        Ok(total)
    }

    fn check_rollups(
        &self,
        monitor_id: i64,
        resolution: Resolution,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Rollup>> {
        let rows = self.conn()?.query(
            &format!(
                "SELECT {ROLLUP_COLS} FROM check_rollups
                 WHERE monitor_id = $1 AND resolution = $2 AND start_ms >= $3 AND start_ms < $4
                 ORDER BY start_ms"
            ),
            &[
                &monitor_id,
                &checks::resolution_code(resolution),
                &from_ms,
                &to_ms,
            ],
        )?;
        map_rows(rows, rollup_from_row)
    }

    fn latency_summary(&self, monitor_id: i64, from_ms: i64, to_ms: i64) -> Result<LatencySummary> {
        let mut conn = self.conn()?;
        let PgConn { client, statements } = &mut *conn;
        // One snapshot, so that a prune between the reads cannot leave a gap.
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let mut t = PgTx {
            tx: &mut tx,
            statements,
        };
        let hour = checks::resolution_code(Resolution::Hour);
        let row = t.query(
            "SELECT (SELECT MIN(at_ms) FROM check_results WHERE monitor_id = $1),
                    (SELECT MIN(start_ms) FROM check_rollups
                     WHERE monitor_id = $1 AND resolution = $2)",
            &[&monitor_id, &hour],
        )?;
        let (oldest_raw, oldest_hour): (Option<i64>, Option<i64>) = match row.first() {
            Some(r) => (r.try_get(0)?, r.try_get(1)?),
            None => (None, None),
        };
        let plan = checks::summary_plan(from_ms, to_ms, oldest_raw, oldest_hour);
        let mut raw = RawSummary::default();
        if let Some((from, to)) = plan.raw {
            let scan = t.stmt(
                "SELECT latency_ms, code FROM check_results
                 WHERE monitor_id = $1 AND at_ms >= $2 AND at_ms < $3",
            )?;
            let params: [&(dyn ToSql + Sync); 3] = [&monitor_id, &from, &to];
            let mut rows = t.tx.query_raw(&scan, params)?;
            while let Some(row) = rows.next()? {
                raw.push(
                    row.try_get::<_, Option<i32>>(0)?.map(i64::from),
                    i64::from(row.try_get::<_, i16>(1)?),
                )?;
            }
        }
        let hours = match plan.hours {
            Some((from, to)) => map_rows(
                t.query(
                    &format!(
                        "SELECT {ROLLUP_COLS} FROM check_rollups
                         WHERE monitor_id = $1 AND resolution = $2
                             AND start_ms >= $3 AND start_ms < $4
                         ORDER BY start_ms"
                    ),
                    &[&monitor_id, &hour, &from, &to],
                )?,
                rollup_from_row,
            )?,
            None => Vec::new(),
        };
        tx.commit()?;
        Ok(checks::summarize(raw, &hours))
    }

    fn outages(
        &self,
        monitor_id: i64,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<Outage>> {
        let rows = self.conn()?.query(
            "SELECT id, monitor_id, start_ms, end_ms, cause FROM outages
             WHERE monitor_id = $1 AND start_ms < $3
                 AND COALESCE(end_ms, 9223372036854775807) > $2
             ORDER BY start_ms DESC, id DESC LIMIT $4",
            &[&monitor_id, &from_ms, &to_ms, &i64::from(limit)],
        )?;
        map_rows(rows, |r| {
            Ok(Outage {
                id: r.try_get(0)?,
                monitor_id: r.try_get(1)?,
                start_ms: r.try_get(2)?,
                end_ms: r.try_get(3)?,
                cause: r.try_get(4)?,
            })
        })
    }

    fn downtime(&self, from_ms: i64, to_ms: i64) -> Result<HashMap<i64, i64>> {
        let rows = self.conn()?.query(
            "SELECT monitor_id, SUM(down)::int8 FROM (
                 SELECT monitor_id,
                     GREATEST(0, LEAST(COALESCE(end_ms, $2), $2) - GREATEST(start_ms, $1)) AS down
                 FROM outages
                 WHERE COALESCE(end_ms, 9223372036854775807) > $1 AND start_ms < $2
             ) AS clipped
             GROUP BY monitor_id HAVING SUM(down) > 0",
            &[&from_ms, &to_ms],
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    fn create_maintenance(&self, new: &NewMaintenance) -> Result<Maintenance> {
        let rows = self.conn()?.query(
            "INSERT INTO maintenance_windows (monitor_id, start_ms, end_ms, reason, created_ms)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &new.monitor_id,
                &new.start_ms,
                &new.end_ms,
                &new.reason,
                &new.now_ms,
            ],
        )?;
        let id: i64 = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => {
                return Err(StoreError::Corrupt(
                    "maintenance window not returned".to_string(),
                ))
            }
        };
        Ok(Maintenance {
            id,
            monitor_id: new.monitor_id,
            start_ms: new.start_ms,
            end_ms: new.end_ms,
            reason: new.reason.clone(),
            created_ms: new.now_ms,
        })
    }

    fn list_maintenance(&self, after_ms: i64) -> Result<Vec<Maintenance>> {
        let rows = self.conn()?.query(
            "SELECT id, monitor_id, start_ms, end_ms, reason, created_ms FROM maintenance_windows
             WHERE end_ms > $1 ORDER BY start_ms, id",
            &[&after_ms],
        )?;
        map_rows(rows, |r| {
            Ok(Maintenance {
                id: r.try_get(0)?,
                monitor_id: r.try_get(1)?,
                start_ms: r.try_get(2)?,
                end_ms: r.try_get(3)?,
                reason: r.try_get(4)?,
                created_ms: r.try_get(5)?,
            })
        })
    }

    fn delete_maintenance(&self, id: i64) -> Result<bool> {
        let n = self
            .conn()?
            .execute("DELETE FROM maintenance_windows WHERE id = $1", &[&id])?;
        Ok(n > 0)
    }

    fn apply_alerts(&self, batch: &AlertBatch) -> Result<Vec<i64>> {
        let mut conn = self.conn()?;
        let PgConn { client, statements } = &mut *conn;
        let mut tx = client.transaction()?;
        let ids = alerts::apply_alerts(
            &mut PgTx {
                tx: &mut tx,
                statements,
            },
            batch,
        )?;
        tx.commit()?;
        Ok(ids)
    }

    fn open_incidents(&self) -> Result<Vec<IncidentRow>> {
        let rows = self.conn()?.query(
            // The predicate of `incidents_open_key`, so the partial index serves it.
            &format!(
                "SELECT {INCIDENT_COLS} FROM incidents WHERE status <> 'resolved' ORDER BY id"
            ),
            &[],
        )?;
        map_rows(rows, incident_from_row)
    }

    fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<IncidentRow>> {
        let mut sql = format!("SELECT {INCIDENT_COLS} FROM incidents WHERE TRUE");
        let limit = batch::page_limit(f.limit);
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if !f.statuses.is_empty() {
            sql.push_str(&format!(
                " AND status = ANY({})",
                push_arg(&mut args, &f.statuses)
            ));
        }
        if let Some((kind, id)) = &f.subject {
            let kind = push_arg(&mut args, kind);
            let id = push_arg(&mut args, id);
            sql.push_str(&format!(" AND subject_kind = {kind} AND subject_id = {id}"));
        }
        if let Some(before) = &f.before_id {
            sql.push_str(&format!(" AND id < {}", push_arg(&mut args, before)));
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            push_arg(&mut args, &limit)
        ));
        let rows = self.conn()?.query(&sql, &args)?;
        map_rows(rows, incident_from_row)
    }

    fn get_incident(&self, id: i64) -> Result<Option<IncidentRow>> {
        self.conn()?
            .query_opt(
                &format!("SELECT {INCIDENT_COLS} FROM incidents WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(incident_from_row)
            .transpose()
    }

    fn incident_timeline(&self, id: i64) -> Result<Vec<TimelineEntry>> {
        let rows = self.conn()?.query(
            "SELECT at_ms, kind, text, actor FROM incident_timeline
             WHERE incident_id = $1 ORDER BY id",
            &[&id],
        )?;
        map_rows(rows, |r| {
            Ok(TimelineEntry {
                at_ms: r.try_get(0)?,
                kind: r.try_get(1)?,
                text: r.try_get(2)?,
                actor: r.try_get(3)?,
            })
        })
    }

    fn cursor(&self, name: &str) -> Result<Option<i64>> {
        match self
            .conn()?
            .query_opt("SELECT value FROM alert_cursors WHERE name = $1", &[&name])?
        {
            Some(row) => Ok(Some(row.try_get(0)?)),
            None => Ok(None),
        }
    }

    fn due_messages(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxMessage>> {
        // Claim and lease in one statement: rows another instance is claiming right now
        // are skipped rather than waited for, and rows it already leased are no longer
        // due, so no two instances get the same message within a lease.
        let rows = self.conn()?.query(
            &format!(
                "WITH due AS (
                     SELECT id AS due_id, next_attempt_ms AS due_ms FROM outbox
                     WHERE status = 'pending' AND next_attempt_ms <= $1
                     ORDER BY next_attempt_ms, id LIMIT $2
                     FOR UPDATE SKIP LOCKED
                 )
                 UPDATE outbox SET next_attempt_ms = $3 FROM due WHERE outbox.id = due.due_id
                 RETURNING {OUTBOX_COLS}, due.due_ms"
            ),
            &[
                &now_ms,
                &batch::page_limit(limit),
                &alerts::lease_end(now_ms),
            ],
        )?;
        let mut due = rows
            .iter()
            .map(|r| Ok((r.try_get::<_, i64>(11)?, message_from_row(r)?)))
            .collect::<Result<Vec<(i64, OutboxMessage)>>>()?;
        // RETURNING comes in no particular order; callers get the oldest first.
        due.sort_by_key(|(due_ms, m)| (*due_ms, m.id));
        Ok(due.into_iter().map(|(_, m)| m).collect())
    }

    fn update_message(&self, id: i64, u: &OutboxUpdate) -> Result<()> {
        self.conn()?.execute(
            "UPDATE outbox SET status = $2, attempts = $3, next_attempt_ms = $4,
                 last_error = $5, sent_ms = $6
             WHERE id = $1",
            &[
                &id,
                &u.status,
                &u.attempts,
                &u.next_attempt_ms,
                &u.last_error,
                &u.sent_ms,
            ],
        )?;
        Ok(())
    }

    fn incident_messages(&self, incident_id: i64) -> Result<Vec<OutboxMessage>> {
        let rows = self.conn()?.query(
            &format!("SELECT {OUTBOX_COLS} FROM outbox WHERE incident_id = $1 ORDER BY id"),
            &[&incident_id],
        )?;
        map_rows(rows, message_from_row)
    }

    fn next_message_due(&self) -> Result<Option<i64>> {
        match self.conn()?.query_opt(
            "SELECT MIN(next_attempt_ms) FROM outbox WHERE status = 'pending'",
            &[],
        )? {
            Some(row) => Ok(row.try_get(0)?),
            None => Ok(None),
        }
    }

    fn set_channel_broken(&self, channel: &str, reason: Option<&str>, now_ms: i64) -> Result<()> {
        let mut conn = self.conn()?;
        match reason {
            // Marked again while broken: the reason follows, `since_ms` keeps the first
            // failure.
            Some(reason) => conn.execute(
                "INSERT INTO broken_channels (channel, reason, since_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (channel) DO UPDATE SET reason = excluded.reason",
                &[&channel, &reason, &now_ms],
            )?,
            None => conn.execute(
                "DELETE FROM broken_channels WHERE channel = $1",
                &[&channel],
            )?,
        };
        Ok(())
    }

    fn broken_channels(&self) -> Result<Vec<ChannelState>> {
        let rows = self.conn()?.query(
            "SELECT channel, reason, since_ms FROM broken_channels ORDER BY channel",
            &[],
        )?;
        map_rows(rows, |r| {
            Ok(ChannelState {
                channel: r.try_get(0)?,
                reason: r.try_get(1)?,
                since_ms: r.try_get(2)?,
            })
        })
    }

    fn create_silence(&self, silence: &SilenceRow) -> Result<SilenceRow> {
        let row = self.conn()?.query_opt(
            "INSERT INTO silences (target_kind, target, until_ms, reason, created_by,
                 created_ms)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &silence.target_kind,
                &silence.target,
                &silence.until_ms,
                &silence.reason,
                &silence.created_by,
                &silence.created_ms,
            ],
        )?;
        let Some(row) = row else {
            return Err(StoreError::Corrupt("silence id not returned".to_string()));
        };
        Ok(SilenceRow {
            id: row.try_get(0)?,
            ..silence.clone()
        })
    }

    fn active_silences(&self, now_ms: i64) -> Result<Vec<SilenceRow>> {
        let rows = self.conn()?.query(
            "SELECT id, target_kind, target, until_ms, reason, created_by, created_ms
             FROM silences WHERE until_ms > $1 ORDER BY id",
            &[&now_ms],
        )?;
        map_rows(rows, |r| {
            Ok(SilenceRow {
                id: r.try_get(0)?,
                target_kind: r.try_get(1)?,
                target: r.try_get(2)?,
                until_ms: r.try_get(3)?,
                reason: r.try_get(4)?,
                created_by: r.try_get(5)?,
                created_ms: r.try_get(6)?,
            })
        })
    }

    fn delete_silence(&self, id: i64) -> Result<bool> {
        let n = self
            .conn()?
            .execute("DELETE FROM silences WHERE id = $1", &[&id])?;
        Ok(n > 0)
    }

    fn create_rule(&self, rule: &StoredRule) -> Result<()> {
        self.conn()?
            .client
            .execute(
                "INSERT INTO alert_rules (name, spec, created_ms) VALUES ($1, $2, $3)",
                &[&rule.name, &rule.spec.to_string(), &rule.created_ms],
            )
            .map_err(conflict)?;
        Ok(())
    }

    fn list_rules(&self) -> Result<Vec<StoredRule>> {
        let rows = self.conn()?.query(
            "SELECT name, spec, created_ms FROM alert_rules ORDER BY created_ms, name",
            &[],
        )?;
        map_rows(rows, |row| {
            let spec: &str = row.try_get(1)?;
            Ok(StoredRule {
                name: row.try_get(0)?,
                spec: serde_json::from_str(spec)
                    .map_err(|e| StoreError::Corrupt(format!("rule spec: {e}")))?,
                created_ms: row.try_get(2)?,
            })
        })
    }

    fn delete_rule(&self, name: &str) -> Result<bool> {
        let n = self
            .conn()?
            .execute("DELETE FROM alert_rules WHERE name = $1", &[&name])?;
        Ok(n > 0)
    }

    fn save_payload_dict(&self, d: &PayloadDict) -> Result<()> {
        self.conn()?
            .client
            .execute(
                "INSERT INTO payload_dicts (id, project_id, created_ms, samples, dict)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &i64::from(d.id),
                    &d.project_id,
                    &d.created_ms,
                    &d.samples,
                    &d.dict,
                ],
            )
            .map_err(conflict)?;
        Ok(())
    }

    fn payload_dicts(&self) -> Result<Vec<PayloadDict>> {
        let rows = self.conn()?.query(
            "SELECT id, project_id, created_ms, samples, dict FROM payload_dicts
             ORDER BY created_ms, id",
            &[],
        )?;
        map_rows(rows, |row| {
            Ok(PayloadDict {
                id: crate::model::dict_id(row.try_get(0)?)?,
                project_id: row.try_get(1)?,
                created_ms: row.try_get(2)?,
                samples: row.try_get(3)?,
                dict: row.try_get(4)?,
            })
        })
    }

    fn signals_after(&self, after_id: i64, limit: u32) -> Result<Vec<Signal>> {
        let rows = self.conn()?.query(
            "SELECT id, kind, project_id, issue_id, event_id, created_ms, monitor_id, detail
             FROM signals WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after_id, &batch::page_limit(limit)],
        )?;
        map_rows(rows, signal_from_row)
    }
}

/// Adds a query argument and returns its placeholder.
fn push_arg<'a>(args: &mut Vec<&'a (dyn ToSql + Sync)>, v: &'a (dyn ToSql + Sync)) -> String {
    args.push(v);
    format!("${}", args.len())
}

/// Keeps `nextval` ahead of ids given explicitly (config-declared projects).
fn bump_project_sequence(tx: &mut Transaction<'_>) -> Result<()> {
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('projects', 'id'),
             GREATEST((SELECT MAX(id) FROM projects), 1))",
        &[],
    )?;
    Ok(())
}
