//! Public status pages: which monitors each shows, in groups; and what is published about
//! incidents (public notes, apart from the timeline's internal notes) for them.

use std::collections::BTreeMap;

use crate::alerts::{incident_cols, incident_from_row};
use crate::model::*;
use crate::sql::{params, sql, Conn, Row};
use crate::{Db, Result, StoreError};

/// Status pages and public notes.
pub trait StatusPageStore: Send + Sync + 'static {
    /// Creates a page; `Conflict` on a slug or domain in use.
    fn create_status_page(&self, new: &NewStatusPage) -> Result<StatusPage>;
    /// Creates the page, or replaces the one with the same slug (config-declared pages are
    /// authoritative); `Conflict` on a domain another page has.
    fn upsert_status_page(&self, new: &NewStatusPage) -> Result<StatusPage>;
    /// Replaces the page named `slug` (its slug too); `None` if there is none; `Conflict`
    /// on a slug or domain another page has.
    fn update_status_page(&self, slug: &str, new: &NewStatusPage) -> Result<Option<StatusPage>>;
    /// Deletes a page; `false` if unknown.
    fn delete_status_page(&self, slug: &str) -> Result<bool>;
    /// Deletes the config-declared pages whose slug is not in `keep`; returns how many.
    fn prune_config_status_pages(&self, keep: &[String]) -> Result<u64>;
    /// Every page, by slug.
    fn list_status_pages(&self) -> Result<Vec<StatusPage>>;
    /// One page by slug.
    fn get_status_page(&self, slug: &str) -> Result<Option<StatusPage>>;

    /// Adds a public note to an incident; `None` if the incident does not exist.
    fn add_public_note(
        &self,
        incident_id: i64,
        at_ms: i64,
        text: &str,
        author: Option<&str>,
    ) -> Result<Option<PublicNote>>;
    /// The public notes of these incidents, oldest first.
    fn public_notes(&self, incident_ids: &[i64]) -> Result<Vec<PublicNote>>;
    /// Incidents about these monitors that are open or resolved at or after `since_ms`,
    /// newest first, at most `limit`.
    fn monitor_incidents(
        &self,
        monitor_ids: &[i64],
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<IncidentRow>>;
}

macro_rules! page_cols {
    () => {
        "id, slug, title, domain, source, created_ms, updated_ms"
    };
}

fn page_from_row(r: &dyn Row) -> Result<StatusPage> {
    let source: String = r.get(4)?;
    Ok(StatusPage {
        id: r.get(0)?,
        slug: r.get(1)?,
        title: r.get(2)?,
        domain: r.get(3)?,
        source: StatusPageSource::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("status page source {source:?}")))?,
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
        groups: Vec::new(),
    })
}

fn note_from_row(r: &dyn Row) -> Result<PublicNote> {
    Ok(PublicNote {
        id: r.get(0)?,
        incident_id: r.get(1)?,
        at_ms: r.get(2)?,
        text: r.get(3)?,
        author: r.get(4)?,
    })
}

/// Says which of slug or domain clashed, in words an API answer can carry.
fn page_conflict(e: StoreError, new: &NewStatusPage) -> StoreError {
    match e.unique_violation() {
        Some(v) if v.contains("domain") => StoreError::Conflict(format!(
            "domain `{}` is already another status page's",
            new.domain.as_deref().unwrap_or_default()
        )),
        Some(_) => StoreError::Conflict(format!(
            "a status page with slug `{}` already exists",
            new.slug
        )),
        None => e,
    }
}

/// Fills in the groups of `pages` from their monitor rows; monitors deleted since are
/// already gone from those rows.
fn load_groups(c: &mut dyn Conn, pages: &mut [StatusPage]) -> Result<()> {
    let ids: Vec<i64> = pages.iter().map(|p| p.id).collect();
    let rows: Vec<(i64, i64, String, i64)> = c.rows(
        sql!(
            "SELECT page_id, group_pos, group_name, monitor_id FROM status_page_monitors
             WHERE page_id = ANY(?1) ORDER BY page_id, group_pos, pos"
        ),
        params![ids],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let mut by_page: BTreeMap<i64, Vec<(i64, StatusPageGroup)>> = BTreeMap::new();
    for (page, pos, name, monitor) in rows {
        let groups = by_page.entry(page).or_default();
        match groups.last_mut() {
            Some((p, g)) if *p == pos => g.monitor_ids.push(monitor),
            _ => groups.push((
                pos,
                StatusPageGroup {
                    name,
                    monitor_ids: vec![monitor],
                },
            )),
        }
    }
    for p in pages {
        p.groups = by_page
            .remove(&p.id)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, g)| g)
            .collect();
    }
    Ok(())
}

/// Replaces a page's monitor rows with `groups`.
fn write_groups(c: &mut dyn Conn, page_id: i64, groups: &[StatusPageGroup]) -> Result<()> {
    c.exec(
        sql!("DELETE FROM status_page_monitors WHERE page_id = ?1"),
        params![page_id],
    )?;
    for (gi, g) in groups.iter().enumerate() {
        for (mi, m) in g.monitor_ids.iter().enumerate() {
            let (group_pos, pos) = (gi as i64, mi as i64);
            c.exec(
                sql!(
                    "INSERT INTO status_page_monitors (page_id, group_pos, group_name, pos,
                         monitor_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)"
                ),
                params![page_id, group_pos, g.name, pos, *m],
            )?;
        }
    }
    Ok(())
}

fn page_by_slug(c: &mut dyn Conn, slug: &str) -> Result<Option<StatusPage>> {
    let page = c.row(
        sql!(concat!(
            "SELECT ",
            page_cols!(),
            " FROM status_pages WHERE slug = ?1"
        )),
        params![slug],
        page_from_row,
    )?;
    let mut pages: Vec<StatusPage> = page.into_iter().collect();
    load_groups(c, &mut pages)?;
    Ok(pages.pop())
}

fn saved(c: &mut dyn Conn, row: Option<StatusPage>, new: &NewStatusPage) -> Result<StatusPage> {
    let page =
        row.ok_or_else(|| StoreError::Corrupt(format!("status page {:?} not returned", new.slug)))?;
    write_groups(c, page.id, &new.groups)?;
    Ok(StatusPage {
        groups: new.groups.clone(),
        ..page
    })
}

impl<D: Db> StatusPageStore for D {
    fn create_status_page(&self, new: &NewStatusPage) -> Result<StatusPage> {
        self.transaction(|c| {
            let row = c
                .row(
                    sql!(concat!(
                        "INSERT INTO status_pages (slug, title, domain, source, created_ms,
                             updated_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING ",
                        page_cols!()
                    )),
                    params![
                        new.slug,
                        new.title,
                        new.domain,
                        new.source.as_str(),
                        new.now_ms
                    ],
                    page_from_row,
                )
                .map_err(|e| page_conflict(e, new))?;
            saved(c, row, new)
        })
    }

    fn upsert_status_page(&self, new: &NewStatusPage) -> Result<StatusPage> {
        self.transaction(|c| {
            let row = c
                .row(
                    sql!(concat!(
                        "INSERT INTO status_pages (slug, title, domain, source, created_ms,
                             updated_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                         ON CONFLICT (slug) DO UPDATE SET
                             title = excluded.title, domain = excluded.domain,
                             source = excluded.source, updated_ms = excluded.updated_ms
                         RETURNING ",
                        page_cols!()
                    )),
                    params![
                        new.slug,
                        new.title,
                        new.domain,
                        new.source.as_str(),
                        new.now_ms
                    ],
                    page_from_row,
                )
                .map_err(|e| page_conflict(e, new))?;
            saved(c, row, new)
        })
    }

    fn update_status_page(&self, slug: &str, new: &NewStatusPage) -> Result<Option<StatusPage>> {
        self.transaction(|c| {
            let row = c
                .row(
                    sql!(concat!(
                        "UPDATE status_pages SET slug = ?2, title = ?3, domain = ?4,
                             source = ?5, updated_ms = ?6
                         WHERE slug = ?1 RETURNING ",
                        page_cols!()
                    )),
                    params![
                        slug,
                        new.slug,
                        new.title,
                        new.domain,
                        new.source.as_str(),
                        new.now_ms
                    ],
                    page_from_row,
                )
                .map_err(|e| page_conflict(e, new))?;
            match row {
                None => Ok(None),
                row => saved(c, row, new).map(Some),
            }
        })
    }

    fn delete_status_page(&self, slug: &str) -> Result<bool> {
        self.transaction(|c| {
            let id: Option<i64> = c.row(
                sql!("SELECT id FROM status_pages WHERE slug = ?1"),
                params![slug],
                |r| r.get(0),
            )?;
            let Some(id) = id else { return Ok(false) };
            c.exec(
                sql!("DELETE FROM status_page_monitors WHERE page_id = ?1"),
                params![id],
            )?;
            c.exec(sql!("DELETE FROM status_pages WHERE id = ?1"), params![id])?;
            Ok(true)
        })
    }

    fn prune_config_status_pages(&self, keep: &[String]) -> Result<u64> {
        self.transaction(|c| {
            let gone: Vec<i64> = c.rows(
                sql!("SELECT id FROM status_pages WHERE source = 'config' AND slug <> ALL(?1)"),
                params![keep],
                |r| r.get(0),
            )?;
            for id in &gone {
                c.exec(
                    sql!("DELETE FROM status_page_monitors WHERE page_id = ?1"),
                    params![*id],
                )?;
                c.exec(sql!("DELETE FROM status_pages WHERE id = ?1"), params![*id])?;
            }
            Ok(gone.len() as u64)
        })
    }

    fn list_status_pages(&self) -> Result<Vec<StatusPage>> {
        self.snapshot(|c| {
            let mut pages = c.rows(
                sql!(concat!(
                    "SELECT ",
                    page_cols!(),
                    " FROM status_pages ORDER BY slug"
                )),
                &[],
                page_from_row,
            )?;
            load_groups(c, &mut pages)?;
            Ok(pages)
        })
    }

    fn get_status_page(&self, slug: &str) -> Result<Option<StatusPage>> {
        self.snapshot(|c| page_by_slug(c, slug))
    }

    fn add_public_note(
        &self,
        incident_id: i64,
        at_ms: i64,
        text: &str,
        author: Option<&str>,
    ) -> Result<Option<PublicNote>> {
        self.transaction(|c| {
            let known: Option<i64> = c.row(
                sql!("SELECT id FROM incidents WHERE id = ?1"),
                params![incident_id],
                |r| r.get(0),
            )?;
            if known.is_none() {
                return Ok(None);
            }
            c.row(
                sql!(
                    "INSERT INTO incident_public_notes (incident_id, at_ms, text, author)
                     VALUES (?1, ?2, ?3, ?4)
                     RETURNING id, incident_id, at_ms, text, author"
                ),
                params![incident_id, at_ms, text, author],
                note_from_row,
            )
        })
    }

    fn public_notes(&self, incident_ids: &[i64]) -> Result<Vec<PublicNote>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT id, incident_id, at_ms, text, author FROM incident_public_notes
                     WHERE incident_id = ANY(?1) ORDER BY id"
                ),
                params![incident_ids],
                note_from_row,
            )
        })
    }

    fn monitor_incidents(
        &self,
        monitor_ids: &[i64],
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<IncidentRow>> {
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    incident_cols!(),
                    " FROM incidents
                     WHERE subject_kind = 'monitor' AND subject_id = ANY(?1)
                         AND (status <> 'resolved' OR resolved_ms >= ?2)
                     ORDER BY id DESC LIMIT ?3"
                )),
                params![monitor_ids, since_ms, i64::from(limit)],
                incident_from_row,
            )
        })
    }
}
