//! Schema migrations, one numbered list for both databases, applied by one runner.
//!
//! To add a migration, write `migrations/NNNN_what.sql` once, with the dialect tokens of
//! [`crate::sql::ddl`] where the databases spell a type differently (`{id}`, `{int}`,
//! `{real}`, `{bool}`, `{blob}`, `{json}`, `{without_rowid}`), and append
//! `migration!(N, "NNNN_what.sql")` to [`MIGRATIONS`]. Only where the DDL truly differs
//! (SQLite rebuilding a table to change a column, say) write `migrations/sqlite/…` and
//! `migrations/postgres/…` and use the two-file form. A migration, once released, is never
//! edited: databases have applied it.
//!
//! Each migration runs in its own write transaction with the version recorded in
//! `schema_migrations`; on PostgreSQL an advisory lock makes instances starting at once
//! take turns (SQLite's `BEGIN IMMEDIATE` does the same for processes sharing a file). A
//! database that records a version this build does not know was written by a newer
//! lookout, and is refused rather than run on.

use crate::sql::{ddl, params, sql, Conn, Dialect, Lock};
use crate::{Db, Result, StoreError};

/// One schema change.
#[derive(Clone, Copy)]
pub(crate) struct Migration {
    /// Its number, in applying order.
    pub version: i64,
    /// The SQL for SQLite, with dialect tokens.
    pub sqlite: &'static str,
    /// The SQL for PostgreSQL, with dialect tokens.
    pub postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $file:literal) => {
        Migration {
            version: $version,
            sqlite: include_str!(concat!("../migrations/", $file)),
            postgres: include_str!(concat!("../migrations/", $file)),
        }
    };
    ($version:literal, sqlite: $sqlite:literal, postgres: $postgres:literal) => {
        Migration {
            version: $version,
            sqlite: include_str!(concat!("../migrations/sqlite/", $sqlite)),
            postgres: include_str!(concat!("../migrations/postgres/", $postgres)),
        }
    };
}

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    migration!(1, sqlite: "0001_init.sql", postgres: "0001_init.sql"),
    migration!(2, sqlite: "0002_monitors.sql", postgres: "0002_monitors.sql"),
    migration!(3, sqlite: "0003_alerts.sql", postgres: "0003_alerts.sql"),
    migration!(4, sqlite: "0004_rules.sql", postgres: "0004_rules.sql"),
    migration!(5, sqlite: "0005_payload_dicts.sql", postgres: "0005_payload_dicts.sql"),
    migration!(6, "0006_status_pages.sql"),
    migration!(7, "0007_accounts.sql"),
    migration!(8, "0008_latency.sql"),
    migration!(9, "0009_deploys.sql"),
    migration!(10, "0010_releases.sql"),
    migration!(11, "0011_instances.sql"),
    migration!(12, "0012_check_figures.sql"),
    migration!(13, "0013_regroup_and_token_projects.sql"),
    migration!(14, "0014_check_requests_and_health_readings.sql"),
    migration!(15, "0015_event_hours.sql"),
    migration!(16, "0016_latency_deltas.sql"),
    migration!(17, "0017_release_refs.sql"),
];

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

impl Migration {
    fn text(&self, dialect: Dialect) -> Result<String> {
        ddl(
            match dialect {
                Dialect::Sqlite => self.sqlite,
                Dialect::Postgres => self.postgres,
            },
            dialect,
        )
    }
}

/// Applies the migrations `db` has not applied yet, in order.
pub(crate) fn run(db: &impl Db, migrations: &[Migration]) -> Result<()> {
    let known = migrations.iter().map(|m| m.version).max().unwrap_or(0);
    for m in migrations {
        db.transaction(|c| apply(c, m, known))?;
    }
    Ok(())
}

fn apply(c: &mut dyn Conn, m: &Migration, known: i64) -> Result<()> {
    // Several instances may start at once: one migrates, the others wait and then find
    // the version recorded.
    c.lock(Lock::Migrations)?;
    c.execute_script(&ddl(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version {int} PRIMARY KEY, applied_ms {int} NOT NULL)",
        c.dialect(),
    )?)?;
    let newest: Option<i64> = c.value(sql!("SELECT MAX(version) FROM schema_migrations"), &[])?;
    if let Some(newest) = newest.filter(|v| *v > known) {
        return Err(StoreError::Open(format!(
            "the database is at schema version {newest}, but this lookout knows versions up \
             to {known} only: it was written by a newer lookout; run that version (or newer) \
             against it"
        )));
    }
    let done = c
        .row(
            sql!("SELECT version FROM schema_migrations WHERE version = ?1"),
            params![m.version],
            |r| r.get::<i64>(0),
        )?
        .is_some();
    if done {
        return Ok(());
    }
    c.execute_script(&m.text(c.dialect())?)
        .map_err(|e| StoreError::Open(format!("migration {}: {e}", m.version)))?;
    c.exec(
        sql!("INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)"),
        params![m.version, now_ms()],
    )?;
    tracing::info!(version = m.version, dialect = ?c.dialect(), "applied migration");
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::PostgresStore;
    use crate::sql::sql;
    use crate::sqlite::{Durability, SqliteStore};

    /// The version a release after this one would take.
    fn next_version() -> i64 {
        MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0) + 1
    }

    /// The versions this build applies.
    fn known() -> Vec<i64> {
        MIGRATIONS.iter().map(|m| m.version).collect()
    }

    /// A release after this one: written once, with dialect tokens.
    fn next() -> Migration {
        const DDL: &str =
            "CREATE TABLE future_notes (id {id}, at_ms {int} NOT NULL, ok {bool} NOT NULL,
                     notes {json}, log {blob});
                 INSERT INTO future_notes (at_ms, ok) VALUES (5, TRUE);";
        Migration {
            version: next_version(),
            sqlite: DDL,
            postgres: DDL,
        }
    }

    /// Fails halfway: its first statement must not stay applied.
    fn broken() -> Migration {
        const DDL: &str = "CREATE TABLE half (x {int}); CREATE TABLE half (x {int});";
        Migration {
            version: next_version(),
            sqlite: DDL,
            postgres: DDL,
        }
    }

    fn with(extra: Migration) -> Vec<Migration> {
        MIGRATIONS.iter().copied().chain([extra]).collect()
    }

    fn versions(db: &impl Db) -> Vec<i64> {
        db.read(|c| {
            c.rows(
                sql!("SELECT version FROM schema_migrations ORDER BY version"),
                &[],
                |r| r.get(0),
            )
        })
        .unwrap()
    }

    fn has_table(db: &impl Db, table: &str) -> bool {
        let probe = crate::sql::Sql::owned(format!("SELECT COUNT(*) FROM {table}"));
        db.read(|c| c.rows(&probe, &[], |r| r.get::<i64>(0)))
            .is_ok()
    }

    /// A database at this build's version (as today's releases leave it) takes the next
    /// one, once; a build that knows only this one then refuses it; a failing migration
    /// leaves nothing behind.
    fn upgrade_refuse_and_roll_back(
        open: impl Fn() -> Box<dyn Fn(&[Migration]) -> Result<Vec<i64>>>,
    ) {
        let run_with = open();
        let (known, n) = (known(), next_version());
        assert_eq!(run_with(MIGRATIONS).unwrap(), known);

        let broken = with(broken());
        let err = run_with(&broken).unwrap_err();
        assert!(err.to_string().contains(&format!("migration {n}")), "{err}");
        assert_eq!(run_with(MIGRATIONS).unwrap(), known);

        let next = with(next());
        let all: Vec<i64> = known.iter().copied().chain([n]).collect();
        assert_eq!(run_with(&next).unwrap(), all);
        // Applied once: running again would fail on the existing table.
        assert_eq!(run_with(&next).unwrap(), all);

        let err = run_with(MIGRATIONS).unwrap_err().to_string();
        assert!(
            err.contains(&format!("schema version {n}"))
                && err.contains(&format!("up to {}", n - 1)),
            "{err}"
        );
    }

    #[test]
    fn sqlite_upgrades_refuses_and_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        upgrade_refuse_and_roll_back(|| {
            let path = path.clone();
            Box::new(move |list: &[Migration]| {
                let db = SqliteStore::open_unmigrated(&path, Durability::Process)?;
                run(&db, list)?;
                assert!(!has_table(&db, "half"), "a failed migration left a table");
                Ok(versions(&db))
            })
        });
        let db = SqliteStore::open_unmigrated(dir.path(), Durability::Process).unwrap();
        let ok: bool = db
            .read(|c| c.value(sql!("SELECT ok FROM future_notes WHERE at_ms = 5"), &[]))
            .unwrap();
        assert!(ok);
    }

    fn postgres_url() -> Option<String> {
        crate::suite_switch::suite_switch("LOOKOUT_TEST_POSTGRES_URL", "PostgreSQL migrations")
    }

    struct Schema(PostgresStore);

    impl Drop for Schema {
        fn drop(&mut self) {
            let _ = self.0.drop_schema();
        }
    }

    fn scratch_schema() -> String {
        format!("lookout_test_{:016x}", rand::random::<u64>())
    }

    #[test]
    fn postgres_upgrades_refuses_and_rolls_back() {
        let Some(url) = postgres_url() else { return };
        let schema = scratch_schema();
        let _cleanup = Schema(PostgresStore::open_unmigrated(&url, Some(schema.clone())).unwrap());
        upgrade_refuse_and_roll_back(|| {
            let (url, schema) = (url.clone(), schema.clone());
            Box::new(move |list: &[Migration]| {
                let db = PostgresStore::open_unmigrated(&url, Some(schema.clone()))?;
                run(&db, list)?;
                assert!(!has_table(&db, "half"), "a failed migration left a table");
                Ok(versions(&db))
            })
        });
    }

    /// Instances starting at once: each migration is applied once, and every instance
    /// starts.
    #[test]
    fn concurrent_starts_apply_each_migration_once() {
        let dir = tempfile::tempdir().unwrap();
        let pg = postgres_url().map(|url| (url, scratch_schema()));
        let _cleanup = pg.as_ref().map(|(url, schema)| {
            Schema(PostgresStore::open_unmigrated(url, Some(schema.clone())).unwrap())
        });
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = dir.path().to_path_buf();
                let pg = pg.clone();
                std::thread::spawn(move || {
                    let lite = SqliteStore::open_unmigrated(&path, Durability::Process)?;
                    run(&lite, MIGRATIONS)?;
                    let mut seen = vec![versions(&lite)];
                    if let Some((url, schema)) = pg {
                        let db = PostgresStore::open_unmigrated(&url, Some(schema))?;
                        run(&db, MIGRATIONS)?;
                        seen.push(versions(&db));
                    }
                    Ok::<_, StoreError>(seen)
                })
            })
            .collect();
        for t in threads {
            for seen in t.join().unwrap().unwrap() {
                assert_eq!(seen, known());
            }
        }
    }

    #[test]
    fn released_migrations_translate_to_themselves() {
        // 0001–0005 are applied in users' databases as they are: the token pass must not
        // change a byte of them.
        for m in MIGRATIONS.iter().filter(|m| m.version <= 5) {
            assert_eq!(m.text(Dialect::Sqlite).unwrap(), m.sqlite, "{}", m.version);
            assert_eq!(
                m.text(Dialect::Postgres).unwrap(),
                m.postgres,
                "{}",
                m.version
            );
        }
    }

    /// Migration 15 counts the events already stored into the hourly counts.
    #[test]
    fn hourly_counts_start_from_the_stored_events() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteStore::open_unmigrated(dir.path(), Durability::Process).unwrap();
        let before: Vec<Migration> = MIGRATIONS
            .iter()
            .copied()
            .filter(|m| m.version < 15)
            .collect();
        run(&db, &before).unwrap();
        db.write(|c| {
            for (n, received_ms, level, environment) in [
                (1, 7_200_000, "error", Some("production")),
                (2, 7_300_000, "error", Some("production")),
                (3, 7_400_000, "error", None),
                (4, 10_900_000, "fatal", Some("production")),
            ] {
                c.exec(
                    sql!(
                        "INSERT INTO events (project_id, issue_id, event_id, timestamp_ms,
                             received_ms, level, release, environment, title, payload)
                         VALUES (1, 1, ?1, ?2, ?2, ?3, NULL, ?4, 'E', ?5)"
                    ),
                    params![
                        format!("{n:032x}"),
                        received_ms,
                        level,
                        environment,
                        vec![0u8]
                    ],
                )?;
            }
            Ok(())
        })
        .unwrap();
        run(&db, MIGRATIONS).unwrap();
        let rows: Vec<(i64, String, String, String, i64)> = db
            .read(|c| {
                c.rows(
                    sql!(
                        "SELECT hour_ms, level, environment, release, count FROM event_hours
                         ORDER BY hour_ms, level, environment"
                    ),
                    &[],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
            })
            .unwrap();
        let row = |h: i64, l: &str, e: &str, n: i64| (h, l.into(), e.into(), String::new(), n);
        assert_eq!(
            rows,
            vec![
                row(7_200_000, "error", "", 1),
                row(7_200_000, "error", "production", 2),
                row(10_800_000, "fatal", "production", 1),
            ]
        );
    }

    #[test]
    fn versions_increase() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert_eq!(MIGRATIONS[0].version, 1);
    }
}
