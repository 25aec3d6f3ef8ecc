//! `lookout deploy verify` recording the deploy on a running lookout server: release,
//! commit, times, each check and the verdict, as `GET /api/v1/deploys` then lists them;
//! a rollback with its steps and the checks after it; no secret of a PM2 app's
//! environment anywhere the server keeps; and `--watch --json` in GitHub Actions, whose
//! one JSON document carries the watch's verdict and the process's exit code.

mod common;
mod deploy_support;

use std::path::Path;
use std::time::Duration;

use deploy_support::{
    fake_pm2, git, lookout, repo_with_two_releases, run, spawn_until, with_path, App, Run,
    PM2_SECRET, PM2_SESSION_SECRET,
};

#[test]
fn verify_records_the_deploy_on_the_server_it_is_given() {
    let s = common::Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let app = App::start(&tmp.path().join("app"), "ok", Duration::ZERO);
    let verify = |extra: &[&str]| {
        run(lookout(tmp.path())
            .args(["--url", &s.url, "--token", common::TOKEN])
            .args(["deploy", "verify", "--health", &app.at("/api/health")])
            .args(extra))
    };
    let r = verify(&[
        "--release",
        "web@1.0.0",
        "--commit",
        "0123abc",
        "--deploy-name",
        "run 7",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("Recorded deploy #1 of web@1.0.0 to production (project app)"),
        "{}",
        r.all()
    );
    let (status, list) = s.get("/api/v1/deploys");
    assert_eq!(status, 200);
    let d = &list[0];
    assert_eq!(d["release"], "web@1.0.0", "{d}");
    assert_eq!(d["commit"], "0123abc");
    assert_eq!(d["name"], "run 7");
    assert_eq!(d["verdict"], "passed");
    assert_eq!(d["checks"][0]["kind"], "health");
    assert_eq!(d["checks"][0]["outcome"], "pass");
    assert!(d["dateFinished"].is_string());

    // A failed verification is recorded as failed, and its release is not watched.
    app.set_health("unhealthy");
    let r = verify(&[
        "--release",
        "web@1.0.1",
        "--environment",
        "staging",
        "--deadline",
        "1s",
    ]);
    assert_eq!(r.code, 1, "{}", r.all());
    let (_, list) = s.get("/api/v1/deploys?environment=staging");
    assert_eq!(list[0]["verdict"], "failed", "{list}");
    assert_eq!(list[0]["watch"], serde_json::Value::Null);

    // Without a release (no --release, no SENTRY_RELEASE, not a git checkout) or with a
    // project the server does not have, nothing is checked: bad usage.
    app.set_health("ok");
    let r = verify(&[]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("--release"), "{}", r.all());
    let r = verify(&["--release", "x", "--project", "nope"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("nope"), "{}", r.all());
    // SENTRY_RELEASE names the release, as the SDKs read it.
    let r = run(lookout(tmp.path())
        .env("LOOKOUT_URL", &s.url)
        .env("LOOKOUT_API_TOKEN", common::TOKEN)
        .env("SENTRY_RELEASE", "web@1.0.2")
        .args(["deploy", "verify", "--page", &app.at("/")]));
    assert_eq!(r.code, 0, "{}", r.all());
    let (_, list) = s.get("/api/v1/deploys?release=web@1.0.2");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // --watch needs the server.
    let r = run(lookout(tmp.path()).args([
        "deploy",
        "verify",
        "--page",
        &app.at("/"),
        "--watch",
        "1m",
    ]));
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("--watch"), "{}", r.all());
}

/// `--rollback-on-failure` against the server: the record says `rolled_back`, with the
/// steps as they ran (their output left out) and the checks after the rollback.
#[test]
fn a_rolled_back_deploy_is_recorded_with_its_steps_and_the_checks_after() {
    let s = common::Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let v1 = repo_with_two_releases(&tmp.path().join("repo"));
    let app = App::start(&tmp.path().join("app"), "unhealthy", Duration::ZERO);
    std::fs::write(
        tmp.path().join("lookout.toml"),
        format!(
            "[deploy]\ndeadline = \"2s\"\ndir = \"repo\"\n\n[[deploy.checks]]\nkind = \"health\"\nurl = \"{}\"\n\n\
             [deploy.rollback]\ntimeout = \"30s\"\nsteps = [\"git reset --hard {{commit}}\", \"printf 'step-%s\\\\n' printed; echo ok > ../app/health\"]\n",
            app.at("/api/health")
        ),
    )
    .unwrap();
    let r = run(lookout(tmp.path())
        .args(["--url", &s.url, "--token", common::TOKEN])
        .args([
            "deploy",
            "verify",
            "--rollback-on-failure",
            "--release",
            "web@2.0.0",
        ]));
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(git(&tmp.path().join("repo"), &["rev-parse", "HEAD"]), v1);
    // The step's output (which its command line does not hold) is streamed, not recorded.
    assert!(r.stdout.contains("step-printed"), "{}", r.all());
    let (status, list) = s.get("/api/v1/deploys?release=web@2.0.0");
    assert_eq!(status, 200);
    let d = &list[0];
    assert_eq!(d["verdict"], "rolled_back", "{d}");
    assert_eq!(d["checks"][0]["kind"], "health", "{d}");
    assert_eq!(d["checks"][0]["outcome"], "fail", "{d}");
    let rb = &d["rollback"];
    assert_eq!(rb["to"], "HEAD~1", "{d}");
    let steps = rb["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{d}");
    assert_eq!(steps[0]["command"], "git reset --hard HEAD~1", "{d}");
    for step in steps {
        assert_eq!(step["outcome"], "ok", "{d}");
        assert_eq!(step["exit_code"], 0, "{d}");
    }
    let after = rb["checks_after"].as_array().unwrap();
    assert_eq!(after.len(), 1, "{d}");
    assert_eq!(after[0]["kind"], "health", "{d}");
    assert_eq!(after[0]["outcome"], "pass", "{d}");
    // A rolled-back release no longer serves: it is not watched.
    assert_eq!(d["watch"], serde_json::Value::Null, "{d}");
    assert!(
        !d.to_string().contains("step-printed"),
        "a step's output is not recorded: {d}"
    );
}

/// Every file under `dir` (the server's config, database and its journals), as bytes.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A `--pm2` verify recorded on the server: the PM2 apps' environment, which `pm2 jlist`
/// prints with its secrets, is in neither the output, the record nor any file of the
/// server's data directory.
#[test]
fn a_pm2_verify_stores_no_secret_of_the_apps_environment() {
    let s = common::Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    fake_pm2(&bin, "online", 2);
    let mut cmd = lookout(tmp.path());
    with_path(&mut cmd, &bin);
    let r = run(cmd.args(["--url", &s.url, "--token", common::TOKEN]).args([
        "deploy",
        "verify",
        "--pm2",
        "web",
        "--pm2-watch",
        "300ms",
        "--release",
        "web@pm2-scan",
    ]));
    assert_eq!(r.code, 0, "{}", r.all());
    let (_, list) = s.get("/api/v1/deploys?release=web@pm2-scan");
    let d = &list[0];
    assert_eq!(d["checks"][0]["kind"], "pm2", "{d}");
    assert_eq!(d["checks"][0]["outcome"], "pass", "{d}");
    let summary = d["checks"][0]["summary"].as_str().unwrap().to_string();
    assert!(!summary.is_empty(), "{d}");
    for secret in [PM2_SECRET, PM2_SESSION_SECRET] {
        assert!(
            !r.all().contains(secret),
            "secret in the output:\n{}",
            r.all()
        );
        assert!(!d.to_string().contains(secret), "secret in the record: {d}");
    }
    // The record's own text is in the files (so the scan sees what is stored, in the
    // database or its write-ahead log); the secrets are not.
    let files = files_under(&s.dir);
    assert!(
        files.iter().any(|(_, b)| contains(b, "web@pm2-scan")),
        "the record is not in any file under {}",
        s.dir.display()
    );
    for (path, bytes) in &files {
        for secret in [PM2_SECRET, PM2_SESSION_SECRET] {
            assert!(
                !contains(bytes, secret),
                "a secret of the PM2 environment is stored in {}",
                path.display()
            );
        }
    }
}

/// Sends one error of `release`, as an SDK's envelope: a new issue of the release.
fn send_error(s: &common::Server, release: &str) {
    let event = serde_json::json!({
        "event_id": uuid::Uuid::new_v4().simple().to_string(),
        "level": "error", "platform": "python",
        "release": release, "environment": "production",
        "exception": {"values": [{"type": "KeyError", "value": "price",
            "stacktrace": {"frames": [{"module": "shop.cart", "function": "total", "in_app": true}]}}]}
    });
    s.envelope("event", &event);
}

/// stdout as exactly one JSON document: serde_json refuses anything after it.
fn one_document(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", r.all()))
}

/// `deploy verify --watch --json` as a GitHub Actions step: stdout is one JSON document
/// that waits for the watch, with the checks' verdict, the watch's (verdict, reasons,
/// figures) and the process's exit code, which `exit-code` in `$GITHUB_OUTPUT` repeats;
/// the annotation goes to stderr. A release with a new issue in the window is bad (exit
/// 1), a quiet one good (exit 0), and a record the server refuses ends the run with its
/// exit code (3) and the reason in the document.
#[test]
fn watch_with_json_is_one_document_with_the_watch_verdict_and_the_real_exit_code() {
    let s = common::Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let app = App::start(&tmp.path().join("app"), "ok", Duration::ZERO);
    // Each run has its own step files, under `step`.
    let verify = |release: &str, step: &str| {
        let gh = tmp.path().join(step);
        std::fs::create_dir_all(&gh).unwrap();
        let mut cmd = lookout(tmp.path());
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", gh.join("output"))
            .env("GITHUB_STEP_SUMMARY", gh.join("summary.md"))
            .args(["--url", &s.url, "--token", common::TOKEN])
            .args(["deploy", "verify", "--page", &app.at("/"), "--json"])
            .args(["--release", release, "--watch", "4s"]);
        (cmd, gh)
    };
    let read = |gh: &Path, name: &str| std::fs::read_to_string(gh.join(name)).unwrap_or_default();

    // Bad: an error of a new issue comes in during the window.
    let (mut cmd, gh) = verify("web@3.0.0", "bad");
    let running = spawn_until(&mut cmd, "Recorded deploy #", true);
    send_error(&s, "web@3.0.0");
    let r = running.wait();
    assert_eq!(r.code, 1, "{}", r.all());
    let j = one_document(&r);
    assert_eq!(j["exit_code"], r.code, "{j}");
    assert_eq!(j["verdict"], "passed", "the checks' verdict: {j}");
    assert_eq!(j["watch"]["verdict"], "bad", "{j}");
    assert!(
        j["watch"]["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("new issue")),
        "{j}"
    );
    assert_eq!(j["watch"]["figures"]["new_issues"], 1, "{j}");
    let (_, list) = s.get("/api/v1/deploys?release=web@3.0.0");
    assert_eq!(j["deploy_id"], list[0]["id"], "{list}");
    assert!(
        r.stderr
            .contains("::error title=Release watch::The release looks BAD after the deploy: "),
        "{}",
        r.all()
    );
    let output = read(&gh, "output");
    assert!(
        output.starts_with("verdict=passed\nexit-code=1\n")
            && output.ends_with("watch_verdict=bad\n"),
        "{output}"
    );
    assert!(
        read(&gh, "summary.md").trim_end().ends_with("Exit code 1."),
        "{}",
        read(&gh, "summary.md")
    );

    // Good: nothing comes in.
    let (mut cmd, gh) = verify("web@3.0.1", "good");
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = one_document(&r);
    assert_eq!(j["exit_code"], 0, "{j}");
    assert_eq!(j["watch"]["verdict"], "good", "{j}");
    assert_eq!(j["watch"]["reasons"], serde_json::json!([]), "{j}");
    assert!(!r.stderr.contains("::error"), "{}", r.all());
    let output = read(&gh, "output");
    assert!(
        output.starts_with("verdict=passed\nexit-code=0\n")
            && output.ends_with("watch_verdict=good\n"),
        "{output}"
    );

    // The server refuses the record (a release over 200 characters) after the checks
    // passed: no watch, the run's exit code 3 in the document and the outputs.
    let long = "w".repeat(201);
    let (mut cmd, gh) = verify(&long, "refused");
    let r = run(&mut cmd);
    assert_eq!(r.code, 3, "{}", r.all());
    let j = one_document(&r);
    assert_eq!(j["exit_code"], 3, "{j}");
    assert_eq!(j["verdict"], "passed", "{j}");
    assert!(j.get("watch").is_none(), "{j}");
    assert!(
        j["error"]
            .as_str()
            .is_some_and(|e| e.contains("release: longer than 200 characters")),
        "{j}"
    );
    assert!(r.stderr.contains("longer than 200"), "{}", r.all());
    let output = read(&gh, "output");
    assert!(
        output.starts_with("verdict=passed\nexit-code=3\n"),
        "{output}"
    );
    assert!(!output.contains("watch_verdict"), "{output}");
}
