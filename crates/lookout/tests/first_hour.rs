//! The first hour with lookout, as a new user meets it (issue 11): `init` and what it
//! writes, the exit codes of every command, how client commands find the server, paths
//! relative to the config file, warnings, plain logs and private files. The real binary,
//! real servers on loopback.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(c: &mut Command) -> (Option<i32>, String, String) {
    let out: Output = c.output().expect("run lookout");
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `lookout serve` in `dir` with `args`, until it has printed its DSNs; returns the child,
/// what it printed and its local address.
fn serve_in(dir: &Path, args: &[&str]) -> (std::process::Child, String, String) {
    let (child, seen) = spawn_until(
        lookout()
            .current_dir(dir)
            .args(args)
            .arg("serve")
            .env("LOOKOUT_LISTEN", "127.0.0.1:0")
            .stderr(Stdio::piped()),
        "Send a test error",
    );
    let addr = seen
        .lines()
        .find_map(|l| l.trim().strip_prefix("local address: "))
        .expect("the local address")
        .to_string();
    (child, seen, addr)
}

/// Stops a server started by [`serve_in`] and returns what it logged on stderr.
fn stop(mut child: std::process::Child) -> String {
    let _ = child.kill();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = child.wait();
    err
}

#[test]
fn usage_errors_exit_3_everywhere_and_help_documents_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "[server]\nlisten = \"nope\"\n").unwrap();
    let bad = bad_config.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--bogus"],
        vec!["serve", "--bogus"],
        vec!["no-such-command"],
        vec!["check"],
        vec!["check", "ftp://x"],
        vec!["incident", "lst"],
        vec![
            "incident",
            "list",
            "--url",
            "localhost:8080",
            "--token",
            "t",
        ],
        vec!["incident", "ack"],
        vec!["send-test-event", "--dsn", "not a dsn"],
        vec!["init", "--app-url", "ftp://example.org", "--path", "x.toml"],
        vec!["--config", bad, "check-config"],
        vec!["--config", bad, "serve"],
        vec!["--config", bad, "incident", "list"],
        vec!["deploy", "verify"],
        vec!["notify", "test", "ops"],
    ];
    for args in cases {
        let (code, stdout, stderr) = run(lookout().current_dir(dir.path()).args(&args));
        assert_eq!(code, Some(3), "{args:?}: {stdout}{stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    for args in [["--help"], ["--version"]] {
        let (code, stdout, _) = run(lookout().args(args));
        assert_eq!(code, Some(0), "{args:?}");
        assert!(!stdout.is_empty());
    }
    let (_, help, _) = run(lookout().arg("--help"));
    assert!(help.contains(lookout_core::exit::TABLE), "{help}");
    for command in [["check", "--help"], ["deploy", "--help"]] {
        let (_, help, _) = run(lookout().args(command));
        assert!(
            help.contains(lookout_core::exit::TABLE),
            "{command:?}: {help}"
        );
    }
}

#[test]
fn a_client_command_that_cannot_do_its_work_exits_1_and_says_where_it_looked() {
    let (code, _, stderr) = run(lookout().args([
        "incident",
        "list",
        "--url",
        "http://127.0.0.1:9",
        "--token",
        "t",
    ]));
    assert_eq!(code, Some(lookout_core::exit::FAILED.into()), "{stderr}");
    assert!(
        stderr.contains("cannot reach lookout at http://127.0.0.1:9"),
        "{stderr}"
    );
    let s = Server::start();
    let (code, _, stderr) =
        run(lookout().args(["incident", "ack", "1", "--url", &s.url, "--token", "wrong"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
}

/// A config beside which a client command runs: it names the server's address, and the
/// token lives in its data directory, relative to the file.
fn client_config(dir: &Path, server: &Server) -> std::path::PathBuf {
    let listen = server.url.trim_start_matches("http://");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/api-token"), format!("{TOKEN}\n")).unwrap();
    let path = dir.join("lookout.toml");
    std::fs::write(
        &path,
        format!("[server]\nlisten = \"{listen}\"\ndata_dir = \"data\"\n"),
    )
    .unwrap();
    path
}

#[test]
fn client_commands_find_the_server_by_flag_then_environment_then_config() {
    let s = Server::start();
    let cfg = tempfile::tempdir().unwrap();
    let config = client_config(cfg.path(), &s);
    let elsewhere = tempfile::tempdir().unwrap();
    let listed = |c: &mut Command| {
        let (code, stdout, stderr) = run(c);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert!(stdout.contains("No incidents."), "{stdout}");
    };
    // Beside ./lookout.toml, with --config from elsewhere, and through LOOKOUT_CONFIG.
    listed(lookout().current_dir(cfg.path()).args(["incident", "list"]));
    listed(
        lookout()
            .current_dir(elsewhere.path())
            .arg("--config")
            .arg(&config)
            .args(["incident", "list"]),
    );
    listed(
        lookout()
            .current_dir(elsewhere.path())
            .env("LOOKOUT_CONFIG", &config)
            .args(["incident", "list", "--all"]),
    );
    // The flags, after the subcommand or before it; the environment.
    listed(
        lookout()
            .current_dir(elsewhere.path())
            .args(["incident", "list", "--url", &s.url, "--token", TOKEN]),
    );
    listed(
        lookout()
            .current_dir(elsewhere.path())
            .args(["incident", "--url", &s.url, "list", "--token", TOKEN]),
    );
    listed(
        lookout()
            .current_dir(elsewhere.path())
            .args(["--url", &s.url, "--token", TOKEN, "incident", "list"]),
    );
    listed(
        lookout()
            .current_dir(elsewhere.path())
            .env("LOOKOUT_URL", &s.url)
            .env("LOOKOUT_API_TOKEN", TOKEN)
            .args(["incident", "list"]),
    );
    // The flag wins over the environment and the config.
    let (code, _, stderr) = run(lookout()
        .current_dir(cfg.path())
        .env("LOOKOUT_URL", &s.url)
        .args(["incident", "list", "--url", "http://127.0.0.1:9"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");
    // The environment wins over the config.
    let (code, _, stderr) = run(lookout()
        .current_dir(cfg.path())
        .env("LOOKOUT_URL", "http://127.0.0.1:9")
        .args(["incident", "list"]));
    assert_eq!(code, Some(1), "{stderr}");

    // send-test-event finds the same server and its only project's DSN.
    let (code, stdout, stderr) = run(lookout().current_dir(cfg.path()).arg("send-test-event"));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Stored: issue"), "{stdout}");
    let (code, _, stderr) =
        run(lookout()
            .current_dir(cfg.path())
            .args(["send-test-event", "--project", "nope"]));
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("no project `nope`") && stderr.contains("app"),
        "{stderr}"
    );

    // Every subcommand's help shows the flags.
    for args in [
        "incident list --help",
        "incident --help",
        "send-test-event --help",
        "notify test --help",
        "deploy verify --help",
        "deploy rollback --help",
        "deploy gate --help",
    ] {
        let args: Vec<&str> = args.split(' ').collect();
        let (_, help, _) = run(lookout().args(&args));
        assert!(
            help.contains("--url") && help.contains("--token"),
            "{args:?}: {help}"
        );
        assert!(help.contains("LOOKOUT_URL"), "{help}");
    }
}

#[test]
fn a_note_is_confirmed_as_a_note() {
    let s = Server::start_with(
        "[[rules]]\nname = \"New issue\"\nwhen = \"new issue\"\nseverity = \"low\"\n",
    );
    let (code, _, stderr) = run(lookout().args(["send-test-event", "--dsn", &s.local_dsn()]));
    assert_eq!(code, Some(0), "{stderr}");
    let id = s.wait_for("the incident", Duration::from_secs(15), || {
        let (_, v) = s.get("/api/v1/incidents?status=open");
        v.as_array()?.first()?["id"].as_i64()
    });
    let (code, stdout, stderr) = run(lookout().args([
        "incident",
        "note",
        &id.to_string(),
        "restarted the worker",
        "--url",
        &s.url,
        "--token",
        TOKEN,
    ]));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("Added a note to #{id} "))
            && stdout.contains("\"restarted the worker\""),
        "{stdout}"
    );
    assert!(!stdout.contains("is now"), "{stdout}");
}

#[test]
fn the_config_file_anchors_relative_paths_wherever_lookout_starts() {
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("cfg");
    std::fs::create_dir(&cfg).unwrap();
    std::fs::write(
        cfg.join("lookout.toml"),
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"state\"\n",
    )
    .unwrap();
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let (code, stdout, _) = run(lookout().current_dir(&elsewhere).args([
        "--config",
        "../cfg/lookout.toml",
        "check-config",
    ]));
    assert_eq!(code, Some(0));
    assert!(stdout.contains("SQLite in ../cfg/state"), "{stdout}");
    let (child, first, _) = serve_in(&elsewhere, &["--config", "../cfg/lookout.toml"]);
    stop(child);
    assert!(cfg.join("state/lookout.db").exists());
    assert!(!elsewhere.join("state").exists());
    // Started from the config's own directory: the same database and token.
    let (child, second, _) = serve_in(&cfg, &[]);
    stop(child);
    let token = |s: &str| {
        s.lines()
            .find_map(|l| l.trim().strip_prefix("API token:"))
            .map(|t| t.trim().to_string())
    };
    assert_eq!(token(&first), token(&second), "{first}\n{second}");
}

#[test]
fn a_missing_config_file_is_said_once_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) =
        run(lookout()
            .current_dir(dir.path())
            .args(["--config", "nope.toml", "serve"]));
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("config file nope.toml does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("lookout init"), "{stderr}");
    assert!(!stderr.contains("os error"), "{stderr}");
    let (_, _, stderr) = run(lookout()
        .current_dir(dir.path())
        .env("LOOKOUT_CONFIG", "gone.toml")
        .arg("check-config"));
    assert_eq!(stderr.matches("gone.toml").count(), 1, "{stderr}");
}

#[test]
fn init_without_an_app_url_starts_cleanly_watches_nothing_and_warns_about_routes() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(lookout().current_dir(dir.path()).arg("init"));
    assert_eq!(code, Some(0), "{stderr}");
    for next in [
        "lookout serve",
        "lookout send-test-event",
        "lookout incident list",
    ] {
        assert!(stdout.contains(next), "{stdout}");
    }
    assert!(stdout.contains("commented out"), "{stdout}");
    let config = std::fs::read_to_string(dir.path().join("lookout.toml")).unwrap();
    assert!(!config.contains("localhost:3000"), "{config}");

    let (code, stdout, stderr) = run(lookout().current_dir(dir.path()).arg("check-config"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stdout.contains("monitor:"), "{stdout}");
    for sev in ["critical", "high", "medium", "low"] {
        assert!(
            stderr.contains(&format!("warning: severities.{sev}.route: no channel")),
            "{stderr}"
        );
    }
    assert!(stderr.contains("\"Site down\""), "{stderr}");

    let (child, printed, addr) = serve_in(dir.path(), &[]);
    let token = std::fs::read_to_string(dir.path().join("lookout-data/api-token")).unwrap();
    let (status, monitors) = get_json(&addr, "/api/v1/monitors", token.trim());
    assert_eq!(status, 200);
    assert_eq!(
        monitors,
        serde_json::json!([]),
        "no monitor points anywhere"
    );
    assert!(printed.contains("project default"), "{printed}");
    let log = stop(child);
    assert!(
        log.contains("severities.critical.route: no channel"),
        "serve warns too: {log}"
    );
}

#[test]
fn init_with_an_app_url_and_a_channel_starts_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(lookout().current_dir(dir.path()).args([
        "init",
        "--app-url",
        "http://127.0.0.1:9/",
        "--slack-webhook",
        "https://hooks.slack.com/services/T0/B0/secret",
    ]));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("lookout notify test ops"), "{stdout}");
    let (code, stdout, stderr) = run(lookout().current_dir(dir.path()).arg("check-config"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(
        stdout.contains("monitor:  Homepage (http)") && stdout.contains("channel:  ops (slack)"),
        "{stdout}"
    );
    let config = std::fs::read_to_string(dir.path().join("lookout.toml")).unwrap();
    assert!(
        config.contains("url = \"http://127.0.0.1:9/api/health\""),
        "{config}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("lookout.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the config holds the webhook URL");
    }
}

#[test]
fn fallbacks_to_defaults_are_warned_about_by_check_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lookout.toml"),
        "[[monitors]]\nname = \"Home\"\nkind = \"http\"\nurl = \"${APP_URL:-http://localhost:3000}/\"\n",
    )
    .unwrap();
    let (code, _, stderr) = run(lookout().current_dir(dir.path()).arg("check-config"));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: monitors[0].url: ${APP_URL} is not set, so its default `http://localhost:3000` is used"),
        "{stderr}"
    );
    let (_, _, stderr) = run(lookout()
        .current_dir(dir.path())
        .env("APP_URL", "https://example.org")
        .arg("check-config"));
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn logs_are_plain_text_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = lookout()
        .current_dir(dir.path())
        .arg("serve")
        .env("LOOKOUT_LISTEN", "127.0.0.1:0")
        .env("LOOKOUT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = loop {
        assert!(Instant::now() < deadline);
        let l = lines.next().expect("a log line").unwrap();
        if l.contains("lookout is listening") {
            break l;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(!line.contains('\u{1b}'), "{line:?}");
    assert!(line.contains("INFO"), "{line:?}");
}

#[cfg(unix)]
#[test]
fn the_database_and_secrets_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (child, _, addr) = serve_in(dir.path(), &[]);
    let data = dir.path().join("lookout-data");
    let token = std::fs::read_to_string(data.join("api-token")).unwrap();
    // A write, so the WAL exists.
    let (status, _) = send_json(&addr, "/api/v1/projects", token.trim(), r#"{"slug":"x"}"#);
    assert_eq!(status, 201);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for f in [
        "lookout.db",
        "lookout.db-wal",
        "lookout.db-shm",
        "api-token",
        "alert-secret",
    ] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    stop(child);

    // A database an earlier version left readable is tightened at start.
    std::fs::set_permissions(
        data.join("lookout.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (child, _, _) = serve_in(dir.path(), &[]);
    stop(child);
    assert_eq!(mode(&data.join("lookout.db")), 0o600);
}

fn get_json(addr: &str, path: &str, token: &str) -> (u16, serde_json::Value) {
    call_json("GET", addr, path, token, None)
}

fn send_json(addr: &str, path: &str, token: &str, body: &str) -> (u16, serde_json::Value) {
    call_json("POST", addr, path, token, Some(body))
}

fn call_json(
    method: &str,
    addr: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{addr}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.unwrap_or_default().to_string())
        .unwrap();
    let mut resp = agent.run(req).unwrap();
    let status = resp.status().as_u16();
    let t = resp.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&t).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn init_with_an_admin_email_creates_the_first_dashboard_user() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) =
        run(lookout()
            .current_dir(dir.path())
            .args(["init", "--admin-email", "Ops@Example.org"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("Created the dashboard user ops@example.org."),
        "{stdout}"
    );
    assert!(stdout.contains("Password (shown once): "), "{stdout}");
    let (code, stdout, _) = run(lookout().current_dir(dir.path()).args(["user", "list"]));
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("ops@example.org\t"), "{stdout}");
    // With a user, serve prints no setup link.
    let (mut child, seen, _) = serve_in(dir.path(), &[]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("dashboard:"), "{seen}");
    assert!(!seen.contains("/setup?token="), "{seen}");
    // A fresh data directory, no user: the one-time setup link is printed.
    std::fs::remove_dir_all(dir.path().join("lookout-data")).unwrap();
    let (mut child, seen, _) = serve_in(dir.path(), &[]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("/setup?token="), "{seen}");
}
