//! Runs the real `lookout` binary for end-to-end tests: a fresh data directory, a config
//! with a project whose DSN is known in advance, port 0, and helpers to read the API.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The public key of the project every test server has.
pub const KEY: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
/// Its id.
pub const PROJECT_ID: i64 = 7;
/// The API token.
pub const TOKEN: &str = "test-token-0123456789";

/// A running `lookout serve`.
pub struct Server {
    child: Option<Child>,
    /// Base URL.
    pub url: String,
    /// The project's DSN.
    pub dsn: String,
    /// The data directory (kept across restarts).
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra: String,
    env: Vec<(String, String)>,
}

#[path = "../../../../tests/suite_switch.rs"]
mod switch;
#[allow(unused_imports)] // not every test binary uses it
pub use switch::suite_switch;

/// A fresh schema on the suite's PostgreSQL, dropped when this is (also by panic).
pub struct PgSchema {
    store: lookout_store::postgres::PostgresStore,
    /// The suite's database URL.
    pub url: String,
    /// The schema's name.
    pub schema: String,
    /// The database URL that points a server at the schema (through its search path).
    pub server_url: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Err(e) = self.store.drop_schema() {
            eprintln!("could not drop the test schema: {e}");
        }
    }
}

/// A [`PgSchema`] when the PostgreSQL suite is on; `None` when it is off (which fails
/// under `LOOKOUT_REQUIRE_ALL_SUITES`).
pub fn postgres_schema(what: &str) -> Option<PgSchema> {
    let url = suite_switch("LOOKOUT_TEST_POSTGRES_URL", what)?;
    let schema = format!("lookout_test_{}", uuid::Uuid::new_v4().simple());
    let store = lookout_store::postgres::PostgresStore::connect_in_schema(&url, &schema)
        .expect("create the schema");
    let separator = if url.contains('?') { '&' } else { '?' };
    let server_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    Some(PgSchema {
        store,
        url,
        schema,
        server_url,
    })
}

/// The binary, without the settings a developer's shell may have (`LOOKOUT_*`, a DSN, an
/// app URL) and without a terminal on stdin, as a script would run it.
pub fn lookout() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lookout"));
    for v in [
        "LOOKOUT_CONFIG",
        "LOOKOUT_LISTEN",
        "LOOKOUT_DATA_DIR",
        "LOOKOUT_DATABASE_URL",
        "LOOKOUT_API_TOKEN",
        "LOOKOUT_PUBLIC_URL",
        "LOOKOUT_URL",
        "SENTRY_DSN",
        "APP_URL",
    ] {
        c.env_remove(v);
    }
    c.stdin(Stdio::null());
    c
}

/// Spawns `command` with its stdout piped and reads it until a line contains `marker`
/// (at most 30 s); returns the child and what it printed. The rest of its stdout is
/// drained on a thread, so the child never blocks on a full pipe.
pub fn spawn_until(command: &mut Command, marker: &str) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("start lookout");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !printed.contains(marker) {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no {marker:?} within 30 s:\n{printed}");
        }
        match lines.next() {
            Some(Ok(l)) => {
                printed.push_str(&l);
                printed.push('\n');
            }
            _ => {
                let _ = child.kill();
                panic!("stopped before printing {marker:?}:\n{printed}");
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, printed)
}

impl Server {
    /// Starts a server with a fresh data directory.
    pub fn start() -> Server {
        Self::start_with("")
    }

    /// Starts a server with extra TOML appended to the config (e.g. `[ingest]` settings or
    /// project keys, which go into the `[[projects]]` table written last).
    pub fn start_with(extra: &str) -> Server {
        Self::start_with_env(extra, &[])
    }

    /// [`Server::start_with`], with environment variables for the server (e.g.
    /// `LOOKOUT_DATABASE_URL`), kept across restarts.
    pub fn start_with_env(extra: &str, env: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server {
            child: None,
            url: String::new(),
            dsn: String::new(),
            dir,
            _tmp: Some(tmp),
            extra: extra.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        s.spawn();
        s
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("lookout.toml")
    }

    fn spawn(&mut self) {
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\napi_token = \"{TOKEN}\"\n\n[[projects]]\nslug = \"app\"\nid = {PROJECT_ID}\npublic_key = \"{KEY}\"\n{}\n",
            self.dir.join("data").display(),
            self.extra
        );
        std::fs::write(self.config_path(), config).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
            .arg("serve")
            .arg("--config")
            .arg(self.config_path())
            .env_remove("LOOKOUT_DATABASE_URL")
            .env_remove("LOOKOUT_LISTEN")
            .env_remove("LOOKOUT_DATA_DIR")
            .env_remove("LOOKOUT_API_TOKEN")
            .env("LOOKOUT_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start lookout");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut url = None;
        let mut dsn = None;
        while url.is_none() || dsn.is_none() {
            assert!(Instant::now() < deadline, "lookout did not start in 30 s");
            let Some(Ok(line)) = lines.next() else {
                panic!("lookout exited before printing its address");
            };
            if let Some(u) = line.trim().strip_prefix("local address: ") {
                url = Some(u.trim().to_string());
            }
            if line.contains("DSN: ") && line.contains(" app ") {
                dsn = line.split("DSN: ").nth(1).map(|d| d.trim().to_string());
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.url = url.unwrap();
        self.dsn = dsn.unwrap();
        self.child = Some(child);
    }

    /// A DSN that points at the local address (the printed one uses `public_url`).
    pub fn local_dsn(&self) -> String {
        let host = self.url.trim_start_matches("http://");
        format!("http://{KEY}@{host}/{PROJECT_ID}")
    }

    /// Kills the server with SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`…) to the server's process: `STOP` freezes it as a
    /// starved or swapped-out machine would, without closing its connections.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server runs");
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed: {sent}");
    }

    /// Sends SIGTERM and waits up to `timeout` for the server to exit; returns its exit
    /// status (`None` if it had to be killed).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed: {sent}");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("wait for lookout") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Starts the server again on the same data directory (a new port).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// GETs an API path (e.g. `/api/v1/projects`) with the token; returns status and JSON.
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        request("GET", &format!("{}{path}", self.url), None)
    }

    /// Sends a JSON body with the token.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        request(method, &format!("{}{path}", self.url), Some(body))
    }

    /// Sends `item` (its `event_id` in the header too) as an SDK does: a one-item envelope
    /// with the project's DSN key; it must be accepted.
    pub fn envelope(&self, item_type: &str, item: &serde_json::Value) {
        let url = format!("{}/api/{PROJECT_ID}/envelope/?sentry_key={KEY}", self.url);
        let header = serde_json::json!({"event_id": item["event_id"]});
        let body = format!("{header}\n{{\"type\":\"{item_type}\"}}\n{item}\n");
        let status = ureq::post(&url)
            .header("content-type", "application/x-sentry-envelope")
            .send(body)
            .unwrap()
            .status();
        assert_eq!(status, 200, "{item_type} item not accepted");
    }

    /// The project's issues (first 1000).
    pub fn issues(&self, query: &str) -> Vec<serde_json::Value> {
        let (status, v) = self.get(&format!("/api/v1/projects/app/issues?limit=1000&{query}"));
        assert_eq!(status, 200, "{v}");
        v.as_array().cloned().unwrap_or_default()
    }

    /// Waits until `f` holds, polling every 100 ms.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn request(method: &str, url: &str, body: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let auth = format!("Bearer {TOKEN}");
    let mut resp = match body {
        Some(b) => agent
            .run(
                ureq::http::Request::builder()
                    .method(method)
                    .uri(url)
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(b.to_string())
                    .unwrap(),
            )
            .expect("request"),
        None => agent
            .run(
                ureq::http::Request::builder()
                    .method(method)
                    .uri(url)
                    .header("authorization", &auth)
                    .body(())
                    .unwrap(),
            )
            .expect("request"),
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}
