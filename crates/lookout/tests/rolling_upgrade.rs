//! A rolling upgrade: a newer lookout migrates the shared database while this one keeps
//! serving. Migrations are additive (new tables, new nullable columns), so a running
//! instance keeps working on the newer schema; one that starts on it refuses, naming the
//! versions, rather than run code that does not know the schema.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{postgres_schema, Server, KEY, PROJECT_ID};

/// What the next release's migration might do: a table, a column on a table this build
/// writes to (the instance heartbeat), and its version, one after this build's newest.
fn next_migration() -> String {
    format!(
        "CREATE TABLE future_feature (id BIGINT PRIMARY KEY, note TEXT);
         ALTER TABLE instances ADD COLUMN zone TEXT;
         ALTER TABLE events ADD COLUMN future_flag BIGINT;
         INSERT INTO schema_migrations (version, applied_ms) VALUES ({}, 0);",
        lookout_store::latest_version() + 1
    )
}

fn send_event(s: &Server, n: usize) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let payload = serde_json::json!({
        "event_id": id,
        "level": "error",
        "exception": { "values": [{ "type": "UpgradeError", "value": format!("event {n}") }] },
    })
    .to_string();
    let body = format!(
        "{}\n{}\n{payload}\n",
        serde_json::json!({ "event_id": id }),
        serde_json::json!({ "type": "event", "length": payload.len() })
    );
    let mut resp = agent
        .post(format!("{}/api/{PROJECT_ID}/envelope/", s.url))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_version=7, sentry_key={KEY}"),
        )
        .send(body.as_bytes())
        .expect("send an event");
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(resp.status().as_u16(), 200, "{text}");
}

fn keeps_running_then_refuses_to_start(env: &[(&str, &str)], migrate: impl FnOnce(&Server)) {
    let mut server = Server::start_with_env("[cluster]\nlease_ttl = \"900ms\"\n", env);
    send_event(&server, 1);
    migrate(&server);

    // Several heartbeats later the instance still serves, writes and reads.
    std::thread::sleep(Duration::from_secs(2));
    send_event(&server, 2);
    server.wait_for("both events", Duration::from_secs(10), || {
        let issues = server.issues("");
        (issues.len() == 1 && issues[0]["count"] == 2).then_some(())
    });
    let (_, health) = server.get("/api/health");
    assert_eq!(health["checks"]["database"]["status"], "ok", "{health}");
    let instances = health["checks"]["cluster"]["instances"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(instances, 1, "its heartbeat still lands: {health}");

    // Started on the newer schema, this build refuses with the versions in the message.
    server.kill9();
    let out = common::lookout()
        .arg("serve")
        .arg("--config")
        .arg(server.dir.join("lookout.toml"))
        .envs(env.iter().copied())
        .env("LOOKOUT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run lookout");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let known = lookout_store::latest_version();
    assert!(!out.status.success(), "started on a newer schema: {stderr}");
    assert!(
        stderr.contains(&format!("schema version {}", known + 1))
            && stderr.contains(&format!("up to {known}")),
        "{stderr}"
    );
}

#[test]
fn sqlite_instance_keeps_running_on_a_newer_schema() {
    keeps_running_then_refuses_to_start(&[], |s| {
        let db = rusqlite::Connection::open(s.dir.join("data").join("lookout.db")).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        db.execute_batch(&next_migration()).unwrap();
    });
}

#[test]
fn postgres_instance_keeps_running_on_a_newer_schema() {
    let Some(pg) = postgres_schema("rolling upgrade on PostgreSQL") else {
        return;
    };
    keeps_running_then_refuses_to_start(&[("LOOKOUT_DATABASE_URL", &pg.server_url)], |_| {
        let mut c = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
        c.batch_execute(&format!(
            "SET search_path TO {}; {}",
            pg.schema,
            next_migration()
        ))
        .unwrap();
    });
}
