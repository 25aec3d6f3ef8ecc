//! The embedded SQLite store: one writer connection behind a mutex (ingest batches through
//! a single writer thread anyway, and SQLite allows one writer at a time), and a small
//! pool of read connections that WAL mode lets run alongside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use lookout_core::signal::{Signal, SignalKind};
use rusqlite::{
    params, params_from_iter, Connection, ErrorCode, OpenFlags, OptionalExtension, Row, ToSql,
    TransactionBehavior,
};

use crate::batch::{self, BatchTx, IssueState, IssueUpdate, ValueUpdate};
use crate::model::*;
use crate::{Result, Store, StoreError};

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/sqlite/0001_init.sql"))];

const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_CACHE: usize = 64;

const ISSUE_COLS: &str = "id, project_id, fingerprint, grouping_version, title, culprit, \
    level, status, substatus, platform, first_seen_ms, last_seen_ms, count, user_count, \
    unhandled_count, first_release, last_release, resolved_ms";
const EVENT_COLS: &str = "id, project_id, issue_id, event_id, timestamp_ms, received_ms, \
    level, release, environment, title, payload";
const PROJECT_COLS: &str = "id, slug, name, public_key, settings, created_ms";

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: r2d2::Pool<ReaderManager>,
    path: PathBuf,
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
const RESTART_WAL_BYTES: u64 = 32 * 1024 * 1024;

impl Checkpointer {
    fn start(path: &Path) -> Result<Self> {
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
                    if size >= RESTART_WAL_BYTES {
                        if let Err(e) =
                            conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
                        {
                            tracing::warn!(error = %e, "WAL restart checkpoint failed; will retry");
                        }
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
        // cache than the 2 MB default saves reading them back on every batch.
        writer.pragma_update(None, "cache_size", -32_768)?;
        // Checkpoints run on their own thread (see `Checkpointer`), never inside a commit.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        migrate(&mut writer).map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;

        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(ReaderManager { path: path.clone() })?;
        let checkpointer = Checkpointer::start(&path)?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            path,
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
        monitor_id: None,
        detail: None,
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
            "INSERT INTO signals (kind, project_id, issue_id, event_id, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )?;
        for s in signals {
            s.id = stmt.query_row(
                params![
                    s.kind.as_str(),
                    s.project_id,
                    s.issue_id,
                    s.event_id,
                    s.created_ms
                ],
                |r| r.get(0),
            )?;
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

    fn create_monitor(&self, _new: &NewMonitor) -> Result<Monitor> {
        todo!()
    }
    fn upsert_monitor(&self, _new: &NewMonitor) -> Result<Monitor> {
        todo!()
    }
    fn update_monitor(&self, _id: i64, _new: &NewMonitor) -> Result<Option<Monitor>> {
        todo!()
    }
    fn delete_monitor(&self, _id: i64) -> Result<bool> {
        todo!()
    }
    fn prune_config_monitors(&self, _keep: &[i64]) -> Result<u64> {
        todo!()
    }
    fn list_monitors(&self) -> Result<Vec<Monitor>> {
        todo!()
    }
    fn get_monitor(&self, _id: i64) -> Result<Option<Monitor>> {
        todo!()
    }
    fn get_monitor_by_token(&self, _token: &str) -> Result<Option<Monitor>> {
        todo!()
    }
    fn get_monitor_by_slug(&self, _project_id: i64, _slug: &str) -> Result<Option<Monitor>> {
        todo!()
    }
    fn set_monitor_paused(&self, _id: i64, _paused: bool, _now_ms: i64) -> Result<bool> {
        todo!()
    }
    fn write_checks(&self, _batch: &CheckBatch) -> Result<Vec<Signal>> {
        todo!()
    }
    fn check_results(&self, _m: i64, _f: i64, _t: i64, _l: u32) -> Result<Vec<CheckRecord>> {
        todo!()
    }
    fn rollup_checks(&self, _now_ms: i64) -> Result<u64> {
        todo!()
    }
    fn prune_checks(&self, _r: &CheckRetention, _now_ms: i64) -> Result<u64> {
        todo!()
    }
    fn check_rollups(&self, _m: i64, _r: Resolution, _f: i64, _t: i64) -> Result<Vec<Rollup>> {
        todo!()
    }
    fn latency_summary(&self, _m: i64, _f: i64, _t: i64) -> Result<LatencySummary> {
        todo!()
    }
    fn outages(&self, _m: i64, _f: i64, _t: i64, _l: u32) -> Result<Vec<Outage>> {
        todo!()
    }
    fn downtime(&self, _f: i64, _t: i64) -> Result<HashMap<i64, i64>> {
        todo!()
    }
    fn create_maintenance(&self, _new: &NewMaintenance) -> Result<Maintenance> {
        todo!()
    }
    fn list_maintenance(&self, _after_ms: i64) -> Result<Vec<Maintenance>> {
        todo!()
    }
    fn delete_maintenance(&self, _id: i64) -> Result<bool> {
        todo!()
    }

    fn signals_after(&self, after_id: i64, limit: u32) -> Result<Vec<Signal>> {
        collect(
            &*self.reader()?,
            "SELECT id, kind, project_id, issue_id, event_id, created_ms FROM signals
             WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after_id, batch::page_limit(limit)],
            signal_from_row,
        )
    }
}
