//! Kill -9 durability: a `200 {"id": …}` from ingest promises the event is committed.
//! Eight threads send small envelopes as fast as the server takes them; the server is
//! killed with SIGKILL while requests are in flight, restarted on the same data directory,
//! and every event it acknowledged must be there.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Server, KEY, PROJECT_ID};

const THREADS: usize = 8;
/// Kill the server after this long…
const RUN_FOR: Duration = Duration::from_millis(1500);
/// …or once this many events are acknowledged (bounds the checking afterwards).
const MAX_ACKS: usize = 4000;
/// Fewer acknowledgements than this means the test proved nothing.
const MIN_ACKS: usize = 100;

/// Distinct exception types, so the events spread over several issues.
const KINDS: usize = 4;

fn envelope(event_id: &str, thread: usize, seq: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let header = serde_json::json!({ "event_id": event_id, "dsn": format!("http://{KEY}@127.0.0.1/{PROJECT_ID}") });
    let event = serde_json::json!({
        "event_id": event_id,
        "timestamp": now,
        "platform": "other",
        "level": "error",
        "release": "durability@1.0.0",
        "exception": { "values": [{
            "type": format!("DurabilityProbe{}Error", thread % KINDS),
            "value": format!("probe {seq} from thread {thread} failed"),
        }]},
        "user": { "id": format!("user-{}", seq % 10) },
    });
    let payload = event.to_string();
    format!(
        "{header}\n{}\n{payload}\n",
        serde_json::json!({ "type": "event", "length": payload.len() })
    )
}

fn sender(
    thread: usize,
    base: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    acks: Arc<AtomicUsize>,
) -> (usize, usize) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let url = format!("{base}/api/{PROJECT_ID}/envelope/");
    let auth =
        format!("Sentry sentry_version=7, sentry_client=lookout-durability/1.0, sentry_key={KEY}");
    let (mut failed, mut throttled) = (0, 0);
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let body = envelope(&id, thread, seq);
        let resp = agent
            .post(&url)
            .header("content-type", "application/x-sentry-envelope")
            .header("x-sentry-auth", &auth)
            .send(body.as_bytes());
        match resp {
            Ok(mut r) if r.status().as_u16() == 200 => {
                // Only a complete 200 with the event's id counts as an acknowledgement.
                let Ok(text) = r.body_mut().read_to_string() else {
                    failed += 1;
                    continue;
                };
                let v: serde_json::Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("200 with a body that is not JSON ({e}): {text}"));
                assert_eq!(
                    v["id"].as_str().map(|s| s.replace('-', "")),
                    Some(id.clone()),
                    "200 answer names another event: {text}"
                );
                acked.lock().unwrap().push(id);
                acks.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) if r.status().as_u16() == 429 => {
                throttled += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(mut r) => {
                let st = r.status();
                let text = r.body_mut().read_to_string().unwrap_or_default();
                panic!("ingest answered {st} before the kill: {text}");
            }
            // The server was killed under us (or the request timed out): not acknowledged.
            Err(_) => {
                failed += 1;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    (failed, throttled)
}

#[test]
fn acknowledged_events_survive_kill_9() {
    let started = Instant::now();
    // No rate limit: the point is to have many requests in flight at the kill.
    let mut s = Server::start_with("rate_limit_per_minute = 0\n");
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let acks = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (base, stop, acked, acks) =
                (s.url.clone(), stop.clone(), acked.clone(), acks.clone());
            std::thread::spawn(move || sender(t, base, stop, acked, acks))
        })
        .collect();

    let t0 = Instant::now();
    while t0.elapsed() < RUN_FOR && acks.load(Ordering::Relaxed) < MAX_ACKS {
        std::thread::sleep(Duration::from_millis(10));
    }
    let before_kill = acks.load(Ordering::Relaxed);
    s.kill9();
    stop.store(true, Ordering::Relaxed);
    let mut failed = 0;
    let mut throttled = 0;
    for h in handles {
        let (f, t) = h.join().expect("sender thread panicked");
        failed += f;
        throttled += t;
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    eprintln!(
        "{} acknowledged ({before_kill} when the kill was sent), {failed} failed at the kill, {throttled} answered 429, in {:?}",
        acked.len(),
        t0.elapsed()
    );
    assert!(
        acked.len() >= MIN_ACKS,
        "only {} events were acknowledged in {RUN_FOR:?}: too few to test durability",
        acked.len()
    );
    assert_eq!(
        acked.iter().collect::<HashSet<_>>().len(),
        acked.len(),
        "duplicate event ids"
    );

    s.restart();
    let mut missing = Vec::new();
    for id in &acked {
        let (st, v) = s.get(&format!("/api/v1/projects/app/events/{id}"));
        match st {
            200 => assert_eq!(
                v["event_id"].as_str(),
                Some(id.as_str()),
                "wrong event for {id}: {v}"
            ),
            404 => missing.push(id.clone()),
            _ => panic!("GET event {id} after restart: {st} {v}"),
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events are gone after kill -9, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );

    let issues = s.issues("");
    let total: u64 = issues
        .iter()
        .map(|i| i["count"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        total >= acked.len() as u64,
        "issue counts add up to {total}, fewer than the {} acknowledged events",
        acked.len()
    );
    assert!(
        issues.len() <= KINDS,
        "{} issues for {KINDS} exception types: {issues:#?}",
        issues.len()
    );
    let ids: HashSet<_> = issues.iter().map(|i| i["id"].as_i64()).collect();
    assert_eq!(ids.len(), issues.len());

    // The restarted server keeps accepting.
    let probe = uuid::Uuid::new_v4().simple().to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .post(format!(
            "{}/api/{PROJECT_ID}/envelope/?sentry_key={KEY}",
            s.url
        ))
        .send(envelope(&probe, 0, 1).as_bytes())
        .expect("send after restart");
    assert_eq!(r.status().as_u16(), 200);
    let (st, _) = s.get(&format!("/api/v1/projects/app/events/{probe}"));
    assert_eq!(st, 200, "event sent after the restart is not readable");
    eprintln!("durability test took {:?}", started.elapsed());
}
