//! Measures `write_batch` throughput: N batches of 500 realistic events (~2.2 KB
//! incompressible payloads, as zstd output is, ~75 fingerprints, users, releases, 10 %
//! unhandled) into SQLite in a temp dir and, when `LOOKOUT_TEST_POSTGRES_URL` is set,
//! into a scratch PostgreSQL schema.
//!
//! `LOOKOUT_BENCH_SPANS=N` adds N request timings (segment spans of 20 routes) to every
//! batch, for the cost of the latency histograms on the writer.
//!
//! `cargo run --release -p lookout-store --example write_bench [batches]`

use std::time::{Duration, Instant};

use lookout_core::settings::ProjectSettings;
use lookout_store::postgres::PostgresStore;
use lookout_store::sqlite::SqliteStore;
use lookout_store::{Level, NewEvent, NewProject, OutcomeIncrement, Store, WriteBatch};
use rand::Rng;

const DEFAULT_BATCH: usize = 500;

/// Events per batch: `LOOKOUT_BENCH_BATCH`, else 500. Ingest's group commits are as large
/// as the number of requests in flight, so small batches matter too.
fn batch_size() -> usize {
    std::env::var("LOOKOUT_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_BATCH)
}
/// Request timings per batch: `LOOKOUT_BENCH_SPANS`, else none.
fn spans_per_batch() -> usize {
    std::env::var("LOOKOUT_BENCH_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
const PAYLOAD: usize = 2_200;
const FINGERPRINTS: u64 = 75;

fn batches(project_id: i64, n: usize) -> Vec<WriteBatch> {
    let mut rng = rand::rng();
    let mut seq = 0u64;
    (0..n)
        .map(|b| {
            let events = (0..batch_size())
                .map(|_| {
                    seq += 1;
                    let fp = rng.random_range(0..FINGERPRINTS);
                    let mut payload = vec![0u8; PAYLOAD];
                    rng.fill(&mut payload[..]);
                    let received_ms = 1_700_000_000_000 + seq as i64;
                    NewEvent {
                        project_id,
                        event_id: format!("{:016x}{:016x}", rng.random::<u64>(), seq),
                        timestamp_ms: received_ms - 30,
                        received_ms,
                        level: if fp % 7 == 0 {
                            Level::Warning
                        } else {
                            Level::Error
                        },
                        platform: Some("javascript".to_string()),
                        release: Some(format!("web@1.{}.0", fp % 3)),
                        environment: Some(
                            if fp % 5 == 0 { "staging" } else { "production" }.to_string(),
                        ),
                        title: format!(
                            "TypeError: Cannot read properties of undefined (reading 'f{fp}')"
                        ),
                        culprit: format!("app/routes/page{fp}.tsx in handler"),
                        fingerprint: format!("{:032x}", fp * 0x9e37_79b9_7f4a_7c15),
                        grouping_version: "v1".to_string(),
                        handled: rng.random_bool(0.1).then_some(false),
                        user_key: Some(format!("user{}", rng.random_range(0..2_000))),
                        payload,
                    }
                })
                .collect();
            let latency = (0..spans_per_batch())
                .map(|i| lookout_store::LatencySample {
                    kind: lookout_store::KIND_REQUEST,
                    owner_id: project_id,
                    name: format!("GET /route-{}", i % 20),
                    release: "web@1.0.0".to_string(),
                    environment: "production".to_string(),
                    at_ms: 1_700_000_000_000 + seq as i64,
                    duration_ms: rng.random_range(5.0..900.0),
                    error: false,
                })
                .collect();
            WriteBatch {
                events,
                latency,
                outcomes: vec![OutcomeIncrement {
                    project_id,
                    bucket_ms: (b as i64 / 100) * 3_600_000,
                    outcome: "accepted".to_string(),
                    category: "error".to_string(),
                    reason: String::new(),
                    quantity: batch_size() as u64,
                }],
                ..WriteBatch::default()
            }
        })
        .collect()
}

fn run(name: &str, store: &dyn Store, n: usize) {
    let project = store
        .create_project(&NewProject {
            id: None,
            slug: "bench".to_string(),
            name: "Bench".to_string(),
            public_key: None,
            settings: ProjectSettings::default(),
            now_ms: 0,
        })
        .expect("create project");
    let work = batches(project.id, n);
    let mut latencies: Vec<Duration> = Vec::with_capacity(n);
    let start = Instant::now();
    for batch in &work {
        let t = Instant::now();
        store.write_batch(batch).expect("write batch");
        latencies.push(t.elapsed());
    }
    let total = start.elapsed();
    latencies.sort();
    let rows = n * batch_size();
    println!(
        "{name:>8}: {rows} events in {n} batches of {}: {:.2} s, {:.0} events/s; \
         batch p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        batch_size(),
        total.as_secs_f64(),
        rows as f64 / total.as_secs_f64(),
        latencies[n / 2].as_secs_f64() * 1e3,
        latencies[(n * 99 / 100).min(n - 1)].as_secs_f64() * 1e3,
        latencies[n - 1].as_secs_f64() * 1e3,
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(60)
        .max(1);

    let dir = tempfile::tempdir().expect("temp dir");
    // LOOKOUT_BENCH_SYNC=normal measures `server.sqlite_synchronous = "normal"`.
    let durability = match std::env::var("LOOKOUT_BENCH_SYNC").as_deref() {
        Ok("normal") => lookout_store::sqlite::Durability::Process,
        _ => lookout_store::sqlite::Durability::PowerLoss,
    };
    let sqlite = SqliteStore::open_with(dir.path(), durability).expect("open sqlite");
    run("sqlite", &sqlite, n);
    drop(sqlite);

    match std::env::var("LOOKOUT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            let schema = format!("lookout_bench_{:016x}", rand::random::<u64>());
            let pg = PostgresStore::connect_in_schema(&url, &schema).expect("connect postgres");
            run("postgres", &pg, n);
            pg.drop_schema().expect("drop bench schema");
        }
        _ => println!("postgres: skipped (set LOOKOUT_TEST_POSTGRES_URL)"),
    }
}
