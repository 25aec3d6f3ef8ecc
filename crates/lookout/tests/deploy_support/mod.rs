//! What the `lookout deploy` tests share: the app under test (a real HTTP server on
//! loopback that boots slowly and whose health and broken pages are set through files, as
//! a restart with other code would change them), fake `pm2` and `systemctl` on `PATH`, and
//! runners for the real binary (to its end, or in the background for `--watch`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A secret in the PM2 apps' environment: it must never appear in any output.
pub const PM2_SECRET: &str = "hunter2-pm2-database-password";
/// Another one, in the flattened copy of the environment only.
pub const PM2_SESSION_SECRET: &str = "sess_9f8e7d6c5b4a-pm2-session";

/// The app under test. Its state lives in files of `dir`: `health` (`ok`, `degraded`,
/// `unhealthy`, health+json's `pass`, `warn` or `fail`, or `garbage`) and `broken-pages`
/// (paths that answer 500, one a line).
pub struct App {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Where its state files are.
    pub dir: PathBuf,
}

impl App {
    /// Starts the app; it listens only after `boot`, refusing connections until then.
    pub fn start(dir: &Path, health: &str, boot: Duration) -> App {
        std::fs::create_dir_all(dir).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let app = App {
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.to_path_buf(),
        };
        app.set_health(health);
        app.set_broken_pages(&[]);
        let state = dir.to_path_buf();
        std::thread::spawn(move || {
            std::thread::sleep(boot);
            // std sets SO_REUSEADDR, so the port reserved above can be taken again.
            let listener = TcpListener::bind(("127.0.0.1", port)).expect("rebind the app port");
            for stream in listener.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || answer(stream, &state));
            }
        });
        app
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// What `/api/health` says from now on.
    pub fn set_health(&self, health: &str) {
        std::fs::write(self.dir.join("health"), health).unwrap();
    }

    /// Pages that answer 500 from now on.
    pub fn set_broken_pages(&self, paths: &[&str]) {
        std::fs::write(self.dir.join("broken-pages"), paths.join("\n")).unwrap();
    }
}

fn answer(mut stream: TcpStream, state: &Path) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let read = |name: &str| std::fs::read_to_string(state.join(name)).unwrap_or_default();
    let broken = read("broken-pages");
    let (status, kind, body) = if broken.lines().any(|p| p == path) {
        (
            "500 Internal Server Error",
            "text/html",
            "<h1>Application error</h1>".to_string(),
        )
    } else if path == "/api/health" {
        match read("health").trim() {
            "ok" => ("200 OK", "application/json", r#"{"status":"ok","timestamp":"2026-01-01T00:00:00Z","uptime":12.5,"checks":{"database":{"status":"ok","latency":4},"memory":{"status":"ok","used":120,"total":512,"percentage":23}}}"#.to_string()),
            "degraded" => ("200 OK", "application/json", r#"{"status":"degraded","timestamp":"2026-01-01T00:00:00Z","uptime":12.5,"checks":{"database":{"status":"degraded","latency":850},"memory":{"status":"ok","used":120,"total":512,"percentage":23}}}"#.to_string()),
            "unhealthy" => ("503 Service Unavailable", "application/json", r#"{"status":"unhealthy","timestamp":"2026-01-01T00:00:00Z","uptime":12.5,"checks":{"database":{"status":"unhealthy","error":"connection refused"},"memory":{"status":"ok","used":120,"total":512,"percentage":23}}}"#.to_string()),
            // The application/health+json draft: pass, warn, fail; one array per check.
            "pass" => ("200 OK", "application/health+json", r#"{"status":"pass","version":"1","serviceId":"web","checks":{"db:responseTime":[{"componentId":"primary","componentType":"datastore","observedValue":4,"observedUnit":"ms","status":"pass"}],"memory:utilization":[{"observedValue":23,"observedUnit":"percent","status":"pass"}]}}"#.to_string()),
            "warn" => ("200 OK", "application/health+json", r#"{"status":"warn","version":"1","serviceId":"web","checks":{"db:responseTime":[{"componentId":"primary","componentType":"datastore","observedValue":850,"observedUnit":"ms","status":"warn"}],"memory:utilization":[{"observedValue":23,"observedUnit":"percent","status":"pass"}]}}"#.to_string()),
            "fail" => ("503 Service Unavailable", "application/health+json", r#"{"status":"fail","version":"1","serviceId":"web","checks":{"db:responseTime":[{"componentId":"primary","componentType":"datastore","status":"fail","output":"connection refused"}],"memory:utilization":[{"observedValue":23,"observedUnit":"percent","status":"pass"}]}}"#.to_string()),
            _ => ("200 OK", "text/html", "<html><body>Welcome</body></html>".to_string()),
        }
    } else {
        let page = match path.as_str() {
            "/" => "Welcome to the app",
            "/signup" => "Sign up",
            "/login" => "Log in",
            _ => "",
        };
        if page.is_empty() {
            ("404 Not Found", "text/html", "Not found".to_string())
        } else {
            (
                "200 OK",
                "text/html",
                format!("<html><body><h1>{page}</h1></body></html>"),
            )
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// What a run of the binary printed and how it exited.
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Both outputs, for assertion messages and searches.
    pub fn all(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }

    /// stdout as the `--json` report.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.all()))
    }
}

/// `lookout ARGS` in `cwd`, outside GitHub Actions (even when the tests run in it) and
/// without a lookout server named by the environment.
pub fn lookout(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lookout"));
    cmd.current_dir(cwd);
    for var in [
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_OUTPUT",
        "GITHUB_SHA",
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
        "GITHUB_RUN_ID",
        "LOOKOUT_CONFIG",
        "LOOKOUT_URL",
        "LOOKOUT_API_TOKEN",
        "SENTRY_RELEASE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A running `lookout`: what it prints is collected until it ends.
pub struct Running {
    /// The process.
    pub child: Child,
    /// All it printed on stdout, once it ends.
    pub stdout: JoinHandle<String>,
    /// All it printed on stderr, once it ends.
    pub stderr: JoinHandle<String>,
}

impl Running {
    /// Waits for the end: how it exited and everything it printed.
    pub fn wait(mut self) -> Run {
        let status = self.child.wait().expect("wait for lookout");
        Run {
            code: status.code().expect("lookout ended by a signal"),
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr.join().unwrap(),
        }
    }
}

/// Starts `command` and returns once the progress stream (stdout, or stderr with
/// `--json`) has printed `marker`; both streams are collected whole.
pub fn spawn_until(command: &mut Command, marker: &str, progress_on_stderr: bool) -> Running {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lookout");
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let (seen_tx, seen_rx) = mpsc::channel();
    let marker = marker.to_string();
    let watch = move |stream: Box<dyn Read + Send>, tx: Option<mpsc::Sender<()>>| {
        let marker = marker.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if line.contains(&marker) {
                    if let Some(tx) = &tx {
                        let _ = tx.send(());
                    }
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        })
    };
    let (out_tx, err_tx) = if progress_on_stderr {
        (None, Some(seen_tx))
    } else {
        (Some(seen_tx), None)
    };
    let stdout = watch(Box::new(out), out_tx);
    let stderr = watch(Box::new(err), err_tx);
    if seen_rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "lookout never printed the marker:\n--- stdout\n{}\n--- stderr\n{}",
            stdout.join().unwrap(),
            stderr.join().unwrap()
        );
    }
    Running {
        child,
        stdout,
        stderr,
    }
}

/// Puts `dir` first on the command's `PATH`.
pub fn with_path(cmd: &mut Command, dir: &Path) {
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", dir.display()));
}

/// Runs the command to its end.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("run lookout");
    Run {
        code: out.status.code().expect("lookout ended by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn executable(path: &Path, script: &str) {
    std::fs::write(path, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A fake `pm2` in `dir` whose `jlist` prints what PM2 5 prints: its daemon's start lines
/// on the first call, then the list, one line of JSON, no trailing newline. The app `web`
/// has the status in `dir/status` and the restart count in `dir/restarts`, which climbs by
/// one per call while `dir/climbing` exists; `worker` is online. Both carry the secrets.
pub fn fake_pm2(dir: &Path, status: &str, restarts: u64) {
    std::fs::write(dir.join("status"), status).unwrap();
    std::fs::write(dir.join("restarts"), restarts.to_string()).unwrap();
    let list = format!(
        "[{},{}]",
        pm2_process("web", 0, "@STATUS@", "@RESTARTS@"),
        pm2_process("worker", 1, "online", "0")
    );
    std::fs::write(dir.join("jlist.json"), list).unwrap();
    executable(
        &dir.join("pm2"),
        r#"#!/bin/sh
dir=$(dirname "$0")
[ "$1" = jlist ] || { echo "fake pm2 knows only jlist, not: $*" >&2; exit 1; }
calls=$(( $(cat "$dir/calls" 2>/dev/null || echo 0) + 1 ))
echo "$calls" > "$dir/calls"
if [ ! -e "$dir/daemon" ]; then
  touch "$dir/daemon"
  echo "[PM2] Spawning PM2 daemon with pm2_home=$dir/.pm2"
  echo "[PM2] PM2 Successfully daemonized"
fi
restarts=$(cat "$dir/restarts")
[ -e "$dir/climbing" ] && restarts=$((restarts + calls))
sed -e "s/@RESTARTS@/$restarts/" -e "s/@STATUS@/$(cat "$dir/status")/" "$dir/jlist.json"
"#,
    );
}

/// One process as `pm2 jlist` prints it: the environment both flattened into `pm2_env`
/// and under `pm2_env.env`, PM2's own fields, `axm_*` metrics, `monit`.
fn pm2_process(name: &str, id: u32, status: &str, restarts: &str) -> String {
    format!(
        r#"{{"pid":{pid},"name":"{name}","pm2_env":{{"DATABASE_URL":"postgres://app:{PM2_SECRET}@db.internal/app","SESSION_SECRET":"{PM2_SESSION_SECRET}","NODE_ENV":"production","PORT":"3000","HOME":"/home/app","PATH":"/usr/local/bin:/usr/bin:/bin","PM2_HOME":"/home/app/.pm2","unique_id":"5b1d3e0c-7a4f-4e53-9a3e-0c8f7f0f{id:04}","kill_retry_time":100,"windowsHide":true,"username":"app","treekill":true,"automation":true,"pmx":true,"instance_var":"NODE_APP_INSTANCE","exec_mode":"fork_mode","watch":false,"autorestart":true,"vizion":true,"merge_logs":true,"name":"{name}","pm_exec_path":"/srv/app/node_modules/next/dist/bin/next","pm_cwd":"/srv/app","args":["start"],"exec_interpreter":"node","pm_out_log_path":"/home/app/.pm2/logs/{name}-out.log","pm_err_log_path":"/home/app/.pm2/logs/{name}-error.log","pm_pid_path":"/home/app/.pm2/pids/{name}-{id}.pid","km_link":false,"vizion_running":false,"NODE_APP_INSTANCE":0,"namespace":"default","env":{{"DATABASE_URL":"postgres://app:{PM2_SECRET}@db.internal/app","NODE_ENV":"production","PORT":"3000","{name}":"{{}}"}},"status":"{status}","pm_uptime":1767225600000,"axm_actions":[],"axm_monitor":{{"Used Heap Size":{{"value":"41.02","type":"internal/v8/heap/used","unit":"MiB","historic":true}},"Event Loop Latency p95":{{"value":"1.63","type":"internal/libuv/latency/p95","unit":"ms","historic":true}}}},"axm_options":{{"error":true,"heapdump":true}},"axm_dynamic":{{}},"created_at":1767225500000,"restart_time":{restarts},"unstable_restarts":0,"version":"0.1.0","versioning":null,"node_version":"20.11.1","pm_id":{id}}},"pm_id":{id},"monit":{{"memory":{memory},"cpu":0.7}}}}"#,
        pid = 4200 + id,
        memory = 130_023_424 + u64::from(id),
    )
}

/// A fake `systemctl` in `dir`: `is-active UNIT` prints the state in `dir/unit-UNIT` and
/// exits 0 only when it is `active`, as systemd does.
pub fn fake_systemctl(dir: &Path) {
    executable(
        &dir.join("systemctl"),
        r#"#!/bin/sh
dir=$(dirname "$0")
for unit in "$@"; do :; done
state=$(cat "$dir/unit-$unit" 2>/dev/null || echo inactive)
echo "$state"
[ "$state" = active ]
"#,
    );
}

/// `git -C dir ARGS`, which must succeed; returns its output.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with two commits, `v1` and `v2`; returns the id of `v1`.
pub fn repo_with_two_releases(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["config", "user.email", "ci@example.org"]);
    git(dir, &["config", "user.name", "CI"]);
    git(dir, &["config", "commit.gpgsign", "false"]);
    std::fs::write(dir.join("release.txt"), "v1\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "v1"]);
    let v1 = git(dir, &["rev-parse", "HEAD"]);
    std::fs::write(dir.join("release.txt"), "v2\n").unwrap();
    git(dir, &["commit", "-q", "-am", "v2"]);
    v1
}
