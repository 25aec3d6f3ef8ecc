//! The instance registry and duty leases (several instances on one database).

use super::*;

fn instance(id: &str, hash: &str, heartbeat_ms: i64) -> InstanceRow {
    InstanceRow {
        id: id.to_string(),
        name: format!("lookout-{id}"),
        host: "host-a".to_string(),
        version: "1.2.3".to_string(),
        addr: "127.0.0.1:1".to_string(),
        config_hash: hash.to_string(),
        config_summary: "2 monitors, 1 rule, 1 channel".to_string(),
        started_ms: 1_000,
        heartbeat_ms,
    }
}

fn holders(s: &dyn Store) -> Vec<(String, String)> {
    s.list_duties()
        .unwrap()
        .into_iter()
        .map(|d| (d.name, d.holder))
        .collect()
}

pub fn instance_registry(s: &dyn Store) {
    s.heartbeat_instance(&instance("a", "h1", 10_000)).unwrap();
    s.heartbeat_instance(&instance("b", "h1", 10_000)).unwrap();
    s.heartbeat_instance(&instance("c", "h2", 4_000)).unwrap();
    let ids = |since| -> Vec<String> {
        s.live_instances(since)
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect()
    };
    assert_eq!(ids(5_000), ["a", "b"]);
    // A heartbeat moves the time and keeps the start; a changed config hash is seen.
    let mut a = instance("a", "h3", 20_000);
    a.started_ms = 99;
    s.heartbeat_instance(&a).unwrap();
    let live = s.live_instances(15_000).unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].started_ms, live[0].config_hash.as_str()),
        (1_000, "h3")
    );

    s.claim_duties("b", &["jobs"], 10_000, 5_000).unwrap();
    s.remove_instance("b").unwrap();
    assert_eq!(ids(0), ["a", "c"]);
    assert!(holders(s).is_empty(), "a clean stop gives its leases up");
    assert_eq!(s.prune_instances(5_000).unwrap(), 1);
    assert_eq!(ids(0), ["a"]);
}

pub fn duty_leases(s: &dyn Store) {
    let all = ["alerts", "outbox"];
    assert_eq!(s.claim_duties("a", &all, 1_000, 5_000).unwrap(), all);
    // Held and unexpired: b gets nothing, and a renews.
    assert!(s.claim_duties("b", &all, 3_000, 5_000).unwrap().is_empty());
    assert_eq!(
        s.claim_duties("a", &["alerts"], 4_000, 5_000).unwrap(),
        ["alerts"]
    );
    // `outbox` ran out at 6,000 (not renewed); `alerts` holds until 9,000.
    assert_eq!(s.claim_duties("b", &all, 6_000, 5_000).unwrap(), ["outbox"]);
    assert_eq!(
        holders(s),
        [("alerts".into(), "a".into()), ("outbox".into(), "b".into())]
    );
    let outbox = s.list_duties().unwrap().remove(1);
    assert_eq!((outbox.taken_ms, outbox.expires_ms), (6_000, 11_000));
    // Renewing keeps the time it was taken.
    s.claim_duties("b", &["outbox"], 8_000, 5_000).unwrap();
    let outbox = s.list_duties().unwrap().remove(1);
    assert_eq!((outbox.taken_ms, outbox.expires_ms), (6_000, 13_000));
    assert!(
        s.claim_duties("a", &["x"], 1, 0).is_err(),
        "a lease of no time"
    );

    // Fencing: a batch written by the holder lands; by anyone else, or by the holder
    // after its lease ran out, nothing of it is written.
    let batch = |cursor| AlertBatch {
        cursor: Some(("alerts.signals".to_string(), cursor)),
        ..AlertBatch::default()
    };
    let fence = |holder: &str, now_ms| Fence {
        duty: "alerts".into(),
        holder: holder.into(),
        now_ms,
    };
    s.apply_alerts_fenced(&batch(5), &fence("a", 8_000))
        .unwrap();
    assert_eq!(s.cursor("alerts.signals").unwrap(), Some(5));
    let err = s
        .apply_alerts_fenced(&batch(6), &fence("b", 8_000))
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let err = s
        .apply_alerts_fenced(&batch(7), &fence("a", 9_000))
        .unwrap_err();
    assert!(
        err.to_string().contains("another instance took over"),
        "{err}"
    );
    assert_eq!(s.cursor("alerts.signals").unwrap(), Some(5));
}

/// Instances claiming the same duties at once: each duty ends with exactly one holder.
pub fn concurrent_claims(s: Arc<dyn Store>) {
    let names = ["alerts", "outbox", "jobs", "deploys"];
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                s.claim_duties(&format!("i{i}"), &names, 1_000, 10_000)
                    .unwrap()
            })
        })
        .collect();
    let mut won: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    won.sort();
    let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    want.sort();
    assert_eq!(won, want, "each duty held exactly once");
}

/// "Check now" through an instance that does not run the monitor: a request row the owner
/// takes; asked twice before it is taken, it is one request.
pub fn check_requests(s: &dyn Store) {
    assert_eq!(s.check_requests().unwrap(), Vec::<i64>::new());
    s.request_check(7, 1_000).unwrap();
    s.request_check(3, 1_100).unwrap();
    s.request_check(7, 1_200).unwrap();
    assert_eq!(s.check_requests().unwrap(), vec![3, 7]);
    s.clear_check_requests(&[7, 99]).unwrap();
    assert_eq!(s.check_requests().unwrap(), vec![3]);
    s.clear_check_requests(&[]).unwrap();
    assert_eq!(s.check_requests().unwrap(), vec![3]);
}

/// Health readings: the latest per monitor, an older one (a late write around a failover)
/// does not replace a newer one, and "read no document" is stored as such.
pub fn health_readings(s: &dyn Store) {
    let reading = |id: i64, checks: Option<serde_json::Value>, at_ms: i64| HealthReading {
        monitor_id: id,
        checks,
        at_ms,
    };
    let degraded = serde_json::json!({ "database": { "status": "degraded" } });
    let ok = serde_json::json!({ "database": { "status": "ok" } });
    s.put_health_readings(&[]).unwrap();
    assert_eq!(s.health_readings().unwrap(), vec![]);
    s.put_health_readings(&[reading(5, Some(ok.clone()), 1_000), reading(2, None, 1_000)])
        .unwrap();
    s.put_health_readings(&[reading(5, Some(degraded.clone()), 2_000)])
        .unwrap();
    s.put_health_readings(&[reading(5, Some(ok.clone()), 1_500)])
        .unwrap();
    assert_eq!(
        s.health_readings().unwrap(),
        vec![reading(2, None, 1_000), reading(5, Some(degraded), 2_000)]
    );
}
