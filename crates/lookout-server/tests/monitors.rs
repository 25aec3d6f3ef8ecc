//! Uptime monitors end to end: the real server in-process with an injected clock, real
//! targets on loopback (an HTTP server that can be switched up, down, slow, to a wrong
//! status, to a body without the keyword, to a degraded or unhealthy health document; a
//! closed port; a name that does not resolve; TLS servers with generated certificates that
//! expire in 5 days, have expired, or are for another host), heartbeat pings, maintenance
//! windows, the API and `/api/health`.

mod common;
#[path = "../../lookout-probe/tests/common/mod.rs"]
mod probe_common;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use lookout_core::clock::ManualClock;
use serde_json::{json, Value};

const MIN: i64 = 60_000;
/// A round start time, so schedules are easy to read in failures.
const T0: i64 = 1_800_000_000_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Mode {
    Up = 0,
    Down = 1,
    Slow = 2,
    WrongStatus = 3,
    NoKeyword = 4,
    Degraded = 5,
    Unhealthy = 6,
}

/// An HTTP target on loopback whose behaviour the test switches.
struct Target {
    mode: Arc<AtomicU8>,
    url: String,
    _rt: tokio::runtime::Runtime,
}

impl Target {
    fn start() -> Target {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mode = Arc::new(AtomicU8::new(Mode::Up as u8));
        let m = mode.clone();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(move || {
            let m = m.clone();
            async move { respond(m.load(Ordering::SeqCst)).await }
        });
        rt.spawn(async move { axum::serve(listener, app).await });
        Target {
            mode,
            url: format!("http://{addr}"),
            _rt: rt,
        }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

async fn respond(mode: u8) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let health = |status: &str, db: &str| {
        json!({
            "status": status,
            "timestamp": "2027-01-15T08:00:00Z",
            "uptime": 12.5,
            "checks": {
                "database": {"status": db, "latency": 250},
                "memory": {"status": "ok", "used": 100, "total": 1000, "percentage": 10}
            }
        })
        .to_string()
    };
    match mode {
        0 => (StatusCode::OK, health("ok", "ok")).into_response(),
        1 => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        2 => {
            // Far past any check's timeout: a slow check ends only by timing out. Dropping
            // the target's runtime ends the wait.
            tokio::time::sleep(Duration::from_secs(30)).await;
            (StatusCode::OK, health("ok", "ok")).into_response()
        }
        3 => (StatusCode::NOT_FOUND, "not here").into_response(),
        4 => (StatusCode::OK, "{\"hello\": \"world\"}").into_response(),
        5 => (StatusCode::OK, health("degraded", "degraded")).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            health("unhealthy", "unhealthy"),
        )
            .into_response(),
    }
}

fn app_at(extra: &str) -> (TestApp, ManualClock) {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(extra, Arc::new(clock.clone()));
    (app, clock)
}

fn monitor_by_name(app: &TestApp, name: &str) -> Value {
    let r = app.get("/api/v1/monitors");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no monitor {name} in {}", r.body))
}

fn monitor(app: &TestApp, id: i64) -> Value {
    let r = app.get(&format!("/api/v1/monitors/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// The newest persisted raw result's time, if any.
fn newest_result(app: &TestApp, id: i64) -> Option<i64> {
    let r = app.get(&format!("/api/v1/monitors/{id}/results?limit=1"));
    r.body
        .as_array()?
        .first()
        .map(|r| parse_iso(r["at"].as_str().unwrap()))
}

/// Waits for the monitor's warm-up check, taken at once after start (the clock stands
/// still, so at its time), then runs its first check on the phase within its interval that
/// the scheduler chose (shown as `next_check`), from which on it is checked every
/// interval; returns the monitor and that time.
fn first_check(app: &TestApp, clock: &ManualClock, id: i64) -> (Value, i64) {
    let now = clock_now(clock);
    let m = wait_for("the warm-up check", || {
        let m = monitor(app, id);
        let last = parse_iso(m["status"]["last_check"].as_str()?);
        (last == now && newest_result(app, id)? == now).then_some(m)
    });
    let next = m["status"]["next_check"]
        .as_str()
        .map(parse_iso)
        .expect("next_check");
    assert!(next > now, "{m}");
    (step_to(app, clock, id, next), next)
}

/// Sets the clock to a check's due time `at` and waits until that check ran and its
/// result, status, outage and signals are persisted (they are written together).
fn step_to(app: &TestApp, clock: &ManualClock, id: i64, at: i64) -> Value {
    clock.set(at);
    wait_for("the check due at the new time", || {
        let m = monitor(app, id);
        let last = parse_iso(m["status"]["last_check"].as_str()?);
        (last == at && newest_result(app, id)? == at).then_some(m)
    })
}

fn clock_now(clock: &ManualClock) -> i64 {
    use lookout_core::clock::Clock;
    clock.now_ms()
}

fn parse_iso(s: &str) -> i64 {
    let t: jiff::Timestamp = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
    t.as_millisecond()
}

fn signals(app: &TestApp, monitor_id: i64) -> Vec<Value> {
    let r = app.get("/api/v1/signals?after=0&limit=1000");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["monitor_id"] == monitor_id)
        .cloned()
        .collect()
}

fn kinds(signals: &[Value]) -> Vec<String> {
    signals
        .iter()
        .map(|s| s["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn http_monitor(name: &str, url: &str, extra: &str) -> String {
    format!(
        "[[monitors]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"{url}\"\ninterval = \"60s\"\nretry_interval = \"20s\"\ntimeout = \"2s\"\n{extra}\n"
    )
}

#[test]
fn an_outage_is_confirmed_by_a_quick_retry_and_recovery_closes_it() {
    let target = Target::start();
    let (app, clock) = app_at(&http_monitor("Homepage", &target.url, ""));
    let id = monitor_by_name(&app, "Homepage")["id"].as_i64().unwrap();

    let (m, f) = first_check(&app, &clock, id);
    assert_eq!(m["status"]["state"], "up", "{m}");
    assert_eq!(m["status"]["http_status"], 200, "{m}");
    for phase in ["dns_ms", "connect_ms", "first_byte_ms", "total_ms"] {
        assert!(m["status"]["timings_ms"][phase].is_number(), "{phase}: {m}");
    }
    // The stored result keeps the phases too, in whole ms, as history.
    let stored = wait_for("the stored result", || {
        let r = app.get(&format!("/api/v1/monitors/{id}/results")).body;
        r.as_array().filter(|a| !a.is_empty()).cloned()
    });
    for phase in ["dns_ms", "connect_ms", "first_byte_ms"] {
        assert!(stored[0][phase].is_u64(), "{phase}: {stored:?}");
    }
    assert!(
        stored[0].get("tls_ms").is_none(),
        "plain HTTP has no TLS phase"
    );
    assert!(stored[0].get("memory_bytes").is_none(), "{stored:?}");

    target.set(Mode::Down);
    let m = step_to(&app, &clock, id, f + MIN);
    assert_eq!(
        m["status"]["state"], "up",
        "one failure is not an outage: {m}"
    );
    assert!(
        m["status"]["last_error"].as_str().unwrap().contains("500"),
        "{m}"
    );
    // The retry comes 20 s later, not a whole interval later.
    let m = step_to(&app, &clock, id, f + MIN + 20_000);
    assert_eq!(m["status"]["state"], "down", "{m}");
    assert_eq!(
        parse_iso(m["status"]["down_since"].as_str().unwrap()),
        f + MIN,
        "the outage starts at its first failing check"
    );
    let sig = wait_for("the down signal", || {
        let s = signals(&app, id);
        (!s.is_empty()).then_some(s)
    });
    assert_eq!(kinds(&sig), ["monitor_down"]);
    assert!(
        sig[0]["detail"].as_str().unwrap().contains("Homepage"),
        "{sig:?}"
    );

    // Still down: no second signal.
    step_to(&app, &clock, id, f + 2 * MIN + 20_000);
    assert_eq!(signals(&app, id).len(), 1);
    target.set(Mode::Up);
    let m = step_to(&app, &clock, id, f + 3 * MIN + 20_000);
    assert_eq!(m["status"]["state"], "up", "{m}");
    let sig = wait_for("the up signal", || {
        let s = signals(&app, id);
        (s.len() == 2).then_some(s)
    });
    assert_eq!(kinds(&sig), ["monitor_down", "monitor_up"]);

    let outages = app.get(&format!("/api/v1/monitors/{id}/outages")).body;
    let outages = outages.as_array().unwrap();
    assert_eq!(outages.len(), 1, "{outages:?}");
    assert_eq!(outages[0]["ongoing"], false);
    assert_eq!(outages[0]["duration_ms"], 2 * MIN + 20_000, "{outages:?}");
    assert!(outages[0]["cause"].as_str().unwrap().contains("500"));

    let results = app.get(&format!("/api/v1/monitors/{id}/results")).body;
    let outcomes: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    // The warm-up check at start, then the five on the phase.
    assert_eq!(
        outcomes,
        ["up", "up", "down", "down", "down", "up"]
            .iter()
            .rev()
            .copied()
            .collect::<Vec<_>>()
    );

    // Roll-ups: the minute buckets hold one check each, the hour bucket all six.
    clock.set(T0 + 2 * 60 * MIN);
    lookout_server::jobs::roll_up_checks(app.state().store.as_ref(), clock_now(&clock));
    let hour = app
        .get(&format!(
            "/api/v1/monitors/{id}/rollups?resolution=hour&from={T0}"
        ))
        .body;
    assert_eq!(hour[0]["count"], 6, "{hour}");
    assert_eq!(hour[0]["failures"], 3, "{hour}");
    assert!(hour[0]["p95_ms"].is_number(), "{hour}");
    let minutes = app
        .get(&format!(
            "/api/v1/monitors/{id}/rollups?resolution=minute&from={T0}"
        ))
        .body;
    let total: u64 = minutes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 6, "{minutes}");
    let r = app.get(&format!("/api/v1/monitors/{id}/rollups?resolution=week"));
    assert_eq!(r.status, 400);

    // Uptime since creation: 2 min 20 s down.
    let u = app
        .get(&format!("/api/v1/monitors/{id}/uptime?from={T0}"))
        .body;
    assert_eq!(u["downtime_ms"], 2 * MIN + 20_000, "{u}");
    let span = (clock_now(&clock) + 1 - T0) as f64;
    let expect = 100.0 * (1.0 - (2 * MIN + 20_000) as f64 / span);
    assert!(
        (u["uptime_pct"].as_f64().unwrap() - expect).abs() < 0.01,
        "{u}"
    );
}

#[test]
fn each_failure_is_named_in_plain_words() {
    let target = Target::start();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = String::new();
    cfg += &http_monitor(
        "keyword",
        &target.url,
        "kind = \"keyword\"\nkeyword = \"\\\"status\\\":\\\"ok\\\"\"",
    );
    cfg = cfg.replacen("kind = \"http\"\n", "", 1);
    cfg += &http_monitor("status", &target.url, "");
    cfg += &http_monitor("slow", &target.url, "");
    cfg += &http_monitor("dns", "http://lookout-test.invalid/", "");
    cfg += &format!(
        "[[monitors]]\nname = \"port\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {closed}\ninterval = \"60s\"\n"
    );
    let (app, clock) = app_at(&cfg);
    let id = |n: &str| monitor_by_name(&app, n)["id"].as_i64().unwrap();
    let (kw, st, slow, dns, port) = (
        id("keyword"),
        id("status"),
        id("slow"),
        id("dns"),
        id("port"),
    );
    // The target answers compact JSON in Up mode, so the keyword is found at first.
    target.set(Mode::Up);
    clock.advance(MIN);
    for i in [kw, st, slow] {
        wait_for("first checks", || {
            (monitor(&app, i)["status"]["state"] == "up").then_some(())
        });
    }
    target.set(Mode::NoKeyword);
    clock.advance(MIN);
    let err = |i: i64| {
        wait_for("a failure", || {
            monitor(&app, i)["status"]["last_error"]
                .as_str()
                .map(str::to_string)
        })
    };
    assert!(err(kw).contains("keyword"), "{}", err(kw));
    target.set(Mode::WrongStatus);
    clock.advance(20_000);
    wait_for("the status failure", || {
        err(st).contains("404").then_some(())
    });
    target.set(Mode::Slow);
    clock.advance(20_000);
    wait_for("the timeout", || {
        err(slow).contains("timed out").then_some(())
    });
    assert!(err(dns).contains("DNS"), "{}", err(dns));
    assert!(err(port).contains("refused"), "{}", err(port));
}

#[test]
fn health_documents_degrade_rather_than_fail() {
    let target = Target::start();
    let cfg = format!(
        "[[monitors]]\nname = \"Health Endpoint\"\nkind = \"health\"\nurl = \"{}/api/health\"\ninterval = \"60s\"\n",
        target.url
    );
    let (app, clock) = app_at(&cfg);
    let id = monitor_by_name(&app, "Health Endpoint")["id"]
        .as_i64()
        .unwrap();
    let (_, f) = first_check(&app, &clock, id);
    target.set(Mode::Degraded);
    step_to(&app, &clock, id, f + MIN);
    let m = step_to(&app, &clock, id, f + MIN + 20_000);
    assert_eq!(m["status"]["state"], "degraded", "{m}");
    assert!(
        m["status"]["last_error"]
            .as_str()
            .unwrap()
            .contains("database"),
        "names the failing check: {m}"
    );
    target.set(Mode::Unhealthy);
    step_to(&app, &clock, id, f + 2 * MIN + 20_000);
    let m = step_to(&app, &clock, id, f + 2 * MIN + 40_000);
    assert_eq!(m["status"]["state"], "down", "{m}");
    assert_eq!(
        kinds(&signals(&app, id)),
        ["monitor_degraded", "monitor_down"]
    );
}

#[test]
fn maintenance_windows_suppress_alerts_and_downtime() {
    let target = Target::start();
    let start = "2027-01-15T08:00:00Z";
    let t0 = parse_iso(start);
    let cfg = format!(
        "{}[[maintenance]]\nname = \"Deploy window\"\nmonitors = [\"Homepage\"]\nstart = \"2027-01-15T08:06:00Z\"\nend = \"2027-01-15T08:16:00Z\"\n",
        http_monitor("Homepage", &target.url, "")
    );
    let clock = ManualClock::new(t0);
    let app = spawn_app_with_clock(&cfg, Arc::new(clock.clone()));
    let id = monitor_by_name(&app, "Homepage")["id"].as_i64().unwrap();
    // After the warm-up check at 08:00, monitor 1's phase puts its checks at f =
    // 08:01:02.465 and every minute after, so f + 5 min … f + 14 min fall inside the
    // 08:06–08:16 window and f + 15 min after it.
    let (_, f) = first_check(&app, &clock, id);
    assert!(
        (parse_iso("2027-01-15T08:01:00Z")..parse_iso("2027-01-15T08:02:00Z")).contains(&f),
        "{f}"
    );
    for k in 1..5 {
        step_to(&app, &clock, id, f + k * MIN);
    }
    target.set(Mode::Down);
    for k in 5..15 {
        let m = step_to(&app, &clock, id, f + k * MIN);
        assert_eq!(m["status"]["state"], "maintenance", "{m}");
        assert_eq!(m["status"]["down_since"], Value::Null, "{m}");
    }
    assert!(signals(&app, id).is_empty(), "no alert in the window");
    // The window is over; failures inside it did not count toward the alert.
    let m = step_to(&app, &clock, id, f + 15 * MIN);
    assert_eq!(m["status"]["state"], "up", "{m}");
    let m = step_to(&app, &clock, id, f + 15 * MIN + 20_000);
    assert_eq!(m["status"]["state"], "down", "{m}");
    let u = app
        .get(&format!(
            "/api/v1/monitors/{id}/uptime?from={t0}&to={}",
            f + 15 * MIN
        ))
        .body;
    assert_eq!(
        u["downtime_ms"], 0,
        "the window's failures are not downtime: {u}"
    );
    let results = app.get(&format!("/api/v1/monitors/{id}/results")).body;
    let in_window = results
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["maintenance"] == true)
        .count();
    assert_eq!(in_window, 10, "{results}");

    // One-off windows through the API, e.g. opened by a deploy.
    let r = app.send(
        "POST",
        "/api/v1/maintenance",
        &json!({"monitor_id": id, "duration": "10m", "reason": "deploy"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let m = step_to(&app, &clock, id, f + 16 * MIN + 20_000);
    assert_eq!(m["status"]["state"], "maintenance", "{m}");
    let r = app.send("POST", "/api/v1/maintenance", &json!({"reason": "x"}));
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn heartbeats_detect_missed_failed_and_too_long_runs() {
    let cfg = "[[monitors]]\nname = \"backup\"\nkind = \"heartbeat\"\nperiod = \"1h\"\ngrace = \"5m\"\nmax_runtime = \"30m\"\ntoken = \"backup-token-1234\"\n";
    let (app, clock) = app_at(cfg);
    let m = monitor_by_name(&app, "backup");
    let id = m["id"].as_i64().unwrap();
    assert!(
        m["ping_url"]
            .as_str()
            .unwrap()
            .ends_with("/ping/backup-token-1234"),
        "{m}"
    );
    let ping = |path: &str| {
        request(
            "GET",
            &format!("{}/ping/backup-token-1234{path}", app.url),
            &[],
            vec![],
        )
    };
    assert_eq!(ping("").status, 200);
    assert_eq!(monitor(&app, id)["status"]["state"], "up");

    // On time: nothing happens.
    clock.advance(60 * MIN);
    assert_eq!(ping("").status, 200);
    // Late beyond the grace: missed, once.
    clock.advance(65 * MIN - 1);
    std::thread::sleep(Duration::from_millis(300));
    assert!(signals(&app, id).is_empty(), "not before period + grace");
    clock.advance(1);
    let sig = wait_for("the missed signal", || {
        let s = signals(&app, id);
        (!s.is_empty()).then_some(s)
    });
    assert_eq!(kinds(&sig), ["heartbeat_missed"]);
    clock.advance(3 * 60 * MIN);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(signals(&app, id).len(), 1, "no repeat while down");
    assert_eq!(monitor(&app, id)["status"]["state"], "down");

    // A run: start, then success, recovers.
    assert_eq!(ping("/start").status, 200);
    clock.advance(MIN);
    assert_eq!(ping("/0").status, 200);
    let sig = wait_for("the up signal", || {
        let s = signals(&app, id);
        (s.len() == 2).then_some(s)
    });
    assert_eq!(kinds(&sig)[1], "monitor_up");
    let m = monitor(&app, id);
    assert_eq!(m["status"]["last_latency_ms"], MIN, "run duration: {m}");

    // A failing exit code.
    assert_eq!(ping("/3").status, 200);
    let sig = wait_for("the failed signal", || {
        let s = signals(&app, id);
        (s.len() == 3).then_some(s)
    });
    assert_eq!(kinds(&sig)[2], "heartbeat_failed");
    assert!(
        sig[2]["detail"].as_str().unwrap().contains("exit code 3"),
        "{sig:?}"
    );

    // Bad pings and unknown tokens.
    assert_eq!(ping("/abc").status, 400);
    let r = request(
        "GET",
        &format!("{}/ping/nope-nope-nope", app.url),
        &[],
        vec![],
    );
    assert_eq!(r.status, 404);
}

#[test]
fn heartbeat_runs_that_never_end_are_detected() {
    let cfg = "[[monitors]]\nname = \"import\"\nkind = \"heartbeat\"\nperiod = \"1h\"\ngrace = \"5m\"\nmax_runtime = \"10m\"\ntoken = \"import-token-1234\"\n";
    let (app, clock) = app_at(cfg);
    let id = monitor_by_name(&app, "import")["id"].as_i64().unwrap();
    let url = format!("{}/ping/import-token-1234/start", app.url);
    assert_eq!(request("POST", &url, &[], vec![]).status, 200);
    clock.advance(10 * MIN + 1);
    let sig = wait_for("the too-long signal", || {
        let s = signals(&app, id);
        (!s.is_empty()).then_some(s)
    });
    assert_eq!(kinds(&sig), ["heartbeat_missed"]);
    assert!(
        sig[0]["detail"]
            .as_str()
            .unwrap()
            .contains("has not finished"),
        "{sig:?}"
    );
}

#[test]
fn config_monitors_are_checked_at_once_on_start_with_the_warm_up_spread() {
    // 80 monitors with an hour's interval: none waits for its phase within the hour. The
    // first 51 (100 ms of the 2 ms pace, both ends in) are checked the moment lookout
    // starts, the rest 2 ms apart.
    let target = Target::start();
    let cfg: String = (0..80)
        .map(|i| {
            format!(
                "[[monitors]]\nname = \"m{i}\"\nkind = \"http\"\nurl = \"{}/{i}\"\ninterval = \"1h\"\n",
                target.url
            )
        })
        .collect();
    let (app, clock) = app_at(&cfg);
    // The server answers before the scheduler has taken every monitor in: wait until each
    // has a check planned, running or done (the clock stands still, so no time passes).
    let mut firsts: Vec<i64> = wait_for("every monitor scheduled", || {
        let all = app.get("/api/v1/monitors").body;
        all.as_array()?
            .iter()
            .map(|m| {
                let s = &m["status"];
                s["last_check"]
                    .as_str()
                    .or(s["running_since"].as_str())
                    .or(s["next_check"].as_str())
                    .map(parse_iso)
            })
            .collect::<Option<Vec<i64>>>()
    });
    firsts.sort_unstable();
    assert_eq!(firsts.len(), 80);
    assert_eq!(firsts[0], T0);
    assert_eq!(firsts[50], T0, "the burst: {firsts:?}");
    assert_eq!(firsts[51], T0 + 2, "then paced: {firsts:?}");
    assert_eq!(firsts[79], T0 + 58, "{firsts:?}");
    // Within the first second every monitor has its result; the next checks are on each
    // monitor's phase, half an interval to one and a half away.
    clock.set(T0 + 1_000);
    wait_for("every first check", || {
        let all = app.get("/api/v1/monitors").body;
        let all = all.as_array()?;
        all.iter()
            .all(|m| m["status"]["last_check"].is_string() && m["status"]["state"] == "up")
            .then_some(())
    });
    for m in app.get("/api/v1/monitors").body.as_array().unwrap() {
        let next = parse_iso(m["status"]["next_check"].as_str().unwrap());
        let last = parse_iso(m["status"]["last_check"].as_str().unwrap());
        assert!((last + 30 * MIN..=last + 90 * MIN).contains(&next), "{m}");
    }
}

#[test]
fn a_new_monitor_is_checked_at_once_then_on_its_spread_phase() {
    let target = Target::start();
    let (app, clock) = app_at("");
    let create = |name: &str| {
        let r = app.send(
            "POST",
            "/api/v1/monitors",
            &json!({"name": name, "kind": "http", "url": target.url, "interval": "60s", "retry_interval": "20s", "timeout": "2s"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    };
    let m = create("Home");
    let id = m["id"].as_i64().unwrap();
    assert_eq!(m["status"]["state"], "up", "{m}");
    assert_eq!(
        parse_iso(m["status"]["last_check"].as_str().unwrap()),
        T0,
        "{m}"
    );
    assert!(m["status"]["timings_ms"].is_object(), "{m}");
    // The next check is on the monitor's own phase within the interval, between half an
    // interval and one and a half after the first; then every interval.
    let phase = lookout_core::monitor::spread_offset_ms(id as u64, MIN);
    let next = parse_iso(m["status"]["next_check"].as_str().unwrap());
    assert_eq!((next - phase).rem_euclid(MIN), 0, "{m}");
    assert!((T0 + MIN / 2..=T0 + 3 * MIN / 2).contains(&next), "{m}");
    step_to(&app, &clock, id, next);
    let after = monitor(&app, id);
    assert_eq!(
        parse_iso(after["status"]["next_check"].as_str().unwrap()),
        next + MIN,
        "{after}"
    );

    // A failing first check keeps its quick retry; the schedule joins the phase once the
    // state is settled.
    target.set(Mode::Down);
    clock.set(next + MIN + 5_000);
    let m = create("Login");
    let id = m["id"].as_i64().unwrap();
    let first = parse_iso(m["status"]["last_check"].as_str().unwrap());
    assert_eq!(first, next + MIN + 5_000, "checked at once: {m}");
    let retry = parse_iso(m["status"]["next_check"].as_str().unwrap());
    assert_eq!(retry, first + 20_000, "{m}");
    let m = step_to(&app, &clock, id, retry);
    assert_eq!(m["status"]["state"], "down", "{m}");
    let settled = parse_iso(m["status"]["next_check"].as_str().unwrap());
    let phase = lookout_core::monitor::spread_offset_ms(id as u64, MIN);
    assert_eq!((settled - phase).rem_euclid(MIN), 0, "{m}");
}

#[test]
fn monitors_are_managed_through_the_api() {
    let target = Target::start();
    let (app, clock) = app_at("");
    let r = app.send(
        "POST",
        "/api/v1/monitors",
        &json!({"name": "Signup", "kind": "http", "url": format!("{}/signup", target.url), "interval": "30s"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["source"], "api");
    // Checked at once: the answer carries the first result.
    assert_eq!(r.body["status"]["state"], "up", "{}", r.body);
    assert_eq!(
        parse_iso(r.body["status"]["last_check"].as_str().unwrap()),
        T0
    );
    wait_for("the first result", || newest_result(&app, id));
    // Uptime counts from creation: a second later the monitor has a range to judge.
    clock.advance(1_000);
    let m = monitor(&app, id);
    assert_eq!(m["status"]["state"], "up", "{m}");
    assert_eq!(m["uptime"]["24h"], 100.0, "{m}");
    assert_eq!(m["latency_24h"]["count"], 1, "{m}");

    // Bad definitions name the monitor and the key.
    let bad = [
        (
            json!({"name": "a", "kind": "http", "url": "ftp://x"}),
            "url",
        ),
        (
            json!({"name": "b", "kind": "http", "url": "http://x", "interval": "5s"}),
            "interval",
        ),
        (
            json!({"name": "c", "kind": "http", "url": "http://x", "colour": 1}),
            "colour",
        ),
        (
            json!({"name": "d", "kind": "heartbeat", "cron": "61 * * * *"}),
            "cron",
        ),
        (
            json!({"name": "e", "kind": "tcp", "host": "db", "port": 5432, "keyword": "x"}),
            "keyword",
        ),
    ];
    for (body, key) in bad {
        let r = app.send("POST", "/api/v1/monitors", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.detail().contains(key), "{body}: {}", r.detail());
    }
    let dup = app.send(
        "POST",
        "/api/v1/monitors",
        &json!({"name": "Signup", "kind": "tcp", "host": "127.0.0.1", "port": 1}),
    );
    assert_eq!(dup.status, 409, "{}", dup.body);

    // Pause: no checks; resume: checks again.
    let r = app.send("POST", &format!("/api/v1/monitors/{id}/pause"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"]["state"], "paused");
    let before = monitor(&app, id)["status"]["last_check"].clone();
    clock.advance(5 * MIN);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(monitor(&app, id)["status"]["last_check"], before);
    app.send("POST", &format!("/api/v1/monitors/{id}/resume"), &json!({}));
    let m = step_to(&app, &clock, id, clock_now(&clock));
    assert_eq!(
        m["status"]["state"], "up",
        "a resumed monitor is checked at once: {m}"
    );

    // Edit, then delete.
    let r = app.send(
        "PUT",
        &format!("/api/v1/monitors/{id}"),
        &json!({"name": "Signup page", "kind": "keyword", "url": format!("{}/signup", target.url), "keyword": "nope"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "Signup page");
    let r = app.send("DELETE", &format!("/api/v1/monitors/{id}"), &json!(null));
    assert_eq!(r.status, 204);
    assert_eq!(app.get(&format!("/api/v1/monitors/{id}")).status, 404);

    let health = app.get("/api/health").body;
    assert_eq!(health["checks"]["scheduler"]["status"], "ok", "{health}");

    // Checks that start well after their time make the scheduler degraded.
    clock.advance(1);
    let r = app.send(
        "POST",
        "/api/v1/monitors",
        &json!({"name": "Late", "kind": "http", "url": target.url}),
    );
    let late = r.body["id"].as_i64().unwrap();
    let due = parse_iso(r.body["status"]["next_check"].as_str().unwrap());
    assert!(due > clock_now(&clock));
    assert_ne!(late, id, "monitor ids are never reused");
    clock.set(due + 30_000);
    wait_for("the late check", || {
        let m = monitor(&app, late);
        (parse_iso(m["status"]["last_check"].as_str()?) == due).then_some(())
    });
    let health = app.get("/api/health");
    assert_eq!(health.status, 200, "degraded still answers 200");
    assert_eq!(health.body["status"], "degraded", "{}", health.body);
    assert_eq!(health.body["checks"]["scheduler"]["status"], "degraded");
    assert!(
        health.body["checks"]["scheduler"]["late_p99_ms"]
            .as_i64()
            .unwrap()
            >= 30_000
    );
}

#[test]
fn config_monitors_keep_their_history_across_restarts_and_cannot_be_edited_by_api() {
    let target = Target::start();
    let cfg = format!(
        "{}[[monitors]]\nname = \"cron\"\nkind = \"heartbeat\"\ncron = \"0 3 * * *\"\ntimezone = \"Europe/Berlin\"\n",
        http_monitor("Login", &target.url, "")
    );
    let clock = ManualClock::new(T0);
    let mut app = spawn_app_with_clock(&cfg, Arc::new(clock.clone()));
    let m = monitor_by_name(&app, "Login");
    let id = m["id"].as_i64().unwrap();
    target.set(Mode::Down);
    let (_, f) = first_check(&app, &clock, id);
    let m = step_to(&app, &clock, id, f + 20_000);
    assert_eq!(m["status"]["state"], "down");
    let ping_url = monitor_by_name(&app, "cron")["ping_url"].clone();
    let token = ping_url
        .as_str()
        .expect("a generated ping URL")
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 32, "{ping_url}");
    let r = app.send("DELETE", &format!("/api/v1/monitors/{id}"), &json!(null));
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.detail().contains("config"), "{}", r.detail());

    // Restart on the same data: the outage is remembered, so recovery closes it.
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    drop(app);
    let app = spawn_app_in(&cfg, Arc::new(clock.clone()), dir);
    let m = monitor_by_name(&app, "Login");
    assert_eq!(m["id"], id);
    assert_eq!(m["status"]["state"], "down", "{m}");
    let kept = monitor_by_name(&app, "cron")["ping_url"].clone();
    assert!(
        kept.as_str().unwrap().ends_with(&token),
        "the token is kept: {kept}"
    );
    target.set(Mode::Up);
    let m = step_to(&app, &clock, id, f + 80_000);
    assert_eq!(m["status"]["state"], "up", "{m}");
    let outages = app.get(&format!("/api/v1/monitors/{id}/outages")).body;
    assert_eq!(outages[0]["ongoing"], false, "{outages}");
}

#[test]
fn bad_monitor_config_names_the_monitor_and_the_key() {
    let cases = [
        ("[[monitors]]\nname = \"A\"\nkind = \"http\"\nurl = \"not a url\"\n", "monitors[0].url", "A"),
        ("[[monitors]]\nname = \"B\"\nkind = \"http\"\nurl = \"http://x\"\ninterval = \"2s\"\n", "monitors[0].interval", "B"),
        ("[[monitors]]\nname = \"C\"\nkind = \"http\"\nurl = \"http://x\"\ncolour = \"red\"\n", "monitors[0]", "colour"),
        ("[[monitors]]\nname = \"D\"\nkind = \"heartbeat\"\ncron = \"0 25 * * *\"\n", "monitors[0].cron", "D"),
        ("[[monitors]]\nname = \"E\"\nkind = \"heartbeat\"\ncron = \"0 3 * * *\"\ntimezone = \"Mars/Olympus\"\n", "monitors[0].timezone", "E"),
        ("[[monitors]]\nname = \"F\"\nkind = \"tcp\"\nhost = \"db\"\n", "monitors[0].port", "F"),
        ("[[maintenance]]\nname = \"W\"\ncron = \"0 2 * * SUN\"\n", "maintenance[0].duration", "W"),
    ];
    for (toml, key, word) in cases {
        let err = lookout_server::Config::parse(toml, "lookout.toml", &|_| None)
            .expect_err(toml)
            .to_string();
        assert!(err.contains(key), "{toml}\n→ {err}");
        assert!(err.contains(word), "{toml}\n→ {err}");
    }
}

#[test]
fn certificates_warn_before_expiry_and_bad_ones_are_named() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ca = probe_common::TestCa::new();
    // Certificates are judged at the server's clock: their dates count from T0.
    let leaf = |name, from_days, to_days| {
        let day = |n: i64| T0 / 1000 + n * probe_common::DAY;
        ca.leaf_between(&[name], day(from_days), day(to_days))
    };
    let (soon, _t1) = rt.block_on(probe_common::tls_server(leaf("localhost", -1, 5)));
    let (expired, _t2) = rt.block_on(probe_common::tls_server(leaf("localhost", -30, -2)));
    let (other, _t3) = rt.block_on(probe_common::tls_server(leaf("other.example", -1, 90)));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let ca_file = ca_file.display();
    let tls = |name: &str, port: u16| {
        format!("[[monitors]]\nname = \"{name}\"\nkind = \"tls\"\nhost = \"localhost\"\nport = {port}\nca_file = \"{ca_file}\"\ninterval = \"1h\"\nalert_after = 1\n")
    };
    let mut cfg =
        tls("soon", soon.port()) + &tls("expired", expired.port()) + &tls("other", other.port());
    cfg += &format!(
        "[[monitors]]\nname = \"site\"\nkind = \"http\"\nurl = \"https://localhost:{}/\"\nca_file = \"{ca_file}\"\ninterval = \"1h\"\n",
        soon.port()
    );
    let (app, clock) = app_at(&cfg);
    let id = |n: &str| monitor_by_name(&app, n)["id"].as_i64().unwrap();
    // Each monitor's first check at its own phase, in time order, once the warm-up check
    // taken at start has run (while it runs, no next check is queued).
    let now = clock_now(&clock);
    let mut checks: Vec<(i64, i64)> = ["soon", "expired", "other", "site"]
        .iter()
        .map(|n| {
            let next = wait_for("the warm-up check", || {
                let m = monitor(&app, id(n));
                let last = parse_iso(m["status"]["last_check"].as_str()?);
                (last == now).then_some(())?;
                m["status"]["next_check"].as_str().map(parse_iso)
            });
            (next, id(n))
        })
        .collect();
    checks.sort();
    for &(at, m) in &checks {
        step_to(&app, &clock, m, at);
    }
    let (soon_id, site_id, expired_id, other_id) =
        (id("soon"), id("site"), id("expired"), id("other"));

    // Expiring soon is a warning, never a fake outage; https monitors report it too.
    for m in [soon_id, site_id] {
        let v = monitor(&app, m);
        assert_eq!(v["status"]["state"], "up", "{v}");
        assert!(v["status"]["tls_expires"].is_string(), "{v}");
        let s = signals(&app, m);
        assert_eq!(kinds(&s), ["tls_expiring"], "{s:?}");
        let d = s[0]["detail"].as_str().unwrap();
        assert!(
            d.contains("expires in 5 days") || d.contains("expires in 4 days"),
            "{d}"
        );
    }
    let e = monitor(&app, expired_id);
    assert!(
        e["status"]["last_error"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{e}"
    );
    assert!(signals(&app, expired_id)[0]["detail"]
        .as_str()
        .unwrap()
        .contains("has expired"));
    let o = monitor(&app, other_id);
    assert!(
        o["status"]["last_error"]
            .as_str()
            .unwrap()
            .contains("another host name"),
        "{o}"
    );

    // The next round: the warning is not repeated.
    for &(f, m) in &checks {
        step_to(&app, &clock, m, f + 60 * MIN);
    }
    for m in [soon_id, site_id] {
        assert_eq!(kinds(&signals(&app, m)), ["tls_expiring"]);
    }
    assert_eq!(monitor(&app, expired_id)["status"]["state"], "down");
    assert_eq!(monitor(&app, other_id)["status"]["state"], "down");
    assert!(kinds(&signals(&app, other_id)).contains(&"monitor_down".to_string()));
}

#[test]
fn a_slow_target_delays_no_other_check() {
    let slow = Target::start();
    slow.set(Mode::Slow);
    let fast = Target::start();
    // Both are checked at once at start (the warm-up); the slow one hangs until its
    // timeout. That timeout is long so that, however slow this machine, the fast result
    // and the reads below come while the slow check still runs: were the checks run one
    // after the other, the fast result would come only after the slow one's.
    let cfg = format!(
        "[[monitors]]\nname = \"slow\"\nkind = \"http\"\nurl = \"{}\"\ninterval = \"60s\"\ntimeout = \"8s\"\n",
        slow.url
    ) + &http_monitor("fast", &fast.url, "");
    let (app, _clock) = app_at(&cfg);
    let id = |n: &str| monitor_by_name(&app, n)["id"].as_i64().unwrap();
    wait_for("the fast check", || newest_result(&app, id("fast")));
    assert!(
        newest_result(&app, id("slow")).is_none(),
        "the fast check was recorded while the slow one still ran"
    );
    let r = app.get("/api/v1/scheduler").body;
    assert_eq!(r["running"], 1, "{r}");
    let m = wait_for("the slow check's timeout", || {
        let m = monitor(&app, id("slow"));
        m["status"]["last_error"].as_str()?;
        Some(m)
    });
    assert!(
        m["status"]["last_error"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{m}"
    );
}

#[test]
fn a_pm2_monitor_reports_its_figures_and_a_crash_loop_once() {
    let tmp = tempfile::tempdir().unwrap();
    let set = |status: &str, restarts: u64| {
        std::fs::write(tmp.path().join("status"), status).unwrap();
        std::fs::write(tmp.path().join("restarts"), restarts.to_string()).unwrap();
    };
    set("online", 3);
    let pm2 = fake_pm2(tmp.path());
    let (app, clock) = app_at(&format!(
        "[[monitors]]\nname = \"web app\"\nkind = \"pm2\"\napp = \"web\"\nprogram = \"{}\"\ninterval = \"60s\"\nalert_after = 1\n",
        pm2.display()
    ));
    let id = monitor_by_name(&app, "web app")["id"].as_i64().unwrap();
    set("online", 3);
    let (m, f) = first_check(&app, &clock, id);
    assert_eq!(m["status"]["state"], "up", "{m}");
    let fig = &m["status"]["pm2"];
    assert_eq!(fig["instances"], 1, "{m}");
    assert_eq!(fig["restarts"], 3);
    assert_eq!(fig["restarted"], 0);
    assert_eq!(fig["memory_bytes"], 134_217_728);
    assert_eq!(fig["cpu_percent"], 1.5);
    // Kept as history with the stored result (memory to the KiB, CPU to 0.1 %).
    let stored = wait_for("the stored result", || {
        let r = app.get(&format!("/api/v1/monitors/{id}/results")).body;
        r.as_array().filter(|a| !a.is_empty()).cloned()
    });
    assert_eq!(stored[0]["memory_bytes"], 134_217_728, "{stored:?}");
    assert_eq!(stored[0]["cpu_percent"], 1.5);
    assert!(stored[0].get("dns_ms").is_none());

    // Restarting: degraded, and the crash-loop signal, once while it keeps restarting.
    set("online", 5);
    let m = step_to(&app, &clock, id, f + MIN);
    assert_eq!(m["status"]["state"], "degraded", "{m}");
    assert!(
        m["status"]["last_error"]
            .as_str()
            .unwrap()
            .contains("restarted 2 times since the last check"),
        "{m}"
    );
    set("online", 7);
    step_to(&app, &clock, id, f + 2 * MIN);
    let crash_loops = || {
        kinds(&signals(&app, id))
            .iter()
            .filter(|k| *k == "crash_loop")
            .count()
    };
    assert_eq!(crash_loops(), 1, "{:?}", signals(&app, id));
    // Steady again, then a new run of restarts: a second signal.
    let m = step_to(&app, &clock, id, f + 3 * MIN);
    assert_eq!(m["status"]["state"], "up", "{m}");
    set("online", 8);
    step_to(&app, &clock, id, f + 4 * MIN);
    assert_eq!(crash_loops(), 2);
    // Errored: down, named.
    set("errored", 9);
    let m = step_to(&app, &clock, id, f + 5 * MIN);
    assert_eq!(m["status"]["state"], "down", "{m}");
    assert!(
        m["status"]["last_error"]
            .as_str()
            .unwrap()
            .contains("web (pm_id 0) is errored"),
        "{m}"
    );
    // The app's environment is never shown or kept.
    let everything = format!(
        "{}{}{}",
        app.get("/api/v1/monitors").body,
        app.get(&format!("/api/v1/monitors/{id}/results")).body,
        app.get("/api/v1/signals?after=0&limit=1000").body
    );
    assert!(!everything.contains("S3cr3t"), "{everything}");
    let db = std::fs::read_dir(app.dir.path())
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .any(|bytes| bytes.windows(6).any(|w| w == b"S3cr3t"));
    assert!(!db, "the secret is in the data directory");
}

/// A health document's sub-check durations feed a health latency objective: the
/// reference "database check under 100 ms" against a database answering in 250 ms.
#[test]
fn health_sub_check_latency_feeds_its_objective() {
    let target = Target::start();
    let cfg = format!(
        "[[monitors]]\nname = \"Health Endpoint\"\nkind = \"health\"\nurl = \"{}/api/health\"\ninterval = \"60s\"\n\
         [[slos]]\nname = \"Database check\"\nkind = \"health_latency\"\nmonitor = \"Health Endpoint\"\ncheck = \"database\"\nthreshold = \"100ms\"\ntarget = 99\n\
         [[slos]]\nname = \"Memory check\"\nkind = \"health_latency\"\nmonitor = \"Health Endpoint\"\ncheck = \"memory\"\nthreshold = \"100ms\"\ntarget = 99\n",
        target.url
    );
    let (app, clock) = app_at(&cfg);
    let id = monitor_by_name(&app, "Health Endpoint")["id"]
        .as_i64()
        .unwrap();
    first_check(&app, &clock, id);
    // The monitor was checked at start and again by `first_check`: each reading counts.
    let v = wait_for("the database readings", || {
        let v = app.get("/api/v1/slos/Database%20check").body;
        (v["history"][0]["total"].as_f64()? >= 1.0).then_some(v)
    });
    let readings = v["history"][0]["total"].as_f64().unwrap();
    assert_eq!(v["history"][0]["good"], 0.0, "250 ms is over 100 ms: {v}");
    assert_eq!(
        v["budget_spent"].as_f64(),
        Some(readings),
        "each slow reading spends one event of budget: {v}"
    );
    assert_eq!(v["met"], false, "{v}");
    // The memory check reports no latency: nothing to count.
    let m = app.get("/api/v1/slos/Memory%20check").body;
    assert_eq!(m["value"], Value::Null, "{m}");
    assert_eq!(m["budget_left_percent"], 100.0, "{m}");
}
