use thiserror::Error;

/// A storage failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL reported an error.
    #[error("postgres: {0}")]
    Postgres(#[from] postgres::Error),
    /// No connection could be had from the pool in time.
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// A uniqueness rule was broken (duplicate slug, id or key).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request itself was malformed (e.g. an alert batch naming an incident it does not
    /// open); nothing was written.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The database could not be opened or migrated.
    #[error("cannot open the database: {0}")]
    Open(String),
    /// Stored data could not be decoded (e.g. project settings JSON).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// What the database said about a broken uniqueness rule (SQLite's message, which
    /// names the columns or index; PostgreSQL's message, which names the constraint, and
    /// its detail, which names the key); `None` for any other error.
    pub(crate) fn unique_violation(&self) -> Option<String> {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, msg))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Some(msg.clone().unwrap_or_else(|| f.to_string()))
            }
            StoreError::Postgres(e)
                if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) =>
            {
                Some(e.as_db_error().map_or_else(
                    || e.to_string(),
                    |d| match d.detail() {
                        Some(detail) => format!("{}: {detail}", d.message()),
                        None => d.message().to_string(),
                    },
                ))
            }
            _ => None,
        }
    }

    /// A uniqueness violation as [`StoreError::Conflict`]; other errors as they are.
    pub(crate) fn into_conflict(self) -> StoreError {
        match self.unique_violation() {
            Some(msg) => StoreError::Conflict(msg),
            None => self,
        }
    }
}
