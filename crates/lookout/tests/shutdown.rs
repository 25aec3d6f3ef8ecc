//! Shutting down: SIGTERM to `lookout serve` stops accepting, writes what is queued,
//! closes the database and exits 0, on SQLite and on PostgreSQL alike; every event it
//! acknowledged is stored.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{postgres_schema, Server, KEY, PROJECT_ID};

const SENDERS: usize = 6;
/// SIGTERM goes out once this many events are acknowledged, with more in flight.
const ACKS_BEFORE_TERM: usize = 300;

fn envelope(id: &str, seq: usize) -> String {
    let event = serde_json::json!({
        "event_id": id,
        "level": "error",
        "platform": "other",
        "message": format!("shutdown probe {}", seq % 3),
    });
    format!("{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{event}\n")
}

/// Sends events until `stop`; records the ids answered 200.
fn send(base: String, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<String>>>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let url = format!("{base}/api/{PROJECT_ID}/envelope/?sentry_key={KEY}");
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let id = uuid::Uuid::new_v4().simple().to_string();
        match agent.post(&url).send(envelope(&id, seq).as_bytes()) {
            Ok(r) if r.status().as_u16() == 200 => acked.lock().unwrap().push(id),
            // Throttled, or the server has stopped accepting: not acknowledged.
            Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn sigterm_keeps_acknowledged_events(env: &[(&str, &str)]) {
    let mut s = Server::start_with_env("rate_limit_per_minute = 0\n", env);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (base, stop, acked) = (s.url.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || send(base, stop, acked))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < ACKS_BEFORE_TERM {
        assert!(
            Instant::now() < deadline,
            "too few events acknowledged in 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = s.terminate(Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    for t in senders {
        t.join().expect("sender thread");
    }
    let status = status.expect("lookout did not exit within 60 s of SIGTERM");
    assert!(
        status.success(),
        "lookout exited with {status} after SIGTERM (expected 0)"
    );

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    s.restart();
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| {
            let (st, v) = s.get(&format!("/api/v1/projects/app/events/{id}"));
            assert!(st == 200 || st == 404, "GET event {id}: {st} {v}");
            st == 404
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events are missing after SIGTERM, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn sqlite_sigterm_exits_cleanly_and_keeps_acknowledged_events() {
    sigterm_keeps_acknowledged_events(&[]);
}

#[test]
fn postgres_sigterm_exits_cleanly_and_keeps_acknowledged_events() {
    // A schema of its own, created (and dropped after) here; the server finds it through
    // its sessions' search path.
    let Some(pg) = postgres_schema("SIGTERM with PostgreSQL") else {
        return;
    };
    sigterm_keeps_acknowledged_events(&[("LOOKOUT_DATABASE_URL", &pg.server_url)]);
}
