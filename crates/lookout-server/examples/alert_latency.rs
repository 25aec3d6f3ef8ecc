//! Alert latency and throughput: from an error that makes a new issue to the webhook
//! request arriving at a local receiver.
//!
//! ```text
//! cargo run --release -p lookout-server --example alert_latency [N] [M] [CLIENTS]
//! ```
//!
//! lookout runs in-process on a fresh SQLite directory with one rule (`new issue`, low,
//! notify a webhook channel) and an in-process receiver records the `Instant` each
//! request arrives. Four phases, each with exception types no other phase uses, so every
//! event opens a new issue, a new incident and sends one webhook request:
//!
//! 1. latency: N (default 300) envelopes posted one at a time, each waiting for its own
//!    request to arrive before a short pause. The signal is recorded when ingest's write
//!    commits, between the POST starting and the 200 answering, so "POST start → arrival"
//!    bounds "signal → arrival" from above and "200 → arrival" from below.
//! 2. throughput over HTTP: M (default 2,000) envelopes from CLIENTS (default 4) threads
//!    as fast as they go; incidents opened and routed per second until the last request
//!    arrives.
//! 3. throughput of the engine alone: M events queued straight to the batching writer in
//!    batches of 500 (the path ingest takes, so signals are broadcast the same way).
//! 4. latency again as in 1, now with the incidents of phases 1 to 3 still open.
//!
//! Everything is on loopback and every wait is bounded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lookout_store::{NewEvent, WriteBatch};
use serde_json::{json, Value};

const KEY: &str = "0123456789abcdef0123456789abcdef";
const PROJECT_ID: i64 = 7;
const TOKEN: &str = "bench-token";
/// Latency iterations run first and not counted (connections, caches, first pages).
const WARMUP: usize = 5;
/// Events per writer submission in phase 3.
const WRITER_BATCH: usize = 500;

/// What the receiver got: the first arrival of each marker, and how many requests carried
/// each phase's markers (more than the distinct markers means duplicates).
#[derive(Default)]
struct Log {
    first: HashMap<(char, usize), Instant>,
    requests: HashMap<char, usize>,
}

/// The webhook endpoint: records every request's arrival time and marker.
struct Receiver {
    url: String,
    log: Arc<Mutex<Log>>,
    unmatched: Arc<AtomicUsize>,
    first_body: Arc<Mutex<Option<String>>>,
    _rt: tokio::runtime::Runtime,
}

impl Receiver {
    fn start() -> anyhow::Result<Receiver> {
        // Its own runtime thread, so arrival times do not wait on lookout's workers.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let log: Arc<Mutex<Log>> = Arc::default();
        let unmatched: Arc<AtomicUsize> = Arc::default();
        let first_body: Arc<Mutex<Option<String>>> = Arc::default();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (l, u, f) = (log.clone(), unmatched.clone(), first_body.clone());
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            // The handler runs once the whole request has been read: that is the arrival.
            let at = Instant::now();
            let (l, u, f) = (l.clone(), u.clone(), f.clone());
            async move {
                let text = String::from_utf8_lossy(&body);
                f.lock()
                    .unwrap()
                    .get_or_insert_with(|| text.clone().into_owned());
                match marker(&text) {
                    Some((phase, index)) => {
                        let mut log = l.lock().unwrap();
                        log.first.entry((phase, index)).or_insert(at);
                        *log.requests.entry(phase).or_default() += 1;
                    }
                    None => {
                        u.fetch_add(1, Ordering::Relaxed);
                    }
                }
                "ok"
            }
        });
        rt.spawn(async move { axum::serve(listener, app).await });
        Ok(Receiver {
            url: format!("http://{addr}/hook"),
            log,
            unmatched,
            first_body,
            _rt: rt,
        })
    }

    /// First arrivals of one phase's markers below `n`.
    fn arrivals(&self, phase: char, n: usize) -> Vec<Instant> {
        let log = self.log.lock().unwrap();
        (0..n)
            .filter_map(|i| log.first.get(&(phase, i)).copied())
            .collect()
    }

    /// Requests that carried one phase's markers.
    fn count(&self, phase: char) -> usize {
        self.log
            .lock()
            .unwrap()
            .requests
            .get(&phase)
            .copied()
            .unwrap_or(0)
    }

    fn arrived(&self, phase: char, index: usize) -> Option<Instant> {
        self.log.lock().unwrap().first.get(&(phase, index)).copied()
    }
}

/// The exception type that makes event `index` of `phase` its own issue.
fn exception_type(phase: char, index: usize) -> String {
    format!("Bench{phase}{index:06}Error")
}

/// `Bench<phase><6 digits>Error` somewhere in a request body.
fn marker(body: &str) -> Option<(char, usize)> {
    let mut rest = body;
    while let Some(at) = rest.find("Bench") {
        let tail = &rest[at + 5..];
        let mut chars = tail.chars();
        if let Some(phase) = chars.next() {
            let digits = tail.get(1..7).unwrap_or("");
            if digits.len() == 6
                && digits.bytes().all(|b| b.is_ascii_digit())
                && tail.get(7..12) == Some("Error")
            {
                return Some((phase, digits.parse().ok()?));
            }
        }
        rest = tail;
    }
    None
}

fn envelope(phase: char, index: usize) -> Vec<u8> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let event = json!({
        "event_id": id,
        "platform": "python",
        "level": "error",
        "release": "web@1.0.0",
        "environment": "production",
        "exception": {"values": [{
            "type": exception_type(phase, index),
            "value": format!("benchmark event {index}"),
            "mechanism": {"type": "generic", "handled": true},
            "stacktrace": {"frames": [
                {"module": "app.main", "function": "handle", "lineno": 10, "in_app": true},
                {"module": "app.views", "function": "checkout", "lineno": 42, "in_app": true},
            ]}
        }]}
    });
    format!("{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{event}\n").into_bytes()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// 429 answers retried.
static RETRIES: AtomicUsize = AtomicUsize::new(0);

/// Posts one envelope; retries on 429 (queue full) for up to 10 s.
fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> anyhow::Result<Instant> {
    let auth = format!("Sentry sentry_version=7, sentry_client=bench/1.0, sentry_key={KEY}");
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = agent
            .post(url)
            .header("x-sentry-auth", &auth)
            .header("content-type", "application/x-sentry-envelope")
            .send(body)?;
        let status = resp.status().as_u16();
        let answered = Instant::now();
        match status {
            200 => return Ok(answered),
            429 if answered < give_up => {
                RETRIES.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
            s => anyhow::bail!("ingest answered {s}"),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    lookout_core::stats::nearest_rank(sorted, p).unwrap_or(f64::NAN)
}

fn summary(label: &str, mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!(
        "  {label:<26} p50 {:7.1}  p90 {:7.1}  p99 {:7.1}  max {:7.1}  min {:7.1} ms  (n={})",
        pct(&v, 50.0),
        pct(&v, 90.0),
        pct(&v, 99.0),
        v.last().copied().unwrap_or(f64::NAN),
        v.first().copied().unwrap_or(f64::NAN),
        v.len()
    );
}

/// Polls until `f` holds or `limit` passes; returns whether it held.
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn arg(i: usize, default: usize) -> anyhow::Result<usize> {
    match std::env::args().nth(i) {
        Some(s) => Ok(s.parse()?),
        None => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let n = arg(1, 300)?;
    let m = arg(2, 2_000)?;
    let clients = arg(3, 4)?.max(1);

    let receiver = Receiver::start()?;
    let dir = tempfile::tempdir()?;
    let toml = format!(
        r#"[server]
listen = "127.0.0.1:0"
data_dir = "{dir}"
api_token = "{TOKEN}"

[[projects]]
slug = "app"
id = {PROJECT_ID}
public_key = "{KEY}"
# The default 6,000 a minute would turn the throughput phase into a rate-limit test.
rate_limit_per_minute = 0

[channels.hook]
kind = "webhook"
url = "{url}"
timeout = "5s"

[[rules]]
name = "New issue"
when = "new issue"
severity = "low"
notify = ["hook"]
"#,
        dir = dir.path().display(),
        url = receiver.url,
    );
    let config = lookout_server::Config::parse(&toml, "bench", &|_| None)?;
    // As the tests and a 2-core machine: two workers (the blocking pool grows as needed).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let running = rt.block_on(lookout_server::start(config))?;
    let ingest = format!("{}/api/{PROJECT_ID}/envelope/", running.url());
    println!(
        "alert_latency: {} cores, load average {} at start; N={n} M={m} clients={clients}",
        std::thread::available_parallelism().map_or(0, |c| c.get()),
        load_average()
    );

    // Phase 1: one at a time.
    latency(&receiver, &ingest, 'A', n, "with no incidents open")?;

    // Phase 2: as fast as CLIENTS threads post.
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (next, ingest) = (next.clone(), ingest.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let client = agent();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= m {
                        return Ok(());
                    }
                    post(&client, &ingest, &envelope('B', i))?;
                }
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
    }
    let posted = started.elapsed();
    let retries = RETRIES.load(Ordering::Relaxed);
    if retries > 0 {
        println!("({retries} answers of 429 were retried after 20 ms)");
    }
    let all = wait_until(Duration::from_secs(120), || receiver.count('B') >= m);
    throughput("over HTTP", &receiver, 'B', m, started, posted, all);

    // Phase 3: the engine alone, fed through the writer in big batches.
    let writer = running.writer().clone();
    let started = Instant::now();
    let now_ms = running.state.clock.now_ms();
    rt.block_on(async {
        let mut pending = Vec::new();
        for chunk in (0..m).collect::<Vec<_>>().chunks(WRITER_BATCH) {
            let events = chunk
                .iter()
                .map(|&i| NewEvent {
                    project_id: PROJECT_ID,
                    event_id: uuid::Uuid::new_v4().simple().to_string(),
                    timestamp_ms: now_ms,
                    received_ms: now_ms,
                    level: lookout_store::Level::Error,
                    platform: Some("python".into()),
                    release: None,
                    environment: None,
                    title: format!("{}: benchmark event {i}", exception_type('C', i)),
                    culprit: "app.views in checkout".into(),
                    fingerprint: format!("bench-c-{i}"),
                    grouping_version: "bench".into(),
                    handled: Some(true),
                    user_key: None,
                    payload: b"{}".to_vec(),
                })
                .collect();
            let batch = WriteBatch {
                events,
                ..WriteBatch::default()
            };
            let rx = writer
                .submit(batch)
                .map_err(|_| anyhow::anyhow!("the write queue is full"))?;
            pending.push(rx);
        }
        for rx in pending {
            rx.await?
                .map_err(|e| anyhow::anyhow!("write failed: {e}"))?;
        }
        anyhow::Ok(())
    })?;
    let written = started.elapsed();
    let all = wait_until(Duration::from_secs(120), || receiver.count('C') >= m);
    throughput(
        "engine alone (writer batches)",
        &receiver,
        'C',
        m,
        started,
        written,
        all,
    );

    // Phase 4: latency again, with every incident of the phases before still open (new
    // issue incidents stay open 24 h by default).
    let open = n + WARMUP + 2 * m;
    latency(
        &receiver,
        &ingest,
        'D',
        n,
        &format!("with {open} incidents open"),
    )?;

    let unmatched = receiver.unmatched.load(Ordering::Relaxed);
    if unmatched > 0 {
        println!("{unmatched} requests had no benchmark marker; the first body was:");
        if let Some(b) = receiver.first_body.lock().unwrap().as_deref() {
            println!("  {b}");
        }
    }
    let incidents = open_incidents(&running.url())?;
    println!(
        "open incidents listed by /api/v1/incidents: {incidents} (expected {}); load average {} at end",
        2 * (n + WARMUP + m),
        load_average()
    );
    rt.block_on(running.shutdown())?;
    Ok(())
}

/// Posts `n` envelopes (after the warm-up) one at a time, each waiting for its request to
/// arrive, and prints both latencies.
fn latency(
    receiver: &Receiver,
    ingest: &str,
    phase: char,
    n: usize,
    label: &str,
) -> anyhow::Result<()> {
    let client = agent();
    let mut from_post = Vec::with_capacity(n);
    let mut from_answer = Vec::with_capacity(n);
    let mut missing = 0;
    for i in 0..n + WARMUP {
        let body = envelope(phase, i);
        let started = Instant::now();
        let answered = post(&client, ingest, &body)?;
        let mut at = None;
        wait_until(Duration::from_secs(5), || {
            at = receiver.arrived(phase, i);
            at.is_some()
        });
        if i >= WARMUP {
            match at {
                Some(at) => {
                    from_post.push(ms(at.duration_since(started)));
                    // Signed: the request may arrive before the client has read the 200.
                    from_answer.push(if at >= answered {
                        ms(at - answered)
                    } else {
                        -ms(answered - at)
                    });
                }
                None => missing += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "latency, one new issue at a time, {label} ({} of {n} arrived, {missing} missing after 5 s; {WARMUP} warm-up not counted):",
        from_post.len()
    );
    summary("POST start → receiver", from_post);
    summary("200 answered → receiver", from_answer);
    println!("  load average {}", load_average());
    Ok(())
}

fn throughput(
    label: &str,
    receiver: &Receiver,
    phase: char,
    m: usize,
    started: Instant,
    sent: Duration,
    all: bool,
) {
    let got = receiver.arrivals(phase, m);
    let last = got.iter().max().copied();
    let first = got.iter().min().copied();
    let duplicates = receiver.count(phase).saturating_sub(got.len());
    println!(
        "throughput, {label}: {} of {m} arrived{}{}",
        got.len(),
        if all { "" } else { " (gave up after 120 s)" },
        if duplicates > 0 {
            format!(", {duplicates} duplicates")
        } else {
            String::new()
        }
    );
    println!(
        "  events in:   {m} in {:.2} s = {:.0} events/s",
        sent.as_secs_f64(),
        m as f64 / sent.as_secs_f64()
    );
    if let (Some(first), Some(last)) = (first, last) {
        let total = last.duration_since(started).as_secs_f64();
        println!(
            "  routed out:  {} in {total:.2} s from the first event = {:.0} incidents/s end to end",
            got.len(),
            got.len() as f64 / total
        );
        println!(
            "  first request {:.0} ms after the start, last {:.0} ms after the last event was in",
            ms(first.duration_since(started)),
            ms(last.saturating_duration_since(started + sent))
        );
    }
    println!("  load average {}", load_average());
}

/// How many open incidents the API lists, paging by id.
fn open_incidents(base: &str) -> anyhow::Result<usize> {
    let client = agent();
    let auth = format!("Bearer {TOKEN}");
    let mut total = 0;
    let mut before = None;
    loop {
        let mut url = format!("{base}/api/v1/incidents?status=open&limit=500");
        if let Some(id) = before {
            url.push_str(&format!("&before={id}"));
        }
        let mut resp = client.get(&url).header("authorization", &auth).call()?;
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()?;
        let v: Value = serde_json::from_str(&text)?;
        let page = v.as_array().cloned().unwrap_or_default();
        total += page.len();
        match page.last().and_then(|r| r["id"].as_i64()) {
            Some(id) if page.len() == 500 => before = Some(id),
            _ => return Ok(total),
        }
    }
}
