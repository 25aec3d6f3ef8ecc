//! The real `sentry-cli` (from npm) against the real server: token check, releases with
//! commits, source map uploads with debug ids and bound to a release; then a real
//! `@sentry/node` error thrown from a bundle that esbuild minified arrives with the
//! original file, line, function and source context, and two builds of the same code with
//! different chunk names make one issue. Bad uploads get clear errors and leave nothing;
//! an upload for two projects is stored for both or, when the database fails, for neither.
//!
//! Switched on by `LOOKOUT_TEST_SENTRY_CLI=1`, after `npm ci --prefix tests/sdk/cli`.

#[path = "../../../tests/sdk/checks.rs"]
mod checks;
mod common;
mod sentry_cli_support;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use checks::*;
use common::{Server, TOKEN};
use sentry_cli_support::*;
use serde_json::Value;

#[test]
fn sentry_cli_releases_and_source_maps() {
    // sentry-cli sends a `--commit` range only for a repository the organisation has.
    let s = Server::start_with("[releases]\nrepositories = [\"acme/app\"]\n");
    let Some(cli) = Cli::new(&s) else { return };
    let work = tempfile::tempdir().unwrap();

    // Token check.
    let info = cli.ok(&["info"], None);
    assert!(info.contains("project:releases"), "{info}");

    // Releases: new, commits from a local repository, finalize, list, info.
    let repo = work.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=Ada", "-c", "user.email=ada@example.org"])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "first"]);
    git(&["commit", "-q", "--allow-empty", "-m", "fix the checkout"]);
    let head = git(&["rev-parse", "HEAD"]);
    cli.ok(&["releases", "new", "1.0.0"], None);
    cli.ok(
        &["releases", "set-commits", "1.0.0", "--local"],
        Some(&repo),
    );
    cli.ok(&["releases", "finalize", "1.0.0"], None);
    let list = cli.ok(&["releases", "list"], None);
    assert!(list.contains("1.0.0"), "{list}");
    cli.ok(&["releases", "info", "1.0.0"], None);
    // A deploy recorded by sentry-cli is one of lookout's deploy records.
    cli.ok(
        &[
            "releases",
            "deploys",
            "1.0.0",
            "new",
            "-e",
            "production",
            "-n",
            "ci-42",
        ],
        None,
    );
    let deploys = cli.ok(&["releases", "deploys", "1.0.0", "list"], None);
    assert!(deploys.contains("production"), "{deploys}");
    // The release as Sentry describes it counts its deploys and names the last.
    let (status, r) = s.get("/api/0/organizations/acme/releases/1.0.0/");
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["deployCount"], 1, "{r}");
    assert_eq!(
        (&r["lastDeploy"]["environment"], &r["lastDeploy"]["name"]),
        (&"production".into(), &"ci-42".into()),
        "{r}"
    );
    let (_, r) = s.get("/api/0/organizations/acme/releases/2.0.0/");
    assert_eq!(
        r["detail"].as_str().map(|d| d.contains("no release")),
        Some(true),
        "{r}"
    );
    let (status, d) = s.get("/api/v1/deploys?project=app");
    assert_eq!(status, 200, "{d}");
    let d = d
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .expect("a deploy");
    assert_eq!(
        (&d["release"], &d["environment"], &d["name"]),
        (&"1.0.0".into(), &"production".into(), &"ci-42".into()),
        "{d}"
    );
    let (status, r) = s.get("/api/v1/projects/app/releases/1.0.0");
    assert_eq!(status, 200, "{r}");
    assert!(r["released"].is_string(), "finalized: {r}");
    assert_eq!(r["commits"][0]["sha"], head.as_str(), "{r}");
    assert_eq!(r["commits"][0]["message"], "fix the checkout\n", "{r}");
    assert_eq!(r["commit_count"], 2, "{r}");
    // A commit range, as pipelines give it.
    let first = git(&["rev-parse", "HEAD~1"]);
    cli.ok(
        &[
            "releases",
            "set-commits",
            "1.0.0",
            "--commit",
            &format!("acme/app@{first}..{head}"),
        ],
        Some(&repo),
    );
    let (_, r) = s.get("/api/v1/projects/app/releases/1.0.0");
    assert_eq!(
        r["refs"],
        serde_json::json!([{"repository": "acme/app", "commit": head, "previous_commit": first}]),
        "the range is kept: {r}"
    );
    // A single commit is a ref without a previous one, replacing the range.
    cli.ok(
        &[
            "releases",
            "set-commits",
            "1.0.0",
            "--commit",
            &format!("acme/app@{head}"),
        ],
        Some(&repo),
    );
    let (_, r) = s.get("/api/v1/projects/app/releases/1.0.0");
    assert_eq!(
        r["refs"],
        serde_json::json!([{"repository": "acme/app", "commit": head, "previous_commit": null}]),
        "{r}"
    );
    assert_eq!(r["commit_count"], 2, "the --local commits stay: {r}");

    // Build A with debug ids, uploaded; an error from it comes back mapped.
    let build_a = work.path().join("a");
    let bundle_a = cli.build(&build_a, "chunk-3f9a1c", "/* build a */");
    cli.ok(&["sourcemaps", "inject", build_a.to_str().unwrap()], None);
    let up = cli.ok(&["sourcemaps", "upload", build_a.to_str().unwrap()], None);
    assert!(up.contains("debug id"), "{up}");
    let (_, bundles) = s.get("/api/v1/projects/app/artifact-bundles");
    assert_eq!(bundles.as_array().unwrap().len(), 1, "{bundles}");

    let event_a = cli.run_bundle(&bundle_a, &s.local_dsn(), "1.0.0");
    let issue_a = issue_of_event(&s, &event_a);
    let e = event_of(&s, &event_a);
    let top = top_frame(&e);
    assert_eq!(top["filename"], "src/checkout.js", "{top}");
    assert_eq!(top["function"], "checkout", "{top}");
    assert_eq!(top["lineno"], 9, "{top}");
    assert!(
        top["context_line"]
            .as_str()
            .unwrap_or_default()
            .contains("throw new Error(\"cart is empty\")"),
        "{top}"
    );
    assert_eq!(
        top["pre_context"].as_array().map(Vec::len),
        Some(5),
        "{top}"
    );
    assert_eq!(top["data"]["resolved_with"], "debug-id", "{top}");
    // The minified frame stays available.
    let raw = stacktrace(&e)["raw_frames"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let raw_top = raw.last().expect("raw frames kept");
    assert!(
        raw_top["filename"]
            .as_str()
            .unwrap_or_default()
            .ends_with("chunk-3f9a1c.js")
            || raw_top["abs_path"]
                .as_str()
                .unwrap_or_default()
                .ends_with("chunk-3f9a1c.js"),
        "{raw_top}"
    );
    let issue = issue(&s, issue_a);
    assert!(
        issue["culprit"]
            .as_str()
            .unwrap_or_default()
            .contains("checkout"),
        "the issue names the original code: {issue}"
    );

    // Build B: the same code, another chunk name, shifted columns. One issue.
    let build_b = work.path().join("b");
    let bundle_b = cli.build(&build_b, "chunk-77e0b2", "/* build b, which is longer */");
    cli.ok(&["sourcemaps", "inject", build_b.to_str().unwrap()], None);
    cli.ok(&["sourcemaps", "upload", build_b.to_str().unwrap()], None);
    let event_b = cli.run_bundle(&bundle_b, &s.local_dsn(), "1.0.1");
    assert_eq!(
        issue_of_event(&s, &event_b),
        issue_a,
        "two builds of the same code must make one issue"
    );

    // The release-bound form: no debug ids, found by release and file name.
    let build_c = work.path().join("c");
    let bundle_c = cli.build(&build_c, "chunk-c0ffee", "/* build c */");
    cli.ok(&["releases", "new", "2.0.0"], None);
    cli.ok(
        &[
            "sourcemaps",
            "upload",
            "--release",
            "2.0.0",
            build_c.to_str().unwrap(),
        ],
        None,
    );
    let event_c = cli.run_bundle(&bundle_c, &s.local_dsn(), "2.0.0");
    let issue_c = issue_of_event(&s, &event_c);
    assert_eq!(issue_c, issue_a, "release-bound maps group the same way");
    let top = top_frame(&event_of(&s, &event_c));
    assert_eq!(top["function"], "checkout", "{top}");
    assert_eq!(top["data"]["resolved_with"], "release", "{top}");

    // Without any map, the error stays minified (and is another issue): proof that the
    // mapping above came from the uploads.
    let build_d = work.path().join("d");
    let bundle_d = cli.build(&build_d, "chunk-d00d", "/* build d */");
    let event_d = cli.run_bundle(&bundle_d, &s.local_dsn(), "3.0.0");
    let issue_d = issue_of_event(&s, &event_d);
    let top = top_frame(&event_of(&s, &event_d));
    assert!(top["data"]["symbolicated"].is_null(), "{top}");
    assert_ne!(issue_d, issue_a);
}

#[test]
fn bad_uploads_are_refused_and_leave_nothing() {
    let s = Server::start_with("[sourcemaps]\nmax_bundle_bytes = 200000\n");
    let Some(cli) = Cli::new(&s) else { return };
    let work = tempfile::tempdir().unwrap();

    // A source map that is not JSON: sentry-cli uploads it, lookout refuses the bundle
    // and sentry-cli says why.
    let bad = work.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("x.js"),
        "function a(){throw new Error('x')}a();\n//# sourceMappingURL=x.js.map\n",
    )
    .unwrap();
    std::fs::write(bad.join("x.js.map"), "{this is not json").unwrap();
    let out = cli.run(
        &[
            "sourcemaps",
            "upload",
            "--release",
            "9.9.9",
            bad.to_str().unwrap(),
        ],
        None,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, bundles) = s.get("/api/v1/projects/app/artifact-bundles");
    assert_eq!(bundles, serde_json::json!([]), "nothing stored: {text}");
    assert!(
        text.contains("not a valid source map"),
        "sentry-cli must report the refusal: {text}"
    );

    // Over the limit.
    let big = work.path().join("big");
    std::fs::create_dir_all(&big).unwrap();
    let mut f = std::fs::File::create(big.join("big.js")).unwrap();
    for i in 0..20_000 {
        writeln!(f, "var v{i} = {:?};", format!("{i:x}{i:o}{i}")).unwrap();
    }
    let out = cli.run(
        &[
            "sourcemaps",
            "upload",
            "--release",
            "9.9.9",
            big.to_str().unwrap(),
        ],
        None,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "an upload over the limit fails: {text}"
    );
    // The bundle is small once zipped, so sentry-cli sends it; the server refuses it for
    // what a file unpacks to, and sentry-cli prints that.
    assert!(
        text.contains("Failed to process uploaded files")
            && text.contains("over the limit of 200000 bytes"),
        "sentry-cli prints the server's refusal: {text}"
    );
    let (_, bundles) = s.get("/api/v1/projects/app/artifact-bundles");
    assert_eq!(bundles, serde_json::json!([]));

    // By hand: a chunk whose name is not its checksum, a truncated gzip chunk, and an
    // assemble whose chunks do not make the checksum named.
    let url = format!("{}/api/0/organizations/acme/chunk-upload/", s.url);
    let post_chunk = |field: &str, name: &str, body: &[u8]| -> (u16, Value) {
        let boundary = "XyZlookoutBoundary";
        let mut form = Vec::new();
        form.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        form.extend_from_slice(body);
        form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let resp = ureq::post(&url)
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .header(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .config()
            .http_status_as_error(false)
            .build()
            .send(&form[..])
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.into_body().read_to_string().unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, body)
    };
    let data = b"hello chunk";
    let sum = sha1_hex(data);
    let (status, body) = post_chunk("file", "0000000000000000000000000000000000000000", data);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("checksum mismatch"),
        "{body}"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    let gz = gz.finish().unwrap();
    let (status, body) = post_chunk("file_gzip", &sum, &gz[..gz.len() / 2]);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("not valid gzip"),
        "{body}"
    );
    let (status, body) = post_chunk("file_gzip", &sum, &gz);
    assert_eq!(status, 200, "{body}");

    let assemble = |checksum: &str| {
        s.send(
            "POST",
            "/api/0/organizations/acme/artifactbundle/assemble/",
            &serde_json::json!({"checksum": checksum, "chunks": [sum], "projects": ["app"]}),
        )
    };
    let (status, body) = assemble("1111111111111111111111111111111111111111");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "error", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("checksum mismatch"),
        "{body}"
    );
    // The refused upload's chunk is gone: assembling again asks for it.
    let (_, body) = assemble(&sum);
    assert_eq!(body["state"], "not_found", "{body}");
    assert_eq!(body["missingChunks"], serde_json::json!([sum]), "{body}");

    // Unknown endpoints say so.
    let (status, body) = s.get("/api/0/organizations/acme/members/");
    assert_eq!(status, 404);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("does not implement GET /api/0/organizations/acme/members/"),
        "{body}"
    );
    // And nothing without the token.
    let status = ureq::get(&format!("{}/api/0/", s.url))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
}

fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(data))
}

/// An error that arrives before its build's source maps stays minified, in an issue of its
/// own; when the maps are uploaded, the background regroup maps its frames and moves it into
/// the issue the same bug already has, and the minified issue redirects there.
#[test]
fn events_before_their_maps_are_regrouped() {
    let s = Server::start();
    let Some(cli) = Cli::new(&s) else { return };
    let work = tempfile::tempdir().unwrap();

    // Build A: debug ids injected, maps not uploaded yet.
    let build_a = work.path().join("a");
    let bundle_a = cli.build(&build_a, "chunk-early1", "/* build a */");
    cli.ok(&["sourcemaps", "inject", build_a.to_str().unwrap()], None);
    let event_a = cli.run_bundle(&bundle_a, &s.local_dsn(), "1.0.0");
    let minified_issue = issue_of_event(&s, &event_a);
    let top = top_frame(&event_of(&s, &event_a));
    assert!(top["data"]["symbolicated"].is_null(), "{top}");

    // Build B of the same code, uploaded first: its error is mapped at ingest.
    let build_b = work.path().join("b");
    let bundle_b = cli.build(&build_b, "chunk-later2", "/* build b, which is longer */");
    cli.ok(&["sourcemaps", "inject", build_b.to_str().unwrap()], None);
    cli.ok(&["sourcemaps", "upload", build_b.to_str().unwrap()], None);
    let event_b = cli.run_bundle(&bundle_b, &s.local_dsn(), "1.0.1");
    let mapped_issue = issue_of_event(&s, &event_b);
    assert_ne!(minified_issue, mapped_issue);

    // A's maps arrive: its event moves into the mapped issue, with mapped frames.
    cli.ok(&["sourcemaps", "upload", build_a.to_str().unwrap()], None);
    let uploaded = std::time::Instant::now();
    s.wait_for(
        "the early event to be regrouped",
        Duration::from_secs(30),
        || (issue_of_event(&s, &event_a) == mapped_issue).then_some(()),
    );
    eprintln!(
        "regrouped {:?} after sentry-cli finished the upload",
        uploaded.elapsed()
    );
    let e = event_of(&s, &event_a);
    let top = top_frame(&e);
    assert_eq!(top["filename"], "src/checkout.js", "{top}");
    assert_eq!(top["function"], "checkout", "{top}");
    assert_eq!(top["data"]["resolved_with"], "debug-id", "{top}");
    assert!(
        stacktrace(&e)["raw_frames"].as_array().is_some(),
        "the minified frames stay: {e}"
    );
    let merged = issue(&s, mapped_issue);
    assert_eq!(merged["count"], 2, "{merged}");

    // One issue left; the minified one's address redirects to it.
    let ids: Vec<i64> = s
        .issues("")
        .iter()
        .filter_map(|i| i["id"].as_i64())
        .collect();
    assert_eq!(ids, [mapped_issue]);
    let resp = ureq::get(&format!("{}/api/v1/issues/{minified_issue}", s.url))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .config()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 308);
    assert_eq!(
        resp.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/issues/{mapped_issue}").as_str())
    );
}

/// GETs a path of the server with a bearer token; status and JSON body.
fn get_as(s: &Server, token: &str, path: &str) -> (u16, Value) {
    let resp = ureq::get(&format!("{}{path}", s.url))
        .header("Authorization", &format!("Bearer {token}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A token made with `lookout user token --project app` reaches project `app` through
/// sentry-cli and the JSON API, and gets a 403 that sentry-cli prints for project `other`.
#[test]
fn a_token_for_one_project_reaches_only_that_project() {
    let s = Server::start_with(
        "\n[[projects]]\nslug = \"other\"\nid = 8\npublic_key = \"0f1e2d3c4b5a69788796a5b4c3d2e1f0\"\n",
    );
    let Some(cli) = Cli::new(&s) else { return };
    let config = s.dir.join("lookout.toml");
    let out = common::lookout()
        .args(["user", "create", "ci@example.org", "--config"])
        .arg(&config)
        .env("LOOKOUT_PASSWORD", "a long enough password")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let bad = common::lookout()
        .args([
            "user",
            "token",
            "ci@example.org",
            "--name",
            "x",
            "--scope",
            "read",
        ])
        .args(["--project", "nope", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3), "a usage error: {bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--project nope: no such project"),
        "{bad:?}"
    );
    let out = common::lookout()
        .args(["user", "token", "ci@example.org", "--name", "ci-app"])
        .args([
            "--scope",
            "project:releases",
            "--project",
            "app",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{out:?}");
    let token = printed
        .lines()
        .find_map(|l| l.strip_prefix("Token (shown once): "))
        .unwrap_or_else(|| panic!("{printed}"))
        .trim()
        .to_string();

    // Project `other` has a release made with the server's token.
    cli.as_token(TOKEN, "other")
        .ok(&["releases", "new", "other-1.0"], None);

    let app = cli.as_token(&token, "app");
    let info = app.ok(&["info"], None);
    assert!(info.contains("projects app"), "{info}");
    app.ok(&["releases", "new", "app-1.0"], None);
    let list = app.ok(&["releases", "list"], None);
    assert!(list.contains("app-1.0"), "{list}");
    assert!(
        !list.contains("other-1.0"),
        "another project's release: {list}"
    );

    // Project `other` is refused, and sentry-cli says why.
    let other = cli.as_token(&token, "other");
    let out = other.run(&["releases", "new", "other-2.0"], None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("may not reach project `other`"),
        "sentry-cli prints the reason: {text}"
    );
    let work = tempfile::tempdir().unwrap();
    let build = work.path().join("a");
    cli.build(&build, "chunk-token1", "/* token build */");
    cli.ok(&["sourcemaps", "inject", build.to_str().unwrap()], None);
    let out = other.run(&["sourcemaps", "upload", build.to_str().unwrap()], None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("may not reach project `other`"), "{text}");
    let (_, bundles) = s.get("/api/v1/projects/other/artifact-bundles");
    assert_eq!(bundles, serde_json::json!([]), "nothing stored for other");
    app.ok(&["sourcemaps", "upload", build.to_str().unwrap()], None);
    let (_, bundles) = s.get("/api/v1/projects/app/artifact-bundles");
    assert_eq!(bundles.as_array().map(Vec::len), Some(1), "{bundles}");

    // The JSON API: the project list holds only `app`; `other` and what belongs to no
    // single project are refused.
    let (status, projects) = get_as(&s, &token, "/api/v1/projects");
    assert_eq!(status, 200, "{projects}");
    let slugs: Vec<&str> = projects
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["slug"].as_str())
        .collect();
    assert_eq!(slugs, ["app"]);
    let (status, _) = get_as(&s, &token, "/api/v1/projects/app/issues");
    assert_eq!(status, 200);
    for path in [
        "/api/v1/projects/other/issues",
        "/api/v1/projects/8",
        "/api/v1/monitors",
    ] {
        let (status, body) = get_as(&s, &token, path);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("ci-app"),
            "{body}"
        );
    }
    let (status, deploys) = get_as(&s, &token, "/api/v1/deploys?project=other");
    assert_eq!(status, 403, "{deploys}");
}

/// The Sentry bundler plugin for esbuild (what `@sentry/esbuild-plugin` ships) uploads
/// the maps of the build it runs in, through the `sentry` CLI it drives: lookout stores
/// them (with no release, as none was given) and the errors of that build arrive mapped.
#[test]
fn the_esbuild_plugin_uploads_and_errors_arrive_mapped() {
    let s = Server::start();
    let Some(cli) = Cli::new(&s) else { return };
    let work = tempfile::tempdir().unwrap();
    let bundle = cli.build_with_plugin(&work.path().join("out"));

    let (_, bundles) = s.get("/api/v1/projects/app/artifact-bundles");
    let bundles = bundles.as_array().cloned().unwrap_or_default();
    assert_eq!(bundles.len(), 1, "{bundles:?}");
    assert!(bundles[0]["release"].is_null(), "{bundles:?}");
    let (_, releases) = s.get("/api/v1/projects/app/releases");
    assert_eq!(
        releases,
        serde_json::json!([]),
        "no release named \"undefined\""
    );

    let event = cli.run_bundle(&bundle, &s.local_dsn(), "1.0.0");
    issue_of_event(&s, &event);
    let top = top_frame(&event_of(&s, &event));
    assert_eq!(top["filename"], "src/checkout.js", "{top}");
    assert_eq!(top["function"], "checkout", "{top}");
    assert_eq!(top["data"]["resolved_with"], "debug-id", "{top}");
}

/// One upload for two projects (`-p app -p other`) is stored for both or for neither.
/// The database refuses the second bundle row of the upload (a trigger that allows one
/// bundle per checksum, standing in for a full disk or a broken constraint), whichever
/// project sentry-cli names first: the first project's bundle, release and regroup job go
/// too. Once the database takes it, the same upload lands in both.
#[test]
fn an_upload_for_two_projects_is_stored_for_both_or_neither() {
    let s = Server::start_with(
        "\n[[projects]]\nslug = \"other\"\nid = 8\npublic_key = \"0f1e2d3c4b5a69788796a5b4c3d2e1f0\"\n",
    );
    let Some(cli) = Cli::new(&s) else { return };
    let work = tempfile::tempdir().unwrap();
    let build = work.path().join("both");
    cli.build(&build, "chunk-b0th01", "/* one build, two projects */");
    cli.ok(&["sourcemaps", "inject", build.to_str().unwrap()], None);
    let upload = [
        "sourcemaps",
        "upload",
        "--release",
        "4.0.0",
        "-p",
        "app",
        "-p",
        "other",
        build.to_str().unwrap(),
    ];
    let bundles = |project: &str| -> Vec<Value> {
        let (status, list) = s.get(&format!("/api/v1/projects/{project}/artifact-bundles"));
        assert_eq!(status, 200, "{list}");
        list.as_array().cloned().unwrap_or_default()
    };

    let db = rusqlite::Connection::open(s.dir.join("data").join("lookout.db")).unwrap();
    db.busy_timeout(Duration::from_secs(30)).unwrap();
    db.execute_batch(
        "CREATE TRIGGER one_bundle_per_checksum BEFORE INSERT ON artifact_bundles
         WHEN EXISTS (SELECT 1 FROM artifact_bundles WHERE checksum = NEW.checksum)
         BEGIN SELECT RAISE(ABORT, 'one bundle per checksum'); END;",
    )
    .unwrap();
    let out = cli.run(&upload, None);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the upload must fail: {text}");
    assert_eq!(
        (bundles("app"), bundles("other")),
        (vec![], vec![]),
        "a failed upload for two projects left a bundle behind: {text}"
    );
    for project in ["app", "other"] {
        let (status, body) = s.get(&format!("/api/v1/projects/{project}/releases/4.0.0"));
        assert_eq!(status, 404, "{project}'s release was kept: {body}");
    }
    // A database failure is no refusal of the bundle: its chunks stay for the next run.
    let chunks: i64 = db
        .query_row("SELECT COUNT(*) FROM upload_chunks", [], |r| r.get(0))
        .unwrap();
    assert!(chunks > 0, "the chunks of the failed upload are gone");

    db.execute_batch("DROP TRIGGER one_bundle_per_checksum")
        .unwrap();
    cli.ok(&upload, None);
    let (app, other) = (bundles("app"), bundles("other"));
    assert_eq!((app.len(), other.len()), (1, 1), "{app:?} {other:?}");
    assert_eq!(app[0]["checksum"], other[0]["checksum"]);
    assert_eq!(app[0]["release"], "4.0.0", "{app:?}");
}
