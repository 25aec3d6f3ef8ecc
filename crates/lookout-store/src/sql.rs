//! The dialect layer: what the one SQL implementation is written against.
//!
//! Queries are written once, in PostgreSQL's syntax with SQLite's numbered placeholders
//! (`?1`, `?2`, …). [`Sql`] translates each statement once per process and dialect:
//! PostgreSQL gets `$1`, `$2`; SQLite gets the few spellings it lacks (`GREATEST`/`LEAST`
//! as its multi-argument `MAX`/`MIN`, `ILIKE` as its ASCII-case-insensitive `LIKE`,
//! `= ANY(?n)` / `<> ALL(?n)` over a list bound as a JSON array, and no `FOR UPDATE`:
//! its `BEGIN IMMEDIATE` already holds the only write lock).
//!
//! Values go in as [`Param`] and come out as [`Cell`], which each backend converts to and
//! from the column's actual type with checked conversions; the Rust side reads `i64`,
//! `String`, `Vec<u8>`, `bool` and `serde_json::Value` the same on both. Batch writes are
//! described once ([`Insert`], [`Update`]) and each backend runs them its way: a cached
//! statement per row on SQLite, one `UNNEST` statement on PostgreSQL.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::{Result, StoreError};

/// The SQL spoken by a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A statement written once; its text for each dialect is made on first use and kept.
pub(crate) struct Sql {
    text: Cow<'static, str>,
    sqlite: OnceLock<String>,
    postgres: OnceLock<String>,
}

impl Sql {
    /// A statement known at compile time (see [`sql!`]).
    pub(crate) const fn new(text: &'static str) -> Self {
        Self {
            text: Cow::Borrowed(text),
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// A statement built at run time (filters that add clauses).
    pub(crate) fn owned(text: String) -> Self {
        Self {
            text: Cow::Owned(text),
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// The statement's text in `dialect`.
    pub(crate) fn get(&self, dialect: Dialect) -> &str {
        let cell = match dialect {
            Dialect::Sqlite => &self.sqlite,
            Dialect::Postgres => &self.postgres,
        };
        cell.get_or_init(|| translate(&self.text, dialect))
    }
}

/// A `&'static Sql` for a literal (or `concat!` of literals), translated once per process.
macro_rules! sql {
    ($text:expr) => {{
        static SQL: $crate::sql::Sql = $crate::sql::Sql::new($text);
        &SQL
    }};
}
pub(crate) use sql;

/// Translates shared SQL into `dialect` (see the module comment for what changes).
pub(crate) fn translate(text: &str, dialect: Dialect) -> String {
    rewrite(text, dialect, "$")
}

/// [`translate`], with PostgreSQL's placeholders `?n` written as `{placeholder}n`.
pub(crate) fn rewrite(text: &str, dialect: Dialect, placeholder: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' => {
                let end = quoted_end(bytes, i);
                out.push_str(&text[i..end]);
                i = end;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                out.push_str(&text[i..end]);
                i = end;
            }
            b'?' => {
                let end = digits_end(bytes, i + 1);
                match dialect {
                    Dialect::Postgres if end > i + 1 => out.push_str(placeholder),
                    _ => out.push('?'),
                }
                out.push_str(&text[i + 1..end]);
                i = end;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end = word_end(bytes, i);
                let word = &text[i..end];
                i = end;
                if dialect == Dialect::Postgres {
                    out.push_str(word);
                    continue;
                }
                match word.to_ascii_uppercase().as_str() {
                    "GREATEST" => out.push_str("MAX"),
                    "LEAST" => out.push_str("MIN"),
                    "ILIKE" => out.push_str("LIKE"),
                    "FOR" if next_word(text, i).eq_ignore_ascii_case("UPDATE") => {
                        i = skip_word(text, i);
                        if next_word(text, i).eq_ignore_ascii_case("SKIP") {
                            i = skip_word(text, skip_word(text, i));
                        }
                        trim_end_in_place(&mut out);
                    }
                    upper @ ("ANY" | "ALL") => match list_param(text, i) {
                        Some((param, after)) if upper == "ANY" && pop_operator(&mut out, "=") => {
                            out.push_str(&format!("IN (SELECT value FROM json_each({param}))"));
                            i = after;
                        }
                        Some((param, after)) if upper == "ALL" && pop_operator(&mut out, "<>") => {
                            out.push_str(&format!("NOT IN (SELECT value FROM json_each({param}))"));
                            i = after;
                        }
                        _ => out.push_str(word),
                    },
                    _ => out.push_str(word),
                }
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

fn quoted_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            // A doubled quote is an escaped one, not the end.
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn digits_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn word_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    i
}

/// The word after `i` (skipping whitespace), or "".
fn next_word(text: &str, i: usize) -> &str {
    let start = i + (text.len() - i - text[i..].trim_start().len());
    &text[start..word_end(text.as_bytes(), start)]
}

/// The position after the word that follows `i`.
fn skip_word(text: &str, i: usize) -> usize {
    let start = i + (text.len() - i - text[i..].trim_start().len());
    word_end(text.as_bytes(), start)
}

fn trim_end_in_place(out: &mut String) {
    out.truncate(out.trim_end().len());
}

/// After `ANY`/`ALL`: `(?n)` → the placeholder and the position after `)`.
fn list_param(text: &str, i: usize) -> Option<(&str, usize)> {
    let rest = &text[i..];
    let open = rest.len() - rest.trim_start().len();
    let inner = rest[open..].strip_prefix('(')?;
    let param_start = i + open + 1 + (inner.len() - inner.trim_start().len());
    let bytes = text.as_bytes();
    if bytes.get(param_start) != Some(&b'?') {
        return None;
    }
    let param_end = digits_end(bytes, param_start + 1);
    let tail = &text[param_end..];
    let close = tail.len() - tail.trim_start().len();
    tail[close..]
        .starts_with(')')
        .then(|| (&text[param_start..param_end], param_end + close + 1))
}

/// Removes a trailing comparison operator from `out`; `false` if it does not end so.
fn pop_operator(out: &mut String, op: &str) -> bool {
    let trimmed = out.trim_end();
    if !trimmed.ends_with(op) {
        return false;
    }
    out.truncate(trimmed.len() - op.len());
    true
}

/// Types of the tokens a shared migration may use, and what each dialect writes for them.
const DDL_TOKENS: &[(&str, &str, &str)] = &[
    // Ids never handed out twice, as a PostgreSQL sequence guarantees.
    (
        "id",
        "INTEGER PRIMARY KEY AUTOINCREMENT",
        "BIGSERIAL PRIMARY KEY",
    ),
    ("int", "INTEGER", "BIGINT"),
    ("real", "REAL", "DOUBLE PRECISION"),
    ("bool", "INTEGER", "BOOLEAN"),
    ("blob", "BLOB", "BYTEA"),
    ("json", "TEXT", "JSONB"),
    // For tables keyed by a composite primary key.
    ("without_rowid", "WITHOUT ROWID", ""),
];

/// Turns a migration into `dialect`'s DDL: each `{token}` of [`DDL_TOKENS`] becomes its
/// spelling; an unknown token is an error naming it.
pub(crate) fn ddl(text: &str, dialect: Dialect) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            StoreError::Open(format!("migration: unclosed token at {:?}", &rest[open..]))
        })?;
        let name = &after[..close];
        let (_, sqlite, postgres) = DDL_TOKENS
            .iter()
            .find(|(token, _, _)| *token == name)
            .ok_or_else(|| StoreError::Open(format!("migration: unknown token {{{name}}}")))?;
        out.push_str(match dialect {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        });
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    /// SQL NULL.
    Null,
    /// An integer (stored as whatever integer type the column has, range-checked).
    Int(i64),
    /// A float.
    Real(f64),
    /// A boolean (0/1 on SQLite).
    Bool(bool),
    /// Text (also JSON, for a `jsonb` column).
    Text(&'a str),
    /// Bytes.
    Bytes(&'a [u8]),
    /// A list of integers for `= ANY(?n)`.
    Ints(&'a [i64]),
    /// A list of strings for `= ANY(?n)`.
    Texts(&'a [String]),
    /// A list of borrowed strings for `= ANY(?n)`.
    Strs(&'a [&'a str]),
}

impl Param<'_> {
    /// What kind of value this is, for error messages (never the value itself).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Param::Null => "NULL",
            Param::Int(_) => "an integer",
            Param::Real(_) => "a float",
            Param::Bool(_) => "a boolean",
            Param::Text(_) => "text",
            Param::Bytes(_) => "bytes",
            Param::Ints(_) => "a list of integers",
            Param::Texts(_) | Param::Strs(_) => "a list of strings",
        }
    }

    /// A list as the JSON array SQLite's `json_each` reads; `None` for other values.
    pub(crate) fn list_json(&self) -> Option<String> {
        let json = match self {
            Param::Ints(v) => serde_json::to_string(v),
            Param::Texts(v) => serde_json::to_string(v),
            Param::Strs(v) => serde_json::to_string(v),
            _ => return None,
        };
        // Serialising integers and strings cannot fail.
        json.ok()
    }
}

/// Something that can be bound to a placeholder: a reference to a value (what
/// [`params!`] takes), whose borrow the [`Param`] may keep for `'a`.
pub(crate) trait ToParam<'a> {
    /// The value to bind.
    fn param(self) -> Param<'a>;
}

macro_rules! copy_param {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl<'a> ToParam<'a> for &$t {
            fn param(self) -> Param<'a> {
                Param::$variant((*self).into())
            }
        }
    )*};
}
copy_param!(i64 => Int, i32 => Int, i16 => Int, u32 => Int, bool => Bool, f64 => Real);

macro_rules! borrowed_param {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl<'a> ToParam<'a> for &'a $t {
            fn param(self) -> Param<'a> {
                Param::$variant(self)
            }
        }
    )*};
}
borrowed_param!(
    str => Text,
    String => Text,
    [u8] => Bytes,
    Vec<u8> => Bytes,
    [i64] => Ints,
    Vec<i64> => Ints,
    [String] => Texts,
    Vec<String> => Texts,
);

impl<'a> ToParam<'a> for &'a [&'a str] {
    fn param(self) -> Param<'a> {
        Param::Strs(self)
    }
}

impl<'a> ToParam<'a> for &'a Vec<&'a str> {
    fn param(self) -> Param<'a> {
        Param::Strs(self)
    }
}

impl<'a, 'x, T> ToParam<'a> for &'x Option<T>
where
    &'x T: ToParam<'a>,
{
    fn param(self) -> Param<'a> {
        self.as_ref().map_or(Param::Null, ToParam::param)
    }
}

impl<'a, 'y, T: ?Sized> ToParam<'a> for &&'y T
where
    &'y T: ToParam<'a>,
{
    fn param(self) -> Param<'a> {
        (*self).param()
    }
}

/// `&[Param]` for a statement's placeholders, in order.
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::sql::ToParam::param(&$v)),*]
    };
}
pub(crate) use params;

/// A column value as read, borrowed from the row.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    /// SQL NULL.
    Null,
    /// Any integer type.
    Int(i64),
    /// Any float type.
    Real(f64),
    /// A boolean.
    Bool(bool),
    /// Text, or JSON as text.
    Text(&'a str),
    /// Bytes.
    Bytes(&'a [u8]),
}

impl Cell<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Int(_) => "an integer",
            Cell::Real(_) => "a float",
            Cell::Bool(_) => "a boolean",
            Cell::Text(_) => "text",
            Cell::Bytes(_) => "bytes",
        }
    }
}

/// A Rust type a column reads into.
pub(crate) trait FromCell: Sized {
    /// What the type is called in errors.
    const WHAT: &'static str;
    /// Converts, or `None` when the cell holds something else.
    fn from_cell(cell: Cell<'_>) -> Option<Self>;
}

impl FromCell for i64 {
    const WHAT: &'static str = "an integer";
    fn from_cell(cell: Cell<'_>) -> Option<Self> {
        match cell {
            Cell::Int(v) => Some(v),
            _ => None,
        }
    }
}

impl FromCell for u32 {
    const WHAT: &'static str = "an integer from 0 to 4294967295";
    fn from_cell(cell: Cell<'_>) -> Option<Self> {
        match cell {
            Cell::Int(v) => u32::try_from(v).ok(),
            _ => None,
        }
    }
}

impl FromCell for bool {
    const WHAT: &'static str = "a boolean";
    fn from_cell(cell: Cell<'_>) -> Option<Self> {
        match cell {
            Cell::Bool(b) => Some(b),
            // SQLite keeps booleans as 0 and 1.
            Cell::Int(0) => Some(false),
            Cell::Int(1) => Some(true),
            _ => None,
        }
    }
}

impl FromCell for f64 {
    const WHAT: &'static str = "a number";
    fn from_cell(cell: Cell<'_>) -> Option<Self> {
        match cell {
            Cell::Real(v) => Some(v),
            // SQLite stores a REAL without a fraction as an integer.
            Cell::Int(v) => Some(v as f64),
            _ => None,
        }
    }
}

impl FromCell for String {
    const WHAT: &'static str = "text";
    fn from_cell(cell: Cell<'_>) -> Option<Self> {
        match cell {
            Cell::Text(s) => Some(s.to_string()),
            _ => None,
        }
    }
}

impl FromCell for Vec<u8> {
    const WHAT: &'static str = "bytes";
    fn from_cell(cell: Cell<'_>) -> Option<Self> {
        match cell {
            Cell::Bytes(b) => Some(b.to_vec()),
            _ => None,
        }
    }
}

impl FromCell for serde_json::Value {
    const WHAT: &'static str = "JSON";
    fn from_cell(cell: Cell<'_>) -> Option<Self> {
        match cell {
            Cell::Text(s) => serde_json::from_str(s).ok(),
            _ => None,
        }
    }
}

impl<T: FromCell> FromCell for Option<T> {
    const WHAT: &'static str = T::WHAT;
    fn from_cell(cell: Cell<'_>) -> Option<Self> {
        match cell {
            Cell::Null => Some(None),
            c => T::from_cell(c).map(Some),
        }
    }
}

/// One row of a result, as each backend exposes it.
pub(crate) trait Row {
    /// The value of column `i` (0-based).
    fn cell(&self, i: usize) -> Result<Cell<'_>>;
}

impl dyn Row + '_ {
    /// Column `i` as `T`; a value of another type or out of range is `Corrupt`.
    pub(crate) fn get<T: FromCell>(&self, i: usize) -> Result<T> {
        let cell = self.cell(i)?;
        T::from_cell(cell).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "column {i}: expected {}, found {}",
                T::WHAT,
                cell.kind()
            ))
        })
    }
}

/// An advisory lock held until the transaction ends; a no-op on SQLite, whose
/// `BEGIN IMMEDIATE` already serialises every writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Migrations: one instance applies them, the others wait and find them applied.
    Migrations,
    /// Signals: ids then become visible in id order (see `insert_signals`).
    Signals,
    /// Roll-ups: instances take turns moving the watermark.
    Rollups,
}

/// A column type, for the arrays a PostgreSQL batch statement unnests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    /// `bigint`.
    Int8,
    /// `integer`.
    Int4,
    /// `smallint`.
    Int2,
    /// `boolean`.
    Bool,
    /// `text`.
    Text,
    /// `jsonb`.
    Jsonb,
    /// `bytea`.
    Bytea,
}

/// What a batch insert reports per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returns {
    /// Nothing.
    Nothing,
    /// 1 if the row was written, 0 if the conflict clause skipped it; the columns named
    /// are a unique key, which tells the written rows apart.
    Written(&'static [&'static str]),
    /// The `id` given to each row (no conflict clause may skip rows).
    Ids,
}

/// A batch insert described once: columns and their placeholders in order, then the
/// clause after the values (`ON CONFLICT …`, may be empty).
pub(crate) struct Insert {
    pub table: &'static str,
    pub columns: &'static [(&'static str, Ty)],
    pub tail: &'static str,
    pub returns: Returns,
    /// PostgreSQL, `Returns::Ids`: the order rows go in (ids are still drawn in the
    /// batch's order), e.g. a unique key, so that instances cannot deadlock.
    pub lock_order: &'static str,
    pub sqlite: OnceLock<String>,
    pub postgres: OnceLock<String>,
}

impl Insert {
    /// An insert into `table` of `columns`, then `tail`.
    pub(crate) const fn new(
        table: &'static str,
        columns: &'static [(&'static str, Ty)],
        tail: &'static str,
        returns: Returns,
    ) -> Self {
        Self {
            table,
            columns,
            tail,
            returns,
            lock_order: "",
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// The same, with rows going in by `lock_order` on PostgreSQL.
    pub(crate) const fn locking(mut self, lock_order: &'static str) -> Self {
        self.lock_order = lock_order;
        self
    }

    /// `INSERT INTO t (cols) VALUES (?1, …) tail` — one row, as SQLite runs it.
    pub(crate) fn row_sql(&self) -> &str {
        self.sqlite.get_or_init(|| {
            let names: Vec<&str> = self.columns.iter().map(|c| c.0).collect();
            let values: Vec<String> = (1..=self.columns.len()).map(|n| format!("?{n}")).collect();
            translate(
                &format!(
                    "INSERT INTO {} ({}) VALUES ({}) {}",
                    self.table,
                    names.join(", "),
                    values.join(", "),
                    self.tail
                ),
                Dialect::Sqlite,
            )
        })
    }
}

/// A batch update described once: `UPDATE table SET set WHERE filter`, run per row with
/// `?1`… bound to that row's values (one row per target row).
pub(crate) struct Update {
    pub table: &'static str,
    pub set: &'static str,
    pub filter: &'static str,
    pub params: &'static [Ty],
    pub sqlite: OnceLock<String>,
    pub postgres: OnceLock<String>,
}

impl Update {
    /// An update of `table`.
    pub(crate) const fn new(
        table: &'static str,
        set: &'static str,
        filter: &'static str,
        params: &'static [Ty],
    ) -> Self {
        Self {
            table,
            set,
            filter,
            params,
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// The statement for one row, as SQLite runs it.
    pub(crate) fn row_sql(&self) -> &str {
        self.sqlite.get_or_init(|| {
            translate(
                &format!(
                    "UPDATE {} SET {} WHERE {}",
                    self.table, self.set, self.filter
                ),
                Dialect::Sqlite,
            )
        })
    }
}

/// What a query hands each row to.
pub(crate) type EachRow<'a> = &'a mut dyn FnMut(&dyn Row) -> Result<()>;

/// A connection, or a transaction on one, of either backend.
pub(crate) trait Conn {
    /// The SQL it speaks.
    fn dialect(&self) -> Dialect;
    /// Runs one statement (already in this dialect); returns the rows changed.
    fn execute(&mut self, sql: &str, args: &[Param<'_>]) -> Result<u64>;
    /// Runs a query, handing each row to `each` as it arrives.
    fn query(&mut self, sql: &str, args: &[Param<'_>], each: EachRow<'_>) -> Result<()>;
    /// Runs several statements without parameters (migrations).
    fn execute_script(&mut self, sql: &str) -> Result<()>;
    /// Inserts rows (`args` row after row); what it returns is per [`Insert::returns`].
    fn insert(&mut self, spec: &Insert, args: &[Param<'_>]) -> Result<Vec<i64>>;
    /// Updates rows (`args` row after row).
    fn update(&mut self, spec: &Update, args: &[Param<'_>]) -> Result<()>;
    /// Takes an advisory lock until the transaction ends.
    fn lock(&mut self, lock: Lock) -> Result<()>;
    /// After rows were inserted with explicit ids: moves the id sequence past them.
    fn sync_id_sequence(&mut self, table: &str) -> Result<()>;
}

impl dyn Conn + '_ {
    /// Runs a statement; returns the rows changed.
    pub(crate) fn exec(&mut self, sql: &Sql, args: &[Param<'_>]) -> Result<u64> {
        let text = sql.get(self.dialect());
        self.execute(text, args)
    }

    /// Every row, mapped.
    pub(crate) fn rows<T>(
        &mut self,
        sql: &Sql,
        args: &[Param<'_>],
        mut map: impl FnMut(&dyn Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let text = sql.get(self.dialect());
        let mut out = Vec::new();
        self.query(text, args, &mut |row| {
            out.push(map(row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row, mapped, if there is one.
    pub(crate) fn row<T>(
        &mut self,
        sql: &Sql,
        args: &[Param<'_>],
        mut map: impl FnMut(&dyn Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let text = sql.get(self.dialect());
        let mut out = None;
        self.query(text, args, &mut |row| {
            if out.is_none() {
                out = Some(map(row)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The first column of the first row, which the statement always returns.
    pub(crate) fn value<T: FromCell>(&mut self, sql: &Sql, args: &[Param<'_>]) -> Result<T> {
        self.row(sql, args, |r| r.get(0))?
            .ok_or_else(|| StoreError::Corrupt(format!("no row from {:?}", sql.text)))
    }

    /// Streams every row to `each`.
    pub(crate) fn each(
        &mut self,
        sql: &Sql,
        args: &[Param<'_>],
        mut each: impl FnMut(&dyn Row) -> Result<()>,
    ) -> Result<()> {
        let text = sql.get(self.dialect());
        self.query(text, args, &mut each)
    }

    /// A batch insert whose spec returns nothing.
    pub(crate) fn insert_all(&mut self, spec: &Insert, args: &[Param<'_>]) -> Result<()> {
        debug_assert_eq!(spec.returns, Returns::Nothing);
        self.insert(spec, args).map(drop)
    }

    /// A batch insert that skips conflicting rows: `true` for each row written.
    pub(crate) fn insert_new(&mut self, spec: &Insert, args: &[Param<'_>]) -> Result<Vec<bool>> {
        debug_assert!(matches!(spec.returns, Returns::Written(_)));
        Ok(self
            .insert(spec, args)?
            .into_iter()
            .map(|n| n > 0)
            .collect())
    }

    /// A batch insert that returns each row's id, in order.
    pub(crate) fn insert_ids(&mut self, spec: &Insert, args: &[Param<'_>]) -> Result<Vec<i64>> {
        debug_assert_eq!(spec.returns, Returns::Ids);
        let rows = args.len() / spec.columns.len().max(1);
        let ids = self.insert(spec, args)?;
        if ids.len() != rows {
            return Err(StoreError::Corrupt(format!(
                "{rows} rows inserted into {}, {} ids returned",
                spec.table,
                ids.len()
            )));
        }
        Ok(ids)
    }
}

/// Adds an argument to a statement built at run time; returns its placeholder.
pub(crate) fn push_arg<'a>(args: &mut Vec<Param<'a>>, value: Param<'a>) -> String {
    args.push(value);
    format!("?{}", args.len())
}

/// The rows of a batch, checked against the width of its statement.
pub(crate) fn batch_rows<'p, 'a>(
    args: &'p [Param<'a>],
    width: usize,
    what: &str,
) -> Result<std::slice::Chunks<'p, Param<'a>>> {
    if width == 0 || !args.len().is_multiple_of(width) {
        return Err(StoreError::Invalid(format!(
            "{what}: {} values do not make rows of {width}",
            args.len()
        )));
    }
    Ok(args.chunks(width))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(text: &str) -> (String, String) {
        (
            translate(text, Dialect::Sqlite),
            translate(text, Dialect::Postgres),
        )
    }

    #[test]
    fn placeholders_become_dollars_on_postgres_only() {
        let (lite, pg) = both("SELECT a FROM t WHERE a = ?1 AND b IN (?2, ?10) LIMIT ?3");
        assert_eq!(
            lite,
            "SELECT a FROM t WHERE a = ?1 AND b IN (?2, ?10) LIMIT ?3"
        );
        assert_eq!(
            pg,
            "SELECT a FROM t WHERE a = $1 AND b IN ($2, $10) LIMIT $3"
        );
    }

    #[test]
    fn quoted_text_and_comments_are_left_alone() {
        let text = "SELECT '?1 it''s GREATEST', \"ILIKE?2\" -- ?3 LEAST(\nFROM t WHERE x = ?4";
        let (lite, pg) = both(text);
        assert_eq!(lite, text);
        assert_eq!(
            pg,
            "SELECT '?1 it''s GREATEST', \"ILIKE?2\" -- ?3 LEAST(\nFROM t WHERE x = $4"
        );
    }

    #[test]
    fn sqlite_gets_its_own_spellings() {
        let (lite, pg) = both(
            "SELECT GREATEST(a, least(b, ?1)) FROM t WHERE title ILIKE ?2 \
             AND s = ANY(?3) AND id <> ALL( ?4 ) ORDER BY id FOR UPDATE",
        );
        assert_eq!(
            lite,
            "SELECT MAX(a, MIN(b, ?1)) FROM t WHERE title LIKE ?2 \
             AND s IN (SELECT value FROM json_each(?3)) \
             AND id NOT IN (SELECT value FROM json_each(?4)) ORDER BY id"
        );
        assert_eq!(
            pg,
            "SELECT GREATEST(a, least(b, $1)) FROM t WHERE title ILIKE $2 \
             AND s = ANY($3) AND id <> ALL( $4 ) ORDER BY id FOR UPDATE"
        );
        assert_eq!(
            translate(
                "SELECT 1 FROM t LIMIT ?1 FOR UPDATE SKIP LOCKED",
                Dialect::Sqlite
            ),
            "SELECT 1 FROM t LIMIT ?1"
        );
    }

    #[test]
    fn any_without_a_list_placeholder_stays() {
        let text = "SELECT 1 WHERE x = ANY(SELECT y FROM u) AND forum = 1 AND ?";
        assert_eq!(translate(text, Dialect::Sqlite), text);
    }

    #[test]
    fn ddl_tokens_per_dialect_and_unknown_ones_refused() {
        let text = "CREATE TABLE t (id {id}, n {int}, f {real}, ok {bool}, b {blob}, j {json}) \
                    {without_rowid};";
        assert_eq!(
            ddl(text, Dialect::Sqlite).unwrap(),
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, f REAL, \
             ok INTEGER, b BLOB, j TEXT) WITHOUT ROWID;"
        );
        assert_eq!(
            ddl(text, Dialect::Postgres).unwrap(),
            "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, n BIGINT, f DOUBLE PRECISION, \
             ok BOOLEAN, b BYTEA, j JSONB) ;"
        );
        let err = ddl("CREATE TABLE t (x {uuid})", Dialect::Sqlite).unwrap_err();
        assert!(err.to_string().contains("unknown token {uuid}"), "{err}");
        assert!(ddl("CREATE TABLE t (x {int)", Dialect::Sqlite).is_err());
    }

    #[test]
    fn cells_convert_with_checks() {
        assert_eq!(i64::from_cell(Cell::Int(-3)), Some(-3));
        assert_eq!(u32::from_cell(Cell::Int(-1)), None);
        assert_eq!(u32::from_cell(Cell::Int(1 << 32)), None);
        assert_eq!(u32::from_cell(Cell::Int(7)), Some(7));
        assert_eq!(bool::from_cell(Cell::Int(1)), Some(true));
        assert_eq!(bool::from_cell(Cell::Int(2)), None);
        assert_eq!(bool::from_cell(Cell::Bool(false)), Some(false));
        assert_eq!(f64::from_cell(Cell::Int(2)), Some(2.0));
        assert_eq!(String::from_cell(Cell::Bytes(b"x")), None);
        assert_eq!(
            Option::<String>::from_cell(Cell::Null),
            Some(None::<String>)
        );
        assert_eq!(
            serde_json::Value::from_cell(Cell::Text("{\"a\":1}")),
            Some(serde_json::json!({"a": 1}))
        );
        assert_eq!(serde_json::Value::from_cell(Cell::Text("{")), None);
    }

    #[test]
    fn lists_bind_as_json_on_sqlite() {
        let ids = [1i64, 2];
        let names = ["a\"b".to_string()];
        assert_eq!((&ids[..]).param().list_json().as_deref(), Some("[1,2]"));
        assert_eq!(
            (&names[..]).param().list_json().as_deref(),
            Some("[\"a\\\"b\"]")
        );
        assert_eq!((&7i64).param().list_json(), None);
    }
}
