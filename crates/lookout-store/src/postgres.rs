//! The PostgreSQL store, for several lookout instances sharing one database. Everything
//! here exists once per backend: the pool, how values are bound and read, how a batch
//! becomes one `UNNEST` statement, advisory locks and id sequences. Every write that
//! could race with another instance is an upsert or takes a row lock; migrations and
//! signal ids are serialised with advisory locks.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, IsNull, Kind, ToSql, Type};
use postgres::{Client, NoTls, Statement};

use crate::sql::{
    batch_rows, rewrite, Cell, Conn, Dialect, EachRow, Insert, Lock, Param, Returns, Row, Ty,
    Update,
};
use crate::{migrate, Db, Result, StoreError};

/// Advisory lock keys (arbitrary constants, "lookout" in ASCII plus a suffix).
fn lock_key(lock: Lock) -> i64 {
    match lock {
        Lock::Migrations => 0x6c6f_6f6b_6f75_7401,
        Lock::Signals => 0x6c6f_6f6b_6f75_7402,
        Lock::Rollups => 0x6c6f_6f6b_6f75_7403,
    }
}

const POOL_SIZE: u32 = 8;

/// The PostgreSQL implementation of [`crate::Store`].
pub struct PostgresStore {
    pool: r2d2::Pool<PgManager>,
    schema: Option<String>,
}

/// A client with its prepared statements, which PostgreSQL keeps per session.
struct PgConn {
    /// Always `Some` until dropped.
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    /// A transaction could not be ended: the session is in an unknown state.
    broken: bool,
}

impl PgConn {
    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("a client until dropped")
    }

    /// Prepares once per connection; saves a round trip on every later use.
    fn prepared(&mut self, sql: &str) -> Result<Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client().prepare(sql)?;
        self.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    /// Runs `f` between `begin` and COMMIT; rolls back when `f` fails or panics.
    fn in_transaction<T>(
        &mut self,
        begin: &str,
        f: impl FnOnce(&mut dyn Conn) -> Result<T>,
    ) -> Result<T> {
        struct Open<'a> {
            conn: &'a mut PgConn,
            done: bool,
        }
        impl Drop for Open<'_> {
            fn drop(&mut self) {
                if !self.done && self.conn.client().batch_execute("ROLLBACK").is_err() {
                    self.conn.broken = true;
                }
            }
        }
        self.client().batch_execute(begin)?;
        let mut open = Open {
            conn: self,
            done: false,
        };
        let out = f(&mut *open.conn)?;
        open.done = true;
        if let Err(e) = open.conn.client().batch_execute("COMMIT") {
            open.conn.broken = true;
            return Err(e.into());
        }
        Ok(out)
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // A client runs its own small runtime, and closing it blocks on that; on a thread
        // of an async runtime (the server's, as it shuts down) that panics, and a panic in
        // this drop aborts the process. Such a client is closed on a thread of its own.
        if let Some(client) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let closing = std::thread::Builder::new()
                    .name("lookout-pg-close".into())
                    .spawn(move || drop(client));
                if let Ok(t) = closing {
                    let _ = t.join();
                }
            }
        }
    }
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
            client: Some(client),
            statements: HashMap::new(),
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        conn.client().simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.broken || conn.client().is_closed()
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
        let store = Self::open_unmigrated(url, schema)?;
        migrate::run(&store, migrate::MIGRATIONS)
            .map_err(|e| StoreError::Open(format!("migration failed: {e}")))?;
        Ok(store)
    }

    /// Connects without migrating.
    pub(crate) fn open_unmigrated(url: &str, schema: Option<String>) -> Result<Self> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Open(format!("bad PostgreSQL URL: {e}")))?;
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
        if let Some(schema) = &store.schema {
            // The pool's sessions already name it on their search path; it exists from
            // now on.
            store
                .conn()?
                .client()
                .batch_execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {}",
                    quote_ident(schema)
                ))
                .map_err(|e| StoreError::Open(format!("cannot create schema {schema}: {e}")))?;
        }
        Ok(store)
    }

    /// Drops the schema given to [`PostgresStore::connect_in_schema`] with everything in
    /// it (test cleanup); does nothing for a store in the default schema.
    pub fn drop_schema(&self) -> Result<()> {
        if let Some(schema) = &self.schema {
            self.conn()?.client().batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                quote_ident(schema)
            ))?;
        }
        Ok(())
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<PgManager>> {
        Ok(self.pool.get()?)
    }
}

impl Db for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        f(&mut *self.conn()?)
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        f(&mut *self.conn()?)
    }

    fn transaction<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.conn()?.in_transaction("BEGIN", f)
    }

    fn snapshot<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        self.conn()?
            .in_transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", f)
    }
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, args: &[Param<'_>]) -> Result<u64> {
        let stmt = self.prepared(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        Ok(self.client().execute(&stmt, &refs)?)
    }

    fn query(&mut self, sql: &str, args: &[Param<'_>], each: EachRow<'_>) -> Result<()> {
        let stmt = self.prepared(sql)?;
        // Streamed rather than collected: a long scan keeps only what `each` keeps.
        let mut rows = self.client().query_raw(&stmt, args.iter())?;
        while let Some(row) = rows.next()? {
            each(&PgRow(&row))?;
        }
        Ok(())
    }

    fn execute_script(&mut self, sql: &str) -> Result<()> {
        Ok(self.client().batch_execute(sql)?)
    }

    fn insert(&mut self, spec: &Insert, args: &[Param<'_>]) -> Result<Vec<i64>> {
        let width = spec.columns.len();
        let rows = batch_rows(args, width, spec.table)?.len();
        if rows == 0 {
            return Ok(Vec::new());
        }
        let sql = spec.postgres.get_or_init(|| insert_sql(spec));
        let returned = self.run_columns(sql, width, args)?;
        match spec.returns {
            Returns::Nothing => Ok(Vec::new()),
            Returns::Written(_) => {
                let mut written = vec![0; rows];
                for ord in returned {
                    let slot = usize::try_from(ord - 1)
                        .ok()
                        .and_then(|i| written.get_mut(i))
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("row {ord} of {rows} reported written"))
                        })?;
                    *slot = 1;
                }
                Ok(written)
            }
            Returns::Ids => Ok(returned),
        }
    }

    fn update(&mut self, spec: &Update, args: &[Param<'_>]) -> Result<()> {
        let width = spec.params.len();
        if batch_rows(args, width, spec.table)?.len() == 0 {
            return Ok(());
        }
        let sql = spec.postgres.get_or_init(|| update_sql(spec));
        self.run_columns(sql, width, args)?;
        Ok(())
    }

    fn lock(&mut self, lock: Lock) -> Result<()> {
        let stmt = self.prepared("SELECT pg_advisory_xact_lock($1)")?;
        self.client().execute(&stmt, &[&lock_key(lock)])?;
        Ok(())
    }

    fn sync_id_sequence(&mut self, table: &str) -> Result<()> {
        // Keeps `nextval` ahead of ids given explicitly (config-declared projects).
        self.client().batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'),
                 GREATEST((SELECT MAX(id) FROM {table}), 1))"
        ))?;
        Ok(())
    }
}

impl PgConn {
    /// Runs a batch statement with `args` (row after row) bound as one array per column;
    /// returns the first column of what it returns.
    fn run_columns(&mut self, sql: &str, width: usize, args: &[Param<'_>]) -> Result<Vec<i64>> {
        let mut columns: Vec<Vec<Param<'_>>> = (0..width)
            .map(|_| Vec::with_capacity(args.len() / width))
            .collect();
        for (i, arg) in args.iter().enumerate() {
            columns[i % width].push(*arg);
        }
        let stmt = self.prepared(sql)?;
        let mut rows = self.client().query_raw(&stmt, columns.iter())?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(PgRow(&row).get_i64(0)?);
        }
        Ok(out)
    }
}

fn array_type(ty: Ty) -> &'static str {
    match ty {
        Ty::Int8 => "int8[]",
        Ty::Int4 => "int4[]",
        Ty::Int2 => "int2[]",
        Ty::Bool => "bool[]",
        Ty::Text => "text[]",
        Ty::Jsonb => "jsonb[]",
        Ty::Bytea => "bytea[]",
    }
}

/// `UNNEST($1::t1[], …) WITH ORDINALITY AS x(names…, ord)`.
fn unnest(types: impl Iterator<Item = Ty>, names: &str) -> String {
    let arrays: Vec<String> = types
        .enumerate()
        .map(|(i, ty)| format!("${}::{}", i + 1, array_type(ty)))
        .collect();
    format!(
        "UNNEST({}) WITH ORDINALITY AS x({names}, ord)",
        arrays.join(", ")
    )
}

/// One statement for a whole batch insert: the rows come as one array per column and go
/// in in the batch's order (or `lock_order`), one round trip for any number of rows.
fn insert_sql(spec: &Insert) -> String {
    let names = spec
        .columns
        .iter()
        .map(|c| c.0)
        .collect::<Vec<_>>()
        .join(", ");
    let from = unnest(spec.columns.iter().map(|c| c.1), &names);
    let (table, tail) = (spec.table, spec.tail);
    let sql = match spec.returns {
        Returns::Nothing => {
            format!("INSERT INTO {table} ({names}) SELECT {names} FROM {from} ORDER BY ord {tail}")
        }
        // The written rows' keys, matched back to their positions.
        Returns::Written(key) => {
            let on: Vec<String> = key.iter().map(|k| format!("w.{k} = u.{k}")).collect();
            format!(
                "WITH u AS (SELECT * FROM {from}),
                 w AS (INSERT INTO {table} ({names}) SELECT {names} FROM u ORDER BY ord {tail}
                       RETURNING {keys})
                 SELECT u.ord FROM u JOIN w ON {on}",
                keys = key.join(", "),
                on = on.join(" AND ")
            )
        }
        // Ids drawn in the batch's order, rows inserted in `lock_order`; ids come back
        // paired with their position, not in RETURNING's unspecified order.
        Returns::Ids => {
            let order = if spec.lock_order.is_empty() {
                "ord"
            } else {
                spec.lock_order
            };
            format!(
                "WITH v AS MATERIALIZED (
                     SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id, x.*
                     FROM {from} ORDER BY x.ord
                 ), w AS (
                     INSERT INTO {table} (id, {names}) SELECT id, {names} FROM v
                     ORDER BY {order} {tail} RETURNING id
                 )
                 SELECT v.id FROM v JOIN w USING (id) ORDER BY v.ord"
            )
        }
    };
    rewrite(&sql, Dialect::Postgres, "$")
}

/// One statement for a whole batch update: `?n` becomes the n-th unnested column.
fn update_sql(spec: &Update) -> String {
    let names: Vec<String> = (1..=spec.params.len()).map(|n| format!("p{n}")).collect();
    let from = unnest(spec.params.iter().copied(), &names.join(", "));
    format!(
        "UPDATE {} SET {} FROM {from} WHERE {}",
        spec.table,
        rewrite(spec.set, Dialect::Postgres, "x.p"),
        rewrite(spec.filter, Dialect::Postgres, "x.p"),
    )
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Param<'_> {
    /// Converts to the column's type, checking ranges; a value of another kind is an
    /// error naming both.
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        let list =
            |items: Vec<Param<'_>>, out: &mut BytesMut| -> std::result::Result<IsNull, BoxError> {
                if !matches!(ty.kind(), Kind::Array(_)) {
                    return Err(format!("cannot pass a list as a {ty} parameter").into());
                }
                items.to_sql(ty, out)
            };
        match (*self, ty) {
            (Param::Null, _) => Ok(IsNull::Yes),
            (Param::Int(v), &Type::INT8) => v.to_sql(ty, out),
            (Param::Int(v), &Type::INT4) => i32::try_from(v)
                .map_err(|_| format!("{v} is out of range for an integer column"))?
                .to_sql(ty, out),
            (Param::Int(v), &Type::INT2) => i16::try_from(v)
                .map_err(|_| format!("{v} is out of range for a smallint column"))?
                .to_sql(ty, out),
            (Param::Int(v), &Type::FLOAT8) => (v as f64).to_sql(ty, out),
            (Param::Real(v), &Type::FLOAT8) => v.to_sql(ty, out),
            (Param::Bool(b), &Type::BOOL) => b.to_sql(ty, out),
            (Param::Text(s), &Type::JSONB) => {
                // jsonb's binary format: a version byte, then the JSON text.
                out.put_u8(1);
                out.put_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Param::Text(s), ty) if <&str as ToSql>::accepts(ty) || *ty == Type::JSON => {
                out.put_slice(s.as_bytes());
                Ok(IsNull::No)
            }
            (Param::Bytes(b), &Type::BYTEA) => b.to_sql(ty, out),
            (Param::Ints(v), _) => list(v.iter().map(|&i| Param::Int(i)).collect(), out),
            (Param::Texts(v), _) => list(v.iter().map(|s| Param::Text(s)).collect(), out),
            (Param::Strs(v), _) => list(v.iter().map(|s| Param::Text(s)).collect(), out),
            (p, ty) => Err(format!("cannot pass {} as a {ty} parameter", p.kind()).into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Every type: `to_sql` checks the value against it.
        true
    }

    postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for Cell<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT2 => Cell::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Cell::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Cell::Int(i64::from_sql(ty, raw)?),
            Type::FLOAT4 => Cell::Real(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Cell::Real(f64::from_sql(ty, raw)?),
            Type::BOOL => Cell::Bool(bool::from_sql(ty, raw)?),
            Type::BYTEA => Cell::Bytes(raw),
            Type::JSONB => match raw.split_first() {
                Some((1, text)) => Cell::Text(std::str::from_utf8(text)?),
                _ => return Err("unknown jsonb format version".into()),
            },
            Type::JSON => Cell::Text(std::str::from_utf8(raw)?),
            _ if <&str as FromSql>::accepts(ty) => Cell::Text(<&str>::from_sql(ty, raw)?),
            _ => return Err(format!("columns of type {ty} are not supported").into()),
        })
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(Cell::Null)
    }

    fn accepts(ty: &Type) -> bool {
        !matches!(ty.kind(), Kind::Array(_))
    }
}

struct PgRow<'r>(&'r postgres::Row);

impl PgRow<'_> {
    fn get_i64(&self, i: usize) -> Result<i64> {
        match self.cell(i)? {
            Cell::Int(v) => Ok(v),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected an integer, found {other:?}"
            ))),
        }
    }
}

impl Row for PgRow<'_> {
    fn cell(&self, i: usize) -> Result<Cell<'_>> {
        Ok(self.0.try_get::<_, Cell<'_>>(i)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Insert;

    fn bytes(p: Param<'_>, ty: &Type) -> std::result::Result<Vec<u8>, String> {
        let mut out = BytesMut::new();
        match p.to_sql_checked(ty, &mut out) {
            Ok(IsNull::Yes) => Ok(Vec::new()),
            Ok(IsNull::No) => Ok(out.to_vec()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn integers_fit_the_column_or_fail_by_name() {
        assert_eq!(
            bytes(Param::Int(7), &Type::INT8).unwrap(),
            7i64.to_be_bytes()
        );
        assert_eq!(
            bytes(Param::Int(7), &Type::INT4).unwrap(),
            7i32.to_be_bytes()
        );
        assert_eq!(
            bytes(Param::Int(-7), &Type::INT2).unwrap(),
            (-7i16).to_be_bytes()
        );
        let err = bytes(Param::Int(1 << 40), &Type::INT4).unwrap_err();
        assert!(err.contains("out of range for an integer"), "{err}");
        let err = bytes(Param::Int(40_000), &Type::INT2).unwrap_err();
        assert!(err.contains("smallint"), "{err}");
        assert_eq!(bytes(Param::Null, &Type::INT4).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn text_goes_into_text_and_json_columns() {
        assert_eq!(
            bytes(Param::Text("hé"), &Type::TEXT).unwrap(),
            "hé".as_bytes()
        );
        assert_eq!(bytes(Param::Text("{}"), &Type::JSONB).unwrap(), b"\x01{}");
        assert_eq!(bytes(Param::Text("[1]"), &Type::JSON).unwrap(), b"[1]");
        let err = bytes(Param::Text("x"), &Type::INT8).unwrap_err();
        assert!(err.contains("cannot pass text as a int8"), "{err}");
        let err = bytes(Param::Bytes(b"x"), &Type::TEXT).unwrap_err();
        assert!(err.contains("bytes"), "{err}");
        assert_eq!(bytes(Param::Bool(true), &Type::BOOL).unwrap(), [1]);
    }

    #[test]
    fn lists_only_go_into_arrays() {
        let ids = [1i64, 2];
        assert!(bytes(Param::Ints(&ids), &Type::INT8_ARRAY).is_ok());
        // Each element is checked against the array's element type.
        let big = [1i64 << 40];
        assert!(bytes(Param::Ints(&big), &Type::INT4_ARRAY).is_err());
        let err = bytes(Param::Ints(&ids), &Type::INT8).unwrap_err();
        assert!(err.contains("cannot pass a list"), "{err}");
    }

    #[test]
    fn cells_read_every_integer_width_and_json() {
        let read = |ty: &Type, raw: &'static [u8]| Cell::from_sql(ty, raw).unwrap();
        assert!(matches!(read(&Type::INT2, &[0xff, 0xfe]), Cell::Int(-2)));
        assert!(matches!(read(&Type::INT4, &[0, 0, 1, 0]), Cell::Int(256)));
        assert!(matches!(
            read(&Type::JSONB, b"\x01{\"a\":1}"),
            Cell::Text("{\"a\":1}")
        ));
        assert!(matches!(read(&Type::TEXT, b"x"), Cell::Text("x")));
        assert!(Cell::from_sql(&Type::JSONB, b"\x02{}").is_err());
        assert!(Cell::from_sql(&Type::NUMERIC, &[0, 0]).is_err());
        assert!(!<Cell<'_> as FromSql>::accepts(&Type::INT8_ARRAY));
    }

    #[test]
    fn batches_unnest_one_array_per_column() {
        let spec = Insert::new(
            "t",
            &[("a", Ty::Int8), ("b", Ty::Text)],
            "ON CONFLICT (a) DO NOTHING",
            Returns::Written(&["a"]),
        );
        let sql = insert_sql(&spec);
        assert!(
            sql.contains("UNNEST($1::int8[], $2::text[]) WITH ORDINALITY AS x(a, b, ord)"),
            "{sql}"
        );
        assert!(
            sql.contains("RETURNING a") && sql.contains("w.a = u.a"),
            "{sql}"
        );
        let update = Update::new("t", "b = COALESCE(?2, b)", "a = ?1", &[Ty::Int8, Ty::Text]);
        assert_eq!(
            update_sql(&update),
            "UPDATE t SET b = COALESCE(x.p2, b) FROM UNNEST($1::int8[], $2::text[]) \
             WITH ORDINALITY AS x(p1, p2, ord) WHERE a = x.p1"
        );
    }
}
