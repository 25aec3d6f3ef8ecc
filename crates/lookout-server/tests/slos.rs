//! SLOs end to end: the real server in-process with an injected clock, check results of
//! known outages written to the real store, the `slo burn rate` rules the reference setup
//! uses (page on 14.4× over 1 h & 5 min and 6× over 6 h & 30 min; ticket on 3× over 1 d &
//! 2 h and 1× over 3 d & 6 h), and the SLO API.

mod common;

use std::sync::Arc;

use common::*;
use lookout_core::clock::{Clock, ManualClock};
use lookout_core::monitor::MonitorKind;
use lookout_store::{CheckBatch, CheckOutcome, CheckRecord, MonitorSource, NewMonitor};
use serde_json::{json, Value};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
const T0: i64 = 1_800_000_000_000;

/// Raw results are kept 10 days here: the tests write three days of history at once, with
/// no roll-up job having seen it, and the hourly prune must not take it away mid-test.
const RULES: &str = "[uptime]\nraw_retention = \"10d\"\n[alerts]\nevaluate_every = \"10s\"\n\
[[rules]]\nname = \"SLO fast burn\"\nwhen = \"slo burn rate >= 14.4 over 1h\"\nseverity = \"critical\"\n\
[[rules]]\nname = \"SLO burn\"\nwhen = \"slo burn rate >= 6 over 6h\"\nseverity = \"critical\"\n\
[[rules]]\nname = \"SLO slow burn\"\nwhen = \"slo burn rate >= 3 over 1d\"\nseverity = \"low\"\n\
[[rules]]\nname = \"SLO leak\"\nwhen = \"slo burn rate >= 1 over 3d\"\nseverity = \"low\"\n";

/// A monitor known to the store only: the scheduler does not check it, so the results
/// below are the only ones it has.
fn monitor(app: &TestApp, name: &str) -> i64 {
    app.state()
        .store
        .create_monitor(&NewMonitor {
            name: name.to_string(),
            kind: MonitorKind::Http,
            spec: json!({"url": "http://127.0.0.1:9/", "interval": "60s"}),
            source: MonitorSource::Api,
            project_id: None,
            token: None,
            slug: None,
            now_ms: T0 - 4 * DAY,
        })
        .unwrap()
        .id
}

/// One check a minute over `[from, to)`, down where `down(at)` says, in maintenance where
/// `maintenance(at)` says.
fn checks(
    app: &TestApp,
    id: i64,
    from: i64,
    to: i64,
    down: impl Fn(i64) -> bool,
    maintenance: impl Fn(i64) -> bool,
) {
    let results = (0..)
        .map(|i| from + i * MIN)
        .take_while(|at| *at < to)
        .map(|at| CheckRecord {
            monitor_id: id,
            at_ms: at,
            latency_ms: Some(120),
            outcome: if down(at) {
                CheckOutcome::Down
            } else {
                CheckOutcome::Up
            },
            maintenance: maintenance(at),
            error: down(at).then(|| "connection refused".to_string()),
            figures: Default::default(),
        })
        .collect();
    app.state()
        .store
        .write_checks(&CheckBatch {
            results,
            ..CheckBatch::default()
        })
        .unwrap();
}

fn create_slo(app: &TestApp, name: &str, monitor: &str) {
    let r = app.send(
        "POST",
        "/api/v1/slos",
        &json!({"name": name, "kind": "availability", "monitor": monitor, "target": 99.9}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

fn open(app: &TestApp) -> Vec<(String, String)> {
    let r = app.get("/api/v1/incidents");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] != "resolved")
        .map(|i| {
            (
                i["rule"].as_str().unwrap_or_default().to_string(),
                i["severity"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Moves the clock a step at a time, letting the alert loop measure at each.
fn run_until(clock: &ManualClock, until: i64, step: i64) {
    while clock.now_ms() < until {
        clock.advance(step);
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
}

#[test]
fn a_full_outage_pages_within_two_minutes() {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(RULES, Arc::new(clock.clone()));
    let id = monitor(&app, "Homepage");
    // Three clean days, then the site goes down at T0.
    checks(&app, id, T0 - 3 * DAY, T0, |_| false, |_| false);
    create_slo(&app, "Homepage availability", "Homepage");
    run_until(&clock, T0 + 20_000, 10_000);
    assert!(open(&app).is_empty(), "{:?}", open(&app));

    checks(&app, id, T0, T0 + 2 * MIN, |_| true, |_| false);
    run_until(&clock, T0 + 2 * MIN, 10_000);
    let o = wait_for("a page", || {
        let o = open(&app);
        o.iter().any(|(_, sev)| sev == "critical").then_some(o)
    });
    assert!(
        o.iter().any(|(r, _)| r == "SLO fast burn"),
        "the 1 h / 5 min pair pages first: {o:?}"
    );

    let v = app.get("/api/v1/slos/Homepage%20availability").body;
    assert_eq!(v["alert"], "page", "{v}");
    assert_eq!(v["source"], "api");
    // 2 bad checks of 4,322; 99.9 % allows 4.322.
    assert!(
        (v["budget_total"].as_f64().unwrap() - 4.322).abs() < 1e-6,
        "{v}"
    );
    assert_eq!(v["budget_spent"], 2.0);
    assert!(v["exhausted_in_seconds"].as_i64().unwrap() > 0, "{v}");
    assert_eq!(v["history"].as_array().unwrap().len(), 4, "{v}");
}

#[test]
fn a_slow_leak_opens_a_ticket_and_no_page() {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(RULES, Arc::new(clock.clone()));
    let id = monitor(&app, "API");
    // One failed check in 400 for three days: 2.5× the 99.9 % rate. Too slow for the page
    // pairs (14.4×, 6×) and the 3× ticket, enough for the 1× over 3 days.
    let leak = |at: i64| (at - (T0 - 3 * DAY)) / MIN % 400 == 399;
    checks(&app, id, T0 - 3 * DAY, T0, leak, |_| false);
    create_slo(&app, "API availability", "API");
    run_until(&clock, T0 + 30_000, 10_000);
    let o = wait_for("a ticket", || {
        let o = open(&app);
        (!o.is_empty()).then_some(o)
    });
    assert_eq!(o, vec![("SLO leak".to_string(), "low".to_string())]);
    let v = app.get("/api/v1/slos/API%20availability").body;
    assert_eq!(v["alert"], "ticket", "{v}");
}

#[test]
fn maintenance_does_not_burn_budget() {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(RULES, Arc::new(clock.clone()));
    let id = monitor(&app, "Shop");
    // Down for the last 30 minutes, all of it inside a maintenance window.
    checks(
        &app,
        id,
        T0 - 3 * DAY,
        T0,
        |at| at >= T0 - 30 * MIN,
        |at| at >= T0 - 30 * MIN,
    );
    create_slo(&app, "Shop availability", "Shop");
    run_until(&clock, T0 + 30_000, 10_000);
    assert!(open(&app).is_empty(), "{:?}", open(&app));
    let v: Value = app.get("/api/v1/slos/Shop%20availability").body;
    assert_eq!(v["budget_spent"], 0.0, "{v}");
    assert_eq!(v["budget_left_percent"], 100.0, "{v}");
    assert_eq!(v["alert"], Value::Null, "{v}");
}

#[test]
fn slos_from_the_config_and_the_api() {
    let clock = ManualClock::new(T0);
    let cfg = "[[monitors]]\nname = \"Homepage\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\ninterval = \"1h\"\n\
               [[slos]]\nname = \"Uptime\"\nkind = \"availability\"\nmonitor = \"Homepage\"\ntarget = 99.9\n\
               [[slos]]\nname = \"p95\"\nkind = \"latency\"\nproject = \"app\"\nthreshold = \"500ms\"\ntarget = 95\nwindow = \"calendar_month\"\n";
    let app = spawn_app_with_clock(cfg, Arc::new(clock.clone()));
    let list = app.get("/api/v1/slos");
    assert_eq!(list.status, 200, "{}", list.body);
    let names: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["definition"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Uptime", "p95"]);
    assert_eq!(list.body[1]["budget_left_percent"], 100.0, "{}", list.body);
    // Config objectives are read-only here.
    let r = app.send("DELETE", "/api/v1/slos/Uptime", &json!({}));
    assert_eq!(r.status, 409, "{}", r.body);
    // Bad definitions are 400 naming the key.
    for (body, key) in [
        (
            json!({"name": "x", "kind": "latency", "project": "app", "target": 99}),
            "threshold",
        ),
        (
            json!({"name": "x", "kind": "availability", "monitor": "Nope", "target": 99}),
            "no monitor",
        ),
        (
            json!({"name": "x", "kind": "availability", "monitor": "Homepage", "target": 120}),
            "target",
        ),
        (json!({"name": "x", "kind": "uptime", "target": 99}), "kind"),
    ] {
        let r = app.send("POST", "/api/v1/slos", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.detail().contains(key), "{body}: {}", r.detail());
    }
    let r = app.send(
        "POST",
        "/api/v1/slos",
        &json!({"name": "Errors", "kind": "errors_per_hour", "project": "app", "threshold": 10, "target": 99}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app.send(
        "POST",
        "/api/v1/slos",
        &json!({"name": "Errors", "kind": "errors_per_hour", "project": "app", "threshold": 10, "target": 99}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(app.get("/api/v1/slos/Errors").status, 200);
    let r = app.send("DELETE", "/api/v1/slos/Errors", &json!({}));
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(app.get("/api/v1/slos/Errors").status, 404);
}

#[test]
fn bad_slos_in_the_config_name_the_key() {
    for (toml, key) in [
        ("[[slos]]\nname = \"a\"\nkind = \"availability\"\nmonitor = \"Nope\"\ntarget = 99.9\n", "slos[0].monitor"),
        ("[[slos]]\nname = \"a\"\nkind = \"latency\"\nproject = \"default\"\ntarget = 99.9\n", "slos[0].threshold"),
        ("[[slos]]\nname = \"a\"\nkind = \"availability\"\nmonitor = \"x\"\ntarget = 99.9\nspeed = 1\n", "slos[0]"),
    ] {
        let err = lookout_server::Config::parse(toml, "lookout.toml", &|_| None)
            .expect_err(toml)
            .to_string();
        assert!(err.contains(key), "{err}");
    }
}

/// One error event of the project received at `at`, its id made from `n`.
fn error_event(n: u64, at: i64) -> lookout_store::NewEvent {
    lookout_store::NewEvent {
        project_id: PROJECT_ID,
        event_id: format!("{n:032x}"),
        timestamp_ms: at,
        received_ms: at,
        level: lookout_store::Level::Error,
        platform: None,
        release: None,
        environment: None,
        title: "ValueError: boom".into(),
        culprit: "app in handler".into(),
        fingerprint: "boom".into(),
        grouping_version: "test".into(),
        handled: Some(true),
        user_key: None,
        payload: b"{}".to_vec(),
    }
}

/// Errors per hour: an hour with 12 errors against "fewer than 10 an hour" is one bad hour
/// of the window's; an hour with 3 is a good one.
#[test]
fn an_hour_over_the_error_threshold_spends_one_hour_of_budget() {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(
        "[[slos]]\nname = \"Errors\"\nkind = \"errors_per_hour\"\nproject = \"app\"\nthreshold = 10\ntarget = 99\nwindow = \"7d\"\n",
        Arc::new(clock.clone()),
    );
    let bad_hour = T0 - 5 * HOUR;
    let good_hour = T0 - 3 * HOUR;
    let mut events: Vec<_> = (0..12)
        .map(|i| error_event(i, bad_hour + i as i64 * MIN))
        .collect();
    events.extend((0..3).map(|i| error_event(100 + i, good_hour + i as i64 * MIN)));
    app.state()
        .store
        .write_batch(&lookout_store::WriteBatch {
            events,
            ..Default::default()
        })
        .unwrap();
    let v = app.get("/api/v1/slos/Errors").body;
    // 7 whole days of hours before now (T0 is on an hour), one of them bad.
    assert_eq!(v["budget_spent"], 1.0, "{v}");
    let hours = 7.0 * 24.0;
    assert!(
        (v["budget_total"].as_f64().unwrap() - 0.01 * hours).abs() < 1e-9,
        "{v}"
    );
    assert!(
        (v["value"].as_f64().unwrap() - 100.0 * (hours - 1.0) / hours).abs() < 1e-9,
        "{v}"
    );
    assert_eq!(v["met"], true, "{v}");
}

/// An evaluation's windows (the burn-rate windows, the last hour, the daily history) read
/// whole hours from the hourly counts and the cut hours at their edges from the events.
/// With events in those cut hours, it must give exactly what reading each window gives.
#[test]
fn an_evaluation_equals_reading_each_window() {
    // Not on an hour or a minute: every window has cut hours at both ends.
    let now = T0 + 37 * MIN + 12_345;
    let clock = ManualClock::new(now);
    let app = spawn_app_with_clock(
        "[[slos]]\nname = \"Errors\"\nkind = \"errors_per_hour\"\nproject = \"app\"\nthreshold = 4\ntarget = 99\nwindow = \"7d\"\n",
        Arc::new(clock.clone()),
    );
    let mut events = Vec::new();
    let mut n = 0u64;
    // Over 8 days, 0 to 9 errors an hour in a pattern, at minutes that fall on both sides
    // of the windows' cuts (each window ends at `now`, 37 minutes into its hour).
    // Just after each window's start, in its cut first hour: enough errors there alone
    // to make that part of the hour bad.
    let cuts: Vec<i64> = lookout_core::slo::DEFAULT_BURN_WINDOWS
        .iter()
        .flat_map(|w| [w.long_ms, w.short_ms])
        .chain([7 * DAY])
        .flat_map(|len| (1..=5).map(move |k| now - len + k * MIN))
        .collect();
    // The hour still running is over the threshold already, so it counts too.
    let this_hour: Vec<i64> = (0..6).map(|k| now - (k * 5 + 1) * MIN).collect();
    for h in 0..=8 * 24 {
        let hour = (now - 8 * DAY).div_euclid(HOUR) * HOUR + h * HOUR;
        let ats: Vec<i64> = if hour == now.div_euclid(HOUR) * HOUR {
            this_hour.clone()
        } else {
            (0..(h * 7 % 10))
                .map(|k| hour + (k * 13 % 60) * MIN + 999)
                .collect()
        };
        for at in ats
            .into_iter()
            .chain(if h == 0 { cuts.clone() } else { Vec::new() })
        {
            if at > now {
                continue;
            }
            n += 1;
            events.push(error_event(n, at));
        }
    }
    let state = app.state();
    let store = state.store.as_ref();
    store
        .write_batch(&lookout_store::WriteBatch {
            events,
            ..Default::default()
        })
        .unwrap();
    let slo = state
        .slos
        .all(store)
        .unwrap()
        .into_iter()
        .find(|s| s.config.name == "Errors")
        .unwrap();
    let src = lookout_server::slo::source(store, &slo).unwrap();
    let got = lookout_server::slo::evaluate(store, &slo, now).unwrap();

    use lookout_core::slo as core;
    use lookout_server::slo::{series, total};
    let start = core::window_start(now, slo.window);
    let days = series(store, &slo, &src, start, now + 1, DAY).unwrap();
    let last_hour = total(store, &slo, &src, now - HOUR, now + 1).unwrap();
    let want = core::evaluate(
        slo.config.target,
        core::window_length_ms(now, slo.window),
        &days,
        last_hour,
    );
    assert_eq!(got.status, want);
    assert!(want.budget_spent > 0.0, "some hours are over the threshold");
    assert!(
        last_hour.total >= 1.0 && last_hour.good < last_hour.total,
        "the running hour is bad already: {last_hour:?}"
    );
    for (b, w) in got.burn_rates.iter().zip(core::DEFAULT_BURN_WINDOWS.iter()) {
        let long = core::burn_rate(
            total(store, &slo, &src, now - w.long_ms, now + 1).unwrap(),
            slo.config.target,
        );
        let short = core::burn_rate(
            total(store, &slo, &src, now - w.short_ms, now + 1).unwrap(),
            slo.config.target,
        );
        assert_eq!((b.long, b.short), (long, short), "{w:?}");
    }
}
