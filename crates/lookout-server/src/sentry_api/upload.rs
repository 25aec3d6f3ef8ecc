//! Source map uploads: the chunk-upload options, the chunks (gzip-compressed, named by
//! their SHA-1), and the assemble call that turns chunks into an artifact bundle.
//!
//! Assembling runs at once, inside the request: a bundle is checked whole (checksum, zip,
//! manifest, every source map) before anything is stored, and is stored with its index and
//! the removal of its chunks in one transaction, so a refused or interrupted upload leaves
//! nothing half-stored. A refused upload (a bundle that is not valid, or over a limit)
//! also loses its chunks; one that failed in the database keeps them for the next try.

use std::io::Read;
use std::sync::Arc;

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::Json;
use lookout_store::{ArtifactFile, NewBundle};
use serde::Deserialize;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::api::blocking;
use crate::error::ApiError;
use crate::sourcemaps::bundle;
use crate::state::AppState;

/// Bytes of one chunk, unpacked.
const CHUNK_SIZE: u64 = 8 * 1024 * 1024;
/// Chunks in one request.
const CHUNKS_PER_REQUEST: u64 = 16;

/// The largest chunk-upload request: a full set of chunks, gzip never growing them by
/// much, plus the multipart framing.
pub fn request_limit(_app: &AppState) -> usize {
    (CHUNK_SIZE * CHUNKS_PER_REQUEST + 1024 * 1024) as usize
}

/// `GET /api/0/organizations/{org}/chunk-upload/`: how to upload.
pub async fn options(State(app): State<Arc<AppState>>, Path(org): Path<String>) -> Json<Value> {
    // Behind a proxy, `[server] public_url` is the address clients reach.
    Json(json!({
        "url": format!("{}/api/0/organizations/{org}/chunk-upload/", app.public_url.trim_end_matches('/')),
        "chunkSize": CHUNK_SIZE,
        "chunksPerRequest": CHUNKS_PER_REQUEST,
        "maxFileSize": app.sourcemaps.max_bundle_bytes,
        "maxRequestSize": CHUNK_SIZE * CHUNKS_PER_REQUEST,
        "maxWait": 60,
        "concurrency": 2,
        "hashAlgorithm": "sha1",
        "compression": ["gzip"],
        // Not `release_files`: sentry-cli 2.x and 3.x upload release-bound maps as artifact
        // bundles (with `version`) whenever `artifact_bundles` is offered, and the legacy
        // release-files assemble endpoint that `release_files` promises is not served.
        "accept": ["artifact_bundles", "artifact_bundles_v2"],
    }))
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// `POST /api/0/organizations/{org}/chunk-upload/`: multipart, one part per chunk, named
/// by the SHA-1 of its unpacked bytes; `file_gzip` parts are gzip-compressed.
pub async fn chunks(
    State(app): State<Arc<AppState>>,
    Path(_org): Path<String>,
    mut form: Multipart,
) -> Result<Json<Value>, ApiError> {
    let mut chunks = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("the upload is not valid multipart: {e}")))?
    {
        let gzip = match field.name() {
            Some("file_gzip") => true,
            Some("file") => false,
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected form field {other:?}: send chunks as `file` or `file_gzip`"
                )))
            }
        };
        let name = field.file_name().unwrap_or_default().to_ascii_lowercase();
        let body = field.bytes().await.map_err(|e| {
            ApiError::bad_request(format!("chunk {name}: the upload was cut short ({e})"))
        })?;
        let data = if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .take(CHUNK_SIZE + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "chunk {name}: not valid gzip ({e}); was it cut short?"
                    ))
                })?;
            out
        } else {
            body.to_vec()
        };
        if data.len() as u64 > CHUNK_SIZE {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("chunk {name}: larger than the chunk size of {CHUNK_SIZE} bytes"),
            ));
        }
        let sum = sha1_hex(&data);
        if sum != name {
            return Err(ApiError::bad_request(format!(
                "chunk {name}: checksum mismatch, its content hashes to {sum}; the upload was damaged, run it again"
            )));
        }
        chunks.push((sum, data));
    }
    if chunks.is_empty() {
        return Err(ApiError::bad_request("no chunks in the upload"));
    }
    let now = app.clock.now_ms();
    blocking(&app, move |s| s.put_chunks(&chunks, now)).await?;
    Ok(Json(json!({})))
}

/// The assemble request.
#[derive(Deserialize)]
pub struct Assemble {
    checksum: String,
    chunks: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dist: Option<String>,
}

fn state(state: &str, missing: &[String], detail: Option<String>) -> Json<Value> {
    Json(json!({"state": state, "missingChunks": missing, "detail": detail}))
}

/// `POST /api/0/organizations/{org}/artifactbundle/assemble/`
pub async fn assemble(
    State(app): State<Arc<AppState>>,
    axum::Extension(access): axum::Extension<crate::api::Access>,
    Path(_org): Path<String>,
    Json(req): Json<Assemble>,
) -> Result<Json<Value>, ApiError> {
    if req.projects.is_empty() {
        return Err(ApiError::bad_request(
            "projects: name at least one project (SENTRY_PROJECT or --project)",
        ));
    }
    let all = blocking(&app, |s| s.list_projects()).await?;
    let mut projects = Vec::new();
    for slug in &req.projects {
        let p = all
            .iter()
            .find(|p| &p.slug == slug)
            .ok_or_else(|| ApiError::bad_request(format!("no project `{slug}` in lookout")))?;
        access.check(p)?;
        projects.push(p.clone());
    }
    // The `sentry` CLI under the bundler plugins sends a missing release as the string
    // "undefined": that is no release, not a release of that name.
    let given = |v: Option<String>| v.filter(|v| !matches!(v.trim(), "" | "undefined" | "null"));
    let (version, dist) = (given(req.version), given(req.dist));
    let checksum = req.checksum.to_ascii_lowercase();
    let chunks: Vec<String> = req.chunks.iter().map(|c| c.to_ascii_lowercase()).collect();
    let limits = app.sourcemaps.clone();
    let now = app.clock.now_ms();
    let symbolicator = app.symbolicator.clone();
    let regrouper = app.regrouper.clone();
    let app2 = app.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<Json<Value>, ApiError> {
        let store = app2.store.as_ref();
        let internal = |e| ApiError::internal("the database reported an error", e);
        let done = projects
            .iter()
            .map(|p| store.find_bundle(p.id, &checksum))
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        if done.iter().all(Option::is_some) {
            return Ok(state("ok", &[], None));
        }
        let missing = store.missing_chunks(&chunks).map_err(internal)?;
        if !missing.is_empty() {
            return Ok(state("not_found", &missing, None));
        }
        let refuse = |detail: String| -> Result<Json<Value>, ApiError> {
            // Nothing of a refused upload stays behind.
            let _ = store.delete_chunks(&chunks);
            tracing::info!(%detail, "artifact bundle refused");
            Ok(state("error", &[], Some(detail)))
        };
        let mut data = Vec::new();
        for c in store.get_chunks(&chunks).map_err(internal)? {
            match c {
                Some(c) => data.extend_from_slice(&c),
                None => return Ok(state("not_found", &chunks, None)),
            }
            if data.len() as u64 > limits.max_bundle_bytes {
                return refuse(format!(
                    "the bundle is larger than the limit of {} bytes ([sourcemaps] max_bundle_bytes)",
                    limits.max_bundle_bytes
                ));
            }
        }
        let sum = sha1_hex(&data);
        if sum != checksum {
            return refuse(format!(
                "checksum mismatch: the chunks make a file with SHA-1 {sum}, not {checksum}"
            ));
        }
        let files = match bundle::parse(&data, limits.max_bundle_bytes) {
            Ok(f) => f,
            Err(e) => return refuse(e.to_string()),
        };
        let bundles: Vec<NewBundle> = projects
            .iter()
            .map(|p| NewBundle {
                project_id: p.id,
                checksum: checksum.clone(),
                release: version.clone(),
                dist: dist.clone(),
                data: data.clone(),
                files: files
                    .iter()
                    .map(|f| ArtifactFile {
                        bundle_id: 0,
                        project_id: p.id,
                        path: f.path.clone(),
                        url: f.url.clone(),
                        kind: f.kind.clone(),
                        debug_id: f.debug_id.clone(),
                        release: version.clone(),
                        sourcemap: f.sourcemap.clone(),
                    })
                    .collect(),
                now_ms: now,
            })
            .collect();
        // Every project's bundle, its release and its regroup job, and the removal of the
        // chunks, in one transaction: an upload for several projects is stored for all of
        // them or, failing, for none.
        let saved = match store.save_bundles(
            &bundles,
            &chunks,
            limits.max_bundles_per_project,
            regrouper.window_now(),
        ) {
            Ok(saved) => saved,
            // A project removed since the request named it: the same request can never
            // succeed, so this is a refusal like a bad bundle, and its chunks go.
            Err(lookout_store::StoreError::Invalid(why)) => return refuse(why),
            // The database failed (and rolled back): the chunks stay, so running sentry-cli
            // again (it stops at a 500 and does not poll on) finds them and uploads none of
            // them twice; chunks never assembled are pruned after a day.
            Err(e) => return Err(internal(e)),
        };
        for (new, saved) in bundles.into_iter().zip(&saved) {
            symbolicator.remove_bundles(&saved.removed);
            let indexed: Vec<ArtifactFile> = new
                .files
                .into_iter()
                .map(|mut f| {
                    f.bundle_id = saved.info.id;
                    f
                })
                .collect();
            symbolicator.add_bundle(&indexed);
        }
        // Events that arrived before these maps are regrouped in the background.
        regrouper.wake_up();
        Ok(state("ok", &[], None))
    })
    .await
    .map_err(|e| ApiError::internal("assembling a bundle failed", e))?;
    answer
}
