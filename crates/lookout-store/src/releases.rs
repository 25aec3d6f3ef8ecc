//! Releases with their commits, and the artifact bundles (minified sources and source maps)
//! that `sentry-cli sourcemaps upload` sends, with the chunks they arrive in.

use crate::sql::{params, sql, Conn, Param, Row};
use crate::{Db, Result};

/// A release of a project.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Release {
    /// Row id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// The version string the SDKs send as `release`.
    pub version: String,
    /// A VCS ref, when given.
    pub git_ref: Option<String>,
    /// A URL, when given.
    pub url: Option<String>,
    /// When lookout first heard of it, Unix ms.
    pub created_ms: i64,
    /// When its build started, if said.
    pub started_ms: Option<i64>,
    /// When it was finalized (released), if it was.
    pub released_ms: Option<i64>,
    /// How many commits it has.
    pub commit_count: i64,
}

/// A commit of a release.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Commit {
    /// The commit id (SHA).
    pub sha: String,
    /// The repository's name, if given.
    pub repository: Option<String>,
    /// Author's name.
    pub author_name: Option<String>,
    /// Author's email.
    pub author_email: Option<String>,
    /// The message.
    pub message: Option<String>,
    /// Commit time, Unix ms.
    pub timestamp_ms: Option<i64>,
}

/// A commit range of one repository, as `set-commits --commit repo@from..to` names it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReleaseRef {
    /// The repository, as named on the command line (`owner/name`).
    pub repository: String,
    /// The release's head commit in it.
    pub commit: String,
    /// The commit before the range, when a range was given.
    pub previous_commit: Option<String>,
}

/// What an update of a release changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ReleaseUpdate {
    /// A VCS ref.
    pub git_ref: Option<String>,
    /// A URL.
    pub url: Option<String>,
    /// Build start.
    pub started_ms: Option<i64>,
    /// Finalized at.
    pub released_ms: Option<i64>,
    /// The commits, replacing those stored.
    pub commits: Option<Vec<Commit>>,
    /// The commit ranges per repository, replacing those stored.
    pub refs: Option<Vec<ReleaseRef>>,
}

/// A file inside an artifact bundle, as its manifest describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactFile {
    /// The bundle it is in.
    pub bundle_id: i64,
    /// Its project.
    pub project_id: i64,
    /// Its path inside the bundle's zip.
    pub path: String,
    /// The URL it is served at, as `~/path` or a full URL.
    pub url: String,
    /// `minified_source`, `source_map`, `source`, …
    pub kind: String,
    /// Its debug id, when it has one.
    pub debug_id: Option<String>,
    /// The release it was uploaded for, if any.
    pub release: Option<String>,
    /// For a minified source: the `sourcemap` reference in its headers.
    pub sourcemap: Option<String>,
}

/// A bundle to store.
#[derive(Debug, Clone)]
pub struct NewBundle {
    /// Its project.
    pub project_id: i64,
    /// SHA-1 of the whole zip, hex.
    pub checksum: String,
    /// The release it is bound to, if any.
    pub release: Option<String>,
    /// The distribution, if any.
    pub dist: Option<String>,
    /// The zip.
    pub data: Vec<u8>,
    /// The files its manifest lists (their `bundle_id` is ignored).
    pub files: Vec<ArtifactFile>,
    /// Upload time, Unix ms.
    pub now_ms: i64,
}

/// Which events a bundle's regroup job looks at (see [`crate::RegroupStore`]).
#[derive(Debug, Clone, Copy)]
pub struct RegroupWindow {
    /// Events received before this are left as they are.
    pub since_ms: i64,
    /// At most this many events are looked at.
    pub max_events: u64,
}

/// A bundle [`ReleaseStore::save_bundles`] stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedBundle {
    /// The bundle.
    pub info: BundleInfo,
    /// The project's bundles removed to stay within its limit.
    pub removed: Vec<i64>,
    /// The regroup job recorded for it.
    pub regroup_job: i64,
}

/// A stored bundle, without its bytes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BundleInfo {
    /// Row id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// SHA-1 of the zip.
    pub checksum: String,
    /// Bound release.
    pub release: Option<String>,
    /// Bytes.
    pub size: i64,
    /// Files in it.
    pub file_count: i64,
    /// Upload time.
    pub created_ms: i64,
}

/// Releases, their commits, artifact bundles and upload chunks.
pub trait ReleaseStore: Send + Sync + 'static {
    /// Creates the release if the project has none of this version; returns it either way.
    fn ensure_release(
        &self,
        project_id: i64,
        version: &str,
        started_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<Release>;
    /// Applies `update` to a release; `None` if it does not exist.
    fn update_release(
        &self,
        project_id: i64,
        version: &str,
        update: &ReleaseUpdate,
    ) -> Result<Option<Release>>;
    /// One release.
    fn get_release(&self, project_id: i64, version: &str) -> Result<Option<Release>>;
    /// A project's releases, newest first.
    fn list_releases(&self, project_id: i64, limit: u32) -> Result<Vec<Release>>;
    /// A release's commits, in the order they were given (newest first, as git lists them).
    fn release_commits(&self, release_id: i64) -> Result<Vec<Commit>>;
    /// A release's commit ranges, by repository name.
    fn release_refs(&self, release_id: i64) -> Result<Vec<ReleaseRef>>;

    /// Stores upload chunks by checksum (a chunk already stored is kept as it is).
    fn put_chunks(&self, chunks: &[(String, Vec<u8>)], now_ms: i64) -> Result<()>;
    /// Which of `checksums` are not stored.
    fn missing_chunks(&self, checksums: &[String]) -> Result<Vec<String>>;
    /// The chunks named, in the order given; `None` for one that is missing.
    fn get_chunks(&self, checksums: &[String]) -> Result<Vec<Option<Vec<u8>>>>;
    /// Removes the chunks named (of an upload that was refused).
    fn delete_chunks(&self, checksums: &[String]) -> Result<u64>;
    /// Removes chunks stored before `before_ms` (uploads that were never assembled).
    fn prune_chunks(&self, before_ms: i64) -> Result<u64>;

    /// The bundle with this checksum in this project, if already stored.
    fn find_bundle(&self, project_id: i64, checksum: &str) -> Result<Option<BundleInfo>>;
    /// Stores one upload's bundle for each of its projects, all or none, in one
    /// transaction: each bundle with its file index (the project's oldest bundles beyond
    /// `max_bundles` removed), its release created when it names one, and a regroup job
    /// over `regroup`; then the chunks it was assembled from are removed. A bundle for a
    /// project that does not exist (deleted meanwhile) fails the whole upload with
    /// [`crate::StoreError::Invalid`].
    fn save_bundles(
        &self,
        bundles: &[NewBundle],
        chunks: &[String],
        max_bundles: u32,
        regroup: RegroupWindow,
    ) -> Result<Vec<SavedBundle>>;
    /// The ids of every stored bundle, ascending: cheap enough to poll, so an instance
    /// sees bundles stored or removed through another.
    fn bundle_ids(&self) -> Result<Vec<i64>>;
    /// Every file of every stored bundle (to build the in-memory index at start).
    fn artifact_files(&self) -> Result<Vec<ArtifactFile>>;
    /// A bundle's zip.
    fn bundle_data(&self, bundle_id: i64) -> Result<Option<Vec<u8>>>;
    /// A project's bundles, newest first.
    fn list_bundles(&self, project_id: i64) -> Result<Vec<BundleInfo>>;
    /// Removes bundles uploaded before `before_ms` that are bound to a release other than
    /// the project's newest `keep_releases` releases (bundles without a release are judged
    /// by age alone). Returns the ids removed.
    fn prune_bundles(&self, before_ms: i64, keep_releases: u32) -> Result<Vec<i64>>;
}

macro_rules! release_cols {
    () => {
        "r.id, r.project_id, r.version, r.ref, r.url, r.created_ms, r.started_ms, r.released_ms,
         (SELECT COUNT(*) FROM release_commits c WHERE c.release_id = r.id)"
    };
}

fn release_from_row(row: &dyn Row) -> Result<Release> {
    Ok(Release {
        id: row.get(0)?,
        project_id: row.get(1)?,
        version: row.get(2)?,
        git_ref: row.get(3)?,
        url: row.get(4)?,
        created_ms: row.get(5)?,
        started_ms: row.get(6)?,
        released_ms: row.get(7)?,
        commit_count: row.get(8)?,
    })
}

macro_rules! bundle_cols {
    () => {
        "id, project_id, checksum, release, size, file_count, created_ms"
    };
}

fn bundle_from_row(row: &dyn Row) -> Result<BundleInfo> {
    Ok(BundleInfo {
        id: row.get(0)?,
        project_id: row.get(1)?,
        checksum: row.get(2)?,
        release: row.get(3)?,
        size: row.get(4)?,
        file_count: row.get(5)?,
        created_ms: row.get(6)?,
    })
}

fn file_from_row(row: &dyn Row) -> Result<ArtifactFile> {
    Ok(ArtifactFile {
        bundle_id: row.get(0)?,
        project_id: row.get(1)?,
        path: row.get(2)?,
        url: row.get(3)?,
        kind: row.get(4)?,
        debug_id: row.get(5)?,
        release: row.get(6)?,
        sourcemap: row.get(7)?,
    })
}

fn release_by_version(c: &mut dyn Conn, project_id: i64, version: &str) -> Result<Option<Release>> {
    c.row(
        sql!(concat!(
            "SELECT ",
            release_cols!(),
            " FROM releases r WHERE r.project_id = ?1 AND r.version = ?2"
        )),
        params![project_id, version],
        release_from_row,
    )
}

fn delete_bundles(c: &mut dyn Conn, ids: &[i64]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    c.exec(
        sql!("DELETE FROM artifact_files WHERE bundle_id = ANY(?1)"),
        &[Param::Ints(ids)],
    )?;
    c.exec(
        sql!("DELETE FROM artifact_bundles WHERE id = ANY(?1)"),
        &[Param::Ints(ids)],
    )?;
    Ok(())
}

fn delete_chunks_in(c: &mut dyn Conn, chunks: &[String]) -> Result<()> {
    if !chunks.is_empty() {
        c.exec(
            sql!("DELETE FROM upload_chunks WHERE checksum = ANY(?1)"),
            &[Param::Texts(chunks)],
        )?;
    }
    Ok(())
}

/// Stores one bundle and its file index, then removes the project's oldest bundles beyond
/// `max_bundles`; returns it and the ids removed.
fn insert_bundle(
    c: &mut dyn Conn,
    bundle: &NewBundle,
    max_bundles: u32,
) -> Result<(BundleInfo, Vec<i64>)> {
    let info = c
        .row(
            sql!(concat!(
                "INSERT INTO artifact_bundles (project_id, checksum, release, dist, size,
                 file_count, created_ms, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (project_id, checksum) DO UPDATE SET created_ms = ?7
                 RETURNING ",
                bundle_cols!()
            )),
            &[
                Param::Int(bundle.project_id),
                Param::Text(&bundle.checksum),
                bundle.release.as_deref().map_or(Param::Null, Param::Text),
                bundle.dist.as_deref().map_or(Param::Null, Param::Text),
                Param::Int(bundle.data.len() as i64),
                Param::Int(bundle.files.len() as i64),
                Param::Int(bundle.now_ms),
                Param::Bytes(&bundle.data),
            ],
            bundle_from_row,
        )?
        .ok_or_else(|| crate::StoreError::Corrupt("no bundle row returned".into()))?;
    c.exec(
        sql!("DELETE FROM artifact_files WHERE bundle_id = ?1"),
        params![info.id],
    )?;
    for f in &bundle.files {
        c.exec(
            sql!(
                "INSERT INTO artifact_files (bundle_id, project_id, path, url, kind,
                 debug_id, release, sourcemap) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (bundle_id, path) DO NOTHING"
            ),
            params![
                info.id,
                bundle.project_id,
                f.path,
                f.url,
                f.kind,
                f.debug_id,
                bundle.release,
                f.sourcemap
            ],
        )?;
    }
    let newest_first: Vec<i64> = c.rows(
        sql!(
            "SELECT id FROM artifact_bundles WHERE project_id = ?1
             ORDER BY created_ms DESC, id DESC"
        ),
        params![bundle.project_id],
        |r| r.get(0),
    )?;
    let keep = (max_bundles.max(1) as usize).min(newest_first.len());
    let removed = newest_first[keep..].to_vec();
    delete_bundles(c, &removed)?;
    Ok((info, removed))
}

impl<D: Db> ReleaseStore for D {
    fn ensure_release(
        &self,
        project_id: i64,
        version: &str,
        started_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<Release> {
        self.transaction(|c| {
            c.exec(
                sql!(
                    "INSERT INTO releases (project_id, version, created_ms, started_ms)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (project_id, version) DO NOTHING"
                ),
                params![project_id, version, now_ms, started_ms],
            )?;
            release_by_version(c, project_id, version)?.ok_or_else(|| {
                crate::StoreError::Corrupt(format!("release {version} vanished after insert"))
            })
        })
    }

    fn update_release(
        &self,
        project_id: i64,
        version: &str,
        update: &ReleaseUpdate,
    ) -> Result<Option<Release>> {
        self.transaction(|c| {
            let Some(release) = release_by_version(c, project_id, version)? else {
                return Ok(None);
            };
            c.exec(
                sql!(
                    "UPDATE releases SET ref = COALESCE(?2, ref), url = COALESCE(?3, url),
                     started_ms = COALESCE(?4, started_ms), released_ms = COALESCE(?5, released_ms)
                     WHERE id = ?1"
                ),
                params![
                    release.id,
                    update.git_ref,
                    update.url,
                    update.started_ms,
                    update.released_ms
                ],
            )?;
            if let Some(commits) = &update.commits {
                c.exec(
                    sql!("DELETE FROM release_commits WHERE release_id = ?1"),
                    params![release.id],
                )?;
                for (i, commit) in commits.iter().enumerate() {
                    c.exec(
                        sql!(
                            "INSERT INTO release_commits (release_id, position, sha, repository,
                             author_name, author_email, message, timestamp_ms)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                             ON CONFLICT (release_id, sha) DO NOTHING"
                        ),
                        params![
                            release.id,
                            i as i64,
                            commit.sha,
                            commit.repository,
                            commit.author_name,
                            commit.author_email,
                            commit.message,
                            commit.timestamp_ms
                        ],
                    )?;
                }
            }
            if let Some(refs) = &update.refs {
                c.exec(
                    sql!("DELETE FROM release_refs WHERE release_id = ?1"),
                    params![release.id],
                )?;
                for r in refs {
                    c.exec(
                        sql!(
                            "INSERT INTO release_refs (release_id, repository, head_commit,
                             previous_commit) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (release_id, repository) DO UPDATE SET
                                 head_commit = excluded.head_commit,
                                 previous_commit = excluded.previous_commit"
                        ),
                        params![release.id, r.repository, r.commit, r.previous_commit],
                    )?;
                }
            }
            release_by_version(c, project_id, version)
        })
    }

    fn get_release(&self, project_id: i64, version: &str) -> Result<Option<Release>> {
        self.read(|c| release_by_version(c, project_id, version))
    }

    fn list_releases(&self, project_id: i64, limit: u32) -> Result<Vec<Release>> {
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    release_cols!(),
                    " FROM releases r WHERE r.project_id = ?1
                      ORDER BY r.created_ms DESC, r.id DESC LIMIT ?2"
                )),
                params![project_id, i64::from(limit)],
                release_from_row,
            )
        })
    }

    fn release_commits(&self, release_id: i64) -> Result<Vec<Commit>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT sha, repository, author_name, author_email, message, timestamp_ms
                     FROM release_commits WHERE release_id = ?1 ORDER BY position"
                ),
                params![release_id],
                |r| {
                    Ok(Commit {
                        sha: r.get(0)?,
                        repository: r.get(1)?,
                        author_name: r.get(2)?,
                        author_email: r.get(3)?,
                        message: r.get(4)?,
                        timestamp_ms: r.get(5)?,
                    })
                },
            )
        })
    }

    fn release_refs(&self, release_id: i64) -> Result<Vec<ReleaseRef>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT repository, head_commit, previous_commit FROM release_refs
                     WHERE release_id = ?1 ORDER BY repository"
                ),
                params![release_id],
                |r| {
                    Ok(ReleaseRef {
                        repository: r.get(0)?,
                        commit: r.get(1)?,
                        previous_commit: r.get(2)?,
                    })
                },
            )
        })
    }

    fn put_chunks(&self, chunks: &[(String, Vec<u8>)], now_ms: i64) -> Result<()> {
        self.transaction(|c| {
            for (checksum, data) in chunks {
                c.exec(
                    sql!(
                        "INSERT INTO upload_chunks (checksum, data, created_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT (checksum) DO NOTHING"
                    ),
                    &[
                        Param::Text(checksum),
                        Param::Bytes(data),
                        Param::Int(now_ms),
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn missing_chunks(&self, checksums: &[String]) -> Result<Vec<String>> {
        let present: Vec<String> = self.read(|c| {
            c.rows(
                sql!("SELECT checksum FROM upload_chunks WHERE checksum = ANY(?1)"),
                &[Param::Texts(checksums)],
                |r| r.get(0),
            )
        })?;
        Ok(checksums
            .iter()
            .filter(|c| !present.contains(c))
            .cloned()
            .collect())
    }

    fn get_chunks(&self, checksums: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.read(|c| {
            checksums
                .iter()
                .map(|sum| {
                    c.row(
                        sql!("SELECT data FROM upload_chunks WHERE checksum = ?1"),
                        params![sum],
                        |r| r.get::<Vec<u8>>(0),
                    )
                })
                .collect()
        })
    }

    fn delete_chunks(&self, checksums: &[String]) -> Result<u64> {
        self.write(|c| {
            c.exec(
                sql!("DELETE FROM upload_chunks WHERE checksum = ANY(?1)"),
                &[Param::Texts(checksums)],
            )
        })
    }

    fn prune_chunks(&self, before_ms: i64) -> Result<u64> {
        self.write(|c| {
            c.exec(
                sql!("DELETE FROM upload_chunks WHERE created_ms < ?1"),
                params![before_ms],
            )
        })
    }

    fn find_bundle(&self, project_id: i64, checksum: &str) -> Result<Option<BundleInfo>> {
        self.read(|c| {
            c.row(
                sql!(concat!(
                    "SELECT ",
                    bundle_cols!(),
                    " FROM artifact_bundles WHERE project_id = ?1 AND checksum = ?2"
                )),
                params![project_id, checksum],
                bundle_from_row,
            )
        })
    }

    fn save_bundles(
        &self,
        bundles: &[NewBundle],
        chunks: &[String],
        max_bundles: u32,
        regroup: RegroupWindow,
    ) -> Result<Vec<SavedBundle>> {
        self.transaction(|c| {
            let mut out = Vec::with_capacity(bundles.len());
            for b in bundles {
                let exists: Option<i64> = c.row(
                    sql!("SELECT id FROM projects WHERE id = ?1"),
                    params![b.project_id],
                    |r| r.get(0),
                )?;
                if exists.is_none() {
                    return Err(crate::StoreError::Invalid(format!(
                        "no project with id {}: nothing of the upload was stored",
                        b.project_id
                    )));
                }
                let (info, removed) = insert_bundle(c, b, max_bundles)?;
                if let Some(v) = &b.release {
                    c.exec(
                        sql!(
                            "INSERT INTO releases (project_id, version, created_ms)
                             VALUES (?1, ?2, ?3)
                             ON CONFLICT (project_id, version) DO NOTHING"
                        ),
                        params![b.project_id, v, b.now_ms],
                    )?;
                }
                let regroup_job = c.value(
                    sql!(
                        "INSERT INTO regroup_jobs (project_id, bundle_id, release, since_ms,
                         max_events, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id"
                    ),
                    params![
                        b.project_id,
                        info.id,
                        b.release,
                        regroup.since_ms,
                        crate::batch::to_i64(regroup.max_events),
                        b.now_ms
                    ],
                )?;
                out.push(SavedBundle {
                    info,
                    removed,
                    regroup_job,
                });
            }
            delete_chunks_in(c, chunks)?;
            Ok(out)
        })
    }

    fn bundle_ids(&self) -> Result<Vec<i64>> {
        self.read(|c| {
            c.rows(
                sql!("SELECT id FROM artifact_bundles ORDER BY id"),
                &[],
                |r| r.get(0),
            )
        })
    }

    fn artifact_files(&self) -> Result<Vec<ArtifactFile>> {
        self.read(|c| {
            c.rows(
                sql!(
                    "SELECT bundle_id, project_id, path, url, kind, debug_id, release, sourcemap
                     FROM artifact_files ORDER BY bundle_id"
                ),
                &[],
                file_from_row,
            )
        })
    }

    fn bundle_data(&self, bundle_id: i64) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            c.row(
                sql!("SELECT data FROM artifact_bundles WHERE id = ?1"),
                params![bundle_id],
                |r| r.get(0),
            )
        })
    }

    fn list_bundles(&self, project_id: i64) -> Result<Vec<BundleInfo>> {
        self.read(|c| {
            c.rows(
                sql!(concat!(
                    "SELECT ",
                    bundle_cols!(),
                    " FROM artifact_bundles WHERE project_id = ?1 ORDER BY created_ms DESC, id DESC"
                )),
                params![project_id],
                bundle_from_row,
            )
        })
    }

    fn prune_bundles(&self, before_ms: i64, keep_releases: u32) -> Result<Vec<i64>> {
        self.transaction(|c| {
            let ids: Vec<i64> = c.rows(
                sql!(
                    "SELECT b.id FROM artifact_bundles b
                     WHERE b.created_ms < ?1
                       AND (b.release IS NULL OR b.release NOT IN (
                           SELECT r.version FROM releases r WHERE r.project_id = b.project_id
                           ORDER BY r.created_ms DESC, r.id DESC LIMIT ?2))"
                ),
                params![before_ms, i64::from(keep_releases)],
                |r| r.get(0),
            )?;
            delete_bundles(c, &ids)?;
            Ok(ids)
        })
    }
}
