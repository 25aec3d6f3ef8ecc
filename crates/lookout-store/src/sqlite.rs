//! The embedded SQLite store: one writer connection behind a mutex (ingest batches through
//! a single writer thread anyway, and SQLite allows one writer at a time), and a small
//! pool of read connections that WAL mode lets run alongside it. Everything here exists
//! once per backend: connection setup, pragmas, the checkpointer, and how the shared SQL
//! binds values, reads rows and runs batches.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{params_from_iter, Connection, OpenFlags, TransactionBehavior};

use crate::sql::{
    batch_rows, Cell, Conn, Dialect, EachRow, Insert, Lock, Param, Returns, Row, Update,
};
use crate::{migrate, Db, Result, StoreError};

const READERS: u32 = 4;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Statements kept prepared per connection: every statement the store has, with room.
const STATEMENT_CACHE: usize = 128;

/// The SQLite implementation of [`crate::Store`].
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
        let store = Self::open_unmigrated(dir_or_file, durability)?;
        migrate::run(&store, migrate::MIGRATIONS)
            .map_err(|e| StoreError::Open(format!("{}: {e}", store.path.display())))?;
        Ok(store)
    }

    /// Opens the database without migrating it.
    pub(crate) fn open_unmigrated(dir_or_file: &Path, durability: Durability) -> Result<Self> {
        let is_dir =
            dir_or_file.is_dir() || (!dir_or_file.exists() && dir_or_file.extension().is_none());
        let path = if is_dir {
            dir_or_file.join("lookout.db")
        } else {
            dir_or_file.to_path_buf()
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::files::create_private_dir(parent).map_err(|e| {
                StoreError::Open(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        crate::files::prepare_database(&path).map_err(|e| {
            StoreError::Open(format!(
                "cannot make {} private to its owner: {e}",
                path.display()
            ))
        })?;
        let writer = Connection::open(&path)
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
}

impl Db for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let conn = self.readers.get()?;
        f(&mut SqliteConn(&conn))
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        // No lock poisoning to handle: a panic mid-transaction rolled the transaction back
        // as it unwound, so the connection is usable by the next writer.
        let conn = self.writer.lock();
        f(&mut SqliteConn(&conn))
    }

    fn transaction<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock();
        // IMMEDIATE: the write lock is taken now, not at the first write, so another
        // process on the same file cannot slip in between a read and the write after it.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&mut SqliteConn(&tx))?;
        tx.commit()?;
        if self.restart_wanted.swap(false, Ordering::Relaxed) {
            // The transaction is committed whatever happens here; a failed restart is
            // retried.
            if let Err(e) = restart_wal(&conn) {
                tracing::warn!(error = %e, "WAL restart checkpoint failed; will retry");
            }
        }
        Ok(out)
    }

    fn snapshot<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        let conn = self.readers.get()?;
        let tx = conn.unchecked_transaction()?;
        f(&mut SqliteConn(&tx))
    }
}

/// A connection (or open transaction) running the shared SQL.
struct SqliteConn<'c>(&'c Connection);

impl Conn for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, args: &[Param<'_>]) -> Result<u64> {
        let n = self
            .0
            .prepare_cached(sql)?
            .execute(params_from_iter(args))?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, args: &[Param<'_>], each: EachRow<'_>) -> Result<()> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        while let Some(row) = rows.next()? {
            each(&SqliteRow(row))?;
        }
        Ok(())
    }

    fn execute_script(&mut self, sql: &str) -> Result<()> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn insert(&mut self, spec: &Insert, args: &[Param<'_>]) -> Result<Vec<i64>> {
        // One cached statement per row: in-process there is no round trip to save, and a
        // multi-row statement would be a new one to compile for every batch size.
        let mut stmt = self.0.prepare_cached(spec.row_sql())?;
        let rows = batch_rows(args, spec.columns.len(), spec.table)?;
        let mut out = Vec::with_capacity(match spec.returns {
            Returns::Nothing => 0,
            _ => rows.len(),
        });
        for row in rows {
            let n = stmt.execute(params_from_iter(row))?;
            match spec.returns {
                Returns::Nothing => {}
                Returns::Written(_) => out.push(i64::from(n > 0)),
                Returns::Ids => out.push(self.0.last_insert_rowid()),
            }
        }
        Ok(out)
    }

    fn update(&mut self, spec: &Update, args: &[Param<'_>]) -> Result<()> {
        let mut stmt = self.0.prepare_cached(spec.row_sql())?;
        for row in batch_rows(args, spec.params.len(), spec.table)? {
            stmt.execute(params_from_iter(row))?;
        }
        Ok(())
    }

    fn lock(&mut self, _lock: Lock) -> Result<()> {
        // `BEGIN IMMEDIATE` already holds the database's only write lock.
        Ok(())
    }

    fn sync_id_sequence(&mut self, _table: &str) -> Result<()> {
        // A row id is one more than the largest: explicit ids are never handed out again.
        Ok(())
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Param::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Param::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Param::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(v)),
            Param::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(b))),
            Param::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Param::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            // Lists are read back with `json_each`.
            Param::Ints(_) | Param::Texts(_) | Param::Strs(_) => {
                ToSqlOutput::Owned(Value::Text(self.list_json().unwrap_or_default()))
            }
        })
    }
}

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Row for SqliteRow<'_, '_> {
    fn cell(&self, i: usize) -> Result<Cell<'_>> {
        Ok(match self.0.get_ref(i)? {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(v) => Cell::Int(v),
            ValueRef::Real(v) => Cell::Real(v),
            ValueRef::Text(t) => {
                Cell::Text(std::str::from_utf8(t).map_err(|e| {
                    StoreError::Corrupt(format!("column {i}: text is not UTF-8: {e}"))
                })?)
            }
            ValueRef::Blob(b) => Cell::Bytes(b),
        })
    }
}
