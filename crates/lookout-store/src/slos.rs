//! Service level objectives created through the API (those of the config file live
//! there). The store keeps each one's definition as JSON: the server validates it.

use serde::Serialize;

use crate::sql::{params, sql};
use crate::{Db, Result, StoreError};

/// An objective as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSlo {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The definition, as the API took it.
    pub spec: serde_json::Value,
    /// Created, Unix ms.
    pub created_ms: i64,
}

/// Objectives created through the API.
pub trait SloStore: Send + Sync + 'static {
    /// Stores a new objective; [`StoreError::Conflict`] when the name is taken.
    fn create_slo(&self, name: &str, spec: &serde_json::Value, now_ms: i64) -> Result<StoredSlo>;
    /// Every stored objective, by name.
    fn list_slos(&self) -> Result<Vec<StoredSlo>>;
    /// Deletes an objective by name; `false` when there was none.
    fn delete_slo(&self, name: &str) -> Result<bool>;
}

impl<D: Db> SloStore for D {
    fn create_slo(&self, name: &str, spec: &serde_json::Value, now_ms: i64) -> Result<StoredSlo> {
        let text = spec.to_string();
        self.transaction(|c| {
            let taken = c
                .row(
                    sql!("SELECT id FROM slos WHERE name = ?1"),
                    params![name],
                    |r| r.get::<i64>(0),
                )?
                .is_some();
            if taken {
                return Err(StoreError::Conflict(format!(
                    "an SLO named \"{name}\" exists already"
                )));
            }
            let id: i64 = c.value(
                sql!(
                    "INSERT INTO slos (name, spec, created_ms, updated_ms)
                     VALUES (?1, ?2, ?3, ?3) RETURNING id"
                ),
                params![name, text, now_ms],
            )?;
            Ok(StoredSlo {
                id,
                name: name.to_string(),
                spec: spec.clone(),
                created_ms: now_ms,
            })
        })
    }

    fn list_slos(&self) -> Result<Vec<StoredSlo>> {
        self.read(|c| {
            c.rows(
                sql!("SELECT id, name, spec, created_ms FROM slos ORDER BY name"),
                &[],
                |r| {
                    Ok(StoredSlo {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        spec: r.get(2)?,
                        created_ms: r.get(3)?,
                    })
                },
            )
        })
    }

    fn delete_slo(&self, name: &str) -> Result<bool> {
        self.write(|c| {
            c.exec(sql!("DELETE FROM slos WHERE name = ?1"), params![name])
                .map(|n| n > 0)
        })
    }
}
