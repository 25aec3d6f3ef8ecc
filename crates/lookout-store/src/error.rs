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
