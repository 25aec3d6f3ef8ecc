//! Several lookout instances on one database: the registry of serving instances (each
//! heartbeats its row) and the leases of duties that run on one instance at a time.
//!
//! The database is the coordinator: a duty is a row taken or renewed with one
//! conditional write (`holder` is the caller, or the lease has expired), so two
//! instances never both hold it, and a dead holder's lease runs out by itself. A writer
//! that must not commit after losing its lease checks it in its own transaction
//! ([`InstanceStore::apply_alerts_fenced`]).

use serde::Serialize;

use crate::model::AlertBatch;
use crate::sql::{params, sql, Row};
use crate::{alert_batch, Db, Result, StoreError};

/// A serving instance as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceRow {
    /// Random at each start.
    pub id: String,
    /// `--instance-name` or `[cluster] instance_name`, else the host name.
    pub name: String,
    /// The host it runs on.
    pub host: String,
    /// Its lookout version.
    pub version: String,
    /// The address it listens on.
    pub addr: String,
    /// A hash of the rules, monitors and channels of its config file.
    pub config_hash: String,
    /// What the hash covers, in a few words.
    pub config_summary: String,
    /// Started, Unix ms.
    pub started_ms: i64,
    /// Last heartbeat, Unix ms.
    pub heartbeat_ms: i64,
}

/// A health monitor's latest reading.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReading {
    /// The monitor.
    pub monitor_id: i64,
    /// The `checks` object of the document it read; `None` when it read none.
    pub checks: Option<serde_json::Value>,
    /// When the check started, Unix ms.
    pub at_ms: i64,
}

/// A duty's lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duty {
    /// The duty (`alerts`, `outbox`, `jobs`…).
    pub name: String,
    /// The instance id holding it.
    pub holder: String,
    /// When this holder took it, Unix ms.
    pub taken_ms: i64,
    /// When the lease ends unless renewed, Unix ms.
    pub expires_ms: i64,
}

/// Proof that a write is made by the holder of a duty's lease, checked in the write's
/// own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The duty.
    pub duty: String,
    /// The writer's instance id.
    pub holder: String,
    /// The writer's time, Unix ms: the lease must not have expired by then.
    pub now_ms: i64,
}

/// The instance registry and duty leases.
pub trait InstanceStore: Send + Sync + 'static {
    /// Registers an instance or renews its heartbeat (the row is written whole, so a
    /// row removed meanwhile comes back).
    fn heartbeat_instance(&self, row: &InstanceRow) -> Result<()>;
    /// Instances whose heartbeat is at `since_ms` or later, by id.
    fn live_instances(&self, since_ms: i64) -> Result<Vec<InstanceRow>>;
    /// Forgets an instance and gives up its leases (a clean stop), so others take over
    /// at once rather than when the leases run out.
    fn remove_instance(&self, id: &str) -> Result<()>;
    /// Forgets instances whose last heartbeat is before `before_ms`; returns how many.
    fn prune_instances(&self, before_ms: i64) -> Result<u64>;
    /// Takes or renews, for `holder`, each duty of `names` that is free, expired or its
    /// own, until `now_ms + ttl_ms`; returns the names it holds afterwards.
    fn claim_duties(
        &self,
        holder: &str,
        names: &[&str],
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Vec<String>>;
    /// Every duty's lease, by name.
    fn list_duties(&self) -> Result<Vec<Duty>>;
    /// [`crate::AlertStore::apply_alerts`], in a transaction that first checks that
    /// `fence.holder` holds `fence.duty` unexpired at `fence.now_ms`; if not, nothing is
    /// written and the error is a [`StoreError::Conflict`]. On PostgreSQL the check locks
    /// the lease row until commit, so a takeover waits for the step to land.
    fn apply_alerts_fenced(&self, batch: &AlertBatch, fence: &Fence) -> Result<Vec<i64>>;
    /// Asks the instance that runs monitor `monitor_id` to check it now (a request made
    /// through another instance); a second request before it is taken is the same one.
    fn request_check(&self, monitor_id: i64, now_ms: i64) -> Result<()>;
    /// The monitors whose check is requested, by id.
    fn check_requests(&self) -> Result<Vec<i64>>;
    /// Forgets the requests for `monitor_ids` (taken by their owner, or for monitors gone).
    fn clear_check_requests(&self, monitor_ids: &[i64]) -> Result<()>;
    /// Stores each monitor's latest health reading; one older than the stored one is
    /// ignored (two instances may both have checked a monitor around a failover).
    fn put_health_readings(&self, readings: &[HealthReading]) -> Result<()>;
    /// Every stored health reading, by monitor.
    fn health_readings(&self) -> Result<Vec<HealthReading>>;
}

fn instance_from_row(r: &dyn Row) -> Result<InstanceRow> {
    Ok(InstanceRow {
        id: r.get(0)?,
        name: r.get(1)?,
        host: r.get(2)?,
        version: r.get(3)?,
        addr: r.get(4)?,
        config_hash: r.get(5)?,
        config_summary: r.get(6)?,
        started_ms: r.get(7)?,
        heartbeat_ms: r.get(8)?,
    })
}

impl<D: Db> InstanceStore for D {
    fn heartbeat_instance(&self, i: &InstanceRow) -> Result<()> {
        self.write(|c| {
            c.exec(
                sql!(
                    "INSERT INTO instances (id, name, host, version, addr, config_hash,
                         config_summary, started_ms, heartbeat_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                         addr = excluded.addr, config_hash = excluded.config_hash,
                         config_summary = excluded.config_summary,
                         heartbeat_ms = excluded.heartbeat_ms"
                ),
                params![
                    i.id,
                    i.name,
                    i.host,
                    i.version,
                    i.addr,
                    i.config_hash,
                    i.config_summary,
                    i.started_ms,
                    i.heartbeat_ms
                ],
            )
            .map(drop)
        })
    }

    fn live_instances(&self, since_ms: i64) -> Result<Vec<InstanceRow>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT id, name, host, version, addr, config_hash, config_summary,
                         started_ms, heartbeat_ms
                     FROM instances WHERE heartbeat_ms >= ?1 ORDER BY id"
                ),
                params![since_ms],
                instance_from_row,
            )
        })
    }

    fn remove_instance(&self, id: &str) -> Result<()> {
        self.transaction(|c| {
            c.exec(sql!("DELETE FROM duties WHERE holder = ?1"), params![id])?;
            c.exec(sql!("DELETE FROM instances WHERE id = ?1"), params![id])?;
            Ok(())
        })
    }

    fn prune_instances(&self, before_ms: i64) -> Result<u64> {
        self.write(|c| {
            c.exec(
                sql!("DELETE FROM instances WHERE heartbeat_ms < ?1"),
                params![before_ms],
            )
        })
    }

    fn claim_duties(
        &self,
        holder: &str,
        names: &[&str],
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Vec<String>> {
        if ttl_ms <= 0 {
            return Err(StoreError::Invalid(format!(
                "a lease must last a positive time, not {ttl_ms} ms"
            )));
        }
        let expires = now_ms.saturating_add(ttl_ms);
        self.transaction(|c| {
            let mut held = Vec::new();
            for name in names {
                // One statement decides: a concurrent claimer's conditional update waits
                // for this row and then finds it held.
                c.exec(
                    sql!(
                        "INSERT INTO duties (name, holder, taken_ms, expires_ms)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (name) DO UPDATE SET
                             taken_ms = CASE WHEN duties.holder = excluded.holder
                                 THEN duties.taken_ms ELSE excluded.taken_ms END,
                             holder = excluded.holder,
                             expires_ms = excluded.expires_ms
                         WHERE duties.holder = excluded.holder OR duties.expires_ms <= ?3"
                    ),
                    params![name, holder, now_ms, expires],
                )?;
                let by: Option<String> = c.row(
                    sql!("SELECT holder FROM duties WHERE name = ?1"),
                    params![name],
                    |r| r.get(0),
                )?;
                if by.as_deref() == Some(holder) {
                    held.push((*name).to_string());
                }
            }
            Ok(held)
        })
    }

    fn list_duties(&self) -> Result<Vec<Duty>> {
        self.read(|c| {
            c.rows(
                sql!("SELECT name, holder, taken_ms, expires_ms FROM duties ORDER BY name"),
                &[],
                |r| {
                    Ok(Duty {
                        name: r.get(0)?,
                        holder: r.get(1)?,
                        taken_ms: r.get(2)?,
                        expires_ms: r.get(3)?,
                    })
                },
            )
        })
    }

    fn apply_alerts_fenced(&self, batch: &AlertBatch, fence: &Fence) -> Result<Vec<i64>> {
        self.transaction(|c| {
            // A write that changes nothing but takes the row lock (PostgreSQL) or the
            // database's write lock (SQLite) until commit.
            let held = c.exec(
                sql!(
                    "UPDATE duties SET expires_ms = expires_ms
                     WHERE name = ?1 AND holder = ?2 AND expires_ms > ?3"
                ),
                params![fence.duty, fence.holder, fence.now_ms],
            )?;
            if held == 0 {
                return Err(StoreError::Conflict(format!(
                    "the {} lease is no longer held by instance {}: another instance took over",
                    fence.duty, fence.holder
                )));
            }
            alert_batch::apply_alerts(c, batch)
        })
    }

    fn request_check(&self, monitor_id: i64, now_ms: i64) -> Result<()> {
        self.write(|c| {
            c.exec(
                sql!(
                    "INSERT INTO check_requests (monitor_id, requested_ms) VALUES (?1, ?2)
                     ON CONFLICT (monitor_id) DO NOTHING"
                ),
                params![monitor_id, now_ms],
            )
            .map(drop)
        })
    }

    fn check_requests(&self) -> Result<Vec<i64>> {
        self.read(|c| {
            c.rows(
                sql!("SELECT monitor_id FROM check_requests ORDER BY monitor_id"),
                &[],
                |r| r.get(0),
            )
        })
    }

    fn clear_check_requests(&self, monitor_ids: &[i64]) -> Result<()> {
        if monitor_ids.is_empty() {
            return Ok(());
        }
        self.transaction(|c| {
            for id in monitor_ids {
                c.exec(
                    sql!("DELETE FROM check_requests WHERE monitor_id = ?1"),
                    params![id],
                )?;
            }
            Ok(())
        })
    }

    fn put_health_readings(&self, readings: &[HealthReading]) -> Result<()> {
        if readings.is_empty() {
            return Ok(());
        }
        self.transaction(|c| {
            for r in readings {
                let checks = r.checks.as_ref().map(|v| v.to_string());
                c.exec(
                    sql!(
                        "INSERT INTO health_readings (monitor_id, checks, at_ms)
                         VALUES (?1, ?2, ?3)
                         ON CONFLICT (monitor_id) DO UPDATE SET checks = excluded.checks,
                             at_ms = excluded.at_ms
                         WHERE health_readings.at_ms <= excluded.at_ms"
                    ),
                    params![r.monitor_id, checks, r.at_ms],
                )?;
            }
            Ok(())
        })
    }

    fn health_readings(&self) -> Result<Vec<HealthReading>> {
        self.read(|c| {
            c.rows(
                sql!("SELECT monitor_id, checks, at_ms FROM health_readings ORDER BY monitor_id"),
                &[],
                |r| {
                    let checks: Option<String> = r.get(1)?;
                    Ok(HealthReading {
                        monitor_id: r.get(0)?,
                        checks: match checks {
                            None => None,
                            Some(t) => Some(serde_json::from_str(&t).map_err(|e| {
                                StoreError::Invalid(format!("stored health reading: {e}"))
                            })?),
                        },
                        at_ms: r.get(2)?,
                    })
                },
            )
        })
    }
}
