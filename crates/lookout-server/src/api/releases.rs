//! Releases of a project, with their commits and uploaded artifact bundles (as
//! `sentry-cli` and `lookout deploy` record them).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::{blocking, find_project};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::time_fmt::iso;

/// A release.
#[derive(Serialize, ToSchema)]
pub struct Release {
    /// The version the SDKs send as `release`.
    version: String,
    /// RFC 3339: when lookout first heard of it.
    created: String,
    /// RFC 3339: when it was finalized, if it was.
    released: Option<String>,
    /// VCS ref, if given.
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    /// How many commits it has.
    commit_count: i64,
}

impl Release {
    fn of(r: &lookout_store::Release) -> Self {
        Release {
            version: r.version.clone(),
            created: iso(r.created_ms),
            released: r.released_ms.map(iso),
            git_ref: r.git_ref.clone(),
            commit_count: r.commit_count,
        }
    }
}

/// A commit of a release.
#[derive(Serialize, ToSchema)]
pub struct Commit {
    /// Commit id.
    sha: String,
    /// Repository name.
    repository: Option<String>,
    /// Author.
    author_name: Option<String>,
    /// Author's email.
    author_email: Option<String>,
    /// Message.
    message: Option<String>,
}

/// An uploaded artifact bundle.
#[derive(Serialize, ToSchema)]
pub struct Bundle {
    /// SHA-1 of the bundle.
    checksum: String,
    /// The release it is bound to, if any.
    release: Option<String>,
    /// Bytes.
    size: i64,
    /// Files in it.
    file_count: i64,
    /// RFC 3339.
    uploaded: String,
}

/// A commit range of one repository (`sentry-cli releases set-commits --commit
/// repo@from..to`).
#[derive(Serialize, ToSchema)]
pub struct Ref {
    /// Repository name.
    repository: String,
    /// The release's head commit.
    commit: String,
    /// The commit before the range, if a range was given.
    previous_commit: Option<String>,
}

/// One release with its commits.
#[derive(Serialize, ToSchema)]
pub struct ReleaseDetail {
    /// The release.
    #[serde(flatten)]
    release: Release,
    /// Its commits, newest first.
    commits: Vec<Commit>,
    /// Its commit ranges, by repository.
    refs: Vec<Ref>,
}

/// A project's releases, newest first.
#[utoipa::path(get, operation_id = "releases_list", path = "/api/v1/projects/{project}/releases", tag = "releases",
    params(("project" = String, Path, description = "Project slug or id")),
    responses(
        (status = 200, description = "OK", body = Vec<Release>),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<AppState>>,
    Path(project): Path<String>,
) -> Result<Json<Vec<Release>>, ApiError> {
    let p = find_project(&app, project).await?;
    let list = blocking(&app, move |s| s.list_releases(p.id, 1000)).await?;
    Ok(Json(list.iter().map(Release::of).collect()))
}

/// One release with its commits.
#[utoipa::path(get, operation_id = "releases_get", path = "/api/v1/projects/{project}/releases/{version}", tag = "releases",
    params(
        ("project" = String, Path, description = "Project slug or id"),
        ("version" = String, Path, description = "Release version"),
    ),
    responses(
        (status = 200, description = "OK", body = ReleaseDetail),
        (status = 404, description = "No such project or release", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<AppState>>,
    Path((project, version)): Path<(String, String)>,
) -> Result<Json<ReleaseDetail>, ApiError> {
    let p = find_project(&app, project).await?;
    let v = version.clone();
    let found = blocking(&app, move |s| {
        let Some(r) = s.get_release(p.id, &v)? else {
            return Ok(None);
        };
        let commits = s.release_commits(r.id)?;
        let refs = s.release_refs(r.id)?;
        Ok(Some((r, commits, refs)))
    })
    .await?;
    let (r, commits, refs) =
        found.ok_or_else(|| ApiError::not_found(format!("no release `{version}`")))?;
    Ok(Json(ReleaseDetail {
        release: Release::of(&r),
        commits: commits
            .into_iter()
            .map(|c| Commit {
                sha: c.sha,
                repository: c.repository,
                author_name: c.author_name,
                author_email: c.author_email,
                message: c.message,
            })
            .collect(),
        refs: refs
            .into_iter()
            .map(|r| Ref {
                repository: r.repository,
                commit: r.commit,
                previous_commit: r.previous_commit,
            })
            .collect(),
    }))
}

/// A project's uploaded artifact bundles (source maps), newest first.
#[utoipa::path(get, operation_id = "bundles_list", path = "/api/v1/projects/{project}/artifact-bundles", tag = "releases",
    params(("project" = String, Path, description = "Project slug or id")),
    responses(
        (status = 200, description = "OK", body = Vec<Bundle>),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn bundles(
    State(app): State<Arc<AppState>>,
    Path(project): Path<String>,
) -> Result<Json<Vec<Bundle>>, ApiError> {
    let p = find_project(&app, project).await?;
    let list = blocking(&app, move |s| s.list_bundles(p.id)).await?;
    Ok(Json(
        list.into_iter()
            .map(|b| Bundle {
                checksum: b.checksum,
                release: b.release,
                size: b.size,
                file_count: b.file_count,
                uploaded: iso(b.created_ms),
            })
            .collect(),
    ))
}
