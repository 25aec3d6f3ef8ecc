//! The real Python `sentry-sdk` against the real server: `tests/sdk/python/client.py`
//! raises and captures errors from two code sites, two messages that differ only in
//! numbers, an exception escaping a thread (unhandled) and cron check-ins; this test reads
//! the result back through the JSON API.
//!
//! Switched on by `LOOKOUT_TEST_PYTHON=/path/to/python` (an interpreter with `sentry-sdk`).

#[path = "../../../tests/sdk/checks.rs"]
mod checks;
mod common;

use std::process::Command;
use std::time::Duration;

use checks::*;
use common::Server;

#[test]
fn python_sdk_events_become_issues() {
    let Some(python) = common::suite_switch("LOOKOUT_TEST_PYTHON", "Python sentry-sdk suite")
    else {
        return;
    };
    let script = repo_root().join("tests/sdk/python/client.py");
    assert!(script.is_file(), "{} is missing", script.display());
    let s = Server::start();
    // Run from the script's folder, as an app runs from its project root: sentry-sdk marks
    // frames under the working directory in_app.
    let out = run_client(
        Command::new(&python)
            .arg(&script)
            .arg(s.local_dsn())
            .current_dir(script.parent().expect("script folder")),
        "tests/sdk/python/client.py",
        Duration::from_secs(45),
    );
    eprintln!("python sentry-sdk {}", out["sdk_version"]);
    let found = assert_scenario(
        &s,
        &out,
        &Scenario {
            site_a: ("KeyError", "lookup_price"),
            site_b: ("ValueError", "parse_quantity"),
            caller: "checkout",
        },
    );
    let (release, a) = (found.release.as_str(), &found.a);
    let [ia, _, _, _] = found.ids;

    let issue_a = &found.issue_a;
    assert_eq!(issue_a["level"], "error");
    assert_eq!(issue_a["first_release"], release, "{issue_a}");
    let exc = last_exception(issue_a);
    assert_eq!(exc["mechanism"]["handled"], true, "{exc}");
    let latest = &issue_a["latest_event"];
    assert_eq!(latest["release"], release);
    assert_eq!(latest["environment"], out["environment"]);
    assert!(
        a.contains(&latest["event_id"].as_str().unwrap_or_default().to_string()),
        "latest event {} is not one of {a:?}",
        latest["event_id"]
    );
    assert!(
        latest["data"].is_object(),
        "latest_event.data is not the stored event"
    );

    let issue_m = &found.issue_m;
    assert!(
        issue_m["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Processed "),
        "{issue_m}"
    );
    assert_eq!(issue_m["user_count"], 1, "{issue_m}");

    let issue_u = &found.issue_u;
    assert!(
        issue_u["culprit"]
            .as_str()
            .unwrap_or_default()
            .contains("worker_job"),
        "{issue_u}"
    );
    let sig = &found.signals;
    assert!(
        !has_signal(sig, "unhandled", ia),
        "a handled error raised an unhandled signal"
    );

    let by_release = s.issues(&format!("release={release}"));
    assert_eq!(by_release.len(), 4, "release filter: {by_release:#?}");
    assert!(s.issues("release=no-such-release").is_empty());

    // Cron check-ins are accepted (not yet readable through the API).
    let check_ins = out["check_ins"].as_u64().expect("check_ins");
    s.wait_for("check-ins counted", Duration::from_secs(10), || {
        (outcome_quantity(&s, "accepted", "monitor") == check_ins).then_some(())
    });
}
