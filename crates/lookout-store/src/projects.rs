//! Projects and their settings, and the payload compression dictionaries trained per
//! project.

use crate::model::{dict_id, NewProject, PayloadDict, Project};
use crate::sql::{params, sql, Conn, Row};
use crate::{batch, Db, Result, StoreError};

/// Projects and what is kept per project besides its data.
pub trait ProjectStore: Send + Sync + 'static {
    /// Creates a project. `id` and `public_key` are taken from `new` when given (projects
    /// declared in the config), else assigned. Fails with `Conflict` on a duplicate slug,
    /// id or key.
    fn create_project(&self, new: &NewProject) -> Result<Project>;
    /// Creates the project if its id is unknown, else updates slug, name, key and settings
    /// to match (config-declared projects are authoritative).
    fn upsert_project(&self, new: &NewProject) -> Result<Project>;
    /// All projects, by id.
    fn list_projects(&self) -> Result<Vec<Project>>;
    /// One project by numeric id.
    fn get_project(&self, id: i64) -> Result<Option<Project>>;
    /// One project by slug.
    fn get_project_by_slug(&self, slug: &str) -> Result<Option<Project>>;

    /// Stores a compression dictionary of event payloads; `Conflict` on an id in use.
    fn save_payload_dict(&self, dict: &PayloadDict) -> Result<()>;
    /// Every stored dictionary, oldest first.
    fn payload_dicts(&self) -> Result<Vec<PayloadDict>>;
    /// How many dictionaries are stored: instances that do not train read them again
    /// only when this changes.
    fn payload_dict_count(&self) -> Result<u64>;
}

macro_rules! project_cols {
    () => {
        "id, slug, name, public_key, settings, created_ms"
    };
}

fn project_from_row(row: &dyn Row) -> Result<Project> {
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

fn settings_text(new: &NewProject) -> Result<String> {
    serde_json::to_string(&new.settings)
        .map_err(|e| StoreError::Corrupt(format!("project settings: {e}")))
}

fn project_by_id(c: &mut dyn Conn, id: i64) -> Result<Option<Project>> {
    c.row(
        sql!(concat!(
            "SELECT ",
            project_cols!(),
            " FROM projects WHERE id = ?1"
        )),
        params![id],
        project_from_row,
    )
}

impl<D: Db> ProjectStore for D {
    fn create_project(&self, new: &NewProject) -> Result<Project> {
        let settings = settings_text(new)?;
        let key = new.public_key.clone().unwrap_or_else(batch::new_public_key);
        self.transaction(|c| {
            let row = match new.id {
                Some(id) => {
                    let row = c
                        .row(
                            sql!(concat!(
                            "INSERT INTO projects (id, slug, name, public_key, settings, created_ms)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING ",
                            project_cols!()
                        )),
                            params![id, new.slug, new.name, key, settings, new.now_ms],
                            project_from_row,
                        )
                        .map_err(StoreError::into_conflict)?;
                    c.sync_id_sequence("projects")?;
                    row
                }
                None => c
                    .row(
                        sql!(concat!(
                            "INSERT INTO projects (slug, name, public_key, settings, created_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING ",
                            project_cols!()
                        )),
                        params![new.slug, new.name, key, settings, new.now_ms],
                        project_from_row,
                    )
                    .map_err(StoreError::into_conflict)?,
            };
            row.ok_or_else(|| StoreError::Corrupt(format!("project {:?} not returned", new.slug)))
        })
    }

    fn upsert_project(&self, new: &NewProject) -> Result<Project> {
        let Some(id) = new.id else {
            let existing = self.read(|c| {
                c.row(
                    sql!("SELECT id FROM projects WHERE slug = ?1"),
                    params![new.slug],
                    |r| r.get::<i64>(0),
                )
            })?;
            return match existing {
                Some(id) => self.upsert_project(&NewProject {
                    id: Some(id),
                    ..new.clone()
                }),
                None => self.create_project(new),
            };
        };
        let settings = settings_text(new)?;
        let key = new.public_key.clone().unwrap_or_else(batch::new_public_key);
        self.transaction(|c| {
            let row = c
                .row(
                    sql!(concat!(
                        "INSERT INTO projects (id, slug, name, public_key, settings, created_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (id) DO UPDATE SET
                             slug = excluded.slug,
                             name = excluded.name,
                             public_key = CASE WHEN ?7 THEN excluded.public_key
                                          ELSE projects.public_key END,
                             settings = excluded.settings
                         RETURNING ",
                        project_cols!()
                    )),
                    params![
                        id,
                        new.slug,
                        new.name,
                        key,
                        settings,
                        new.now_ms,
                        new.public_key.is_some()
                    ],
                    project_from_row,
                )
                .map_err(StoreError::into_conflict)?;
            c.sync_id_sequence("projects")?;
            row.ok_or_else(|| StoreError::Corrupt(format!("project {id} not returned")))
        })
    }

    fn list_projects(&self) -> Result<Vec<Project>> {
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    project_cols!(),
                    " FROM projects ORDER BY id"
                )),
                &[],
                project_from_row,
            )
        })
    }

    fn get_project(&self, id: i64) -> Result<Option<Project>> {
        self.read(|c| project_by_id(c, id))
    }

    fn get_project_by_slug(&self, slug: &str) -> Result<Option<Project>> {
        self.read(|c| {
            c.row(
                sql!(concat!(
                    "SELECT ",
                    project_cols!(),
                    " FROM projects WHERE slug = ?1"
                )),
                params![slug],
                project_from_row,
            )
        })
    }

    fn save_payload_dict(&self, d: &PayloadDict) -> Result<()> {
        self.write(|c| {
            c.exec(
                sql!(
                    "INSERT INTO payload_dicts (id, project_id, created_ms, samples, dict)
                     VALUES (?1, ?2, ?3, ?4, ?5)"
                ),
                params![d.id, d.project_id, d.created_ms, d.samples, d.dict],
            )
            .map_err(StoreError::into_conflict)
            .map(drop)
        })
    }

    fn payload_dicts(&self) -> Result<Vec<PayloadDict>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT id, project_id, created_ms, samples, dict FROM payload_dicts
                     ORDER BY created_ms, id"
                ),
                &[],
                |row| {
                    Ok(PayloadDict {
                        id: dict_id(row.get(0)?)?,
                        project_id: row.get(1)?,
                        created_ms: row.get(2)?,
                        samples: row.get(3)?,
                        dict: row.get(4)?,
                    })
                },
            )
        })
    }

    fn payload_dict_count(&self) -> Result<u64> {
        let n: i64 = self.read(|c| c.value(sql!("SELECT COUNT(*) FROM payload_dicts"), &[]))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
