//! Dashboard speed with a large store: the overview, the issue list and an issue page
//! with 100,000 issues and 1,000,000 events on SQLite; and the pages that read other
//! history: deploys (500 over the 30 days, drawn as markers on the overview and issue
//! charts), SLOs (errors per hour of the project over its 30 days, and a monitor's
//! availability) and a monitor page over 30 days (a check a minute with phase timings,
//! rolled up).
//!
//! ```text
//! cargo run --release -p lookout-server --example dashboard_bench [ISSUES] [EVENTS] [REQUESTS]
//! ```
//!
//! lookout runs in-process on a fresh SQLite directory. The store is filled through the
//! same batch writes ingest uses: every issue gets its first event, the rest go one in
//! five to 100 busy issues and otherwise to issues at random, received evenly over the
//! last 30 days, each with a real zstd-compressed event (exception, frames, breadcrumbs).
//! Then a signed-in client (a session made in the store) asks for each page REQUESTS
//! (default 200) times, one at a time after a short warm-up, issue pages of random issues.
//! The time of each request, on loopback, is the server's time plus well under a
//! millisecond of client and socket. Everything stops by itself; the directory is removed.

use std::time::{Duration, Instant};

use lookout_core::clock::{Clock, SystemClock};
use lookout_sentry::event::Level;
use lookout_store::{NewEvent, NewSession, WriteBatch};
use serde_json::json;

const KEY: &str = "0123456789abcdef0123456789abcdef";
const PROJECT_ID: i64 = 1;
const BATCH: usize = 5_000;
const BUSY: usize = 100;
const DAY: i64 = 86_400_000;
const WARMUP: usize = 5;

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .map(|a| a.replace(['_', ','], "").parse().expect("a number"))
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift), so runs fill the same store.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn payload(i: usize) -> Vec<u8> {
    let event = json!({
        "event_id": format!("{i:032x}"),
        "level": "error",
        "platform": "node",
        "release": format!("web@1.{}", i % 20),
        "environment": "production",
        "exception": {"values": [{
            "type": "TypeError",
            "value": format!("Cannot read properties of undefined (reading 'id') #{}", i % 1000),
            "mechanism": {"type": "onunhandledrejection", "handled": false},
            "stacktrace": {"frames": [
                {"filename": "node:internal/process/task_queues", "function": "processTicksAndRejections", "lineno": 95, "in_app": false},
                {"filename": "app/routes/orders.js", "function": "handle", "lineno": 40, "in_app": true,
                 "pre_context": ["async function handle(req, res) {", "  const user = await load(req);"],
                 "context_line": "  const id = user.profile.id;",
                 "post_context": ["  res.json(await orders(id));", "}"],
                 "vars": {"req": "[Object]", "user": null}},
            ]}
        }]},
        "breadcrumbs": {"values": [
            {"timestamp": 1.7e9, "category": "http", "message": "GET /api/orders"},
            {"timestamp": 1.7e9, "category": "query", "message": "SELECT * FROM orders WHERE user_id = $1"},
        ]},
        "request": {"method": "GET", "url": "https://app.example/api/orders", "headers": {"user-agent": "Mozilla/5.0"}},
        "user": {"id": format!("u{}", i % 5000)},
        "tags": {"route": "/api/orders"},
    });
    zstd::encode_all(event.to_string().as_bytes(), 1).expect("zstd")
}

/// Deploys recorded over the 30 days.
const DEPLOYS: i64 = 500;

/// Deploys over the 30 days, and a monitor checked every minute for 30 days with its
/// phases, rolled up as the server does.
fn fill_history(store: &dyn lookout_store::Store, monitor: i64, now: i64) {
    for i in 0..DEPLOYS {
        let at = now - 30 * DAY + i * (30 * DAY / DEPLOYS);
        store
            .create_deploy(&lookout_store::NewDeploy {
                project_id: PROJECT_ID,
                environment: "production".into(),
                release: format!("web@1.{i}"),
                name: None,
                url: None,
                commit: Some(format!("{i:040x}")),
                started_ms: at,
                finished_ms: Some(at + 60_000),
                verdict: Some("passed".into()),
                checks: json!([{"kind": "health", "target": "http://127.0.0.1:3000/api/health",
                                "outcome": "passed", "summary": "ok", "attempts": 1,
                                "duration_ms": 800}]),
                rollback: None,
                watch_until_ms: None,
                now_ms: at,
            })
            .expect("record a deploy");
    }
    let minute = 60_000;
    let mut rng = Rng(7);
    let results: Vec<lookout_store::CheckRecord> = (0..30 * DAY / minute)
        .map(|i| {
            let dns = rng.below(5) as u32;
            let first_byte = 20 + rng.below(200) as u32;
            lookout_store::CheckRecord {
                monitor_id: monitor,
                at_ms: now - 30 * DAY + i * minute,
                latency_ms: Some(dns + 3 + 12 + first_byte),
                outcome: if rng.below(500) == 0 {
                    lookout_store::CheckOutcome::Down
                } else {
                    lookout_store::CheckOutcome::Up
                },
                maintenance: false,
                error: None,
                figures: lookout_store::CheckFigures {
                    dns_ms: Some(dns),
                    connect_ms: Some(3),
                    tls_ms: Some(12),
                    first_byte_ms: Some(first_byte),
                    ..Default::default()
                },
            }
        })
        .collect();
    for part in results.chunks(BATCH) {
        store
            .write_checks(&lookout_store::CheckBatch {
                results: part.to_vec(),
                ..Default::default()
            })
            .expect("write checks");
    }
    store.rollup_checks(now).expect("roll up");
}

fn fill(store: &dyn lookout_store::Store, issues: usize, events: usize, now: i64) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let start = now - 30 * DAY;
    let step = (30 * DAY) as f64 / events as f64;
    let payloads: Vec<Vec<u8>> = (0..64).map(payload).collect();
    let began = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..events {
        let issue = if i < issues {
            // Spread first events over the whole range, so issues are of every age.
            (i * 7919) % issues
        } else if rng.below(5) == 0 {
            rng.below(BUSY)
        } else {
            rng.below(issues)
        };
        let received = start + (i as f64 * step) as i64;
        batch.push(NewEvent {
            project_id: PROJECT_ID,
            event_id: format!("{:016x}{:016x}", i, rng.next()),
            timestamp_ms: received - 20,
            received_ms: received,
            level: if issue % 10 == 0 {
                Level::Warning
            } else {
                Level::Error
            },
            platform: Some("node".into()),
            release: Some(format!("web@1.{}", issue % 20)),
            environment: Some(
                if issue % 3 == 0 {
                    "staging"
                } else {
                    "production"
                }
                .into(),
            ),
            title: format!("TypeError: Cannot read properties of undefined (reading 'id{issue}')"),
            culprit: format!("app/routes/r{}.js in handle", issue % 500),
            fingerprint: format!("{issue:016x}"),
            grouping_version: "bench".into(),
            handled: Some(false),
            user_key: Some(format!("u{}", rng.below(5000))),
            payload: payloads[i % payloads.len()].clone(),
        });
        if batch.len() == BATCH || i + 1 == events {
            store
                .write_batch(&WriteBatch {
                    events: std::mem::take(&mut batch),
                    ..WriteBatch::default()
                })
                .expect("write a batch");
        }
        if (i + 1) % 200_000 == 0 {
            eprintln!(
                "  {} events in {:.0} s",
                i + 1,
                began.elapsed().as_secs_f64()
            );
        }
    }
}

/// How a measured page picks the path of each request.
type PathOf = Box<dyn Fn(&mut Rng) -> String>;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() -> anyhow::Result<()> {
    let issues = arg(1, 100_000);
    let events = arg(2, 1_000_000).max(issues);
    let requests = arg(3, 200);
    let dir = tempfile::tempdir()?;
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\napi_token = \"bench-token\"\n\n[[projects]]\nslug = \"app\"\nid = {PROJECT_ID}\npublic_key = \"{KEY}\"\n\n[[monitors]]\nname = \"Home\"\nkind = \"heartbeat\"\nperiod = \"1h\"\ntoken = \"bench-home-token\"\n\n[[slos]]\nname = \"Errors\"\nkind = \"errors_per_hour\"\nproject = \"app\"\nthreshold = 10\ntarget = 99\n\n[[slos]]\nname = \"Home availability\"\nkind = \"availability\"\nmonitor = \"Home\"\ntarget = 99.9\n",
        dir.path().display()
    );
    let config = lookout_server::Config::parse(&text, "bench.toml", &|_| None)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let running = rt.block_on(lookout_server::start(config))?;
    let store = running.state.store.clone();
    let now = SystemClock.now_ms();

    eprintln!("filling: {issues} issues, {events} events");
    let began = Instant::now();
    fill(store.as_ref(), issues, events, now);
    let home = store
        .list_monitors()?
        .into_iter()
        .find(|m| m.name == "Home")
        .expect("the Home monitor")
        .id;
    fill_history(store.as_ref(), home, now);
    let fill_s = began.elapsed().as_secs_f64();
    let user = store.create_user("bench@example.org", "unused", now)?;
    store.create_session(&NewSession {
        id_hash: lookout_web::token_hash("bench-session"),
        user_id: user.id,
        csrf: "bench".into(),
        created_ms: now,
        expires_ms: now + DAY,
    })?;
    // The busiest issues by event count, for the issue page of a busy issue.
    let busy: Vec<i64> = store
        .list_issues(&lookout_store::IssueFilter {
            project_id: PROJECT_ID,
            sort: lookout_store::IssueSort::Count,
            limit: BUSY as u32,
            ..Default::default()
        })?
        .iter()
        .map(|i| i.id)
        .collect();
    let db_bytes: u64 = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let base = running.url();
    let mut rng = Rng(42);
    let get = |path: &str| -> f64 {
        let t = Instant::now();
        let mut resp = agent
            .get(format!("{base}{path}"))
            .header("cookie", "lookout_session=bench-session")
            .call()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let body = resp.body_mut().read_to_string().expect("a page");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(body.contains("<main"), "{path} answered no page");
        ms
    };
    println!(
        "store: {issues} issues, {events} events, {:.0} MiB on disk, filled in {fill_s:.0} s",
        db_bytes as f64 / 1048576.0
    );
    // The SLO page evaluates every objective at most once a minute; the first view pays
    // for the evaluation.
    let first_slos = get("/slos");
    println!("SLOs, first view (evaluates both objectives): {first_slos:.1} ms");
    println!("page                         p50 ms   p95 ms   max ms");
    let pages: Vec<(&str, PathOf)> = vec![
        ("overview", Box::new(|_| "/overview".to_string())),
        (
            "issues (unresolved, last seen)",
            Box::new(|_| "/issues".to_string()),
        ),
        (
            "issues (all, most events)",
            Box::new(|_| "/issues?status=all&sort=count".to_string()),
        ),
        (
            "issues (release filter)",
            Box::new(|_| "/issues?release=web%401.7".to_string()),
        ),
        (
            "issue page (random issue)",
            Box::new(move |r: &mut Rng| format!("/issues/{}", 1 + r.below(issues))),
        ),
        (
            "issue page (busy issue)",
            Box::new(move |r: &mut Rng| format!("/issues/{}", busy[r.below(busy.len())])),
        ),
        ("deploys", Box::new(|_| "/deploys".to_string())),
        ("SLOs", Box::new(|_| "/slos".to_string())),
        (
            "monitor page (24h)",
            Box::new(move |_| format!("/monitors/{home}")),
        ),
        (
            "monitor page (30d)",
            Box::new(move |_| format!("/monitors/{home}?range=30d")),
        ),
    ];
    for (name, path) in &pages {
        for _ in 0..WARMUP {
            get(&path(&mut rng));
        }
        let mut times: Vec<f64> = (0..requests).map(|_| get(&path(&mut rng))).collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<30} {:>6.1} {:>8.1} {:>8.1}",
            percentile(&times, 50.0),
            percentile(&times, 95.0),
            times[times.len() - 1]
        );
    }
    rt.block_on(running.shutdown())?;
    Ok(())
}
