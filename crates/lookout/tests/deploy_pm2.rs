//! `lookout deploy verify` against process managers: a fake `pm2` on `PATH` printing real
//! `pm2 jlist` output (daemon lines first, the apps' whole environment with secrets in it),
//! and a fake `systemctl`.

mod deploy_support;

use std::path::Path;

use deploy_support::{
    fake_pm2, fake_systemctl, lookout, run, with_path, Run, PM2_SECRET, PM2_SESSION_SECRET,
};

/// Runs `lookout deploy verify ARGS` with the fakes of `bin` first on `PATH`, in GitHub
/// Actions mode so the step files are written too; returns the run and the files' text.
fn verify(bin: &Path, args: &[&str]) -> (Run, String) {
    let summary = bin.join("summary.md");
    let output = bin.join("output.txt");
    let mut cmd = lookout(bin);
    with_path(&mut cmd, bin);
    cmd.args(["deploy", "verify"])
        .args(args)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &output);
    let r = run(&mut cmd);
    let files = format!(
        "{}\n{}",
        std::fs::read_to_string(&summary).unwrap_or_default(),
        std::fs::read_to_string(&output).unwrap_or_default()
    );
    (r, files)
}

/// The secrets of the fake PM2's environment appear nowhere lookout writes.
fn assert_no_secret(r: &Run, files: &str) {
    for secret in [PM2_SECRET, PM2_SESSION_SECRET] {
        assert!(!r.stdout.contains(secret), "secret on stdout:\n{}", r.all());
        assert!(!r.stderr.contains(secret), "secret on stderr:\n{}", r.all());
        assert!(
            !files.contains(secret),
            "secret in the GitHub files:\n{files}"
        );
    }
}

#[test]
fn an_online_app_passes_after_the_daemon_lines_and_no_secret_leaks() {
    let bin = tempfile::tempdir().unwrap();
    fake_pm2(bin.path(), "online", 2);
    // The fake prints what the real one does: daemon lines, then the secrets in the list.
    let raw = std::process::Command::new(bin.path().join("pm2"))
        .arg("jlist")
        .output()
        .unwrap();
    let raw = String::from_utf8(raw.stdout).unwrap();
    assert!(raw.starts_with("[PM2] Spawning PM2 daemon"), "{raw}");
    assert!(raw.contains(PM2_SECRET) && raw.contains(PM2_SESSION_SECRET));
    std::fs::remove_file(bin.path().join("daemon")).unwrap();
    let (r, files) = verify(
        bin.path(),
        &[
            "--pm2",
            "web",
            "--pm2",
            "worker",
            "--pm2-watch",
            "300ms",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r, &files);
    let report = r.json();
    let web = &report["verify"]["checks"][0];
    assert_eq!(
        (web["kind"].as_str(), web["outcome"].as_str()),
        (Some("pm2"), Some("pass"))
    );
    assert_eq!(web["target"], "web");
    assert_eq!(
        web["summary"],
        "online (1 instance), 2 restarts in all, 124 MB, 0.7 % CPU; no restart in 300ms"
    );
    assert_eq!(report["verify"]["checks"][1]["outcome"], "pass");
    assert!(files.contains("verdict=passed"), "{files}");
    // The first jlist of the run printed the daemon's start lines, and was read past them.
    assert!(bin.path().join("daemon").exists());
}

#[test]
fn an_errored_app_fails_and_no_secret_leaks() {
    let bin = tempfile::tempdir().unwrap();
    fake_pm2(bin.path(), "errored", 15);
    let (r, files) = verify(bin.path(), &["--pm2", "web", "--deadline", "1s"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("FAIL  pm2 web")
            && r.stdout
                .contains("web (pm_id 0) is errored, restarted 15 times"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains(
            "::error title=Deploy check%3A pm2 failed::pm2 web: web (pm_id 0) is errored"
        ),
        "{}",
        r.all()
    );
    assert_no_secret(&r, &files);
    assert!(files.contains("verdict=failed"), "{files}");
}

#[test]
fn a_climbing_restart_count_fails_even_while_online() {
    let bin = tempfile::tempdir().unwrap();
    fake_pm2(bin.path(), "online", 4);
    std::fs::write(bin.path().join("climbing"), "").unwrap();
    let (r, files) = verify(
        bin.path(),
        &[
            "--pm2",
            "web",
            "--pm2-watch",
            "200ms",
            "--deadline",
            "2s",
            "--json",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert_no_secret(&r, &files);
    let web = &r.json()["verify"]["checks"][0];
    assert_eq!(web["outcome"], "fail");
    let summary = web["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("web (pm_id 0) restarted once in 200ms (restart count ")
            && summary.ends_with("a crash loop?"),
        "{summary}"
    );
    assert!(web["attempts"].as_u64().unwrap() >= 2, "{web}");
}

#[test]
fn a_missing_app_names_the_apps_pm2_has() {
    let bin = tempfile::tempdir().unwrap();
    fake_pm2(bin.path(), "online", 0);
    let (r, files) = verify(bin.path(), &["--pm2", "api", "--deadline", "500ms"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("PM2 has no app named \"api\" (apps: web, worker)"),
        "{}",
        r.all()
    );
    assert_no_secret(&r, &files);
}

#[test]
fn pm2_missing_from_path_is_said_plainly() {
    let bin = tempfile::tempdir().unwrap();
    std::fs::write(
        bin.path().join("lookout.toml"),
        "[[deploy.checks]]\nkind = \"pm2\"\napp = \"web\"\nprogram = \"no-such-pm2-here\"\n",
    )
    .unwrap();
    let (r, _) = verify(bin.path(), &["--deadline", "500ms"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("`no-such-pm2-here jlist` exited with 127 (command not found"),
        "{}",
        r.all()
    );
}

#[test]
fn systemd_units_must_be_active() {
    let bin = tempfile::tempdir().unwrap();
    fake_systemctl(bin.path());
    std::fs::write(bin.path().join("unit-web.service"), "active").unwrap();
    std::fs::write(bin.path().join("unit-worker.service"), "failed").unwrap();
    let (r, _) = verify(
        bin.path(),
        &["--systemd", "web.service", "--deadline", "1s"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("PASS  systemd web.service"),
        "{}",
        r.all()
    );

    let (r, _) = verify(
        bin.path(),
        &[
            "--systemd",
            "web.service",
            "--systemd",
            "worker.service",
            "--deadline",
            "1s",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("FAIL  systemd worker.service")
            && r.stdout.contains("the unit is failed"),
        "{}",
        r.all()
    );
}
