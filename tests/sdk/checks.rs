//! Helpers shared by the real-SDK suites (`crates/lookout/tests/sdk_python.rs`,
//! `sdk_node.rs` and `corpus.rs`, which include this file with `#[path]`): run an SDK client
//! script with a time bound, read what lookout made of its events through the JSON API, and
//! check the scenario every client script plays.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Server;

/// The repository root (the workspace), where `tests/sdk/` lives.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a client script and returns the JSON object it prints on its last stdout line.
/// Panics with both output streams if it fails, prints no JSON or runs over `limit`.
pub fn run_client(cmd: &mut Command, what: &str, limit: Duration) -> Value {
    let (stdout, stderr) = run_bounded(cmd, what, limit);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    last.and_then(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| {
            panic!("{what} printed no JSON result line\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
        })
}

/// Runs a command to its end and returns its stdout and stderr. Panics with both if it
/// fails or runs over `limit`.
pub fn run_bounded(cmd: &mut Command, what: &str, limit: Duration) -> (String, String) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = started + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for client") {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    let Some(status) = status else {
        panic!("{what} ran longer than {limit:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    };
    assert!(
        status.success(),
        "{what} failed ({status})\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    eprintln!("{what}: done in {:.1?}", started.elapsed());
    (stdout, stderr)
}

/// The string items of `v[key]` (an array of event ids).
pub fn ids(v: &Value, key: &str) -> Vec<String> {
    let arr = v[key]
        .as_array()
        .unwrap_or_else(|| panic!("client result has no array `{key}`: {v}"));
    arr.iter()
        .map(|x| {
            x.as_str()
                .unwrap_or_else(|| panic!("`{key}` holds a non-string id: {v}"))
                .replace('-', "")
        })
        .collect()
}

/// Waits until the event is stored and returns its issue id.
pub fn issue_of_event(s: &Server, event_id: &str) -> i64 {
    let path = format!("/api/v1/projects/app/events/{event_id}");
    let ev = s.wait_for(
        &format!("event {event_id} to be stored"),
        Duration::from_secs(15),
        || match s.get(&path) {
            (200, v) => Some(v),
            (404, _) => None,
            (st, v) => panic!("GET {path}: {st} {v}"),
        },
    );
    ev["issue_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("event {event_id} has no issue_id: {ev}"))
}

/// `GET /api/v1/issues/{id}`.
pub fn issue(s: &Server, id: i64) -> Value {
    let (st, v) = s.get(&format!("/api/v1/issues/{id}"));
    assert_eq!(st, 200, "GET issue {id}: {v}");
    v
}

/// Waits for an issue whose title starts with `prefix` and returns it.
pub fn issue_titled(s: &Server, prefix: &str) -> Value {
    s.wait_for(
        &format!("an issue titled `{prefix}…`"),
        Duration::from_secs(15),
        || {
            s.issues("")
                .into_iter()
                .find(|i| i["title"].as_str().is_some_and(|t| t.starts_with(prefix)))
        },
    )
}

/// `GET /api/v1/signals`.
pub fn signals(s: &Server) -> Vec<Value> {
    let (st, v) = s.get("/api/v1/signals");
    assert_eq!(st, 200, "GET signals: {v}");
    v.as_array()
        .cloned()
        .unwrap_or_else(|| panic!("signals is not an array: {v}"))
}

/// Whether a signal of `kind` names issue `issue_id`.
pub fn has_signal(signals: &[Value], kind: &str, issue_id: i64) -> bool {
    signals
        .iter()
        .any(|g| g["kind"] == kind && g["issue_id"].as_i64() == Some(issue_id))
}

/// All stack frames of an API event: every exception's and the event's own.
pub fn frames(event: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for x in event["exceptions"].as_array().into_iter().flatten() {
        out.extend(
            x["stacktrace"]["frames"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        );
    }
    out.extend(
        event["stacktrace"]["frames"]
            .as_array()
            .into_iter()
            .flatten()
            .cloned(),
    );
    out
}

/// Asserts the issue's latest event carries a stack trace with an in-app frame in
/// `function`.
pub fn assert_in_app_frame(issue: &Value, function: &str) {
    let latest = &issue["latest_event"];
    let frames = frames(latest);
    assert!(
        !frames.is_empty(),
        "latest event of issue {} has no stack frames: {latest}",
        issue["id"]
    );
    let hit = frames.iter().find(|f| {
        f["function"]
            .as_str()
            .is_some_and(|n| n == function || n.ends_with(&format!(".{function}")))
    });
    let hit = hit.unwrap_or_else(|| {
        panic!(
            "no frame in `{function}` in issue {}: {}",
            issue["id"],
            Value::Array(frames.clone())
        )
    });
    assert_eq!(
        hit["in_app"], true,
        "frame `{function}` is not in_app: {hit}"
    );
}

/// The last exception of the issue's latest event (the one the title is made from).
pub fn last_exception(issue: &Value) -> Value {
    let latest = &issue["latest_event"];
    latest["exceptions"]
        .as_array()
        .and_then(|a| a.last().cloned())
        .unwrap_or_else(|| {
            panic!(
                "latest event of issue {} has no exception: {latest}",
                issue["id"]
            )
        })
}

/// Asserts `v[key]` (a list of releases or environments) mentions `value`.
pub fn assert_seen(issue: &Value, key: &str, value: &str) {
    assert!(
        issue[key].to_string().contains(&format!("\"{value}\"")),
        "issue {} lists no {key} `{value}`: {}",
        issue["id"],
        issue[key]
    );
}

/// Sum of the stats outcomes with this outcome and category.
pub fn outcome_quantity(s: &Server, outcome: &str, category: &str) -> u64 {
    let (st, v) = s.get("/api/v1/projects/app/stats");
    assert_eq!(st, 200, "GET stats: {v}");
    v["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("stats has no outcomes: {v}"))
        .iter()
        .filter(|o| o["outcome"] == outcome && o["category"] == category)
        .map(|o| o["quantity"].as_u64().unwrap_or(0))
        .sum()
}

/// How one SDK's client script names what every client script does.
pub struct Scenario<'a> {
    /// Site A: the exception type its two errors have, and the function raising them.
    pub site_a: (&'a str, &'a str),
    /// Site B: its exception type and function.
    pub site_b: (&'a str, &'a str),
    /// The function that calls both sites.
    pub caller: &'a str,
}

/// What [`assert_scenario`] found, for the checks that only one SDK makes.
pub struct Found {
    /// The release the client reported.
    pub release: String,
    /// Site A's event ids.
    pub a: Vec<String>,
    /// The issues of site A, site B, the messages and the unhandled error.
    pub ids: [i64; 4],
    /// Site A's issue.
    pub issue_a: Value,
    /// The messages' issue.
    pub issue_m: Value,
    /// The unhandled error's issue.
    pub issue_u: Value,
    /// The signals recorded.
    pub signals: Vec<Value>,
}

/// Checks what every client script does: two errors from site A with different values
/// are one issue, site B is another, two messages that differ only in numbers are one,
/// the error that escaped is unhandled; four issues, each with its `new_issue` signal and
/// the escaped one with an `unhandled` signal.
pub fn assert_scenario(s: &Server, out: &Value, sc: &Scenario<'_>) -> Found {
    let release = out["release"].as_str().expect("release").to_string();
    let environment = out["environment"]
        .as_str()
        .expect("environment")
        .to_string();

    // Site A: two errors from the same code, different values -> one issue.
    let (a_type, a_fn) = sc.site_a;
    let a = ids(out, "site_a");
    assert_eq!(a.len(), 2);
    let ia = issue_of_event(s, &a[0]);
    assert_eq!(
        issue_of_event(s, &a[1]),
        ia,
        "the two {a_type}s from {a_fn} split"
    );
    let issue_a = issue(s, ia);
    assert_eq!(issue_a["count"], 2, "{issue_a}");
    let title = issue_a["title"].as_str().unwrap_or_default();
    assert!(title.starts_with(a_type), "title: {title}");
    let culprit = issue_a["culprit"].as_str().unwrap_or_default();
    assert!(culprit.contains(a_fn), "culprit: {culprit}");
    assert_eq!(issue_a["user_count"], 2, "two users hit site A: {issue_a}");
    assert_eq!(issue_a["unhandled_count"], 0, "{issue_a}");
    assert_seen(&issue_a, "releases", &release);
    assert_seen(&issue_a, "environments", &environment);
    assert_in_app_frame(&issue_a, a_fn);
    assert_in_app_frame(&issue_a, sc.caller);
    let exc = last_exception(&issue_a);
    assert_eq!(exc["type"], a_type, "{exc}");

    // Site B: another function -> another issue.
    let (b_type, b_fn) = sc.site_b;
    let b = ids(out, "site_b");
    let ib = issue_of_event(s, &b[0]);
    assert_ne!(ib, ia, "site B was merged into site A");
    let issue_b = issue(s, ib);
    assert_eq!(issue_b["count"], 1);
    assert!(
        issue_b["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with(b_type),
        "{issue_b}"
    );
    assert!(
        issue_b["culprit"]
            .as_str()
            .unwrap_or_default()
            .contains(b_fn),
        "{issue_b}"
    );
    assert_in_app_frame(&issue_b, b_fn);

    // Messages differing only in numbers -> one issue.
    let m = ids(out, "messages");
    let im = issue_of_event(s, &m[0]);
    assert_eq!(
        issue_of_event(s, &m[1]),
        im,
        "the two messages split into two issues"
    );
    assert!(im != ia && im != ib);
    let issue_m = issue(s, im);
    assert_eq!(issue_m["count"], 2, "{issue_m}");
    assert_eq!(issue_m["level"], "warning", "{issue_m}");

    // The error that escaped is unhandled.
    let iu = issue_titled(s, out["unhandled_type"].as_str().expect("unhandled_type"));
    let iu_id = iu["id"].as_i64().expect("issue id");
    assert!(iu["unhandled_count"].as_u64() >= Some(1), "{iu}");
    let issue_u = issue(s, iu_id);
    assert_eq!(
        last_exception(&issue_u)["mechanism"]["handled"],
        false,
        "{issue_u}"
    );

    let issues = s.issues("");
    assert_eq!(
        issues.len(),
        4,
        "expected 4 issues (A, B, message, unhandled): {issues:#?}"
    );
    let sig = signals(s);
    for (what, id) in [
        ("site A", ia),
        ("site B", ib),
        ("message", im),
        ("unhandled", iu_id),
    ] {
        assert!(
            has_signal(&sig, "new_issue", id),
            "no new_issue signal for {what}: {sig:?}"
        );
    }
    assert!(
        has_signal(&sig, "unhandled", iu_id),
        "no unhandled signal: {sig:?}"
    );
    Found {
        release,
        a,
        ids: [ia, ib, im, iu_id],
        issue_a,
        issue_m,
        issue_u,
        signals: sig,
    }
}
