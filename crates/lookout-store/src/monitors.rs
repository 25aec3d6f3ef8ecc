//! Monitors, their check history and roll-ups, outages and maintenance windows.

use std::collections::HashMap;

use lookout_core::signal::Signal;

use crate::checks::{self, CheckTx, RawSummary, RollupBuilder};
use crate::events::insert_signals;
use crate::model::*;
use crate::sql::{params, sql, Conn, Insert, Lock, Param, Returns, Row, Ty, Update};
use crate::{Db, Result, StoreError};

/// Monitors and uptime history.
pub trait MonitorStore: Send + Sync + 'static {
    /// Creates a monitor with a default status. Fails with `Conflict` on a duplicate name
    /// within the project, token, or slug within the project.
    fn create_monitor(&self, new: &NewMonitor) -> Result<Monitor>;
    /// Creates the monitor, or updates the one with the same project and name (kind, spec,
    /// source, token, slug, `updated_ms`); its status, paused flag and history stay.
    fn upsert_monitor(&self, new: &NewMonitor) -> Result<Monitor>;
    /// Replaces a monitor's definition; `None` if unknown. Status and history stay.
    fn update_monitor(&self, id: i64, new: &NewMonitor) -> Result<Option<Monitor>>;
    /// Deletes a monitor with its results, roll-ups, outages and maintenance windows;
    /// `false` if unknown.
    fn delete_monitor(&self, id: i64) -> Result<bool>;
    /// Deletes the config-declared monitors whose ids are not in `keep` (they were removed
    /// from the config); returns how many went.
    fn prune_config_monitors(&self, keep: &[i64]) -> Result<u64>;
    /// All monitors, by id.
    fn list_monitors(&self) -> Result<Vec<Monitor>>;
    /// One monitor by id.
    fn get_monitor(&self, id: i64) -> Result<Option<Monitor>>;
    /// The heartbeat monitor whose ping token this is.
    fn get_monitor_by_token(&self, token: &str) -> Result<Option<Monitor>>;
    /// The monitor a project's Sentry check-ins name by slug.
    fn get_monitor_by_slug(&self, project_id: i64, slug: &str) -> Result<Option<Monitor>>;
    /// Pauses or resumes; `false` if unknown.
    fn set_monitor_paused(&self, id: i64, paused: bool, now_ms: i64) -> Result<bool>;

    /// Writes results, statuses, outage changes and signals in one transaction and
    /// returns the signals with their ids.
    fn write_checks(&self, batch: &CheckBatch) -> Result<Vec<Signal>>;
    /// Raw results of a monitor in `[from_ms, to_ms)`, newest first, at most `limit`.
    fn check_results(
        &self,
        monitor_id: i64,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<CheckRecord>>;
    /// Rolls up every complete bucket (minute, hour, day) up to `now_ms` that is not yet
    /// rolled up, from the raw results; idempotent. Returns how many roll-ups were written.
    /// Each resolution keeps a watermark, so a bucket is final once rolled up: pass `now_ms`
    /// minus the longest check timeout, or a result written late misses its bucket.
    fn rollup_checks(&self, now_ms: i64) -> Result<u64>;
    /// Deletes raw results and roll-ups past their retention (a roll-up once all of its
    /// bucket is); returns how many rows went.
    fn prune_checks(&self, retention: &CheckRetention, now_ms: i64) -> Result<u64>;
    /// Roll-ups of a monitor at one resolution with `start_ms` in `[from_ms, to_ms)`,
    /// oldest first.
    fn check_rollups(
        &self,
        monitor_id: i64,
        resolution: Resolution,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Rollup>>;
    /// Count, failures and latency percentiles of a monitor over `[from_ms, to_ms)`: exact
    /// from raw results where they are kept, else from hour roll-ups.
    ///
    /// When raw results of the range were pruned, hours up to the first one the raw results
    /// cover in full come from their roll-ups (those starting in the range), and the rest
    /// from raw results. Counts and failures then still add up exactly and the maximum is
    /// the largest maximum, but percentiles do not merge: each is the mean of the parts'
    /// percentiles weighted by their check counts, an approximation that is close for
    /// steady latencies and can be far off across a spike.
    fn latency_summary(&self, monitor_id: i64, from_ms: i64, to_ms: i64) -> Result<LatencySummary>;
    /// Outages of a monitor overlapping `[from_ms, to_ms)`, newest first, at most `limit`.
    fn outages(&self, monitor_id: i64, from_ms: i64, to_ms: i64, limit: u32)
        -> Result<Vec<Outage>>;
    /// Downtime in ms per monitor within `[from_ms, to_ms)` (outages clipped to the range,
    /// an open one counting up to `to_ms`); monitors without downtime are absent.
    fn downtime(&self, from_ms: i64, to_ms: i64) -> Result<HashMap<i64, i64>>;

    /// Creates a one-off maintenance window.
    fn create_maintenance(&self, new: &NewMaintenance) -> Result<Maintenance>;
    /// Maintenance windows that end after `after_ms`, by start.
    fn list_maintenance(&self, after_ms: i64) -> Result<Vec<Maintenance>>;
    /// Deletes a maintenance window; `false` if unknown.
    fn delete_maintenance(&self, id: i64) -> Result<bool>;
}

macro_rules! monitor_cols {
    () => {
        "id, name, kind, spec, source, project_id, token, slug, paused, created_ms, \
         updated_ms, state, last_check_ms, last_latency_ms, last_error, down_since_ms, \
         tls_expires_ms, tls_warned_days, running_since_ms"
    };
}

macro_rules! rollup_cols {
    () => {
        "monitor_id, resolution, start_ms, count, failures, degraded, maintenance, p50_ms, \
         p95_ms, p99_ms, max_ms, dns_ms, connect_ms, tls_ms, first_byte_ms, memory_kb, \
         cpu_permille"
    };
}

/// Monitors deleted or pruned per write transaction: large enough that a big prune does
/// not pay one commit per chunk, small enough that check batches are not held back long.
const PRUNE_MONITORS_PER_TX: usize = 256;
/// Roll-ups per batch insert.
const ROLLUP_WRITE_ROWS: usize = 5_000;

fn monitor_from_row(row: &dyn Row) -> Result<Monitor> {
    Ok(Monitor {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: row.name(2, "monitors.kind")?,
        spec: checks::spec_from_db(&row.get::<String>(3)?)?,
        source: row.name(4, "monitors.source")?,
        project_id: row.get(5)?,
        token: row.get(6)?,
        slug: row.get(7)?,
        paused: row.get(8)?,
        created_ms: row.get(9)?,
        updated_ms: row.get(10)?,
        status: MonitorStatus {
            state: row.name(11, "monitors.state")?,
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

fn rollup_from_row(row: &dyn Row) -> Result<Rollup> {
    let int = |i: usize, what: &str| checks::u32_from_db(row.get(i)?, what);
    let opt = |i: usize, what: &str| checks::opt_u32_from_db(row.get(i)?, what);
    Ok(Rollup {
        monitor_id: row.get(0)?,
        resolution: checks::resolution_from_code(row.get(1)?)?,
        start_ms: row.get(2)?,
        count: int(3, "roll-up count")?,
        failures: int(4, "roll-up failures")?,
        degraded: int(5, "roll-up degraded")?,
        maintenance: int(6, "roll-up maintenance")?,
        p50_ms: opt(7, "roll-up p50")?,
        p95_ms: opt(8, "roll-up p95")?,
        p99_ms: opt(9, "roll-up p99")?,
        max_ms: opt(10, "roll-up max")?,
        figures: checks::figures_from_row(row, 11)?,
    })
}

fn maintenance_from_row(r: &dyn Row) -> Result<Maintenance> {
    Ok(Maintenance {
        id: r.get(0)?,
        monitor_id: r.get(1)?,
        start_ms: r.get(2)?,
        end_ms: r.get(3)?,
        reason: r.get(4)?,
        created_ms: r.get(5)?,
        public_note: r.get(6)?,
    })
}

/// Turns a uniqueness violation of a monitor write into a `Conflict` naming what clashed.
fn monitor_conflict(e: StoreError, new: &NewMonitor) -> StoreError {
    match e.unique_violation() {
        Some(violated) => checks::monitor_conflict(&violated, new),
        None => e,
    }
}

/// A monitor's definition as `?1`…`?8` of its insert and update.
fn monitor_args<'a>(new: &'a NewMonitor, spec: &'a str) -> [Param<'a>; 8] {
    *params![
        new.name,
        new.kind,
        spec,
        new.source.as_str(),
        new.project_id,
        new.token,
        new.slug,
        new.now_ms
    ]
}

/// Inserts a monitor; `upsert` updates the one with the same project and name instead
/// of refusing it.
fn insert_monitor(c: &mut dyn Conn, new: &NewMonitor, upsert: bool) -> Result<Monitor> {
    let sql = if upsert {
        // Config-declared monitors are matched by project and name, keeping their id,
        // status and history. Only a change of definition is a redefinition: every
        // instance of a fleet upserts its config at start, and the others reload (and
        // check again) each monitor whose `updated_ms` moved.
        sql!(concat!(
            "INSERT INTO monitors (name, kind, spec, source, project_id, token, slug,
                 created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
             ON CONFLICT (COALESCE(project_id, 0), name) DO UPDATE SET
                 kind = excluded.kind, spec = excluded.spec, source = excluded.source,
                 token = excluded.token, slug = excluded.slug,
                 updated_ms = CASE
                     WHEN monitors.kind IS DISTINCT FROM excluded.kind
                         OR monitors.spec IS DISTINCT FROM excluded.spec
                         OR monitors.source IS DISTINCT FROM excluded.source
                         OR monitors.token IS DISTINCT FROM excluded.token
                         OR monitors.slug IS DISTINCT FROM excluded.slug
                     THEN excluded.updated_ms ELSE monitors.updated_ms END
             RETURNING ",
            monitor_cols!()
        ))
    } else {
        sql!(concat!(
            "INSERT INTO monitors (name, kind, spec, source, project_id, token, slug,
                 created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
             RETURNING ",
            monitor_cols!()
        ))
    };
    let spec = checks::spec_to_db(&new.spec);
    c.row(sql, &monitor_args(new, &spec), monitor_from_row)
        .map_err(|e| monitor_conflict(e, new))?
        .ok_or_else(|| StoreError::Corrupt(format!("monitor {:?} not returned", new.name)))
}

/// Deletes a monitor and everything recorded about it, inside the caller's transaction.
fn delete_monitor_rows(c: &mut dyn Conn, id: i64) -> Result<bool> {
    for sql in [
        sql!("DELETE FROM check_results WHERE monitor_id = ?1"),
        sql!("DELETE FROM check_rollups WHERE monitor_id = ?1"),
        sql!("DELETE FROM outages WHERE monitor_id = ?1"),
        sql!("DELETE FROM maintenance_windows WHERE monitor_id = ?1"),
        sql!("DELETE FROM status_page_monitors WHERE monitor_id = ?1"),
        // A deleted health monitor's last reading must not keep a health rule firing.
        sql!("DELETE FROM health_readings WHERE monitor_id = ?1"),
        sql!("DELETE FROM check_requests WHERE monitor_id = ?1"),
    ] {
        c.exec(sql, params![id])?;
    }
    Ok(c.exec(sql!("DELETE FROM monitors WHERE id = ?1"), params![id])? > 0)
}

/// The distinct monitor ids of `check_results` or `check_rollups`, one index seek each
/// (a loose index scan): neither table has an index that starts with time, so work over
/// a time range goes monitor by monitor.
fn monitor_ids_in(c: &mut dyn Conn, rollups: bool) -> Result<Vec<i64>> {
    macro_rules! loose_scan {
        ($table:literal) => {
            sql!(concat!(
                "WITH RECURSIVE m(id) AS (
                     SELECT (SELECT MIN(monitor_id) FROM ",
                $table,
                ")
                     UNION ALL
                     SELECT (SELECT MIN(monitor_id) FROM ",
                $table,
                " WHERE monitor_id > m.id)
                     FROM m WHERE m.id IS NOT NULL
                 )
                 SELECT id FROM m WHERE id IS NOT NULL"
            ))
        };
    }
    let sql = if rollups {
        loose_scan!("check_rollups")
    } else {
        loose_scan!("check_results")
    };
    c.rows(sql, &[], |r| r.get(0))
}

fn watermark(c: &mut dyn Conn, resolution: Resolution) -> Result<Option<i64>> {
    c.row(
        sql!("SELECT done_ms FROM check_rollup_marks WHERE resolution = ?1"),
        params![checks::resolution_code(resolution)],
        |r| r.get(0),
    )
}

static ROLLUPS: Insert = Insert::new(
    "check_rollups",
    &[
        ("monitor_id", Ty::Int8),
        ("resolution", Ty::Int2),
        ("start_ms", Ty::Int8),
        ("count", Ty::Int4),
        ("failures", Ty::Int4),
        ("degraded", Ty::Int4),
        ("maintenance", Ty::Int4),
        ("p50_ms", Ty::Int4),
        ("p95_ms", Ty::Int4),
        ("p99_ms", Ty::Int4),
        ("max_ms", Ty::Int4),
        ("dns_ms", Ty::Int4),
        ("connect_ms", Ty::Int4),
        ("tls_ms", Ty::Int4),
        ("first_byte_ms", Ty::Int4),
        ("memory_kb", Ty::Int4),
        ("cpu_permille", Ty::Int4),
    ],
    "ON CONFLICT (monitor_id, resolution, start_ms) DO UPDATE SET
         count = excluded.count,
         failures = excluded.failures,
         degraded = excluded.degraded,
         maintenance = excluded.maintenance,
         p50_ms = excluded.p50_ms,
         p95_ms = excluded.p95_ms,
         p99_ms = excluded.p99_ms,
         max_ms = excluded.max_ms,
         dns_ms = excluded.dns_ms,
         connect_ms = excluded.connect_ms,
         tls_ms = excluded.tls_ms,
         first_byte_ms = excluded.first_byte_ms,
         memory_kb = excluded.memory_kb,
         cpu_permille = excluded.cpu_permille",
    Returns::Nothing,
);

/// Writes one chunk's roll-ups and moves the watermark from `from` to `done_ms`, unless
/// another instance moved it meanwhile: then nothing is written and its watermark is
/// returned as the `Err`.
fn store_rollups(
    c: &mut dyn Conn,
    resolution: Resolution,
    rollups: &[Rollup],
    from: Option<i64>,
    done_ms: i64,
) -> Result<std::result::Result<(), Option<i64>>> {
    // Instances take turns; whoever comes second finds the watermark moved on.
    c.lock(Lock::Rollups)?;
    let current = watermark(c, resolution)?;
    if current != from {
        return Ok(Err(current));
    }
    for part in rollups.chunks(ROLLUP_WRITE_ROWS) {
        let mut args = Vec::with_capacity(part.len() * ROLLUPS.columns.len());
        for r in part {
            let [dns, connect, tls, first_byte, memory, cpu] = checks::figures_to_db(&r.figures);
            args.extend_from_slice(params![
                r.monitor_id,
                checks::resolution_code(r.resolution),
                r.start_ms,
                checks::u32_to_db(r.count),
                checks::u32_to_db(r.failures),
                checks::u32_to_db(r.degraded),
                checks::u32_to_db(r.maintenance),
                checks::latency_to_db(r.p50_ms),
                checks::latency_to_db(r.p95_ms),
                checks::latency_to_db(r.p99_ms),
                checks::latency_to_db(r.max_ms),
                dns,
                connect,
                tls,
                first_byte,
                memory,
                cpu
            ]);
        }
        c.insert_all(&ROLLUPS, &args)?;
    }
    // GREATEST: a run that got further must never be set back.
    c.exec(
        sql!(
            "INSERT INTO check_rollup_marks (resolution, done_ms) VALUES (?1, ?2)
             ON CONFLICT (resolution) DO UPDATE SET
                 done_ms = GREATEST(check_rollup_marks.done_ms, excluded.done_ms)"
        ),
        params![checks::resolution_code(resolution), done_ms],
    )?;
    Ok(Ok(()))
}

/// Roll-ups of `[start, stop)` at one resolution from the raw results of `ids`.
fn compute_rollups(
    c: &mut dyn Conn,
    resolution: Resolution,
    ids: &[i64],
    start: i64,
    stop: i64,
) -> Result<Vec<Rollup>> {
    let mut rollups = Vec::new();
    for part in ids.chunks(checks::ROLLUP_MONITORS_PER_SCAN) {
        let mut builder = RollupBuilder::new(resolution);
        // No ORDER BY: the builder takes rows in any order, which leaves the planner free
        // to read a long range the cheapest way. Streamed: only the latencies are kept.
        c.each(
            sql!(
                "SELECT monitor_id, at_ms, latency_ms, code, dns_ms, connect_ms, tls_ms,
                        first_byte_ms, memory_kb, cpu_permille
                 FROM check_results
                 WHERE monitor_id = ANY(?1) AND at_ms >= ?2 AND at_ms < ?3"
            ),
            params![part, start, stop],
            |r| {
                let figures = checks::figures_from_row(r, 4)?;
                builder.push(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, &figures)
            },
        )?;
        rollups.extend(builder.finish());
    }
    Ok(rollups)
}

static RESULTS: Insert = Insert::new(
    "check_results",
    &[
        ("monitor_id", Ty::Int8),
        ("at_ms", Ty::Int8),
        ("latency_ms", Ty::Int4),
        ("code", Ty::Int2),
        ("error", Ty::Text),
        ("dns_ms", Ty::Int4),
        ("connect_ms", Ty::Int4),
        ("tls_ms", Ty::Int4),
        ("first_byte_ms", Ty::Int4),
        ("memory_kb", Ty::Int4),
        ("cpu_permille", Ty::Int4),
    ],
    "ON CONFLICT DO NOTHING",
    Returns::Nothing,
);

static STATUSES: Update = Update::new(
    "monitors",
    "state = ?2, last_check_ms = ?3, last_latency_ms = ?4, last_error = ?5,
     down_since_ms = ?6, tls_expires_ms = ?7, tls_warned_days = ?8, running_since_ms = ?9",
    "id = ?1",
    &[
        Ty::Int8,
        Ty::Text,
        Ty::Int8,
        Ty::Int8,
        Ty::Text,
        Ty::Int8,
        Ty::Int8,
        Ty::Int8,
        Ty::Int8,
    ],
);

/// The partial unique index `outages_open` turns a second open into a no-op.
static OPEN_OUTAGES: Insert = Insert::new(
    "outages",
    &[
        ("monitor_id", Ty::Int8),
        ("start_ms", Ty::Int8),
        ("cause", Ty::Text),
    ],
    "ON CONFLICT DO NOTHING",
    Returns::Nothing,
);

static CLOSE_OUTAGES: Update = Update::new(
    "outages",
    "end_ms = ?2",
    "monitor_id = ?1 AND end_ms IS NULL",
    &[Ty::Int8, Ty::Int8],
);

impl CheckTx for dyn Conn + '_ {
    fn insert_results(&mut self, results: &[&CheckRecord]) -> Result<()> {
        let mut args = Vec::with_capacity(results.len() * RESULTS.columns.len());
        for r in results {
            let [dns, connect, tls, first_byte, memory, cpu] = checks::figures_to_db(&r.figures);
            args.extend_from_slice(params![
                r.monitor_id,
                r.at_ms,
                checks::latency_to_db(r.latency_ms),
                checks::pack_code(r.outcome, r.maintenance),
                r.error,
                dns,
                connect,
                tls,
                first_byte,
                memory,
                cpu
            ]);
        }
        self.insert_all(&RESULTS, &args)
    }

    fn update_statuses(&mut self, statuses: &[&(i64, MonitorStatus)]) -> Result<()> {
        let mut args = Vec::with_capacity(statuses.len() * STATUSES.params.len());
        for (id, s) in statuses.iter().copied() {
            args.extend_from_slice(params![
                id,
                s.state.as_str(),
                s.last_check_ms,
                s.last_latency_ms,
                s.last_error,
                s.down_since_ms,
                s.tls_expires_ms,
                s.tls_warned_days,
                s.running_since_ms
            ]);
        }
        self.update(&STATUSES, &args)
    }

    fn open_outages(&mut self, opens: &[(i64, i64, &str)]) -> Result<()> {
        let mut args = Vec::with_capacity(opens.len() * 3);
        for (monitor_id, start_ms, cause) in opens {
            args.extend_from_slice(params![monitor_id, start_ms, cause]);
        }
        self.insert_all(&OPEN_OUTAGES, &args)
    }

    fn close_outages(&mut self, closes: &[(i64, i64)]) -> Result<()> {
        let mut args = Vec::with_capacity(closes.len() * 2);
        for (monitor_id, end_ms) in closes {
            args.extend_from_slice(params![monitor_id, end_ms]);
        }
        self.update(&CLOSE_OUTAGES, &args)
    }

    fn record_signals(&mut self, signals: &mut [Signal]) -> Result<()> {
        insert_signals(self, signals)
    }
}

impl<D: Db> MonitorStore for D {
    fn create_monitor(&self, new: &NewMonitor) -> Result<Monitor> {
        self.write(|c| insert_monitor(c, new, false))
    }

    fn upsert_monitor(&self, new: &NewMonitor) -> Result<Monitor> {
        self.write(|c| insert_monitor(c, new, true))
    }

    fn update_monitor(&self, id: i64, new: &NewMonitor) -> Result<Option<Monitor>> {
        let spec = checks::spec_to_db(&new.spec);
        self.write(|c| {
            c.row(
                sql!(concat!(
                    "UPDATE monitors SET name = ?1, kind = ?2, spec = ?3, source = ?4,
                         project_id = ?5, token = ?6, slug = ?7, updated_ms = ?8
                     WHERE id = ?9
                     RETURNING ",
                    monitor_cols!()
                )),
                &[&monitor_args(new, &spec)[..], params![id]].concat(),
                monitor_from_row,
            )
            .map_err(|e| monitor_conflict(e, new))
        })
    }

    fn delete_monitor(&self, id: i64) -> Result<bool> {
        self.transaction(|c| delete_monitor_rows(c, id))
    }

    fn prune_config_monitors(&self, keep: &[i64]) -> Result<u64> {
        self.transaction(|c| {
            let gone: Vec<i64> = c.rows(
                sql!("SELECT id FROM monitors WHERE source = 'config' AND id <> ALL(?1)"),
                params![keep],
                |r| r.get(0),
            )?;
            for id in &gone {
                delete_monitor_rows(c, *id)?;
            }
            Ok(gone.len() as u64)
        })
    }

    fn list_monitors(&self) -> Result<Vec<Monitor>> {
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    monitor_cols!(),
                    " FROM monitors ORDER BY id"
                )),
                &[],
                monitor_from_row,
            )
        })
    }

    fn get_monitor(&self, id: i64) -> Result<Option<Monitor>> {
        self.read(|c| {
            c.row(
                sql!(concat!(
                    "SELECT ",
                    monitor_cols!(),
                    " FROM monitors WHERE id = ?1"
                )),
                params![id],
                monitor_from_row,
            )
        })
    }

    fn get_monitor_by_token(&self, token: &str) -> Result<Option<Monitor>> {
        self.read(|c| {
            c.row(
                sql!(concat!(
                    "SELECT ",
                    monitor_cols!(),
                    " FROM monitors WHERE token = ?1"
                )),
                params![token],
                monitor_from_row,
            )
        })
    }

    fn get_monitor_by_slug(&self, project_id: i64, slug: &str) -> Result<Option<Monitor>> {
        self.read(|c| {
            c.row(
                // The COALESCE term lets the lookup use `monitors_slug_key`.
                sql!(concat!(
                    "SELECT ",
                    monitor_cols!(),
                    " FROM monitors
                     WHERE COALESCE(project_id, 0) = ?1 AND slug = ?2 AND project_id IS NOT NULL"
                )),
                params![project_id, slug],
                monitor_from_row,
            )
        })
    }

    fn set_monitor_paused(&self, id: i64, paused: bool, now_ms: i64) -> Result<bool> {
        // The state column keeps the confirmed health: the scheduler shows "paused" from
        // the flag and restores the health on resume.
        let n = self.write(|c| {
            c.exec(
                sql!("UPDATE monitors SET paused = ?2, updated_ms = ?3 WHERE id = ?1"),
                params![id, paused, now_ms],
            )
        })?;
        Ok(n > 0)
    }

    fn write_checks(&self, b: &CheckBatch) -> Result<Vec<Signal>> {
        self.transaction(|c| checks::write_checks(c, b))
    }

    fn check_results(
        &self,
        monitor_id: i64,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<CheckRecord>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT monitor_id, at_ms, latency_ms, code, error, dns_ms, connect_ms,
                            tls_ms, first_byte_ms, memory_kb, cpu_permille
                     FROM check_results
                     WHERE monitor_id = ?1 AND at_ms >= ?2 AND at_ms < ?3
                     ORDER BY at_ms DESC LIMIT ?4"
                ),
                params![monitor_id, from_ms, to_ms, i64::from(limit)],
                |r| {
                    checks::check_record(
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        checks::figures_from_row(r, 5)?,
                    )
                },
            )
        })
    }

    fn rollup_checks(&self, now_ms: i64) -> Result<u64> {
        let mut written = 0u64;
        for resolution in checks::RESOLUTIONS {
            let (mut mark, ids, oldest) = self.read(|c| {
                let mark = watermark(c, resolution)?;
                let ids = monitor_ids_in(c, false)?;
                let mut oldest: Option<i64> = None;
                if mark.is_none() {
                    for id in &ids {
                        let min: Option<i64> = c.value(
                            sql!("SELECT MIN(at_ms) FROM check_results WHERE monitor_id = ?1"),
                            params![id],
                        )?;
                        oldest = oldest.into_iter().chain(min).min();
                    }
                }
                Ok((mark, ids, oldest))
            })?;
            while let Some((start, end)) = checks::rollup_range(resolution, mark, oldest, now_ms) {
                let stop = checks::chunk_end(resolution, start, end);
                // Read on a reading connection, so check batches keep flowing while a
                // day's worth of results is scanned; only the write takes the writer.
                let rollups = self.read(|c| compute_rollups(c, resolution, &ids, start, stop))?;
                match self.transaction(|c| store_rollups(c, resolution, &rollups, mark, stop))? {
                    Ok(()) => {
                        written += rollups.len() as u64;
                        mark = Some(stop);
                    }
                    Err(moved) => mark = moved,
                }
            }
        }
        Ok(written)
    }

    fn prune_checks(&self, retention: &CheckRetention, now_ms: i64) -> Result<u64> {
        let (raw_ids, rollup_ids) =
            self.read(|c| Ok((monitor_ids_in(c, false)?, monitor_ids_in(c, true)?)))?;
        let mut total = 0u64;
        let raw_cut = now_ms.saturating_sub(retention.raw_ms);
        for part in raw_ids.chunks(PRUNE_MONITORS_PER_TX) {
            total += self.write(|c| {
                c.exec(
                    sql!("DELETE FROM check_results WHERE monitor_id = ANY(?1) AND at_ms < ?2"),
                    params![part, raw_cut],
                )
            })?;
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
            for part in rollup_ids.chunks(PRUNE_MONITORS_PER_TX) {
                total += self.write(|c| {
                    c.exec(
                        sql!(
                            "DELETE FROM check_rollups
                             WHERE monitor_id = ANY(?1) AND resolution = ?2 AND start_ms <= ?3"
                        ),
                        params![part, code, last_start],
                    )
                })?;
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
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    rollup_cols!(),
                    " FROM check_rollups
                     WHERE monitor_id = ?1 AND resolution = ?2 AND start_ms >= ?3
                       AND start_ms < ?4
                     ORDER BY start_ms"
                )),
                params![
                    monitor_id,
                    checks::resolution_code(resolution),
                    from_ms,
                    to_ms
                ],
                rollup_from_row,
            )
        })
    }

    fn latency_summary(&self, monitor_id: i64, from_ms: i64, to_ms: i64) -> Result<LatencySummary> {
        let hour = checks::resolution_code(Resolution::Hour);
        // One snapshot, so that a prune between the reads cannot leave a gap.
        self.snapshot(|c| {
            let (oldest_raw, oldest_hour) = c
                .row(
                    sql!(
                        "SELECT (SELECT MIN(at_ms) FROM check_results WHERE monitor_id = ?1),
                                (SELECT MIN(start_ms) FROM check_rollups
                                 WHERE monitor_id = ?1 AND resolution = ?2)"
                    ),
                    params![monitor_id, hour],
                    |r| Ok((r.get::<Option<i64>>(0)?, r.get::<Option<i64>>(1)?)),
                )?
                .unwrap_or_default();
            let plan = checks::summary_plan(from_ms, to_ms, oldest_raw, oldest_hour);
            let mut raw = RawSummary::default();
            if let Some((from, to)) = plan.raw {
                c.each(
                    sql!(
                        "SELECT latency_ms, code FROM check_results
                         WHERE monitor_id = ?1 AND at_ms >= ?2 AND at_ms < ?3"
                    ),
                    params![monitor_id, from, to],
                    |r| raw.push(r.get(0)?, r.get(1)?),
                )?;
            }
            let hours = match plan.hours {
                Some((from, to)) => c.rows(
                    sql!(concat!(
                        "SELECT ",
                        rollup_cols!(),
                        " FROM check_rollups
                         WHERE monitor_id = ?1 AND resolution = ?2 AND start_ms >= ?3
                           AND start_ms < ?4
                         ORDER BY start_ms"
                    )),
                    params![monitor_id, hour, from, to],
                    rollup_from_row,
                )?,
                None => Vec::new(),
            };
            Ok(checks::summarize(raw, &hours))
        })
    }

    fn outages(
        &self,
        monitor_id: i64,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<Outage>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT id, monitor_id, start_ms, end_ms, cause FROM outages
                     WHERE monitor_id = ?1 AND start_ms < ?3
                         AND COALESCE(end_ms, 9223372036854775807) > ?2
                     ORDER BY start_ms DESC, id DESC LIMIT ?4"
                ),
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
        })
    }

    fn downtime(&self, from_ms: i64, to_ms: i64) -> Result<HashMap<i64, i64>> {
        let rows = self.read(|c| {
            c.rows(
                // `+monitor_id`: without statistics SQLite would rather scan all outages in
                // monitor order for the GROUP BY than seek the few recent ones in
                // `outages_end`.
                sql!(
                    "SELECT m, CAST(SUM(down) AS BIGINT) FROM (
                         SELECT +monitor_id AS m,
                             GREATEST(0, LEAST(COALESCE(end_ms, ?2), ?2) - GREATEST(start_ms, ?1))
                                 AS down
                         FROM outages
                         WHERE COALESCE(end_ms, 9223372036854775807) > ?1 AND start_ms < ?2
                     ) AS clipped
                     GROUP BY m HAVING SUM(down) > 0"
                ),
                params![from_ms, to_ms],
                |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
            )
        })?;
        Ok(rows.into_iter().collect())
    }

    fn create_maintenance(&self, new: &NewMaintenance) -> Result<Maintenance> {
        self.write(|c| {
            c.row(
                sql!(
                    "INSERT INTO maintenance_windows (monitor_id, start_ms, end_ms, reason,
                         created_ms, public_note)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     RETURNING id, monitor_id, start_ms, end_ms, reason, created_ms,
                         public_note"
                ),
                params![
                    new.monitor_id,
                    new.start_ms,
                    new.end_ms,
                    new.reason,
                    new.now_ms,
                    new.public_note
                ],
                maintenance_from_row,
            )?
            .ok_or_else(|| StoreError::Corrupt("maintenance window not returned".to_string()))
        })
    }

    fn list_maintenance(&self, after_ms: i64) -> Result<Vec<Maintenance>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT id, monitor_id, start_ms, end_ms, reason, created_ms, public_note
                     FROM maintenance_windows WHERE end_ms > ?1 ORDER BY start_ms, id"
                ),
                params![after_ms],
                maintenance_from_row,
            )
        })
    }

    fn delete_maintenance(&self, id: i64) -> Result<bool> {
        let n = self.write(|c| {
            c.exec(
                sql!("DELETE FROM maintenance_windows WHERE id = ?1"),
                params![id],
            )
        })?;
        Ok(n > 0)
    }
}
