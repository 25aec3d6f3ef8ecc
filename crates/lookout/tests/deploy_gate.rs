//! `lookout deploy gate` between two releases that both send events to a running server,
//! as a canary or blue-green pipeline runs it: the noisier release fails, equal ones pass,
//! too few events is "not enough data" with its own exit code; text, `--json` and the
//! GitHub Actions files. Releases that send requests compare per request and by p95.

mod common;
mod deploy_support;

use std::time::Duration;

use common::{Server, TOKEN};
use deploy_support::{lookout, run, Run};

/// Sends `n` errors of `release` from two code sites, as an SDK's envelopes.
fn send_errors(s: &Server, release: &str, n: usize) {
    for i in 0..n {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (ty, function) = if i % 2 == 0 {
            ("KeyError", "lookup_price")
        } else {
            ("ValueError", "parse_quantity")
        };
        let event = serde_json::json!({
            "event_id": id, "level": "error", "platform": "python",
            "release": release, "environment": "production",
            "exception": {"values": [{"type": ty, "value": format!("bad input {i}"),
                "stacktrace": {"frames": [{"module": "shop.views", "function": function, "in_app": true}]}}]}
        });
        s.envelope("event", &event);
    }
}

fn gate(s: &Server, dir: &std::path::Path, release: &str, baseline: &str, extra: &[&str]) -> Run {
    run(lookout(dir)
        .args(["--url", &s.url, "--token", TOKEN, "deploy", "gate"])
        .args([
            "--release",
            release,
            "--baseline",
            baseline,
            "--window",
            "10m",
        ])
        .args(extra))
}

#[test]
fn the_gate_fails_the_noisier_release_passes_equal_ones_and_needs_enough_data() {
    let s = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    // The baseline first, so the issues are its own; then three releases against it.
    send_errors(&s, "web@1.0", 30);
    send_errors(&s, "web@1.1", 30);
    send_errors(&s, "web@1.2", 90);
    send_errors(&s, "web@1.3", 3);
    s.wait_for("every event", Duration::from_secs(15), || {
        let total: u64 = s
            .issues("")
            .iter()
            .map(|i| i["count"].as_u64().unwrap())
            .sum();
        (total == 153).then_some(())
    });

    let equal = gate(&s, tmp.path(), "web@1.1", "web@1.0", &[]);
    assert_eq!(equal.code, 0, "{}", equal.all());
    assert!(
        equal
            .stdout
            .contains("Gate: web@1.1 against web@1.0 over 10m (project app)"),
        "{}",
        equal.all()
    );
    assert!(equal.stdout.contains("PASS (exit 0)"), "{}", equal.all());

    // As a GitHub Actions step with --json: stdout is the one JSON document (Run::json
    // refuses anything after it), the annotation goes to stderr, which the runner reads
    // too, and the step files are written.
    let gh = tmp.path().join("github-noisy");
    std::fs::create_dir_all(&gh).unwrap();
    let noisy = run(lookout(tmp.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", gh.join("output"))
        .env("GITHUB_STEP_SUMMARY", gh.join("summary.md"))
        .args(["--url", &s.url, "--token", TOKEN, "deploy", "gate"])
        .args([
            "--release",
            "web@1.2",
            "--baseline",
            "web@1.0",
            "--window",
            "10m",
            "--json",
        ]));
    assert_eq!(noisy.code, 1, "{}", noisy.all());
    let j = noisy.json();
    assert_eq!(j["verdict"], "fail");
    assert_eq!(j["exit_code"], noisy.code, "{j}");
    assert!(
        noisy.stderr.contains("::error title=Release gate::FAIL: "),
        "{}",
        noisy.all()
    );
    assert!(!noisy.stdout.contains("::"), "{}", noisy.all());
    let outputs = std::fs::read_to_string(gh.join("output")).unwrap();
    assert!(outputs.starts_with("gate_verdict=fail\ngate="), "{outputs}");
    assert!(std::fs::read_to_string(gh.join("summary.md"))
        .unwrap()
        .contains("**Release gate** (web@1.2 against web@1.0"));
    assert_eq!(j["rate_unit"], "per minute");
    assert_eq!(j["release"]["counts"]["errors"], 90);
    assert_eq!(j["baseline"]["counts"]["errors"], 30);
    assert!(
        j["reasons"][0]
            .as_str()
            .unwrap()
            .contains("errors per minute"),
        "{j}"
    );

    // Too few events: not enough data, its own exit code, in GitHub Actions too.
    let out = tmp.path().join("github_output");
    let summary = tmp.path().join("summary.md");
    let few = run(lookout(tmp.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &out)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["--url", &s.url, "--token", TOKEN, "deploy", "gate"])
        .args([
            "--release",
            "web@1.3",
            "--baseline",
            "web@1.0",
            "--window",
            "10m",
        ]));
    assert_eq!(few.code, 5, "{}", few.all());
    assert!(
        few.stdout
            .contains("NOT ENOUGH DATA: the new release was seen 3 time(s)"),
        "{}",
        few.all()
    );
    assert!(
        few.stdout.contains("::warning title=Release gate::"),
        "{}",
        few.all()
    );
    let outputs = std::fs::read_to_string(&out).unwrap();
    assert!(
        outputs.contains("gate_verdict=not_enough_data\n"),
        "{outputs}"
    );
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("**Release gate**"));
    // Fewer observations asked for: the same releases now compare, and 3 errors are no spike.
    let lenient = gate(
        &s,
        tmp.path(),
        "web@1.3",
        "web@1.0",
        &["--min-observations", "3"],
    );
    assert_eq!(lenient.code, 0, "{}", lenient.all());

    // Bad usage.
    for (args, why) in [
        (vec!["--release", "a", "--baseline", "a"], "both `a`"),
        (
            vec!["--release", "a", "--baseline", "b", "--window", "0s"],
            "--window",
        ),
        (
            vec!["--release", "a", "--baseline", "b", "--project", "nope"],
            "nope",
        ),
        (vec!["--release", "a"], "--baseline"),
    ] {
        let r = run(lookout(tmp.path())
            .args(["--url", &s.url, "--token", TOKEN, "deploy", "gate"])
            .args(&args));
        assert_eq!(r.code, 3, "{args:?}: {}", r.all());
        assert!(r.stderr.contains(why), "{args:?}: {}", r.all());
    }
}

/// Sends `n` requests of `release` taking `ms` each, as an SDK's transaction envelopes,
/// started in the last few minutes. Whole-second starts and durations of a power-of-two
/// fraction of a second keep the timestamps' difference exact.
fn send_requests(s: &Server, release: &str, n: usize, ms: f64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for i in 0..n {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let start = (now - 200 + i as u64) as f64;
        let tx = serde_json::json!({
            "event_id": id, "type": "transaction", "platform": "python",
            "transaction": "GET /checkout", "transaction_info": {"source": "route"},
            "start_timestamp": start, "timestamp": start + ms / 1000.0,
            "release": release, "environment": "production",
            "contexts": {"trace": {"trace_id": uuid::Uuid::new_v4().simple().to_string(),
                                   "span_id": &id[..16], "op": "http.server", "status": "ok"}},
            "spans": [],
        });
        s.envelope("transaction", &tx);
    }
}

/// Releases that send requests are compared per request, with every request counted
/// through the store, and by their request p95: as noisy per request fails, slower fails,
/// as good passes.
#[test]
fn the_gate_compares_errors_per_request_and_request_p95_through_the_store() {
    let s = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    send_errors(&s, "web@2.0", 4);
    send_requests(&s, "web@2.0", 100, 125.0);
    send_errors(&s, "web@2.1", 4);
    send_requests(&s, "web@2.1", 100, 125.0);
    send_errors(&s, "web@2.2", 4);
    send_requests(&s, "web@2.2", 100, 500.0);
    send_errors(&s, "web@2.3", 40);
    send_requests(&s, "web@2.3", 100, 125.0);
    s.wait_for("every request", Duration::from_secs(15), || {
        let all = ["web@2.0", "web@2.1", "web@2.2", "web@2.3"]
            .iter()
            .all(|r| {
                let (_, v) = s.get(&format!(
                    "/api/v1/projects/app/release-counts?release={r}&window=10m"
                ));
                v["counts"]["requests"] == 100
            });
        all.then_some(())
    });

    let same = gate(&s, tmp.path(), "web@2.1", "web@2.0", &["--json"]);
    assert_eq!(same.code, 0, "{}", same.all());
    let j = same.json();
    assert_eq!(j["verdict"], "pass", "{j}");
    assert_eq!(j["rate_unit"], "per request", "{j}");
    assert_eq!(j["release"]["counts"]["requests"], 100, "{j}");
    assert_eq!(j["baseline"]["counts"]["requests"], 100, "{j}");
    assert_eq!(j["release"]["counts"]["request_p95_ms"], 125.0, "{j}");
    assert_eq!(j["release"]["error_rate"], 0.04, "{j}");

    let slow = gate(&s, tmp.path(), "web@2.2", "web@2.0", &["--json"]);
    assert_eq!(slow.code, 1, "{}", slow.all());
    let j = slow.json();
    assert_eq!(j["release"]["counts"]["request_p95_ms"], 500.0, "{j}");
    let reasons = j["reasons"].to_string();
    assert!(
        reasons.contains("request p95 500 ms against 125 ms"),
        "{reasons}"
    );
    assert!(!reasons.contains("errors per request"), "{reasons}");

    let noisy = gate(&s, tmp.path(), "web@2.3", "web@2.0", &["--json"]);
    assert_eq!(noisy.code, 1, "{}", noisy.all());
    let j = noisy.json();
    assert_eq!(j["rate_unit"], "per request", "{j}");
    assert_eq!(j["release"]["error_rate"], 0.4, "{j}");
    let reasons = j["reasons"].to_string();
    assert!(
        reasons.contains("errors per request at 0.400 against 0.040"),
        "{reasons}"
    );
    assert!(!reasons.contains("p95"), "{reasons}");
}
