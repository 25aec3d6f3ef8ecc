//! Public status pages end to end: the real server on port 0 with an injected clock and
//! real SQLite; states and uptime figures as shown, the page on its own domain, badges,
//! the Atom feed parsed as XML, the JSON summary, the API that manages pages and public
//! notes, and the leak test: private strings planted everywhere a monitor or incident
//! keeps them must appear in no public answer, while the public notes do.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use common::*;
use lookout_core::alert::incident::{IncidentStatus, SubjectKind};
use lookout_core::alert::Severity;
use lookout_core::clock::ManualClock;
use lookout_store::{
    AlertBatch, CheckBatch, CheckOutcome, CheckRecord, IncidentRef, IncidentUpdate, NewIncident,
    OutageChange, TimelineEntry,
};
use quick_xml::events::Event;
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2027-01-15T08:00:00Z: the monitors are created then.
const T0: i64 = 1_800_000_000_000;
/// Three days later: "now" for the pages.
const NOW: i64 = T0 + 3 * DAY;
/// Midnight UTC of the day after creation, 2027-01-16.
const DAY1: i64 = T0 - 8 * HOUR + DAY;

/// Every private string the tests plant contains this; no public answer may.
const MARK: &str = "leak";

/// The monitors: two heartbeats and a paused HTTP monitor on the page, and one off it.
/// The HTTP monitor is paused so that its planted host is never looked up.
const CONFIG: &str = r#"
[[monitors]]
name = "Homepage"
kind = "heartbeat"
period = "30d"
grace = "1d"
token = "hp-leak-token-a9"

[[monitors]]
name = "API"
kind = "heartbeat"
period = "30d"
grace = "1d"
token = "api-leak-token-b8"

[[monitors]]
name = "Docs"
kind = "http"
url = "http://leak-host-k2.invalid:9/leak-path-z8?key=leak-query-q1"
paused = true

[[monitors]]
name = "Leaky Backend x0"
kind = "http"
url = "http://127.0.0.1:9/leak-offpage-url"
paused = true

[[maintenance]]
name = "leak-window-name-w1"
cron = "0 4 * * SUN"
duration = "30m"
monitors = ["Homepage"]
public_note = "Weekly deploy window."

[[maintenance]]
name = "leak-window-name-w2"
cron = "0 5 * * *"
duration = "30m"
monitors = ["Leaky Backend x0"]
public_note = "leak-offpage-window-w3"

[[status_pages]]
slug = "acme"
title = "Acme status"
domain = "status.acme.example"

[[status_pages.groups]]
name = "Website"
monitors = ["Homepage", "Docs"]

[[status_pages.groups]]
name = "Backend"
monitors = ["API"]
"#;

struct Fixture {
    app: TestApp,
    clock: ManualClock,
    /// Incident on Homepage, resolved, with a public note.
    past: i64,
    /// Incident on API, ongoing.
    ongoing: i64,
}

fn id_of(app: &TestApp, name: &str) -> i64 {
    let r = app.get("/api/v1/monitors");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .and_then(|m| m["id"].as_i64())
        .unwrap_or_else(|| panic!("no monitor {name}"))
}

fn incident(rule: &str, monitor_id: i64, opened_ms: i64, what: &str) -> NewIncident {
    NewIncident {
        rule: format!("{rule}-leak-rule-r2"),
        subject_kind: SubjectKind::Monitor,
        subject_id: monitor_id,
        severity: Severity::High,
        title: format!("{what} leak-title-t3 (10.0.0.5 refused)"),
        summary: "leak-summary-s4: connection refused by leak-host-k2".into(),
        count: 1,
        opened_ms,
        state: json!({}),
        runbook: Some("leak-runbook.md".into()),
    }
}

/// Starts the server at T0, moves to NOW, and plants history, incidents, notes and
/// maintenance windows.
fn fixture() -> Fixture {
    let clock = ManualClock::new(T0);
    let app = spawn_app_with_clock(CONFIG, Arc::new(clock.clone()));
    clock.set(NOW);
    let (home, api, off) = (
        id_of(&app, "Homepage"),
        id_of(&app, "API"),
        id_of(&app, "Leaky Backend x0"),
    );

    // Homepage up, API down (a failed run confirms down at once).
    let ok = request(
        "GET",
        &format!("{}/ping/hp-leak-token-a9", app.url),
        &[],
        vec![],
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let fail = request(
        "GET",
        &format!("{}/ping/api-leak-token-b8/fail", app.url),
        &[],
        vec![],
    );
    assert_eq!(fail.status, 200, "{}", fail.body);

    let store = app.state().store.clone();
    // One hour of outage for Homepage on 2027-01-16, with private error text.
    store
        .write_checks(&CheckBatch {
            results: vec![CheckRecord {
                monitor_id: home,
                at_ms: DAY1 + 10 * HOUR,
                latency_ms: None,
                outcome: CheckOutcome::Down,
                maintenance: false,
                error: Some("leak-error-e5: 502 from 10.1.2.3".into()),
                figures: Default::default(),
            }],
            outages: vec![
                OutageChange::Open {
                    monitor_id: home,
                    start_ms: DAY1 + 10 * HOUR,
                    cause: "leak-cause-c1".into(),
                },
                OutageChange::Close {
                    monitor_id: home,
                    end_ms: DAY1 + 11 * HOUR,
                },
                OutageChange::Open {
                    monitor_id: off,
                    start_ms: DAY1,
                    cause: "leak-offpage-cause".into(),
                },
            ],
            ..CheckBatch::default()
        })
        .unwrap();

    let ids = store
        .apply_alerts(&AlertBatch {
            opens: vec![
                incident("home-down", home, DAY1 + 10 * HOUR, "Homepage"),
                incident("api-down", api, NOW - HOUR, "API"),
                incident("backend-down", off, DAY1, "Leaky Backend x0"),
            ],
            timeline: vec![(
                IncidentRef::New(0),
                TimelineEntry {
                    at_ms: DAY1 + 10 * HOUR + 60_000,
                    kind: "note".parse().unwrap(),
                    text: "leak-internal-n6: restarted db-leak-7".into(),
                    actor: Some("leak-person-p9".into()),
                },
            )],
            ..AlertBatch::default()
        })
        .unwrap();
    store
        .apply_alerts(&AlertBatch {
            updates: vec![(
                IncidentRef::Id(ids[0]),
                IncidentUpdate {
                    status: Some(IncidentStatus::Resolved),
                    resolved: Some((DAY1 + 11 * HOUR, Some("leak-person-p9".into()))),
                    ..IncidentUpdate::default()
                },
            )],
            ..AlertBatch::default()
        })
        .unwrap();

    for (id, text) in [
        (ids[0], "We are investigating slow page loads."),
        (ids[0], "Fixed: a bad deploy was rolled back."),
        (ids[1], "The API is unavailable; we are on it."),
        (ids[2], "leak-offpage-note-o1"),
    ] {
        let r = app.send(
            "POST",
            &format!("/api/v1/incidents/{id}/public-notes"),
            &json!({"text": text, "by": "leak-author-a1"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }

    for (monitor, reason, note) in [
        (
            home,
            "leak-reason-r7",
            "Database upgrade; pages may be slow.",
        ),
        (off, "leak-reason-r8", "leak-offpage-maint-o2"),
    ] {
        let r = app.send(
            "POST",
            "/api/v1/maintenance",
            &json!({
                "monitor_id": monitor,
                "start": "2027-01-20T02:00:00Z",
                "duration": "1h",
                "reason": reason,
                "public_note": note,
            }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    Fixture {
        app,
        clock,
        past: ids[0],
        ongoing: ids[1],
    }
}

/// A raw HTTP/1.1 GET with a chosen `Host` header: status, headers (lower-case names)
/// and body.
fn get_with_host(app: &TestApp, host: &str, path: &str) -> (u16, String, String) {
    let addr = app.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn public_get(app: &TestApp, path: &str) -> Resp {
    request("GET", &format!("{}{path}", app.url), &[], vec![])
}

fn text(r: &Resp) -> String {
    match &r.body {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// Parses XML strictly (end names checked); returns the local names of the elements in
/// document order.
fn xml_elements(xml: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut names = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                names.push(e.local_name().into_inner().to_string())
            }
            Ok(Event::Eof) => return names,
            Ok(_) => {}
            Err(e) => panic!(
                "not well-formed XML at {}: {e}\n{xml}",
                reader.buffer_position()
            ),
        }
    }
}

#[test]
fn states_uptime_incidents_and_maintenance_are_shown() {
    let f = fixture();
    let r = public_get(&f.app, "/status/acme");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = text(&r);
    assert!(html.contains("<h1>Acme status</h1>"), "{html}");
    assert!(html.contains("Some systems are down"), "{html}");
    let row = |name: &str, state: &str| {
        format!(
            "<span class=\"name\">{name}</span><span class=\"state {}\">{state}</span>",
            match state {
                "Operational" => "operational",
                "Outage" => "down",
                _ => "unknown",
            }
        )
    };
    assert!(html.contains(&row("Homepage", "Operational")), "{html}");
    assert!(html.contains(&row("API", "Outage")), "{html}");
    assert!(html.contains(&row("Docs", "No data")), "{html}");
    assert!(html.contains("<h2>Website <span class=\"state operational\">"));
    assert!(html.contains("<h2>Backend <span class=\"state down\">Outage</span></h2>"));

    // 90 bars a monitor, each with its day's figure as tooltip and accessible label.
    assert_eq!(html.matches("<rect ").count(), 3 * 90);
    assert!(
        html.contains("aria-label=\"2027-01-16: 95.83% uptime, 1h down\""),
        "{html}"
    );
    assert!(html.contains("<title>2027-01-16: 95.83% uptime, 1h down</title>"));
    assert!(html.contains("<title>2027-01-17: 100.00% uptime</title>"));
    assert!(
        html.contains("<title>2027-01-14: no data</title>"),
        "before creation"
    );
    // 1 h down in the 72 h since creation.
    assert!(html.contains("<span>98.61% uptime</span>"), "{html}");

    // Incidents: the ongoing one first, the resolved one below, with public notes only.
    let ongoing = html.find("Ongoing incidents").expect("ongoing section");
    let past = html.find("Past incidents").expect("past section");
    let api_note = html.find("The API is unavailable; we are on it.").unwrap();
    let fixed = html.find("Fixed: a bad deploy was rolled back.").unwrap();
    assert!(
        ongoing < api_note && api_note < past && past < fixed,
        "{html}"
    );
    assert!(html.contains("Incident affecting API <span class=\"phase\">Investigating</span>"));
    assert!(html.contains(&format!("id=\"incident-{}\"", f.past)));
    assert!(html.contains(&format!("id=\"incident-{}\"", f.ongoing)));
    assert!(html.contains("<time datetime=\"2027-01-16T10:00:00Z\">2027-01-16 10:00 UTC</time>"));

    // The maintenance window ahead, with its public note.
    assert!(html.contains("Scheduled: Homepage"), "{html}");
    assert!(html.contains("Database upgrade; pages may be slow."));
    assert!(
        html.contains("2027-01-20 02:00 UTC</time> to <time datetime=\"2027-01-20T03:00:00Z\">")
    );

    // The same in JSON.
    let j = public_get(&f.app, "/status/acme.json");
    assert_eq!(j.status, 200, "{}", j.body);
    assert_eq!(j.header("content-type"), Some("application/json"));
    let s = &j.body;
    assert_eq!(s["status"], "down");
    assert_eq!(s["page"]["title"], "Acme status");
    assert_eq!(s["groups"][0]["name"], "Website");
    assert_eq!(s["groups"][0]["monitors"][0]["name"], "Homepage");
    assert_eq!(s["groups"][0]["monitors"][0]["status"], "operational");
    assert_eq!(s["groups"][0]["monitors"][0]["uptime_90d"], 98.611);
    assert_eq!(
        s["groups"][0]["monitors"][0]["days"]
            .as_array()
            .unwrap()
            .len(),
        90
    );
    assert_eq!(
        s["groups"][0]["monitors"][0]["days"][87]["date"],
        "2027-01-16"
    );
    assert_eq!(s["groups"][0]["monitors"][0]["days"][87]["down_ms"], HOUR);
    assert_eq!(s["groups"][1]["monitors"][0]["status"], "down");
    assert_eq!(s["incidents"][0]["status"], "investigating");
    assert_eq!(s["incidents"][1]["status"], "resolved");
    assert_eq!(s["incidents"][1]["notes"].as_array().unwrap().len(), 2);
    assert_eq!(
        s["maintenance"][0]["note"],
        "Database upgrade; pages may be slow."
    );
    assert_eq!(public_get(&f.app, "/status/acme/summary.json").body, j.body);
    drop(f.clock);
}

#[test]
fn nothing_private_reaches_a_public_answer() {
    let f = fixture();
    let paths = [
        "/status/acme",
        "/status/acme/",
        "/status/acme.json",
        "/status/acme/summary.json",
        "/status/acme/feed.atom",
        "/badge/acme/Homepage.svg",
        "/badge/acme/API.svg",
        "/badge/acme/Docs.svg",
        "/badge/acme/Homepage.svg?metric=uptime&period=90d",
        "/badge/acme/API.svg?metric=uptime&period=24h",
        "/badge/acme/Docs.svg?metric=uptime&period=7d",
        "/badge/acme/Leaky%20Backend%20x0.svg",
        "/badge/acme/Homepage.svg?metric=nope",
        "/status/nope",
        "/status/nope.json",
    ];
    let mut seen = String::new();
    for path in paths {
        let r = public_get(&f.app, path);
        let body = text(&r);
        assert!(
            !body.to_lowercase().contains(MARK),
            "{path} shows a private string:\n{body}"
        );
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=30"),
            "{path}"
        );
        seen.push_str(&body);
    }
    for path in ["/", "/feed.atom", "/summary.json"] {
        let (status, head, body) = get_with_host(&f.app, "status.acme.example", path);
        assert_eq!(status, 200, "{path}: {head}");
        assert!(!body.to_lowercase().contains(MARK), "{path}:\n{body}");
        seen.push_str(&body);
    }
    // What is meant to be public is there: the public notes of the page's incidents and
    // its maintenance window, in the HTML, the JSON and the feed.
    for public in [
        "We are investigating slow page loads.",
        "Fixed: a bad deploy was rolled back.",
        "The API is unavailable; we are on it.",
        "Database upgrade; pages may be slow.",
        "Weekly deploy window.",
    ] {
        assert!(seen.contains(public), "{public} is not shown");
    }
    let feed = text(&public_get(&f.app, "/status/acme/feed.atom"));
    assert!(feed.contains("The API is unavailable; we are on it."));
    // The private API still has it all, behind the token.
    let detail = f.app.get(&format!("/api/v1/incidents/{}", f.past));
    assert_eq!(detail.body["public_notes"].as_array().unwrap().len(), 2);
    assert_eq!(detail.body["public_notes"][0]["by"], "leak-author-a1");
    assert!(detail.body["title"]
        .as_str()
        .unwrap()
        .contains("leak-title-t3"));
}

#[test]
fn the_feed_is_atom_and_badges_are_svg() {
    let f = fixture();
    let r = public_get(&f.app, "/status/acme/feed.atom");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    let xml = text(&r);
    assert!(xml.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    let names = xml_elements(&xml);
    assert_eq!(names[0], "feed");
    assert_eq!(names.iter().filter(|n| *n == "entry").count(), 2, "{xml}");
    for required in ["id", "title", "updated", "author", "link"] {
        assert!(names.iter().any(|n| n == required), "{required}: {xml}");
    }
    // Newest change first: the API incident (opened an hour ago) before the one resolved
    // two days ago.
    let api = xml.find("Incident affecting API").unwrap();
    let home = xml.find("Incident affecting Homepage").unwrap();
    assert!(api < home, "{xml}");
    // Entries are named by the page's own address, wherever the feed was fetched.
    assert!(xml.contains(&format!(
        "<id>http://status.acme.example/#incident-{}</id>",
        f.ongoing
    )));
    assert!(xml.contains("<link rel=\"self\" type=\"application/atom+xml\" href=\"http://status.acme.example/feed.atom\"/>"));

    let svg = |path: &str| {
        let r = public_get(&f.app, path);
        assert_eq!(r.status, 200, "{path}: {}", text(&r));
        assert_eq!(r.header("content-type"), Some("image/svg+xml"), "{path}");
        let body = text(&r);
        assert_eq!(xml_elements(&body)[0], "svg", "{body}");
        body
    };
    assert!(svg("/badge/acme/Homepage.svg").contains("aria-label=\"Homepage: operational\""));
    assert!(svg("/badge/acme/API.svg").contains(">outage</text>"));
    assert!(svg("/badge/acme/Homepage.svg?metric=uptime&period=90d").contains(">98.61%</text>"));
    assert!(svg("/badge/acme/Homepage.svg?metric=uptime").contains("Homepage 30d"));
    // Paused, never checked, never down: as the API counts it.
    assert!(svg("/badge/acme/Docs.svg?metric=uptime&period=24h").contains(">100.00%</text>"));
    assert!(svg("/badge/acme/Docs.svg").contains(">no data</text>"));

    let bad = public_get(&f.app, "/badge/acme/Homepage.svg?metric=latency");
    assert_eq!(bad.status, 400);
    assert!(bad.detail().contains("state or uptime"), "{}", bad.body);
    let bad = public_get(&f.app, "/badge/acme/Homepage.svg?period=1y");
    assert_eq!(bad.status, 400);
    assert!(bad.detail().contains("24h, 7d, 30d or 90d"), "{}", bad.body);
    for missing in [
        "/badge/acme/Nope.svg",
        "/badge/acme/Leaky%20Backend%20x0.svg",
        "/badge/nope/Homepage.svg",
        "/badge/acme/Homepage.png",
    ] {
        assert_eq!(public_get(&f.app, missing).status, 404, "{missing}");
    }
}

#[test]
fn a_page_answers_on_its_own_domain_and_unknown_pages_are_readable_404s() {
    let f = fixture();
    let (status, head, body) = get_with_host(&f.app, "status.acme.example", "/");
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("cache-control: public, max-age=30"), "{head}");
    assert!(body.contains("<h1>Acme status</h1>"));
    // Case and port do not matter.
    let (status, _, body) = get_with_host(&f.app, "Status.Acme.Example:443", "/");
    assert_eq!(status, 200);
    assert!(body.contains("<h1>Acme status</h1>"));
    let (status, _, body) = get_with_host(&f.app, "status.acme.example", "/summary.json");
    assert_eq!(status, 200);
    assert!(body.contains("\"title\": \"Acme status\""), "{body}");
    // Other paths on that domain reach the server's other routes.
    let (status, _, body) = get_with_host(&f.app, "status.acme.example", "/api/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\""), "{body}");
    // Any other host gets the server's own `/`, not the page.
    let (status, _, body) = get_with_host(&f.app, "lookout.internal", "/");
    assert_ne!(status, 200);
    assert!(!body.contains("Acme status"));

    let r = public_get(&f.app, "/status/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=30"));
    let html = text(&r);
    assert!(html.contains("<h1>No status page here</h1>"), "{html}");
    assert!(html.contains("<strong>nope</strong>"));
    // The slug is escaped, not echoed as markup.
    let r = public_get(&f.app, "/status/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(r.status, 404);
    assert!(!text(&r).contains("<script>alert"), "{}", text(&r));
    assert!(text(&r).contains("&#60;script&#62;") || text(&r).contains("&lt;script&gt;"));
    let r = public_get(&f.app, "/status/nope.json");
    assert_eq!(r.status, 404);
    assert!(r.detail().contains("no status page `nope`"), "{}", r.body);
}

#[test]
fn pages_and_public_notes_are_managed_through_the_api() {
    let f = fixture();
    let app = &f.app;
    let anonymous = public_get(app, "/api/v1/status-pages");
    assert_eq!(anonymous.status, 401);

    let list = app.get("/api/v1/status-pages");
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body[0]["slug"], "acme");
    assert_eq!(list.body[0]["source"], "config");
    assert_eq!(list.body[0]["groups"][1]["monitors"], json!(["API"]));

    let bad = app.send(
        "POST",
        "/api/v1/status-pages",
        &json!({"slug": "beta", "title": "Beta", "monitors": ["API", "Nope"]}),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.detail(), "monitors[1]: no monitor named \"Nope\"");
    let bad = app.send(
        "POST",
        "/api/v1/status-pages",
        &json!({"slug": "beta", "title": "Beta", "monitors": ["API"], "colour": "red"}),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.detail().contains("colour"), "{}", bad.body);
    let taken = app.send(
        "POST",
        "/api/v1/status-pages",
        &json!({"slug": "beta", "title": "Beta", "monitors": ["API"], "domain": "status.acme.example"}),
    );
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert!(
        taken.detail().contains("status.acme.example"),
        "{}",
        taken.body
    );

    let made = app.send(
        "POST",
        "/api/v1/status-pages",
        &json!({"slug": "beta", "title": "Beta status", "monitors": ["API"], "domain": "beta.example"}),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.body["source"], "api");
    assert!(made.body["url"].as_str().unwrap().ends_with("/status/beta"));
    let page = text(&public_get(app, "/status/beta"));
    assert!(page.contains("<h1>Beta status</h1>") && page.contains("API"));
    assert!(!page.contains("Homepage"), "only the page's monitors");
    let (status, _, body) = get_with_host(app, "beta.example", "/");
    assert_eq!(status, 200);
    assert!(body.contains("<h1>Beta status</h1>"));

    let changed = app.send(
        "PUT",
        "/api/v1/status-pages/beta",
        &json!({"slug": "gamma", "title": "Gamma", "groups": [{"name": "All", "monitors": ["Homepage", "API"]}]}),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(
        changed.body["groups"][0]["monitors"],
        json!(["Homepage", "API"])
    );
    assert_eq!(public_get(app, "/status/beta").status, 404);
    let (_, _, body) = get_with_host(app, "beta.example", "/");
    assert!(
        !body.contains("Gamma"),
        "the domain was dropped with the update"
    );
    assert_eq!(app.get("/api/v1/status-pages/gamma").body["title"], "Gamma");

    let config_page = app.send(
        "PUT",
        "/api/v1/status-pages/acme",
        &json!({"slug": "acme", "title": "X", "monitors": ["API"]}),
    );
    assert_eq!(config_page.status, 409);
    assert!(
        config_page.detail().contains("config file"),
        "{}",
        config_page.body
    );
    assert_eq!(
        app.send("DELETE", "/api/v1/status-pages/acme", &json!({}))
            .status,
        409
    );
    assert_eq!(
        app.send("DELETE", "/api/v1/status-pages/gamma", &json!({}))
            .status,
        204
    );
    assert_eq!(app.get("/api/v1/status-pages/gamma").status, 404);
    assert_eq!(public_get(app, "/status/gamma").status, 404);

    // Public notes: validated, 404 for an unknown incident, listed on the incident.
    let path = format!("/api/v1/incidents/{}/public-notes", f.ongoing);
    let empty = app.send("POST", &path, &json!({"text": "  "}));
    assert_eq!(empty.status, 400);
    assert_eq!(empty.detail(), "text: write the note");
    let unknown = app.send(
        "POST",
        "/api/v1/incidents/999999/public-notes",
        &json!({"text": "x"}),
    );
    assert_eq!(unknown.status, 404);
    let note = app.send("POST", &path, &json!({"text": "Recovering now."}));
    assert_eq!(note.status, 201, "{}", note.body);
    assert_eq!(note.body["by"], "api");
    let detail = app.get(&format!("/api/v1/incidents/{}", f.ongoing));
    let notes = detail.body["public_notes"].as_array().unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1]["text"], "Recovering now.");
    assert!(text(&public_get(app, "/status/acme")).contains("Recovering now."));
}

#[test]
fn config_pages_follow_the_file_across_restarts() {
    let clock = ManualClock::new(T0);
    let mut app = spawn_app_with_clock(CONFIG, Arc::new(clock.clone()));
    assert_eq!(public_get(&app, "/status/acme").status, 200);
    let made = app.send(
        "POST",
        "/api/v1/status-pages",
        &json!({"slug": "beta", "title": "Beta", "monitors": ["API"]}),
    );
    assert_eq!(made.status, 201, "{}", made.body);

    // The page is renamed in the file: the old one goes, the API's page stays.
    let renamed = CONFIG.replace("slug = \"acme\"", "slug = \"acme-co\"");
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    drop(app);
    let mut app = spawn_app_in(&renamed, Arc::new(clock.clone()), dir);
    assert_eq!(public_get(&app, "/status/acme").status, 404);
    assert_eq!(public_get(&app, "/status/acme-co").status, 200);
    assert_eq!(public_get(&app, "/status/beta").status, 200);
    let (status, _, body) = get_with_host(&app, "status.acme.example", "/");
    assert_eq!(status, 200);
    assert!(body.contains("/status/acme-co/feed.atom"), "{body}");

    // A file page may not take the slug of an API page: the start fails and says why.
    let clash = CONFIG.replace("slug = \"acme\"", "slug = \"beta\"");
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    drop(app);
    let config = lookout_server::Config::parse(
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\napi_token = \"{TOKEN}\"\n{clash}",
            dir.path().display()
        ),
        "test.toml",
        &|_| None,
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = match rt.block_on(lookout_server::start_with(config, Arc::new(clock))) {
        Ok(_) => panic!("started with a config page clashing with an API page"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("status_pages[0].slug") && err.contains("DELETE /api/v1/status-pages/beta"),
        "{err}"
    );
}
