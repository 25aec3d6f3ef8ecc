//! The dashboard in a real browser (headless Chromium through chromedriver): sign in; the
//! real `@sentry/node` SDK sends errors; the issue shows in the list; its page shows the
//! stack trace; resolve it; acknowledge the incident its rule opened, with the runbook
//! beside it. Every main page is screenshotted (under `target/tmp/dashboard-browser/`)
//! and checked with axe-core: no serious or critical violation. In a phone-sized window
//! (390 × 844) none of those pages scrolls sideways (each is screenshotted again there); a
//! browser whose system theme is dark gets the dark theme.
//!
//! Switched on by `LOOKOUT_TEST_BROWSER=1`, after `apt-get install chromium
//! chromium-driver` and `npm ci --prefix tests/sdk/node`.

mod browser;
#[path = "../../../tests/sdk/checks.rs"]
mod checks;
mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use browser::Browser;
use checks::{repo_root, run_client};
use common::{lookout, Server};

const EMAIL: &str = "ops@example.org";
const PASSWORD: &str = "correct horse battery";

fn create_user(server: &Server) {
    let mut child = lookout()
        .arg("--config")
        .arg(server.dir.join("lookout.toml"))
        .args(["user", "create", EMAIL, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks the page with axe-core and saves its screenshot.
async fn look(b: &Browser, name: &str) {
    let shot = b.screenshot(name).await;
    let violations = b.axe().await;
    assert!(
        violations.is_empty(),
        "{name} ({}): serious or critical accessibility violations: {}",
        shot.display(),
        serde_json::to_string_pretty(&violations).unwrap()
    );
}

#[test]
fn sign_in_see_an_sdk_error_resolve_it_and_acknowledge_its_incident() {
    if common::suite_switch("LOOKOUT_TEST_BROWSER", "browser suite (chromium)").is_none() {
        return;
    }
    let node_dir = repo_root().join("tests/sdk/node");
    assert!(
        node_dir.join("node_modules/@sentry/node/package.json").is_file(),
        "LOOKOUT_TEST_BROWSER is set but {} has no node_modules: run `npm ci --prefix tests/sdk/node` first",
        node_dir.display()
    );
    let runbooks = tempfile::tempdir().unwrap();
    let runbook = runbooks.path().join("new-error.md");
    std::fs::write(
        &runbook,
        "# New error\n\n1. Open the issue and read the stack trace.\n2. Roll back with `lookout deploy rollback` if the last deploy caused it.\n\n<script>alert('x')</script>\n",
    )
    .unwrap();
    let server = Server::start_with(&format!(
        "\n[[rules]]\nname = \"New error\"\nwhen = \"new issue\"\nseverity = \"high\"\nrunbook = \"{}\"\n\n[[slos]]\nname = \"App errors\"\nkind = \"errors_per_hour\"\nproject = \"app\"\nthreshold = 10\ntarget = 99\n",
        runbook.display()
    ));
    create_user(&server);
    // A deploy and a monitor of the server's own health, for the deploys, SLO and
    // monitor pages.
    let (status, deploy) = server.send(
        "POST",
        "/api/v1/deploys",
        &serde_json::json!({
            "project": "app", "release": "web@1.0.0", "commit": "0123456789abcdef",
            "verdict": "passed",
            "checks": [{"kind": "health", "target": "http://127.0.0.1:3000/api/health",
                        "outcome": "passed", "summary": "ok", "attempts": 1, "duration_ms": 120}],
        }),
    );
    assert_eq!(status, 201, "{deploy}");
    let (status, monitor) = server.send(
        "POST",
        "/api/v1/monitors",
        &serde_json::json!({"name": "Own health", "kind": "http",
                            "url": format!("{}/api/health", server.url), "interval": "60s"}),
    );
    assert_eq!(status, 201, "{monitor}");
    // One that is down, for a monitor page with an outage and failed checks in its tables.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, down) = server.send(
        "POST",
        "/api/v1/monitors",
        &serde_json::json!({"name": "Checkout API", "kind": "tcp", "host": "127.0.0.1",
                            "port": closed, "interval": "60s", "alert_after": 1}),
    );
    assert_eq!(status, 201, "{down}");

    let node = std::env::var("LOOKOUT_NODE_BIN").unwrap_or_else(|_| "node".to_string());
    run_client(
        Command::new(&node)
            .arg("client.mjs")
            .arg(server.local_dsn())
            .current_dir(&node_dir),
        "tests/sdk/node/client.mjs",
        Duration::from_secs(45),
    );
    server.wait_for(
        "the SDK's RangeError issue",
        Duration::from_secs(20),
        || {
            server
                .issues("")
                .into_iter()
                .find(|i| i["title"].as_str().unwrap_or("").starts_with("RangeError"))
        },
    );
    server.wait_for(
        "an incident from the new-issue rule",
        Duration::from_secs(20),
        || {
            let (_, body) = server.get("/api/v1/incidents");
            body.as_array().and_then(|a| a.first().cloned())
        },
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let b = Browser::start("dashboard-browser").await;
        let url = &server.url;

        b.goto(&format!("{url}/")).await;
        b.find("#email").await;
        look(&b, "01-sign-in").await;
        b.fill("#email", EMAIL).await;
        b.fill("#password", PASSWORD).await;
        b.click("button[type=submit]").await;
        b.find("#inc-h").await;
        assert!(b.source().await.contains("Errors per hour"));
        look(&b, "02-overview").await;

        b.goto(&format!("{url}/issues")).await;
        let link = b.find("a.issue-title").await;
        let source = b.source().await;
        assert!(source.contains("RangeError"), "the SDK's error is listed");
        look(&b, "03-issues").await;
        drop(link);
        let links = b
            .client
            .find_all(fantoccini::Locator::Css("a.issue-title"))
            .await
            .unwrap();
        let mut range = None;
        for l in links {
            if l.text().await.unwrap().starts_with("RangeError") {
                range = Some(l);
            }
        }
        range.expect("a RangeError link").click().await.unwrap();
        b.find("ol.frames").await;
        let issue_url = b.client.current_url().await.unwrap().to_string();
        let page = b.source().await;
        assert!(
            page.contains("lookupPrice"),
            "the stack trace shows the throwing function"
        );
        assert!(page.contains("frame in-app"), "in-app frames are marked");
        look(&b, "04-issue").await;
        b.click("button[value=resolve]").await;
        b.wait_text("#issue-status", "resolved").await;

        b.goto(&format!("{url}/incidents")).await;
        look(&b, "05-incidents").await;
        b.click("ul.rows a").await;
        b.find("#incident-status").await;
        let incident_url = b.client.current_url().await.unwrap().to_string();
        let page = b.source().await;
        assert!(
            page.contains("<h1>New error</h1>"),
            "the runbook is rendered beside it"
        );
        assert!(!page.contains("alert('x')"), "the runbook is sanitised");
        look(&b, "06-incident").await;
        b.click("button[value=ack]").await;
        b.wait_text("#incident-status", "acknowledged").await;

        for (name, path) in [
            ("07-monitors", "/monitors".to_string()),
            ("08-setup", "/install".to_string()),
            ("09-tokens", "/tokens".to_string()),
            ("10-instances", "/instances".to_string()),
            ("11-deploys", "/deploys".to_string()),
            ("12-deploy", format!("/deploys/{}", deploy["id"])),
            ("13-slos", "/slos".to_string()),
            ("14-monitor", format!("/monitors/{}", monitor["id"])),
        ] {
            b.goto(&format!("{url}{path}")).await;
            b.find("h1").await;
            look(&b, name).await;
        }

        // The light theme by default: the page background is the light one.
        assert_eq!(
            b.eval("return getComputedStyle(document.body).backgroundColor;")
                .await,
            LIGHT_BG
        );
        // On a phone: no page the suite visited (the issue list with its sparklines, the
        // stack trace, the incident's timeline and runbook, the monitor's charts and
        // outage table, the setup snippets, the token table) makes the page scroll
        // sideways.
        server.wait_for("the TCP monitor down", Duration::from_secs(30), || {
            let (_, m) = server.get(&format!("/api/v1/monitors/{}", down["id"]));
            (m["status"]["state"] == "down").then_some(())
        });
        // A token, so the token page has its table.
        b.goto(&format!("{url}/tokens")).await;
        b.fill("#token-name", "sentry-cli on CI").await;
        b.click("form.card button[type=submit]").await;
        b.find("#new-token").await;

        b.resize(390, 844).await;
        for (name, path) in [
            ("15-phone-overview", format!("{url}/overview")),
            ("16-phone-issues", format!("{url}/issues")),
            ("17-phone-issue", issue_url),
            ("18-phone-incidents", format!("{url}/incidents")),
            ("19-phone-incident", incident_url),
            ("20-phone-monitors", format!("{url}/monitors")),
            (
                "21-phone-monitor",
                format!("{url}/monitors/{}", monitor["id"]),
            ),
            (
                "21-phone-monitor-down",
                format!("{url}/monitors/{}", down["id"]),
            ),
            ("22-phone-setup", format!("{url}/install")),
            ("23-phone-tokens", format!("{url}/tokens")),
            ("24-phone-instances", format!("{url}/instances")),
            ("25-phone-deploys", format!("{url}/deploys")),
            ("26-phone-deploy", format!("{url}/deploys/{}", deploy["id"])),
            ("27-phone-slos", format!("{url}/slos")),
        ] {
            b.goto(&path).await;
            b.find("h1").await;
            if name == "21-phone-monitor-down" {
                // The outage table is there to be measured (it follows the down state).
                b.find("section[aria-labelledby=out-h] table").await;
            }
            b.assert_fits(name, 400).await;
        }
        b.close().await;

        // A system in dark mode gets the dark theme, with no setting in lookout.
        let dark =
            Browser::start_with_args("dashboard-browser", true, &["--force-dark-mode"]).await;
        dark.goto(&format!("{url}/login")).await;
        dark.find("#email").await;
        assert_eq!(
            dark.eval("return matchMedia('(prefers-color-scheme: dark)').matches;")
                .await,
            serde_json::json!(true),
            "the browser reports a dark system theme"
        );
        assert_eq!(
            dark.eval("return getComputedStyle(document.body).backgroundColor;")
                .await,
            DARK_BG
        );
        dark.screenshot("28-dark-sign-in").await;
        // The sign-in page on a phone, while no one is signed in.
        dark.resize(390, 844).await;
        dark.goto(&format!("{url}/login")).await;
        dark.find("#email").await;
        dark.assert_fits("29-phone-dark-sign-in", 400).await;
        dark.close().await;
    });
}

/// `--bg` of `app.css`, light and under `prefers-color-scheme: dark`.
const LIGHT_BG: &str = "rgb(251, 251, 252)";
const DARK_BG: &str = "rgb(18, 21, 28)";
