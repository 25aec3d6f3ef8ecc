//! Deploy records through the API: recorded with their checks, verdict and rollback,
//! listed and read back, bad input refused with the field named, and each issue saying
//! which deploy came before its first event.

mod common;

use std::sync::Arc;

use common::*;
use lookout_core::clock::{Clock, ManualClock};
use serde_json::{json, Value};

const MIN: i64 = 60_000;
/// 2026-12-04T12:00:00Z.
const T0: i64 = 1_796_385_600_000;

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

fn parse(s: &Value) -> i64 {
    s.as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

#[test]
fn deploys_are_recorded_listed_and_read_back() {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock("", Arc::new(clock.clone()));
    let checks = json!([
        {"kind": "health", "target": "http://127.0.0.1:3000/api/health", "outcome": "pass",
         "summary": "ok", "attempts": 3, "duration_ms": 2150},
        {"kind": "page", "target": "http://127.0.0.1:3000/login", "outcome": "pass",
         "summary": "HTTP 200", "attempts": 1, "duration_ms": 40}
    ]);
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({
            "project": "app",
            "release": "web@1.4.2",
            "environment": "production",
            "name": "deploy #41",
            "url": "https://ci.example.org/runs/41",
            "commit": "0123abc",
            "dateStarted": iso(T0 - MIN),
            "dateFinished": iso(T0),
            "verdict": "passed",
            "checks": checks,
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let d = r.body;
    let id = d["id"].as_i64().unwrap();
    assert_eq!(d["projectId"], PROJECT_ID);
    assert_eq!(d["release"], "web@1.4.2");
    assert_eq!(d["environment"], "production");
    assert_eq!(d["commit"], "0123abc");
    assert_eq!(d["name"], "deploy #41");
    assert_eq!(parse(&d["dateStarted"]), T0 - MIN);
    assert_eq!(parse(&d["dateFinished"]), T0);
    assert_eq!(d["verdict"], "passed");
    assert_eq!(d["checks"], checks);
    // A passed deploy is watched for the default 10 minutes after it finished.
    assert_eq!(d["watch"]["verdict"], "watching", "{d}");
    assert_eq!(parse(&d["watch"]["until"]), T0 + 10 * MIN);

    // Sentry's shape: `version` for the release, the defaults for the rest; a deploy
    // rolled back is not watched (its release no longer serves), and neither is one
    // asked not to be.
    clock.set(T0 + MIN);
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({"project": PROJECT_ID.to_string(), "version": "web@1.4.3", "verdict": "rolled_back",
                "rollback": {"to": "HEAD~1", "steps": [{"command": "pm2 restart web", "outcome": "ok"}]}}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let rolled = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["environment"], "production");
    assert_eq!(parse(&r.body["dateStarted"]), T0 + MIN);
    assert_eq!(r.body["watch"], Value::Null);
    assert_eq!(r.body["rollback"]["to"], "HEAD~1");
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({"project": "app", "release": "web@1.4.3", "environment": "staging", "watch": "0s"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let staging = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["watch"], Value::Null);

    let ids = |q: &str| -> Vec<i64> {
        let r = app.get(&format!("/api/v1/deploys{q}"));
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(""), [staging, rolled, id], "newest first");
    assert_eq!(ids("?project=app&environment=production"), [rolled, id]);
    assert_eq!(ids("?release=web@1.4.3&limit=1"), [staging]);
    let one = app.get(&format!("/api/v1/deploys/{id}"));
    assert_eq!(one.status, 200);
    assert_eq!(one.body["checks"], checks);
    assert_eq!(app.get("/api/v1/deploys/999").status, 404);
    assert_eq!(app.get("/api/v1/deploys/x").status, 400);
    assert_eq!(app.get("/api/v1/deploys?project=nope").status, 404);
    assert_eq!(app.get("/api/v1/deploys?colour=red").status, 400);

    // Bad input: a 400 naming the field, never a record.
    for (body, field) in [
        (json!({"release": "x"}), "project"),
        (json!({"project": "app"}), "release"),
        (json!({"project": "app", "release": " "}), "release"),
        (
            json!({"project": "app", "release": "x", "dateStarted": "yesterday"}),
            "dateStarted",
        ),
        (
            json!({"project": "app", "release": "x", "dateStarted": iso(T0), "dateFinished": iso(T0 - 1)}),
            "dateFinished",
        ),
        (
            json!({"project": "app", "release": "x", "verdict": "great"}),
            "verdict",
        ),
        (
            json!({"project": "app", "release": "x", "checks": {}}),
            "checks",
        ),
        (
            json!({"project": "app", "release": "x", "rollback": []}),
            "rollback",
        ),
        (
            json!({"project": "app", "release": "x", "watch": "soon"}),
            "watch",
        ),
        (
            json!({"project": "app", "release": "x", "colour": "red"}),
            "colour",
        ),
    ] {
        let r = app.send("POST", "/api/v1/deploys", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.detail().contains(field), "{body}: {}", r.detail());
    }
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({"project": "nope", "release": "x"}),
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(ids("").len(), 3);
}

#[test]
fn each_issue_says_which_deploy_came_before_its_first_event() {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock("", Arc::new(clock.clone()));
    let send = |ty: &str| {
        let (_, body) = envelope(&exception_event(ty, "boom", "app.views", ty, 10));
        let r = app.post_envelope(body, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
    };
    send("EarlyError");
    wait_for("the first issue", || {
        (app.issues("").len() == 1).then_some(())
    });
    clock.set(T0 + MIN);
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({"project": "app", "release": "web@2.0.0"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let deploy = r.body["id"].as_i64().unwrap();
    clock.set(T0 + 2 * MIN);
    send("LateError");
    let issues = wait_for("the second issue", || {
        let i = app.issues("sort=first_seen");
        (i.len() == 2).then_some(i)
    });
    assert!(issues[0]["title"].as_str().unwrap().contains("LateError"));
    assert_eq!(issues[0]["deploy_before"]["id"], deploy, "{}", issues[0]);
    assert_eq!(issues[0]["deploy_before"]["release"], "web@2.0.0");
    assert_eq!(issues[1]["deploy_before"], Value::Null, "{}", issues[1]);
    let id = issues[0]["id"].as_i64().unwrap();
    let one = app.get(&format!("/api/v1/issues/{id}"));
    assert_eq!(one.body["deploy_before"]["id"], deploy, "{}", one.body);
}

/// How the receiver answers one request: a status after a delay.
type Answer = (u16, std::time::Duration);

/// An HTTP receiver on loopback (rollback webhooks, alert channels): the paths and bodies
/// it got. It answers a rollback webhook by the release in its body as told
/// ([`Receiver::answer`]), anything else 200 at once.
struct Receiver {
    url: String,
    got: Arc<std::sync::Mutex<Vec<(String, Value)>>>,
    answers: Arc<std::sync::Mutex<std::collections::HashMap<String, Answer>>>,
    _rt: tokio::runtime::Runtime,
}

impl Receiver {
    fn start() -> Receiver {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let got: Arc<std::sync::Mutex<Vec<(String, Value)>>> = Arc::default();
        let answers: Arc<std::sync::Mutex<std::collections::HashMap<String, Answer>>> =
            Arc::default();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (g, a) = (got.clone(), answers.clone());
        let app =
            axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
                let (g, a) = (g.clone(), a.clone());
                async move {
                    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
                    let release = body["deploy"]["release"].as_str().unwrap_or_default();
                    let (status, delay) = a
                        .lock()
                        .unwrap()
                        .get(release)
                        .copied()
                        .unwrap_or((200, std::time::Duration::ZERO));
                    g.lock().unwrap().push((uri.path().to_string(), body));
                    tokio::time::sleep(delay).await;
                    (axum::http::StatusCode::from_u16(status).unwrap(), "done")
                }
            });
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url,
            got,
            answers,
            _rt: rt,
        }
    }

    /// How to answer the rollback webhook of `release`.
    fn answer(&self, release: &str, status: u16, delay: std::time::Duration) {
        self.answers
            .lock()
            .unwrap()
            .insert(release.to_string(), (status, delay));
    }

    /// The bodies posted to `path`.
    fn at(&self, path: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

/// Records a deploy of `release` to production at the clock's time.
fn deploy(app: &TestApp, release: &str) -> i64 {
    let r = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({"project": "app", "release": release, "environment": "production"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_i64().unwrap()
}

/// The deploy once the watch has judged it.
fn verdict(app: &TestApp, id: i64) -> Value {
    wait_for("the watch's verdict", || {
        let d = app.get(&format!("/api/v1/deploys/{id}")).body;
        let v = d["watch"]["verdict"].as_str()?.to_string();
        (v != "watching").then_some(d)
    })
}

/// Every incident of `rule`, resolved ones too.
fn incidents_of(app: &TestApp, rule: &str) -> Vec<Value> {
    app.get("/api/v1/incidents?status=all")
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["rule"] == rule)
        .cloned()
        .collect()
}

/// Sends `n` handled errors of `release` from one code site (one issue).
fn send_errors(app: &TestApp, release: &str, ty: &str, n: u64) {
    for i in 0..n {
        let mut ev = exception_event(ty, &format!("order {i}"), "shop.pay", "charge", 10);
        ev["release"] = json!(release);
        let (_, body) = envelope(&ev);
        assert_eq!(app.post_envelope(body, &[]).status, 200);
    }
}

/// Long enough for the alert loop (which wakes at least every 200 ms) and the outbox to
/// have acted on anything they were going to act on.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(1_500));
}

#[test]
fn a_bad_release_alerts_and_rolls_back_and_a_quiet_one_is_good() {
    let hook = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("rollback.log");
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(
        &format!(
            "[alerts]\nevaluate_every = \"10s\"\n\n[[rules]]\nname = \"Bad deploy\"\nwhen = \"errors after deploy > 2x in 15m\"\nseverity = \"high\"\n\n\
             [deploy.watch]\nwindow = \"10m\"\nrollback_webhook = \"{}/rollback\"\nrollback_command = \"echo \\\"$LOOKOUT_DEPLOY_RELEASE\\\" >> '{}'\"\n",
            hook.url,
            ran.display()
        ),
        Arc::new(clock.clone()),
    );

    // web@2 throws errors after its deploy.
    let bad = deploy(&app, "web@2");
    clock.set(T0 + MIN);
    send_errors(&app, "web@2", "PaymentDeclined", 8);
    wait_for("the events", || {
        (app.issues("")
            .iter()
            .map(|i| i["count"].as_u64().unwrap())
            .sum::<u64>()
            == 8)
            .then_some(())
    });
    clock.advance(10_000);
    wait_for("the incident", || {
        clock.advance(1_000);
        (incidents_of(&app, "Bad deploy").len() == 1).then_some(())
    });
    // Not judged before the window ends; then bad, with the hook run once.
    assert_eq!(
        app.get(&format!("/api/v1/deploys/{bad}")).body["watch"]["verdict"],
        "watching"
    );
    clock.set(T0 + 10 * MIN);
    let d = verdict(&app, bad);
    assert_eq!(d["watch"]["verdict"], "bad", "{d}");
    assert_eq!(d["watch"]["figures"]["errors_after"], 8, "{d}");
    assert_eq!(d["watch"]["figures"]["new_issues"], 1, "{d}");
    wait_for("the rollback hook", || {
        (hook.at("/rollback").len() == 1 && std::fs::read_to_string(&ran).is_ok()).then_some(())
    });
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "web@2\n");
    assert_eq!(hook.at("/rollback")[0]["deploy"]["release"], "web@2");
    // How the hook went is kept with the figures.
    let d = wait_for("the hook's outcome", || {
        let d = app.get(&format!("/api/v1/deploys/{bad}")).body;
        d["watch"]["figures"]["rollback_hook"]["webhook"]
            .is_object()
            .then_some(d)
    });
    let outcome = &d["watch"]["figures"]["rollback_hook"];
    assert_eq!(outcome["command"]["outcome"], "ok", "{outcome}");
    assert_eq!(outcome["webhook"]["outcome"], "ok", "{outcome}");
    assert_eq!(outcome["webhook"]["summary"], "answered 200", "{outcome}");
    assert_eq!(d["watch"]["verdict"], "bad", "the verdict stays: {d}");

    // Once the deploy's window has passed, the incident clears (its ratio is no longer
    // measured above the factor for `clear_after`).
    clock.set(T0 + 16 * MIN);
    let first = wait_for("the incident to resolve", || {
        clock.advance(10_000);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let i = incidents_of(&app, "Bad deploy");
        (i.len() == 1 && i[0]["status"] == "resolved").then(|| i[0].clone())
    });

    // web@3 is quiet: good, no hook, and the rule does not fire again.
    let q0 = clock.now_ms() + MIN;
    clock.set(q0);
    let quiet = deploy(&app, "web@3");
    for _ in 0..3 {
        clock.advance(10_000);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    clock.set(q0 + 10 * MIN);
    let d = verdict(&app, quiet);
    assert_eq!(d["watch"]["verdict"], "good", "{d}");
    assert_eq!(d["watch"]["figures"]["reasons"], json!([]), "{d}");
    settle();
    assert_eq!(hook.at("/rollback").len(), 1);
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "web@2\n");
    let all = incidents_of(&app, "Bad deploy");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["id"], first["id"]);
    assert_eq!(all[0]["status"], "resolved");
    assert_eq!(all[0]["count"], first["count"], "{all:?}");
}

/// The verdict is a signal the rules match (`bad deploy`): a release that is bad only
/// because of a new issue, with too few errors for any error-rate rule, opens exactly one
/// incident and sends one message naming the release and why; a quiet release none.
#[test]
fn a_bad_verdict_alone_opens_one_incident_through_the_bad_deploy_rule() {
    let hook = Receiver::start();
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(
        &format!(
            "[alerts]\nevaluate_every = \"10s\"\n\n\
             [channels.hook]\nkind = \"webhook\"\nurl = \"{}/alerts\"\ntimeout = \"2s\"\n\n\
             [[rules]]\nname = \"Errors after deploy\"\nwhen = \"errors after deploy > 2x in 15m\"\nseverity = \"high\"\nnotify = [\"hook\"]\n\n\
             [[rules]]\nname = \"Bad deploy\"\nwhen = \"bad deploy\"\nseverity = \"high\"\nnotify = [\"hook\"]\n\n\
             [deploy.watch]\nwindow = \"10m\"\n",
            hook.url
        ),
        Arc::new(clock.clone()),
    );
    let bad = deploy(&app, "web@2");
    clock.set(T0 + MIN);
    send_errors(&app, "web@2", "TemplateMissing", 1);
    wait_for("the event", || (app.issues("").len() == 1).then_some(()));
    // The error-rate rule sees one error: below its least number, no incident.
    for _ in 0..3 {
        clock.advance(10_000);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(hook.at("/alerts").is_empty(), "{:?}", hook.at("/alerts"));
    clock.set(T0 + 10 * MIN);
    let d = verdict(&app, bad);
    assert_eq!(d["watch"]["verdict"], "bad", "{d}");
    let figures = &d["watch"]["figures"];
    assert_eq!(figures["errors_after"], 1, "{d}");
    assert_eq!(figures["new_issues"], 1, "{d}");
    let reasons = figures["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "bad for the new issue only: {d}");

    let sent = wait_for("the notification", || {
        let got = hook.at("/alerts");
        (!got.is_empty()).then_some(got)
    });
    settle();
    let sent_after = hook.at("/alerts");
    assert_eq!(sent_after.len(), 1, "{sent_after:?}");
    let msg = &sent[0];
    assert_eq!(msg["type"], "incident.triggered", "{msg}");
    assert_eq!(msg["data"]["rule"], "Bad deploy", "{msg}");
    let title = msg["data"]["title"].as_str().unwrap();
    assert_eq!(
        title,
        format!(
            "Bad deploy: web@2 in production (deploy #{bad}): {}",
            reasons[0].as_str().unwrap()
        ),
        "the release and the verdict's reasons are in the message"
    );
    let incs = incidents_of(&app, "Bad deploy");
    assert_eq!(incs.len(), 1, "{incs:?}");
    assert_eq!(incs[0]["subject"]["kind"], "project", "{}", incs[0]);
    assert_eq!(incs[0]["subject"]["id"], PROJECT_ID, "{}", incs[0]);
    assert_eq!(incs[0]["count"], 1, "{}", incs[0]);
    assert_eq!(incs[0]["title"], title, "{}", incs[0]);
    assert!(incidents_of(&app, "Errors after deploy").is_empty());

    // A quiet release: good, and neither a new incident nor another occurrence of the
    // open one, nor a message.
    clock.set(T0 + 30 * MIN);
    let quiet = deploy(&app, "web@3");
    clock.set(T0 + 40 * MIN);
    let d = verdict(&app, quiet);
    assert_eq!(d["watch"]["verdict"], "good", "{d}");
    settle();
    assert_eq!(hook.at("/alerts").len(), 1, "{:?}", hook.at("/alerts"));
    let incs = incidents_of(&app, "Bad deploy");
    assert_eq!(incs.len(), 1, "{incs:?}");
    assert_eq!(incs[0]["count"], 1, "{}", incs[0]);
}

/// Crash-free sessions end to end: `session` updates (as the browser and mobile SDKs send
/// them, each counted once when it ends) and `sessions` aggregates (as server SDKs send
/// them) of the release make the figure the watch judges by.
#[test]
fn crash_free_sessions_from_session_and_sessions_items_judge_the_release() {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(
        "[deploy.watch]\nwindow = \"10m\"\nmin_crash_free_percent = 99.0\nmin_sessions = 20\n",
        Arc::new(clock.clone()),
    );
    let iso_s = |ms: i64| iso(ms);
    let send_sessions =
        |release: &str, crashed_updates: u64, exited_updates: u64, aggregate: Value| {
            let mut body = String::from("{}\n");
            let started = iso_s(clock.now_ms());
            for i in 0..(crashed_updates + exited_updates) {
                let sid = uuid::Uuid::new_v4().to_string();
                let attrs = json!({"release": release, "environment": "production"});
                // The first update of a session is "ok" (still running): not counted.
                let init = json!({"sid": sid, "did": format!("user-{i}"), "init": true,
                              "started": started, "timestamp": started, "status": "ok",
                              "errors": 0, "duration": 0, "attrs": attrs});
                let status = if i < crashed_updates {
                    "crashed"
                } else {
                    "exited"
                };
                let end = json!({"sid": sid, "did": format!("user-{i}"), "init": false,
                             "started": started, "timestamp": started, "status": status,
                             "errors": u64::from(status == "crashed"), "duration": 12.5,
                             "attrs": attrs});
                for item in [init, end] {
                    body.push_str(&format!("{{\"type\":\"session\"}}\n{item}\n"));
                }
            }
            let mut agg = aggregate;
            agg["attrs"] = json!({"release": release, "environment": "production"});
            body.push_str(&format!("{{\"type\":\"sessions\"}}\n{agg}\n"));
            let r = app.post_envelope(body.into_bytes(), &[]);
            assert_eq!(r.status, 200, "{}", r.body);
        };

    // web@2: 2 of 10 single sessions crash, and of 90 aggregated 4 crash: 94 % crash-free.
    let bad = deploy(&app, "web@2");
    clock.set(T0 + MIN);
    send_sessions(
        "web@2",
        2,
        8,
        json!({"aggregates": [
            {"started": iso_s(T0 + MIN), "exited": 80, "errored": 6, "crashed": 4},
        ]}),
    );
    // web@3: 100 sessions, none crashed (errored ones are not crashes).
    clock.set(T0 + 30 * MIN);
    let good = deploy(&app, "web@3");
    clock.set(T0 + 31 * MIN);
    send_sessions(
        "web@3",
        0,
        10,
        json!({"aggregates": [
            {"started": iso_s(T0 + 31 * MIN), "exited": 85, "errored": 5},
        ]}),
    );
    clock.set(T0 + 40 * MIN);
    let d = verdict(&app, bad);
    let f = &d["watch"]["figures"];
    assert_eq!(d["watch"]["verdict"], "bad", "{d}");
    assert_eq!(f["sessions"], 100, "{d}");
    assert_eq!(f["crash_free_percent"], 94.0, "{d}");
    let reasons = f["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{d}");
    assert!(
        reasons[0]
            .as_str()
            .unwrap()
            .contains("94.00% of 100 sessions crash-free"),
        "{d}"
    );
    let d = verdict(&app, good);
    assert_eq!(d["watch"]["verdict"], "good", "{d}");
    assert_eq!(d["watch"]["figures"]["sessions"], 100, "{d}");
    assert_eq!(d["watch"]["figures"]["crash_free_percent"], 100.0, "{d}");
}

/// A rollback hook that fails (a command exiting non-zero, a webhook answering 500) or
/// hangs past `rollback_timeout` is stopped and reported with the deploy's figures, and
/// holds up no other deploy's verdict or hook.
#[test]
fn a_rollback_hook_that_fails_or_hangs_is_reported_and_holds_up_nothing() {
    let hook = Receiver::start();
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(
        &format!(
            "[deploy.watch]\nwindow = \"10m\"\nrollback_timeout = \"3s\"\n\
             rollback_webhook = \"{}/rollback\"\n\
             rollback_command = \"case \\\"$LOOKOUT_DEPLOY_RELEASE\\\" in web@2) exit 7;; web@3) sleep 60;; esac\"\n",
            hook.url
        ),
        Arc::new(clock.clone()),
    );
    // web@2's hook: the command exits 7, the webhook answers 500. web@3's: the command
    // sleeps and the webhook answers after a minute, both stopped at 3 s. web@4's works.
    hook.answer("web@2", 500, std::time::Duration::ZERO);
    hook.answer("web@3", 200, std::time::Duration::from_secs(60));
    let first = deploy(&app, "web@2");
    clock.set(T0 + MIN);
    send_errors(&app, "web@2", "FirstBug", 1);
    wait_for("the first issue", || {
        (app.issues("").len() == 1).then_some(())
    });
    clock.set(T0 + 10 * MIN);
    let outcome_of = |id: i64| {
        let d = app.get(&format!("/api/v1/deploys/{id}")).body;
        let o = d["watch"]["figures"]["rollback_hook"].clone();
        o["webhook"].is_object().then_some(o)
    };
    let o = wait_for("web@2's hook", || outcome_of(first));
    assert_eq!(o["command"]["outcome"], "failed", "{o}");
    assert!(
        o["command"]["summary"]
            .as_str()
            .unwrap()
            .contains("exit status: 7"),
        "{o}"
    );
    assert_eq!(o["webhook"]["outcome"], "failed", "{o}");
    assert_eq!(
        o["webhook"]["summary"], "the rollback webhook answered 500",
        "{o}"
    );

    // Two bad releases due at once: web@3's hook hangs; web@4 is judged and its hook
    // done meanwhile.
    clock.set(T0 + 20 * MIN);
    let slow = deploy(&app, "web@3");
    let next = deploy(&app, "web@4");
    clock.set(T0 + 21 * MIN);
    send_errors(&app, "web@3", "SecondBug", 1);
    send_errors(&app, "web@4", "ThirdBug", 1);
    wait_for("the new issues", || {
        (app.issues("").len() == 3).then_some(())
    });
    clock.set(T0 + 30 * MIN);
    let o = wait_for("web@4's hook", || outcome_of(next));
    assert_eq!(o["command"]["outcome"], "ok", "{o}");
    assert_eq!(o["webhook"]["outcome"], "ok", "{o}");
    let d = app.get(&format!("/api/v1/deploys/{slow}")).body;
    assert_eq!(d["watch"]["verdict"], "bad", "{d}");
    assert!(
        d["watch"]["figures"]["rollback_hook"].is_null(),
        "web@3's hook (6 s of timeouts) is still running while web@4's is done: {d}"
    );
    let o = wait_for("web@3's hook", || outcome_of(slow));
    assert_eq!(o["command"]["outcome"], "failed", "{o}");
    assert!(
        o["command"]["summary"]
            .as_str()
            .unwrap()
            .contains("ran longer than 3s and was stopped"),
        "{o}"
    );
    assert_eq!(o["webhook"]["outcome"], "failed", "{o}");
    assert!(
        o["webhook"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach the rollback webhook"),
        "{o}"
    );
    assert_eq!(hook.at("/rollback").len(), 3);
}
