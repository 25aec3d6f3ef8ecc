//! Measures what raw check results cost on disk and how fast `write_checks` takes them:
//! M monitors × N checks (default 1,000 × 1,000), written the way the scheduler does —
//! time order, batches of 200 results with a status per result — mostly Up with 20–400 ms
//! latencies and the phases of an HTTPS check, some Degraded or Down with an error. Prints bytes per stored check (the
//! `check_results` b-tree pages from `dbstat`, and the file's growth) and checks/s, for
//! SQLite in a temp dir and, when `LOOKOUT_TEST_POSTGRES_URL` is set, for a scratch
//! PostgreSQL schema (`pg_total_relation_size`, heap plus key index).
//!
//! `cargo run --release -p lookout-store --example check_bytes [monitors] [checks]`

use std::time::Instant;

use lookout_core::monitor::State;
use lookout_store::postgres::PostgresStore;
use lookout_store::sqlite::SqliteStore;
use lookout_store::{
    CheckBatch, CheckOutcome, CheckRecord, MonitorKind, MonitorSource, MonitorStatus, NewMonitor,
    Store,
};
use rand::Rng;

const BATCH: usize = 200;
const INTERVAL_MS: i64 = 60_000;
const START_MS: i64 = 1_767_225_600_000;

fn create_monitors(store: &dyn Store, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            store
                .create_monitor(&NewMonitor {
                    name: format!("service {i}"),
                    kind: MonitorKind::Http,
                    spec: serde_json::json!({
                        "url": format!("https://service-{i}.example.com/api/health"),
                        "interval": "60s",
                    }),
                    source: MonitorSource::Config,
                    project_id: None,
                    token: None,
                    slug: None,
                    now_ms: START_MS,
                })
                .expect("create monitor")
                .id
        })
        .collect()
}

/// Every monitor checks once a minute at its own phase; results arrive in time order.
fn batches(monitors: &[i64], checks: usize) -> Vec<CheckBatch> {
    let mut rng = rand::rng();
    let phase = INTERVAL_MS / monitors.len().max(1) as i64;
    let mut all = Vec::with_capacity(monitors.len() * checks);
    for round in 0..checks as i64 {
        for (i, &monitor_id) in monitors.iter().enumerate() {
            let at_ms = START_MS + round * INTERVAL_MS + i as i64 * phase + rng.random_range(0..50);
            let roll = rng.random_range(0..1000);
            let record = if roll < 15 {
                CheckRecord {
                    monitor_id,
                    at_ms,
                    latency_ms: (roll % 2 == 0).then_some(10_000),
                    outcome: CheckOutcome::Down,
                    maintenance: false,
                    error: Some(
                        if roll % 2 == 0 {
                            "timed out after 10 s"
                        } else {
                            "HTTP 503 Service Unavailable"
                        }
                        .to_string(),
                    ),
                    figures: Default::default(),
                }
            } else if roll < 25 {
                CheckRecord {
                    monitor_id,
                    at_ms,
                    latency_ms: Some(rng.random_range(1_500..3_000)),
                    outcome: CheckOutcome::Degraded,
                    maintenance: false,
                    error: Some("slow response".to_string()),
                    figures: Default::default(),
                }
            } else {
                // Skewed towards fast answers, as real latencies are; an HTTPS check's
                // phases (a resolver cache answers DNS in 0–2 ms) add up to its total.
                let u: f64 = rng.random();
                let latency = 20 + (380.0 * u * u) as u32;
                let dns = rng.random_range(0..3);
                let connect = rng.random_range(1..8);
                let tls = rng.random_range(5..25);
                CheckRecord {
                    monitor_id,
                    at_ms,
                    latency_ms: Some(latency),
                    outcome: CheckOutcome::Up,
                    maintenance: false,
                    error: None,
                    figures: lookout_store::CheckFigures {
                        dns_ms: Some(dns),
                        connect_ms: Some(connect),
                        tls_ms: Some(tls),
                        first_byte_ms: Some(latency.saturating_sub(dns + connect + tls + 2)),
                        ..Default::default()
                    },
                }
            };
            all.push(record);
        }
    }
    all.chunks(BATCH)
        .map(|results| CheckBatch {
            statuses: results
                .iter()
                .map(|r| {
                    (
                        r.monitor_id,
                        MonitorStatus {
                            state: match r.outcome {
                                CheckOutcome::Up => State::Up,
                                CheckOutcome::Degraded => State::Degraded,
                                CheckOutcome::Down => State::Down,
                            },
                            last_check_ms: Some(r.at_ms),
                            last_latency_ms: r.latency_ms.map(i64::from),
                            last_error: r.error.clone(),
                            ..MonitorStatus::default()
                        },
                    )
                })
                .collect(),
            results: results.to_vec(),
            ..CheckBatch::default()
        })
        .collect()
}

/// Writes every batch; returns checks per second.
fn write(store: &dyn Store, work: &[CheckBatch]) -> f64 {
    let checks: usize = work.iter().map(|b| b.results.len()).sum();
    let start = Instant::now();
    for batch in work {
        store.write_checks(batch).expect("write checks");
    }
    checks as f64 / start.elapsed().as_secs_f64()
}

fn file_bytes(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn sqlite(monitors: usize, checks: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open sqlite");
    let path = store.path().to_path_buf();
    let ids = create_monitors(&store, monitors);
    let work = batches(&ids, checks);
    let before = {
        let conn = rusqlite::Connection::open(&path).expect("open for checkpoint");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
        file_bytes(&path)
    };
    let rate = write(&store, &work);
    drop(store);

    let conn = rusqlite::Connection::open(&path).expect("open for checkpoint");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    let growth = file_bytes(&path).saturating_sub(before);
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM check_results", [], |r| r.get(0))
        .expect("count");
    let n = stored as f64;
    match conn.query_row(
        "SELECT SUM(pgsize), SUM(payload), SUM(unused), COUNT(*) FROM dbstat
         WHERE name = 'check_results'",
        [],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        },
    ) {
        Ok((pages, payload, unused, count)) => println!(
            "  sqlite: {stored} checks: {:.1} bytes/check in check_results ({count} pages, \
             {:.1} bytes/check of payload, {:.0} % of page space unused); file grew {:.1} \
             bytes/check; {rate:.0} checks/s",
            pages as f64 / n,
            payload as f64 / n,
            100.0 * unused as f64 / pages as f64,
            growth as f64 / n,
        ),
        Err(e) => println!(
            "  sqlite: {stored} checks: dbstat unavailable ({e}); file grew {:.1} bytes/check; \
             {rate:.0} checks/s",
            growth as f64 / n
        ),
    }
}

fn postgres(url: &str, monitors: usize, checks: usize) {
    let schema = format!("lookout_bench_{:016x}", rand::random::<u64>());
    let store = PostgresStore::connect_in_schema(url, &schema).expect("connect postgres");
    let ids = create_monitors(&store, monitors);
    let work = batches(&ids, checks);
    let rate = write(&store, &work);
    let mut client = ::postgres::Client::connect(url, ::postgres::NoTls).expect("connect");
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .expect("search path");
    let row = client.query_one(
        "SELECT pg_total_relation_size('check_results'), pg_relation_size('check_results'),
             (SELECT COUNT(*) FROM check_results)",
        &[],
    );
    match row {
        Ok(row) => {
            let (total, heap, count): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
            let n = count as f64;
            println!(
                "postgres: {count} checks: {:.1} bytes/check (heap {:.1}, key index {:.1}); \
                 {rate:.0} checks/s",
                total as f64 / n,
                heap as f64 / n,
                (total - heap) as f64 / n
            );
        }
        Err(e) => println!("postgres: cannot measure ({e}); {rate:.0} checks/s"),
    }
    store.drop_schema().expect("drop bench schema");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let monitors: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000)
        .max(1);
    let checks: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000)
        .max(1);
    println!(
        "{monitors} monitors × {checks} checks, batches of {BATCH} results with their statuses"
    );
    sqlite(monitors, checks);
    match std::env::var("LOOKOUT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => postgres(&url, monitors, checks),
        _ => println!("postgres: skipped (set LOOKOUT_TEST_POSTGRES_URL)"),
    }
}
