//! Percentile queries over 30 days of request latency: fills the latency histograms of a
//! project with 10 million requests (20 transactions, 2 releases, log-normal durations,
//! one minute after another for 30 days) into SQLite in a temp dir and, when
//! `LOOKOUT_TEST_POSTGRES_URL` is set, into a scratch PostgreSQL schema; then times the
//! queries the API and the `p95` rule run.
//!
//! `cargo run --release -p lookout-store --example latency_bench [requests]`

use std::time::Instant;

use lookout_core::settings::ProjectSettings;
use lookout_store::postgres::PostgresStore;
use lookout_store::sqlite::SqliteStore;
use lookout_store::{LatencyQuery, LatencySample, NewProject, Store, KIND_REQUEST};
use rand::Rng;

const DAY: i64 = 86_400_000;
const DAYS: i64 = 30;
const T0: i64 = 1_800_000_000_000;
const TRANSACTIONS: usize = 20;

fn fill(store: &dyn Store, project: i64, requests: u64) -> f64 {
    let mut rng = rand::rng();
    let names: Vec<String> = (0..TRANSACTIONS)
        .map(|i| format!("GET /api/route-{i}/:id"))
        .collect();
    let per_day = requests / DAYS as u64;
    let started = Instant::now();
    for day in 0..DAYS {
        let mut samples = Vec::with_capacity(per_day as usize);
        for i in 0..per_day {
            let at = T0 + day * DAY + (i as i64 * DAY / per_day as i64);
            let t = rng.random_range(0..TRANSACTIONS);
            // Log-normal around 80 ms × (1 + route index / 4): a long tail, slower routes.
            let z: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
            let ms = 80.0 * (1.0 + t as f64 / 4.0) * (0.6 * z).exp();
            samples.push(LatencySample {
                kind: KIND_REQUEST,
                owner_id: project,
                name: names[t].clone(),
                release: if day < 15 { "1.0" } else { "1.1" }.to_string(),
                environment: "production".to_string(),
                at_ms: at,
                duration_ms: ms,
                error: rng.random::<f64>() < 0.001,
            });
        }
        // Written as ingest does: batches of a few thousand requests.
        for chunk in samples.chunks(5_000) {
            store.record_latency(chunk).expect("write");
        }
    }
    started.elapsed().as_secs_f64()
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[runs / 2], times[runs - 1], last.expect("runs > 0"))
}

fn run(what: &str, store: &dyn Store, requests: u64) {
    let project = store
        .create_project(&NewProject {
            id: None,
            slug: "bench".into(),
            name: "bench".into(),
            public_key: None,
            settings: ProjectSettings::default(),
            now_ms: T0,
        })
        .expect("project")
        .id;
    let secs = fill(store, project, requests);
    println!(
        "{what}: filled {requests} requests in {secs:.1} s ({:.0} requests/s)",
        requests as f64 / secs
    );
    // Ingest appends deltas and the jobs duty merges them into the roll-ups every few
    // seconds, so a live store holds only a few seconds of them: merge as the job does.
    let started = Instant::now();
    let merged = store.compact_latency().expect("compact");
    println!(
        "{what}: merged {merged} deltas into the roll-ups in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // A range as the API gets it: not on hour boundaries, so minute rows are read at
    // both edges.
    let q = LatencyQuery {
        kind: KIND_REQUEST,
        owner_id: project,
        from_ms: T0 + 17 * 60_000,
        to_ms: T0 + DAYS * DAY - 23 * 60_000,
        ..LatencyQuery::default()
    };
    let (p50, max, total) = time(21, || store.latency_total(&q).expect("query"));
    println!(
        "{what}: p50/p95/p99 of {} requests over 30 days: {:.1} / {:.1} / {:.1} ms; query {p50:.1} ms median, {max:.1} ms slowest of 21",
        total.hist.count(),
        total.hist.quantile(50.0).unwrap_or(0.0),
        total.hist.quantile(95.0).unwrap_or(0.0),
        total.hist.quantile(99.0).unwrap_or(0.0),
    );
    let (p50, max, by) = time(21, || store.latency_by_name(&q).expect("query"));
    println!(
        "{what}: per transaction ({} of them, slowest p95 {:.1} ms): query {p50:.1} ms median, {max:.1} ms slowest of 21",
        by.len(),
        by[0].hist.quantile(95.0).unwrap_or(0.0)
    );
    let one = LatencyQuery {
        name: Some("GET /api/route-7/:id".into()),
        ..q.clone()
    };
    let (p50, max, _) = time(21, || store.latency_total(&one).expect("query"));
    println!(
        "{what}: one transaction over 30 days: query {p50:.1} ms median, {max:.1} ms slowest of 21"
    );
    let (p50, max, days) = time(21, || store.latency_series(&q, DAY).expect("query"));
    println!(
        "{what}: daily series ({} days): query {p50:.1} ms median, {max:.1} ms slowest of 21",
        days.len()
    );
    let window = LatencyQuery {
        from_ms: T0 + DAYS * DAY - 5 * 60_000,
        to_ms: T0 + DAYS * DAY,
        ..q.clone()
    };
    let (p50, max, _) = time(21, || store.latency_total(&window).expect("query"));
    println!(
        "{what}: p95 rule window (5 minutes): query {p50:.2} ms median, {max:.2} ms slowest of 21"
    );
}

fn main() {
    let requests: u64 = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let lite = SqliteStore::open(dir.path()).expect("open sqlite");
    run("sqlite", &lite, requests);
    if let Ok(url) = std::env::var("LOOKOUT_TEST_POSTGRES_URL") {
        let schema = format!("lookout_bench_{:016x}", rand::random::<u64>());
        let pg = PostgresStore::connect_in_schema(&url, &schema).expect("postgres");
        run("postgres", &pg, requests);
        pg.drop_schema().expect("drop the bench schema");
    }
}
