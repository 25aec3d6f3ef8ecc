//! Source maps through the Sentry upload endpoints, by hand (no sentry-cli): what the
//! dashboard's issue page shows of a mapped event and of a merged issue, uploads that are
//! refused whole (a bad part, a bundle over the limit sent by a client that ignores
//! `maxFileSize`), release refs and deploy counts, bundles past retention removed by
//! the jobs loop and forgotten by the index, and regroup jobs left to the `jobs` duty's
//! holder by a fleet member without it.

mod common;

use std::io::Write;
use std::sync::Arc;

use common::web::{create_user, WebClient, EMAIL, PASSWORD};
use common::{envelope, request, spawn_app, spawn_app_in, wait_for, TestApp, TOKEN};
use lookout_core::clock::{Clock, ManualClock};
use serde_json::{json, Value};
use sha1::Digest;

/// The original source: `checkout` throws on line 9.
const ORIGINAL: &str = "// The shop's checkout.\n\
// It takes the cart and charges it.\n\
\n\
import { charge } from \"./pay.js\";\n\
\n\
const LIMIT = 10;\n\
\n\
export function checkout(cart) {\n\
  if (!cart.length) throw new Error(\"cart is empty\");\n\
  return charge(cart.slice(0, LIMIT));\n\
}\n";

/// A minified build of [`ORIGINAL`] named `chunk`: its code, its source map, its debug id
/// and the column (1-based) of the `throw` on its one line.
struct Build {
    chunk: String,
    code: String,
    map: Vec<u8>,
    debug_id: String,
    throw_col: u64,
}

fn build(chunk: &str, banner: &str, debug_id: &str) -> Build {
    let prefix = format!("{banner}function a(c){{if(!c.length)");
    let code = format!(
        "{prefix}throw new Error(\"cart is empty\");return b(c.slice(0,10))}}\n//# debugId={debug_id}\n//# sourceMappingURL={chunk}.js.map\n"
    );
    let name_col = (banner.len() + "function ".len()) as u32;
    let throw_col = prefix.len() as u32;
    let mut b = sourcemap::SourceMapBuilder::new(Some(&format!("{chunk}.js")));
    let src = "../src/checkout.js";
    b.add(0, banner.len() as u32, 7, 0, Some(src), None, false);
    b.add(0, name_col, 7, 16, Some(src), Some("checkout"), false);
    b.add(0, throw_col, 8, 20, Some(src), None, false);
    let id = b.add_source(src);
    b.set_source_contents(id, Some(ORIGINAL));
    b.set_debug_id(Some(debug_id.parse().unwrap()));
    let mut map = Vec::new();
    b.into_sourcemap().to_writer(&mut map).unwrap();
    Build {
        chunk: chunk.to_string(),
        code,
        map,
        debug_id: debug_id.to_string(),
        throw_col: u64::from(throw_col) + 1,
    }
}

/// The artifact bundle sentry-cli would make of `b`: a zip with a manifest.
fn bundle_zip(b: &Build) -> Vec<u8> {
    let manifest = json!({"files": {
        format!("_/_/{}.js", b.chunk): {"url": format!("~/{}.js", b.chunk), "type": "minified_source",
            "headers": {"debug-id": b.debug_id, "sourcemap": format!("{}.js.map", b.chunk)}},
        format!("_/_/{}.js.map", b.chunk): {"url": format!("~/{}.js.map", b.chunk), "type": "source_map",
            "headers": {"debug-id": b.debug_id}},
    }});
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, data) in [
        (
            "manifest.json".to_string(),
            manifest.to_string().into_bytes(),
        ),
        (format!("_/_/{}.js", b.chunk), b.code.clone().into_bytes()),
        (format!("_/_/{}.js.map", b.chunk), b.map.clone()),
    ] {
        zip.start_file(name, opts).unwrap();
        zip.write_all(&data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn sha1_hex(data: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(data))
}

/// Posts one multipart chunk request, parts as `(field, file name, body)`.
fn post_chunks(app: &TestApp, parts: &[(&str, &str, &[u8])]) -> common::Resp {
    let boundary = "lookoutTestBoundary7d1";
    let mut form = Vec::new();
    for (field, name, body) in parts {
        form.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        form.extend_from_slice(body);
        form.extend_from_slice(b"\r\n");
    }
    form.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let auth = format!("Bearer {TOKEN}");
    let ct = format!("multipart/form-data; boundary={boundary}");
    request(
        "POST",
        &format!("{}/api/0/organizations/acme/chunk-upload/", app.url),
        &[("authorization", &auth), ("content-type", &ct)],
        form,
    )
}

fn assemble(app: &TestApp, checksum: &str, chunks: &[String], projects: &[&str]) -> Value {
    let r = app.send(
        "POST",
        "/api/0/organizations/acme/artifactbundle/assemble/",
        &json!({"checksum": checksum, "chunks": chunks, "projects": projects}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Uploads `zip` as sentry-cli does (one chunk, then assemble); the assemble answer.
fn upload(app: &TestApp, zip: &[u8]) -> Value {
    let sum = sha1_hex(zip);
    let r = post_chunks(app, &[("file", &sum, zip)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assemble(app, &sum, std::slice::from_ref(&sum), &["app"])
}

/// Sends the error a browser running build `b` reports; its event id.
fn send_error(app: &TestApp, b: &Build, release: &str) -> String {
    let url = format!("https://shop.example/static/{}.js", b.chunk);
    let (id, body) = envelope(&json!({
        "platform": "javascript",
        "release": release,
        "exception": {"values": [{
            "type": "Error", "value": "cart is empty",
            "mechanism": {"type": "onerror", "handled": false},
            "stacktrace": {"frames": [
                {"filename": url, "abs_path": url, "function": "a", "lineno": 1,
                 "colno": b.throw_col, "in_app": true},
            ]},
        }]},
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": url, "debug_id": b.debug_id}]},
    }));
    let r = app.post_envelope(body, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    id
}

/// The stored event once written, and its issue.
fn stored(app: &TestApp, event_id: &str) -> (Value, i64) {
    wait_for("the event to be stored", || {
        let r = app.get(&format!("/api/v1/projects/app/events/{event_id}"));
        (r.status == 200).then(|| {
            let issue = r.body["issue_id"].as_i64().expect("issue id");
            (r.body["data"].clone(), issue)
        })
    })
}

fn top_frame(event: &Value) -> Value {
    event["exception"]["values"][0]["stacktrace"]["frames"]
        .as_array()
        .and_then(|f| f.last())
        .cloned()
        .unwrap_or(Value::Null)
}

const ID_1: &str = "11111111-2222-4333-8444-555555555501";
const ID_2: &str = "11111111-2222-4333-8444-555555555502";

/// The issue page of a mapped event shows the original file, function and source line,
/// and the minified frame it was mapped from; an issue merged away by a regroup sends the
/// dashboard to the issue its events went to.
#[test]
fn the_issue_page_shows_mapped_frames_and_merged_issues_redirect() {
    let app = spawn_app("");
    create_user(&app, EMAIL, PASSWORD);
    let mut web = WebClient::new(&app);
    assert_eq!(web.sign_in(EMAIL, PASSWORD).status, 303);

    let one = build("chunk-3f9a1c", "/*one*/", ID_1);
    let two = build("chunk-77e0b2", "/*build two is longer*/", ID_2);
    // Build two's error arrives before its maps: minified, an issue of its own.
    let early = send_error(&app, &two, "1.0.2");
    let (e, minified_issue) = stored(&app, &early);
    assert!(top_frame(&e)["data"]["symbolicated"].is_null(), "{e}");

    assert_eq!(upload(&app, &bundle_zip(&one))["state"], "ok");
    let mapped = send_error(&app, &one, "1.0.1");
    let (e, issue) = stored(&app, &mapped);
    let top = top_frame(&e);
    assert_eq!(
        (&top["filename"], &top["function"], &top["lineno"]),
        (&json!("src/checkout.js"), &json!("checkout"), &json!(9)),
        "{top}"
    );
    assert_ne!(issue, minified_issue);

    let page = web.get(&format!("/issues/{issue}"));
    assert_eq!(page.status, 200);
    for needle in [
        "src/checkout.js",
        "<code>checkout</code>",
        "throw new Error(",
        "cart is empty",
        "export function checkout(cart) {",
        // The minified frame it came from.
        "https://shop.example/static/chunk-3f9a1c.js:1:",
        " in a</code>",
    ] {
        assert!(
            page.body.contains(needle),
            "the issue page lacks {needle:?}:\n{}",
            page.body
        );
    }

    // Build two's maps: the early error moves into the mapped issue, and the dashboard
    // sends the minified issue's address there.
    assert_eq!(upload(&app, &bundle_zip(&two))["state"], "ok");
    wait_for("the early error to be regrouped", || {
        (stored(&app, &early).1 == issue).then_some(())
    });
    let old = web.get(&format!("/issues/{minified_issue}"));
    assert_eq!(old.status, 303, "{}", old.body);
    assert_eq!(
        old.header("location"),
        Some(format!("/issues/{issue}").as_str())
    );
    assert_eq!(web.get("/issues/987654").status, 404);
}

/// A chunk request with one damaged part stores none of its parts; a bundle over
/// `max_bundle_bytes` sent by a client that ignores the advertised `maxFileSize` is
/// refused by the server, and its chunks are gone; the options advertise only what is
/// served.
#[test]
fn refused_uploads_store_nothing() {
    let app = spawn_app("\n[sourcemaps]\nmax_bundle_bytes = 4000\n");
    let opts = app.get("/api/0/organizations/acme/chunk-upload/");
    assert_eq!(opts.status, 200, "{}", opts.body);
    assert_eq!(opts.body["maxFileSize"], 4000);
    assert_eq!(
        opts.body["accept"],
        json!(["artifact_bundles", "artifact_bundles_v2"]),
        "no release_files: its assemble endpoint is not served"
    );

    // Two parts, the second damaged (its content is not what its name says).
    let good = b"a good chunk".to_vec();
    let good_sum = sha1_hex(&good);
    let r = post_chunks(
        &app,
        &[
            ("file", &good_sum, &good),
            ("file", &sha1_hex(b"something else"), b"a damaged chunk"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.detail().contains("checksum mismatch"), "{}", r.body);
    let a = assemble(&app, &good_sum, std::slice::from_ref(&good_sum), &["app"]);
    assert_eq!(
        (&a["state"], &a["missingChunks"]),
        (&json!("not_found"), &json!([good_sum])),
        "the good part of the refused request was not kept: {a}"
    );

    // Over the limit, in two chunks each under it.
    let big: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
    let (c1, c2) = big.split_at(3000);
    let sums = vec![sha1_hex(c1), sha1_hex(c2)];
    let r = post_chunks(&app, &[("file", &sums[0], c1), ("file", &sums[1], c2)]);
    assert_eq!(r.status, 200, "{}", r.body);
    let a = assemble(&app, &sha1_hex(&big), &sums, &["app"]);
    assert_eq!(a["state"], "error", "{a}");
    assert!(
        a["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than the limit of 4000 bytes"),
        "{a}"
    );
    let a = assemble(&app, &sha1_hex(&big), &sums, &["app"]);
    assert_eq!(a["missingChunks"], json!(sums), "the chunks are gone: {a}");
    assert_eq!(
        app.get("/api/v1/projects/app/artifact-bundles").body,
        json!([])
    );
}

/// `set-commits --commit repo@from..to` sends refs: kept per repository and read back;
/// a bad one is a 400. The release counts its deploys and names the last.
#[test]
fn release_refs_and_deploys() {
    let app = spawn_app("\n[releases]\nrepositories = [\"acme/web\", \"acme/api\"]\n");
    // sentry-cli sends `--commit` ranges only for the repositories it is told of.
    let repos = app.get("/api/0/organizations/acme/repos/?cursor=").body;
    let names: Vec<&str> = repos
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["acme/web", "acme/api"], "{repos}");
    for bad in ["[\"acme/web\", \"acme/web\"]", "[\" \"]"] {
        let text = format!("[releases]\nrepositories = {bad}\n");
        let err = lookout_server::Config::parse(&text, "t.toml", &|_| None).unwrap_err();
        assert!(err.to_string().contains("releases.repositories["), "{err}");
    }

    let r = app.send(
        "POST",
        "/api/0/organizations/acme/releases/",
        &json!({"version": "2.1.0", "projects": ["app"]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (&r.body["deployCount"], &r.body["lastDeploy"]),
        (&json!(0), &Value::Null)
    );
    let r = app.send(
        "PUT",
        "/api/0/organizations/acme/releases/2.1.0/",
        &json!({"projects": ["app"], "refs": [
            {"repository": "acme/web", "commit": "b".repeat(40), "previousCommit": "a".repeat(40)},
            {"repository": "acme/api", "commit": "c".repeat(40)},
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let detail = app.get("/api/v1/projects/app/releases/2.1.0").body;
    assert_eq!(
        detail["refs"],
        json!([
            {"repository": "acme/api", "commit": "c".repeat(40), "previous_commit": null},
            {"repository": "acme/web", "commit": "b".repeat(40), "previous_commit": "a".repeat(40)},
        ]),
        "{detail}"
    );
    let r = app.send(
        "PUT",
        "/api/0/organizations/acme/releases/2.1.0/",
        &json!({"projects": ["app"], "refs": [{"repository": "acme/web", "commit": " "}]}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.detail().contains("refs[0]"), "{}", r.body);

    for (env, name) in [("staging", "s-1"), ("production", "p-1")] {
        let r = app.send(
            "POST",
            "/api/0/organizations/acme/releases/2.1.0/deploys/",
            &json!({"environment": env, "name": name}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let info = app.get("/api/0/organizations/acme/releases/2.1.0/").body;
    assert_eq!(info["deployCount"], 2, "{info}");
    assert_eq!(info["lastDeploy"]["environment"], "production", "{info}");
    let list = app.get("/api/0/projects/acme/app/releases/").body;
    assert_eq!(list[0]["deployCount"], 2, "{list}");
    assert_eq!(list[0]["lastDeploy"]["name"], "p-1", "{list}");
}

/// The jobs loop removes bundles past `[sourcemaps] retention` (here: a restart 91 days
/// after the upload, whose first round runs the hourly jobs) and the index forgets them:
/// an error of that build is no longer mapped.
#[test]
fn bundles_past_retention_are_pruned_by_the_jobs_loop() {
    let start = 1_750_000_000_000;
    let clock = Arc::new(ManualClock::new(start));
    let mut app = spawn_app_in(
        "",
        clock.clone() as Arc<dyn Clock>,
        tempfile::tempdir().unwrap(),
    );
    let one = build("chunk-01d0ne", "/*old*/", ID_1);
    assert_eq!(upload(&app, &bundle_zip(&one))["state"], "ok");
    let (e, _) = stored(&app, &send_error(&app, &one, "0.9.0"));
    assert_eq!(top_frame(&e)["data"]["symbolicated"], true, "{e}");

    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    drop(app);
    clock.set(start + 91 * 86_400_000);
    let app = spawn_app_in("", clock.clone() as Arc<dyn Clock>, dir);
    wait_for("the old bundle to be pruned", || {
        (app.get("/api/v1/projects/app/artifact-bundles").body == json!([])).then_some(())
    });
    let (e, _) = stored(&app, &send_error(&app, &one, "0.9.0"));
    assert!(
        top_frame(&e)["data"]["symbolicated"].is_null(),
        "the pruned bundle is not used: {e}"
    );
}

const ID_3: &str = "11111111-2222-4333-8444-555555555503";

/// Regroup jobs run on the `jobs` duty's holder only, and that is decided by the duty, not
/// by timing: two fleet members on one database, both with the job's bundle in their
/// index; a round on the member without the duty leaves the job exactly as it was (pending,
/// cursor and counts untouched, no event moved), a round on the holder runs it.
#[test]
fn regroup_jobs_run_only_on_the_jobs_holder() {
    use lookout_server::cluster::{Cluster, ConfigDigest, Identity, JOBS};
    use lookout_server::sourcemaps::{bundle, regroup::Regrouper, Symbolicator};
    use lookout_store::{ArtifactFile, NewBundle, RegroupWindow};

    // An error that arrives before its maps, stored minified; then the server stops, so
    // its own regroup task (which holds every duty) cannot take the job.
    let mut app = spawn_app("");
    let late = build("chunk-5e1a7e", "/*maps come later*/", ID_3);
    let early = send_error(&app, &late, "1.0.3");
    let (e, _) = stored(&app, &early);
    assert!(top_frame(&e)["data"]["symbolicated"].is_null(), "{e}");
    let running = app.running.take().expect("running");
    app.rt.block_on(running.shutdown()).expect("shutdown");

    let store: Arc<dyn lookout_store::Store> =
        Arc::new(lookout_store::sqlite::SqliteStore::open(app.dir.path()).expect("open"));
    let zip = bundle_zip(&late);
    let files = bundle::parse(&zip, u64::MAX).expect("the bundle parses");
    let saved = store
        .save_bundles(
            &[NewBundle {
                project_id: common::PROJECT_ID,
                checksum: sha1_hex(&zip),
                release: None,
                dist: None,
                data: zip.clone(),
                files: files
                    .into_iter()
                    .map(|f| ArtifactFile {
                        bundle_id: 0,
                        project_id: common::PROJECT_ID,
                        path: f.path,
                        url: f.url,
                        kind: f.kind,
                        debug_id: f.debug_id,
                        release: None,
                        sourcemap: f.sourcemap,
                    })
                    .collect(),
                now_ms: lookout_core::clock::SystemClock.now_ms(),
            }],
            &[],
            500,
            RegroupWindow {
                since_ms: 0,
                max_events: 1000,
            },
        )
        .expect("save the bundle and its job");
    let job_id = saved[0].regroup_job;
    let before = store.get_regroup(job_id).unwrap().expect("the job");
    assert!(before.done_ms.is_none(), "{before:?}");

    let member = |name: &str| {
        Arc::new(Cluster::new(
            Identity {
                name: name.to_string(),
                config: ConfigDigest {
                    hash: "0000000000000000".into(),
                    summary: String::new(),
                },
                lease_ttl: std::time::Duration::from_secs(600),
            },
            "127.0.0.1:0".into(),
            store.clone(),
        ))
    };
    let holder = member("holder");
    holder.beat().expect("holder joins");
    let other = member("other");
    other.beat().expect("other joins");
    assert!(holder.holds(JOBS), "the first member takes the jobs duty");
    assert!(!other.holds(JOBS), "the duty is held by one member only");
    let regrouper = |cluster: Arc<Cluster>| Regrouper {
        store: store.clone(),
        symbolicator: Arc::new(Symbolicator::load(store.clone()).expect("index")),
        payloads: Arc::new(
            lookout_server::payload::Payloads::load(
                store.clone(),
                lookout_server::payload::DictSettings {
                    samples: 0,
                    refresh: std::time::Duration::from_secs(3600),
                },
            )
            .expect("payloads"),
        ),
        clock: Arc::new(lookout_core::clock::SystemClock),
        window: std::time::Duration::from_secs(3600),
        max_events: 1000,
        wake: tokio::sync::Notify::new(),
        cluster,
        poll: std::time::Duration::from_secs(3600),
    };

    let on_other = regrouper(other);
    assert_eq!(on_other.round().expect("a round"), 0, "no event moved");
    assert!(
        on_other.symbolicator.has_bundle(saved[0].info.id),
        "the member without the duty has the bundle: only the duty keeps it from the job"
    );
    let after = store.get_regroup(job_id).unwrap().expect("the job");
    assert_eq!(
        (after.done_ms, after.after_event, after.scanned, after.moved),
        (None, before.after_event, 0, 0),
        "the member without the jobs duty touched the job: {after:?}"
    );

    let on_holder = regrouper(holder);
    assert_eq!(
        on_holder.round().expect("a round"),
        1,
        "the early error moved"
    );
    let done = store.get_regroup(job_id).unwrap().expect("the job");
    assert!(done.done_ms.is_some(), "{done:?}");
    assert_eq!((done.scanned, done.moved), (1, 1), "{done:?}");
}
