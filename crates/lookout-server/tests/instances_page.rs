//! The dashboard's Instances page with two instances on one PostgreSQL database: a row
//! for each, the duties each holds, and the banner while their configs differ.

mod common;
#[path = "../../../tests/suite_switch.rs"]
mod suite_switch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::web::{create_user, WebClient};
use common::{spawn_app_with_server, TestApp};
use lookout_core::clock::SystemClock;
use lookout_store::postgres::PostgresStore;

/// A fresh schema, dropped at the end (also by panic).
struct Schema(PostgresStore);

impl Drop for Schema {
    fn drop(&mut self) {
        if let Err(e) = self.0.drop_schema() {
            eprintln!("could not drop the test schema: {e}");
        }
    }
}

/// An instance on the shared database. Nothing here waits for a lease to run out (a
/// stopped instance leaves the fleet at once), so the lease TTL is long: alpha's leases
/// must not lapse on a busy machine, which would hand its duties to beta.
fn instance(database_url: &str, name: &str, extra: &str) -> TestApp {
    spawn_app_with_server(
        &format!("database_url = \"{database_url}\""),
        &format!("[cluster]\nlease_ttl = \"10s\"\ninstance_name = \"{name}\"\n{extra}"),
        Arc::new(SystemClock),
        tempfile::tempdir().unwrap(),
    )
}

/// The table rows of the page, each as its text between `<tr>` and `</tr>`.
fn rows(body: &str) -> Vec<String> {
    let tbody = body
        .split("<tbody>")
        .nth(1)
        .and_then(|b| b.split("</tbody>").next())
        .unwrap_or_default();
    tbody
        .split("<tr>")
        .skip(1)
        .map(|r| r.split("</tr>").next().unwrap_or_default().to_string())
        .collect()
}

fn wait_page(web: &mut WebClient, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = web.get("/instances");
        assert_eq!(page.status, 200, "{}", page.body);
        if ok(&page.body) {
            return page.body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            page.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

const BANNER: &str = "These instances run different rules, monitors or channels";

#[test]
fn the_instances_page_shows_each_instance_its_duties_and_a_config_mismatch() {
    let Some(url) = suite_switch::suite_switch(
        "LOOKOUT_TEST_POSTGRES_URL",
        "the Instances page on PostgreSQL",
    ) else {
        return;
    };
    let schema = format!("lookout_test_{}", uuid::Uuid::new_v4().simple());
    let _schema = Schema(PostgresStore::connect_in_schema(&url, &schema).unwrap());
    let separator = if url.contains('?') { '&' } else { '?' };
    let database_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");

    let alpha = instance(&database_url, "alpha", "");
    let beta = instance(
        &database_url,
        "beta",
        "[[monitors]]\nname = \"only-on-beta\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\ninterval = \"60s\"\n",
    );
    create_user(&alpha, "ops@example.com", "correct horse battery");
    let mut web = WebClient::new(&alpha);
    web.sign_in("ops@example.com", "correct horse battery");

    let body = wait_page(&mut web, "both instances and the mismatch", |b| {
        rows(b).len() == 2 && b.contains(BANNER)
    });
    let lines = rows(&body);
    let row_of = |name: &str| {
        lines
            .iter()
            .find(|r| r.contains(&format!("<td>{name}")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{body}"))
            .clone()
    };
    let (a, b) = (row_of("alpha"), row_of("beta"));
    assert!(a.contains("(this one)"), "{a}");
    assert!(!b.contains("(this one)"), "{b}");
    assert!(
        a.contains("0 monitors") && b.contains("1 monitor,"),
        "{a}\n{b}"
    );
    // Every duty is held by exactly one of them: alpha, which started first, holds them
    // all and beta stands by.
    for duty in ["alerts", "outbox", "jobs", "deploys"] {
        let holders = [&a, &b].iter().filter(|r| r.contains(duty)).count();
        assert_eq!(holders, 1, "{duty}:\n{a}\n{b}");
    }
    assert!(a.contains("alerts, deploys, jobs, outbox"), "{a}");
    assert!(b.contains("standing by"), "{b}");

    // Beta gone, the page lists alpha alone and the banner goes.
    drop(beta);
    let body = wait_page(&mut web, "beta to be gone", |b| {
        rows(b).len() == 1 && !b.contains(BANNER)
    });
    assert!(body.contains("alpha"), "{body}");
}
