//! What the sentry-cli suites share: the real `sentry-cli`, esbuild and node from
//! `tests/sdk/cli` pointed at a server, and readers of the events they make.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::checks::*;
use crate::common::{self, Server, TOKEN};

/// sentry-cli, esbuild and node from `tests/sdk/cli`, pointed at one server.
pub struct Cli {
    pub dir: PathBuf,
    pub url: String,
    pub token: String,
    pub project: String,
}

impl Cli {
    pub fn new(s: &Server) -> Option<Cli> {
        common::suite_switch("LOOKOUT_TEST_SENTRY_CLI", "sentry-cli suite")?;
        let dir = repo_root().join("tests/sdk/cli");
        for tool in ["sentry-cli", "esbuild"] {
            assert!(
                dir.join("node_modules/.bin").join(tool).is_file(),
                "LOOKOUT_TEST_SENTRY_CLI is set but tests/sdk/cli has no {tool}: run `npm ci --prefix tests/sdk/cli` first"
            );
        }
        Some(Cli {
            dir,
            url: s.url.clone(),
            token: TOKEN.to_string(),
            project: "app".to_string(),
        })
    }

    /// The same tools, with another token and `SENTRY_PROJECT`.
    pub fn as_token(&self, token: &str, project: &str) -> Cli {
        Cli {
            dir: self.dir.clone(),
            url: self.url.clone(),
            token: token.to_string(),
            project: project.to_string(),
        }
    }

    pub fn command(&self, tool: &str) -> Command {
        self.with_env(Command::new(self.dir.join("node_modules/.bin").join(tool)))
    }

    /// `c` pointed at the server, with nothing else to contact (no update checks, no
    /// telemetry).
    pub fn with_env(&self, mut c: Command) -> Command {
        c.env("SENTRY_URL", &self.url)
            .env("SENTRY_AUTH_TOKEN", &self.token)
            .env("SENTRY_ORG", "acme")
            .env("SENTRY_PROJECT", &self.project)
            .env("SENTRY_DISABLE_UPDATE_CHECK", "true")
            .env("SENTRY_NO_PROGRESS_BAR", "1")
            .env("SENTRY_CLI_NO_TELEMETRY", "1")
            .env("DO_NOT_TRACK", "1")
            .env_remove("SENTRY_DSN")
            .env_remove("SENTRY_RELEASE");
        c
    }

    /// Runs sentry-cli; returns its output, whatever the exit code.
    pub fn run(&self, args: &[&str], cwd: Option<&Path>) -> Output {
        let mut c = self.command("sentry-cli");
        c.args(args);
        if let Some(d) = cwd {
            c.current_dir(d);
        }
        c.output().expect("run sentry-cli")
    }

    /// Runs sentry-cli and requires success; returns stdout and stderr together.
    pub fn ok(&self, args: &[&str], cwd: Option<&Path>) -> String {
        let out = self.run(args, cwd);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "sentry-cli {args:?} failed:\n{text}");
        text
    }

    /// Bundles `tests/sdk/cli/app/main.js` (copied to `src/` beside `out`, as a project
    /// holds its sources beside its build) with esbuild into `out/NAME.js`, minified, with
    /// a source map; `banner` shifts the code so two builds differ in columns too.
    pub fn build(&self, out: &Path, name: &str, banner: &str) -> PathBuf {
        std::fs::create_dir_all(out).unwrap();
        let src = out.parent().unwrap().join("src");
        std::fs::create_dir_all(&src).unwrap();
        for f in ["main.js", "checkout.js"] {
            std::fs::copy(self.dir.join("app").join(f), src.join(f)).unwrap();
        }
        let file = out.join(format!("{name}.js"));
        let status = self
            .command("esbuild")
            .arg(src.join("main.js"))
            .args(["--bundle", "--minify", "--sourcemap", "--platform=node"])
            .arg("--external:@sentry/node")
            .arg(format!("--banner:js={banner}"))
            .arg(format!("--outfile={}", file.display()))
            .output()
            .expect("run esbuild");
        assert!(status.status.success(), "esbuild: {status:?}");
        file
    }

    /// Bundles the app like [`Cli::build`], but with esbuild's JavaScript API and the Sentry
    /// bundler plugin, which injects debug ids and uploads the maps itself.
    pub fn build_with_plugin(&self, out: &Path) -> PathBuf {
        std::fs::create_dir_all(out).unwrap();
        let src = out.parent().unwrap().join("src");
        std::fs::create_dir_all(&src).unwrap();
        for f in ["main.js", "checkout.js"] {
            std::fs::copy(self.dir.join("app").join(f), src.join(f)).unwrap();
        }
        let file = out.join("chunk-plugin.js");
        let node = std::env::var("LOOKOUT_NODE_BIN").unwrap_or_else(|_| "node".into());
        let mut c = self.with_env(Command::new(node));
        // Run outside any git repository: the plugin would take the commit as the release.
        c.arg(self.dir.join("app/build-with-plugin.js"))
            .arg(src.join("main.js"))
            .arg(&file)
            .current_dir(out.parent().unwrap());
        run_client(
            &mut c,
            "esbuild with the Sentry plugin",
            Duration::from_secs(60),
        );
        file
    }

    /// Runs a bundle with node: it reports one error to `dsn` and prints its event id.
    pub fn run_bundle(&self, bundle: &Path, dsn: &str, release: &str) -> String {
        let out = run_client(
            Command::new(std::env::var("LOOKOUT_NODE_BIN").unwrap_or_else(|_| "node".into()))
                .arg(bundle)
                .arg(dsn)
                .arg(release)
                .env("NODE_PATH", self.dir.join("node_modules")),
            "the minified bundle",
            Duration::from_secs(45),
        );
        out["event_id"].as_str().expect("event id").to_string()
    }
}

/// The stored document of an event.
pub fn event_of(s: &Server, event_id: &str) -> Value {
    let (status, e) = s.get(&format!("/api/v1/projects/app/events/{event_id}"));
    assert_eq!(status, 200, "{e}");
    e["data"].clone()
}

/// The stack trace of the event's (last) exception.
pub fn stacktrace(event: &Value) -> Value {
    let values = event["exception"]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    values.last().expect("an exception")["stacktrace"].clone()
}

/// The frame that threw: the last of the exception's frames.
pub fn top_frame(event: &Value) -> Value {
    let st = stacktrace(event);
    st["frames"]
        .as_array()
        .and_then(|f| f.last())
        .cloned()
        .expect("a frame")
}
