//! `lookout deploy verify` recording the deploy on a running lookout server: release,
//! commit, times, each check and the verdict, as `GET /api/v1/deploys` then lists them.

mod common;
mod deploy_support;

use std::time::Duration;

use deploy_support::{lookout, run, App};

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
