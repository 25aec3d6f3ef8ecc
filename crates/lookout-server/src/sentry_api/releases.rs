//! Releases as `sentry-cli releases …` manages them.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;

use lookout_store::{Commit, Deploy, DeployFilter, Project, Release, ReleaseRef, ReleaseUpdate};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{blocking, Access};
use crate::error::ApiError;
use crate::state::AppState;
use crate::time_fmt::iso as iso_ms;

/// Who the token is: `sentry-cli info` prints it, the projects it reaches and its scopes.
pub async fn whoami(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
) -> Result<Json<Value>, ApiError> {
    let reach = if access.limited() {
        let projects = blocking(&app, |s| s.list_projects()).await?;
        let slugs: Vec<&str> = projects
            .iter()
            .filter(|p| access.allows(p.id))
            .map(|p| p.slug.as_str())
            .collect();
        format!("projects {}", slugs.join(", "))
    } else {
        "every project".to_string()
    };
    Ok(Json(json!({
        // `sentry-cli info` prints the email only: it names the token and its reach.
        "user": {"id": "0", "name": access.token_name(), "email": format!("API token {} for {reach}", access.token_name()), "username": "lookout"},
        "auth": {"scopes": ["org:read", "project:read", "project:write", "project:releases", "event:read"]},
    })))
}

/// `releases new`: the body names the version and its projects.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewRelease {
    version: String,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default)]
    date_started: Option<String>,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    date_released: Option<String>,
}

/// A commit as `set-commits` sends it.
#[derive(Deserialize)]
pub struct CommitIn {
    id: String,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    author_name: Option<String>,
    #[serde(default)]
    author_email: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

/// `releases finalize`, `set-commits`: what changes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRelease {
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    date_started: Option<String>,
    #[serde(default)]
    date_released: Option<String>,
    #[serde(default)]
    commits: Option<Vec<CommitIn>>,
    #[serde(default)]
    refs: Option<Vec<RefIn>>,
}

/// A commit range as `set-commits --commit repo@from..to` sends it (`previousCommit` only
/// for a range).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefIn {
    repository: String,
    commit: String,
    #[serde(default)]
    previous_commit: Option<String>,
}

/// A release's deploys, as Sentry counts them: how many, and the newest.
#[derive(Default, Clone)]
struct Deploys {
    count: i64,
    last: Option<Deploy>,
}

impl Deploys {
    fn add(&mut self, d: &Deploy) {
        self.count += 1;
        let newer = self.last.as_ref().is_none_or(|l| {
            (d.finished_ms.unwrap_or(d.started_ms), d.id)
                > (l.finished_ms.unwrap_or(l.started_ms), l.id)
        });
        if newer {
            self.last = Some(d.clone());
        }
    }
}

/// Deploys per release version of one project (its deploy records, whichever wrote them).
fn project_deploys(
    s: &dyn lookout_store::Store,
    project_id: i64,
) -> lookout_store::Result<HashMap<String, Deploys>> {
    let mut out: HashMap<String, Deploys> = HashMap::new();
    for d in s.list_deploys(&DeployFilter {
        project_id: Some(project_id),
        limit: u32::MAX,
        ..DeployFilter::default()
    })? {
        out.entry(d.release.clone()).or_default().add(&d);
    }
    Ok(out)
}

/// The deploys of `version` in `projects`.
fn release_deploys(
    s: &dyn lookout_store::Store,
    projects: &[i64],
    version: &str,
) -> lookout_store::Result<Deploys> {
    let mut out = Deploys::default();
    for d in s.list_deploys(&DeployFilter {
        release: Some(version.to_string()),
        limit: u32::MAX,
        ..DeployFilter::default()
    })? {
        if projects.contains(&d.project_id) {
            out.add(&d);
        }
    }
    Ok(out)
}

fn parse_time(field: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    v.parse::<jiff::Timestamp>()
        .map(|t| Some(t.as_millisecond()))
        .map_err(|e| ApiError::bad_request(format!("{field}: not an RFC 3339 time ({e})")))
}

fn version_ok(version: &str) -> Result<(), ApiError> {
    if version.trim().is_empty() || version.len() > 200 || version.contains(['/', '\n']) {
        return Err(ApiError::bad_request(
            "version: give a non-empty release name of at most 200 characters, without `/` or line breaks",
        ));
    }
    Ok(())
}

/// The projects named, all of which must exist and be within the token's reach.
async fn projects_named(
    app: &Arc<AppState>,
    access: &Access,
    slugs: &[String],
) -> Result<Vec<Project>, ApiError> {
    let all: Vec<Project> = blocking(app, |s| s.list_projects())
        .await?
        .into_iter()
        .filter(|p| access.allows(p.id))
        .collect();
    if let Some(slug) = slugs.iter().find(|s| !all.iter().any(|p| &&p.slug == s)) {
        let exists = blocking(app, {
            let slug = slug.clone();
            move |s| s.get_project_by_slug(&slug)
        })
        .await?;
        if let Some(p) = exists {
            access.check(&p)?;
        }
    }
    slugs
        .iter()
        .map(|slug| {
            all.iter()
                .find(|p| &p.slug == slug)
                .cloned()
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "no project `{slug}` in lookout (projects: {})",
                        all.iter()
                            .map(|p| p.slug.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
        })
        .collect()
}

/// The release in each project (within the token's reach) that has it.
async fn find_release(
    app: &Arc<AppState>,
    access: &Access,
    version: &str,
) -> Result<Vec<(Project, Release)>, ApiError> {
    let v = version.to_string();
    let access = access.clone();
    let found = blocking(app, move |s| {
        let mut out = Vec::new();
        for p in s
            .list_projects()?
            .into_iter()
            .filter(|p| access.allows(p.id))
        {
            if let Some(r) = s.get_release(p.id, &v)? {
                out.push((p, r));
            }
        }
        Ok(out)
    })
    .await?;
    if found.is_empty() {
        return Err(ApiError::not_found(format!(
            "no release `{version}` in any project (create it with `sentry-cli releases new {version}`)"
        )));
    }
    Ok(found)
}

/// A release in Sentry's shape, with the projects that have it.
fn release_json(
    release: &Release,
    projects: &[&Project],
    last_commit: Option<&Commit>,
    deploys: &Deploys,
) -> Value {
    json!({
        "id": release.id,
        "version": release.version,
        "shortVersion": release.version,
        "ref": release.git_ref,
        "url": release.url,
        "status": "open",
        "dateCreated": iso_ms(release.created_ms),
        "dateStarted": release.started_ms.map(iso_ms),
        "dateReleased": release.released_ms.map(iso_ms),
        "commitCount": release.commit_count,
        "deployCount": deploys.count,
        "lastDeploy": deploys.last.as_ref().map(deploy_json),
        "newGroups": 0,
        "firstEvent": null,
        "lastEvent": null,
        "authors": [],
        "owner": null,
        "data": {},
        "versionInfo": null,
        "lastCommit": last_commit.map(commit_json),
        "projects": projects.iter().map(|p| json!({"id": p.id, "slug": p.slug, "name": p.name})).collect::<Vec<_>>(),
    })
}

fn commit_json(c: &Commit) -> Value {
    json!({
        "id": c.sha,
        "message": c.message,
        "dateCreated": c.timestamp_ms.map(iso_ms),
        "repository": c.repository.as_ref().map(|r| json!({"name": r})),
        "author": {"name": c.author_name, "email": c.author_email},
    })
}

/// `POST /api/0/organizations/{org}/releases/`
pub async fn create(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
    Path(_org): Path<String>,
    Json(body): Json<NewRelease>,
) -> Result<Response, ApiError> {
    version_ok(&body.version)?;
    if body.projects.is_empty() {
        return Err(ApiError::bad_request(
            "projects: name at least one project (SENTRY_PROJECT or --project)",
        ));
    }
    let projects = projects_named(&app, &access, &body.projects).await?;
    let started = parse_time("dateStarted", body.date_started.as_deref())?;
    let released = parse_time("dateReleased", body.date_released.as_deref())?;
    let now = app.clock.now_ms();
    let (version, git_ref, url) = (body.version.clone(), body.git_ref, body.url);
    let ids: Vec<i64> = projects.iter().map(|p| p.id).collect();
    let release = blocking(&app, move |s| {
        let mut last = None;
        for &id in &ids {
            s.ensure_release(id, &version, started, now)?;
            let update = ReleaseUpdate {
                git_ref: git_ref.clone(),
                url: url.clone(),
                released_ms: released,
                ..ReleaseUpdate::default()
            };
            last = s.update_release(id, &version, &update)?;
        }
        let deploys = release_deploys(s, &ids, &version)?;
        Ok(last.map(|r| (r, deploys)))
    })
    .await?
    .ok_or_else(|| ApiError::internal("a release vanished", "after insert"))?;
    let refs: Vec<&Project> = projects.iter().collect();
    Ok((
        StatusCode::CREATED,
        Json(release_json(&release.0, &refs, None, &release.1)),
    )
        .into_response())
}

/// `PUT /api/0/organizations/{org}/releases/{version}/`: finalize, set commits, set refs.
pub async fn update(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
    Path((_org, version)): Path<(String, String)>,
    Json(body): Json<UpdateRelease>,
) -> Result<Json<Value>, ApiError> {
    version_ok(&version)?;
    let projects = if body.projects.is_empty() {
        find_release(&app, &access, &version)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    } else {
        projects_named(&app, &access, &body.projects).await?
    };
    let commits = body
        .commits
        .map(|list| {
            list.into_iter()
                .enumerate()
                .map(|(i, c)| {
                    Ok(Commit {
                        timestamp_ms: parse_time(
                            &format!("commits[{i}].timestamp"),
                            c.timestamp.as_deref(),
                        )?,
                        sha: c.id,
                        repository: c.repository,
                        author_name: c.author_name,
                        author_email: c.author_email,
                        message: c.message,
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .transpose()?;
    let refs = body
        .refs
        .map(|list| {
            list.into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let (repository, commit) = (r.repository.trim(), r.commit.trim());
                    if repository.is_empty() || commit.is_empty() {
                        return Err(ApiError::bad_request(format!(
                            "refs[{i}]: give the repository and its commit (--commit REPO@SHA or REPO@FROM..TO)"
                        )));
                    }
                    Ok(ReleaseRef {
                        repository: repository.to_string(),
                        commit: commit.to_string(),
                        previous_commit: r
                            .previous_commit
                            .map(|c| c.trim().to_string())
                            .filter(|c| !c.is_empty()),
                    })
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .transpose()?;
    let update = ReleaseUpdate {
        git_ref: body.git_ref,
        url: body.url,
        started_ms: parse_time("dateStarted", body.date_started.as_deref())?,
        released_ms: parse_time("dateReleased", body.date_released.as_deref())?,
        commits,
        refs,
    };
    let now = app.clock.now_ms();
    let ids: Vec<i64> = projects.iter().map(|p| p.id).collect();
    let v = version.clone();
    let (release, last_commit, deploys) = blocking(&app, move |s| {
        let mut last = None;
        for &id in &ids {
            // Sentry creates the release on update too; so does lookout.
            s.ensure_release(id, &v, None, now)?;
            last = s.update_release(id, &v, &update)?;
        }
        let commit = match &last {
            Some(r) => s.release_commits(r.id)?.into_iter().next(),
            None => None,
        };
        Ok((last, commit, release_deploys(s, &ids, &v)?))
    })
    .await?;
    let release = release.ok_or_else(|| ApiError::not_found(format!("no release `{version}`")))?;
    let refs: Vec<&Project> = projects.iter().collect();
    Ok(Json(release_json(
        &release,
        &refs,
        last_commit.as_ref(),
        &deploys,
    )))
}

/// `GET /api/0/organizations/{org}/releases/{version}/`
pub async fn info(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let found = find_release(&app, &access, &version).await?;
    let release = found[0].1.clone();
    let id = release.id;
    let ids: Vec<i64> = found.iter().map(|(p, _)| p.id).collect();
    let (last, deploys) = blocking(&app, move |s| {
        Ok((s.release_commits(id)?, release_deploys(s, &ids, &version)?))
    })
    .await?;
    let projects: Vec<&Project> = found.iter().map(|(p, _)| p).collect();
    Ok(Json(release_json(
        &release,
        &projects,
        last.first(),
        &deploys,
    )))
}

/// `GET /api/0/organizations/{org}/releases/{version}/commits/`
pub async fn commits(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let found = find_release(&app, &access, &version).await?;
    let id = found[0].1.id;
    let list = blocking(&app, move |s| s.release_commits(id)).await?;
    Ok(Json(Value::Array(list.iter().map(commit_json).collect())))
}

/// The release before this one that has commits, so `set-commits --auto/--local` can
/// send only what is new; `{}` when there is none.
pub async fn previous_with_commits(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let v = version.clone();
    let previous = blocking(&app, move |s| {
        for p in s
            .list_projects()?
            .into_iter()
            .filter(|p| access.allows(p.id))
        {
            let releases = s.list_releases(p.id, 1000)?;
            let Some(pos) = releases.iter().position(|r| r.version == v) else {
                continue;
            };
            for r in &releases[pos + 1..] {
                if r.commit_count > 0 {
                    let last = s.release_commits(r.id)?.into_iter().next();
                    let deploys = release_deploys(s, &[p.id], &r.version)?;
                    return Ok(Some((p, r.clone(), last, deploys)));
                }
            }
        }
        Ok(None)
    })
    .await?;
    Ok(Json(match previous {
        Some((p, r, last, deploys)) => release_json(&r, &[&p], last.as_ref(), &deploys),
        None => json!({}),
    }))
}

/// The organisation's repositories: those `[releases] repositories` lists, so that
/// `set-commits --commit REPO@FROM..TO` sends its range (sentry-cli refuses a repository
/// it is not told of, and with none told of falls back to local commits). lookout reads
/// no repository; the provider says so.
pub async fn repos(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(Value::Array(
        app.releases
            .repositories
            .iter()
            .enumerate()
            .map(|(i, name)| {
                json!({
                    "id": (i + 1).to_string(),
                    "name": name,
                    "url": null,
                    "provider": {"id": "lookout", "name": "lookout (refs only)"},
                    "status": "active",
                    "dateCreated": iso_ms(0),
                })
            })
            .collect(),
    ))
}

/// `GET /api/0/projects/{org}/{project}/releases/`
pub async fn list_project(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
    Path((_org, project)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let p = projects_named(&app, &access, &[project]).await?.remove(0);
    let id = p.id;
    let (list, deploys) = blocking(&app, move |s| {
        Ok((s.list_releases(id, 1000)?, project_deploys(s, id)?))
    })
    .await?;
    let none = Deploys::default();
    Ok(Json(Value::Array(
        list.iter()
            .map(|r| release_json(r, &[&p], None, deploys.get(&r.version).unwrap_or(&none)))
            .collect(),
    )))
}

/// `GET /api/0/organizations/{org}/releases/`: every project's releases.
pub async fn list_org(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
    Path(_org): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let all = blocking(&app, move |s| {
        let mut out = Vec::new();
        for p in s
            .list_projects()?
            .into_iter()
            .filter(|p| access.allows(p.id))
        {
            let mut deploys = project_deploys(s, p.id)?;
            for r in s.list_releases(p.id, 1000)? {
                let d = deploys.remove(&r.version).unwrap_or_default();
                out.push((p.clone(), r, d));
            }
        }
        Ok(out)
    })
    .await?;
    Ok(Json(Value::Array(
        all.iter()
            .map(|(p, r, d)| release_json(r, &[p], None, d))
            .collect(),
    )))
}

/// `releases deploys VERSION new`: the body Sentry takes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewDeployIn {
    environment: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    date_started: Option<String>,
    #[serde(default)]
    date_finished: Option<String>,
    #[serde(default)]
    projects: Vec<String>,
}

fn deploy_json(d: &lookout_store::Deploy) -> Value {
    json!({
        "id": d.id.to_string(),
        "environment": d.environment,
        "name": d.name,
        "url": d.url,
        "dateStarted": iso_ms(d.started_ms),
        "dateFinished": d.finished_ms.map(iso_ms),
    })
}

/// `POST /api/0/organizations/{org}/releases/{version}/deploys/`: the same deploy records
/// that `lookout deploy verify` writes (one list, whichever wrote it), watched after the
/// deploy like those.
pub async fn create_deploy(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
    Path((_org, version)): Path<(String, String)>,
    Json(body): Json<NewDeployIn>,
) -> Result<Response, ApiError> {
    let env = body.environment.trim().to_string();
    if env.is_empty() || env.len() > 64 {
        return Err(ApiError::bad_request(
            "environment: give the environment deployed to (-e production), at most 64 characters",
        ));
    }
    let projects: Vec<Project> = if body.projects.is_empty() {
        find_release(&app, &access, &version)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    } else {
        projects_named(&app, &access, &body.projects).await?
    };
    let now = app.clock.now_ms();
    let finished = parse_time("dateFinished", body.date_finished.as_deref())?.unwrap_or(now);
    let started = parse_time("dateStarted", body.date_started.as_deref())?.unwrap_or(finished);
    let window_ms = app.deploy_watch.window_ms();
    let watch_until_ms = (window_ms > 0).then_some(finished + window_ms);
    let (v, name, url) = (version.clone(), body.name, body.url);
    let made = blocking(&app, move |s| {
        let mut made = Vec::new();
        for p in &projects {
            s.ensure_release(p.id, &v, None, now)?;
            made.push(s.create_deploy(&lookout_store::NewDeploy {
                project_id: p.id,
                environment: env.clone(),
                release: v.clone(),
                name: name.clone(),
                url: url.clone(),
                commit: None,
                started_ms: started,
                finished_ms: Some(finished),
                verdict: None,
                checks: json!([]),
                rollback: None,
                watch_until_ms,
                now_ms: now,
            })?);
        }
        Ok(made)
    })
    .await?;
    let first = made
        .first()
        .ok_or_else(|| ApiError::bad_request("no project to record the deploy for"))?;
    Ok((StatusCode::CREATED, Json(deploy_json(first))).into_response())
}

/// `GET /api/0/organizations/{org}/releases/{version}/deploys/`
pub async fn list_deploys(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<Access>,
    Path((_org, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let list = blocking(&app, move |s| {
        s.list_deploys(&lookout_store::DeployFilter {
            release: Some(version),
            limit: 1000,
            ..lookout_store::DeployFilter::default()
        })
    })
    .await?;
    Ok(Json(Value::Array(
        list.iter()
            .filter(|d| access.allows(d.project_id))
            .map(deploy_json)
            .collect(),
    )))
}
