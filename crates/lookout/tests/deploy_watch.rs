//! The watch after a deploy, end to end: `lookout deploy verify --watch` records the
//! deploy on a running server, the real Python `sentry-sdk` then reports the new release's
//! errors (or nothing), and lookout judges the release when the window ends: a bad verdict
//! opens an incident through the `errors after deploy` rule and one through the `bad
//! deploy` rule (each one message on the alert webhook), runs the rollback command and
//! calls the rollback webhook, and verify exits 1 with `watch_verdict=bad` in the GitHub
//! Actions outputs; a quiet release is judged good, alerts nobody and exits 0. With
//! `--json` (in GitHub Actions) stdout is one JSON document carrying the checks' verdict,
//! the watch's and the process's exit code.
//!
//! Switched on by `LOOKOUT_TEST_PYTHON=/path/to/python` (an interpreter with `sentry-sdk`).

#[path = "../../../tests/sdk/checks.rs"]
mod checks;
mod common;
mod deploy_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, TOKEN};
use deploy_support::{lookout, spawn_until, App, Run};

/// The paths and bodies an in-process receiver got.
type Got = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// An in-process webhook receiver (the rollback webhook, the alert channel): the paths and
/// bodies it got.
fn receiver() -> (String, Got, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let got: Got = Arc::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let g = got.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: String| {
        let g = g.clone();
        async move {
            g.lock().unwrap().push((
                uri.path().to_string(),
                serde_json::from_str(&body).unwrap_or_default(),
            ));
            "ok"
        }
    });
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got, rt)
}

/// The bodies posted to `path`.
fn at(got: &Got, path: &str) -> Vec<serde_json::Value> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, b)| b.clone())
        .collect()
}

/// The alert messages of `rule` of one type (`incident.triggered`…).
fn messages(got: &Got, rule: &str, ty: &str) -> usize {
    at(got, "/alerts")
        .iter()
        .filter(|m| m["type"] == ty && m["data"]["rule"] == rule)
        .count()
}

/// One deploy's run, and the GitHub Actions step outputs and summary it wrote.
struct Deployed {
    run: Run,
    output: String,
    summary: String,
}

#[test]
fn a_release_that_raises_errors_is_judged_bad_alerts_and_rolls_back_and_a_quiet_one_is_good() {
    let Some(python) = common::suite_switch("LOOKOUT_TEST_PYTHON", "Python sentry-sdk suite")
    else {
        return;
    };
    let script = checks::repo_root().join("tests/sdk/python/deploy_release.py");
    let tmp = tempfile::tempdir().unwrap();
    let app = App::start(&tmp.path().join("app"), "ok", Duration::ZERO);
    let (hook_url, hooked, _rt) = receiver();
    let hook_log = tmp.path().join("rollback.log");
    let s = Server::start_with(&format!(
        "\n[alerts]\nevaluate_every = \"1s\"\n\n\
         [channels.hook]\nkind = \"webhook\"\nurl = \"{hook_url}/alerts\"\ntimeout = \"2s\"\n\n\
         [[rules]]\nname = \"Bad deploy\"\nwhen = \"errors after deploy > 2x in 15m\"\nseverity = \"high\"\nnotify = [\"hook\"]\n\n\
         [[rules]]\nname = \"Bad verdict\"\nwhen = \"bad deploy\"\nseverity = \"high\"\nnotify = [\"hook\"]\n\n\
         [deploy.watch]\nwindow = \"8s\"\nrollback_command = \"echo \\\"$LOOKOUT_DEPLOY_RELEASE\\\" >> '{}'\"\n\
         rollback_webhook = \"{hook_url}/rollback\"\n",
        hook_log.display()
    ));
    let dsn = s.local_dsn();
    let deploy = |release: &str, errors: u32, json: bool| {
        let mut verify = lookout(tmp.path());
        // As a GitHub Actions step: the watch's verdict goes to the step's outputs.
        let gh = tmp.path().join(format!("github-{release}"));
        std::fs::create_dir_all(&gh).unwrap();
        verify
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", gh.join("output"))
            .env("GITHUB_STEP_SUMMARY", gh.join("summary.md"))
            .args(["--url", &s.url, "--token", TOKEN, "deploy", "verify"])
            .args([
                "--page",
                &app.at("/"),
                "--release",
                release,
                "--watch",
                "8s",
            ]);
        if json {
            verify.arg("--json");
        }
        let running = spawn_until(&mut verify, "Recorded deploy #", json);
        // The new release serves: its errors come in during the window.
        checks::run_client(
            std::process::Command::new(&python)
                .arg(&script)
                .args([&dsn, release, "production", &errors.to_string()])
                .current_dir(script.parent().unwrap()),
            "tests/sdk/python/deploy_release.py",
            Duration::from_secs(45),
        );
        let run = running.wait();
        let read = |name: &str| std::fs::read_to_string(gh.join(name)).unwrap_or_default();
        Deployed {
            run,
            output: read("output"),
            summary: read("summary.md"),
        }
    };

    // With --json: the report waits for the watch, so the one document on stdout says
    // the checks passed, the watch judged the release bad, and the process exits 1.
    let bad = deploy("web@2.0.0", 8, true);
    assert_eq!(bad.run.code, 1, "a bad release exits 1:\n{}", bad.run.all());
    // serde_json refuses anything after the document: stdout is exactly one.
    let j: serde_json::Value = serde_json::from_str(&bad.run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", bad.run.all()));
    assert_eq!(j["exit_code"], bad.run.code, "{j}");
    assert_eq!(j["verdict"], "passed", "the checks' verdict: {j}");
    assert_eq!(j["verify"]["checks"][0]["outcome"], "pass", "{j}");
    assert_eq!(j["watch"]["verdict"], "bad", "{j}");
    assert!(
        j["watch"]["reasons"].as_array().is_some_and(|r| r
            .iter()
            .any(|r| r.as_str().unwrap().contains("errors rose"))),
        "{j}"
    );
    assert_eq!(j["watch"]["figures"]["new_issues"], 4, "{j}");
    assert!(j["watch"]["until"].is_string(), "{j}");
    assert!(j.get("error").is_none(), "{j}");
    // The annotation goes to stderr, which the runner reads as well.
    assert!(
        bad.run
            .stderr
            .contains("::error title=Release watch::The release looks BAD after the deploy: "),
        "{}",
        bad.run.all()
    );
    assert!(
        bad.output.starts_with("verdict=passed\nexit-code=1\n"),
        "the checks passed; the process exits 1: {}",
        bad.output
    );
    assert!(
        bad.output.ends_with("watch_verdict=bad\n"),
        "{}",
        bad.output
    );
    let report_line = bad
        .output
        .lines()
        .skip_while(|l| !l.starts_with("report<<"))
        .nth(1)
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(report_line).unwrap(),
        j,
        "the `report` output is the --json document"
    );
    assert!(
        bad.summary.contains("**Watch after the deploy:** ")
            && bad.summary.trim_end().ends_with("Exit code 1."),
        "{}",
        bad.summary
    );
    let (_, list) = s.get("/api/v1/deploys?release=web@2.0.0");
    assert_eq!(j["deploy_id"], list[0]["id"], "{list}");
    let watch = &list[0]["watch"];
    assert_eq!(watch["verdict"], "bad", "{list}");
    assert!(
        watch["figures"]["errors_after"].as_u64().unwrap() >= 8,
        "{watch}"
    );
    assert_eq!(watch["figures"]["new_issues"], 4, "{watch}");
    assert_eq!(watch["figures"]["unhandled"], 1, "{watch}");
    let reasons = watch["figures"]["reasons"].to_string();
    assert!(reasons.contains("errors rose"), "{reasons}");
    // The incident, through the rule.
    let incident = s.wait_for("the incident", Duration::from_secs(15), || {
        let (_, v) = s.get("/api/v1/incidents?status=open");
        v.as_array()?
            .iter()
            .find(|i| i["rule"] == "Bad deploy")
            .cloned()
    });
    assert!(
        incident["title"]
            .as_str()
            .unwrap()
            .contains("Errors after deploy"),
        "{incident}"
    );
    // The verdict itself, through the `bad deploy` rule, naming the release and why.
    let verdict_incident = s.wait_for("the verdict's incident", Duration::from_secs(15), || {
        let (_, v) = s.get("/api/v1/incidents?status=open");
        v.as_array()?
            .iter()
            .find(|i| i["rule"] == "Bad verdict")
            .cloned()
    });
    let title = verdict_incident["title"].as_str().unwrap();
    assert!(
        title.starts_with("Bad deploy: web@2.0.0 in production (deploy #")
            && title.contains("errors rose"),
        "{verdict_incident}"
    );
    // One message per incident on the alert channel.
    s.wait_for("the alert messages", Duration::from_secs(15), || {
        (messages(&hooked, "Bad deploy", "incident.triggered") == 1
            && messages(&hooked, "Bad verdict", "incident.triggered") == 1)
            .then_some(())
    });
    // The rollback hook: the command and the webhook, once. The server stores the verdict
    // (which ends verify) before it runs the hook, so the hook may still be running here.
    let got = s.wait_for("the rollback webhook", Duration::from_secs(15), || {
        let got = at(&hooked, "/rollback");
        (!got.is_empty()).then_some(got)
    });
    let ran = std::fs::read_to_string(&hook_log).unwrap_or_default();
    assert_eq!(ran, "web@2.0.0\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["deploy"]["release"], "web@2.0.0");
    assert_eq!(got[0]["verdict"], "bad");

    // A quiet release: good, no rollback, and the rules fire no more: no new incident, no
    // further occurrence of the open ones, no second message.
    let counts = |rule: &str| -> Vec<(i64, u64)> {
        let (_, all) = s.get("/api/v1/incidents?status=all");
        all.as_array()
            .unwrap()
            .iter()
            .filter(|i| i["rule"] == rule)
            .map(|i| (i["id"].as_i64().unwrap(), i["count"].as_u64().unwrap()))
            .collect()
    };
    let verdict_before = counts("Bad verdict");
    assert_eq!(verdict_before.len(), 1, "{verdict_before:?}");
    assert_eq!(verdict_before[0].1, 1, "{verdict_before:?}");
    // In text: the checks' verdict while waiting, then the watch's with the exit code.
    let good = deploy("web@2.0.1", 0, false);
    assert_eq!(
        good.run.code,
        0,
        "a quiet release exits 0:\n{}",
        good.run.all()
    );
    let last = good.run.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("The release looks good after the deploy: ") && last.ends_with("(exit 0)"),
        "{}",
        good.run.all()
    );
    assert!(
        good.run.stdout.contains("\nPASSED: all 1 checks held in "),
        "{}",
        good.run.all()
    );
    assert!(!good.run.stdout.contains("::"), "{}", good.run.all());
    assert!(
        good.output.starts_with("verdict=passed\nexit-code=0\n"),
        "{}",
        good.output
    );
    assert!(
        good.output.ends_with("watch_verdict=good\n"),
        "{}",
        good.output
    );
    let (_, list) = s.get("/api/v1/deploys?release=web@2.0.1");
    assert_eq!(list[0]["watch"]["verdict"], "good", "{list}");
    // The alert loop evaluates every second: give it a few runs after the verdict.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        std::fs::read_to_string(&hook_log).unwrap_or_default(),
        "web@2.0.0\n"
    );
    assert_eq!(at(&hooked, "/rollback").len(), 1);
    assert_eq!(counts("Bad verdict"), verdict_before);
    let rate = counts("Bad deploy");
    assert_eq!(rate.len(), 1, "{rate:?}");
    assert_eq!(
        messages(&hooked, "Bad deploy", "incident.triggered"),
        1,
        "{:?}",
        at(&hooked, "/alerts")
    );
    assert_eq!(
        messages(&hooked, "Bad verdict", "incident.triggered"),
        1,
        "{:?}",
        at(&hooked, "/alerts")
    );
    // The error-rate incident was measured below its factor after the quiet deploy: its
    // count no longer grows.
    let later = counts("Bad deploy");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(counts("Bad deploy"), later);
}
