//! Alerts end to end: the real server in-process with an injected clock, real events and
//! monitors producing signals and measures, and in-process receivers that play a Slack
//! hook and a webhook endpoint — including their failures (500, 429 with Retry-After,
//! 404 for a revoked hook).

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use lookout_core::clock::{Clock, ManualClock};
use lookout_store::{NewEvent, WriteBatch};
use serde_json::{json, Value};

const MIN: i64 = 60_000;
const T0: i64 = 1_800_000_000_000;

/// What a receiver answers next: status and extra headers.
type Answer = (u16, Vec<(&'static str, &'static str)>);

/// An HTTP receiver on loopback that records every request and answers from a queue
/// (200 once the queue is empty).
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(u16, Value)>>>,
    answers: Arc<Mutex<VecDeque<Answer>>>,
    _rt: Arc<tokio::runtime::Runtime>,
}

impl Receiver {
    fn start() -> Receiver {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let got: Arc<Mutex<Vec<(u16, Value)>>> = Arc::default();
        let answers: Arc<Mutex<VecDeque<Answer>>> = Arc::default();
        let (g, a) = (got.clone(), answers.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let (g, a) = (g.clone(), a.clone());
            async move {
                use axum::response::IntoResponse;
                let (status, headers) = a.lock().unwrap().pop_front().unwrap_or((200, vec![]));
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                g.lock().unwrap().push((status, v));
                let mut resp = (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    if status == 200 { "ok" } else { "no" },
                )
                    .into_response();
                for (k, v) in headers {
                    resp.headers_mut().insert(k, v.parse().unwrap());
                }
                resp
            }
        });
        rt.spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/hook"),
            got,
            answers,
            _rt: Arc::new(rt),
        }
    }

    fn answer(&self, a: Answer) {
        self.answers.lock().unwrap().push_back(a);
    }

    fn requests(&self) -> Vec<(u16, Value)> {
        self.got.lock().unwrap().clone()
    }

    /// The Slack messages accepted, as their fallback text.
    fn delivered_texts(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, v)| v["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// Lets the alert loop and the dispatcher run a few rounds at the current clock.
fn settle() {
    std::thread::sleep(Duration::from_millis(700));
}

/// Moves the clock on 10 s at a time until `f` holds. For a state the alert loop reaches
/// only by evaluating at some time and again at a later one (a clear time): a loop that
/// missed a stopped clock's moment, on a busy machine, gets more of them rather than
/// none.
fn advance_until<T>(clock: &ManualClock, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    wait_for(what, || {
        f().or_else(|| {
            clock.advance(10_000);
            None
        })
    })
}

fn ms(iso: &Value) -> Option<i64> {
    Some(
        iso.as_str()?
            .parse::<jiff::Timestamp>()
            .ok()?
            .as_millisecond(),
    )
}

/// The monitor's warm-up check, taken at once after start while the clock stands still:
/// its id and the phase slot of its first check on schedule. Until the warm-up check is
/// done, `next_check` is none (the check runs) or the start time itself.
fn warmed_up(app: &TestApp) -> (i64, i64) {
    wait_for("the warm-up check", || {
        let m = app.get("/api/v1/monitors").body[0].clone();
        ms(&m["status"]["last_check"])?;
        Some((m["id"].as_i64()?, ms(&m["status"]["next_check"])?))
    })
}

/// Waits until monitor `id` has the result of its check due at `at` (or a later one).
fn wait_checked(app: &TestApp, id: i64, at: i64) {
    wait_for("the check", || {
        let s = app.get(&format!("/api/v1/monitors/{id}")).body["status"].clone();
        (ms(&s["last_check"])? >= at).then_some(())
    });
}

fn incidents(app: &TestApp) -> Vec<Value> {
    let r = app.get("/api/v1/incidents");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body.as_array().unwrap().clone()
}

fn incident(app: &TestApp, id: i64) -> Value {
    let r = app.get(&format!("/api/v1/incidents/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

fn errors(app: &TestApp, n: u64, received_ms: i64, seed: u64) {
    let events = (0..n)
        .map(|i| NewEvent {
            project_id: PROJECT_ID,
            event_id: format!("{:016x}{:016x}", seed, i),
            timestamp_ms: received_ms,
            received_ms,
            level: lookout_store::Level::Error,
            platform: Some("python".into()),
            release: None,
            environment: None,
            title: "ValueError: boom".into(),
            culprit: "app.views in handle".into(),
            fingerprint: "boom".into(),
            grouping_version: "test".into(),
            handled: Some(true),
            user_key: None,
            payload: b"{}".to_vec(),
        })
        .collect();
    app.state()
        .store
        .write_batch(&WriteBatch {
            events,
            ..WriteBatch::default()
        })
        .unwrap();
}

fn slack(name: &str, r: &Receiver) -> String {
    format!(
        "[channels.{name}]\nkind = \"slack\"\nwebhook_url = \"{}\"\ntimeout = \"2s\"\n",
        r.url
    )
}

const SPIKE: &str = "[alerts]\nevaluate_every = \"10s\"\n[[rules]]\nname = \"Error spike\"\nwhen = \"errors > 50 in 5m\"\nseverity = \"critical\"\nnotify = [\"ops\"]\n";

#[test]
fn an_error_spike_is_one_incident_and_a_storm_does_not_flood() {
    let ops = Receiver::start();
    let clock = ManualClock::new(T0);
    let cfg = format!(
        "{}{SPIKE}[severities.critical]\nroute = [[\"ops\"]]\n",
        slack("ops", &ops)
    );
    let app = spawn_app_with_clock(&cfg, Arc::new(clock.clone()));

    // 50 is not more than 50.
    errors(&app, 50, T0 + 1_000, 1);
    clock.advance(10_000);
    settle();
    assert!(incidents(&app).is_empty());

    errors(&app, 1, T0 + 11_000, 2);
    clock.advance(10_000);
    let list = wait_for("the incident", || {
        let l = incidents(&app);
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["severity"], "critical");
    assert!(
        list[0]["title"].as_str().unwrap().contains("Error spike"),
        "{list:?}"
    );
    wait_for("the Slack message", || {
        (ops.delivered_texts().len() == 1).then_some(())
    });
    assert!(
        ops.delivered_texts()[0].contains("Error spike"),
        "{:?}",
        ops.delivered_texts()
    );
    let first = ops.requests()[0].1.to_string();
    assert!(first.contains("project app"), "names the project: {first}");
    let id = list[0]["id"].as_i64().unwrap();
    let opened_count = list[0]["count"].as_i64().unwrap();

    // A storm: 5,000 more errors over the next hour, one batch every 5 minutes. Each
    // step's evaluation is awaited (the clock stands still until the next step, so a
    // loop that had not run at this time yet would skip it).
    let mut count = opened_count;
    for step in 1..=12 {
        errors(&app, 417, clock.now_ms(), 100 + step);
        clock.advance(5 * MIN);
        count = wait_for("the storm's evaluation", || {
            let c = incident(&app, id)["count"].as_i64()?;
            (c > count).then_some(c)
        });
    }
    let list = incidents(&app);
    assert_eq!(list.len(), 1, "still one incident: {list:?}");
    assert_eq!(
        list[0]["count"].as_i64().unwrap(),
        opened_count + 12,
        "one count per evaluation: {list:?}"
    );
    // Trigger, then at most three escalations (every 15 min unacknowledged, max 3) and a
    // reminder per 30 min: never one message per error.
    let sent = ops.delivered_texts();
    assert!(sent.len() <= 1 + 3 + 2, "{sent:?}");
    assert!(
        sent.iter().skip(1).all(|t| !t.contains("Triggered")),
        "{sent:?}"
    );

    // The spike ends: under the threshold for the clear time, it resolves. The last
    // batch leaves the window right after `storm_end`, but the first evaluation to see it
    // gone is 10 minutes later (the clock jumps there): the 5-minute clear time runs from
    // then.
    let storm_end = clock.now_ms();
    clock.advance(10 * MIN);
    let inc = advance_until(&clock, "the resolution", || {
        let inc = incident(&app, id);
        (inc["status"] == "resolved").then_some(inc)
    });
    let resolved = ms(&inc["resolved"]).expect("resolved time");
    assert!(
        resolved >= storm_end + 15 * MIN,
        "not before the clear time: resolved {} min after the storm",
        (resolved - storm_end) / MIN
    );
    let timeline = inc["timeline"].clone();
    let kinds: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"triggered") && kinds.contains(&"notified") && kinds.contains(&"resolved"),
        "{timeline}"
    );
}

#[test]
fn an_unacknowledged_high_incident_escalates_and_acknowledging_stops_it() {
    let ops = Receiver::start();
    let lead = Receiver::start();
    let clock = ManualClock::new(T0);
    let cfg = format!(
        "{}{}[[rules]]\nname = \"Unhandled exception\"\nwhen = \"unhandled\"\nseverity = \"high\"\n[severities.high]\nroute = [[\"ops\"], [\"lead\"]]\n",
        slack("ops", &ops),
        slack("lead", &lead)
    );
    let app = spawn_app_with_clock(&cfg, Arc::new(clock.clone()));
    let mut ev = exception_event("WorkerCrashed", "job 4711", "app.worker", "run", 3);
    ev["exception"]["values"][0]["mechanism"]["handled"] = json!(false);
    let (_, body) = envelope(&ev);
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    clock.advance(1_000);
    let id = wait_for("the incident", || {
        incidents(&app).first().and_then(|i| i["id"].as_i64())
    });
    wait_for("the first notification", || {
        (ops.delivered_texts().len() == 1).then_some(())
    });
    assert_eq!(incident(&app, id)["severity"], "high");

    // 59 minutes: nothing more. 60: escalated to the lead.
    clock.advance(59 * MIN);
    settle();
    assert!(lead.requests().is_empty());
    clock.advance(MIN + 1_000);
    wait_for("the escalation", || {
        (lead.delivered_texts().len() == 1).then_some(())
    });
    assert!(
        lead.delivered_texts()[0].contains("Escalated"),
        "{:?}",
        lead.delivered_texts()
    );

    // Acknowledged: the notified channels hear it, and escalation stops.
    let r = app.send(
        "POST",
        &format!("/api/v1/incidents/{id}/ack"),
        &json!({"by": "alice"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "acknowledged");
    assert_eq!(r.body["acknowledged_by"], "alice");
    // Slack hooks take one message a second: the lead's hook just had one.
    clock.advance(2_000);
    wait_for("the acknowledgement", || {
        (lead.delivered_texts().len() == 2 && ops.delivered_texts().len() == 2).then_some(())
    });
    for _ in 0..4 {
        clock.advance(60 * MIN);
        settle();
    }
    assert_eq!(
        lead.delivered_texts().len(),
        2,
        "{:?}",
        lead.delivered_texts()
    );
    assert_eq!(
        ops.delivered_texts().len(),
        2,
        "{:?}",
        ops.delivered_texts()
    );
    let tl = incident(&app, id)["timeline"].to_string();
    assert!(tl.contains("acknowledged by alice"), "{tl}");
    let r = app.send(
        "POST",
        &format!("/api/v1/incidents/{id}/ack"),
        &json!({"by": "bob"}),
    );
    assert_eq!(r.status, 200, "acknowledging twice is harmless: {}", r.body);
}

#[test]
fn a_restart_in_a_retry_sequence_neither_loses_nor_duplicates() {
    let ops = Receiver::start();
    ops.answer((500, vec![]));
    ops.answer((429, vec![("retry-after", "30")]));
    let clock = ManualClock::new(T0);
    let cfg = format!("{}{SPIKE}", slack("ops", &ops));
    let mut app = spawn_app_with_clock(&cfg, Arc::new(clock.clone()));
    errors(&app, 60, T0 + 1_000, 1);
    clock.advance(10_000);
    wait_for("the first attempt", || {
        (ops.requests().len() == 1).then_some(())
    });
    let id = incidents(&app)[0]["id"].as_i64().unwrap();
    // The receiver counts the request before it answers; the attempt is stored after.
    let n = wait_for("the first attempt stored", || {
        let n = incident(&app, id)["notifications"][0].clone();
        (n["attempts"] != 0).then_some(n)
    });
    assert_eq!(n["attempts"], 1, "{n}");
    assert_eq!(n["status"], "pending", "{n}");

    // Restart while the retry is pending.
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    drop(app);
    let app = spawn_app_in(&cfg, Arc::new(clock.clone()), dir);
    // The retry waits its backoff (10 s), then meets a 429 asking for 30 s.
    settle();
    assert_eq!(ops.requests().len(), 1, "not before the backoff");
    clock.advance(10_000);
    wait_for("the second attempt", || {
        (ops.requests().len() == 2).then_some(())
    });
    clock.advance(20_000);
    settle();
    assert_eq!(ops.requests().len(), 2, "Retry-After is honoured");
    clock.advance(10_000);
    wait_for("the delivery", || {
        (ops.delivered_texts().len() == 1).then_some(())
    });
    settle();
    clock.advance(MIN);
    settle();
    assert_eq!(ops.delivered_texts().len(), 1, "delivered exactly once");
    let n = wait_for("the delivery stored", || {
        let n = incident(&app, id)["notifications"][0].clone();
        (n["status"] != "pending").then_some(n)
    });
    assert_eq!(n["status"], "sent", "{n}");
    assert_eq!(n["attempts"], 3, "{n}");
    assert_eq!(
        incidents(&app).len(),
        1,
        "the restart opened no second incident"
    );
}

#[test]
fn a_revoked_hook_is_marked_broken_and_not_retried() {
    let ops = Receiver::start();
    ops.answer((404, vec![]));
    let clock = ManualClock::new(T0);
    let cfg = format!("{}{SPIKE}", slack("ops", &ops));
    let app = spawn_app_with_clock(&cfg, Arc::new(clock.clone()));
    errors(&app, 60, T0 + 1_000, 1);
    clock.advance(10_000);
    wait_for("the attempt", || (ops.requests().len() == 1).then_some(()));
    let channels = wait_for("the broken mark", || {
        let c = app.get("/api/v1/channels").body;
        c[0]["broken"].is_object().then_some(c)
    });
    assert_eq!(channels[0]["name"], "ops");
    let id = incidents(&app)[0]["id"].as_i64().unwrap();
    let n = incident(&app, id)["notifications"][0].clone();
    assert_eq!(n["status"], "broken", "{n}");
    for _ in 0..3 {
        clock.advance(30 * MIN);
        settle();
    }
    assert_eq!(ops.requests().len(), 1, "never retried");
}

#[test]
fn a_monitor_down_then_up_gives_one_down_and_one_up_message() {
    let ops = Receiver::start();
    let target = Receiver::start();
    let clock = ManualClock::new(T0);
    let cfg = format!(
        "{}[[monitors]]\nname = \"Homepage\"\nkind = \"http\"\nurl = \"{}\"\ninterval = \"60s\"\n[[rules]]\nname = \"Site down\"\nwhen = \"monitor down\"\nseverity = \"critical\"\nnotify = [\"ops\"]\nrunbook = \"site-down.md\"\n",
        slack("ops", &ops),
        target.url
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site-down.md"),
        "# Site is down\n\n1. Check PM2.\n",
    )
    .unwrap();
    let mut config = lookout_server::Config::parse(
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\napi_token = \"{TOKEN}\"\n{cfg}",
            dir.path().join("data").display()
        ),
        "test.toml",
        &|_| None,
    )
    .unwrap();
    config.base_dir = Some(dir.path().to_path_buf());
    let app = spawn_config(config, Arc::new(clock.clone()));
    let (mid, f) = warmed_up(&app);
    clock.set(f);
    // Answered 200 before the failures are queued.
    wait_checked(&app, mid, f);
    for _ in 0..2 {
        target.answer((500, vec![]));
    }
    clock.set(f + MIN);
    // The retry is due 20 s after this check: taken later than that, it would be put
    // off past the clock, which then stands still.
    wait_checked(&app, mid, f + MIN);
    clock.set(f + MIN + 20_000);
    wait_for("the down message", || {
        (ops.delivered_texts().len() == 1).then_some(())
    });
    let down = ops.requests()[0].1.to_string();
    assert!(
        down.contains("Site is down") || down.contains("Homepage"),
        "{down}"
    );
    assert!(down.contains("/ack/"), "an acknowledge link: {down}");
    assert!(down.contains("Check PM2"), "the runbook: {down}");
    clock.set(f + 2 * MIN + 20_000);
    wait_for("the up message", || {
        (ops.delivered_texts().len() == 2).then_some(())
    });
    assert!(
        ops.delivered_texts()[1].contains("Resolved"),
        "{:?}",
        ops.delivered_texts()
    );
    settle();
    assert_eq!(ops.delivered_texts().len(), 2);
    let inc = incidents(&app)[0].clone();
    assert_eq!(inc["status"], "resolved");
    assert_eq!(inc["subject"]["id"], mid);
}

#[test]
fn the_signed_link_acknowledges_without_a_token() {
    let ops = Receiver::start();
    let clock = ManualClock::new(T0);
    let cfg = format!("{}{SPIKE}", slack("ops", &ops));
    let app = spawn_app_with_clock(&cfg, Arc::new(clock.clone()));
    errors(&app, 60, T0 + 1_000, 1);
    clock.advance(10_000);
    wait_for("the message", || {
        (ops.delivered_texts().len() == 1).then_some(())
    });
    let body = ops.requests()[0].1.to_string();
    let start = body.find("/ack/").expect("ack link");
    let link: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
        .collect();
    let url = format!("{}{link}", app.url);
    // Viewing does not acknowledge (chat previews fetch links).
    let page = request("GET", &url, &[], vec![]);
    assert_eq!(page.status, 200);
    let id = incidents(&app)[0]["id"].as_i64().unwrap();
    assert_eq!(incident(&app, id)["status"], "triggered");
    let flipped = if url.ends_with('0') { '1' } else { '0' };
    let bad = request(
        "POST",
        &format!("{}{flipped}", &url[..url.len() - 1]),
        &[],
        vec![],
    );
    assert_eq!(bad.status, 404);
    let r = request(
        "POST",
        &url,
        &[("content-type", "application/x-www-form-urlencoded")],
        b"by=carol".to_vec(),
    );
    assert_eq!(r.status, 200);
    let inc = incident(&app, id);
    assert_eq!(inc["status"], "acknowledged", "{inc}");
    assert_eq!(inc["acknowledged_by"], "carol");
}

#[test]
fn silences_hold_notifications() {
    let ops = Receiver::start();
    let clock = ManualClock::new(T0);
    let cfg = format!("{}{SPIKE}", slack("ops", &ops));
    let app = spawn_app_with_clock(&cfg, Arc::new(clock.clone()));
    let r = app.send(
        "POST",
        "/api/v1/silences",
        &json!({"rule": "Error spike", "duration": "1h", "reason": "load test"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    errors(&app, 60, T0 + 1_000, 1);
    clock.advance(10_000);
    wait_for("the incident", || {
        (!incidents(&app).is_empty()).then_some(())
    });
    settle();
    assert!(ops.requests().is_empty(), "silenced");
    let bad = app.send(
        "POST",
        "/api/v1/silences",
        &json!({"rule": "nope", "duration": "1h", "reason": "x"}),
    );
    assert_eq!(bad.status, 400);
}

#[test]
fn bad_alert_config_names_the_rule_and_the_key() {
    let cases = [
        ("[[rules]]\nname = \"A\"\nwhen = \"errors > lots in 5m\"\nseverity = \"high\"\n", "rules[0].when"),
        ("[[rules]]\nname = \"B\"\nwhen = \"new issue\"\nseverity = \"urgent\"\n", "rules[0].severity"),
        ("[[rules]]\nname = \"C\"\nwhen = \"new issue\"\nseverity = \"low\"\nnotify = [\"nowhere\"]\n", "rules[0].notify"),
        ("[severities.critical]\nroute = [[\"nowhere\"]]\n", "severities.critical.route[0]"),
        ("[severities.urgent]\nack_within = \"1h\"\n", "severities.urgent"),
        ("[[rules]]\nname = \"D\"\nwhen = \"new issue\"\nseverity = \"low\"\ncolour = 1\n", "rules[0]"),
    ];
    for (toml, key) in cases {
        let err = lookout_server::Config::parse(toml, "lookout.toml", &|_| None)
            .expect_err(toml)
            .to_string();
        assert!(err.contains(key), "{toml}\n→ {err}");
    }
}

#[test]
fn rules_are_managed_through_the_api() {
    let ops = Receiver::start();
    let clock = ManualClock::new(T0);
    let cfg = format!("{}{SPIKE}", slack("ops", &ops));
    let mut app = spawn_app_with_clock(&cfg, Arc::new(clock.clone()));
    let r = app.send(
        "POST",
        "/api/v1/rules",
        &json!({"name": "Regressions", "when": "regression", "severity": "high", "notify": ["ops"], "projects": ["app"]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["source"], "api");
    assert_eq!(r.body["when"], "regression");
    let bad = [
        (
            json!({"name": "x", "when": "errors > lots in 5m", "severity": "low"}),
            400,
            "when",
        ),
        (
            json!({"name": "x", "when": "new issue", "severity": "low", "notify": ["nowhere"]}),
            400,
            "notify",
        ),
        (
            json!({"name": "x", "when": "new issue", "severity": "low", "projects": ["nope"]}),
            400,
            "projects",
        ),
        (
            json!({"name": "x", "when": "new issue", "severity": "low", "runbook": "a.md"}),
            400,
            "runbook",
        ),
        (
            json!({"name": "Regressions", "when": "new issue", "severity": "low"}),
            409,
            "name",
        ),
        (
            json!({"name": "Error spike", "when": "new issue", "severity": "low"}),
            409,
            "name",
        ),
    ];
    for (body, status, key) in bad {
        let r = app.send("POST", "/api/v1/rules", &body);
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert!(r.detail().starts_with(key), "{body}: {}", r.detail());
    }
    let r = app.send("DELETE", "/api/v1/rules/Error%20spike", &json!(null));
    assert_eq!(
        r.status, 409,
        "config rules are edited in the file: {}",
        r.body
    );

    // It works: a resolved issue that comes back opens a high incident.
    let ev = exception_event("StaleCache", "miss", "app.cache", "get", 9);
    let (_, body) = envelope(&ev);
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    let issue = wait_for("the issue", || {
        app.issues("").first().and_then(|i| i["id"].as_i64())
    });
    let r = app.send(
        "POST",
        &format!("/api/v1/issues/{issue}/resolve"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, body) = envelope(&ev);
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    clock.advance(1_000);
    let id = wait_for("the regression incident", || {
        incidents(&app)
            .iter()
            .find(|i| i["rule"] == "Regressions")
            .and_then(|i| i["id"].as_i64())
    });
    wait_for("the message", || {
        (ops.delivered_texts().len() == 1).then_some(())
    });

    // It survives a restart.
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    drop(app);
    let app = spawn_app_in(&cfg, Arc::new(clock.clone()), dir);
    let rules = app.get("/api/v1/rules").body;
    assert!(
        rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Regressions" && r["source"] == "api"),
        "{rules}"
    );

    // Deleted: its open incident resolves.
    let r = app.send("DELETE", "/api/v1/rules/Regressions", &json!(null));
    assert_eq!(r.status, 204, "{}", r.body);
    clock.advance(1_000);
    wait_for("the resolution", || {
        (incident(&app, id)["status"] == "resolved").then_some(())
    });
    assert_eq!(
        app.send("DELETE", "/api/v1/rules/Regressions", &json!(null))
            .status,
        404
    );
}

/// A health endpoint on loopback in the reference format, whose memory percentage the
/// test sets.
struct HealthTarget {
    url: String,
    memory: Arc<std::sync::atomic::AtomicU64>,
    _rt: tokio::runtime::Runtime,
}

impl HealthTarget {
    fn start(memory_percentage: u64) -> HealthTarget {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let memory = Arc::new(std::sync::atomic::AtomicU64::new(memory_percentage));
        let m = memory.clone();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(move || {
            let pct = m.load(std::sync::atomic::Ordering::SeqCst);
            async move {
                axum::Json(json!({
                    "status": "ok",
                    "timestamp": "2027-01-15T08:00:00Z",
                    "uptime": 12.5,
                    "checks": {
                        "database": {"status": "ok", "latency": 3},
                        "memory": {"status": "ok", "used": pct, "total": 100, "percentage": pct}
                    }
                }))
            }
        });
        rt.spawn(async move { axum::serve(listener, app).await });
        HealthTarget {
            url: format!("http://{addr}/api/health"),
            memory,
            _rt: rt,
        }
    }

    fn set_memory(&self, pct: u64) {
        self.memory.store(pct, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_health_field_rule_fires_from_the_document_a_health_monitor_reads() {
    let ops = Receiver::start();
    let target = HealthTarget::start(95);
    let clock = ManualClock::new(T0);
    let cfg = format!(
        "{}[alerts]\nevaluate_every = \"10s\"\n[[monitors]]\nname = \"API health\"\nkind = \"health\"\nurl = \"{}\"\ninterval = \"60s\"\n[[rules]]\nname = \"Memory high\"\nwhen = \"health memory > 90%\"\nseverity = \"high\"\nnotify = [\"ops\"]\nclear_after = \"2m\"\n",
        slack("ops", &ops),
        target.url
    );
    let app = spawn_app_with_clock(&cfg, Arc::new(clock.clone()));
    let (mid, f) = warmed_up(&app);

    // The check reads 95 %; the next evaluation measures it.
    clock.set(f);
    wait_checked(&app, mid, f);
    clock.advance(10_000);
    let inc = wait_for("the incident", || incidents(&app).first().cloned());
    assert_eq!(inc["rule"], "Memory high");
    assert_eq!(inc["subject"]["kind"], "monitor");
    assert_eq!(inc["subject"]["id"], mid);
    let title = inc["title"].as_str().unwrap();
    assert!(
        title.contains("API health") && title.contains("memory.percentage is 95"),
        "{title}"
    );
    wait_for("the notification", || {
        (ops.delivered_texts().len() == 1).then_some(())
    });
    assert!(
        ops.requests()[0]
            .1
            .to_string()
            .contains("monitor API health"),
        "names the monitor: {}",
        ops.requests()[0].1
    );

    // Memory back to 40 %: under the threshold for the clear time, it resolves.
    target.set_memory(40);
    clock.set(f + MIN);
    wait_checked(&app, mid, f + MIN);
    clock.advance(10_000);
    settle();
    let id = inc["id"].as_i64().unwrap();
    assert_eq!(
        incident(&app, id)["status"],
        "triggered",
        "not before the clear time"
    );
    // No evaluation read 40 % before the check at f + 1 min: the clear time runs from
    // then at the earliest.
    clock.advance(2 * MIN);
    let resolved = advance_until(&clock, "the resolution", || {
        let inc = incident(&app, id);
        (inc["status"] == "resolved").then_some(inc)
    });
    let at = ms(&resolved["resolved"]).expect("resolved time");
    assert!(
        at >= f + 3 * MIN,
        "not before the clear time: resolved {} s after the 40 % check",
        (at - f - MIN) / 1000
    );
    let tl = resolved["timeline"].to_string();
    assert!(tl.contains("back within the threshold for 2m"), "{tl}");
}

#[test]
fn rules_on_deploys_and_slos_are_taken() {
    // Both conditions were refused while nothing fed them; deploys and SLOs feed them now.
    let toml = "[[rules]]\nname = \"Bad deploy\"\nwhen = \"errors after deploy > 2x in 15m\"\nseverity = \"high\"\n\
                [[rules]]\nname = \"Burn\"\nwhen = \"slo burn rate > 14.4 over 1h\"\nseverity = \"high\"\n";
    lookout_server::Config::parse(toml, "lookout.toml", &|_| None).expect(toml);

    let app = spawn_app("");
    for (name, when) in [
        ("Bad deploy", "errors after deploy > 2x in 15m"),
        ("Burn", "slo burn rate > 14.4 over 1h"),
    ] {
        let r = app.send(
            "POST",
            "/api/v1/rules",
            &json!({"name": name, "when": when, "severity": "high"}),
        );
        assert_eq!(r.status, 201, "{when}: {}", r.body);
    }
    assert_eq!(app.get("/api/v1/rules").body.as_array().unwrap().len(), 2);
}

/// The pm2 monitor's crash-loop signal feeds the `monitor crash loop` rule: a climbing
/// restart count opens one incident and sends one notification to the webhook, however
/// long it keeps climbing.
#[test]
fn a_crash_loop_opens_one_incident_and_one_webhook_message() {
    let hook = Receiver::start();
    let tmp = tempfile::tempdir().unwrap();
    let set_restarts = |n: u64| {
        std::fs::write(tmp.path().join("status"), "online").unwrap();
        std::fs::write(tmp.path().join("restarts"), n.to_string()).unwrap();
    };
    set_restarts(3);
    let pm2 = fake_pm2(tmp.path());
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(
        &format!(
            "[channels.hook]\nkind = \"webhook\"\nurl = \"{}\"\ntimeout = \"2s\"\n\
             [[monitors]]\nname = \"web app\"\nkind = \"pm2\"\napp = \"web\"\nprogram = \"{}\"\ninterval = \"60s\"\n\
             [[rules]]\nname = \"App crash loop\"\nwhen = \"monitor crash loop\"\nseverity = \"high\"\nnotify = [\"hook\"]\n",
            hook.url,
            pm2.display()
        ),
        Arc::new(clock.clone()),
    );
    let m = app.get("/api/v1/monitors").body[0].clone();
    let mid = m["id"].as_i64().unwrap();
    let checked_at = |at: i64| {
        clock.set(at);
        wait_for("the check due at the new time", || {
            let r = app.get(&format!("/api/v1/monitors/{mid}"));
            let last = r.body["status"]["last_check"].as_str()?.to_string();
            let last = last.parse::<jiff::Timestamp>().ok()?.as_millisecond();
            let next = r.body["status"]["next_check"].as_str()?.to_string();
            let next = next.parse::<jiff::Timestamp>().ok()?.as_millisecond();
            (last == at).then_some(next)
        })
    };
    // Steady: no signal, nothing sent.
    let next = checked_at(T0);
    let next = checked_at(next);
    settle();
    assert!(hook.requests().is_empty(), "{:?}", hook.requests());
    assert!(incidents(&app).is_empty());

    // Restarting at every check: one incident, one message.
    let mut at = next;
    for restarts in [5, 7, 9] {
        set_restarts(restarts);
        at = checked_at(at);
    }
    wait_for("the crash-loop message", || {
        (!hook.requests().is_empty()).then_some(())
    });
    settle();
    let got = hook.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    let (status, body) = &got[0];
    assert_eq!(*status, 200);
    assert_eq!(body["type"], "incident.triggered", "{body}");
    let text = body.to_string();
    assert!(
        text.contains("Crash loop") && text.contains("web app"),
        "{text}"
    );
    let incs = incidents(&app);
    assert_eq!(incs.len(), 1, "{incs:?}");
    assert_eq!(incs[0]["subject"]["id"], mid, "{}", incs[0]);
    assert_eq!(incs[0]["rule"], "App crash loop", "{}", incs[0]);
}
