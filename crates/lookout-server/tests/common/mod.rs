//! `spawn_app`: the real server in-process on port 0, a fresh SQLite directory, a project
//! with a known DSN, and small HTTP helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use lookout_core::clock::{Clock, SystemClock};
use lookout_server::{Config, Running};
use serde_json::Value;

pub mod web;

pub const KEY: &str = "0123456789abcdef0123456789abcdef";
pub const PROJECT_ID: i64 = 3;
pub const TOKEN: &str = "test-token";

pub struct TestApp {
    pub rt: tokio::runtime::Runtime,
    pub running: Option<Running>,
    pub url: String,
    pub dir: tempfile::TempDir,
}

/// Starts the server; `extra` is TOML appended after the test project's table, so keys
/// there set the project's own settings (e.g. `monthly_quota = 3`), and further tables
/// (`[ingest]`) can follow.
pub fn spawn_app(extra: &str) -> TestApp {
    spawn_app_with_clock(extra, Arc::new(SystemClock))
}

pub fn spawn_app_with_clock(extra: &str, clock: Arc<dyn Clock>) -> TestApp {
    spawn_app_in(extra, clock, tempfile::tempdir().unwrap())
}

/// Starts the server on an existing data directory (a restart).
pub fn spawn_app_in(extra: &str, clock: Arc<dyn Clock>, dir: tempfile::TempDir) -> TestApp {
    spawn_app_with_server("", extra, clock, dir)
}

/// Starts the server with `server` lines added to its `[server]` table.
pub fn spawn_app_with_server(
    server: &str,
    extra: &str,
    clock: Arc<dyn Clock>,
    dir: tempfile::TempDir,
) -> TestApp {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\napi_token = \"{TOKEN}\"\n{server}\n[[projects]]\nslug = \"app\"\nid = {PROJECT_ID}\npublic_key = \"{KEY}\"\n{extra}\n",
        dir.path().display()
    );
    let config = Config::parse(&text, "test.toml", &|_| None).expect("test config");
    start_in(config, clock, dir)
}

/// Starts the server with a config built by the test.
pub fn spawn_config(config: Config, clock: Arc<dyn Clock>) -> TestApp {
    start_in(config, clock, tempfile::tempdir().unwrap())
}

fn start_in(config: Config, clock: Arc<dyn Clock>, dir: tempfile::TempDir) -> TestApp {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let running = rt
        .block_on(lookout_server::start_with(config, clock))
        .expect("start");
    let url = running.url();
    TestApp {
        rt,
        running: Some(running),
        url,
        dir,
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn detail(&self) -> String {
        self.body["detail"].as_str().unwrap_or_default().to_string()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let mut resp = agent().run(b.body(body).unwrap()).expect("http request");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Resp {
        status,
        headers,
        body,
    }
}

pub fn auth_header() -> String {
    format!("Sentry sentry_version=7, sentry_client=test/1.0, sentry_key={KEY}")
}

impl TestApp {
    pub fn envelope_url(&self) -> String {
        format!("{}/api/{PROJECT_ID}/envelope/", self.url)
    }

    pub fn dsn(&self) -> String {
        format!(
            "http://{KEY}@{}/{PROJECT_ID}",
            self.url.trim_start_matches("http://")
        )
    }

    /// Posts an envelope with X-Sentry-Auth and extra headers.
    pub fn post_envelope(&self, body: impl Into<Vec<u8>>, headers: &[(&str, &str)]) -> Resp {
        let auth = auth_header();
        let mut h = vec![("x-sentry-auth", auth.as_str())];
        h.extend_from_slice(headers);
        request("POST", &self.envelope_url(), &h, body.into())
    }

    pub fn get(&self, path: &str) -> Resp {
        let auth = format!("Bearer {TOKEN}");
        request(
            "GET",
            &format!("{}{path}", self.url),
            &[("authorization", &auth)],
            vec![],
        )
    }

    pub fn send(&self, method: &str, path: &str, body: &Value) -> Resp {
        let auth = format!("Bearer {TOKEN}");
        request(
            method,
            &format!("{}{path}", self.url),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.to_string().into_bytes(),
        )
    }

    pub fn issues(&self, query: &str) -> Vec<Value> {
        let r = self.get(&format!("/api/v1/projects/app/issues?limit=1000&{query}"));
        assert_eq!(r.status, 200, "{}", r.body);
        r.body.as_array().cloned().unwrap_or_default()
    }

    pub fn stats(&self) -> Value {
        let r = self.get("/api/v1/projects/app/stats");
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    pub fn state(&self) -> &lookout_server::state::AppState {
        &self.running.as_ref().unwrap().state
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = self.rt.block_on(r.shutdown());
        }
    }
}

/// A minimal event envelope with a fresh id; `event` is the event JSON without event_id.
pub fn envelope(event: &Value) -> (String, Vec<u8>) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut ev = event.clone();
    ev["event_id"] = Value::String(id.clone());
    let body = format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{}\n",
        ev
    );
    (id, body.into_bytes())
}

/// An exception event raised in `function` of `module`.
pub fn exception_event(ty: &str, value: &str, module: &str, function: &str, line: u64) -> Value {
    serde_json::json!({
        "platform": "python",
        "level": "error",
        "release": "web@1.0.0",
        "environment": "production",
        "exception": {"values": [{
            "type": ty,
            "value": value,
            "mechanism": {"type": "generic", "handled": true},
            "stacktrace": {"frames": [
                {"module": "app.main", "function": "handle", "lineno": 10, "in_app": true},
                {"module": module, "function": function, "lineno": line, "in_app": true},
            ]}
        }]}
    })
}

/// Polls `f` until it returns `Some`, for at most 15 s of real time.
pub fn wait_for<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_up_to(Duration::from_secs(15), what, f)
}

/// [`wait_for`] with its own time limit.
pub fn wait_up_to<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fake `pm2` in `dir`: `jlist` prints the daemon's start lines, then PM2 5's list with
/// the app `web` (status in `dir/status`, restart count in `dir/restarts`) and an
/// environment holding a secret.
pub fn fake_pm2(dir: &std::path::Path) -> std::path::PathBuf {
    let script = dir.join("pm2");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
[ "$1" = jlist ] || exit 2
echo '[PM2] Spawning PM2 daemon with pm2_home=/home/app/.pm2'
echo '[PM2] PM2 Successfully daemonized'
status=$(cat '{d}/status'); restarts=$(cat '{d}/restarts')
printf '[{{"pid":4242,"name":"web","pm_id":0,"monit":{{"memory":134217728,"cpu":1.5}},"pm2_env":{{"status":"%s","restart_time":%s,"unstable_restarts":0,"pm_uptime":1800000000000,"env":{{"DATABASE_URL":"postgres://app:S3cr3t-pm2-env@db/app"}}}}}}]' "$status" "$restarts"
"#
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    script
}
