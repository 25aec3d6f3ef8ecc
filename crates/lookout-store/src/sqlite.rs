//! The embedded SQLite store: one writer connection behind a mutex (ingest batches through
//! a single writer thread anyway, and SQLite allows one writer at a time), and a small
//! pool of read connections that WAL mode lets run alongside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lookout_core::signal::{Signal, SignalKind};
use rusqlite::{
    params, params_from_iter, Connection, ErrorCode, OpenFlags, OptionalExtension, Row, ToSql,
    TransactionBehavior,
};

use crate::alerts::{self, AlertTx, IncidentInsert};
use crate::batch::{self, BatchTx, IssueState, IssueUpdate, ValueUpdate};
use crate::checks::{self, CheckTx, RawSummary, RollupBuilder};
use crate::model::*;
use crate::{Result, Store, StoreError};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_monitors.sql")),
    (3, include_str!("../migrations/sqlite/0003_alerts.sql")),
    (4, include_str!("../migrations/sqlite/0004_rules.sql")),
    (
        5,
        include_str!("../migrations/sqlite/0005_payload_dicts.sql"),
    ),
];

const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_CACHE: usize = 64;

const ISSUE_COLS: &str = "id, project_id, fingerprint, grouping_version, title, culprit, \
    level, status, substatus, platform, first_seen_ms, last_seen_ms, count, user_count, \
    unhandled_count, first_release, last_release, resolved_ms";
const EVENT_COLS: &str = "id, project_id, issue_id, event_id, timestamp_ms, received_ms, \
    level, release, environment, title, payload";
const PROJECT_COLS: &str = "id, slug, name, public_key, settings, created_ms";
const MONITOR_COLS: &str = checks::monitor_cols!("spec");
const INCIDENT_COLS: &str = alerts::incident_cols!("state");
const OUTBOX_COLS: &str = alerts::outbox_cols!("payload");

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: r2d2::Pool<ReaderManager>,
    path: PathBuf,
    /// Set by the checkpointer when the WAL should start over; the writer does it.
    restart_wanted: Arc<AtomicBool>,
    /// Held for its `Drop`, which stops the thread.
    _checkpointer: Checkpointer,
}

/// Copies the WAL back into the database on its own thread and connection. SQLite's
/// automatic checkpoint runs inside whichever commit crosses the threshold and stalls
/// ingest for 100–300 ms; a PASSIVE checkpoint beside the writer never blocks it.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// WAL size past which the checkpointer copies it back without blocking anyone.
const CHECKPOINT_WAL_BYTES: u64 = 8 * 1024 * 1024;
/// Under steady writes a PASSIVE checkpoint never catches the last frames, so the WAL
/// never restarts and grows without end; past this size a RESTART checkpoint briefly
/// holds the writer back to copy the few frames left and start the WAL over.
///
/// The writer's own connection runs it, between two commits: a WAL restarted by another
/// connection makes every connection drop its whole page cache (SQLite sees a changed
/// WAL header), and the writer's cache is what keeps index pages from being read back on
/// every batch. Only when no write comes to do it does the checkpointer restart the WAL.
const RESTART_WAL_BYTES: u64 = 32 * 1024 * 1024;
/// How long the checkpointer leaves a wanted restart to the writer.
const RESTART_HANDOFF: Duration = Duration::from_secs(2);

impl Checkpointer {
    fn start(path: &Path, restart_wanted: Arc<AtomicBool>) -> Result<Self> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("lookout-checkpoint".into())
            .spawn(move || {
                let mut wanted_since: Option<Instant> = None;
                // Wakes every 250 ms; ends when the store is dropped (the sender goes away).
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(Duration::from_millis(250))
                {
                    let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
                    if size < CHECKPOINT_WAL_BYTES {
                        continue;
                    }
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                        continue;
                    }
                    if size < RESTART_WAL_BYTES {
                        wanted_since = None;
                        continue;
                    }
                    let since = *wanted_since.get_or_insert_with(Instant::now);
                    if since.elapsed() < RESTART_HANDOFF {
                        restart_wanted.store(true, Ordering::Relaxed);
                        continue;
                    }
                    wanted_since = None;
                    restart_wanted.store(false, Ordering::Relaxed);
                    if let Err(e) = restart_wal(&conn) {
                        tracing::warn!(error = %e, "WAL restart checkpoint failed; will retry");
                    }
                }
            })
            .map_err(|e| StoreError::Open(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn restart_wal(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens read connections for the pool.
#[derive(Debug)]
struct ReaderManager {
    path: PathBuf,
}

impl r2d2::ManageConnection for ReaderManager {
    type Connection = Connection;
    type Error = rusqlite::Error;

    fn connect(&self) -> std::result::Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // A bug in a read path must not be able to write.
        conn.pragma_update(None, "query_only", "ON")?;
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut Connection) -> std::result::Result<(), rusqlite::Error> {
        conn.query_row("SELECT 1", [], |_| Ok(()))
    }

    fn has_broken(&self, _conn: &mut Connection) -> bool {
        false
    }
}

/// How far a committed write is guaranteed to survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Survives the process dying (kill -9, panic, OOM kill); the OS writes the WAL to disk
    /// later (`synchronous=NORMAL`). A power cut may lose the last second of writes.
    Process,
    /// Also survives a power cut or kernel crash: every commit is fsynced
    /// (`synchronous=FULL`). Costs one fsync per group commit.
    #[default]
    PowerLoss,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and applies pending migrations. A directory
    /// (existing, or a missing path without extension) gets `lookout.db` inside it.
    pub fn open(dir_or_file: &Path) -> Result<Self> {
        Self::open_with(dir_or_file, Durability::default())
    }

    /// [`SqliteStore::open`] with a chosen durability.
    pub fn open_with(dir_or_file: &Path, durability: Durability) -> Result<Self> {
        let is_dir =
            dir_or_file.is_dir() || (!dir_or_file.exists() && dir_or_file.extension().is_none());
        let path = if is_dir {
            dir_or_file.join("lookout.db")
        } else {
            dir_or_file.to_path_buf()
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Open(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let mut writer = Connection::open(&path)
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        writer.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Only takes effect on a new file. A group commit of a few dozen events dirties one
        // leaf of each random index per event (event ids, issue users, per-issue event
        // lists) far more than table pages: 4 KiB pages write (and fsync) ~40 % fewer WAL
        // bytes per event than 8 KiB ones, for ~20 % more file.
        writer.pragma_update(None, "page_size", 4096)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open(format!(
                "{}: cannot switch to WAL mode (got {mode})",
                path.display()
            )));
        }
        // In WAL mode both levels keep every committed transaction across a crash of the
        // process; only FULL also fsyncs each commit against power loss.
        let sync = match durability {
            Durability::Process => "NORMAL",
            Durability::PowerLoss => "FULL",
        };
        writer.pragma_update(None, "synchronous", sync)?;
        writer.pragma_update(None, "foreign_keys", "OFF")?;
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        // The writer touches index pages all over (random event ids, issue rows): a larger
        // cache than the 2 MB default saves reading them back on every batch. 64 MB holds
        // the random indexes of ~1M events (32 MB: ~500k, under a minute of saturating
        // ingest) for ~35 MB more resident memory under load.
        writer.pragma_update(None, "cache_size", -65_536)?;
        // Checkpoints run on their own thread (see `Checkpointer`), never inside a commit.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        migrate(&mut writer).map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;

        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(ReaderManager { path: path.clone() })?;
        let restart_wanted = Arc::new(AtomicBool::new(false));
        let checkpointer = Checkpointer::start(&path, restart_wanted.clone())?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            path,
            restart_wanted,
            _checkpointer: checkpointer,
        })
    }

    /// The database file in use.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-transaction rolled the transaction back when it unwound, so the
        // connection is still usable.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reader(&self) -> Result<r2d2::PooledConnection<ReaderManager>> {
        Ok(self.readers.get()?)
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        // IMMEDIATE: two processes opening the same file must not both apply a migration.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_none() {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)",
                params![version, now_ms()],
            )?;
            tracing::info!(version, "applied SQLite migration");
        }
        tx.commit()?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What `upsert_monitor` adds to the insert: config-declared monitors are matched by
/// project and name, keeping their id, status and history.
const MONITOR_UPSERT: &str = "ON CONFLICT (COALESCE(project_id, 0), name) DO UPDATE SET
    kind = excluded.kind, spec = excluded.spec, source = excluded.source,
    token = excluded.token, slug = excluded.slug, updated_ms = excluded.updated_ms";

/// Inserts a monitor, with `on_conflict` deciding what a clash does (empty: refuse).
fn insert_monitor(conn: &Connection, new: &NewMonitor, on_conflict: &str) -> Result<Monitor> {
    let id: i64 = conn
        .prepare_cached(&format!(
            "INSERT INTO monitors (name, kind, spec, source, project_id, token, slug,
                 created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) {on_conflict} RETURNING id"
        ))?
        .query_row(
            params![
                new.name,
                new.kind,
                checks::spec_to_db(&new.spec),
                new.source.as_str(),
                new.project_id,
                new.token,
                new.slug,
                new.now_ms
            ],
            |r| r.get(0),
        )
        .map_err(|e| monitor_conflict(e, new))?;
    get_monitor_by_id(conn, id)?
        .ok_or_else(|| StoreError::Corrupt(format!("monitor {id} vanished")))
}

/// Turns uniqueness violations into [`StoreError::Conflict`].
fn conflict(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) if f.code == ErrorCode::ConstraintViolation => {
            StoreError::Conflict(msg.clone().unwrap_or_else(|| f.to_string()))
        }
        _ => StoreError::Sqlite(e),
    }
}

fn status_at(row: &Row<'_>, idx: usize) -> Result<IssueStatus> {
    let s: String = row.get(idx)?;
    IssueStatus::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("issue status {s:?}")))
}

fn project_from_row(row: &Row<'_>) -> Result<Project> {
    let settings: String = row.get(4)?;
    Ok(Project {
        id: row.get(0)?,
        slug: row.get(1)?,
        name: row.get(2)?,
        public_key: row.get(3)?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("project settings: {e}")))?,
        created_ms: row.get(5)?,
    })
}

fn issue_from_row(row: &Row<'_>) -> Result<Issue> {
    Ok(Issue {
        id: row.get(0)?,
        project_id: row.get(1)?,
        fingerprint: row.get(2)?,
        grouping_version: row.get(3)?,
        title: row.get(4)?,
        culprit: row.get(5)?,
        level: row.get(6)?,
        status: status_at(row, 7)?,
        substatus: row.get(8)?,
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

fn event_from_row(row: &Row<'_>) -> Result<StoredEvent> {
    Ok(StoredEvent {
        id: row.get(0)?,
        project_id: row.get(1)?,
        issue_id: row.get(2)?,
        event_id: row.get(3)?,
        timestamp_ms: row.get(4)?,
        received_ms: row.get(5)?,
        level: row.get(6)?,
        release: row.get(7)?,
        environment: row.get(8)?,
        title: row.get(9)?,
        payload: row.get(10)?,
    })
}

fn seen_from_row(row: &Row<'_>) -> Result<SeenValue> {
    Ok(SeenValue {
        value: row.get(0)?,
        count: batch::to_u64(row.get(1)?),
        first_seen_ms: row.get(2)?,
        last_seen_ms: row.get(3)?,
    })
}

fn signal_from_row(row: &Row<'_>) -> Result<Signal> {
    let kind: String = row.get(1)?;
    Ok(Signal {
        id: row.get(0)?,
        kind: SignalKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("signal kind {kind:?}")))?,
        project_id: row.get(2)?,
        issue_id: row.get(3)?,
        event_id: row.get(4)?,
        monitor_id: row.get(6)?,
        detail: row.get(7)?,
        created_ms: row.get(5)?,
    })
}

/// Runs a query and maps every row with a fallible mapper.
fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

fn first<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    match rows.next()? {
        Some(row) => Ok(Some(map(row)?)),
        None => Ok(None),
    }
}

fn get_project_by_id(conn: &Connection, id: i64) -> Result<Option<Project>> {
    first(
        conn,
        &format!("SELECT {PROJECT_COLS} FROM projects WHERE id = ?1"),
        [id],
        project_from_row,
    )
}

/// The batch primitives over an open write transaction.
struct SqliteTx<'a> {
    conn: &'a Connection,
}

impl SqliteTx<'_> {
    fn find_or_create_issue(&mut self, ev: &NewEvent, first_seen_ms: i64) -> Result<IssueState> {
        let mut find = self.conn.prepare_cached(
            "SELECT id, status, substatus, last_seen_ms FROM issues
             WHERE project_id = ?1 AND fingerprint = ?2",
        )?;
        let mut rows = find.query(params![ev.project_id, ev.fingerprint])?;
        if let Some(row) = rows.next()? {
            return Ok(IssueState {
                id: row.get(0)?,
                created: false,
                status: status_at(row, 1)?,
                substatus: row.get(2)?,
                last_seen_ms: row.get(3)?,
            });
        }
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO issues (project_id, fingerprint, grouping_version, title, culprit,
                 level, status, substatus, platform, first_seen_ms, last_seen_ms, count,
                 user_count, unhandled_count, first_release, last_release)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'unresolved', 'new', ?7, ?8, ?8, 0, 0, 0, ?9, ?9)
             RETURNING id",
        )?;
        let id = insert.query_row(
            params![
                ev.project_id,
                ev.fingerprint,
                ev.grouping_version,
                ev.title,
                ev.culprit,
                ev.level,
                ev.platform,
                first_seen_ms,
                ev.release,
            ],
            |r| r.get(0),
        )?;
        Ok(IssueState {
            id,
            created: true,
            status: IssueStatus::Unresolved,
            substatus: Some(batch::SUB_NEW.to_string()),
            last_seen_ms: first_seen_ms,
        })
    }
}

impl BatchTx for SqliteTx<'_> {
    fn existing_events(&mut self, project_id: i64, ids: &[&str]) -> Result<HashMap<String, i64>> {
        // One cached point lookup per id: in-process there is no round trip to save, and an
        // `IN (…)` list would be a new statement to compile for every batch size.
        let mut stmt = self.conn.prepare_cached(
            "SELECT issue_id FROM events WHERE project_id = ?1 AND event_id = ?2",
        )?;
        let mut found = HashMap::new();
        for id in ids {
            if let Some(issue_id) = stmt
                .query_row(params![project_id, id], |r| r.get::<_, i64>(0))
                .optional()?
            {
                found.insert((*id).to_string(), issue_id);
            }
        }
        Ok(found)
    }

    fn find_or_create_issues(
        &mut self,
        _project_id: i64,
        groups: &[(&NewEvent, i64)],
    ) -> Result<Vec<IssueState>> {
        groups
            .iter()
            .map(|(ev, first_seen_ms)| self.find_or_create_issue(ev, *first_seen_ms))
            .collect()
    }

    fn insert_events(&mut self, rows: &[(i64, &NewEvent)]) -> Result<Vec<bool>> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO events (project_id, issue_id, event_id, timestamp_ms, received_ms,
                 level, release, environment, title, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (project_id, event_id) DO NOTHING",
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (issue_id, ev) in rows {
            let n = stmt.execute(params![
                ev.project_id,
                issue_id,
                ev.event_id,
                ev.timestamp_ms,
                ev.received_ms,
                ev.level,
                ev.release,
                ev.environment,
                ev.title,
                ev.payload,
            ])?;
            out.push(n > 0);
        }
        Ok(out)
    }

    fn insert_users(&mut self, rows: &[(i64, &str)]) -> Result<Vec<bool>> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO issue_users (issue_id, user_key) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (issue_id, key) in rows {
            out.push(stmt.execute(params![issue_id, key])? > 0);
        }
        Ok(out)
    }

    fn upsert_values(&mut self, rows: &[(i64, ValueUpdate<'_>)]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO issue_values (issue_id, kind, value, count, first_seen_ms, last_seen_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (issue_id, kind, value) DO UPDATE SET
                 count = count + excluded.count,
                 first_seen_ms = MIN(first_seen_ms, excluded.first_seen_ms),
                 last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms)",
        )?;
        for (issue_id, v) in rows {
            stmt.execute(params![
                issue_id,
                v.kind,
                v.value,
                v.count,
                v.first_seen_ms,
                v.last_seen_ms
            ])?;
        }
        Ok(())
    }

    fn update_issues(&mut self, updates: &[IssueUpdate<'_>]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE issues SET
                 count = count + ?2,
                 user_count = user_count + ?3,
                 unhandled_count = unhandled_count + ?4,
                 first_seen_ms = MIN(first_seen_ms, ?5),
                 last_seen_ms = MAX(last_seen_ms, ?6),
                 status = ?7,
                 substatus = ?8,
                 title = COALESCE(?9, title),
                 culprit = COALESCE(?10, culprit),
                 level = COALESCE(?11, level),
                 last_release = COALESCE(?12, last_release)
             WHERE id = ?1",
        )?;
        for u in updates {
            stmt.execute(params![
                u.id,
                u.add_count,
                u.add_users,
                u.add_unhandled,
                u.first_seen_ms,
                u.last_seen_ms,
                u.status.as_str(),
                u.substatus,
                u.latest.map(|e| &e.title),
                u.latest.map(|e| &e.culprit),
                u.latest.map(|e| &e.level),
                u.latest.and_then(|e| e.release.as_ref()),
            ])?;
        }
        Ok(())
    }

    fn delete_issue(&mut self, id: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM issues WHERE id = ?1")?
            .execute([id])?;
        Ok(())
    }

    fn insert_signals(&mut self, signals: &mut [Signal]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO signals (kind, project_id, issue_id, event_id, monitor_id, detail,
                 created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        // Not `RETURNING id`: SQLite gathers RETURNING rows in a temporary table, and
        // creating and dropping one per signal was 7 % of the writer's time.
        for s in signals {
            stmt.execute(params![
                s.kind.as_str(),
                s.project_id,
                s.issue_id,
                s.event_id,
                s.monitor_id,
                s.detail,
                s.created_ms
            ])?;
            s.id = self.conn.last_insert_rowid();
        }
        Ok(())
    }

    fn insert_transaction(&mut self, t: &TransactionRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO transactions (project_id, event_id, name, op, status, start_ms,
                     duration_ms, release, environment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (project_id, event_id) DO NOTHING",
            )?
            .execute(params![
                t.project_id,
                t.event_id,
                t.name,
                t.op,
                t.status,
                t.start_ms,
                t.duration_ms,
                t.release,
                t.environment
            ])?;
        Ok(())
    }

    fn add_sessions(&mut self, s: &SessionCounts) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO session_counts (project_id, release, environment, bucket_ms,
                     healthy, errored, crashed, abnormal)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (project_id, release, environment, bucket_ms) DO UPDATE SET
                     healthy = healthy + excluded.healthy,
                     errored = errored + excluded.errored,
                     crashed = crashed + excluded.crashed,
                     abnormal = abnormal + excluded.abnormal",
            )?
            .execute(params![
                s.project_id,
                s.release,
                s.environment,
                s.bucket_ms,
                batch::to_i64(s.healthy),
                batch::to_i64(s.errored),
                batch::to_i64(s.crashed),
                batch::to_i64(s.abnormal)
            ])?;
        Ok(())
    }

    fn insert_check_in(&mut self, c: &CheckInRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO check_ins (project_id, check_in_id, monitor_slug, status,
                     duration_s, environment, monitor_config, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                c.project_id,
                c.check_in_id,
                c.monitor_slug,
                c.status,
                c.duration_s,
                c.environment,
                c.monitor_config,
                c.received_ms
            ])?;
        Ok(())
    }

    fn insert_attachment(&mut self, a: &AttachmentRow) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO attachments (project_id, event_id, filename, content_type,
                     attachment_type, data, size, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                a.project_id,
                a.event_id,
                a.filename,
                a.content_type,
                a.attachment_type,
                a.data,
                batch::to_i64(a.size),
                a.received_ms
            ])?;
        Ok(())
    }

    fn add_outcome(&mut self, o: &OutcomeIncrement) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO outcomes (project_id, bucket_ms, outcome, category, reason, quantity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (project_id, bucket_ms, outcome, category, reason) DO UPDATE SET
                     quantity = quantity + excluded.quantity",
            )?
            .execute(params![
                o.project_id,
                o.bucket_ms,
                o.outcome,
                o.category,
                o.reason,
                batch::to_i64(o.quantity)
            ])?;
        Ok(())
    }
}

/// Turns a uniqueness violation of a monitor write into a `Conflict` naming what clashed.
fn monitor_conflict(e: rusqlite::Error, new: &NewMonitor) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) if f.code == ErrorCode::ConstraintViolation => {
            checks::monitor_conflict(msg.as_deref().unwrap_or_default(), new)
        }
        _ => StoreError::Sqlite(e),
    }
}

fn monitor_from_row(row: &Row<'_>) -> Result<Monitor> {
    let spec: String = row.get(3)?;
    let source: String = row.get(4)?;
    let state: String = row.get(11)?;
    Ok(Monitor {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: row.get(2)?,
        spec: checks::spec_from_db(&spec)?,
        source: checks::source_from_db(&source)?,
        project_id: row.get(5)?,
        token: row.get(6)?,
        slug: row.get(7)?,
        paused: row.get(8)?,
        created_ms: row.get(9)?,
        updated_ms: row.get(10)?,
        status: MonitorStatus {
            state: checks::state_from_db(&state)?,
            last_check_ms: row.get(12)?,
            last_latency_ms: row.get(13)?,
            last_error: row.get(14)?,
            down_since_ms: row.get(15)?,
            tls_expires_ms: row.get(16)?,
            tls_warned_days: row.get(17)?,
            running_since_ms: row.get(18)?,
        },
    })
}

fn rollup_from_row(row: &Row<'_>) -> Result<Rollup> {
    Ok(Rollup {
        monitor_id: row.get(0)?,
        resolution: checks::resolution_from_code(row.get(1)?)?,
        start_ms: row.get(2)?,
        count: checks::u32_from_db(row.get(3)?, "roll-up count")?,
        failures: checks::u32_from_db(row.get(4)?, "roll-up failures")?,
        degraded: checks::u32_from_db(row.get(5)?, "roll-up degraded")?,
        maintenance: checks::u32_from_db(row.get(6)?, "roll-up maintenance")?,
        p50_ms: checks::opt_u32_from_db(row.get(7)?, "roll-up p50")?,
        p95_ms: checks::opt_u32_from_db(row.get(8)?, "roll-up p95")?,
        p99_ms: checks::opt_u32_from_db(row.get(9)?, "roll-up p99")?,
        max_ms: checks::opt_u32_from_db(row.get(10)?, "roll-up max")?,
    })
}

fn get_monitor_by_id(conn: &Connection, id: i64) -> Result<Option<Monitor>> {
    first(
        conn,
        &format!("SELECT {MONITOR_COLS} FROM monitors WHERE id = ?1"),
        [id],
        monitor_from_row,
    )
}

/// Deletes a monitor and everything recorded about it, inside the caller's transaction.
fn delete_monitor_rows(conn: &Connection, id: i64) -> Result<bool> {
    for sql in [
        "DELETE FROM check_results WHERE monitor_id = ?1",
        "DELETE FROM check_rollups WHERE monitor_id = ?1",
        "DELETE FROM outages WHERE monitor_id = ?1",
        "DELETE FROM maintenance_windows WHERE monitor_id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute([id])?;
    }
    Ok(conn
        .prepare_cached("DELETE FROM monitors WHERE id = ?1")?
        .execute([id])?
        > 0)
}

/// The distinct monitor ids of `check_results` or `check_rollups`, one index seek each
/// (a loose index scan): neither table has an index that starts with time, so work over
/// a time range goes monitor by monitor.
fn monitor_ids_in(conn: &Connection, table: &str) -> Result<Vec<i64>> {
    collect(
        conn,
        &format!(
            "WITH RECURSIVE m(id) AS (
                 SELECT (SELECT MIN(monitor_id) FROM {table})
                 UNION ALL
                 SELECT (SELECT MIN(monitor_id) FROM {table} WHERE monitor_id > m.id)
                 FROM m WHERE m.id IS NOT NULL
             )
             SELECT id FROM m WHERE id IS NOT NULL"
        ),
        [],
        |r| Ok(r.get(0)?),
    )
}

/// Turns a clash with the "one incident not resolved per rule and subject" index into a
/// `Conflict`.
fn incident_conflict(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            alerts::open_conflict(msg.as_deref().unwrap_or_default())
        }
        _ => StoreError::Sqlite(e),
    }
}

fn incident_from_row(row: &Row<'_>) -> Result<IncidentRow> {
    let state: String = row.get(14)?;
    Ok(IncidentRow {
        id: row.get(0)?,
        rule: row.get(1)?,
        subject_kind: row.get(2)?,
        subject_id: row.get(3)?,
        severity: row.get(4)?,
        status: row.get(5)?,
        title: row.get(6)?,
        summary: row.get(7)?,
        count: row.get(8)?,
        opened_ms: row.get(9)?,
        acked_ms: row.get(10)?,
        acked_by: row.get(11)?,
        resolved_ms: row.get(12)?,
        resolved_by: row.get(13)?,
        state: alerts::json_from_db(&state, "incident state")?,
        runbook: row.get(15)?,
    })
}

fn message_from_row(row: &Row<'_>) -> Result<OutboxMessage> {
    let payload: String = row.get(4)?;
    Ok(OutboxMessage {
        id: row.get(0)?,
        incident_id: row.get(1)?,
        channel: row.get(2)?,
        event: row.get(3)?,
        payload: alerts::json_from_db(&payload, "message payload")?,
        status: row.get(5)?,
        attempts: row.get(6)?,
        next_attempt_ms: row.get(7)?,
        last_error: row.get(8)?,
        created_ms: row.get(9)?,
        sent_ms: row.get(10)?,
    })
}

impl AlertTx for SqliteTx<'_> {
    fn update_incidents(&mut self, updates: &[(i64, IncidentUpdate)]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE incidents SET
                 status = COALESCE(?2, status),
                 count = COALESCE(?3, count),
                 summary = COALESCE(?4, summary),
                 acked_ms = CASE WHEN ?5 THEN ?6 ELSE acked_ms END,
                 acked_by = CASE WHEN ?5 THEN ?7 ELSE acked_by END,
                 resolved_ms = CASE WHEN ?8 THEN ?9 ELSE resolved_ms END,
                 resolved_by = CASE WHEN ?8 THEN ?10 ELSE resolved_by END,
                 state = COALESCE(?11, state)
             WHERE id = ?1",
        )?;
        for (id, u) in updates {
            stmt.execute(params![
                id,
                u.status,
                u.count,
                u.summary,
                u.acked.is_some(),
                u.acked.as_ref().map(|a| a.0),
                u.acked.as_ref().map(|a| &a.1),
                u.resolved.is_some(),
                u.resolved.as_ref().map(|r| r.0),
                u.resolved.as_ref().and_then(|r| r.1.as_ref()),
                u.state.as_ref().map(alerts::json_to_db),
            ])
            // Reopening a resolved incident can clash with a newer open one.
            .map_err(incident_conflict)?;
        }
        Ok(())
    }

    fn insert_incidents(&mut self, rows: &[IncidentInsert<'_>]) -> Result<Vec<i64>> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO incidents (rule, subject_kind, subject_id, severity, status, title,
                 summary, count, opened_ms, acked_ms, acked_by, resolved_ms, resolved_by, state,
                 runbook)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             RETURNING id",
        )?;
        let mut ids = Vec::with_capacity(rows.len());
        for r in rows {
            let id = stmt
                .query_row(
                    params![
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
                        alerts::json_to_db(r.state),
                        r.new.runbook,
                    ],
                    |row| row.get(0),
                )
                .map_err(incident_conflict)?;
            ids.push(id);
        }
        Ok(ids)
    }

    fn append(
        &mut self,
        timeline: &[(i64, &TimelineEntry)],
        messages: &[(i64, &NewOutboxMessage)],
        cursor: Option<(&str, i64)>,
    ) -> Result<()> {
        if !timeline.is_empty() {
            let mut stmt = self.conn.prepare_cached(
                "INSERT INTO incident_timeline (incident_id, at_ms, kind, text, actor)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (id, t) in timeline {
                stmt.execute(params![id, t.at_ms, t.kind, t.text, t.actor])?;
            }
        }
        if !messages.is_empty() {
            let mut stmt = self.conn.prepare_cached(
                "INSERT INTO outbox (incident_id, channel, event, payload, status, attempts,
                     next_attempt_ms, created_ms)
                 VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
            )?;
            for (id, m) in messages {
                stmt.execute(params![
                    id,
                    m.channel,
                    m.event,
                    alerts::json_to_db(&m.payload),
                    m.now_ms
                ])?;
            }
        }
        if let Some((name, value)) = cursor {
            self.conn
                .prepare_cached(
                    "INSERT INTO alert_cursors (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![name, value])?;
        }
        Ok(())
    }
}

/// Monitors deleted or pruned per write transaction: large enough that a big prune does
/// not pay one commit per monitor, small enough that check batches are not held back long.
const PRUNE_MONITORS_PER_TX: usize = 256;

impl CheckTx for SqliteTx<'_> {
    fn insert_results(&mut self, results: &[&CheckRecord]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO check_results (monitor_id, at_ms, latency_ms, code, error)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        )?;
        for r in results {
            stmt.execute(params![
                r.monitor_id,
                r.at_ms,
                checks::latency_to_db(r.latency_ms),
                checks::pack_code(r.outcome, r.maintenance),
                r.error,
            ])?;
        }
        Ok(())
    }

    fn update_statuses(&mut self, statuses: &[&(i64, MonitorStatus)]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE monitors SET state = ?2, last_check_ms = ?3, last_latency_ms = ?4,
                 last_error = ?5, down_since_ms = ?6, tls_expires_ms = ?7,
                 tls_warned_days = ?8, running_since_ms = ?9
             WHERE id = ?1",
        )?;
        for (id, s) in statuses.iter().copied() {
            stmt.execute(params![
                id,
                s.state.as_str(),
                s.last_check_ms,
                s.last_latency_ms,
                s.last_error,
                s.down_since_ms,
                s.tls_expires_ms,
                s.tls_warned_days,
                s.running_since_ms,
            ])?;
        }
        Ok(())
    }

    fn open_outages(&mut self, opens: &[(i64, i64, &str)]) -> Result<()> {
        // The partial unique index `outages_open` turns a second open into a no-op.
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO outages (monitor_id, start_ms, cause) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )?;
        for (monitor_id, start_ms, cause) in opens {
            stmt.execute(params![monitor_id, start_ms, cause])?;
        }
        Ok(())
    }

    fn close_outages(&mut self, closes: &[(i64, i64)]) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE outages SET end_ms = ?2 WHERE monitor_id = ?1 AND end_ms IS NULL",
        )?;
        for (monitor_id, end_ms) in closes {
            stmt.execute(params![monitor_id, end_ms])?;
        }
        Ok(())
    }

    fn record_signals(&mut self, signals: &mut [Signal]) -> Result<()> {
        self.insert_signals(signals)
    }
}

impl SqliteStore {
    /// Writes one chunk's roll-ups and moves the resolution's watermark to `done_ms`.
    fn store_rollups(
        &self,
        resolution: Resolution,
        rollups: &[Rollup],
        done_ms: i64,
    ) -> Result<()> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO check_rollups (monitor_id, resolution, start_ms, count, failures,
                     degraded, maintenance, p50_ms, p95_ms, p99_ms, max_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (monitor_id, resolution, start_ms) DO UPDATE SET
                     count = excluded.count,
                     failures = excluded.failures,
                     degraded = excluded.degraded,
                     maintenance = excluded.maintenance,
                     p50_ms = excluded.p50_ms,
                     p95_ms = excluded.p95_ms,
                     p99_ms = excluded.p99_ms,
                     max_ms = excluded.max_ms",
            )?;
            for r in rollups {
                stmt.execute(params![
                    r.monitor_id,
                    checks::resolution_code(r.resolution),
                    r.start_ms,
                    r.count,
                    r.failures,
                    r.degraded,
                    r.maintenance,
                    r.p50_ms,
                    r.p95_ms,
                    r.p99_ms,
                    r.max_ms,
                ])?;
            }
        }
        // MAX: a concurrent run that got further must not be set back.
        tx.prepare_cached(
            "INSERT INTO check_rollup_marks (resolution, done_ms) VALUES (?1, ?2)
             ON CONFLICT (resolution) DO UPDATE SET done_ms = MAX(done_ms, excluded.done_ms)",
        )?
        .execute(params![checks::resolution_code(resolution), done_ms])?;
        tx.commit()?;
        Ok(())
    }

    /// Runs `delete` (with `?1` the monitor id) for every monitor in `ids`, a few hundred
    /// monitors per transaction; returns the rows deleted.
    fn delete_per_monitor(&self, ids: &[i64], delete: &str, args: &[&dyn ToSql]) -> Result<u64> {
        let mut total = 0u64;
        for chunk in ids.chunks(PRUNE_MONITORS_PER_TX) {
            let mut conn = self.writer();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(delete)?;
                for id in chunk {
                    let mut all: Vec<&dyn ToSql> = Vec::with_capacity(args.len() + 1);
                    all.push(id);
                    all.extend_from_slice(args);
                    total += stmt.execute(all.as_slice())? as u64;
                }
            }
            tx.commit()?;
        }
        Ok(total)
    }
}

impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn ping(&self) -> Result<()> {
        self.reader()?.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn create_project(&self, new: &NewProject) -> Result<Project> {
        let settings = serde_json::to_string(&new.settings)
            .map_err(|e| StoreError::Corrupt(format!("project settings: {e}")))?;
        let key = new.public_key.clone().unwrap_or_else(batch::new_public_key);
        let conn = self.writer();
        let id: i64 = conn
            .prepare_cached(
                "INSERT INTO projects (id, slug, name, public_key, settings, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            )?
            .query_row(
                params![new.id, new.slug, new.name, key, settings, new.now_ms],
                |r| r.get(0),
            )
            .map_err(conflict)?;
        get_project_by_id(&conn, id)?
            .ok_or_else(|| StoreError::Corrupt(format!("project {id} vanished")))
    }

    fn upsert_project(&self, new: &NewProject) -> Result<Project> {
        let settings = serde_json::to_string(&new.settings)
            .map_err(|e| StoreError::Corrupt(format!("project settings: {e}")))?;
        let conn = self.writer();
        let Some(id) = new.id else {
            let existing: Option<i64> = conn
                .query_row(
                    "SELECT id FROM projects WHERE slug = ?1",
                    [&new.slug],
                    |r| r.get(0),
                )
                .optional()?;
            drop(conn);
            return match existing {
                Some(id) => self.upsert_project(&NewProject {
                    id: Some(id),
                    ..new.clone()
                }),
                None => self.create_project(new),
            };
        };
        let key = new.public_key.clone().unwrap_or_else(batch::new_public_key);
        conn.prepare_cached(
            "INSERT INTO projects (id, slug, name, public_key, settings, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET
                 slug = excluded.slug,
                 name = excluded.name,
                 public_key = CASE WHEN ?7 THEN excluded.public_key ELSE public_key END,
                 settings = excluded.settings",
        )?
        .execute(params![
            id,
            new.slug,
            new.name,
            key,
            settings,
            new.now_ms,
            new.public_key.is_some()
        ])
        .map_err(conflict)?;
        get_project_by_id(&conn, id)?
            .ok_or_else(|| StoreError::Corrupt(format!("project {id} vanished")))
    }

    fn list_projects(&self) -> Result<Vec<Project>> {
        collect(
            &*self.reader()?,
            &format!("SELECT {PROJECT_COLS} FROM projects ORDER BY id"),
            [],
            project_from_row,
        )
    }

    fn get_project(&self, id: i64) -> Result<Option<Project>> {
        get_project_by_id(&*self.reader()?, id)
    }

    fn get_project_by_slug(&self, slug: &str) -> Result<Option<Project>> {
        first(
            &*self.reader()?,
            &format!("SELECT {PROJECT_COLS} FROM projects WHERE slug = ?1"),
            [slug],
            project_from_row,
        )
    }

    fn write_batch(&self, b: &WriteBatch) -> Result<BatchResult> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let result = batch::write_batch(&mut SqliteTx { conn: &tx }, b)?;
        tx.commit()?;
        if self.restart_wanted.swap(false, Ordering::Relaxed) {
            // The batch is committed whatever happens here; a failed restart is retried.
            if let Err(e) = restart_wal(&conn) {
                tracing::warn!(error = %e, "WAL restart checkpoint failed; will retry");
            }
        }
        Ok(result)
    }

    fn list_issues(&self, f: &IssueFilter) -> Result<Vec<Issue>> {
        let mut sql = format!("SELECT {ISSUE_COLS} FROM issues i WHERE project_id = ?");
        let mut args: Vec<Box<dyn ToSql>> = vec![Box::new(f.project_id)];
        if let Some(status) = f.status {
            sql.push_str(" AND status = ?");
            args.push(Box::new(status.as_str()));
        }
        if let Some(level) = &f.level {
            sql.push_str(" AND level = ?");
            args.push(Box::new(level.clone()));
        }
        for (kind, value) in [
            (batch::KIND_RELEASE, &f.release),
            (batch::KIND_ENVIRONMENT, &f.environment),
        ] {
            if let Some(value) = value {
                sql.push_str(
                    " AND EXISTS (SELECT 1 FROM issue_values v
                       WHERE v.issue_id = i.id AND v.kind = ? AND v.value = ?)",
                );
                args.push(Box::new(kind));
                args.push(Box::new(value.clone()));
            }
        }
        if let Some(text) = f.text.as_deref().filter(|t| !t.is_empty()) {
            // SQLite's LIKE is case-insensitive for ASCII, which covers titles in practice.
            sql.push_str(" AND (title LIKE ? ESCAPE '\\' OR culprit LIKE ? ESCAPE '\\')");
            let pattern = batch::like_pattern(text);
            args.push(Box::new(pattern.clone()));
            args.push(Box::new(pattern));
        }
        sql.push_str(match f.sort {
            IssueSort::LastSeen => " ORDER BY last_seen_ms DESC, id DESC",
            IssueSort::FirstSeen => " ORDER BY first_seen_ms DESC, id DESC",
            IssueSort::Count => " ORDER BY count DESC, id DESC",
        });
        sql.push_str(" LIMIT ? OFFSET ?");
        args.push(Box::new(batch::page_limit(f.limit)));
        args.push(Box::new(i64::from(f.offset)));
        collect(
            &*self.reader()?,
            &sql,
            params_from_iter(args.iter()),
            issue_from_row,
        )
    }

    fn get_issue(&self, id: i64) -> Result<Option<IssueDetail>> {
        let conn = self.reader()?;
        let Some(issue) = first(
            &conn,
            &format!("SELECT {ISSUE_COLS} FROM issues WHERE id = ?1"),
            [id],
            issue_from_row,
        )?
        else {
            return Ok(None);
        };
        let values = |kind: &str| {
            collect(
                &conn,
                "SELECT value, count, first_seen_ms, last_seen_ms FROM issue_values
                 WHERE issue_id = ?1 AND kind = ?2 ORDER BY last_seen_ms DESC, value",
                params![id, kind],
                seen_from_row,
            )
        };
        Ok(Some(IssueDetail {
            releases: values(batch::KIND_RELEASE)?,
            environments: values(batch::KIND_ENVIRONMENT)?,
            issue,
        }))
    }

    fn set_issue_status(&self, id: i64, status: IssueStatus, now_ms: i64) -> Result<bool> {
        let n = self
            .writer()
            .prepare_cached(
                "UPDATE issues SET
                     status = ?2,
                     substatus = CASE ?2 WHEN 'unresolved' THEN 'ongoing' ELSE NULL END,
                     resolved_ms = CASE ?2 WHEN 'resolved' THEN ?3 ELSE resolved_ms END
                 WHERE id = ?1",
            )?
            .execute(params![id, status.as_str(), now_ms])?;
        Ok(n > 0)
    }

    fn list_events(
        &self,
        issue_id: i64,
        limit: u32,
        before_id: Option<i64>,
    ) -> Result<Vec<StoredEvent>> {
        collect(
            &*self.reader()?,
            &format!(
                "SELECT {EVENT_COLS} FROM events WHERE issue_id = ?1 AND id < ?2
                 ORDER BY id DESC LIMIT ?3"
            ),
            params![
                issue_id,
                before_id.unwrap_or(i64::MAX),
                batch::page_limit(limit)
            ],
            event_from_row,
        )
    }

    fn latest_event(&self, issue_id: i64) -> Result<Option<StoredEvent>> {
        first(
            &*self.reader()?,
            &format!(
                "SELECT {EVENT_COLS} FROM events WHERE issue_id = ?1 ORDER BY id DESC LIMIT 1"
            ),
            [issue_id],
            event_from_row,
        )
    }

    fn get_event(&self, project_id: i64, event_id: &str) -> Result<Option<StoredEvent>> {
        first(
            &*self.reader()?,
            &format!("SELECT {EVENT_COLS} FROM events WHERE project_id = ?1 AND event_id = ?2"),
            params![project_id, event_id],
            event_from_row,
        )
    }

    fn count_events(
        &self,
        project_id: i64,
        from_ms: i64,
        to_ms: i64,
        filter: &EventCountFilter,
    ) -> Result<u64> {
        // The levels go in as a JSON array: one cached statement for any number of them.
        let levels = serde_json::to_string(&filter.levels)
            .map_err(|e| StoreError::Corrupt(format!("levels: {e}")))?;
        let n: i64 = self
            .reader()?
            .prepare_cached(
                "SELECT COUNT(*) FROM events
                 WHERE project_id = ?1 AND received_ms >= ?2 AND received_ms < ?3
                   AND level IN (SELECT value FROM json_each(?4))
                   AND (?5 IS NULL OR environment = ?5)
                   AND (?6 IS NULL OR release = ?6)",
            )?
            .query_row(
                params![
                    project_id,
                    from_ms,
                    to_ms,
                    levels,
                    filter.environment,
                    filter.release
                ],
                |r| r.get(0),
            )?;
        Ok(batch::to_u64(n))
    }

    fn delete_events_before(&self, project_id: i64, cutoff_ms: i64) -> Result<u64> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM attachments WHERE project_id = ?1 AND event_id IN
                 (SELECT event_id FROM events WHERE project_id = ?1 AND received_ms < ?2)",
            params![project_id, cutoff_ms],
        )?;
        let n = tx.execute(
            "DELETE FROM events WHERE project_id = ?1 AND received_ms < ?2",
            params![project_id, cutoff_ms],
        )?;
        tx.commit()?;
        Ok(n as u64)
    }

    fn outcome_total(
        &self,
        project_id: i64,
        category: &str,
        outcome: &str,
        since_ms: i64,
    ) -> Result<u64> {
        let total: i64 = self
            .reader()?
            .prepare_cached(
                "SELECT COALESCE(SUM(quantity), 0) FROM outcomes
                 WHERE project_id = ?1 AND category = ?2 AND outcome = ?3 AND bucket_ms >= ?4",
            )?
            .query_row(params![project_id, category, outcome, since_ms], |r| {
                r.get(0)
            })?;
        Ok(batch::to_u64(total))
    }

    fn outcome_summary(&self, project_id: i64, since_ms: i64) -> Result<Vec<OutcomeCount>> {
        collect(
            &*self.reader()?,
            "SELECT outcome, category, reason, SUM(quantity) FROM outcomes
             WHERE project_id = ?1 AND bucket_ms >= ?2
             GROUP BY outcome, category, reason ORDER BY outcome, category, reason",
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
    }

    fn release_health(&self, project_id: i64, since_ms: i64) -> Result<Vec<ReleaseHealth>> {
        collect(
            &*self.reader()?,
            "SELECT release, environment, SUM(healthy), SUM(errored), SUM(crashed), SUM(abnormal)
             FROM session_counts WHERE project_id = ?1 AND bucket_ms >= ?2
             GROUP BY release, environment ORDER BY release, environment",
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
    }

    fn list_transactions(
        &self,
        project_id: i64,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<TransactionRow>> {
        collect(
            &*self.reader()?,
            "SELECT project_id, event_id, name, op, status, start_ms, duration_ms, release,
                 environment
             FROM transactions WHERE project_id = ?1 AND start_ms >= ?2
             ORDER BY start_ms DESC, id DESC LIMIT ?3",
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
    }

    fn list_check_ins(&self, project_id: i64, limit: u32) -> Result<Vec<CheckInRow>> {
        collect(
            &*self.reader()?,
            "SELECT project_id, check_in_id, monitor_slug, status, duration_s, environment,
                 monitor_config, received_ms
             FROM check_ins WHERE project_id = ?1
             ORDER BY received_ms DESC, id DESC LIMIT ?2",
            params![project_id, batch::page_limit(limit)],
            |r| {
                Ok(CheckInRow {
                    project_id: r.get(0)?,
                    check_in_id: r.get(1)?,
                    monitor_slug: r.get(2)?,
                    status: r.get(3)?,
                    duration_s: r.get(4)?,
                    environment: r.get(5)?,
                    monitor_config: r.get(6)?,
                    received_ms: r.get(7)?,
                })
            },
        )
    }

    fn list_attachments(&self, project_id: i64, event_id: &str) -> Result<Vec<AttachmentRow>> {
        collect(
            &*self.reader()?,
            "SELECT project_id, event_id, filename, content_type, attachment_type, data, size,
                 received_ms
             FROM attachments WHERE project_id = ?1 AND event_id = ?2 ORDER BY id",
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
    }

    fn create_monitor(&self, new: &NewMonitor) -> Result<Monitor> {
        insert_monitor(&self.writer(), new, "")
    }

    fn upsert_monitor(&self, new: &NewMonitor) -> Result<Monitor> {
        insert_monitor(&self.writer(), new, MONITOR_UPSERT)
    }

    fn update_monitor(&self, id: i64, new: &NewMonitor) -> Result<Option<Monitor>> {
        let conn = self.writer();
        let n = conn
            .prepare_cached(
                "UPDATE monitors SET name = ?2, kind = ?3, spec = ?4, source = ?5,
                     project_id = ?6, token = ?7, slug = ?8, updated_ms = ?9
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                new.name,
                new.kind,
                checks::spec_to_db(&new.spec),
                new.source.as_str(),
                new.project_id,
                new.token,
                new.slug,
                new.now_ms
            ])
            .map_err(|e| monitor_conflict(e, new))?;
        if n == 0 {
            return Ok(None);
        }
        get_monitor_by_id(&conn, id)
    }

    fn delete_monitor(&self, id: i64) -> Result<bool> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = delete_monitor_rows(&tx, id)?;
        tx.commit()?;
        Ok(found)
    }

    fn prune_config_monitors(&self, keep: &[i64]) -> Result<u64> {
        let keep = serde_json::to_string(keep)
            .map_err(|e| StoreError::Corrupt(format!("monitor ids: {e}")))?;
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let gone = collect(
            &tx,
            "SELECT id FROM monitors WHERE source = 'config'
                 AND id NOT IN (SELECT value FROM json_each(?1))",
            [&keep],
            |r| Ok(r.get::<_, i64>(0)?),
        )?;
        for id in &gone {
            delete_monitor_rows(&tx, *id)?;
        }
        tx.commit()?;
        Ok(gone.len() as u64)
    }

    fn list_monitors(&self) -> Result<Vec<Monitor>> {
        collect(
            &*self.reader()?,
            &format!("SELECT {MONITOR_COLS} FROM monitors ORDER BY id"),
            [],
            monitor_from_row,
        )
    }

    fn get_monitor(&self, id: i64) -> Result<Option<Monitor>> {
        get_monitor_by_id(&*self.reader()?, id)
    }

    fn get_monitor_by_token(&self, token: &str) -> Result<Option<Monitor>> {
        first(
            &*self.reader()?,
            &format!("SELECT {MONITOR_COLS} FROM monitors WHERE token = ?1"),
            [token],
            monitor_from_row,
        )
    }

    fn get_monitor_by_slug(&self, project_id: i64, slug: &str) -> Result<Option<Monitor>> {
        first(
            &*self.reader()?,
            // The COALESCE term lets the lookup use `monitors_slug_key`.
            &format!(
                "SELECT {MONITOR_COLS} FROM monitors
                 WHERE COALESCE(project_id, 0) = ?1 AND slug = ?2 AND project_id IS NOT NULL"
            ),
            params![project_id, slug],
            monitor_from_row,
        )
    }

    fn set_monitor_paused(&self, id: i64, paused: bool, now_ms: i64) -> Result<bool> {
        // The state column keeps the confirmed health: the scheduler shows "paused" from
        // the flag and restores the health on resume.
        let n = self
            .writer()
            .prepare_cached("UPDATE monitors SET paused = ?2, updated_ms = ?3 WHERE id = ?1")?
            .execute(params![id, paused, now_ms])?;
        Ok(n > 0)
    }

    fn write_checks(&self, b: &CheckBatch) -> Result<Vec<Signal>> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let signals = checks::write_checks(&mut SqliteTx { conn: &tx }, b)?;
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
        collect(
            &*self.reader()?,
            "SELECT monitor_id, at_ms, latency_ms, code, error FROM check_results
             WHERE monitor_id = ?1 AND at_ms >= ?2 AND at_ms < ?3
             ORDER BY at_ms DESC LIMIT ?4",
            params![monitor_id, from_ms, to_ms, i64::from(limit)],
            |r| checks::check_record(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
        )
    }

    fn rollup_checks(&self, now_ms: i64) -> Result<u64> {
        let mut written = 0u64;
        for resolution in checks::RESOLUTIONS {
            let (range, ids) = {
                let conn = self.reader()?;
                let watermark: Option<i64> = conn
                    .prepare_cached("SELECT done_ms FROM check_rollup_marks WHERE resolution = ?1")?
                    .query_row([checks::resolution_code(resolution)], |r| r.get(0))
                    .optional()?;
                let ids = monitor_ids_in(&conn, "check_results")?;
                let oldest = match watermark {
                    Some(_) => None,
                    None => {
                        let mut stmt = conn.prepare_cached(
                            "SELECT MIN(at_ms) FROM check_results WHERE monitor_id = ?1",
                        )?;
                        let mut oldest: Option<i64> = None;
                        for id in &ids {
                            let min: Option<i64> = stmt.query_row([id], |r| r.get(0))?;
                            oldest = oldest.into_iter().chain(min).min();
                        }
                        oldest
                    }
                };
                (
                    checks::rollup_range(resolution, watermark, oldest, now_ms),
                    ids,
                )
            };
            let Some((mut start, end)) = range else {
                continue;
            };
            while start < end {
                let stop = checks::chunk_end(resolution, start, end);
                // Read on a reader, so check batches keep flowing while a day's worth of
                // results is scanned; only the write takes the writer.
                let mut rollups = Vec::new();
                {
                    let conn = self.reader()?;
                    // One cached point query per monitor: in-process there is no round trip
                    // to save, and each is a seek plus a range read of the key.
                    let mut stmt = conn.prepare_cached(
                        "SELECT at_ms, latency_ms, code FROM check_results
                         WHERE monitor_id = ?1 AND at_ms >= ?2 AND at_ms < ?3",
                    )?;
                    for part in ids.chunks(checks::ROLLUP_MONITORS_PER_SCAN) {
                        let mut builder = RollupBuilder::new(resolution);
                        for id in part {
                            let mut rows = stmt.query(params![id, start, stop])?;
                            while let Some(row) = rows.next()? {
                                builder.push(*id, row.get(0)?, row.get(1)?, row.get(2)?)?;
                            }
                        }
                        rollups.extend(builder.finish());
                    }
                }
                self.store_rollups(resolution, &rollups, stop)?;
                written += rollups.len() as u64;
                start = stop;
            }
        }
        Ok(written)
    }

    fn prune_checks(&self, retention: &CheckRetention, now_ms: i64) -> Result<u64> {
        let (raw_ids, rollup_ids) = {
            let conn = self.reader()?;
            (
                monitor_ids_in(&conn, "check_results")?,
                monitor_ids_in(&conn, "check_rollups")?,
            )
        };
        let mut total = self.delete_per_monitor(
            &raw_ids,
            "DELETE FROM check_results WHERE monitor_id = ?1 AND at_ms < ?2",
            &[&now_ms.saturating_sub(retention.raw_ms)],
        )?;
        for (resolution, keep_ms) in [
            (Resolution::Minute, retention.minute_ms),
            (Resolution::Hour, retention.hour_ms),
            (Resolution::Day, retention.day_ms),
        ] {
            // A bucket goes once all of it is past retention.
            let last_start = now_ms
                .saturating_sub(keep_ms)
                .saturating_sub(resolution.bucket_ms());
            total += self.delete_per_monitor(
                &rollup_ids,
                "DELETE FROM check_rollups
                 WHERE monitor_id = ?1 AND resolution = ?2 AND start_ms <= ?3",
                &[&checks::resolution_code(resolution), &last_start],
            )?;
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
        collect(
            &*self.reader()?,
            "SELECT monitor_id, resolution, start_ms, count, failures, degraded, maintenance,
                 p50_ms, p95_ms, p99_ms, max_ms
             FROM check_rollups
             WHERE monitor_id = ?1 AND resolution = ?2 AND start_ms >= ?3 AND start_ms < ?4
             ORDER BY start_ms",
            params![
                monitor_id,
                checks::resolution_code(resolution),
                from_ms,
                to_ms
            ],
            rollup_from_row,
        )
    }

    fn latency_summary(&self, monitor_id: i64, from_ms: i64, to_ms: i64) -> Result<LatencySummary> {
        let conn = self.reader()?;
        // One snapshot, so that a prune between the reads cannot leave a gap.
        let tx = conn.unchecked_transaction()?;
        let oldest_raw: Option<i64> = tx
            .prepare_cached("SELECT MIN(at_ms) FROM check_results WHERE monitor_id = ?1")?
            .query_row([monitor_id], |r| r.get(0))?;
        let oldest_hour: Option<i64> = tx
            .prepare_cached(
                "SELECT MIN(start_ms) FROM check_rollups WHERE monitor_id = ?1 AND resolution = ?2",
            )?
            .query_row(
                params![monitor_id, checks::resolution_code(Resolution::Hour)],
                |r| r.get(0),
            )?;
        let plan = checks::summary_plan(from_ms, to_ms, oldest_raw, oldest_hour);
        let mut raw = RawSummary::default();
        if let Some((from, to)) = plan.raw {
            let mut stmt = tx.prepare_cached(
                "SELECT latency_ms, code FROM check_results
                 WHERE monitor_id = ?1 AND at_ms >= ?2 AND at_ms < ?3",
            )?;
            let mut rows = stmt.query(params![monitor_id, from, to])?;
            while let Some(row) = rows.next()? {
                raw.push(row.get(0)?, row.get(1)?)?;
            }
        }
        let hours = match plan.hours {
            Some((from, to)) => collect(
                &tx,
                "SELECT monitor_id, resolution, start_ms, count, failures, degraded, maintenance,
                     p50_ms, p95_ms, p99_ms, max_ms
                 FROM check_rollups
                 WHERE monitor_id = ?1 AND resolution = ?2 AND start_ms >= ?3 AND start_ms < ?4
                 ORDER BY start_ms",
                params![
                    monitor_id,
                    checks::resolution_code(Resolution::Hour),
                    from,
                    to
                ],
                rollup_from_row,
            )?,
            None => Vec::new(),
        };
        Ok(checks::summarize(raw, &hours))
    }

    fn outages(
        &self,
        monitor_id: i64,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<Outage>> {
        collect(
            &*self.reader()?,
            "SELECT id, monitor_id, start_ms, end_ms, cause FROM outages
             WHERE monitor_id = ?1 AND start_ms < ?3
                 AND COALESCE(end_ms, 9223372036854775807) > ?2
             ORDER BY start_ms DESC, id DESC LIMIT ?4",
            params![monitor_id, from_ms, to_ms, i64::from(limit)],
            |r| {
                Ok(Outage {
                    id: r.get(0)?,
                    monitor_id: r.get(1)?,
                    start_ms: r.get(2)?,
                    end_ms: r.get(3)?,
                    cause: r.get(4)?,
                })
            },
        )
    }

    fn downtime(&self, from_ms: i64, to_ms: i64) -> Result<HashMap<i64, i64>> {
        let rows = collect(
            &*self.reader()?,
            // `+monitor_id`: without statistics SQLite would rather scan all outages in
            // monitor order for the GROUP BY than seek the few recent ones in `outages_end`.
            "SELECT monitor_id,
                 SUM(MAX(0, MIN(COALESCE(end_ms, ?2), ?2) - MAX(start_ms, ?1))) AS down
             FROM outages
             WHERE COALESCE(end_ms, 9223372036854775807) > ?1 AND start_ms < ?2
             GROUP BY +monitor_id HAVING down > 0",
            params![from_ms, to_ms],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?;
        Ok(rows.into_iter().collect())
    }

    fn create_maintenance(&self, new: &NewMaintenance) -> Result<Maintenance> {
        let id: i64 = self
            .writer()
            .prepare_cached(
                "INSERT INTO maintenance_windows (monitor_id, start_ms, end_ms, reason, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            )?
            .query_row(
                params![
                    new.monitor_id,
                    new.start_ms,
                    new.end_ms,
                    new.reason,
                    new.now_ms
                ],
                |r| r.get(0),
            )?;
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
        collect(
            &*self.reader()?,
            "SELECT id, monitor_id, start_ms, end_ms, reason, created_ms FROM maintenance_windows
             WHERE end_ms > ?1 ORDER BY start_ms, id",
            [after_ms],
            |r| {
                Ok(Maintenance {
                    id: r.get(0)?,
                    monitor_id: r.get(1)?,
                    start_ms: r.get(2)?,
                    end_ms: r.get(3)?,
                    reason: r.get(4)?,
                    created_ms: r.get(5)?,
                })
            },
        )
    }

    fn delete_maintenance(&self, id: i64) -> Result<bool> {
        let n = self
            .writer()
            .prepare_cached("DELETE FROM maintenance_windows WHERE id = ?1")?
            .execute([id])?;
        Ok(n > 0)
    }

    fn apply_alerts(&self, batch: &AlertBatch) -> Result<Vec<i64>> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = alerts::apply_alerts(&mut SqliteTx { conn: &tx }, batch)?;
        tx.commit()?;
        Ok(ids)
    }

    fn open_incidents(&self) -> Result<Vec<IncidentRow>> {
        collect(
            &*self.reader()?,
            // The predicate of `incidents_open_key`, so the partial index serves it.
            &format!(
                "SELECT {INCIDENT_COLS} FROM incidents WHERE status <> 'resolved' ORDER BY id"
            ),
            [],
            incident_from_row,
        )
    }

    fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<IncidentRow>> {
        let mut sql = format!("SELECT {INCIDENT_COLS} FROM incidents WHERE 1");
        let mut args: Vec<Box<dyn ToSql>> = Vec::new();
        if !f.statuses.is_empty() {
            // One statement for any number of statuses, instead of one per list length.
            sql.push_str(" AND status IN (SELECT value FROM json_each(?))");
            let statuses = serde_json::to_string(&f.statuses)
                .map_err(|e| StoreError::Invalid(format!("incident statuses: {e}")))?;
            args.push(Box::new(statuses));
        }
        if let Some((kind, id)) = &f.subject {
            sql.push_str(" AND subject_kind = ? AND subject_id = ?");
            args.push(Box::new(kind.clone()));
            args.push(Box::new(*id));
        }
        if let Some(before) = f.before_id {
            sql.push_str(" AND id < ?");
            args.push(Box::new(before));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push(Box::new(batch::page_limit(f.limit)));
        collect(
            &*self.reader()?,
            &sql,
            params_from_iter(args.iter()),
            incident_from_row,
        )
    }

    fn get_incident(&self, id: i64) -> Result<Option<IncidentRow>> {
        first(
            &*self.reader()?,
            &format!("SELECT {INCIDENT_COLS} FROM incidents WHERE id = ?1"),
            [id],
            incident_from_row,
        )
    }

    fn incident_timeline(&self, id: i64) -> Result<Vec<TimelineEntry>> {
        collect(
            &*self.reader()?,
            "SELECT at_ms, kind, text, actor FROM incident_timeline
             WHERE incident_id = ?1 ORDER BY id",
            [id],
            |r| {
                Ok(TimelineEntry {
                    at_ms: r.get(0)?,
                    kind: r.get(1)?,
                    text: r.get(2)?,
                    actor: r.get(3)?,
                })
            },
        )
    }

    fn cursor(&self, name: &str) -> Result<Option<i64>> {
        first(
            &*self.reader()?,
            "SELECT value FROM alert_cursors WHERE name = ?1",
            [name],
            |r| Ok(r.get(0)?),
        )
    }

    fn due_messages(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxMessage>> {
        let lease = alerts::lease_end(now_ms);
        let mut conn = self.writer();
        // IMMEDIATE: another process on the same file cannot claim the same rows between
        // the read and the lease.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut due = collect(
            &tx,
            &format!(
                "SELECT {OUTBOX_COLS} FROM outbox
                 WHERE status = 'pending' AND next_attempt_ms <= ?1
                 ORDER BY next_attempt_ms, id LIMIT ?2"
            ),
            params![now_ms, batch::page_limit(limit)],
            message_from_row,
        )?;
        {
            let mut lease_stmt =
                tx.prepare_cached("UPDATE outbox SET next_attempt_ms = ?2 WHERE id = ?1")?;
            for m in &mut due {
                lease_stmt.execute(params![m.id, lease])?;
                m.next_attempt_ms = lease;
            }
        }
        tx.commit()?;
        Ok(due)
    }

    fn update_message(&self, id: i64, u: &OutboxUpdate) -> Result<()> {
        self.writer()
            .prepare_cached(
                "UPDATE outbox SET status = ?2, attempts = ?3, next_attempt_ms = ?4,
                     last_error = ?5, sent_ms = ?6
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                u.status,
                u.attempts,
                u.next_attempt_ms,
                u.last_error,
                u.sent_ms
            ])?;
        Ok(())
    }

    fn incident_messages(&self, incident_id: i64) -> Result<Vec<OutboxMessage>> {
        collect(
            &*self.reader()?,
            &format!("SELECT {OUTBOX_COLS} FROM outbox WHERE incident_id = ?1 ORDER BY id"),
            [incident_id],
            message_from_row,
        )
    }

    fn next_message_due(&self) -> Result<Option<i64>> {
        Ok(self
            .reader()?
            .prepare_cached("SELECT MIN(next_attempt_ms) FROM outbox WHERE status = 'pending'")?
            .query_row([], |r| r.get(0))?)
    }

    fn set_channel_broken(&self, channel: &str, reason: Option<&str>, now_ms: i64) -> Result<()> {
        let conn = self.writer();
        match reason {
            // Marked again while broken: the reason follows, `since_ms` keeps the first
            // failure.
            Some(reason) => conn
                .prepare_cached(
                    "INSERT INTO broken_channels (channel, reason, since_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (channel) DO UPDATE SET reason = excluded.reason",
                )?
                .execute(params![channel, reason, now_ms])?,
            None => conn
                .prepare_cached("DELETE FROM broken_channels WHERE channel = ?1")?
                .execute([channel])?,
        };
        Ok(())
    }

    fn broken_channels(&self) -> Result<Vec<ChannelState>> {
        collect(
            &*self.reader()?,
            "SELECT channel, reason, since_ms FROM broken_channels ORDER BY channel",
            [],
            |r| {
                Ok(ChannelState {
                    channel: r.get(0)?,
                    reason: r.get(1)?,
                    since_ms: r.get(2)?,
                })
            },
        )
    }

    fn create_silence(&self, silence: &SilenceRow) -> Result<SilenceRow> {
        let id: i64 = self
            .writer()
            .prepare_cached(
                "INSERT INTO silences (target_kind, target, until_ms, reason, created_by,
                     created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            )?
            .query_row(
                params![
                    silence.target_kind,
                    silence.target,
                    silence.until_ms,
                    silence.reason,
                    silence.created_by,
                    silence.created_ms
                ],
                |r| r.get(0),
            )?;
        Ok(SilenceRow {
            id,
            ..silence.clone()
        })
    }

    fn active_silences(&self, now_ms: i64) -> Result<Vec<SilenceRow>> {
        collect(
            &*self.reader()?,
            "SELECT id, target_kind, target, until_ms, reason, created_by, created_ms
             FROM silences WHERE until_ms > ?1 ORDER BY id",
            [now_ms],
            |r| {
                Ok(SilenceRow {
                    id: r.get(0)?,
                    target_kind: r.get(1)?,
                    target: r.get(2)?,
                    until_ms: r.get(3)?,
                    reason: r.get(4)?,
                    created_by: r.get(5)?,
                    created_ms: r.get(6)?,
                })
            },
        )
    }

    fn delete_silence(&self, id: i64) -> Result<bool> {
        let n = self
            .writer()
            .prepare_cached("DELETE FROM silences WHERE id = ?1")?
            .execute([id])?;
        Ok(n > 0)
    }

    fn create_rule(&self, rule: &StoredRule) -> Result<()> {
        self.writer()
            .prepare_cached("INSERT INTO alert_rules (name, spec, created_ms) VALUES (?1, ?2, ?3)")?
            .execute(params![rule.name, rule.spec.to_string(), rule.created_ms])
            .map_err(conflict)?;
        Ok(())
    }

    fn list_rules(&self) -> Result<Vec<StoredRule>> {
        collect(
            &*self.reader()?,
            "SELECT name, spec, created_ms FROM alert_rules ORDER BY created_ms, name",
            [],
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
    }

    fn delete_rule(&self, name: &str) -> Result<bool> {
        let n = self
            .writer()
            .prepare_cached("DELETE FROM alert_rules WHERE name = ?1")?
            .execute([name])?;
        Ok(n > 0)
    }

    fn save_payload_dict(&self, d: &PayloadDict) -> Result<()> {
        self.writer()
            .prepare_cached(
                "INSERT INTO payload_dicts (id, project_id, created_ms, samples, dict)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                i64::from(d.id),
                d.project_id,
                d.created_ms,
                d.samples,
                d.dict
            ])
            .map_err(conflict)?;
        Ok(())
    }

    fn payload_dicts(&self) -> Result<Vec<PayloadDict>> {
        collect(
            &*self.reader()?,
            "SELECT id, project_id, created_ms, samples, dict FROM payload_dicts
             ORDER BY created_ms, id",
            [],
            |row| {
                Ok(PayloadDict {
                    id: dict_id(row.get(0)?)?,
                    project_id: row.get(1)?,
                    created_ms: row.get(2)?,
                    samples: row.get(3)?,
                    dict: row.get(4)?,
                })
            },
        )
    }

    fn signals_after(&self, after_id: i64, limit: u32) -> Result<Vec<Signal>> {
        collect(
            &*self.reader()?,
            "SELECT id, kind, project_id, issue_id, event_id, created_ms, monitor_id, detail
             FROM signals WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after_id, batch::page_limit(limit)],
            signal_from_row,
        )
    }
}
