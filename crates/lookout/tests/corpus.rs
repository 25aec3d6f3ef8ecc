//! Grouping on real traffic: generates the `shared/bench` corpus (real `sentry-sdk`
//! envelopes from 64 code sites and 11 message templates), replays its error events into a
//! fresh server keeping their event ids, and checks that every code site / template became
//! exactly one issue: no site split over several issues, no two sites merged into one.
//!
//! Switched on by `LOOKOUT_TEST_CORPUS=path/to/shared/bench` (relative paths are taken from
//! the repository root, so CI passes `../shared/bench`) together with
//! `LOOKOUT_TEST_PYTHON=/path/to/python` (with `sentry-sdk` and `brotli`).
//! `LOOKOUT_TEST_CORPUS_COUNT` changes the generator's iterations (default 1000, which
//! covers every site and template).

#[path = "../../../tests/sdk/checks.rs"]
mod checks;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Server;
use serde_json::Value;

const EVENT_KINDS: [&str; 4] = ["exception", "message", "log_error", "event"];

/// Message placeholders that `gen_corpus.py` fills with a word from a fixed list (and how
/// many words): `capture_message` sends only the formatted text, so nothing tells
/// `"… by client ios-app"` from `"… by client android-app"` as data. Sentry makes one
/// issue per word too; a template with one of these may split into one issue per word.
const WORD_PLACEHOLDERS: [(&str, usize); 2] = [("{client}", 3), ("{flag}", 2)];

/// How many issues a message template may legitimately make (1 for all but word-valued).
fn allowed_issues(site: &str) -> usize {
    if !site.starts_with("message:") {
        return 1;
    }
    WORD_PLACEHOLDERS
        .iter()
        .filter(|(p, _)| site.contains(p))
        .map(|(_, n)| *n)
        .product()
}

/// One replayed error event of the corpus.
struct Entry {
    event_id: String,
    /// The code site (`module.function`) or `message:`/`log:` template that raised it.
    site: String,
    /// How it was captured (wsgi / job / logging), for exceptions.
    mode: String,
}

fn load_index(corpus: &Path) -> Vec<Entry> {
    let index = std::fs::read_to_string(corpus.join("index.jsonl")).expect("read index.jsonl");
    let mut out = Vec::new();
    for line in index.lines().filter(|l| !l.trim().is_empty()) {
        let d: Value = serde_json::from_str(line).expect("index.jsonl line");
        let kind = d["kind"].as_str().unwrap_or_default();
        if !EVENT_KINDS.contains(&kind) {
            continue;
        }
        let site = d["site"]
            .as_str()
            .unwrap_or_else(|| panic!("corpus entry records no site (generator changed?): {d}"));
        out.push(Entry {
            event_id: d["event_id"].as_str().expect("event_id").replace('-', ""),
            site: site.to_string(),
            mode: d["capture_mode"].as_str().unwrap_or(kind).to_string(),
        });
    }
    out
}

#[test]
fn corpus_groups_one_issue_per_code_site_and_template() {
    let Some(bench) = common::suite_switch("LOOKOUT_TEST_CORPUS", "real-SDK corpus grouping check")
    else {
        return;
    };
    let python = std::env::var("LOOKOUT_TEST_PYTHON").unwrap_or_default();
    assert!(
        !python.is_empty(),
        "LOOKOUT_TEST_CORPUS is set but LOOKOUT_TEST_PYTHON (a python with sentry-sdk and brotli) is not"
    );
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bench = repo.join(bench); // an absolute path replaces the root
    let gen = bench.join("gen_corpus.py");
    let replay = bench.join("replay.py");
    assert!(
        gen.is_file() && replay.is_file(),
        "no gen_corpus.py / replay.py in {}",
        bench.display()
    );
    let count: usize = std::env::var("LOOKOUT_TEST_CORPUS_COUNT")
        .ok()
        .map(|v| v.parse().expect("LOOKOUT_TEST_CORPUS_COUNT is a number"))
        .unwrap_or(1000);

    // Generate in a fresh directory that is also the working directory: sentry-sdk marks
    // frames under the working directory in_app, and the generator's own frames must not be.
    let tmp = tempfile::tempdir().expect("tempdir");
    let corpus = tmp.path().join("corpus");
    checks::run_bounded(
        Command::new(&python)
            .arg(&gen)
            .args(["--count", &count.to_string(), "--out"])
            .arg(&corpus)
            .current_dir(tmp.path()),
        "gen_corpus.py",
        Duration::from_secs(120),
    );
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(corpus.join("manifest.json")).expect("manifest"),
    )
    .expect("manifest.json");
    let entries = load_index(&corpus);
    let expected: BTreeSet<&str> = entries.iter().map(|e| e.site.as_str()).collect();
    let sites = expected.iter().filter(|s| !s.contains(':')).count();
    let templates = expected.len() - sites;
    assert_eq!(
        sites as u64,
        manifest["distinct_exception_sites"].as_u64().unwrap_or(0),
        "index.jsonl and manifest.json disagree on the code sites"
    );
    assert_eq!(
        templates as u64,
        manifest["distinct_message_templates"].as_u64().unwrap_or(0)
    );
    eprintln!(
        "corpus: {} error events from {sites} code sites and {templates} message templates (sentry-sdk {})",
        entries.len(),
        manifest["sentry_sdk_version"]
    );

    // Replay the error events once each, keeping the corpus event ids so that each stored
    // event can be traced back to its code site.
    let s = Server::start_with("rate_limit_per_minute = 0\n");
    let result_path = tmp.path().join("replay.json");
    checks::run_bounded(
        Command::new(&python)
            .arg(&replay)
            .args(["--dsn", &s.local_dsn(), "--corpus"])
            .arg(&corpus)
            .args([
                "--kinds",
                "events",
                "--client",
                "python",
                "--concurrency",
                "8",
            ])
            .args([
                "--duration",
                "60",
                "--count",
                &entries.len().to_string(),
                "--no-fresh-ids",
            ])
            .arg("--json-out")
            .arg(&result_path)
            .current_dir(tmp.path()),
        "replay.py",
        Duration::from_secs(90),
    );
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(&result_path).expect("replay result"))
            .expect("replay JSON");
    assert_eq!(
        result["accepted_2xx"].as_u64(),
        Some(entries.len() as u64),
        "not every corpus event was accepted: statuses {}, socket errors {}",
        result["statuses"],
        result["socket_errors"]
    );

    // Event -> issue.
    let mut site_issues: BTreeMap<&str, BTreeMap<i64, BTreeSet<&str>>> = BTreeMap::new();
    let mut issue_sites: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
    for e in &entries {
        let path = format!("/api/v1/projects/app/events/{}", e.event_id);
        let (st, v) = s.get(&path);
        assert_eq!(
            st, 200,
            "replayed event {} ({}) is not stored: {v}",
            e.event_id, e.site
        );
        let issue = v["issue_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no issue_id: {v}"));
        site_issues
            .entry(&e.site)
            .or_default()
            .entry(issue)
            .or_default()
            .insert(&e.mode);
        issue_sites.entry(issue).or_default().insert(&e.site);
    }
    let issues = s.issues("");
    let by_id: BTreeMap<i64, &Value> = issues
        .iter()
        .map(|i| (i["id"].as_i64().expect("issue id"), i))
        .collect();
    let describe = |id: i64| -> String {
        match by_id.get(&id) {
            Some(i) => format!(
                "issue {id} (count {}) title {:?} culprit {:?} fingerprint {}",
                i["count"], i["title"], i["culprit"], i["fingerprint"]
            ),
            None => format!("issue {id} (not in the issue list)"),
        }
    };

    let mut report = String::new();
    let mut word_splits = 0;
    let mut splits = Vec::new();
    for (site, m) in &site_issues {
        if m.len() > 1 && m.len() <= allowed_issues(site) {
            word_splits += m.len() - 1;
            let _ = writeln!(
                report,
                "word-valued template {site} -> {} issues (one per word; expected)",
                m.len()
            );
        } else if m.len() > 1 {
            splits.push((site, m));
        }
    }
    let merges: Vec<_> = issue_sites.iter().filter(|(_, m)| m.len() > 1).collect();
    for (site, m) in &splits {
        let _ = writeln!(report, "SPLIT {site} -> {} issues:", m.len());
        for (id, modes) in m.iter() {
            let _ = writeln!(report, "    {} [capture modes: {modes:?}]", describe(*id));
        }
    }
    for (id, sites) in &merges {
        let _ = writeln!(report, "MERGED {} <- {sites:?}", describe(**id));
    }
    let achievable = expected.len() + word_splits;
    let summary = format!(
        "lookout made {} issues ({} distinct in the events) for {} corpus groups ({sites} code sites + {templates} templates; {achievable} counting {word_splits} unavoidable word-value splits); {} groups split, {} issues merge several groups",
        issues.len(),
        issue_sites.len(),
        expected.len(),
        splits.len(),
        merges.len()
    );
    eprintln!("{summary}\n{report}");
    assert!(
        splits.is_empty() && merges.is_empty() && issues.len() == achievable,
        "{summary}\n{report}"
    );
    let total: u64 = issues
        .iter()
        .map(|i| i["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        total,
        entries.len() as u64,
        "issue counts do not add up to the events replayed"
    );
}
