//! `lookout deploy verify` as a pipeline runs it: the real binary against a real app on
//! loopback that boots slowly, then serves a healthy, degraded, unhealthy or broken health
//! document and fails a page.

mod common;
mod deploy_support;

use std::time::Duration;

use std::path::Path;

use deploy_support::{lookout, run, App, Run};

/// `lookout deploy verify ARGS` in `dir`.
fn verify(dir: &Path, args: &[&str]) -> Run {
    run(lookout(dir).arg("deploy").arg("verify").args(args))
}

fn app(health: &str) -> (tempfile::TempDir, App) {
    let tmp = tempfile::tempdir().unwrap();
    let app = App::start(&tmp.path().join("app"), health, Duration::ZERO);
    (tmp, app)
}

#[test]
fn a_slow_boot_is_waited_for_without_waiting_for_the_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let app = App::start(&tmp.path().join("app"), "ok", Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let r = verify(
        tmp.path(),
        &[
            "--health",
            &app.at("/api/health"),
            "--page",
            &app.at("/"),
            "--page",
            &app.at("/signup"),
            "--deadline",
            "30s",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(started.elapsed() < Duration::from_secs(20), "{}", r.all());
    let report = r.json();
    assert_eq!(report["verdict"], "passed");
    assert_eq!(report["exit_code"], 0);
    let health = &report["verify"]["checks"][0];
    assert_eq!(health["kind"], "health");
    assert_eq!(health["outcome"], "pass");
    assert!(health["attempts"].as_u64().unwrap() >= 2, "{health}");
    assert!(health["duration_ms"].as_u64().unwrap() >= 1400, "{health}");
    assert!(
        health["summary"]
            .as_str()
            .unwrap()
            .contains("health document: 2 check(s), 0 not ok"),
        "{health}"
    );
    assert_eq!(report["verify"]["checks"][2]["target"], app.at("/signup"));
    // Progress goes to stderr, so stdout stays one JSON document.
    assert!(r.stderr.contains("Verifying 3 checks"), "{}", r.all());
}

#[test]
fn degraded_health_passes_with_a_warning_naming_the_sub_check() {
    let (tmp, app) = app("degraded");
    let r = verify(tmp.path(), &["--health", &app.at("/api/health")]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("WARN  health http://127.0.0.1:")
            && r.stdout
                .contains("health is degraded: database (degraded, latency 850 ms)"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout
            .contains("PASSED: all 1 checks held (1 with a warning)"),
        "{}",
        r.all()
    );
}

#[test]
fn unhealthy_health_fails_at_the_deadline_naming_the_sub_check() {
    let (tmp, app) = app("unhealthy");
    let started = std::time::Instant::now();
    let r = verify(
        tmp.path(),
        &["--health", &app.at("/api/health"), "--deadline", "2s"],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert!(
        r.stdout.contains("FAIL  health http://127.0.0.1:")
            && r.stdout
                .contains("health is unhealthy: database (unhealthy, connection refused)"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains(" attempts]"), "retried: {}", r.all());
    assert!(
        r.stdout.contains(&format!(
            "FAILED: 1 of 1 check failed: health {} (exit 1)",
            app.at("/api/health")
        )),
        "{}",
        r.all()
    );
}

/// The `application/health+json` draft through `deploy verify`: pass passes, warn passes
/// with a warning naming the component, fail (with a 503) fails naming it.
#[test]
fn health_json_documents_are_read_pass_warn_and_fail() {
    let (tmp, app) = app("pass");
    let url = app.at("/api/health");
    let r = verify(tmp.path(), &["--health", &url, "--json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let check = &r.json()["verify"]["checks"][0];
    assert_eq!(check["kind"], "health", "{check}");
    assert_eq!(check["outcome"], "pass", "{check}");

    app.set_health("warn");
    let r = verify(tmp.path(), &["--health", &url]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("WARN  health http://127.0.0.1:")
            && r.stdout
                .contains("health is degraded: db:responseTime[primary] (warn, observed 850 ms)"),
        "{}",
        r.all()
    );
    assert!(
        !r.stdout.contains("memory:utilization"),
        "a passing component is not named: {}",
        r.all()
    );

    app.set_health("fail");
    let r = verify(
        tmp.path(),
        &["--health", &url, "--deadline", "1s", "--json"],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    let check = &r.json()["verify"]["checks"][0];
    assert_eq!(check["outcome"], "fail", "{check}");
    let summary = check["summary"].as_str().unwrap();
    assert!(
        summary.contains("db:responseTime[primary] (fail")
            && summary.contains("connection refused"),
        "{check}"
    );
}

#[test]
fn a_body_that_is_not_a_health_document_fails_unless_only_the_status_counts() {
    let (tmp, app) = app("garbage");
    let url = app.at("/api/health");
    let r = verify(tmp.path(), &["--health", &url, "--deadline", "1s"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("not a health document"), "{}", r.all());

    let r = verify(tmp.path(), &["--health", &url, "--health-format", "status"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("HTTP 200"), "{}", r.all());
}

#[test]
fn a_failing_page_fails_the_deploy_and_the_others_are_reported_passing() {
    let (tmp, app) = app("ok");
    app.set_broken_pages(&["/login"]);
    let r = verify(
        tmp.path(),
        &[
            "--health",
            &app.at("/api/health"),
            "--page",
            &app.at("/"),
            "--page",
            &app.at("/login"),
            "--deadline",
            "2s",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    let line = |needle: &str| {
        r.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}:\n{}", r.all()))
            .to_string()
    };
    assert!(line(&format!("page {} ", app.at("/login"))).contains("FAIL"));
    assert!(line(&format!("page {} ", app.at("/login")))
        .contains("unexpected HTTP status 500 (expected 200-299)"));
    assert!(line(&format!("page {} ", app.at("/"))).contains("PASS"));
    assert!(line("health ").contains("PASS"));
}

#[test]
fn pages_check_their_keyword_and_expected_status() {
    let (tmp, app) = app("ok");
    let page = app.at("/");
    let with = |extra: &[&str]| {
        let args: Vec<&str> = ["--deadline", "1s", "--page", &page]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        verify(tmp.path(), &args)
    };
    assert_eq!(with(&["--keyword", "Welcome"]).code, 0);
    let r = with(&["--keyword", "Maintenance"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("keyword \"Maintenance\" missing from the response body"),
        "{}",
        r.all()
    );
    let r = verify(
        tmp.path(),
        &["--page", &app.at("/missing"), "--expect", "404"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn commands_and_checks_from_the_config_file_with_flags_replacing_a_kind() {
    let (tmp, app) = app("ok");
    std::fs::write(
        tmp.path().join("lookout.toml"),
        format!(
            r#"
[server]
api_token = "${{SECRET_ONLY_THE_SERVER_NEEDS}}"

[deploy]
deadline = "${{DEPLOY_DEADLINE:-2s}}"

[[deploy.checks]]
kind = "health"
url = "{health}"

[[deploy.checks]]
kind = "page"
url = "http://127.0.0.1:9/not-the-app"

[[deploy.checks]]
kind = "command"
run = "test -f marker"
"#,
            health = app.at("/api/health")
        ),
    )
    .unwrap();
    // ./lookout.toml is found by itself; the page from the file fails, the command too.
    let r = verify(tmp.path(), &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("FAIL  page http://127.0.0.1:9/not-the-app"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains("FAIL  command test -f marker"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("deadline 2s"), "{}", r.all());

    std::fs::write(tmp.path().join("marker"), "").unwrap();
    let r = verify(tmp.path(), &["--page", &app.at("/login")]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.stdout.contains("not-the-app"), "{}", r.all());
    assert!(
        r.stdout.contains("PASS  command test -f marker"),
        "{}",
        r.all()
    );
}

/// `[deploy]` lives in the server's config file: `lookout serve` starts with it (its
/// variables are the pipeline's, unset on the server), and `lookout check-config` checks it
/// with the deploy command's own parser and lists what it sets up.
#[test]
fn serve_accepts_the_deploy_section_and_check_config_checks_it() {
    let server = common::Server::start_with(
        r#"
[deploy]
dir = "${LOOKOUT_TEST_DEPLOY_DIR}"

[[deploy.checks]]
kind = "health"
url = "http://127.0.0.1:3000/api/health"

[deploy.rollback]
steps = ["git reset --hard {commit}", { run = "npm run build", timeout = "15m" }]
"#,
    );
    assert_eq!(server.get("/api/v1/projects").0, 200);
    let config = server.dir.join("lookout.toml");
    let check = |var: Option<&str>| {
        let mut cmd = lookout(&server.dir);
        cmd.arg("check-config").arg("--config").arg(&config);
        match var {
            Some(v) => cmd.env("LOOKOUT_TEST_DEPLOY_DIR", v),
            None => cmd.env_remove("LOOKOUT_TEST_DEPLOY_DIR"),
        };
        run(&mut cmd)
    };
    let r = check(Some("/srv/app"));
    assert_eq!(r.code, 0, "{}", r.all());
    for line in [
        "project:  app (id 7)",
        "deploy:   health http://127.0.0.1:3000/api/health",
        "rollback: git reset --hard {commit}",
        "rollback: npm run build",
    ] {
        assert!(r.stdout.contains(line), "{line:?} missing: {}", r.all());
    }
    // What `deploy verify` would refuse, check-config refuses too, naming the key.
    let r = check(None);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("deploy.dir") && r.stderr.contains("LOOKOUT_TEST_DEPLOY_DIR"),
        "{}",
        r.all()
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("kind = \"health\"", "kind = \"ping\""),
    )
    .unwrap();
    let r = check(Some("/srv/app"));
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("deploy.checks[0]") && r.stderr.contains("ping"),
        "{}",
        r.all()
    );
}

#[test]
fn usage_errors_exit_3_for_every_command_and_help_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let code = |args: &[&str]| {
        let r = run(lookout(tmp.path()).args(args));
        (r.code, r.stdout, r.stderr)
    };
    let page = ["deploy", "verify", "--page", "http://x/"];
    for (extra, wanted) in [
        (&[][..], &["nothing to verify"][..]),
        (
            &["--health", "localhost:3000/api/health"],
            &["--health", "http://"],
        ),
        (&["--deadline", "soon"], &["--deadline"]),
        (&["--expect", "abc"], &["expect", "abc"]),
        (&["--to", "HEAD~2"], &["--rollback-on-failure"]),
        (&["--rollback-on-failure"], &["no rollback steps"]),
    ] {
        let args: Vec<&str> = if extra.is_empty() {
            page[..2].to_vec()
        } else {
            page.iter().chain(extra).copied().collect()
        };
        let (c, _, err) = code(&args);
        assert_eq!(c, 3, "{args:?}: {err}");
        for w in wanted {
            assert!(err.contains(w), "{args:?}: {w:?} missing from: {err}");
        }
    }
    assert_eq!(code(&["deploy"]).0, 3);
    assert_eq!(
        code(&["check"]).0,
        3,
        "clap's usage errors exit 3 everywhere"
    );
    assert_eq!(code(&["--no-such-flag"]).0, 3);

    std::fs::write(tmp.path().join("bad.toml"), "[deploy]\ndeadlin = \"5s\"\n").unwrap();
    let (c, _, err) = code(&[
        "deploy",
        "verify",
        "--config",
        "bad.toml",
        "--page",
        "http://x/",
    ]);
    assert_eq!(c, 3, "{err}");
    assert!(
        err.contains("bad.toml: deploy.deadlin: unknown field `deadlin`"),
        "{err}"
    );

    let (c, out, _) = code(&["deploy", "verify", "--help"]);
    assert_eq!(c, 0);
    for line in [
        "0  passed",
        "1  a check failed",
        "2  a check failed, the rollback ran, and the checks held after it",
        "3  bad usage",
        "4  the rollback failed too",
    ] {
        assert!(out.contains(line), "--help lacks {line:?}:\n{out}");
    }
    assert_eq!(code(&["--version"]).0, 0);
    assert_eq!(code(&["deploy", "--help"]).0, 0);
}

#[test]
fn in_github_actions_failures_are_annotated_summarised_and_output() {
    let (tmp, app) = app("degraded");
    app.set_broken_pages(&["/login"]);
    let summary = tmp.path().join("summary.md");
    let output = tmp.path().join("output.txt");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let r = run(lookout(tmp.path())
        .args([
            "deploy",
            "verify",
            "--health",
            &app.at("/api/health"),
            "--page",
            &app.at("/login"),
            "--deadline",
            "1s",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &output));
    assert_eq!(r.code, 1, "{}", r.all());
    let login = app.at("/login");
    assert!(
        r.stdout.contains(&format!(
            "::error title=Deploy check%3A page failed::page {login}: unexpected HTTP status 500 (expected 200-299)"
        )),
        "{}",
        r.all()
    );
    assert!(
        r.stdout
            .contains("::warning title=Deploy check%3A health warning::health "),
        "{}",
        r.all()
    );

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.starts_with("earlier step\n### ❌ Deploy failed its checks"),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "| ❌ | page `{login}` | unexpected HTTP status 500 (expected 200-299) |"
        )),
        "{md}"
    );
    assert!(md.contains("| ⚠️ | health `"), "{md}");

    let out = std::fs::read_to_string(&output).unwrap();
    assert!(out.starts_with("verdict=failed\nexit-code=1\n"), "{out}");
    let mut lines = out.lines();
    let header = lines.find(|l| l.starts_with("failed-checks<<")).unwrap();
    let delimiter = header.trim_start_matches("failed-checks<<");
    assert_eq!(lines.next(), Some(format!("page {login}").as_str()));
    assert_eq!(lines.next(), Some(delimiter));
    let report_header = lines.next().unwrap();
    assert!(report_header.starts_with("report<<"), "{out}");
    let report: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(report["verdict"], "failed");
    assert_eq!(report["verify"]["checks"][1]["outcome"], "fail");
}

/// A `[deploy.watch]` value that cannot work is refused by `check-config` and by `serve`
/// (which then never starts), both naming the key to fix; exit 3 like any bad config.
#[test]
fn check_config_and_serve_refuse_a_bad_deploy_watch_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("lookout.toml");
    for (watch, key, why) in [
        (
            "min_crash_free_percent = 150",
            "deploy.watch.min_crash_free_percent",
            "not a percentage",
        ),
        (
            "min_crash_free_percent = -1.5",
            "deploy.watch.min_crash_free_percent",
            "not a percentage",
        ),
        (
            "rollback_webhook = \"ftp://ci.example.org/rollback\"",
            "deploy.watch.rollback_webhook",
            "must start with http:// or https://",
        ),
        (
            "error_rate_factor = 0.5",
            "deploy.watch.error_rate_factor",
            "factor of 1 or more",
        ),
        (
            "window = \"2d\"",
            "deploy.watch.window",
            "longer than a day",
        ),
        (
            "rollback_timeout = \"0s\"",
            "deploy.watch.rollback_timeout",
            "longer than 0",
        ),
        ("window = \"soon\"", "window", "soon"),
        ("max_new_issues = -1", "max_new_issues", "-1"),
        ("rollback_hook = \"x\"", "rollback_hook", "unknown field"),
    ] {
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\napi_token = \"{}\"\n\n\
                 [[projects]]\nslug = \"app\"\nid = 7\npublic_key = \"{}\"\n\n[deploy.watch]\n{watch}\n",
                tmp.path().join("data").display(),
                common::TOKEN,
                common::KEY
            ),
        )
        .unwrap();
        let r = run(lookout(tmp.path())
            .args(["check-config", "--config"])
            .arg(&config));
        assert_eq!(r.code, 3, "{watch}: {}", r.all());
        assert!(
            r.stderr.contains(key) && r.stderr.contains(why),
            "{watch}: {}",
            r.all()
        );
        // serve refuses the same file before it listens.
        let mut child = lookout(tmp.path())
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("LOOKOUT_DATABASE_URL")
            .env_remove("LOOKOUT_LISTEN")
            .env_remove("LOOKOUT_DATA_DIR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{watch}: serve started with a bad [deploy.watch]");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{watch}: {stderr}");
        assert!(stderr.contains(key), "{watch}: {stderr}");
    }
}
