//! Rollback as the reference runs it (`git reset --hard`, rebuild, restart, verify again),
//! in a temporary git repository, with an app whose "restart" changes what it serves.

mod deploy_support;

use std::path::Path;
use std::time::Duration;

use deploy_support::{git, lookout, repo_with_two_releases, run, App, Run};

/// A deploy of `v2` that broke the app: the repository at `v2`, the app unhealthy, and a
/// config whose rollback resets the repository and "restarts" the app (which then serves
/// what `restart_serves` says) after the given middle steps.
struct Broken {
    tmp: tempfile::TempDir,
    app: App,
    v1: String,
}

impl Broken {
    fn new(middle_steps: &[&str], restart_serves: &str) -> Broken {
        let tmp = tempfile::tempdir().unwrap();
        let v1 = repo_with_two_releases(&tmp.path().join("repo"));
        let app = App::start(&tmp.path().join("app"), "unhealthy", Duration::ZERO);
        let mut steps = vec!["git reset --hard {commit}".to_string()];
        steps.extend(middle_steps.iter().map(|s| s.to_string()));
        steps.push(format!(
            "echo \"restarted at $(cat release.txt)\" >> ../restarts.log && echo {restart_serves} > ../app/health"
        ));
        let steps: Vec<String> = steps.iter().map(|s| format!("{s:?}")).collect();
        std::fs::write(
            tmp.path().join("lookout.toml"),
            format!(
                "[deploy]\ndeadline = \"2s\"\ndir = \"repo\"\n\n[[deploy.checks]]\nkind = \"health\"\nurl = \"{}\"\n\n[deploy.rollback]\ntimeout = \"30s\"\nsteps = [{}]\n",
                app.at("/api/health"),
                steps.join(", ")
            ),
        )
        .unwrap();
        Broken { tmp, app, v1 }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn head(&self) -> String {
        git(&self.dir().join("repo"), &["rev-parse", "HEAD"])
    }

    fn restarts(&self) -> String {
        std::fs::read_to_string(self.dir().join("restarts.log")).unwrap_or_default()
    }

    fn lookout(&self, args: &[&str]) -> (Run, String, String) {
        let summary = self.dir().join("summary.md");
        let output = self.dir().join("output.txt");
        let r = run(lookout(self.dir())
            .args(args)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_OUTPUT", &output));
        let read = |p| std::fs::read_to_string(p).unwrap_or_default();
        (r, read(&summary), read(&output))
    }
}

#[test]
fn a_failed_deploy_is_rolled_back_and_verified_healthy() {
    let b = Broken::new(&["echo building; echo 'build warning' >&2"], "ok");
    let (r, summary, output) = b.lookout(&["deploy", "verify", "--rollback-on-failure"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(b.head(), b.v1, "reset to HEAD~1");
    assert_eq!(
        b.restarts(),
        "restarted at v1\n",
        "the restart ran after the reset"
    );
    // Each step and its output, streamed in order, then the verification of the rollback.
    let order = [
        "FAIL  health",
        "Rolling back to HEAD~1: 3 steps",
        "[1/3] $ git reset --hard HEAD~1",
        "| HEAD is now at",
        "[2/3] $ echo building",
        "| building",
        "[3/3] $ echo \"restarted at",
        "Verifying the rollback: 1 check",
        "PASS  health",
        "ROLLED BACK: the deploy failed (1 of 1 check failed: health ",
        "the rollback to HEAD~1 ran and every check held after it (exit 2)",
    ];
    let mut at = 0;
    for needle in order {
        let found = r.stdout[at..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing or out of order:\n{}", r.all()));
        at += found;
    }
    assert!(
        r.stdout.contains("::notice title=Deploy rolled back::"),
        "{}",
        r.all()
    );
    assert!(
        output.starts_with("verdict=rolled_back\nexit-code=2\n"),
        "{output}"
    );
    assert!(summary.contains("### ↩️ Deploy rolled back"), "{summary}");
    assert!(summary.contains("#### Rollback to `HEAD~1`"), "{summary}");
    assert!(
        summary.contains("| ✅ | `git reset --hard HEAD~1` | ok |"),
        "{summary}"
    );
    assert!(
        summary.contains("#### Checks after the rollback"),
        "{summary}"
    );
}

#[test]
fn a_failing_step_stops_the_rollback() {
    let b = Broken::new(&["echo 'npm ERR! missing script: build' >&2; exit 1"], "ok");
    let (r, summary, output) = b.lookout(&["deploy", "verify", "--rollback-on-failure", "--json"]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert_eq!(b.head(), b.v1, "the first step ran");
    assert_eq!(b.restarts(), "", "no step ran after the failing one");
    let report = r.json();
    assert_eq!(report["verdict"], "rollback_failed");
    assert_eq!(report["exit_code"], 4);
    let steps = &report["rollback"]["steps"];
    assert_eq!(steps[0]["outcome"], "ok");
    assert_eq!(steps[1]["outcome"], "failed");
    assert_eq!(steps[1]["exit_code"], 1);
    assert_eq!(
        steps[1]["output_tail"],
        serde_json::json!(["npm ERR! missing script: build"])
    );
    assert_eq!(steps[2]["outcome"], "skipped");
    assert!(report["after_rollback"].is_null());
    // The streamed output went to stderr, stdout is only the report.
    assert!(
        r.stderr.contains("| npm ERR! missing script: build"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr
            .contains("::error title=Rollback step failed::step 2 `echo 'npm ERR!"),
        "{}",
        r.all()
    );
    assert!(
        output.starts_with("verdict=rollback_failed\nexit-code=4\n"),
        "{output}"
    );
    assert!(summary.contains("| ⏭️ | `echo \"restarted at"), "{summary}");
    assert!(
        summary.contains("npm ERR! missing script: build\n```"),
        "{summary}"
    );
}

#[test]
fn a_rollback_that_leaves_the_app_unhealthy_has_failed_too() {
    let b = Broken::new(&[], "unhealthy");
    let (r, _, output) = b.lookout(&["deploy", "verify", "--rollback-on-failure"]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert_eq!(b.restarts(), "restarted at v1\n");
    assert!(
        r.stdout.contains(
            "ROLLBACK FAILED: the rollback to HEAD~1 ran, but 1 of 1 check failed: health"
        ),
        "{}",
        r.all()
    );
    assert!(
        r.stdout
            .contains("::error title=Check after rollback%3A health failed::"),
        "{}",
        r.all()
    );
    assert!(output.starts_with("verdict=rollback_failed\n"), "{output}");
}

#[test]
fn a_passing_deploy_is_not_rolled_back() {
    let b = Broken::new(&[], "ok");
    b.app.set_health("ok");
    let head = b.head();
    let (r, _, output) = b.lookout(&["deploy", "verify", "--rollback-on-failure"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(b.head(), head);
    assert_eq!(b.restarts(), "");
    assert!(
        output.starts_with("verdict=passed\nexit-code=0\n"),
        "{output}"
    );
}

#[test]
fn a_rollback_by_hand_goes_to_the_given_commit_and_verifies() {
    let b = Broken::new(&[], "ok");
    let repo = b.dir().join("repo");
    std::fs::write(repo.join("release.txt"), "v3\n").unwrap();
    git(&repo, &["commit", "-q", "-am", "v3"]);
    let (r, _, output) = b.lookout(&["deploy", "rollback", "--to", &b.v1]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(b.head(), b.v1);
    assert_eq!(b.restarts(), "restarted at v1\n");
    assert!(
        r.stdout.contains(&format!(
            "ROLLED BACK to {}: every check held after it (exit 0)",
            b.v1
        )),
        "{}",
        r.all()
    );
    assert!(
        output.starts_with("verdict=rolled_back\nexit-code=0\n"),
        "{output}"
    );

    let (r, _, _) = b.lookout(&["deploy", "rollback", "--to", "main; rm -rf /"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stderr.contains("is not a commit"), "{}", r.all());
    let (r, _, _) = b.lookout(&[
        "deploy",
        "rollback",
        "--to",
        "HEAD~1",
        "--rollback-step",
        "true",
    ]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stderr.contains("needs a rollback step with {commit}"),
        "{}",
        r.all()
    );
}

/// `deploy rollback` by hand ends in exit 4 when a step fails (the rest skipped) or
/// when the checks still fail after it.
#[test]
fn a_rollback_by_hand_that_fails_exits_4() {
    let b = Broken::new(&["echo 'npm ERR! build failed' >&2; exit 2"], "ok");
    let (r, _, output) = b.lookout(&["deploy", "rollback", "--json"]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert_eq!(b.head(), b.v1, "the first step ran");
    assert_eq!(b.restarts(), "", "no step ran after the failing one");
    let report = r.json();
    assert_eq!(report["verdict"], "rollback_failed", "{report}");
    assert_eq!(report["exit_code"], 4, "{report}");
    assert_eq!(report["rollback"]["steps"][1]["exit_code"], 2, "{report}");
    assert_eq!(
        report["rollback"]["steps"][2]["outcome"], "skipped",
        "{report}"
    );
    assert!(
        output.starts_with("verdict=rollback_failed\nexit-code=4\n"),
        "{output}"
    );

    let b = Broken::new(&[], "unhealthy");
    let (r, _, output) = b.lookout(&["deploy", "rollback"]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert_eq!(b.restarts(), "restarted at v1\n");
    assert!(r.stdout.contains("ROLLBACK FAILED"), "{}", r.all());
    assert!(
        output.starts_with("verdict=rollback_failed\nexit-code=4\n"),
        "{output}"
    );
}

#[test]
fn a_step_past_its_timeout_is_killed_and_fails_the_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let r = run(lookout(tmp.path()).args([
        "deploy",
        "verify",
        "--command",
        "false",
        "--deadline",
        "300ms",
        "--rollback-on-failure",
        "--rollback-step",
        "sleep 30",
        "--rollback-step",
        "touch ran",
        "--step-timeout",
        "500ms",
        "--json",
    ]));
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(started.elapsed() < Duration::from_secs(15), "{}", r.all());
    let steps = &r.json()["rollback"]["steps"];
    assert_eq!(steps[0]["outcome"], "timed_out");
    assert_eq!(steps[0]["reason"], "ran longer than 500ms and was killed");
    assert_eq!(steps[1]["outcome"], "skipped");
    assert!(!tmp.path().join("ran").exists());
}
