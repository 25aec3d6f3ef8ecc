//! Sentry cron check-ins from the real Python `sentry-sdk` (`tests/sdk/python/crons.py`,
//! `@sentry_sdk.monitor` with a `monitor_config`) create heartbeat monitors and mark them
//! up or failed; with the injected clock moved past the next slot and its margin, the
//! missed run is detected.
//!
//! Switched on by `LOOKOUT_TEST_PYTHON=/path/to/python` (an interpreter with `sentry-sdk`).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use lookout_core::clock::ManualClock;
use serde_json::Value;

/// 2027-01-15T12:00:00Z, a Friday in winter (Europe/Berlin is UTC+1).
const NOON: i64 = 1_800_014_400_000;

fn python() -> Option<String> {
    python_suite("Python cron suite")
}

fn monitor(app: &TestApp, name: &str) -> Option<Value> {
    app.get("/api/v1/monitors")
        .body
        .as_array()?
        .iter()
        .find(|m| m["name"] == name)
        .cloned()
}

fn signal_kinds(app: &TestApp, id: i64) -> Vec<String> {
    app.get("/api/v1/signals?after=0&limit=1000")
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["monitor_id"] == id)
        .map(|s| s["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn python_sdk_cron_monitors_drive_heartbeats() {
    let Some(python) = python() else { return };
    let clock = ManualClock::new(NOON);
    let app = spawn_app_with_clock("", Arc::new(clock.clone()));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk/python/crons.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(app.dsn())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "crons.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let nightly = wait_for("the nightly monitor up", || {
        monitor(&app, "nightly-backup").filter(|m| m["status"]["state"] == "up")
    });
    assert_eq!(nightly["kind"], "heartbeat");
    assert_eq!(nightly["source"], "check_in");
    assert_eq!(nightly["spec"]["cron"], "0 3 * * *", "{nightly}");
    assert_eq!(nightly["spec"]["timezone"], "Europe/Berlin", "{nightly}");
    assert_eq!(nightly["spec"]["grace"], "5m", "{nightly}");
    let id = nightly["id"].as_i64().unwrap();
    let ran = nightly["status"]["last_latency_ms"].as_i64().unwrap();
    assert!((40..5_000).contains(&ran), "run duration {ran} ms");

    let hourly = wait_for("the failed hourly monitor", || {
        monitor(&app, "hourly-import").filter(|m| m["status"]["state"] == "down")
    });
    assert_eq!(hourly["spec"]["period"], "1h", "{hourly}");
    let hid = hourly["id"].as_i64().unwrap();
    wait_for("the failed signal", || {
        signal_kinds(&app, hid)
            .contains(&"heartbeat_failed".to_string())
            .then_some(())
    });

    // The next run is due at 03:00 Berlin = 02:00 UTC the next day, with 5 minutes margin.
    let due = NOON + 14 * 3_600_000 + 5 * 60_000;
    clock.set(due - 1_000);
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        signal_kinds(&app, id).is_empty(),
        "not missed before slot + margin"
    );
    clock.set(due + 1);
    wait_for("the missed signal", || {
        (signal_kinds(&app, id) == ["heartbeat_missed"]).then_some(())
    });
    assert_eq!(
        monitor(&app, "nightly-backup").unwrap()["status"]["state"],
        "down"
    );
}
