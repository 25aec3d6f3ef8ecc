//! A real browser for tests: Debian's `chromium`, headless, driven through
//! `chromedriver` (WebDriver on loopback) with fantoccini. Screenshots go under the test
//! output directory; axe-core is injected from `tests/sdk/node/node_modules`.
//!
//! Switched on by `LOOKOUT_TEST_BROWSER=1` (CI installs `chromium` and `chromium-driver`);
//! when switched on, a missing chromedriver or axe-core fails the test.

#![allow(dead_code)] // each browser suite uses its part of the harness

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// A headless Chromium session with its chromedriver; both end when it is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find_binary(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(var) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Where `npm ci --prefix tests/sdk/node` puts axe-core.
fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/sdk/node/node_modules/axe-core/axe.min.js")
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium; `suite` names the screenshot
    /// folder under the test output directory.
    pub async fn start(suite: &str) -> Browser {
        Self::start_with_javascript(suite, true).await
    }

    /// As [`Browser::start`], with JavaScript on or off (pages that must work without it).
    pub async fn start_with_javascript(suite: &str, javascript: bool) -> Browser {
        Self::start_with_args(suite, javascript, &[]).await
    }

    /// As [`Browser::start_with_javascript`], with more Chromium switches (e.g.
    /// `--force-dark-mode`, which makes pages see `prefers-color-scheme: dark`).
    pub async fn start_with_args(suite: &str, javascript: bool, extra: &[&str]) -> Browser {
        let driver_bin = find_binary("LOOKOUT_CHROMEDRIVER", &["chromedriver"]).expect(
            "LOOKOUT_TEST_BROWSER is set but chromedriver is not on PATH: apt-get install chromium chromium-driver (or set LOOKOUT_CHROMEDRIVER)",
        );
        let chromium = find_binary("LOOKOUT_CHROMIUM", &["chromium", "chromium-browser"])
            .expect("LOOKOUT_TEST_BROWSER is set but chromium is not on PATH: apt-get install chromium (or set LOOKOUT_CHROMIUM)");
        let port = free_port();
        // Its own process group: a test that panics before closing the session still
        // takes the browser down with the driver (see Drop).
        let driver = Command::new(&driver_bin)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_bin.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        if !javascript {
            // Page scripts off, as a visitor with JavaScript disabled has them.
            caps["goog:chromeOptions"]["args"]
                .as_array_mut()
                .expect("args")
                .push(json!("--blink-settings=scriptEnabled=false"));
        }
        caps["goog:chromeOptions"]["args"]
            .as_array_mut()
            .expect("args")
            .extend(extra.iter().map(|a| json!(a)));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session with headless chromium");
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join(suite);
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            driver,
            _profile: profile,
            shots,
        }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// The element `css` (waiting for it).
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        tokio::time::timeout(
            Duration::from_secs(15),
            self.client.wait().for_element(Locator::Css(css)),
        )
        .await
        .unwrap_or_else(|_| panic!("no {css} within 15 s"))
        .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    /// Types into the field `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap();
    }

    /// Waits until the element `css` reads `text` (case-insensitive), across the
    /// navigation a form submission starts.
    pub async fn wait_text(&self, css: &str, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = e.text().await {
                    if t.eq_ignore_ascii_case(text) {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{css} did not read {text:?} within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks `css`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Resizes the window, e.g. to a phone's 390 × 844.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("cannot resize the window to {width}x{height}: {e}"));
    }

    /// The result of the script `js` (a function body that returns a value).
    pub async fn eval(&self, js: &str) -> Value {
        self.client
            .execute(js, vec![])
            .await
            .unwrap_or_else(|e| panic!("{js}: {e}"))
    }

    /// How far the page is wider than the window (0 when nothing scrolls sideways), the
    /// window's width, and the elements that reach past its right edge (for the message).
    pub async fn horizontal_overflow(&self) -> (i64, i64, Vec<String>) {
        let v = self
            .eval(
                r#"const w = window.innerWidth;
                const past = [...document.querySelectorAll("body *")]
                  .filter(e => e.getBoundingClientRect().right > w + 1)
                  .slice(0, 8)
                  .map(e => e.tagName.toLowerCase() + (e.className ? "." + String(e.className).split(" ").join(".") : "")
                            + " (right " + Math.round(e.getBoundingClientRect().right) + ")");
                return [document.documentElement.scrollWidth - w, w, past];"#,
            )
            .await;
        (
            v[0].as_i64().expect("scrollWidth"),
            v[1].as_i64().expect("innerWidth"),
            v[2].as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect(),
        )
    }

    /// Fails when the page scrolls sideways in a window of at most `max_width` px (a
    /// phone), or when a table squeezed to fit breaks short words (a header, a count, a
    /// date) across lines: wide tables must scroll inside their own box, never widen the
    /// page or crush their columns. Saves a screenshot of the whole page as `NAME`.
    pub async fn assert_fits(&self, name: &str, max_width: i64) {
        let (over, width, past) = self.horizontal_overflow().await;
        let split = self.split_words().await;
        let shot = self.full_page_screenshot(name).await;
        let url = self.client.current_url().await.unwrap();
        assert!(
            width <= max_width,
            "{name}: the window is not phone-sized ({width} px)"
        );
        assert!(
            over <= 0,
            "{name} ({}): {url} is {over} px wider than a {width} px phone window; past its edge: {past:?}",
            shot.display()
        );
        assert!(
            split.is_empty(),
            "{name} ({}): {url} breaks these words in table cells across lines: {split:?}",
            shot.display()
        );
    }

    /// Words of table cells (up to 20 characters: long URLs and ids may wrap) that the
    /// layout broke across lines.
    pub async fn split_words(&self) -> Vec<String> {
        let v = self
            .eval(
                r#"const split = [];
                for (const cell of document.querySelectorAll("th, td")) {
                  const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
                  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
                    // Spaces and hyphens are where a line may end without breaking a word.
                    for (const m of node.data.matchAll(/[^\s-]+/g)) {
                      if (m[0].length > 20) continue;
                      const r = document.createRange();
                      r.setStart(node, m.index);
                      r.setEnd(node, m.index + m[0].length);
                      const lines = new Set([...r.getClientRects()]
                        .filter(x => x.width > 0).map(x => Math.round(x.top)));
                      if (lines.size > 1) split.push(m[0]);
                    }
                  }
                }
                return split.slice(0, 12);"#,
            )
            .await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect()
    }

    /// Saves a screenshot of the whole page, not just the window, as `NAME.png`: the
    /// window is made as tall as the page for the shot, then given its height back.
    pub async fn full_page_screenshot(&self, name: &str) -> PathBuf {
        let (w, h) = self.client.get_window_size().await.unwrap();
        let v = self
            .eval("return [window.innerHeight, document.documentElement.scrollHeight];")
            .await;
        let (inner, page) = (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0));
        let tall = (h + page.saturating_sub(inner)).min(12_000);
        let (w, h, tall) = (w as u32, h as u32, tall as u32);
        if tall > h {
            self.resize(w, tall).await;
        }
        let shot = self.screenshot(name).await;
        if tall > h {
            self.resize(w, h).await;
        }
        shot
    }

    /// Saves a screenshot as `NAME.png` in the suite's folder; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Runs axe-core on the page; returns its serious and critical violations.
    pub async fn axe(&self) -> Vec<Value> {
        let file = axe_path();
        let source = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!(
                "LOOKOUT_TEST_BROWSER is set but {} cannot be read ({e}): run `npm ci --prefix tests/sdk/node`",
                file.display()
            )
        });
        self.client
            .execute(&source, vec![])
            .await
            .expect("axe-core loads");
        let found = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, { resultTypes: ["violations"] })
                  .then(r => done(r.violations
                    .filter(v => v.impact === "serious" || v.impact === "critical")
                    .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                 nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ")) }))))
                  .catch(e => done([{ id: "axe-error", help: String(e) }]));"#,
                vec![],
            )
            .await
            .expect("axe-core runs");
        found.as_array().cloned().unwrap_or_default()
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// The processes whose command line names `needle` (this session's own profile dir).
fn processes_naming(needle: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.to_string();
            pid.chars().all(|c| c.is_ascii_digit()).then_some(())?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Chromium leaves the driver's process group; a session not closed (a test that
        // panicked) leaves it running, so its processes are found by this session's
        // profile directory, which no other browser uses.
        let profile = format!("--user-data-dir={}", self._profile.path().display());
        for pid in processes_naming(&profile) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid])
                .stderr(Stdio::null())
                .status();
        }
    }
}
