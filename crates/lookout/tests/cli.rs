//! The `lookout` command as a user runs it.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn send_test_event_waits_until_the_event_is_stored() {
    let server = Server::start();
    let out = lookout()
        .args(["send-test-event", "--dsn", &server.local_dsn()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Stored: issue"), "{stdout}");
    let issues = server.issues("");
    assert_eq!(issues.len(), 1);
    assert!(issues[0]["title"]
        .as_str()
        .unwrap()
        .starts_with("LookoutTestError"));
}

#[test]
fn send_test_event_explains_what_went_wrong() {
    let server = Server::start();
    // A key the server does not know.
    let bad = server
        .local_dsn()
        .replace(KEY, "ffffffffffffffffffffffffffffffff");
    let out = lookout()
        .args(["send-test-event", "--dsn", &bad])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("key"), "{err}");
    // Nothing listening.
    let out = lookout()
        .args([
            "send-test-event",
            "--dsn",
            "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not reach lookout"), "{err}");
    // Not a DSN.
    let out = lookout()
        .args(["send-test-event", "--dsn", "localhost:8080"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DSN"));
}

#[test]
fn serve_without_config_creates_a_default_project_and_prints_what_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, seen) = spawn_until(
        lookout()
            .arg("serve")
            .current_dir(dir.path())
            .env("LOOKOUT_LISTEN", "127.0.0.1:0")
            .env("LOOKOUT_LOG", "warn"),
        "DSN:",
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("lookout is listening on http://"), "{seen}");
    assert!(seen.contains("API token:     lk_"), "{seen}");
    assert!(seen.contains("project default"), "{seen}");
    assert!(dir.path().join("lookout-data/lookout.db").exists());
    let token = std::fs::read_to_string(dir.path().join("lookout-data/api-token")).unwrap();
    assert!(seen.contains(token.trim()));
}

fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn init_writes_a_config_that_serve_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.toml");
    let out = lookout()
        .args(["init", "--path"])
        .arg(&path)
        .output()
        .unwrap();
    assert_success(&out);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[[projects]]"));
    // Refuses to overwrite without --force.
    let out = lookout()
        .args(["init", "--path"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    let out = lookout()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("project:  default (id 1)"));
    // The rules' runbooks were written beside the config, and check-config found them.
    for rb in ["site-down.md", "error-spike.md", "memory-warning.md"] {
        let text = std::fs::read_to_string(dir.path().join("runbooks").join(rb)).unwrap();
        assert!(text.starts_with("# "), "{rb}");
    }
    std::fs::remove_file(dir.path().join("runbooks/site-down.md")).unwrap();
    let out = lookout()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("runbook") && err.contains("site-down.md"),
        "{err}"
    );
}

#[test]
fn bad_config_names_the_key_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.toml");
    let cases = [
        ("[server]\nlisten = \"8080\"\n", "server.listen"),
        ("[sever]\nlisten = \"127.0.0.1:1\"\n", "sever"),
        (
            "[[projects]]\nslug = \"web\"\nid = 1\npublic_key = \"short\"\n",
            "projects[0].public_key",
        ),
        (
            "[[projects]]\nslug = \"web\"\nid = 1\npublic_key = \"${LOOKOUT_TEST_UNSET_VAR}\"\n",
            "LOOKOUT_TEST_UNSET_VAR",
        ),
        (
            "[defaults]\nmonthly_quota = \"lots\"\n",
            "defaults.monthly_quota",
        ),
        (
            "[[status_pages]]\nslug = \"acme\"\ntitle = \"Acme\"\nmonitors = [\"Homepage\"]\n",
            "status_pages[0].monitors[0]: no monitor named \"Homepage\" in [[monitors]]",
        ),
    ];
    for (text, needle) in cases {
        std::fs::write(&path, text).unwrap();
        let out = lookout()
            .args(["check-config", "--config"])
            .arg(&path)
            .env_remove("LOOKOUT_TEST_UNSET_VAR")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "expected {needle} in: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn incidents_are_acknowledged_from_the_command_line() {
    let s = Server::start_with(
        "[[rules]]\nname = \"New issue\"\nwhen = \"new issue\"\nseverity = \"low\"\n",
    );
    let event = serde_json::json!({
        "event_id": "0123456789abcdef0123456789abcdef",
        "level": "error",
        "exception": {"values": [{"type": "CliTestError", "value": "boom"}]}
    });
    let body = format!(
        "{{\"event_id\":\"0123456789abcdef0123456789abcdef\"}}\n{{\"type\":\"event\"}}\n{event}\n"
    );
    let url = format!("{}/api/{PROJECT_ID}/envelope/?sentry_key={KEY}", s.url);
    let status = ureq::post(&url)
        .header("content-type", "application/x-sentry-envelope")
        .send(body)
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let id = s.wait_for("the incident", Duration::from_secs(15), || {
        let (_, v) = s.get("/api/v1/incidents?status=open");
        v.as_array()?.first()?["id"].as_i64()
    });
    let cli = |args: &[&str]| {
        lookout()
            .args(["incident", "--url", &s.url, "--token", TOKEN])
            .args(args)
            .output()
            .unwrap()
    };
    let out = cli(&["list"]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("CliTestError"));
    let out = cli(&["ack", &id.to_string(), "--by", "dana"]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("acknowledged"));
    let out = cli(&[
        "note",
        &id.to_string(),
        "restarted the worker",
        "--by",
        "dana",
    ]);
    assert_success(&out);
    let out = cli(&["note", &id.to_string(), "We are on it.", "--public"]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Published on the status pages"));
    let out = cli(&["show", &id.to_string()]);
    assert_success(&out);
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        shown.contains("acknowledged by dana") && shown.contains("restarted the worker"),
        "{shown}"
    );
    assert!(
        shown.contains("public note") && shown.contains("We are on it."),
        "{shown}"
    );
    let out = cli(&["ack", "999"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not open"));
    let out = lookout()
        .args([
            "incident",
            "--url",
            "http://127.0.0.1:9",
            "--token",
            "x",
            "list",
        ])
        .output()
        .unwrap();
    // A command without a verdict that cannot do its work exits 1, never 2 ("down").
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn user_commands_manage_dashboard_accounts() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = lookout();
        c.arg("--config").arg(&config).arg("user").args(args);
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if stdin.is_some() {
            c.stdin(std::process::Stdio::piped());
        }
        let mut child = c.spawn().unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, err) = run(
        &["create", "Ops@Example.org", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Created the dashboard user ops@example.org"),
        "{out}"
    );
    let (code, out, _) = run(&["create", "dev@example.org"], None);
    assert_eq!(code, 0);
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("Password (shown once): "))
        .expect("a generated password is printed");
    assert_eq!(generated.len(), 24);
    let (code, out, _) = run(&["list"], None);
    assert_eq!(code, 0);
    assert!(out.contains("ops@example.org\tnever signed in"), "{out}");
    assert!(out.contains("dev@example.org"), "{out}");

    let (code, _, err) = run(&["create", "ops@example.org"], None);
    assert_eq!(code, 1, "a duplicate fails");
    assert!(
        err.contains("exists already") && err.contains("lookout user passwd"),
        "{err}"
    );
    let (code, _, err) = run(&["create", "not-an-email"], None);
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = run(
        &["create", "x@example.org", "--password-stdin"],
        Some("short\n"),
    );
    assert_eq!(code, 3);
    assert!(err.contains("at least 10 characters"), "{err}");
    let (code, out, _) = run(
        &["passwd", "ops@example.org", "--password-stdin"],
        Some("another long password\n"),
    );
    assert_eq!(code, 0);
    assert!(out.contains("signed out"), "{out}");
    let (code, _, err) = run(&["passwd", "nobody@example.org"], None);
    assert_eq!(code, 1);
    assert!(err.contains("no user nobody@example.org"), "{err}");
    assert_eq!(run(&["delete", "dev@example.org"], None).0, 0);
    assert_eq!(run(&["delete", "dev@example.org"], None).0, 1);
    let (_, out, _) = run(&["list"], None);
    assert!(!out.contains("dev@example.org"), "{out}");
}

#[test]
fn check_config_lists_the_status_pages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.toml");
    std::fs::write(
        &path,
        "[[monitors]]\nname = \"Homepage\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\n\n\
         [[status_pages]]\nslug = \"acme\"\ntitle = \"Acme status\"\nmonitors = [\"Homepage\"]\n\
         domain = \"status.acme.example\"\n",
    )
    .unwrap();
    let out = lookout()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("  status:   /status/acme (Acme status, and / on status.acme.example)"),
        "{stdout}"
    );
}
