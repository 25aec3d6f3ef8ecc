//! The README's quick start, run as written: its commands are extracted from README.md
//! (the fenced `bash` blocks between `<!-- quick-start:begin -->` and
//! `<!-- quick-start:end -->`; the README's comment there states the convention) and run
//! in order on a fresh directory, with and without the optional `lookout init`, so the
//! README cannot drift from what works.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::spawn_until;

const README: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));

/// One command of the quick start and the output lines it must print.
#[derive(Debug, PartialEq)]
struct Step {
    command: String,
    expected: Vec<String>,
    /// From a block fenced `bash optional`.
    optional: bool,
}

/// The quick start's commands, in order.
fn steps(readme: &str) -> Vec<Step> {
    let begin = readme
        .find("<!-- quick-start:begin -->")
        .expect("the quick-start:begin marker in README.md");
    let end = readme
        .find("<!-- quick-start:end -->")
        .expect("the quick-start:end marker in README.md");
    let mut steps: Vec<Step> = Vec::new();
    let mut block: Option<bool> = None;
    let mut continued: Option<String> = None;
    for raw in readme[begin..end].lines() {
        let line = raw.trim();
        if let Some(info) = line.strip_prefix("```") {
            block = match (block, info) {
                (None, "bash") => Some(false),
                (None, "bash optional") => Some(true),
                (None, other) => {
                    panic!("a fenced block in the quick start that is not bash: {other:?}")
                }
                (Some(_), _) => None,
            };
            continue;
        }
        let Some(optional) = block else { continue };
        if let Some(expected) = line.strip_prefix("# ") {
            steps
                .last_mut()
                .expect("expected output before any command")
                .expected
                .push(expected.to_string());
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let mut command = continued.take().unwrap_or_default();
        match line.strip_suffix('\\') {
            Some(part) => {
                command.push_str(part);
                continued = Some(command);
            }
            None => {
                command.push_str(line);
                steps.push(Step {
                    command,
                    expected: Vec::new(),
                    optional,
                });
            }
        }
    }
    steps
}

/// Whether `line` matches `pattern`, where `…` stands for anything; runs of white space
/// count as one space.
fn matches(pattern: &str, line: &str) -> bool {
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let (pattern, line) = (squeeze(pattern), squeeze(line));
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return line == pattern;
    }
    if !line.starts_with(first) || line.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &line[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Checks that every expected line is printed, in order.
fn assert_printed(step: &Step, output: &str) {
    let mut lines = output.lines();
    for want in &step.expected {
        assert!(
            lines.any(|l| matches(want, l)),
            "`{}` did not print `{want}` (in order); it printed:\n{output}",
            step.command
        );
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Runs the quick start in a fresh directory; with `init`, including its optional step.
fn run_quick_start(init: bool) {
    for tool in ["curl", "jq", "bash"] {
        let found = Command::new(tool).arg("--version").output().is_ok();
        assert!(
            found,
            "the README's quick start uses {tool}: install it (e.g. apt-get install {tool})"
        );
    }
    let steps = steps(README);
    assert!(steps.iter().any(|s| s.optional), "no optional init step");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let lookout = env!("CARGO_BIN_EXE_lookout");
    // What the commands see: a loopback port of their own instead of 8080, the URL the
    // README shows, and none of the developer's lookout settings. Exports persist from
    // one command to the next through a file the shell sources.
    let state = dir.path().join(".readme-env");
    std::fs::write(&state, "").unwrap();
    let mut env: BTreeMap<&str, String> = BTreeMap::new();
    env.insert("LOOKOUT_LISTEN", format!("127.0.0.1:{port}"));
    env.insert("LOOKOUT_PUBLIC_URL", format!("http://localhost:{port}"));
    env.insert("LOOKOUT_LOG", "warn".into());
    let mut server: Option<Background> = None;
    for step in steps.iter().filter(|s| init || !s.optional) {
        let command = step
            .command
            .replace("cargo run --release --", lookout)
            .replace("./target/release/lookout", lookout)
            .replace("localhost:8080", &format!("localhost:{port}"));
        if command.trim() == "cargo build --release" {
            continue;
        }
        let expected = Step {
            command: command.clone(),
            expected: step
                .expected
                .iter()
                .map(|e| e.replace("localhost:8080", &format!("localhost:{port}")))
                .collect(),
            optional: step.optional,
        };
        if command.ends_with(" serve") {
            assert!(server.is_none(), "the quick start starts two servers");
            let (child, printed) = start_server(&command, dir.path(), &env);
            server = Some(Background(child));
            assert_printed(&expected, &printed);
            continue;
        }
        let script = format!(
            "set -eo pipefail\n. {state}\n{command}\nexport -p > {state}\n",
            state = state.display()
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .envs(&env)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "`{}` failed ({}):\n{stdout}\n{stderr}",
            step.command,
            out.status
        );
        assert_printed(&expected, &stdout);
    }
    assert!(server.is_some(), "the quick start starts the server");
}

/// The server in the background, stopped however the test ends.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` from `command` in the background and returns it with what it printed
/// up to its ready line.
fn start_server(command: &str, dir: &Path, env: &BTreeMap<&str, String>) -> (Child, String) {
    let mut words = command.split_whitespace();
    let program = words.next().unwrap();
    spawn_until(
        Command::new(program)
            .args(words)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null()),
        "Send a test error",
    )
}

#[test]
fn the_quick_start_works_as_written_without_init() {
    run_quick_start(false);
}

#[test]
fn the_quick_start_works_as_written_after_init() {
    run_quick_start(true);
}

#[test]
fn commands_and_their_output_are_read_from_the_blocks() {
    let text = "intro\n```bash\nnot in the quick start\n```\n<!-- quick-start:begin -->\n1. x\n   ```bash\n   a --flag \\\n     more\n   # out …\n   b\n   ```\n   ```bash optional\n   c\n   ```\n<!-- quick-start:end -->\n";
    assert_eq!(
        steps(text),
        [
            Step {
                command: "a --flag more".into(),
                expected: vec!["out …".into()],
                optional: false
            },
            Step {
                command: "b".into(),
                expected: vec![],
                optional: false
            },
            Step {
                command: "c".into(),
                expected: vec![],
                optional: true
            },
        ]
    );
    assert!(matches(
        "Sent event …; lookout answered 200.",
        "Sent event 5d0e; lookout answered 200."
    ));
    assert!(matches(
        "project default DSN: http://…@localhost:1/1",
        "  project default      DSN: http://ab@localhost:1/1"
    ));
    assert!(!matches("verdict: UP", "verdict: DOWN"));
    assert!(!matches("a…b…c", "a c b"));
    assert!(!matches("ab…ba", "aba"));
}
