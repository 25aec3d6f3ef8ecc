//! Source maps across a fleet: two instances on one PostgreSQL database. Maps uploaded
//! with the real `sentry-cli` through instance A are used at ingest by instance B within
//! a sync round, without a restart; and an error that reached B before its maps is
//! regrouped once, by the instance holding the `jobs` duty, when they arrive through A.
//!
//! Switched on by `LOOKOUT_TEST_POSTGRES_URL` and `LOOKOUT_TEST_SENTRY_CLI=1` (after
//! `npm ci --prefix tests/sdk/cli`).

#[path = "../../../tests/sdk/checks.rs"]
mod checks;
mod common;
mod sentry_cli_support;

use std::time::{Duration, Instant};

use checks::*;
use common::{postgres_schema, Server};
use sentry_cli_support::*;

/// Instances read what others stored this often (`[cluster] sync_every`).
const SYNC: &str = "500ms";

#[test]
fn maps_uploaded_through_one_instance_map_errors_sent_to_another() {
    let Some(pg) = postgres_schema("source maps across instances") else {
        return;
    };
    let env = [("LOOKOUT_DATABASE_URL", pg.server_url.as_str())];
    let config = |name: &str| {
        format!("[cluster]\nlease_ttl = \"1500ms\"\nsync_every = \"{SYNC}\"\ninstance_name = \"{name}\"\n")
    };
    let a = Server::start_with_env(&config("alpha"), &env);
    let b = Server::start_with_env(&config("beta"), &env);
    let Some(cli) = Cli::new(&a) else { return };
    let work = tempfile::tempdir().unwrap();

    // B has started, and built its index, before anything was uploaded.
    let build_1 = work.path().join("one");
    let bundle_1 = cli.build(&build_1, "chunk-f1ee71", "/* build one */");
    cli.ok(&["sourcemaps", "inject", build_1.to_str().unwrap()], None);
    // An error of build two reaches B before build two's maps exist anywhere.
    let build_2 = work.path().join("two");
    let bundle_2 = cli.build(&build_2, "chunk-f2ee72", "/* build two, which is longer */");
    cli.ok(&["sourcemaps", "inject", build_2.to_str().unwrap()], None);
    let early = cli.run_bundle(&bundle_2, &b.local_dsn(), "1.0.2");
    let minified_issue = issue_of_event(&b, &early);
    assert!(top_frame(&event_of(&b, &early))["data"]["symbolicated"].is_null());

    // Build one's maps go up through A; an error of build one sent to B comes back mapped
    // (B is not restarted: it takes the bundle in from the store).
    cli.ok(&["sourcemaps", "upload", build_1.to_str().unwrap()], None);
    let uploaded = Instant::now();
    let mapped_issue = b.wait_for(
        "instance B to map an error through maps uploaded to A",
        Duration::from_secs(30),
        || {
            let event = cli.run_bundle(&bundle_1, &b.local_dsn(), "1.0.1");
            let top = top_frame(&event_of(&b, &event));
            if top["data"]["symbolicated"].is_null() {
                eprintln!("not mapped yet after {:?}", uploaded.elapsed());
                return None;
            }
            assert_eq!(top["filename"], "src/checkout.js", "{top}");
            assert_eq!(top["function"], "checkout", "{top}");
            assert_eq!(top["lineno"], 9, "{top}");
            assert_eq!(top["data"]["resolved_with"], "debug-id", "{top}");
            Some(issue_of_event(&b, &event))
        },
    );
    eprintln!("B mapped with A's upload {:?} after it", uploaded.elapsed());

    // Build two's maps go up through A: the early error is regrouped into the mapped
    // issue, once (its issue's count is exact, and the minified issue is merged away).
    cli.ok(&["sourcemaps", "upload", build_2.to_str().unwrap()], None);
    b.wait_for(
        "the early error to be regrouped",
        Duration::from_secs(30),
        || (issue_of_event(&b, &early) == mapped_issue).then_some(()),
    );
    let top = top_frame(&event_of(&a, &early));
    assert_eq!(top["function"], "checkout", "{top}");
    let ids: Vec<i64> = a
        .issues("")
        .iter()
        .filter_map(|i| i["id"].as_i64())
        .collect();
    assert!(
        !ids.contains(&minified_issue),
        "the minified issue is merged away: {ids:?}"
    );
    let mapped = issue(&a, mapped_issue);
    let (_, events) = a.get(&format!("/api/v1/issues/{mapped_issue}/events?limit=100"));
    let stored = events.as_array().map(Vec::len).unwrap_or_default();
    assert_eq!(
        mapped["count"].as_u64(),
        Some(stored as u64),
        "the count matches the events stored: the regroup ran once: {mapped}"
    );
    let (_, bundles) = a.get("/api/v1/projects/app/artifact-bundles");
    assert_eq!(bundles.as_array().map(Vec::len), Some(2), "{bundles}");

    // Each job ran once: a job run by both instances would have looked at every event
    // twice (its `scanned` is summed by each page applied). Whether the other instance
    // sees a job pending depends on timing here; `regroup_jobs_run_only_on_the_jobs_holder`
    // (lookout-server's `tests/sourcemaps.rs`) checks the duty without depending on it.
    use lookout_store::RegroupStore;
    let store = lookout_store::postgres::PostgresStore::connect_in_schema(&pg.url, &pg.schema)
        .expect("open the fleet's database");
    let events: u64 = a
        .issues("")
        .iter()
        .filter_map(|i| i["count"].as_u64())
        .sum();
    for id in [1, 2] {
        let job = store
            .get_regroup(id)
            .unwrap()
            .expect("a regroup job per upload");
        assert!(job.done_ms.is_some(), "{job:?}");
        assert!(
            job.scanned <= events,
            "job {id} looked at {} events of {events}: it ran on both instances",
            job.scanned
        );
    }
    assert!(store.pending_regroups().unwrap().is_empty());
}
