//! One test suite, written once against `&dyn Store`, run on SQLite (temp dir) and on
//! PostgreSQL (a fresh schema per test in `LOOKOUT_TEST_POSTGRES_URL`).

use std::sync::Arc;

use lookout_core::settings::ProjectSettings;
use lookout_core::signal::SignalKind;
use lookout_store::postgres::PostgresStore;
use lookout_store::sqlite::SqliteStore;
use lookout_store::*;

#[path = "../../../tests/suite_switch.rs"]
mod suite_switch;

const HOUR: i64 = 3_600_000;

fn new_project(slug: &str) -> NewProject {
    NewProject {
        id: None,
        slug: slug.to_string(),
        name: format!("Project {slug}"),
        public_key: None,
        settings: ProjectSettings::default(),
        now_ms: 1_000,
    }
}

fn eid(n: u64) -> String {
    format!("{n:032x}")
}

fn event(project_id: i64, n: u64, fingerprint: &str, received_ms: i64) -> NewEvent {
    NewEvent {
        project_id,
        event_id: eid(n),
        timestamp_ms: received_ms - 5,
        received_ms,
        level: Level::Error,
        platform: Some("python".to_string()),
        release: None,
        environment: None,
        title: format!("ValueError: {fingerprint}"),
        culprit: format!("app.views in {fingerprint}"),
        fingerprint: fingerprint.to_string(),
        grouping_version: "v1".to_string(),
        handled: None,
        user_key: None,
        payload: vec![n as u8; 16],
    }
}

fn events_batch(events: Vec<NewEvent>) -> WriteBatch {
    WriteBatch {
        events,
        ..WriteBatch::default()
    }
}

#[path = "suite/regroup.rs"]
mod regroup_cases;
#[path = "suite/releases.rs"]
mod releases_cases;

#[path = "suite/instances.rs"]
mod instances_cases;

mod cases {
    pub use super::instances_cases::*;
    pub use super::regroup_cases::*;
    pub use super::releases_cases::*;
    use super::*;

    fn project(s: &dyn Store, slug: &str) -> i64 {
        s.create_project(&new_project(slug))
            .expect("create project")
            .id
    }

    fn issue(s: &dyn Store, id: i64) -> Issue {
        s.get_issue(id)
            .expect("get issue")
            .expect("issue exists")
            .issue
    }

    fn issues(s: &dyn Store, filter: IssueFilter) -> Vec<i64> {
        s.list_issues(&filter)
            .expect("list issues")
            .iter()
            .map(|i| i.id)
            .collect()
    }

    pub fn project_crud(s: &dyn Store) {
        assert!(s.ping().is_ok());
        let a = s.create_project(&new_project("alpha")).unwrap();
        assert_eq!(a.slug, "alpha");
        assert_eq!(a.name, "Project alpha");
        assert_eq!(a.public_key.len(), 32);
        assert!(a.public_key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.created_ms, 1_000);

        let settings = ProjectSettings {
            rate_limit_per_minute: 10,
            monthly_quota: 5_000,
            retention_days: 30,
            allowed_origins: vec!["https://example.com".to_string()],
            ..ProjectSettings::default()
        };
        let b = s
            .create_project(&NewProject {
                id: Some(42),
                public_key: Some("0123456789abcdef0123456789abcdef".to_string()),
                settings: settings.clone(),
                ..new_project("beta")
            })
            .unwrap();
        assert_eq!(b.id, 42);
        assert_eq!(b.public_key, "0123456789abcdef0123456789abcdef");
        assert_eq!(b.settings, settings);

        // Auto-assigned ids stay clear of explicit ones.
        let c = s.create_project(&new_project("gamma")).unwrap();
        assert!(c.id != a.id && c.id != 42, "id {} reused", c.id);

        let dup_slug = s.create_project(&new_project("alpha"));
        assert!(
            matches!(dup_slug, Err(StoreError::Conflict(_))),
            "{dup_slug:?}"
        );
        let dup_id = s.create_project(&NewProject {
            id: Some(42),
            ..new_project("delta")
        });
        assert!(matches!(dup_id, Err(StoreError::Conflict(_))), "{dup_id:?}");
        let dup_key = s.create_project(&NewProject {
            public_key: Some(b.public_key.clone()),
            ..new_project("epsilon")
        });
        assert!(
            matches!(dup_key, Err(StoreError::Conflict(_))),
            "{dup_key:?}"
        );

        assert_eq!(s.get_project(42).unwrap().as_ref(), Some(&b));
        assert_eq!(s.get_project(999).unwrap(), None);
        assert_eq!(s.get_project_by_slug("alpha").unwrap().as_ref(), Some(&a));
        assert_eq!(s.get_project_by_slug("nope").unwrap(), None);
        let all: Vec<i64> = s.list_projects().unwrap().iter().map(|p| p.id).collect();
        let mut sorted = vec![a.id, b.id, c.id];
        sorted.sort();
        assert_eq!(all, sorted);

        // Upsert of a known id: slug, name and settings follow; the key stays when none
        // is given.
        let up = s
            .upsert_project(&NewProject {
                id: Some(42),
                name: "Beta renamed".to_string(),
                settings: ProjectSettings::default(),
                now_ms: 9_999,
                ..new_project("beta2")
            })
            .unwrap();
        assert_eq!(up.id, 42);
        assert_eq!(up.slug, "beta2");
        assert_eq!(up.name, "Beta renamed");
        assert_eq!(up.public_key, b.public_key);
        assert_eq!(up.settings, ProjectSettings::default());
        assert_eq!(up.created_ms, 1_000);
        let up = s
            .upsert_project(&NewProject {
                id: Some(42),
                public_key: Some("ffffffffffffffffffffffffffffffff".to_string()),
                ..new_project("beta2")
            })
            .unwrap();
        assert_eq!(up.public_key, "ffffffffffffffffffffffffffffffff");

        // Upsert of an unknown id creates it.
        let d = s
            .upsert_project(&NewProject {
                id: Some(7),
                ..new_project("delta")
            })
            .unwrap();
        assert_eq!(d.id, 7);
        assert_eq!(s.get_project(7).unwrap(), Some(d));

        // Taking another project's slug is a conflict.
        let clash = s.upsert_project(&NewProject {
            id: Some(7),
            ..new_project("alpha")
        });
        assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");

        // Without an id, the slug identifies the project.
        let a2 = s
            .upsert_project(&NewProject {
                name: "Alpha 2".to_string(),
                ..new_project("alpha")
            })
            .unwrap();
        assert_eq!(a2.id, a.id);
        assert_eq!(a2.name, "Alpha 2");
        assert_eq!(a2.public_key, a.public_key);
    }

    pub fn grouping(s: &dyn Store) {
        let p = project(s, "p");
        let mut e1 = event(p, 1, "fp-a", 1_000);
        e1.level = Level::Warning;
        let mut e2 = event(p, 2, "fp-a", 2_000);
        e2.title = "ValueError: newer".into();
        let e3 = event(p, 3, "fp-b", 1_500);
        let r = s.write_batch(&events_batch(vec![e1, e2, e3])).unwrap();
        assert_eq!(r.events.len(), 3);
        let a = r.events[0].issue_id;
        assert_eq!(r.events[1].issue_id, a);
        assert_ne!(r.events[2].issue_id, a);
        assert!(r.events[0].new_issue && !r.events[1].new_issue && r.events[2].new_issue);
        assert!(r.events.iter().all(|o| !o.duplicate && !o.regressed));

        let ia = issue(s, a);
        assert_eq!(ia.count, 2);
        assert_eq!(ia.project_id, p);
        assert_eq!(ia.fingerprint, "fp-a");
        assert_eq!(ia.grouping_version, "v1");
        assert_eq!(ia.first_seen_ms, 1_000);
        assert_eq!(ia.last_seen_ms, 2_000);
        assert_eq!(ia.level.as_str(), "error", "level of the latest event");
        assert_eq!(ia.title, "ValueError: newer", "title of the latest event");
        assert_eq!(ia.platform.as_deref(), Some("python"));
        assert_eq!(ia.status, IssueStatus::Unresolved);
        assert_eq!(ia.substatus.map(Substatus::as_str), Some("new"));
        assert_eq!(issue(s, r.events[2].issue_id).count, 1);

        // A later batch joins the same issue and makes it ongoing.
        let r2 = s
            .write_batch(&events_batch(vec![event(p, 4, "fp-a", 3_000)]))
            .unwrap();
        assert_eq!(r2.events[0].issue_id, a);
        assert!(!r2.events[0].new_issue);
        let ia = issue(s, a);
        assert_eq!(ia.count, 3);
        assert_eq!(ia.last_seen_ms, 3_000);
        assert_eq!(ia.substatus.map(Substatus::as_str), Some("ongoing"));

        // Same fingerprint in another project is another issue.
        let q = project(s, "q");
        let r3 = s
            .write_batch(&events_batch(vec![event(q, 1, "fp-a", 3_000)]))
            .unwrap();
        assert_ne!(r3.events[0].issue_id, a);
        assert!(r3.events[0].new_issue);
        assert!(!r3.events[0].duplicate, "event ids are per project");
    }

    pub fn signals(s: &dyn Store) {
        let p = project(s, "p");
        let mut x1 = event(p, 1, "x", 1_000);
        x1.handled = Some(false);
        let mut x2 = event(p, 2, "x", 1_100);
        x2.handled = Some(false);
        let mut y1 = event(p, 3, "y", 1_200);
        y1.handled = Some(true);
        let r = s.write_batch(&events_batch(vec![x1, x2, y1])).unwrap();
        let (x, y) = (r.events[0].issue_id, r.events[2].issue_id);
        let kinds: Vec<(SignalKind, Option<i64>, Option<String>)> = r
            .signals
            .iter()
            .map(|s| (s.kind, s.issue_id, s.event_id.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (SignalKind::NewIssue, Some(x), Some(eid(1))),
                (SignalKind::Unhandled, Some(x), Some(eid(1))),
                (SignalKind::NewIssue, Some(y), Some(eid(3))),
            ]
        );
        assert!(r
            .signals
            .iter()
            .all(|s| s.project_id == Some(p) && s.id > 0));
        assert_eq!(r.signals[0].created_ms, 1_000);
        assert!(r.signals.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(issue(s, x).unhandled_count, 2);
        assert_eq!(issue(s, y).unhandled_count, 0);

        // A storm of unhandled events: one signal per issue and batch.
        let storm: Vec<NewEvent> = (10..60)
            .map(|n| {
                let mut e = event(p, n, "x", 2_000 + n as i64);
                e.handled = Some(false);
                e
            })
            .collect();
        let r = s.write_batch(&events_batch(storm)).unwrap();
        assert_eq!(r.signals.len(), 1);
        assert_eq!(r.signals[0].kind, SignalKind::Unhandled);
        assert_eq!(r.signals[0].event_id, Some(eid(10)));
        assert_eq!(issue(s, x).unhandled_count, 52);

        // Handled events of a known issue raise nothing.
        let r = s
            .write_batch(&events_batch(vec![event(p, 70, "y", 3_000)]))
            .unwrap();
        assert!(r.signals.is_empty());

        // Regression after resolve.
        assert!(s.set_issue_status(y, IssueStatus::Resolved, 3_500).unwrap());
        let r = s
            .write_batch(&events_batch(vec![
                event(p, 80, "y", 4_000),
                event(p, 81, "y", 4_100),
            ]))
            .unwrap();
        assert!(r.events[0].regressed && !r.events[1].regressed);
        assert!(!r.events[0].new_issue);
        assert_eq!(r.signals.len(), 1);
        assert_eq!(r.signals[0].kind, SignalKind::Regression);
        assert_eq!(r.signals[0].event_id, Some(eid(80)));
        let iy = issue(s, y);
        assert_eq!(iy.status, IssueStatus::Unresolved);
        assert_eq!(iy.substatus.map(Substatus::as_str), Some("regressed"));
        assert_eq!(iy.resolved_ms, Some(3_500));
        // Still regressed (not a second regression) on the next event.
        let r = s
            .write_batch(&events_batch(vec![event(p, 82, "y", 4_200)]))
            .unwrap();
        assert!(r.signals.is_empty() && !r.events[0].regressed);
        assert_eq!(
            issue(s, y).substatus.map(Substatus::as_str),
            Some("regressed")
        );
    }

    pub fn ignored_issues_are_silent(s: &dyn Store) {
        let p = project(s, "p");
        let r = s
            .write_batch(&events_batch(vec![event(p, 1, "x", 1_000)]))
            .unwrap();
        let x = r.events[0].issue_id;
        assert!(s.set_issue_status(x, IssueStatus::Ignored, 1_500).unwrap());
        let mut e = event(p, 2, "x", 2_000);
        e.handled = Some(false);
        let r = s.write_batch(&events_batch(vec![e])).unwrap();
        assert!(r.signals.is_empty(), "{:?}", r.signals);
        assert!(!r.events[0].regressed && !r.events[0].new_issue);
        let ix = issue(s, x);
        assert_eq!(ix.status, IssueStatus::Ignored);
        assert_eq!(ix.count, 2);
        assert_eq!(ix.unhandled_count, 1);
    }

    pub fn duplicates(s: &dyn Store) {
        let p = project(s, "p");
        let r = s
            .write_batch(&events_batch(vec![
                event(p, 1, "x", 1_000),
                event(p, 1, "x", 1_001),
                event(p, 2, "x", 1_002),
            ]))
            .unwrap();
        let x = r.events[0].issue_id;
        assert!(!r.events[0].duplicate);
        assert!(r.events[1].duplicate);
        assert_eq!(r.events[1].issue_id, x);
        assert!(!r.events[1].new_issue);
        assert!(!r.events[2].duplicate);
        assert_eq!(issue(s, x).count, 2);

        // Across batches, even with another fingerprint: the stored original wins.
        let r = s
            .write_batch(&events_batch(vec![
                event(p, 1, "other", 2_000),
                event(p, 3, "x", 2_001),
            ]))
            .unwrap();
        assert!(r.events[0].duplicate);
        assert_eq!(r.events[0].issue_id, x);
        assert!(!r.events[1].duplicate);
        assert!(r.signals.is_empty(), "no signal for a duplicate");
        assert_eq!(issue(s, x).count, 3);
        assert_eq!(s.list_events(x, 100, None).unwrap().len(), 3);
        let others = issues(
            s,
            IssueFilter {
                project_id: p,
                ..IssueFilter::default()
            },
        );
        assert_eq!(others, vec![x], "a duplicate creates no issue");

        // A batch of only duplicates.
        let r = s
            .write_batch(&events_batch(vec![event(p, 2, "x", 3_000)]))
            .unwrap();
        assert!(r.events[0].duplicate);
        assert_eq!(issue(s, x).count, 3);
    }

    pub fn users_and_values(s: &dyn Store) {
        let p = project(s, "p");
        let mk = |n: u64, ms: i64, user: Option<&str>, release: Option<&str>, env: &str| {
            let mut e = event(p, n, "x", ms);
            e.user_key = user.map(str::to_string);
            e.release = release.map(str::to_string);
            e.environment = Some(env.to_string());
            e
        };
        let r = s
            .write_batch(&events_batch(vec![
                mk(1, 1_000, Some("u1"), Some("1.0"), "production"),
                mk(2, 1_100, Some("u2"), Some("1.0"), "production"),
                mk(3, 1_200, Some("u1"), None, "staging"),
                mk(4, 1_300, None, Some("1.0"), "production"),
            ]))
            .unwrap();
        let x = r.events[0].issue_id;
        assert_eq!(issue(s, x).user_count, 2);
        let r = s
            .write_batch(&events_batch(vec![
                mk(5, 2_000, Some("u2"), Some("1.1"), "production"),
                mk(6, 2_100, Some("u3"), Some("1.1"), "production"),
            ]))
            .unwrap();
        assert_eq!(r.events[0].issue_id, x);
        let d = s.get_issue(x).unwrap().unwrap();
        assert_eq!(d.issue.user_count, 3);
        assert_eq!(d.issue.first_release.as_deref(), Some("1.0"));
        assert_eq!(d.issue.last_release.as_deref(), Some("1.1"));
        let rel: Vec<(&str, u64, i64, i64)> = d
            .releases
            .iter()
            .map(|v| (v.value.as_str(), v.count, v.first_seen_ms, v.last_seen_ms))
            .collect();
        assert_eq!(
            rel,
            vec![("1.1", 2, 2_000, 2_100), ("1.0", 3, 1_000, 1_300)]
        );
        let env: Vec<(&str, u64)> = d
            .environments
            .iter()
            .map(|v| (v.value.as_str(), v.count))
            .collect();
        assert_eq!(env, vec![("production", 5), ("staging", 1)]);
        assert_eq!(s.get_issue(999_999).unwrap(), None);
    }

    pub fn list_issues(s: &dyn Store) {
        let p = project(s, "p");
        let other = project(s, "other");
        let mut batch = Vec::new();
        // a: 3 events, error, release 1.0/production, first seen 1000, last seen 1200
        for (n, ms) in [(1, 1_000), (2, 1_100), (3, 1_200)] {
            let mut e = event(p, n, "a", ms);
            e.title = "ZeroDivisionError: division by zero".into();
            e.culprit = "billing.compute in total".into();
            e.release = Some("1.0".into());
            e.environment = Some("production".into());
            batch.push(e);
        }
        // b: 1 event, warning, release 2.0/staging, first seen 1500 (newest)
        let mut e = event(p, 4, "b", 1_500);
        e.level = Level::Warning;
        e.title = "Disk 100% full".into();
        e.culprit = "storage.check".into();
        e.release = Some("2.0".into());
        e.environment = Some("staging".into());
        batch.push(e);
        // c: 2 events, error, no release, first seen 900, last seen 2000 (latest)
        for (n, ms) in [(5, 900), (6, 2_000)] {
            let mut e = event(p, n, "c", ms);
            e.title = "KeyError: 'user_id'".into();
            e.culprit = "auth.Login".into();
            batch.push(e);
        }
        batch.push(event(other, 1, "a", 5_000));
        let r = s.write_batch(&events_batch(batch)).unwrap();
        let (a, b, c) = (
            r.events[0].issue_id,
            r.events[3].issue_id,
            r.events[4].issue_id,
        );
        let f = |filter: IssueFilter| IssueFilter {
            project_id: p,
            ..filter
        };

        assert_eq!(issues(s, f(IssueFilter::default())), vec![c, b, a]);
        assert_eq!(
            issues(
                s,
                f(IssueFilter {
                    sort: IssueSort::FirstSeen,
                    ..Default::default()
                })
            ),
            vec![b, a, c]
        );
        assert_eq!(
            issues(
                s,
                f(IssueFilter {
                    sort: IssueSort::Count,
                    ..Default::default()
                })
            ),
            vec![a, c, b]
        );
        let page = |limit, offset| {
            issues(
                s,
                f(IssueFilter {
                    limit,
                    offset,
                    ..Default::default()
                }),
            )
        };
        assert_eq!(page(2, 0), vec![c, b]);
        assert_eq!(page(2, 2), vec![a]);
        assert_eq!(page(2, 4), Vec::<i64>::new());
        assert_eq!(page(0, 0).len(), 3, "0 means the default page size");
        assert_eq!(page(5000, 0).len(), 3);

        let level = issues(
            s,
            f(IssueFilter {
                level: Some(Level::Warning),
                ..Default::default()
            }),
        );
        assert_eq!(level, vec![b]);
        let release = issues(
            s,
            f(IssueFilter {
                release: Some("1.0".into()),
                ..Default::default()
            }),
        );
        assert_eq!(release, vec![a]);
        let env = issues(
            s,
            f(IssueFilter {
                environment: Some("staging".into()),
                ..Default::default()
            }),
        );
        assert_eq!(env, vec![b]);
        let both = issues(
            s,
            f(IssueFilter {
                release: Some("1.0".into()),
                environment: Some("staging".into()),
                ..Default::default()
            }),
        );
        assert!(both.is_empty());
        let text = |t: &str| {
            issues(
                s,
                f(IssueFilter {
                    text: Some(t.into()),
                    ..Default::default()
                }),
            )
        };
        assert_eq!(
            text("zerodivision"),
            vec![a],
            "case-insensitive title match"
        );
        assert_eq!(text("AUTH.login"), vec![c], "culprit match");
        assert_eq!(text("100%"), vec![b], "% is literal");
        assert!(text("1_0%").is_empty(), "_ is literal");
        assert!(text("nothing like it").is_empty());
        assert_eq!(text("").len(), 3);

        assert!(s.set_issue_status(b, IssueStatus::Resolved, 3_000).unwrap());
        let status = |st| {
            issues(
                s,
                f(IssueFilter {
                    status: Some(st),
                    ..Default::default()
                }),
            )
        };
        assert_eq!(status(IssueStatus::Resolved), vec![b]);
        assert_eq!(status(IssueStatus::Unresolved), vec![c, a]);
        assert!(status(IssueStatus::Ignored).is_empty());
        let combined = issues(
            s,
            f(IssueFilter {
                status: Some(IssueStatus::Unresolved),
                level: Some(Level::Error),
                text: Some("error".into()),
                sort: IssueSort::Count,
                ..Default::default()
            }),
        );
        assert_eq!(combined, vec![a, c]);
    }

    pub fn events(s: &dyn Store) {
        let p = project(s, "p");
        let batch: Vec<NewEvent> = (1..=5)
            .map(|n| {
                let mut e = event(p, n, "x", 1_000 + n as i64);
                e.release = Some("1.0".into());
                e.environment = Some("production".into());
                e
            })
            .collect();
        let r = s.write_batch(&events_batch(batch)).unwrap();
        let x = r.events[0].issue_id;

        let e3 = s.get_event(p, &eid(3)).unwrap().expect("event 3");
        assert_eq!(e3.project_id, p);
        assert_eq!(e3.issue_id, x);
        assert_eq!(e3.event_id, eid(3));
        assert_eq!(e3.timestamp_ms, 998);
        assert_eq!(e3.received_ms, 1_003);
        assert_eq!(e3.level.as_str(), "error");
        assert_eq!(e3.release.as_deref(), Some("1.0"));
        assert_eq!(e3.environment.as_deref(), Some("production"));
        assert_eq!(e3.title, "ValueError: x");
        assert_eq!(e3.payload, vec![3u8; 16]);
        assert_eq!(s.get_event(p, &eid(99)).unwrap(), None);
        assert_eq!(s.get_event(p + 1000, &eid(3)).unwrap(), None);

        let latest = s.latest_event(x).unwrap().expect("latest");
        assert_eq!(latest.event_id, eid(5));
        assert_eq!(s.latest_event(999_999).unwrap(), None);

        let page1 = s.list_events(x, 2, None).unwrap();
        let ids: Vec<String> = page1.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(ids, vec![eid(5), eid(4)]);
        let page2 = s.list_events(x, 2, Some(page1[1].id)).unwrap();
        let ids: Vec<String> = page2.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(ids, vec![eid(3), eid(2)]);
        let page3 = s.list_events(x, 2, Some(page2[1].id)).unwrap();
        assert_eq!(page3.len(), 1);
        assert_eq!(s.list_events(x, 0, None).unwrap().len(), 5);
    }

    pub fn issue_status(s: &dyn Store) {
        let p = project(s, "p");
        let r = s
            .write_batch(&events_batch(vec![event(p, 1, "x", 1_000)]))
            .unwrap();
        let x = r.events[0].issue_id;
        assert!(!s
            .set_issue_status(999_999, IssueStatus::Resolved, 1)
            .unwrap());
        assert!(s.set_issue_status(x, IssueStatus::Resolved, 2_000).unwrap());
        let i = issue(s, x);
        assert_eq!(i.status, IssueStatus::Resolved);
        assert_eq!(i.substatus, None);
        assert_eq!(i.resolved_ms, Some(2_000));
        assert!(s
            .set_issue_status(x, IssueStatus::Unresolved, 3_000)
            .unwrap());
        let i = issue(s, x);
        assert_eq!(i.status, IssueStatus::Unresolved);
        assert_eq!(i.substatus.map(Substatus::as_str), Some("ongoing"));
        // Resolving again, then an event: regression.
        assert!(s.set_issue_status(x, IssueStatus::Resolved, 4_000).unwrap());
        let r = s
            .write_batch(&events_batch(vec![event(p, 2, "x", 5_000)]))
            .unwrap();
        assert!(r.events[0].regressed);
        assert_eq!(issue(s, x).status, IssueStatus::Unresolved);
    }

    pub fn retention(s: &dyn Store) {
        let p = project(s, "p");
        let q = project(s, "q");
        let r = s
            .write_batch(&WriteBatch {
                events: vec![
                    event(p, 1, "x", 1_000),
                    event(p, 2, "x", 2_000),
                    event(p, 3, "x", 3_000),
                    event(q, 1, "x", 1_000),
                ],
                attachments: vec![
                    attachment(p, 1, "old.txt", 1_000),
                    attachment(p, 3, "new.txt", 3_000),
                ],
                ..WriteBatch::default()
            })
            .unwrap();
        let x = r.events[0].issue_id;
        assert_eq!(s.delete_events_before(p, 2_500).unwrap(), 2);
        assert_eq!(s.get_event(p, &eid(1)).unwrap(), None);
        assert!(s.get_event(p, &eid(3)).unwrap().is_some());
        assert!(
            s.get_event(q, &eid(1)).unwrap().is_some(),
            "other project kept"
        );
        assert!(s.list_attachments(p, &eid(1)).unwrap().is_empty());
        assert_eq!(s.list_attachments(p, &eid(3)).unwrap().len(), 1);
        let i = issue(s, x);
        assert_eq!(i.count, 3, "issues keep their counts");
        assert_eq!(s.list_events(x, 100, None).unwrap().len(), 1);
        assert_eq!(s.delete_events_before(p, 2_500).unwrap(), 0);
    }

    pub fn stored_rules(s: &dyn Store) {
        let rule = |name: &str, at: i64| StoredRule {
            name: name.to_string(),
            spec: serde_json::json!({"name": name, "when": "new issue", "severity": "low"}),
            created_ms: at,
        };
        s.create_rule(&rule("b", 2)).unwrap();
        s.create_rule(&rule("a", 3)).unwrap();
        assert!(matches!(
            s.create_rule(&rule("b", 4)),
            Err(StoreError::Conflict(_))
        ));
        let listed = s.list_rules().unwrap();
        assert_eq!(listed, vec![rule("b", 2), rule("a", 3)]);
        assert!(s.delete_rule("b").unwrap());
        assert!(!s.delete_rule("b").unwrap());
        assert_eq!(s.list_rules().unwrap(), vec![rule("a", 3)]);
    }

    pub fn payload_dicts(s: &dyn Store) {
        let p = project(s, "p");
        let dict = |id: u32, at: i64| PayloadDict {
            id,
            project_id: p,
            created_ms: at,
            samples: 1000,
            // Bytes that are not UTF-8 and hold a NUL: stored as a blob, not text.
            dict: vec![0x37, 0xa4, 0x30, 0xec, 0, 0xff, id as u8],
        };
        assert!(s.payload_dicts().unwrap().is_empty());
        assert_eq!(s.payload_dict_count().unwrap(), 0);
        // zstd ids use all 32 bits.
        s.save_payload_dict(&dict(u32::MAX, 20)).unwrap();
        s.save_payload_dict(&dict(7, 10)).unwrap();
        assert!(matches!(
            s.save_payload_dict(&dict(7, 30)),
            Err(StoreError::Conflict(_))
        ));
        // What instances that do not train compare before reading them all again.
        assert_eq!(s.payload_dict_count().unwrap(), 2);
        assert_eq!(
            s.payload_dicts().unwrap(),
            vec![dict(7, 10), dict(u32::MAX, 20)]
        );
    }

    pub fn count_events(s: &dyn Store) {
        let p = project(s, "p");
        let q = project(s, "q");
        let mut warning = event(p, 4, "w", 2_000);
        warning.level = Level::Warning;
        let mut prod = event(p, 5, "x", 2_500);
        prod.environment = Some("production".into());
        prod.release = Some("web@2".into());
        let mut fatal = event(p, 6, "y", 2_600);
        fatal.level = Level::Fatal;
        s.write_batch(&events_batch(vec![
            event(p, 1, "x", 1_000),
            event(p, 2, "x", 2_000),
            event(p, 3, "x", 3_000),
            warning,
            prod,
            fatal,
            event(q, 1, "x", 2_000),
        ]))
        .unwrap();
        let errors = EventCountFilter::default();
        // [from, to): 1_000 and 3_000 are the edges.
        assert_eq!(s.count_events(p, 1_000, 3_000, &errors).unwrap(), 4);
        assert_eq!(s.count_events(p, 1_001, 3_001, &errors).unwrap(), 4);
        assert_eq!(s.count_events(p, 0, 10_000, &errors).unwrap(), 5);
        assert_eq!(s.count_events(q, 0, 10_000, &errors).unwrap(), 1);
        let all = EventCountFilter {
            levels: vec![Level::Error, Level::Fatal, Level::Warning],
            ..EventCountFilter::default()
        };
        assert_eq!(s.count_events(p, 0, 10_000, &all).unwrap(), 6);
        let production = EventCountFilter {
            environment: Some("production".into()),
            ..EventCountFilter::default()
        };
        assert_eq!(s.count_events(p, 0, 10_000, &production).unwrap(), 1);
        let release = EventCountFilter {
            release: Some("web@1".into()),
            ..EventCountFilter::default()
        };
        assert_eq!(s.count_events(p, 0, 10_000, &release).unwrap(), 0);
    }

    /// Error counts per hour in one query, the same as counting each hour.
    pub fn count_events_by_hour(s: &dyn Store) {
        let p = project(s, "hourly");
        let t = 500 * HOUR;
        let events: Vec<NewEvent> = (0..30u64)
            .map(|i| {
                event(
                    p,
                    9_000 + i,
                    &format!("f{}", i % 3),
                    t + i as i64 * 10 * 60_000,
                )
            })
            .collect();
        s.write_batch(&events_batch(events)).unwrap();
        let f = EventCountFilter::default();
        let got = s
            .count_events_by_hour(p, t + 30 * 60_000, t + 5 * HOUR, &f)
            .unwrap();
        let mut want = Vec::new();
        for h in 0..5 {
            let from = (t + h * HOUR).max(t + 30 * 60_000);
            let n = s.count_events(p, from, t + (h + 1) * HOUR, &f).unwrap();
            if n > 0 {
                want.push((t + h * HOUR, n));
            }
        }
        assert_eq!(got, want);
        assert_eq!(got[0], (t, 3), "the first hour from the range's start only");
        // A range cut inside its last hour, and one inside a single hour.
        let cut = s
            .count_events_by_hour(p, t, t + 2 * HOUR + 25 * 60_000, &f)
            .unwrap();
        assert_eq!(cut, vec![(t, 6), (t + HOUR, 6), (t + 2 * HOUR, 3)]);
        let inside = s
            .count_events_by_hour(p, t + HOUR + 5 * 60_000, t + HOUR + 35 * 60_000, &f)
            .unwrap();
        assert_eq!(inside, vec![(t + HOUR, 3)]);

        // Repeats are not counted twice; environment and release filter the counts.
        let mut more: Vec<NewEvent> = (0..4u64)
            .map(|i| event(p, 9_100 + i, "f0", t + 6 * HOUR + i as i64))
            .collect();
        more[0].environment = Some("production".into());
        more[1].environment = Some("production".into());
        more[1].release = Some("web@2".into());
        s.write_batch(&events_batch(more.clone())).unwrap();
        s.write_batch(&events_batch(more)).unwrap();
        let hour7 = |filter: &EventCountFilter| {
            s.count_events_by_hour(p, t + 6 * HOUR, t + 7 * HOUR, filter)
                .unwrap()
        };
        assert_eq!(hour7(&f), vec![(t + 6 * HOUR, 4)]);
        let production = EventCountFilter {
            environment: Some("production".into()),
            ..f.clone()
        };
        assert_eq!(hour7(&production), vec![(t + 6 * HOUR, 2)]);
        let release = EventCountFilter {
            release: Some("web@2".into()),
            ..f.clone()
        };
        assert_eq!(hour7(&release), vec![(t + 6 * HOUR, 1)]);

        // Whole hours keep their counts after the events themselves are deleted.
        s.delete_events_before(p, t + 7 * HOUR).unwrap();
        assert_eq!(s.count_events(p, t, t + 7 * HOUR, &f).unwrap(), 0);
        let kept = s.count_events_by_hour(p, t, t + 7 * HOUR, &f).unwrap();
        assert_eq!(kept.iter().map(|(_, n)| n).sum::<u64>(), 34, "{kept:?}");
        assert!(s
            .count_events_by_hour(
                p,
                t,
                t + 5 * HOUR,
                &EventCountFilter {
                    levels: vec![Level::Fatal],
                    ..f
                }
            )
            .unwrap()
            .is_empty());
    }

    fn attachment(project_id: i64, n: u64, filename: &str, received_ms: i64) -> AttachmentRow {
        AttachmentRow {
            project_id,
            event_id: eid(n),
            filename: filename.to_string(),
            content_type: Some("text/plain".to_string()),
            attachment_type: Some("event.attachment".to_string()),
            data: filename.as_bytes().to_vec(),
            size: filename.len() as u64,
            received_ms,
        }
    }

    fn outcome(p: i64, bucket: i64, outcome: &str, category: &str, q: u64) -> OutcomeIncrement {
        OutcomeIncrement {
            project_id: p,
            bucket_ms: bucket,
            outcome: outcome.to_string(),
            category: category.to_string(),
            reason: String::new(),
            quantity: q,
        }
    }

    pub fn outcomes(s: &dyn Store) {
        let p = project(s, "p");
        let write = |outcomes: Vec<OutcomeIncrement>| {
            s.write_batch(&WriteBatch {
                outcomes,
                ..WriteBatch::default()
            })
            .unwrap()
        };
        write(vec![
            outcome(p, 0, "accepted", "error", 10),
            outcome(p, HOUR, "accepted", "error", 5),
            outcome(p, HOUR, "rate_limited", "error", 2),
        ]);
        write(vec![
            outcome(p, HOUR, "accepted", "error", 7),
            outcome(p, HOUR, "accepted", "transaction", 3),
            OutcomeIncrement {
                reason: "queue_overflow".into(),
                ..outcome(p, HOUR, "client_discard", "error", 4)
            },
            outcome(p + 1000, HOUR, "accepted", "error", 100),
        ]);
        assert_eq!(s.outcome_total(p, "error", "accepted", 0).unwrap(), 22);
        assert_eq!(s.outcome_total(p, "error", "accepted", HOUR).unwrap(), 12);
        assert_eq!(s.outcome_total(p, "error", "quota", 0).unwrap(), 0);
        let summary: Vec<(String, String, String, u64)> = s
            .outcome_summary(p, HOUR)
            .unwrap()
            .into_iter()
            .map(|o| (o.outcome, o.category, o.reason, o.quantity))
            .collect();
        let row = |o: &str, c: &str, r: &str, q| (o.to_string(), c.to_string(), r.to_string(), q);
        assert_eq!(
            summary,
            vec![
                row("accepted", "error", "", 12),
                row("accepted", "transaction", "", 3),
                row("client_discard", "error", "queue_overflow", 4),
                row("rate_limited", "error", "", 2),
            ]
        );
    }

    fn sessions(
        p: i64,
        release: &str,
        bucket: i64,
        h: u64,
        e: u64,
        c: u64,
        a: u64,
    ) -> SessionCounts {
        SessionCounts {
            project_id: p,
            release: release.to_string(),
            environment: "production".to_string(),
            bucket_ms: bucket,
            healthy: h,
            errored: e,
            crashed: c,
            abnormal: a,
        }
    }

    pub fn release_health(s: &dyn Store) {
        let p = project(s, "p");
        for batch in [
            vec![
                sessions(p, "1.0", HOUR, 5, 1, 0, 0),
                sessions(p, "2.0", HOUR, 1, 0, 1, 1),
            ],
            vec![
                sessions(p, "1.0", HOUR, 3, 0, 1, 0),
                sessions(p, "0.9", 0, 10, 0, 10, 0),
            ],
        ] {
            s.write_batch(&WriteBatch {
                sessions: batch,
                ..WriteBatch::default()
            })
            .unwrap();
        }
        let health = s.release_health(p, HOUR).unwrap();
        assert_eq!(
            health,
            vec![
                ReleaseHealth {
                    release: "1.0".into(),
                    environment: "production".into(),
                    sessions: 10,
                    crashed: 1,
                    errored: 1,
                    abnormal: 0,
                    crash_free_rate: 90.0,
                },
                ReleaseHealth {
                    release: "2.0".into(),
                    environment: "production".into(),
                    sessions: 3,
                    crashed: 1,
                    errored: 0,
                    abnormal: 1,
                    crash_free_rate: 66.67,
                },
            ]
        );
        let all = s.release_health(p, 0).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].release, "0.9");
        assert_eq!(all[0].crash_free_rate, 50.0);
        assert!(s.release_health(p + 1000, 0).unwrap().is_empty());
    }

    pub fn transactions(s: &dyn Store) {
        let p = project(s, "p");
        let tx = |n: u64, start: i64| TransactionRow {
            project_id: p,
            event_id: eid(n),
            name: format!("GET /items/{n}"),
            op: Some("http.server".into()),
            status: Some("ok".into()),
            start_ms: start,
            duration_ms: 12.5 * n as f64,
            release: Some("1.0".into()),
            environment: None,
        };
        s.write_batch(&WriteBatch {
            transactions: vec![tx(1, 1_000), tx(2, 3_000), tx(3, 2_000), tx(1, 1_000)],
            ..WriteBatch::default()
        })
        .unwrap();
        s.write_batch(&WriteBatch {
            transactions: vec![tx(2, 3_000)],
            ..WriteBatch::default()
        })
        .unwrap();
        let rows = s.list_transactions(p, 0, 100).unwrap();
        let names: Vec<&str> = rows.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["GET /items/2", "GET /items/3", "GET /items/1"]);
        assert_eq!(rows[0], tx(2, 3_000));
        assert_eq!(s.list_transactions(p, 1_500, 100).unwrap().len(), 2);
        assert_eq!(s.list_transactions(p, 0, 1).unwrap().len(), 1);
        assert!(s.list_transactions(p + 1000, 0, 10).unwrap().is_empty());
    }

    pub fn check_ins(s: &dyn Store) {
        let p = project(s, "p");
        let ci = |n: u64, status: &str, ms: i64| CheckInRow {
            project_id: p,
            check_in_id: eid(n),
            monitor_slug: "nightly-backup".into(),
            status: status.parse().expect("a check-in status"),
            duration_s: (status != "in_progress").then_some(1.5),
            environment: Some("production".into()),
            monitor_config: Some(r#"{"schedule":{"type":"crontab","value":"0 3 * * *"}}"#.into()),
            received_ms: ms,
        };
        s.write_batch(&WriteBatch {
            check_ins: vec![
                ci(1, "in_progress", 1_000),
                ci(1, "ok", 2_000),
                ci(2, "error", 3_000),
            ],
            ..WriteBatch::default()
        })
        .unwrap();
        let rows = s.list_check_ins(p, 100).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], ci(2, "error", 3_000));
        assert_eq!(rows[2], ci(1, "in_progress", 1_000));
        assert_eq!(s.list_check_ins(p, 2).unwrap().len(), 2);
    }

    pub fn attachments(s: &dyn Store) {
        let p = project(s, "p");
        let mut big = attachment(p, 1, "core.dmp", 1_000);
        big.data = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        big.size = big.data.len() as u64;
        big.content_type = None;
        big.attachment_type = None;
        s.write_batch(&WriteBatch {
            events: vec![event(p, 1, "x", 1_000)],
            attachments: vec![attachment(p, 1, "log.txt", 1_000), big.clone()],
            ..WriteBatch::default()
        })
        .unwrap();
        let rows = s.list_attachments(p, &eid(1)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], attachment(p, 1, "log.txt", 1_000));
        assert_eq!(rows[1], big);
        assert!(s.list_attachments(p, &eid(2)).unwrap().is_empty());
    }

    pub fn signals_after(s: &dyn Store) {
        let p = project(s, "p");
        assert!(s.signals_after(0, 100).unwrap().is_empty());
        let mut all = Vec::new();
        for round in 0..3u64 {
            let r = s
                .write_batch(&events_batch(vec![
                    event(p, round * 10 + 1, &format!("fp{round}a"), 1_000),
                    event(p, round * 10 + 2, &format!("fp{round}b"), 1_000),
                ]))
                .unwrap();
            all.extend(r.signals);
        }
        assert_eq!(all.len(), 6);
        let stored = s.signals_after(0, 100).unwrap();
        assert_eq!(stored, all);
        assert!(stored.windows(2).all(|w| w[0].id < w[1].id));
        let tail = s.signals_after(all[2].id, 100).unwrap();
        assert_eq!(tail, all[3..].to_vec());
        let limited = s.signals_after(all[0].id, 2).unwrap();
        assert_eq!(limited, all[1..3].to_vec());
        assert!(s.signals_after(all[5].id, 100).unwrap().is_empty());
    }

    // --- monitors ---

    fn new_monitor(name: &str, project_id: Option<i64>) -> NewMonitor {
        NewMonitor {
            name: name.to_string(),
            kind: MonitorKind::Http,
            spec: serde_json::json!({
                "url": format!("https://{name}.example.com/health"),
                "interval": "60s",
                "expect": {"status": [200, 204], "keyword": null},
            }),
            source: MonitorSource::Api,
            project_id,
            token: None,
            slug: None,
            now_ms: 1_000,
        }
    }

    fn monitor(s: &dyn Store, name: &str) -> i64 {
        s.create_monitor(&new_monitor(name, None))
            .expect("create monitor")
            .id
    }

    fn result(monitor_id: i64, at_ms: i64, latency_ms: Option<u32>) -> CheckRecord {
        CheckRecord {
            monitor_id,
            at_ms,
            latency_ms,
            outcome: CheckOutcome::Up,
            maintenance: false,
            error: None,
            figures: Default::default(),
        }
    }

    fn down(monitor_id: i64, at_ms: i64, error: &str) -> CheckRecord {
        CheckRecord {
            outcome: CheckOutcome::Down,
            error: Some(error.to_string()),
            ..result(monitor_id, at_ms, None)
        }
    }

    fn write_results(s: &dyn Store, results: Vec<CheckRecord>) {
        s.write_checks(&CheckBatch {
            results,
            ..CheckBatch::default()
        })
        .expect("write results");
    }

    fn write_outages(s: &dyn Store, outages: Vec<OutageChange>) {
        s.write_checks(&CheckBatch {
            outages,
            ..CheckBatch::default()
        })
        .expect("write outages");
    }

    fn open(monitor_id: i64, start_ms: i64, cause: &str) -> OutageChange {
        OutageChange::Open {
            monitor_id,
            start_ms,
            cause: cause.to_string(),
        }
    }

    fn close(monitor_id: i64, end_ms: i64) -> OutageChange {
        OutageChange::Close { monitor_id, end_ms }
    }

    fn conflict_message<T: std::fmt::Debug>(r: Result<T>) -> String {
        match r {
            Err(StoreError::Conflict(msg)) => msg,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    fn down_status(at_ms: i64) -> MonitorStatus {
        MonitorStatus {
            state: lookout_core::monitor::State::Down,
            last_check_ms: Some(at_ms),
            last_latency_ms: Some(1_234),
            last_error: Some("connection refused".to_string()),
            down_since_ms: Some(at_ms - 60_000),
            tls_expires_ms: Some(9_000_000),
            tls_warned_days: Some(14),
            running_since_ms: None,
        }
    }

    pub fn monitor_crud(s: &dyn Store) {
        let p = project(s, "p");
        let q = project(s, "q");
        let a = s.create_monitor(&new_monitor("api", Some(p))).unwrap();
        assert!(a.id > 0);
        assert_eq!(a.name, "api");
        assert_eq!(a.kind.as_str(), "http");
        assert_eq!(a.spec, new_monitor("api", Some(p)).spec);
        assert_eq!(a.source, MonitorSource::Api);
        assert_eq!(a.project_id, Some(p));
        assert_eq!((a.token.as_deref(), a.slug.as_deref()), (None, None));
        assert!(!a.paused);
        assert_eq!((a.created_ms, a.updated_ms), (1_000, 1_000));
        assert_eq!(a.status, MonitorStatus::default());
        assert_eq!(s.get_monitor(a.id).unwrap().as_ref(), Some(&a));
        assert_eq!(s.get_monitor(a.id + 1_000).unwrap(), None);

        // Names are unique per project, and among monitors without one.
        let msg = conflict_message(s.create_monitor(&new_monitor("api", Some(p))));
        assert!(msg.contains("\"api\"") && msg.contains("name"), "{msg}");
        let in_q = s.create_monitor(&new_monitor("api", Some(q))).unwrap();
        let global = s.create_monitor(&new_monitor("api", None)).unwrap();
        let msg = conflict_message(s.create_monitor(&new_monitor("api", None)));
        assert!(msg.contains("without a project"), "{msg}");

        // Tokens are unique everywhere; slugs within a project.
        let heartbeat = |name: &str, project: Option<i64>, token: &str, slug: &str| NewMonitor {
            kind: MonitorKind::Heartbeat,
            spec: serde_json::json!({"grace": "5m"}),
            source: MonitorSource::CheckIn,
            token: Some(token.to_string()),
            slug: Some(slug.to_string()),
            ..new_monitor(name, project)
        };
        let hb = s
            .create_monitor(&heartbeat("backup", Some(p), "tok-1", "nightly"))
            .unwrap();
        assert_eq!(hb.source, MonitorSource::CheckIn);
        let msg = conflict_message(s.create_monitor(&heartbeat("other", Some(q), "tok-1", "x")));
        assert!(msg.contains("token"), "{msg}");
        let msg =
            conflict_message(s.create_monitor(&heartbeat("other", Some(p), "tok-2", "nightly")));
        assert!(msg.contains("slug") && msg.contains("nightly"), "{msg}");
        let hb_q = s
            .create_monitor(&heartbeat("backup", Some(q), "tok-2", "nightly"))
            .unwrap();

        assert_eq!(s.get_monitor_by_token("tok-1").unwrap().as_ref(), Some(&hb));
        assert_eq!(s.get_monitor_by_token("tok-9").unwrap(), None);
        assert_eq!(
            s.get_monitor_by_slug(p, "nightly").unwrap().as_ref(),
            Some(&hb)
        );
        assert_eq!(
            s.get_monitor_by_slug(q, "nightly").unwrap().as_ref(),
            Some(&hb_q)
        );
        assert_eq!(s.get_monitor_by_slug(p, "weekly").unwrap(), None);
        let ids: Vec<i64> = s.list_monitors().unwrap().iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![a.id, in_q.id, global.id, hb.id, hb_q.id]);

        // A status written by the scheduler survives updates, upserts and pauses.
        s.write_checks(&CheckBatch {
            statuses: vec![(a.id, down_status(50_000))],
            ..CheckBatch::default()
        })
        .unwrap();
        let changed = NewMonitor {
            name: "api v2".to_string(),
            kind: MonitorKind::Health,
            spec: serde_json::json!({"url": "https://api.example.com/api/health"}),
            now_ms: 2_000,
            ..new_monitor("api", Some(p))
        };
        let up = s.update_monitor(a.id, &changed).unwrap().expect("known id");
        assert_eq!(up.name, "api v2");
        assert_eq!(up.kind.as_str(), "health");
        assert_eq!(up.spec, changed.spec);
        assert_eq!((up.created_ms, up.updated_ms), (1_000, 2_000));
        assert_eq!(up.status, down_status(50_000));
        assert_eq!(s.update_monitor(a.id + 1_000, &changed).unwrap(), None);
        let msg = conflict_message(s.update_monitor(hb.id, &changed));
        assert!(msg.contains("api v2"), "{msg}");

        assert!(s.set_monitor_paused(a.id, true, 3_000).unwrap());
        let paused = s.get_monitor(a.id).unwrap().unwrap();
        assert!(paused.paused);
        assert_eq!(paused.status, down_status(50_000));

        // Upsert by project and name: the definition follows, status and pause stay.
        let upserted = s
            .upsert_monitor(&NewMonitor {
                kind: MonitorKind::Tcp,
                spec: serde_json::json!({"host": "db", "port": 5432}),
                source: MonitorSource::Config,
                token: Some("tok-3".to_string()),
                slug: Some("api".to_string()),
                now_ms: 4_000,
                ..changed.clone()
            })
            .unwrap();
        assert_eq!(upserted.id, a.id);
        assert_eq!(upserted.kind.as_str(), "tcp");
        assert_eq!(
            upserted.spec,
            serde_json::json!({"host": "db", "port": 5432})
        );
        assert_eq!(upserted.source, MonitorSource::Config);
        assert_eq!(upserted.token.as_deref(), Some("tok-3"));
        assert_eq!(upserted.slug.as_deref(), Some("api"));
        assert_eq!((upserted.created_ms, upserted.updated_ms), (1_000, 4_000));
        assert!(upserted.paused);
        assert_eq!(upserted.status, down_status(50_000));
        // The same definition again (another instance starting on the same config) is
        // no redefinition: the others must not reload and check it again.
        let same = NewMonitor {
            kind: MonitorKind::Tcp,
            spec: serde_json::json!({"host": "db", "port": 5432}),
            source: MonitorSource::Config,
            token: Some("tok-3".to_string()),
            slug: Some("api".to_string()),
            now_ms: 5_000,
            ..changed.clone()
        };
        assert_eq!(s.upsert_monitor(&same).unwrap().updated_ms, 4_000);
        let moved = NewMonitor {
            spec: serde_json::json!({"host": "db", "port": 5433}),
            now_ms: 6_000,
            ..same
        };
        assert_eq!(s.upsert_monitor(&moved).unwrap().updated_ms, 6_000);
        let back = NewMonitor {
            spec: serde_json::json!({"host": "db", "port": 5432}),
            now_ms: 7_000,
            ..moved
        };
        assert_eq!(s.upsert_monitor(&back).unwrap().updated_ms, 7_000);
        let fresh = s.upsert_monitor(&new_monitor("new", None)).unwrap();
        assert!(!ids.contains(&fresh.id));
        assert_eq!(s.get_monitor(fresh.id).unwrap(), Some(fresh.clone()));
        let msg = conflict_message(s.upsert_monitor(&heartbeat("new", None, "tok-1", "z")));
        assert!(msg.contains("token"), "{msg}");

        assert!(s.set_monitor_paused(a.id, false, 5_000).unwrap());
        assert!(!s.get_monitor(a.id).unwrap().unwrap().paused);
        assert!(!s.set_monitor_paused(a.id + 1_000, true, 5_000).unwrap());

        assert!(s.delete_monitor(in_q.id).unwrap());
        assert_eq!(s.get_monitor(in_q.id).unwrap(), None);
        assert!(!s.delete_monitor(in_q.id).unwrap());
        // Its name is free again.
        s.create_monitor(&new_monitor("api", Some(q))).unwrap();
    }

    pub fn prune_config_monitors(s: &dyn Store) {
        let config = |name: &str| NewMonitor {
            source: MonitorSource::Config,
            ..new_monitor(name, None)
        };
        let c1 = s.create_monitor(&config("c1")).unwrap().id;
        let c2 = s.create_monitor(&config("c2")).unwrap().id;
        let c3 = s.create_monitor(&config("c3")).unwrap().id;
        let api = monitor(s, "api");
        write_results(s, vec![result(c2, 1_000, Some(10))]);
        assert_eq!(s.prune_config_monitors(&[c1, c3]).unwrap(), 1);
        assert_eq!(s.get_monitor(c2).unwrap(), None);
        assert!(s.check_results(c2, 0, 10_000, 10).unwrap().is_empty());
        assert_eq!(s.prune_config_monitors(&[c1, c3]).unwrap(), 0);
        assert_eq!(s.prune_config_monitors(&[]).unwrap(), 2);
        let left: Vec<i64> = s.list_monitors().unwrap().iter().map(|m| m.id).collect();
        assert_eq!(
            left,
            vec![api],
            "API monitors are not the config's to prune"
        );
    }

    pub fn delete_monitor_cascades(s: &dyn Store) {
        let m = monitor(s, "m");
        let other = monitor(s, "other");
        let day = 86_400_000;
        for id in [m, other] {
            write_results(s, vec![result(id, day, Some(10)), down(id, day + 1, "x")]);
            write_outages(s, vec![open(id, day + 1, "x")]);
        }
        s.rollup_checks(3 * day).unwrap();
        let mine_window = NewMaintenance {
            monitor_id: Some(m),
            start_ms: day,
            end_ms: 2 * day,
            reason: "deploy".to_string(),
            public_note: None,
            now_ms: 1,
        };
        let mine = s.create_maintenance(&mine_window).unwrap();
        let everyone = s
            .create_maintenance(&NewMaintenance {
                monitor_id: None,
                reason: "network".to_string(),
                ..mine_window.clone()
            })
            .unwrap();
        assert_eq!(
            s.check_rollups(m, Resolution::Day, 0, 3 * day)
                .unwrap()
                .len(),
            1
        );
        for id in [m, other] {
            s.put_health_readings(&[HealthReading {
                monitor_id: id,
                checks: Some(serde_json::json!({ "database": { "latency": 900 } })),
                at_ms: day,
            }])
            .unwrap();
            s.request_check(id, day).unwrap();
        }

        assert!(s.delete_monitor(m).unwrap());
        let readings: Vec<i64> = s
            .health_readings()
            .unwrap()
            .iter()
            .map(|r| r.monitor_id)
            .collect();
        assert_eq!(readings, vec![other]);
        assert_eq!(s.check_requests().unwrap(), vec![other]);
        assert!(s.check_results(m, 0, 3 * day, 10).unwrap().is_empty());
        for r in [Resolution::Minute, Resolution::Hour, Resolution::Day] {
            assert!(
                s.check_rollups(m, r, 0, 3 * day).unwrap().is_empty(),
                "{r:?}"
            );
        }
        assert!(s.outages(m, 0, 3 * day, 10).unwrap().is_empty());
        assert!(!s.downtime(0, 3 * day).unwrap().contains_key(&m));
        assert_eq!(s.list_maintenance(0).unwrap(), vec![everyone]);
        assert!(
            !s.delete_maintenance(mine.id).unwrap(),
            "went with its monitor"
        );

        // The other monitor keeps everything.
        assert_eq!(s.check_results(other, 0, 3 * day, 10).unwrap().len(), 2);
        assert_eq!(
            s.check_rollups(other, Resolution::Day, 0, 3 * day)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(s.outages(other, 0, 3 * day, 10).unwrap().len(), 1);
    }

    pub fn write_checks(s: &dyn Store) {
        let m = monitor(s, "m");
        let n = monitor(s, "n");
        let signal = |kind, monitor_id, detail: &str, created_ms| lookout_core::signal::Signal {
            id: 0,
            kind,
            project_id: None,
            issue_id: None,
            event_id: None,
            monitor_id: Some(monitor_id),
            detail: Some(detail.to_string()),
            created_ms,
        };
        let batch = CheckBatch {
            results: vec![result(m, 1_000, Some(120)), down(m, 2_000, "timeout")],
            statuses: vec![
                (n, down_status(1_500)),
                (
                    m,
                    MonitorStatus {
                        state: lookout_core::monitor::State::Up,
                        ..MonitorStatus::default()
                    },
                ),
                // The last status of a monitor wins.
                (m, down_status(2_000)),
            ],
            outages: vec![open(m, 2_000, "timeout")],
            signals: vec![
                signal(SignalKind::MonitorDown, m, "timeout", 2_000),
                lookout_core::signal::Signal {
                    project_id: Some(7),
                    ..signal(
                        SignalKind::TlsExpiring,
                        n,
                        "certificate expires in 6 days",
                        2_001,
                    )
                },
            ],
        };
        let signals = s.write_checks(&batch).unwrap();
        assert_eq!(signals.len(), 2);
        assert!(signals[0].id > 0 && signals[0].id < signals[1].id);
        for (got, sent) in signals.iter().zip(&batch.signals) {
            assert_eq!(
                lookout_core::signal::Signal {
                    id: 0,
                    ..got.clone()
                },
                *sent
            );
        }
        assert_eq!(s.signals_after(0, 10).unwrap(), signals);

        assert_eq!(
            s.get_monitor(m).unwrap().unwrap().status,
            down_status(2_000)
        );
        assert_eq!(
            s.get_monitor(n).unwrap().unwrap().status,
            down_status(1_500)
        );
        let stored = s.check_results(m, 0, 10_000, 10).unwrap();
        assert_eq!(
            stored,
            vec![down(m, 2_000, "timeout"), result(m, 1_000, Some(120))]
        );
        let outages = s.outages(m, 0, 10_000, 10).unwrap();
        assert_eq!(outages.len(), 1);
        assert_eq!(
            (
                outages[0].monitor_id,
                outages[0].start_ms,
                outages[0].end_ms
            ),
            (m, 2_000, None)
        );
        assert_eq!(outages[0].cause, "timeout");

        // Down confirmed again while open: no second outage.
        write_outages(s, vec![open(m, 3_000, "refused")]);
        assert_eq!(s.outages(m, 0, 10_000, 10).unwrap(), outages);
        // Closing ends the open one; closing with none open does nothing.
        write_outages(s, vec![close(m, 5_000)]);
        write_outages(s, vec![close(m, 6_000), close(n, 6_000)]);
        let closed = s.outages(m, 0, 10_000, 10).unwrap();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].end_ms, Some(5_000));
        assert!(s.outages(n, 0, 10_000, 10).unwrap().is_empty());

        // Changes to one monitor apply in batch order.
        write_outages(
            s,
            vec![
                open(m, 7_000, "dns"),
                open(n, 7_500, "tls"),
                close(m, 8_000),
                open(m, 9_000, "refused"),
            ],
        );
        let spans: Vec<(i64, Option<i64>, String)> = s
            .outages(m, 0, 20_000, 10)
            .unwrap()
            .into_iter()
            .map(|o| (o.start_ms, o.end_ms, o.cause))
            .collect();
        assert_eq!(
            spans,
            vec![
                (9_000, None, "refused".to_string()),
                (7_000, Some(8_000), "dns".to_string()),
                (2_000, Some(5_000), "timeout".to_string()),
            ]
        );
        assert_eq!(s.outages(n, 0, 20_000, 10).unwrap().len(), 1);

        // An empty batch is fine and records nothing.
        assert!(s.write_checks(&CheckBatch::default()).unwrap().is_empty());
        assert_eq!(s.signals_after(signals[1].id, 10).unwrap(), vec![]);
    }

    pub fn duplicate_results_ignored(s: &dyn Store) {
        let m = monitor(s, "m");
        write_results(s, vec![result(m, 1_000, Some(10))]);
        write_results(
            s,
            vec![down(m, 1_000, "late duplicate"), result(m, 2_000, Some(20))],
        );
        // Within one batch, the first of a key is kept.
        write_results(
            s,
            vec![result(m, 3_000, Some(30)), down(m, 3_000, "same batch")],
        );
        assert_eq!(
            s.check_results(m, 0, 10_000, 10).unwrap(),
            vec![
                result(m, 3_000, Some(30)),
                result(m, 2_000, Some(20)),
                result(m, 1_000, Some(10)),
            ]
        );
    }

    pub fn check_results_range(s: &dyn Store) {
        let m = monitor(s, "m");
        let other = monitor(s, "other");
        let mut results: Vec<CheckRecord> = (1..=10)
            .map(|i| result(m, i * 1_000, Some(i as u32)))
            .collect();
        results[4] = CheckRecord {
            outcome: CheckOutcome::Degraded,
            maintenance: true,
            error: Some("slow: 2.1 s".to_string()),
            ..results[4].clone()
        };
        results[5] = down(m, 6_000, "HTTP 503");
        results.push(result(other, 5_000, Some(99)));
        // Written out of order, in two batches.
        results.reverse();
        let rest = results.split_off(4);
        write_results(s, results);
        write_results(s, rest);

        let got = s.check_results(m, 3_000, 7_000, 100).unwrap();
        let at: Vec<i64> = got.iter().map(|r| r.at_ms).collect();
        assert_eq!(
            at,
            vec![6_000, 5_000, 4_000, 3_000],
            "newest first, end exclusive"
        );
        assert_eq!(got[0], down(m, 6_000, "HTTP 503"));
        assert_eq!(
            got[1],
            CheckRecord {
                monitor_id: m,
                at_ms: 5_000,
                latency_ms: Some(5),
                outcome: CheckOutcome::Degraded,
                maintenance: true,
                error: Some("slow: 2.1 s".to_string()),
                figures: Default::default(),
            }
        );
        assert_eq!(got[2], result(m, 4_000, Some(4)));
        let limited: Vec<i64> = s
            .check_results(m, 0, 100_000, 2)
            .unwrap()
            .iter()
            .map(|r| r.at_ms)
            .collect();
        assert_eq!(limited, vec![10_000, 9_000]);
        assert_eq!(
            s.check_results(other, 0, 100_000, 10).unwrap(),
            vec![result(other, 5_000, Some(99))]
        );
        assert!(s.check_results(m, 11_000, 20_000, 10).unwrap().is_empty());
    }

    /// Phase timings and pm2 figures go in with a result and come back with it, absent
    /// ones stay absent, and roll-ups hold each figure's mean over the checks that
    /// measured it, at every resolution.
    pub fn check_figures(s: &dyn Store) {
        let web = monitor(s, "web");
        let app = monitor(s, "app");
        let phases = |dns, connect, tls, first_byte| CheckFigures {
            dns_ms: Some(dns),
            connect_ms: Some(connect),
            tls_ms: tls,
            first_byte_ms: Some(first_byte),
            ..CheckFigures::default()
        };
        let with = |r: CheckRecord, figures| CheckRecord { figures, ..r };
        write_results(
            s,
            vec![
                with(result(web, D, Some(120)), phases(2, 10, Some(30), 70)),
                with(result(web, D + 10_000, Some(80)), phases(4, 20, None, 50)),
                // A failed check measured nothing: it counts, but adds no figure.
                down(web, D + 20_000, "timed out"),
                // Large figures survive the round trip.
                with(
                    result(web, D + HOUR, Some(70_000)),
                    phases(0, 1, Some(0), 65_000),
                ),
                with(
                    result(app, D, None),
                    CheckFigures {
                        memory_kb: Some(150_000),
                        cpu_permille: Some(125),
                        ..CheckFigures::default()
                    },
                ),
                with(
                    result(app, D + 30_000, None),
                    CheckFigures {
                        memory_kb: Some(250_001),
                        cpu_permille: Some(0),
                        ..CheckFigures::default()
                    },
                ),
            ],
        );
        let got = s.check_results(web, D, D + 2 * HOUR, 10).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].figures, phases(0, 1, Some(0), 65_000));
        assert_eq!(got[1].figures, CheckFigures::default());
        assert_eq!(got[3].figures, phases(2, 10, Some(30), 70));
        assert!(got[3].figures.has_phases() && !got[3].figures.has_process());
        let app_rows = s.check_results(app, D, D + MIN, 10).unwrap();
        assert_eq!(app_rows[0].figures.memory_kb, Some(250_001));
        assert_eq!(app_rows[0].figures.cpu_permille, Some(0));
        assert_eq!(app_rows[0].figures.dns_ms, None);

        s.rollup_checks(D + DAY + MIN).unwrap();
        let minute = s
            .check_rollups(web, Resolution::Minute, D, D + MIN)
            .unwrap();
        assert_eq!(minute.len(), 1);
        assert_eq!(minute[0].count, 3);
        // Means over the two checks that measured each phase; TLS once.
        assert_eq!(minute[0].figures, phases(3, 15, Some(30), 60));
        let hours = s.check_rollups(web, Resolution::Hour, D, D + DAY).unwrap();
        assert_eq!(hours.len(), 2);
        assert_eq!(hours[0].figures, phases(3, 15, Some(30), 60));
        assert_eq!(hours[1].figures, phases(0, 1, Some(0), 65_000));
        let day = s.check_rollups(web, Resolution::Day, D, D + DAY).unwrap();
        // (2 + 4 + 0) / 3 = 2; (10 + 20 + 1) / 3 ≈ 10.3; (30 + 0) / 2 = 15;
        // (70 + 50 + 65000) / 3 = 21706.7.
        assert_eq!(day[0].figures, phases(2, 10, Some(15), 21_707));
        let app_day = s.check_rollups(app, Resolution::Day, D, D + DAY).unwrap();
        assert_eq!(app_day[0].figures.memory_kb, Some(200_001));
        assert_eq!(app_day[0].figures.cpu_permille, Some(63));
        assert_eq!(app_day[0].figures.first_byte_ms, None);
    }

    const MIN: i64 = 60_000;
    const DAY: i64 = 86_400_000;
    /// A day boundary well after 1970, so that buckets are not all at zero.
    const D: i64 = 10 * DAY;

    fn rollup_key(r: &Rollup) -> (i64, i64, u32, u32, u32, u32) {
        (
            r.monitor_id,
            r.start_ms,
            r.count,
            r.failures,
            r.degraded,
            r.maintenance,
        )
    }

    fn latencies(r: &Rollup) -> (Option<u32>, Option<u32>, Option<u32>, Option<u32>) {
        (r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms)
    }

    pub fn rollups(s: &dyn Store) {
        assert_eq!(s.rollup_checks(D).unwrap(), 0, "nothing to roll up yet");
        let m1 = monitor(s, "m1");
        let m2 = monitor(s, "m2");
        // m1, first minute: latencies 10..=100, one down, one degraded, one in maintenance,
        // and a down check without a latency.
        let mut first: Vec<CheckRecord> = (0..10)
            .map(|i| result(m1, D + i * 5_000, Some(10 * (i as u32 + 1))))
            .collect();
        first[3].outcome = CheckOutcome::Down;
        first[4].outcome = CheckOutcome::Degraded;
        first[5].maintenance = true;
        first.push(down(m1, D + 55_000, "timeout"));
        write_results(s, first);
        write_results(
            s,
            vec![
                result(m1, D + MIN, Some(7)),
                result(m1, D + HOUR + 30, Some(500)),
                // In a bucket that is not complete at `now` for hour and day.
                result(m1, D + DAY + 5, Some(42)),
                result(m2, D + 30_000, Some(1_000)),
            ],
        );
        // m2, third minute: every latency 1..=100 once, shuffled.
        write_results(
            s,
            (0..100)
                .map(|i| result(m2, D + 2 * MIN + i * 500, Some((i as u32 * 37) % 100 + 1)))
                .collect(),
        );

        let now = D + DAY + 2 * MIN;
        // Minutes: m1 ×4, m2 ×2. Hours: m1 ×2, m2 ×1. Days: one each.
        assert_eq!(s.rollup_checks(now).unwrap(), 11);

        let minutes = s.check_rollups(m1, Resolution::Minute, 0, 2 * D).unwrap();
        let keys: Vec<_> = minutes.iter().map(rollup_key).collect();
        assert_eq!(
            keys,
            vec![
                (m1, D, 11, 2, 1, 1),
                (m1, D + MIN, 1, 0, 0, 0),
                (m1, D + HOUR, 1, 0, 0, 0),
                (m1, D + DAY, 1, 0, 0, 0),
            ]
        );
        assert!(minutes.iter().all(|r| r.resolution == Resolution::Minute));
        // Over the ten latencies present: nearest rank 5, 10, 10.
        assert_eq!(
            latencies(&minutes[0]),
            (Some(50), Some(100), Some(100), Some(100))
        );
        assert_eq!(
            latencies(&minutes[3]),
            (Some(42), Some(42), Some(42), Some(42))
        );
        let m2_minutes = s
            .check_rollups(m2, Resolution::Minute, D, D + HOUR)
            .unwrap();
        assert_eq!(m2_minutes.len(), 2);
        assert_eq!(
            latencies(&m2_minutes[1]),
            (Some(50), Some(95), Some(99), Some(100))
        );
        // A range picks buckets by start.
        assert_eq!(
            s.check_rollups(m1, Resolution::Minute, D + 1, D + HOUR)
                .unwrap()
                .len(),
            1
        );

        let hours = s.check_rollups(m1, Resolution::Hour, 0, 2 * D).unwrap();
        let keys: Vec<_> = hours.iter().map(rollup_key).collect();
        assert_eq!(keys, vec![(m1, D, 12, 2, 1, 1), (m1, D + HOUR, 1, 0, 0, 0)]);
        // 7, 10, 20, …, 100: ranks 6, 11, 11.
        assert_eq!(
            latencies(&hours[0]),
            (Some(50), Some(100), Some(100), Some(100))
        );
        // Hours and days come from raw results, not from merged minutes: 1..=100 and 1000.
        let m2_hour = s.check_rollups(m2, Resolution::Hour, 0, 2 * D).unwrap();
        assert_eq!(m2_hour.len(), 1);
        assert_eq!(m2_hour[0].count, 101);
        assert_eq!(
            latencies(&m2_hour[0]),
            (Some(51), Some(96), Some(100), Some(1_000))
        );
        let m2_day = s.check_rollups(m2, Resolution::Day, 0, 2 * D).unwrap();
        assert_eq!(m2_day.len(), 1);
        assert_eq!((m2_day[0].start_ms, m2_day[0].count), (D, 101));
        assert_eq!(latencies(&m2_day[0]), latencies(&m2_hour[0]));
        let m1_day = s.check_rollups(m1, Resolution::Day, 0, 2 * D).unwrap();
        assert_eq!(
            m1_day.iter().map(rollup_key).collect::<Vec<_>>(),
            vec![(m1, D, 13, 2, 1, 1)]
        );
        // 7, 10, 20, …, 100, 500: ranks 6, 12, 12.
        assert_eq!(
            latencies(&m1_day[0]),
            (Some(50), Some(500), Some(500), Some(500))
        );

        // Idempotent: nothing new is complete.
        assert_eq!(s.rollup_checks(now).unwrap(), 0);
        assert_eq!(
            s.check_rollups(m1, Resolution::Minute, 0, 2 * D).unwrap(),
            minutes
        );

        // Once the next day is complete, it is rolled up from raw results, including one
        // that arrived after its minute was rolled up.
        write_results(s, vec![result(m1, D + DAY + 10, Some(58))]);
        let later = D + 2 * DAY;
        // The hour and the day holding D+1d; its minute stays as it was.
        assert_eq!(s.rollup_checks(later).unwrap(), 2);
        let day2 = s
            .check_rollups(m1, Resolution::Day, D + DAY, later)
            .unwrap();
        assert_eq!(
            day2.iter().map(rollup_key).collect::<Vec<_>>(),
            vec![(m1, D + DAY, 2, 0, 0, 0)]
        );
        assert_eq!(
            latencies(&day2[0]),
            (Some(42), Some(58), Some(58), Some(58))
        );
        let hour24 = s
            .check_rollups(m1, Resolution::Hour, D + DAY, later)
            .unwrap();
        assert_eq!(hour24.len(), 1);
        assert_eq!(hour24[0].count, 2);
        assert_eq!(
            s.check_rollups(m1, Resolution::Minute, D + DAY, later)
                .unwrap()[0]
                .count,
            1
        );
        assert_eq!(s.rollup_checks(later).unwrap(), 0);
    }

    pub fn prune_checks(s: &dyn Store) {
        let a = monitor(s, "a");
        let b = monitor(s, "b");
        for id in [a, b] {
            write_results(
                s,
                (0..10).map(|k| result(id, D + k * MIN, Some(10))).collect(),
            );
        }
        let now = D + 10 * MIN;
        // 10 minutes each; the hour and the day are not complete.
        assert_eq!(s.rollup_checks(now).unwrap(), 20);
        let retention = CheckRetention {
            raw_ms: 5 * MIN,
            minute_ms: 7 * MIN,
            hour_ms: DAY,
            day_ms: 30 * DAY,
        };
        // Raw before D+5m (5 each); minutes that ended by D+3m (3 each).
        assert_eq!(s.prune_checks(&retention, now).unwrap(), 16);
        for id in [a, b] {
            let raw: Vec<i64> = s
                .check_results(id, 0, 2 * D, 100)
                .unwrap()
                .iter()
                .map(|r| r.at_ms)
                .collect();
            assert_eq!(raw, (5..10).rev().map(|k| D + k * MIN).collect::<Vec<_>>());
            let minutes = s.check_rollups(id, Resolution::Minute, 0, 2 * D).unwrap();
            assert_eq!(minutes.first().map(|r| r.start_ms), Some(D + 3 * MIN));
            assert_eq!(minutes.len(), 7);
        }
        assert_eq!(s.prune_checks(&retention, now).unwrap(), 0);

        // Hour and day roll-ups go by their own retention.
        s.rollup_checks(D + 2 * DAY).unwrap();
        assert_eq!(
            s.check_rollups(a, Resolution::Hour, 0, 2 * D)
                .unwrap()
                .len(),
            1
        );
        let long = CheckRetention {
            raw_ms: 100 * DAY,
            minute_ms: 100 * DAY,
            hour_ms: DAY,
            day_ms: 100 * DAY,
        };
        assert_eq!(s.prune_checks(&long, D + 3 * DAY).unwrap(), 2);
        assert!(s
            .check_rollups(a, Resolution::Hour, 0, 2 * D)
            .unwrap()
            .is_empty());
        assert_eq!(
            s.check_rollups(a, Resolution::Day, 0, 2 * D).unwrap().len(),
            1
        );
        assert_eq!(
            s.check_rollups(b, Resolution::Minute, 0, 2 * D)
                .unwrap()
                .len(),
            7
        );
    }

    pub fn latency_summary(s: &dyn Store) {
        let m = monitor(s, "m");
        let empty = s.latency_summary(m, 0, 2 * D).unwrap();
        assert_eq!(empty, LatencySummary::default());

        // Hour 0: latencies 1..=100; hour 1: 101..=200, plus a down check.
        let mut results: Vec<CheckRecord> = (0..100)
            .map(|i| result(m, D + i * 30_000, Some(i as u32 + 1)))
            .collect();
        results.extend((0..100).map(|i| result(m, D + HOUR + i * 30_000, Some(i as u32 + 101))));
        results.push(down(m, D + HOUR + 3_500_000, "refused"));
        write_results(s, results);

        // Raw results cover the range: exact.
        let exact = s.latency_summary(m, D, D + 2 * HOUR).unwrap();
        assert_eq!(
            exact,
            LatencySummary {
                count: 201,
                failures: 1,
                p50_ms: Some(100),
                p95_ms: Some(190),
                p99_ms: Some(198),
                max_ms: Some(200),
            }
        );
        let first_hour = s.latency_summary(m, D, D + HOUR).unwrap();
        assert_eq!((first_hour.count, first_hour.p95_ms), (100, Some(95)));
        // Roll-ups existing does not change an answer raw results can give exactly.
        s.rollup_checks(D + 3 * HOUR).unwrap();
        assert_eq!(s.latency_summary(m, D, D + 2 * HOUR).unwrap(), exact);

        // Raw results of hour 0 pruned: hour 0 comes from its roll-up, hour 1 from raw,
        // and the percentiles are count-weighted means of the two.
        let retention = CheckRetention {
            raw_ms: 2 * HOUR,
            minute_ms: 100 * DAY,
            hour_ms: 100 * DAY,
            day_ms: 100 * DAY,
        };
        assert_eq!(s.prune_checks(&retention, D + 3 * HOUR).unwrap(), 100);
        let mixed = s.latency_summary(m, D, D + 2 * HOUR).unwrap();
        assert_eq!(
            mixed,
            LatencySummary {
                count: 201,
                failures: 1,
                // (50·100 + 150·101) / 201, (95·100 + 195·101) / 201, …
                p50_ms: Some(100),
                p95_ms: Some(145),
                p99_ms: Some(149),
                max_ms: Some(200),
            }
        );
        let rolled = s.latency_summary(m, D, D + HOUR).unwrap();
        assert_eq!(
            rolled,
            LatencySummary {
                count: 100,
                failures: 0,
                p50_ms: Some(50),
                p95_ms: Some(95),
                p99_ms: Some(99),
                max_ms: Some(100),
            }
        );
        assert_eq!(
            s.latency_summary(m, D, D).unwrap(),
            LatencySummary::default()
        );
    }

    pub fn outages_and_downtime(s: &dyn Store) {
        let a = monitor(s, "a");
        let b = monitor(s, "b");
        let c = monitor(s, "c");
        write_outages(
            s,
            vec![
                open(a, 1_000, "refused"),
                open(b, 500, "timeout"),
                open(c, 20_000, "dns"),
            ],
        );
        write_outages(s, vec![close(a, 3_000), close(b, 1_500), close(c, 30_000)]);
        write_outages(s, vec![open(a, 5_000, "HTTP 502")]);

        let spans = |from, to, limit| -> Vec<(i64, Option<i64>)> {
            s.outages(a, from, to, limit)
                .unwrap()
                .iter()
                .map(|o| (o.start_ms, o.end_ms))
                .collect()
        };
        assert_eq!(
            spans(0, 10_000, 10),
            vec![(5_000, None), (1_000, Some(3_000))]
        );
        assert_eq!(spans(0, 10_000, 1), vec![(5_000, None)]);
        // Ranges are half-open: touching is not overlapping.
        assert_eq!(spans(3_000, 5_000, 10), vec![]);
        assert_eq!(
            spans(2_999, 5_001, 10),
            vec![(5_000, None), (1_000, Some(3_000))]
        );
        assert_eq!(
            spans(100_000, 200_000, 10),
            vec![(5_000, None)],
            "still open"
        );
        assert_eq!(spans(0, 1_000, 10), vec![]);

        let down = s.downtime(2_000, 10_000).unwrap();
        // a: [2000, 3000) plus the open outage up to the range end.
        assert_eq!(down, std::collections::HashMap::from([(a, 1_000 + 5_000)]));
        let down = s.downtime(0, 2_000).unwrap();
        assert_eq!(
            down,
            std::collections::HashMap::from([(a, 1_000), (b, 1_000)])
        );
        assert_eq!(
            s.downtime(0, 600).unwrap(),
            std::collections::HashMap::from([(b, 100)])
        );
        assert_eq!(
            s.downtime(25_000, 26_000).unwrap(),
            std::collections::HashMap::from([(a, 1_000), (c, 1_000)])
        );
        assert!(s.downtime(3_000, 5_000).unwrap().is_empty());
    }

    pub fn maintenance(s: &dyn Store) {
        let m = monitor(s, "m");
        let window = |monitor_id, start_ms, end_ms, reason: &str| NewMaintenance {
            monitor_id,
            start_ms,
            end_ms,
            reason: reason.to_string(),
            public_note: (reason == "deploy").then(|| "Upgrading the database".to_string()),
            now_ms: 100,
        };
        let late = s
            .create_maintenance(&window(Some(m), 5_000, 6_000, "deploy"))
            .unwrap();
        let early = s
            .create_maintenance(&window(None, 1_000, 4_000, "network"))
            .unwrap();
        let past = s
            .create_maintenance(&window(Some(m), 100, 500, "old"))
            .unwrap();
        assert_eq!(
            late,
            Maintenance {
                id: late.id,
                monitor_id: Some(m),
                start_ms: 5_000,
                end_ms: 6_000,
                reason: "deploy".to_string(),
                public_note: Some("Upgrading the database".to_string()),
                created_ms: 100,
            }
        );
        assert!(late.id > 0 && early.id != late.id && past.id != early.id);
        assert_eq!(
            s.list_maintenance(0).unwrap(),
            vec![past.clone(), early.clone(), late.clone()]
        );
        assert_eq!(
            s.list_maintenance(500).unwrap(),
            vec![early.clone(), late.clone()]
        );
        assert_eq!(s.list_maintenance(4_000).unwrap(), vec![late.clone()]);
        assert!(s.delete_maintenance(early.id).unwrap());
        assert!(!s.delete_maintenance(early.id).unwrap());
        assert_eq!(s.list_maintenance(0).unwrap(), vec![past, late]);
    }

    /// Issue signals still carry their project after the signals table changed, and
    /// share one id sequence with monitor signals.
    pub fn issue_and_monitor_signals(s: &dyn Store) {
        let p = project(s, "p");
        let m = monitor(s, "m");
        let issue = s
            .write_batch(&events_batch(vec![event(p, 1, "x", 1_000)]))
            .unwrap()
            .signals;
        let monitor_signal = lookout_core::signal::Signal {
            id: 0,
            kind: SignalKind::MonitorUp,
            project_id: None,
            issue_id: None,
            event_id: None,
            monitor_id: Some(m),
            detail: None,
            created_ms: 2_000,
        };
        let from_checks = s
            .write_checks(&CheckBatch {
                signals: vec![monitor_signal],
                ..CheckBatch::default()
            })
            .unwrap();
        let stored = s.signals_after(0, 10).unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0], issue[0]);
        assert_eq!(stored[0].project_id, Some(p));
        assert_eq!(stored[0].kind, SignalKind::NewIssue);
        assert_eq!(
            (stored[0].monitor_id, stored[0].detail.as_deref()),
            (None, Some("ValueError: x")),
            "issue signals carry the issue's title"
        );
        assert_eq!(stored[1], from_checks[0]);
        assert_eq!(stored[1].project_id, None);
        assert!(stored[0].id < stored[1].id);
    }

    // --- alerts ---

    fn new_incident(rule: &str, kind: &str, subject_id: i64, opened_ms: i64) -> NewIncident {
        NewIncident {
            rule: rule.to_string(),
            subject_kind: kind.parse().expect("a subject kind"),
            subject_id,
            severity: Severity::High,
            title: format!("{rule} on {kind} {subject_id}"),
            summary: "it broke".to_string(),
            count: 1,
            opened_ms,
            state: serde_json::json!({
                "step": 0,
                "timers": {"escalate_ms": opened_ms + HOUR},
                "notified": ["slack", "e-mail ü"],
                "ratio": 0.25,
            }),
            runbook: Some(format!("https://runbooks.example.com/{rule}")),
        }
    }

    fn line(at_ms: i64, kind: &str, text: &str, actor: Option<&str>) -> TimelineEntry {
        TimelineEntry {
            at_ms,
            kind: kind.parse().expect("a timeline kind"),
            text: text.to_string(),
            actor: actor.map(str::to_string),
        }
    }

    fn queued(channel: &str, event: &str, now_ms: i64) -> NewOutboxMessage {
        NewOutboxMessage {
            channel: channel.to_string(),
            event: event.parse().expect("a notification kind"),
            payload: serde_json::json!({"text": format!("{event} via {channel}"), "n": now_ms}),
            now_ms,
        }
    }

    fn opens(incidents: Vec<NewIncident>) -> AlertBatch {
        AlertBatch {
            opens: incidents,
            ..AlertBatch::default()
        }
    }

    fn apply(s: &dyn Store, batch: AlertBatch) -> Vec<i64> {
        s.apply_alerts(&batch).expect("apply alerts")
    }

    fn incident_row(s: &dyn Store, id: i64) -> IncidentRow {
        s.get_incident(id)
            .expect("get incident")
            .expect("incident exists")
    }

    fn resolve(at_ms: i64, by: Option<&str>) -> IncidentUpdate {
        IncidentUpdate {
            status: Some(IncidentStatus::Resolved),
            resolved: Some((at_ms, by.map(str::to_string))),
            ..IncidentUpdate::default()
        }
    }

    fn listed(s: &dyn Store, filter: IncidentFilter) -> Vec<i64> {
        s.list_incidents(&filter)
            .expect("list incidents")
            .iter()
            .map(|i| i.id)
            .collect()
    }

    fn all_incidents(s: &dyn Store) -> Vec<i64> {
        listed(s, IncidentFilter::default())
    }

    fn open_ids(s: &dyn Store) -> Vec<i64> {
        s.open_incidents()
            .expect("open incidents")
            .iter()
            .map(|i| i.id)
            .collect()
    }

    fn channels(messages: &[OutboxMessage]) -> Vec<&str> {
        messages.iter().map(|m| m.channel.as_str()).collect()
    }

    pub fn alerts_apply(s: &dyn Store) {
        assert_eq!(s.cursor("signals").unwrap(), None);
        // An incident stored by an earlier step.
        let old = apply(s, opens(vec![new_incident("errors", "project", 1, 1_000)]))[0];
        assert_eq!(s.cursor("signals").unwrap(), None);

        let ids = apply(
            s,
            AlertBatch {
                opens: vec![
                    new_incident("down", "monitor", 7, 5_000),
                    new_incident("slow", "monitor", 7, 5_000),
                ],
                updates: vec![
                    (
                        IncidentRef::Id(old),
                        IncidentUpdate {
                            status: Some(IncidentStatus::Acknowledged),
                            acked: Some((4_000, "ana".to_string())),
                            count: Some(3),
                            ..IncidentUpdate::default()
                        },
                    ),
                    (
                        IncidentRef::New(1),
                        IncidentUpdate {
                            summary: Some("p95 1.2 s".to_string()),
                            state: Some(serde_json::json!({"step": 1})),
                            ..IncidentUpdate::default()
                        },
                    ),
                    // A later update of the same incident: its fields win, the others stay.
                    (
                        IncidentRef::Id(old),
                        IncidentUpdate {
                            count: Some(4),
                            ..IncidentUpdate::default()
                        },
                    ),
                ],
                timeline: vec![
                    (
                        IncidentRef::New(0),
                        line(5_000, "triggered", "API down", None),
                    ),
                    (
                        IncidentRef::Id(old),
                        line(4_000, "acknowledged", "on it", Some("ana")),
                    ),
                    // Earlier than the line before it: timelines keep insertion order.
                    (IncidentRef::New(0), line(4_500, "notified", "slack", None)),
                ],
                messages: vec![
                    (IncidentRef::New(0), queued("slack", "triggered", 5_000)),
                    (IncidentRef::New(1), queued("email", "triggered", 5_001)),
                    (IncidentRef::Id(old), queued("slack", "acknowledged", 4_000)),
                    (IncidentRef::New(0), queued("pager", "triggered", 5_002)),
                ],
                cursor: Some(("signals".to_string(), 42)),
            },
        );
        assert_eq!(ids.len(), 2);
        assert!(old < ids[0] && ids[0] < ids[1], "{old} {ids:?}");

        let down = incident_row(s, ids[0]);
        let expected = new_incident("down", "monitor", 7, 5_000);
        assert_eq!(
            down,
            IncidentRow {
                id: ids[0],
                rule: "down".to_string(),
                subject_kind: SubjectKind::Monitor,
                subject_id: 7,
                severity: Severity::High,
                status: IncidentStatus::Triggered,
                title: "down on monitor 7".to_string(),
                summary: "it broke".to_string(),
                count: 1,
                opened_ms: 5_000,
                acked_ms: None,
                acked_by: None,
                resolved_ms: None,
                resolved_by: None,
                state: expected.state,
                runbook: expected.runbook,
            }
        );
        let slow = incident_row(s, ids[1]);
        assert_eq!(slow.summary, "p95 1.2 s");
        assert_eq!(slow.state, serde_json::json!({"step": 1}));
        assert_eq!((slow.status.as_str(), slow.count), ("triggered", 1));

        let stored = incident_row(s, old);
        assert_eq!(stored.status.as_str(), "acknowledged");
        assert_eq!(stored.count, 4);
        assert_eq!(
            (stored.acked_ms, stored.acked_by.as_deref()),
            (Some(4_000), Some("ana"))
        );
        assert_eq!(stored.summary, "it broke");
        assert_eq!(
            stored.state,
            new_incident("errors", "project", 1, 1_000).state
        );
        assert_eq!((stored.resolved_ms, stored.resolved_by), (None, None));

        assert_eq!(
            s.incident_timeline(ids[0]).unwrap(),
            vec![
                line(5_000, "triggered", "API down", None),
                line(4_500, "notified", "slack", None),
            ]
        );
        assert_eq!(
            s.incident_timeline(old).unwrap(),
            vec![line(4_000, "acknowledged", "on it", Some("ana"))]
        );
        assert!(s.incident_timeline(ids[1]).unwrap().is_empty());

        let down_messages = s.incident_messages(ids[0]).unwrap();
        assert_eq!(channels(&down_messages), vec!["slack", "pager"]);
        assert!(down_messages[0].id < down_messages[1].id);
        assert_eq!(
            down_messages[0],
            OutboxMessage {
                id: down_messages[0].id,
                incident_id: ids[0],
                channel: "slack".to_string(),
                event: NotifyKind::Triggered,
                payload: serde_json::json!({"text": "triggered via slack", "n": 5_000}),
                status: OutboxStatus::Pending,
                attempts: 0,
                next_attempt_ms: 5_000,
                last_error: None,
                created_ms: 5_000,
                sent_ms: None,
            }
        );
        let slow_messages = s.incident_messages(ids[1]).unwrap();
        assert_eq!(channels(&slow_messages), vec!["email"]);
        let old_messages = s.incident_messages(old).unwrap();
        assert_eq!(old_messages.len(), 1);
        assert_eq!(old_messages[0].event.as_str(), "acknowledged");
        assert_eq!(s.cursor("signals").unwrap(), Some(42));
        assert_eq!(s.cursor("other").unwrap(), None);

        // Resolved by itself, then by a person; the cursor moves with each step.
        apply(
            s,
            AlertBatch {
                updates: vec![(IncidentRef::Id(ids[0]), resolve(9_000, None))],
                cursor: Some(("signals".to_string(), 50)),
                ..AlertBatch::default()
            },
        );
        let down = incident_row(s, ids[0]);
        assert_eq!(down.status.as_str(), "resolved");
        assert_eq!((down.resolved_ms, down.resolved_by), (Some(9_000), None));
        assert_eq!((down.acked_ms, down.count), (None, 1));
        assert_eq!(down.summary, "it broke");
        apply(
            s,
            AlertBatch {
                updates: vec![(IncidentRef::Id(old), resolve(9_500, Some("bob")))],
                cursor: Some(("signals".to_string(), 51)),
                ..AlertBatch::default()
            },
        );
        let stored = incident_row(s, old);
        assert_eq!(
            (stored.resolved_ms, stored.resolved_by.as_deref()),
            (Some(9_500), Some("bob"))
        );
        assert_eq!(stored.acked_by.as_deref(), Some("ana"));
        assert_eq!(s.cursor("signals").unwrap(), Some(51));
        assert_eq!(s.get_incident(ids[1] + 1_000).unwrap(), None);
    }

    pub fn alerts_open_conflict(s: &dyn Store) {
        let first = apply(
            s,
            AlertBatch {
                cursor: Some(("signals".to_string(), 10)),
                ..opens(vec![new_incident("down", "monitor", 7, 1_000)])
            },
        )[0];

        // A second open of the same rule and subject, in a batch with other writes.
        let clash = s.apply_alerts(&AlertBatch {
            opens: vec![
                new_incident("other", "monitor", 8, 2_000),
                new_incident("down", "monitor", 7, 2_000),
            ],
            updates: vec![(
                IncidentRef::Id(first),
                IncidentUpdate {
                    count: Some(9),
                    ..IncidentUpdate::default()
                },
            )],
            timeline: vec![
                (IncidentRef::Id(first), line(2_000, "note", "x", None)),
                (IncidentRef::New(0), line(2_000, "triggered", "y", None)),
            ],
            messages: vec![
                (IncidentRef::Id(first), queued("slack", "reminder", 2_000)),
                (IncidentRef::New(0), queued("slack", "triggered", 2_000)),
            ],
            cursor: Some(("signals".to_string(), 20)),
        });
        let msg = conflict_message(clash);
        assert!(msg.contains("already open"), "{msg}");
        // Nothing of that batch was written.
        assert_eq!(all_incidents(s), vec![first]);
        assert_eq!(incident_row(s, first).count, 1);
        assert!(s.incident_timeline(first).unwrap().is_empty());
        assert!(s.incident_messages(first).unwrap().is_empty());
        assert_eq!(s.next_message_due().unwrap(), None);
        assert_eq!(s.cursor("signals").unwrap(), Some(10));

        // The same key twice in one batch clashes too.
        let twice = s.apply_alerts(&opens(vec![
            new_incident("slow", "monitor", 7, 2_000),
            new_incident("slow", "monitor", 7, 2_000),
        ]));
        conflict_message(twice);
        assert_eq!(all_incidents(s), vec![first]);

        // Another subject kind or id, or another rule, is another incident.
        let others = apply(
            s,
            opens(vec![
                new_incident("down", "monitor", 8, 3_000),
                new_incident("slow", "monitor", 7, 3_000),
                new_incident("down", "project", 7, 3_000),
            ]),
        );
        assert_eq!(others.len(), 3);

        // Once resolved, the same key opens again, with a new id.
        apply(
            s,
            AlertBatch {
                updates: vec![(IncidentRef::Id(first), resolve(4_000, None))],
                ..AlertBatch::default()
            },
        );
        let again = apply(s, opens(vec![new_incident("down", "monitor", 7, 5_000)]))[0];
        assert!(again > others[2], "{again} reused an id");

        // Resolving and reopening in one batch works: the update goes first.
        let third = apply(
            s,
            AlertBatch {
                updates: vec![(IncidentRef::Id(again), resolve(6_000, None))],
                ..opens(vec![new_incident("down", "monitor", 7, 6_000)])
            },
        )[0];
        assert_eq!(incident_row(s, again).status.as_str(), "resolved");
        assert_eq!(incident_row(s, third).status.as_str(), "triggered");

        // Reopening a resolved incident while a newer one is open clashes as well.
        let reopen = s.apply_alerts(&AlertBatch {
            updates: vec![(
                IncidentRef::Id(first),
                IncidentUpdate {
                    status: Some(IncidentStatus::Triggered),
                    ..IncidentUpdate::default()
                },
            )],
            ..AlertBatch::default()
        });
        conflict_message(reopen);
        assert_eq!(incident_row(s, first).status.as_str(), "resolved");

        let mut open = others.clone();
        open.push(third);
        assert_eq!(open_ids(s), open);
    }

    pub fn alerts_bad_refs(s: &dyn Store) {
        let existing = apply(
            s,
            AlertBatch {
                cursor: Some(("signals".to_string(), 1)),
                ..opens(vec![new_incident("down", "monitor", 7, 1_000)])
            },
        )[0];
        let count = |n| IncidentUpdate {
            count: Some(n),
            ..IncidentUpdate::default()
        };
        let cursor = Some(("signals".to_string(), 2));
        let bad = [
            AlertBatch {
                opens: vec![new_incident("slow", "monitor", 7, 2_000)],
                updates: vec![
                    (IncidentRef::Id(existing), count(5)),
                    (IncidentRef::New(1), count(2)),
                ],
                cursor: cursor.clone(),
                ..AlertBatch::default()
            },
            AlertBatch {
                opens: vec![new_incident("slow", "monitor", 7, 2_000)],
                timeline: vec![
                    (IncidentRef::New(0), line(2_000, "triggered", "ok", None)),
                    (IncidentRef::New(3), line(2_000, "note", "bad", None)),
                ],
                messages: vec![(IncidentRef::New(0), queued("slack", "triggered", 2_000))],
                cursor: cursor.clone(),
                ..AlertBatch::default()
            },
            AlertBatch {
                opens: vec![new_incident("slow", "monitor", 7, 2_000)],
                updates: vec![(IncidentRef::Id(existing), count(7))],
                messages: vec![
                    (IncidentRef::New(0), queued("slack", "triggered", 2_000)),
                    (IncidentRef::New(1), queued("email", "triggered", 2_000)),
                ],
                cursor: cursor.clone(),
                ..AlertBatch::default()
            },
            AlertBatch {
                timeline: vec![(IncidentRef::Id(existing), line(2_000, "note", "ok", None))],
                messages: vec![(IncidentRef::New(0), queued("slack", "triggered", 2_000))],
                cursor,
                ..AlertBatch::default()
            },
        ];
        for batch in &bad {
            let r = s.apply_alerts(batch);
            assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
        }
        // Nothing of them was written.
        assert_eq!(all_incidents(s), vec![existing]);
        assert_eq!(incident_row(s, existing).count, 1);
        assert!(s.incident_timeline(existing).unwrap().is_empty());
        assert!(s.incident_messages(existing).unwrap().is_empty());
        assert_eq!(s.next_message_due().unwrap(), None);
        assert_eq!(s.cursor("signals").unwrap(), Some(1));
        // And the key they tried to open is free.
        apply(s, opens(vec![new_incident("slow", "monitor", 7, 3_000)]));
    }

    pub fn incident_lists(s: &dyn Store) {
        assert!(s.open_incidents().unwrap().is_empty());
        assert!(all_incidents(s).is_empty());
        let ids = apply(
            s,
            opens(vec![
                new_incident("errors", "project", 1, 1_000),
                new_incident("down", "monitor", 7, 2_000),
                new_incident("down", "monitor", 8, 3_000),
                new_incident("slow", "monitor", 7, 4_000),
                new_incident("errors", "project", 2, 5_000),
            ]),
        );
        let [a, b, c, d, e] = ids[..] else {
            panic!("{ids:?}")
        };
        apply(
            s,
            AlertBatch {
                updates: vec![
                    (IncidentRef::Id(a), resolve(6_000, None)),
                    (
                        IncidentRef::Id(b),
                        IncidentUpdate {
                            status: Some(IncidentStatus::Acknowledged),
                            acked: Some((6_000, "ana".to_string())),
                            ..IncidentUpdate::default()
                        },
                    ),
                    (IncidentRef::Id(e), resolve(6_000, Some("bob"))),
                ],
                ..AlertBatch::default()
            },
        );

        // Not resolved, oldest first.
        assert_eq!(open_ids(s), vec![b, c, d]);
        // Newest first.
        assert_eq!(all_incidents(s), vec![e, d, c, b, a]);
        let by_status = |statuses: &[&str]| {
            listed(
                s,
                IncidentFilter {
                    statuses: statuses
                        .iter()
                        .map(|s| s.parse().expect("an incident status"))
                        .collect(),
                    ..IncidentFilter::default()
                },
            )
        };
        assert_eq!(by_status(&["triggered"]), vec![d, c]);
        assert_eq!(by_status(&["triggered", "acknowledged"]), vec![d, c, b]);
        assert_eq!(by_status(&["resolved"]), vec![e, a]);
        let monitor7 = Some(Subject::Monitor(7));
        assert_eq!(
            listed(
                s,
                IncidentFilter {
                    subject: monitor7,
                    ..IncidentFilter::default()
                }
            ),
            vec![d, b]
        );
        assert_eq!(
            listed(
                s,
                IncidentFilter {
                    subject: Some(Subject::Project(7)),
                    ..IncidentFilter::default()
                }
            ),
            Vec::<i64>::new()
        );
        assert_eq!(
            listed(
                s,
                IncidentFilter {
                    subject: monitor7,
                    statuses: vec![IncidentStatus::Acknowledged],
                    ..IncidentFilter::default()
                }
            ),
            vec![b]
        );

        // Paging newest first by id.
        let page = |before_id| {
            listed(
                s,
                IncidentFilter {
                    limit: 2,
                    before_id,
                    ..IncidentFilter::default()
                },
            )
        };
        assert_eq!(page(None), vec![e, d]);
        assert_eq!(page(Some(d)), vec![c, b]);
        assert_eq!(page(Some(b)), vec![a]);
        assert_eq!(page(Some(a)), Vec::<i64>::new());
        assert_eq!(
            listed(
                s,
                IncidentFilter {
                    statuses: vec![IncidentStatus::Resolved],
                    limit: 1,
                    before_id: Some(e),
                    ..IncidentFilter::default()
                }
            ),
            vec![a]
        );
    }

    pub fn outbox_delivery(s: &dyn Store) {
        assert_eq!(s.next_message_due().unwrap(), None);
        assert!(s.due_messages(1_000_000, 10).unwrap().is_empty());
        let incident = apply(
            s,
            AlertBatch {
                messages: vec![
                    (IncidentRef::New(0), queued("slack", "triggered", 3_000)),
                    (IncidentRef::New(0), queued("email", "triggered", 1_000)),
                    (IncidentRef::New(0), queued("webhook", "triggered", 2_000)),
                    (IncidentRef::New(0), queued("pager", "triggered", 1_000)),
                    (IncidentRef::New(0), queued("sms", "triggered", 9_000)),
                ],
                ..opens(vec![new_incident("down", "monitor", 1, 1_000)])
            },
        )[0];
        let queued_rows = s.incident_messages(incident).unwrap();
        assert_eq!(
            channels(&queued_rows),
            vec!["slack", "email", "webhook", "pager", "sms"]
        );
        assert!(queued_rows.windows(2).all(|w| w[0].id < w[1].id));
        let id_of = |channel: &str| {
            queued_rows
                .iter()
                .find(|m| m.channel == channel)
                .map(|m| m.id)
                .expect("queued")
        };
        assert_eq!(s.next_message_due().unwrap(), Some(1_000));

        // Due at 2,500: oldest first (ties by id), at most `limit`, each leased.
        let due = s.due_messages(2_500, 2).unwrap();
        assert_eq!(channels(&due), vec!["email", "pager"]);
        assert!(due.iter().all(|m| m.next_attempt_ms == 62_500), "{due:?}");
        assert!(due
            .iter()
            .all(|m| m.status == OutboxStatus::Pending && m.attempts == 0));
        // Leased: the next caller (say, another instance) gets the rest only.
        assert_eq!(
            channels(&s.due_messages(2_500, 10).unwrap()),
            vec!["webhook"]
        );
        assert!(s.due_messages(2_500, 10).unwrap().is_empty());
        assert_eq!(s.next_message_due().unwrap(), Some(3_000));

        // Outcomes: sent, retry later, broken.
        s.update_message(
            id_of("email"),
            &OutboxUpdate {
                status: OutboxStatus::Sent,
                attempts: 1,
                next_attempt_ms: 2_500,
                last_error: None,
                sent_ms: Some(2_600),
            },
        )
        .unwrap();
        s.update_message(
            id_of("pager"),
            &OutboxUpdate {
                status: OutboxStatus::Pending,
                attempts: 1,
                next_attempt_ms: 5_000,
                last_error: Some("HTTP 503".to_string()),
                sent_ms: None,
            },
        )
        .unwrap();
        s.update_message(
            id_of("webhook"),
            &OutboxUpdate {
                status: OutboxStatus::Broken,
                attempts: 1,
                next_attempt_ms: 2_500,
                last_error: Some("HTTP 404".to_string()),
                sent_ms: None,
            },
        )
        .unwrap();
        // An unknown id is nothing to update.
        s.update_message(
            id_of("sms") + 1_000,
            &OutboxUpdate {
                status: OutboxStatus::Sent,
                attempts: 1,
                next_attempt_ms: 0,
                last_error: None,
                sent_ms: Some(1),
            },
        )
        .unwrap();
        let rows = s.incident_messages(incident).unwrap();
        let row = |channel: &str| rows.iter().find(|m| m.channel == channel).expect("row");
        let email = row("email");
        assert_eq!(
            (email.status.as_str(), email.attempts, email.sent_ms),
            ("sent", 1, Some(2_600))
        );
        assert_eq!(email.last_error, None);
        let pager = row("pager");
        assert_eq!(
            (pager.status.as_str(), pager.attempts, pager.next_attempt_ms),
            ("pending", 1, 5_000)
        );
        assert_eq!(pager.last_error.as_deref(), Some("HTTP 503"));
        assert_eq!(row("webhook").status.as_str(), "broken");
        assert_eq!(row("slack").next_attempt_ms, 3_000);

        // Pending are slack (3,000), pager (5,000) and sms (9,000).
        assert_eq!(s.next_message_due().unwrap(), Some(3_000));
        assert_eq!(
            channels(&s.due_messages(5_000, 10).unwrap()),
            vec!["slack", "pager"]
        );
        assert_eq!(s.next_message_due().unwrap(), Some(9_000));
        assert_eq!(channels(&s.due_messages(9_000, 10).unwrap()), vec!["sms"]);
        assert_eq!(s.next_message_due().unwrap(), Some(65_000));

        // A lease that runs out (its caller died mid-delivery) makes the message due again.
        assert!(s.due_messages(64_999, 10).unwrap().is_empty());
        let again = s.due_messages(65_000, 10).unwrap();
        assert_eq!(channels(&again), vec!["slack", "pager"]);

        for m in s.incident_messages(incident).unwrap() {
            if m.status == OutboxStatus::Pending {
                s.update_message(
                    m.id,
                    &OutboxUpdate {
                        status: OutboxStatus::Sent,
                        attempts: m.attempts + 1,
                        next_attempt_ms: m.next_attempt_ms,
                        last_error: None,
                        sent_ms: Some(70_000),
                    },
                )
                .unwrap();
            }
        }
        assert_eq!(s.next_message_due().unwrap(), None);
        assert!(s.due_messages(i64::MAX, 10).unwrap().is_empty());
    }

    /// Several callers claiming at once never get the same message.
    pub fn outbox_concurrent_claims(s: &dyn Store) {
        let messages = (0..200)
            .map(|i| {
                (
                    IncidentRef::New(0),
                    queued(&format!("c{i}"), "triggered", 1_000 + i),
                )
            })
            .collect();
        apply(
            s,
            AlertBatch {
                messages,
                ..opens(vec![new_incident("down", "monitor", 1, 1_000)])
            },
        );
        let claimed: Vec<Vec<i64>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(move || {
                        let mut mine = Vec::new();
                        loop {
                            let due = s.due_messages(10_000, 7).expect("claim");
                            if due.is_empty() {
                                return mine;
                            }
                            mine.extend(due.iter().map(|m| m.id));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("worker"))
                .collect()
        });
        let mut all = claimed.concat();
        let handed_out = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 200, "every message claimed");
        assert_eq!(handed_out, 200, "a message was handed out twice");
    }

    pub fn silences(s: &dyn Store) {
        assert!(s.active_silences(0).unwrap().is_empty());
        let silence = |kind: &str, target: &str, until_ms, by: Option<&str>| SilenceRow {
            id: 0,
            target_kind: kind.parse().expect("a silence target kind"),
            target: target.to_string(),
            until_ms,
            reason: format!("silence {target}"),
            created_by: by.map(str::to_string),
            created_ms: 1_000,
        };
        let a = s
            .create_silence(&silence("rule", "down", 5_000, Some("ana")))
            .unwrap();
        assert!(a.id > 0);
        assert_eq!(
            a,
            SilenceRow {
                id: a.id,
                ..silence("rule", "down", 5_000, Some("ana"))
            }
        );
        let b = s
            .create_silence(&silence("monitor", "7", 10_000, None))
            .unwrap();
        let c = s
            .create_silence(&silence("project", "1", 3_000, None))
            .unwrap();
        assert!(a.id < b.id && b.id < c.id);

        assert_eq!(
            s.active_silences(2_999).unwrap(),
            vec![a.clone(), b.clone(), c.clone()]
        );
        // A silence ending at `now` is over.
        assert_eq!(
            s.active_silences(3_000).unwrap(),
            vec![a.clone(), b.clone()]
        );
        assert_eq!(s.active_silences(5_000).unwrap(), vec![b.clone()]);
        assert!(s.active_silences(10_000).unwrap().is_empty());

        assert!(s.delete_silence(b.id).unwrap());
        assert!(!s.delete_silence(b.id).unwrap());
        assert_eq!(s.active_silences(0).unwrap(), vec![a.clone(), c.clone()]);
        // The newest id deleted is not handed out again.
        assert!(s.delete_silence(c.id).unwrap());
        let d = s
            .create_silence(&silence("rule", "slow", 9_000, None))
            .unwrap();
        assert!(d.id > c.id, "{} reused", d.id);
        assert_eq!(s.active_silences(0).unwrap(), vec![a, d]);
    }

    pub fn broken_channels(s: &dyn Store) {
        let state = |channel: &str, reason: &str, since_ms| ChannelState {
            channel: channel.to_string(),
            reason: reason.to_string(),
            since_ms,
        };
        assert!(s.broken_channels().unwrap().is_empty());
        s.set_channel_broken("slack", Some("HTTP 404 no_service"), 1_000)
            .unwrap();
        s.set_channel_broken("discord", Some("HTTP 401"), 2_000)
            .unwrap();
        assert_eq!(
            s.broken_channels().unwrap(),
            vec![
                state("discord", "HTTP 401", 2_000),
                state("slack", "HTTP 404 no_service", 1_000)
            ]
        );
        // Marked again while broken: the reason follows, the start stays.
        s.set_channel_broken("slack", Some("HTTP 410"), 5_000)
            .unwrap();
        assert_eq!(
            s.broken_channels().unwrap(),
            vec![
                state("discord", "HTTP 401", 2_000),
                state("slack", "HTTP 410", 1_000)
            ]
        );
        // Repaired: the mark goes; repairing a channel that is fine is no error.
        s.set_channel_broken("slack", None, 6_000).unwrap();
        s.set_channel_broken("email", None, 6_000).unwrap();
        assert_eq!(
            s.broken_channels().unwrap(),
            vec![state("discord", "HTTP 401", 2_000)]
        );
        // Broken again later: a new start.
        s.set_channel_broken("slack", Some("HTTP 404"), 7_000)
            .unwrap();
        assert_eq!(
            s.broken_channels().unwrap(),
            vec![
                state("discord", "HTTP 401", 2_000),
                state("slack", "HTTP 404", 7_000)
            ]
        );
    }

    /// Writers and readers at once; every write must land, no reader may fail.
    pub fn concurrent_readers(s: Arc<dyn Store>) {
        let p = project(&*s, "p");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let s = Arc::clone(&s);
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut reads = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let list = s
                            .list_issues(&IssueFilter {
                                project_id: p,
                                ..IssueFilter::default()
                            })
                            .expect("list while writing");
                        if let Some(i) = list.first() {
                            s.get_issue(i.id).expect("get while writing");
                            s.list_events(i.id, 10, None).expect("events while writing");
                        }
                        s.signals_after(0, 50).expect("signals while writing");
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let writer = {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for b in 0..20u64 {
                    let batch: Vec<NewEvent> = (0..200u64)
                        .map(|i| {
                            event(p, b * 1_000 + i, &format!("fp{}", i % 10), 1_000 + i as i64)
                        })
                        .collect();
                    s.write_batch(&events_batch(batch))
                        .expect("write while reading");
                }
            })
        };
        writer.join().expect("writer thread");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
        assert!(reads > 0);
        let list = s
            .list_issues(&IssueFilter {
                project_id: p,
                ..IssueFilter::default()
            })
            .unwrap();
        assert_eq!(list.len(), 10);
        assert!(list.iter().all(|i| i.count == 400));
    }

    // --- status pages ---

    fn page(slug: &str, domain: Option<&str>, groups: Vec<(&str, Vec<i64>)>) -> NewStatusPage {
        NewStatusPage {
            slug: slug.to_string(),
            title: format!("{slug} status"),
            domain: domain.map(str::to_string),
            groups: groups
                .into_iter()
                .map(|(name, monitor_ids)| StatusPageGroup {
                    name: name.to_string(),
                    monitor_ids,
                })
                .collect(),
            source: StatusPageSource::Api,
            now_ms: 1_000,
        }
    }

    pub fn status_pages(s: &dyn Store) {
        let (a, b, c) = (monitor(s, "a"), monitor(s, "b"), monitor(s, "c"));
        let acme = s
            .create_status_page(&page(
                "acme",
                Some("status.acme.example"),
                vec![("Web", vec![b, a]), ("Jobs", vec![c])],
            ))
            .unwrap();
        assert_eq!(acme.groups.len(), 2);
        let got = s.get_status_page("acme").unwrap().unwrap();
        assert_eq!(got, acme);
        assert_eq!(got.groups[0].monitor_ids, vec![b, a], "order is kept");
        assert_eq!(got.groups[1].name, "Jobs");
        assert_eq!(got.domain.as_deref(), Some("status.acme.example"));
        assert!(s.get_status_page("nope").unwrap().is_none());

        let msg = conflict_message(s.create_status_page(&page("acme", None, vec![])));
        assert!(msg.contains("slug `acme`"), "{msg}");
        let msg = conflict_message(s.create_status_page(&page(
            "other",
            Some("status.acme.example"),
            vec![("", vec![a])],
        )));
        assert!(msg.contains("status.acme.example"), "{msg}");
        // Pages without a domain do not clash with one another.
        s.create_status_page(&page("one", None, vec![("", vec![a])]))
            .unwrap();
        s.create_status_page(&page("two", None, vec![("", vec![c])]))
            .unwrap();
        let slugs = |s: &dyn Store| -> Vec<String> {
            s.list_status_pages()
                .unwrap()
                .into_iter()
                .map(|p| p.slug)
                .collect()
        };
        assert_eq!(slugs(s), ["acme", "one", "two"]);

        // An update renames and regroups; an upsert by slug replaces.
        let renamed = s
            .update_status_page("one", &page("uno", None, vec![("All", vec![c, a])]))
            .unwrap()
            .unwrap();
        assert_eq!(renamed.groups[0].monitor_ids, vec![c, a]);
        assert!(s
            .update_status_page("one", &page("x", None, vec![]))
            .unwrap()
            .is_none());
        let msg = conflict_message(s.update_status_page("uno", &page("two", None, vec![])));
        assert!(msg.contains("slug `two`"), "{msg}");
        let mut cfg = page("two", Some("two.example"), vec![("", vec![b])]);
        cfg.source = StatusPageSource::Config;
        let two = s.upsert_status_page(&cfg).unwrap();
        assert_eq!(two.source, StatusPageSource::Config);
        assert_eq!(
            s.get_status_page("two").unwrap().unwrap().groups[0].monitor_ids,
            vec![b]
        );

        // A deleted monitor leaves the pages showing it.
        assert!(s.delete_monitor(a).unwrap());
        let acme = s.get_status_page("acme").unwrap().unwrap();
        assert_eq!(acme.groups[0].monitor_ids, vec![b]);
        assert_eq!(
            s.get_status_page("uno").unwrap().unwrap().groups[0].monitor_ids,
            vec![c]
        );

        // Pruning removes config pages not kept, never API pages.
        assert_eq!(s.prune_config_status_pages(&[]).unwrap(), 1);
        assert_eq!(slugs(s), ["acme", "uno"]);
        assert!(s.delete_status_page("uno").unwrap());
        assert!(!s.delete_status_page("uno").unwrap());
        assert_eq!(slugs(s), ["acme"]);
    }

    pub fn public_notes_and_monitor_incidents(s: &dyn Store) {
        let (m, other) = (monitor(s, "m"), monitor(s, "other"));
        let ids = apply(
            s,
            opens(vec![
                new_incident("down", "monitor", m, 1_000),
                new_incident("slow", "monitor", m, 2_000),
                new_incident("down", "monitor", other, 3_000),
                new_incident("errors", "project", m, 4_000),
            ]),
        );
        apply(
            s,
            AlertBatch {
                updates: vec![(IncidentRef::Id(ids[0]), resolve(5_000, None))],
                timeline: vec![(
                    IncidentRef::Id(ids[0]),
                    line(
                        5_000,
                        "note",
                        "internal: the db host is 10.0.0.5",
                        Some("ann"),
                    ),
                )],
                ..AlertBatch::default()
            },
        );
        let shown = |since| -> Vec<i64> {
            s.monitor_incidents(&[m], since, 10)
                .unwrap()
                .iter()
                .map(|i| i.id)
                .collect()
        };
        assert_eq!(
            shown(0),
            vec![ids[1], ids[0]],
            "newest first, this monitor only"
        );
        assert_eq!(
            shown(6_000),
            vec![ids[1]],
            "resolved before `since` left out"
        );
        assert_eq!(s.monitor_incidents(&[m, other], 0, 2).unwrap().len(), 2);

        let n1 = s
            .add_public_note(ids[0], 5_100, "We are looking into it.", Some("ann"))
            .unwrap()
            .unwrap();
        let n2 = s
            .add_public_note(ids[0], 5_200, "Fixed.", None)
            .unwrap()
            .unwrap();
        s.add_public_note(ids[2], 5_300, "Other monitor.", None)
            .unwrap()
            .unwrap();
        assert!(s.add_public_note(9_999, 1, "x", None).unwrap().is_none());
        assert_eq!(n1.text, "We are looking into it.");
        assert_eq!(n1.author.as_deref(), Some("ann"));
        assert_eq!(s.public_notes(&[ids[0]]).unwrap(), vec![n1, n2]);
        assert_eq!(s.public_notes(&[ids[0], ids[2]]).unwrap().len(), 3);
        assert!(s.public_notes(&[]).unwrap().is_empty());
        // Internal notes stay in the timeline and never become public ones.
        assert!(s
            .public_notes(&[ids[0]])
            .unwrap()
            .iter()
            .all(|n| !n.text.contains("10.0.0.5")));
    }

    pub fn accounts(s: &dyn Store) {
        assert_eq!(s.count_users().unwrap(), 0);
        let u = s.create_user("a@example.org", "$argon2id$hash", 5).unwrap();
        assert_eq!(
            (u.email.as_str(), u.created_ms, u.last_login_ms),
            ("a@example.org", 5, None)
        );
        assert!(matches!(
            s.create_user("a@example.org", "x", 6),
            Err(StoreError::Conflict(_))
        ));
        let b = s.create_user("b@example.org", "hb", 6).unwrap();
        assert_eq!(s.count_users().unwrap(), 2);
        assert_eq!(
            s.list_users()
                .unwrap()
                .iter()
                .map(|u| u.id)
                .collect::<Vec<_>>(),
            [u.id, b.id]
        );
        assert_eq!(
            s.get_user_by_email("b@example.org")
                .unwrap()
                .unwrap()
                .password_hash,
            "hb"
        );
        assert!(s.get_user_by_email("c@example.org").unwrap().is_none());

        // Sessions: found until they expire; a new password signs everyone out.
        let session = |h: &str, user_id: i64, expires_ms: i64| NewSession {
            id_hash: h.to_string(),
            user_id,
            csrf: format!("csrf-{h}"),
            created_ms: 10,
            expires_ms,
        };
        s.create_session(&session("s1", u.id, 1_000)).unwrap();
        s.create_session(&session("s2", b.id, 1_000)).unwrap();
        let (found, user) = s.get_session("s1", 999).unwrap().unwrap();
        assert_eq!((found.csrf.as_str(), user.id), ("csrf-s1", u.id));
        assert!(s.get_session("s1", 1_000).unwrap().is_none(), "expired");
        assert!(s.get_session("nope", 0).unwrap().is_none());
        s.touch_login(u.id, 77).unwrap();
        assert_eq!(
            s.get_user_by_email("a@example.org")
                .unwrap()
                .unwrap()
                .last_login_ms,
            Some(77)
        );
        assert!(s.set_password("a@example.org", "new").unwrap());
        assert!(!s.set_password("nobody@example.org", "new").unwrap());
        assert!(
            s.get_session("s1", 0).unwrap().is_none(),
            "signed out by the new password"
        );
        assert!(s.get_session("s2", 0).unwrap().is_some(), "others stay");
        s.delete_session("s2", 0).unwrap();
        assert!(s.get_session("s2", 0).unwrap().is_none());

        // API tokens: looked up by hash until revoked, only by their owner.
        let t = s
            .create_api_token(&NewApiToken {
                user_id: u.id,
                name: "ci".into(),
                token_hash: "th".into(),
                prefix: "lkt_ab".into(),
                scopes: vec!["read".into(), "project:releases".into()],
                projects: None,
                created_ms: 20,
            })
            .unwrap();
        assert_eq!(t.scopes, ["read", "project:releases"]);
        assert_eq!(t.projects, None, "every project");
        // A token limited to projects keeps the list.
        let limited = s
            .create_api_token(&NewApiToken {
                user_id: u.id,
                name: "ci-web".into(),
                token_hash: "th-web".into(),
                prefix: "lkt_cd".into(),
                scopes: vec!["project:releases".into()],
                projects: Some(vec![7, 42]),
                created_ms: 21,
            })
            .unwrap();
        assert_eq!(limited.projects, Some(vec![7, 42]));
        let used = s.use_api_token("th-web", 22).unwrap().unwrap();
        assert_eq!(used.projects, Some(vec![7, 42]));
        assert!(s.revoke_api_token(u.id, limited.id, 23).unwrap());
        let used = s.use_api_token("th", 30).unwrap().unwrap();
        assert_eq!((used.id, used.last_used_ms), (t.id, Some(30)));
        assert!(s.use_api_token("other", 30).unwrap().is_none());
        assert!(
            !s.revoke_api_token(b.id, t.id, 40).unwrap(),
            "not b's token"
        );
        assert!(s.revoke_api_token(u.id, t.id, 40).unwrap());
        assert!(
            !s.revoke_api_token(u.id, t.id, 41).unwrap(),
            "revoked already"
        );
        assert!(s.use_api_token("th", 50).unwrap().is_none());
        let listed = s.list_api_tokens(u.id).unwrap();
        let first = listed.iter().find(|l| l.id == t.id).unwrap();
        assert_eq!(first.revoked_ms, Some(40));
        assert!(s.list_api_tokens(b.id).unwrap().is_empty());

        // Deleting a user takes their sessions and tokens.
        s.create_session(&session("s3", u.id, 1_000)).unwrap();
        assert!(s.delete_user("a@example.org").unwrap());
        assert!(!s.delete_user("a@example.org").unwrap());
        assert!(s.get_session("s3", 0).unwrap().is_none());
        assert!(s.list_api_tokens(u.id).unwrap().is_empty());

        // Failed sign-ins are counted per key within a window and forgotten later.
        for at in [100, 200, 300] {
            s.record_login_failure("account:x", at, 0).unwrap();
        }
        s.record_login_failure("addr:1.2.3.4", 300, 0).unwrap();
        assert_eq!(s.count_login_failures("account:x", 150).unwrap(), 2);
        assert_eq!(s.count_login_failures("account:x", 0).unwrap(), 3);
        assert_eq!(s.count_login_failures("account:y", 0).unwrap(), 0);
        s.record_login_failure("account:y", 400, 250).unwrap();
        assert_eq!(
            s.count_login_failures("account:x", 0).unwrap(),
            1,
            "older ones forgotten"
        );
    }

    pub fn hourly_counts(s: &dyn Store) {
        let p = project(s, "hours");
        let q = project(s, "other");
        let base = 100 * HOUR;
        s.write_batch(&events_batch(vec![
            event(p, 1, "a", base + 10),
            event(p, 2, "a", base + 20),
            event(p, 3, "b", base + HOUR + 5),
            event(p, 4, "a", base + 3 * HOUR),
            event(q, 5, "a", base + 30),
        ]))
        .unwrap();
        assert_eq!(
            s.hourly_event_counts(p, base, base + 3 * HOUR).unwrap(),
            [(base, 2), (base + HOUR, 1)],
            "per hour, the end excluded, other projects apart"
        );
        let ids = issues(
            s,
            IssueFilter {
                project_id: p,
                sort: IssueSort::FirstSeen,
                ..IssueFilter::default()
            },
        );
        let (b, a) = (ids[0], ids[1]);
        let mut counts = s.issue_hourly_counts(p, &[a, b], base + 15).unwrap();
        counts.sort();
        assert_eq!(
            counts,
            [(a, base, 1), (a, base + 3 * HOUR, 1), (b, base + HOUR, 1)]
        );
        assert!(s.issue_hourly_counts(p, &[], 0).unwrap().is_empty());
        assert!(s
            .issue_hourly_counts(q, &[a], base + 4 * HOUR)
            .unwrap()
            .is_empty());
    }

    fn sample(
        p: i64,
        name: &str,
        release: &str,
        at_ms: i64,
        ms: f64,
        error: bool,
    ) -> LatencySample {
        LatencySample {
            kind: KIND_REQUEST,
            owner_id: p,
            name: name.to_string(),
            release: release.to_string(),
            environment: "production".to_string(),
            at_ms,
            duration_ms: ms,
            error,
        }
    }

    /// Request durations merge into minute, hour and day histograms across batches; a
    /// range reads days and hours inside it, minutes at its edges and what is not merged
    /// yet, so any range equals the union of what was recorded in it, before, while and
    /// after the writes are merged.
    pub fn request_latency(s: &dyn Store) {
        let p = project(s, "lat");
        let other = project(s, "other");
        let t0 = 1_000 * HOUR;
        let mut all = Vec::new();
        // Three hours of requests, one a minute per route, written in several batches
        // (the same rows merged again and again).
        for minute in 0..180i64 {
            let at = t0 + minute * 60_000 + 1_000;
            all.push(sample(
                p,
                "GET /a",
                "1.0",
                at,
                (minute % 60 + 1) as f64 * 10.0,
                false,
            ));
            all.push(sample(p, "GET /b", "2.0", at, 2_000.0, minute % 10 == 0));
        }
        all.push(sample(other, "GET /a", "1.0", t0, 99_999.0, true));
        for (i, chunk) in all.chunks(37).enumerate() {
            if i == 5 {
                // Some merged into their rows, the rest still as written.
                // Each sample its own minute and series: one written delta each.
                assert_eq!(s.compact_latency().unwrap(), 5 * 37);
            }
            s.write_batch(&WriteBatch {
                latency: chunk.to_vec(),
                ..WriteBatch::default()
            })
            .unwrap();
        }
        let q = |from_ms: i64, to_ms: i64| LatencyQuery {
            kind: KIND_REQUEST,
            owner_id: p,
            from_ms,
            to_ms,
            ..LatencyQuery::default()
        };
        let check = |when: &str| {
            let whole = s.latency_total(&q(t0, t0 + 3 * HOUR)).unwrap();
            assert_eq!(whole.hist.count(), 360);
            assert_eq!(whole.errors, 18);
            // Any range, aligned to hours or not, counts exactly the requests inside it.
            for (from, to) in [
                (t0 + 17 * 60_000, t0 + 2 * HOUR + 5 * 60_000),
                (t0 + 30 * 60_000, t0 + 50 * 60_000),
                (t0 + HOUR, t0 + 2 * HOUR),
                (t0 - HOUR, t0 + 10 * HOUR),
            ] {
                let got = s.latency_total(&q(from, to)).unwrap();
                let mut want = lookout_core::histogram::Histogram::new();
                for x in all
                    .iter()
                    .filter(|x| x.owner_id == p && x.at_ms >= from && x.at_ms < to)
                {
                    want.record(x.duration_ms);
                }
                assert_eq!(got.hist, want, "{from}..{to} {when}");
            }
            let by_name = s.latency_by_name(&q(t0, t0 + 3 * HOUR)).unwrap();
            let names: Vec<&str> = by_name.iter().map(|x| x.key.as_str()).collect();
            assert_eq!(names, ["GET /b", "GET /a"], "slowest first");
            assert_eq!(by_name[1].hist.quantile(50.0), Some(300.5));
            assert_eq!(by_name[1].hist.count_under(300.0), 87);
            // Filters.
            let only = LatencyQuery {
                release: Some("1.0".into()),
                ..q(t0, t0 + 3 * HOUR)
            };
            assert_eq!(s.latency_total(&only).unwrap().hist.count(), 180);
            let named = LatencyQuery {
                name: Some("GET /b".into()),
                environment: Some("staging".into()),
                ..q(t0, t0 + 3 * HOUR)
            };
            assert_eq!(s.latency_total(&named).unwrap().hist.count(), 0);
            // Series per hour.
            let series = s.latency_series(&q(t0, t0 + 3 * HOUR), HOUR).unwrap();
            assert_eq!(series.len(), 3);
            assert!(series.iter().all(|x| x.hist.count() == 120));
            assert_eq!(series[1].start_ms, t0 + HOUR);
            assert!(s.latency_series(&q(t0, t0 + HOUR), 1_000).is_err());
        };
        check("partly merged");
        assert!(s.compact_latency().unwrap() > 0);
        check("merged");
        assert_eq!(s.compact_latency().unwrap(), 0, "nothing left to merge");
        // Health sub-checks outside ingest batches.
        s.record_latency(&[LatencySample {
            kind: KIND_HEALTH,
            owner_id: 7,
            name: "database".into(),
            release: String::new(),
            environment: String::new(),
            at_ms: t0,
            duration_ms: 42.0,
            error: false,
        }])
        .unwrap();
        let health = s
            .latency_total(&LatencyQuery {
                kind: KIND_HEALTH,
                owner_id: 7,
                from_ms: t0,
                to_ms: t0 + 1,
                name: Some("database".into()),
                ..LatencyQuery::default()
            })
            .unwrap();
        assert_eq!(health.hist.count(), 1);
        // Days: rows of whole days inside a range, hours and minutes at its edges.
        let d0 = 50 * 24 * HOUR;
        let days: Vec<LatencySample> = (0..3 * 24 * 4)
            .map(|i| {
                sample(
                    other,
                    "GET /d",
                    "1.0",
                    d0 + i * 15 * 60_000,
                    (i % 97) as f64,
                    false,
                )
            })
            .collect();
        s.record_latency(&days).unwrap();
        for (round, (from, to)) in [
            (d0 + 30 * 60_000, d0 + 3 * 24 * HOUR - 30 * 60_000),
            (d0, d0 + 2 * 24 * HOUR),
            (d0 + 23 * HOUR, d0 + 49 * HOUR + 1),
        ]
        .into_iter()
        .cycle()
        .take(6)
        .enumerate()
        {
            if round == 3 {
                // The days, and the health sub-check written before them.
                assert_eq!(s.compact_latency().unwrap(), 3 * 24 * 4 + 1);
            }
            let got = s
                .latency_total(&LatencyQuery {
                    owner_id: other,
                    name: Some("GET /d".into()),
                    ..q(from, to)
                })
                .unwrap();
            let mut want = lookout_core::histogram::Histogram::new();
            for x in days.iter().filter(|x| x.at_ms >= from && x.at_ms < to) {
                want.record(x.duration_ms);
            }
            assert_eq!(got.hist, want, "{from}..{to}, round {round}");
        }
        // Minute rows go first; hours stay.
        let gone = s.prune_latency(t0 + 3 * HOUR, t0).unwrap();
        assert!(gone > 0);
        assert_eq!(
            s.latency_total(&q(t0, t0 + 3 * HOUR)).unwrap().hist.count(),
            360
        );
        assert_eq!(
            s.latency_total(&q(t0 + 30 * 60_000, t0 + 50 * 60_000))
                .unwrap()
                .hist
                .count(),
            0,
            "minute rows pruned"
        );
        // Hour and day rows go together.
        s.prune_latency(0, d0 + 3 * 24 * HOUR).unwrap();
        let days_left = s
            .latency_total(&LatencyQuery {
                owner_id: other,
                ..q(d0, d0 + 3 * 24 * HOUR)
            })
            .unwrap();
        assert_eq!(days_left.hist.count(), 0, "day rows pruned with the hours");
    }

    /// Writers append durations while two compactions merge them (as two instances'
    /// jobs might during a handover): every duration ends in its rows exactly once.
    pub fn concurrent_latency_compaction(s: Arc<dyn Store>) {
        let p = project(s.as_ref(), "lat-race");
        let t0 = 2_000 * HOUR;
        const WRITERS: i64 = 3;
        const BATCHES: i64 = 40;
        const PER_BATCH: i64 = 25;
        let done = std::sync::atomic::AtomicUsize::new(0);
        let merged = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|scope| {
            for w in 0..WRITERS {
                let (s, done) = (&s, &done);
                scope.spawn(move || {
                    for b in 0..BATCHES {
                        let batch: Vec<LatencySample> = (0..PER_BATCH)
                            .map(|i| {
                                let n = (w * BATCHES + b) * PER_BATCH + i;
                                let at = t0 + (n * 7_919) % (2 * HOUR);
                                sample(
                                    p,
                                    ["GET /x", "GET /y"][(n % 2) as usize],
                                    "1",
                                    at,
                                    (n % 900) as f64,
                                    false,
                                )
                            })
                            .collect();
                        s.write_batch(&WriteBatch {
                            latency: batch,
                            ..WriteBatch::default()
                        })
                        .unwrap();
                    }
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
            for _ in 0..2 {
                let (s, done, merged) = (&s, &done, &merged);
                scope.spawn(move || {
                    while done.load(std::sync::atomic::Ordering::SeqCst) < WRITERS as usize {
                        let n = s.compact_latency().unwrap();
                        merged.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        let rest = s.compact_latency().unwrap();
        assert!(merged.into_inner() + rest > 0);
        let q = |from_ms: i64, to_ms: i64| LatencyQuery {
            kind: KIND_REQUEST,
            owner_id: p,
            from_ms,
            to_ms,
            ..LatencyQuery::default()
        };
        let total = s.latency_total(&q(t0, t0 + 2 * HOUR)).unwrap();
        assert_eq!(total.hist.count(), (WRITERS * BATCHES * PER_BATCH) as u64);
        // Hour rows, minute rows: the same durations whichever a range reads.
        let hours = s.latency_series(&q(t0, t0 + 2 * HOUR), HOUR).unwrap();
        let minutes = s.latency_series(&q(t0, t0 + 2 * HOUR), 60_000).unwrap();
        let count = |v: &[LatencyStats]| v.iter().map(|x| x.hist.count()).sum::<u64>();
        assert_eq!(count(&hours), total.hist.count());
        assert_eq!(count(&minutes), total.hist.count());
        assert_eq!(s.compact_latency().unwrap(), 0);
    }

    /// Objectives created through the API: unique names, listed by name, deleted once.
    pub fn slo_crud(s: &dyn Store) {
        let spec = serde_json::json!({"name": "b", "kind": "availability", "monitor": "Home", "target": 99.9});
        let b = s.create_slo("b", &spec, 5).unwrap();
        s.create_slo("a", &serde_json::json!({"x": 1}), 6).unwrap();
        assert!(matches!(
            s.create_slo("b", &spec, 7),
            Err(StoreError::Conflict(_))
        ));
        let all = s.list_slos().unwrap();
        let names: Vec<&str> = all.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(all[1], b);
        assert_eq!(all[1].spec, spec);
        assert!(s.delete_slo("b").unwrap());
        assert!(!s.delete_slo("b").unwrap());
        assert_eq!(s.list_slos().unwrap().len(), 1);
    }
}

/// Deploys: recorded, listed by project / environment / release, the one before a time,
/// and the watch judged once.
mod deploy_cases {
    use super::*;

    fn deploy(project_id: i64, env: &str, release: &str, started_ms: i64) -> NewDeploy {
        NewDeploy {
            project_id,
            environment: env.to_string(),
            release: release.to_string(),
            name: None,
            url: None,
            commit: None,
            started_ms,
            finished_ms: None,
            verdict: None,
            checks: serde_json::json!([]),
            rollback: None,
            watch_until_ms: None,
            now_ms: started_ms,
        }
    }

    pub fn deploys(s: &dyn Store) {
        let p = s.create_project(&new_project("web")).unwrap().id;
        let other = s.create_project(&new_project("api")).unwrap().id;
        let checks = serde_json::json!([
            {"kind": "health", "target": "http://127.0.0.1:3000/api/health", "outcome": "pass",
             "summary": "ok", "attempts": 2, "duration_ms": 812}
        ]);
        let first = s
            .create_deploy(&NewDeploy {
                name: Some("deploy #41".into()),
                url: Some("https://ci.example.org/runs/41".into()),
                commit: Some("0123abc".into()),
                finished_ms: Some(10 * HOUR + 30_000),
                verdict: Some("passed".into()),
                checks: checks.clone(),
                watch_until_ms: Some(10 * HOUR + 600_000),
                ..deploy(p, "production", "web@1.0.0", 10 * HOUR)
            })
            .unwrap();
        assert_eq!(first.release, "web@1.0.0");
        assert_eq!(first.checks, checks);
        assert_eq!(first.verdict.as_deref(), Some("passed"));
        assert_eq!(first.commit.as_deref(), Some("0123abc"));
        assert_eq!(first.name.as_deref(), Some("deploy #41"));
        assert_eq!(first.watch_verdict, None);
        assert_eq!(s.get_deploy(first.id).unwrap(), Some(first.clone()));
        assert_eq!(s.get_deploy(first.id + 1_000).unwrap(), None);

        let rollback = serde_json::json!({"to": "HEAD~1", "steps": [{"command": "pm2 restart web", "outcome": "ok"}]});
        let second = s
            .create_deploy(&NewDeploy {
                verdict: Some("rolled_back".into()),
                rollback: Some(rollback.clone()),
                ..deploy(p, "production", "web@1.1.0", 12 * HOUR)
            })
            .unwrap();
        assert_eq!(second.rollback, Some(rollback));
        let staging = s
            .create_deploy(&deploy(p, "staging", "web@1.1.0", 11 * HOUR))
            .unwrap();
        s.create_deploy(&deploy(other, "production", "api@7", 11 * HOUR))
            .unwrap();

        let ids = |f: DeployFilter| -> Vec<i64> {
            s.list_deploys(&f).unwrap().iter().map(|d| d.id).collect()
        };
        assert_eq!(
            ids(DeployFilter {
                project_id: Some(p),
                ..DeployFilter::default()
            }),
            [second.id, staging.id, first.id],
            "newest first"
        );
        assert_eq!(
            ids(DeployFilter {
                project_id: Some(p),
                environment: Some("production".into()),
                ..DeployFilter::default()
            }),
            [second.id, first.id]
        );
        assert_eq!(
            ids(DeployFilter {
                release: Some("web@1.1.0".into()),
                limit: 1,
                ..DeployFilter::default()
            }),
            [second.id]
        );
        assert_eq!(s.list_deploys(&DeployFilter::default()).unwrap().len(), 4);

        // Which deploy came before a time: none before the first, then the latest started.
        let before = s
            .deploys_before(p, &[9 * HOUR, 10 * HOUR, 11 * HOUR + 1, 13 * HOUR])
            .unwrap();
        let before: Vec<Option<i64>> = before.iter().map(|d| d.as_ref().map(|d| d.id)).collect();
        assert_eq!(
            before,
            [None, Some(first.id), Some(staging.id), Some(second.id)]
        );

        // The watch: due once its end has passed, judged once.
        assert!(s.watches_due(10 * HOUR + 599_999).unwrap().is_empty());
        let due = s.watches_due(10 * HOUR + 600_000).unwrap();
        assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), [first.id]);
        let figures = serde_json::json!({"errors_per_min_after": 4.0, "new_issues": 2});
        assert!(s.judge_deploy(first.id, "bad", &figures).unwrap());
        assert!(
            !s.judge_deploy(first.id, "good", &figures).unwrap(),
            "judged once"
        );
        let judged = s.get_deploy(first.id).unwrap().unwrap();
        assert_eq!(judged.watch_verdict.as_deref(), Some("bad"));
        assert_eq!(judged.watch, Some(figures.clone()));
        // The rollback hook's outcome is added to the figures; the verdict stays.
        let with_hook = serde_json::json!({"new_issues": 2, "rollback_hook": {"webhook": {"outcome": "failed"}}});
        s.set_watch_figures(first.id, &with_hook).unwrap();
        let judged = s.get_deploy(first.id).unwrap().unwrap();
        assert_eq!(judged.watch_verdict.as_deref(), Some("bad"));
        assert_eq!(judged.watch, Some(with_hook));
        assert!(s.watches_due(20 * HOUR).unwrap().is_empty());

        // A bad verdict's signal is recorded with it, once: the instance that loses the
        // race to judge records none.
        let watched = s
            .create_deploy(&NewDeploy {
                watch_until_ms: Some(13 * HOUR),
                ..deploy(p, "production", "web@1.2.0", 12 * HOUR + 1)
            })
            .unwrap();
        let cursor = s
            .signals_after(0, 10_000)
            .unwrap()
            .last()
            .map_or(0, |x| x.id);
        let bad_signal = || lookout_core::signal::Signal {
            id: 0,
            kind: SignalKind::DeployBad,
            project_id: Some(p),
            issue_id: None,
            event_id: None,
            monitor_id: None,
            detail: Some("web@1.2.0 in production: 1 new issue(s)".into()),
            created_ms: 13 * HOUR,
        };
        let mut signal = bad_signal();
        assert!(s
            .judge_deploy_signalling(watched.id, "bad", &figures, Some(&mut signal))
            .unwrap());
        assert!(signal.id > cursor);
        let mut again = bad_signal();
        assert!(!s
            .judge_deploy_signalling(watched.id, "bad", &figures, Some(&mut again))
            .unwrap());
        let recorded = s.signals_after(cursor, 100).unwrap();
        assert_eq!(recorded.len(), 1, "{recorded:?}");
        assert_eq!(recorded[0].kind, SignalKind::DeployBad);
        assert_eq!(recorded[0].id, signal.id);
        assert_eq!(recorded[0].project_id, Some(p));
        assert_eq!(recorded[0].detail, signal.detail);
    }

    /// What the watch counts: errors of the environment before and after, issues first
    /// seen in the release, issues with unhandled errors from it, its sessions.
    pub fn watch_counts(s: &dyn Store) {
        let p = s.create_project(&new_project("web")).unwrap().id;
        let at = 10 * HOUR;
        let window = 600_000;
        let ev =
            |n: u64, fp: &str, ms: i64, release: &str, env: &str, handled: Option<bool>| NewEvent {
                release: Some(release.into()),
                environment: Some(env.into()),
                handled,
                ..event(p, n, fp, ms)
            };
        let mut events = vec![
            // Before: two errors of the old release, one of another environment.
            ev(1, "old", at - 300_000, "web@1", "production", None),
            ev(2, "old", at - 200_000, "web@1", "production", None),
            ev(3, "old", at - 100_000, "web@1", "staging", None),
        ];
        // After: five errors of the new release over two new issues, one unhandled; an
        // old issue seen again is not new; one error after the window.
        for n in 0..4 {
            events.push(ev(
                10 + n,
                "checkout",
                at + 1_000 + n as i64,
                "web@2",
                "production",
                None,
            ));
        }
        events.push(ev(
            20,
            "worker",
            at + 5_000,
            "web@2",
            "production",
            Some(false),
        ));
        events.push(ev(21, "old", at + 6_000, "web@2", "production", None));
        events.push(ev(22, "late", at + window + 1, "web@2", "production", None));
        // Requests of web@2 in production in the window, 10 ms to 1 s: 60 transactions
        // (a row and a histogram sample each, as ingest writes them) and 40 v2 segment
        // spans (a histogram sample only). Outside: staging, web@1, after the window.
        let request = |release: &str, env: &str, at_ms: i64, ms: f64| LatencySample {
            kind: KIND_REQUEST,
            owner_id: p,
            name: "GET /checkout".into(),
            release: release.into(),
            environment: env.into(),
            at_ms,
            duration_ms: ms,
            error: false,
        };
        let mut latency: Vec<LatencySample> = (1..=100)
            .map(|i| request("web@2", "production", at + 2_000 + i, 10.0 * i as f64))
            .collect();
        let transactions: Vec<TransactionRow> = latency[..60]
            .iter()
            .enumerate()
            .map(|(i, l)| TransactionRow {
                project_id: p,
                event_id: eid(1_000 + i as u64),
                name: l.name.clone(),
                op: Some("http.server".into()),
                status: Some("ok".into()),
                start_ms: l.at_ms,
                duration_ms: l.duration_ms,
                release: Some(l.release.clone()),
                environment: Some(l.environment.clone()),
            })
            .collect();
        latency.push(request("web@2", "staging", at + 3_000, 5_000.0));
        latency.push(request("web@2", "production", at + window + 1, 9_000.0));
        latency.push(request("web@1", "staging", at - 60_000, 40.0));
        s.write_batch(&WriteBatch {
            transactions,
            latency,
            events,
            sessions: vec![
                SessionCounts {
                    project_id: p,
                    release: "web@2".into(),
                    environment: "production".into(),
                    bucket_ms: at,
                    healthy: 90,
                    errored: 6,
                    crashed: 4,
                    abnormal: 0,
                },
                SessionCounts {
                    project_id: p,
                    release: "web@1".into(),
                    environment: "production".into(),
                    bucket_ms: at,
                    healthy: 1_000,
                    errored: 0,
                    crashed: 0,
                    abnormal: 0,
                },
            ],
            ..WriteBatch::default()
        })
        .unwrap();
        let d = s
            .create_deploy(&deploy(p, "production", "web@2", at))
            .unwrap();
        let c = s.watch_counts(&d, at, at + window).unwrap();
        assert_eq!(
            c,
            lookout_core::deploy_watch::WatchCounts {
                window_ms: window,
                errors_before: 2,
                errors_after: 6,
                new_issues: 2,
                unhandled: 1,
                sessions: 100,
                crashed: 4,
            }
        );
        // The same release alone, as the gate reads it: its own errors only, and every
        // request (transactions and segment spans), the p95 being that of all 100 (the
        // 95th, 950 ms, as the middle of its 1 ms histogram bucket).
        let r = s
            .release_counts(p, "web@2", Some("production"), at, at + window)
            .unwrap();
        assert_eq!(
            r,
            lookout_core::deploy_watch::ReleaseCounts {
                errors: 6,
                requests: 100,
                new_issues: 2,
                unhandled: 1,
                sessions: 100,
                crashed: 4,
                request_p95_ms: Some(950.5),
            }
        );
        // Requests are counted, not sampled: as many as the merged histograms hold.
        s.compact_latency().unwrap();
        let again = s
            .release_counts(p, "web@2", Some("production"), at, at + window)
            .unwrap();
        assert_eq!(again, r);
        let every_env = s.release_counts(p, "web@2", None, at, at + window).unwrap();
        assert_eq!(
            (every_env.requests, every_env.request_p95_ms),
            (101, Some(960.5))
        );
        let old = s
            .release_counts(p, "web@1", None, at - window, at + 1)
            .unwrap();
        assert_eq!(
            (old.errors, old.new_issues, old.sessions, old.requests),
            (3, 1, 1_000, 1)
        );
        assert_eq!(old.request_p95_ms, Some(40.0));
    }
}

/// A PostgreSQL store in a fresh schema, dropped when the test ends (even by panic).
struct PgTestStore(Arc<PostgresStore>);

impl Drop for PgTestStore {
    fn drop(&mut self) {
        if let Err(e) = self.0.drop_schema() {
            eprintln!("could not drop the test schema: {e}");
        }
    }
}

fn postgres_url() -> Option<String> {
    suite_switch::suite_switch("LOOKOUT_TEST_POSTGRES_URL", "PostgreSQL suite")
}

fn postgres_store() -> Option<PgTestStore> {
    let url = postgres_url()?;
    let schema = format!("lookout_test_{:016x}", rand::random::<u64>());
    let store = PostgresStore::connect_in_schema(&url, &schema)
        .unwrap_or_else(|e| panic!("LOOKOUT_TEST_POSTGRES_URL={url}: {e}"));
    Some(PgTestStore(Arc::new(store)))
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        suite!(@in sqlite, postgres, cases: $($case),*);
    };
    (@in $sqlite:ident, $postgres:ident, $cases:ident: $($case:ident),*) => {
        mod $sqlite {
            $(
                #[test]
                fn $case() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = super::SqliteStore::open(dir.path()).expect("open sqlite");
                    super::$cases::$case(&store);
                }
            )*
        }
        mod $postgres {
            $(
                #[test]
                fn $case() {
                    let Some(store) = super::postgres_store() else { return };
                    super::$cases::$case(&*store.0);
                }
            )*
        }
    };
}

suite!(@in sqlite_deploys, postgres_deploys, deploy_cases: deploys, watch_counts);

suite!(
    project_crud,
    grouping,
    signals,
    ignored_issues_are_silent,
    duplicates,
    users_and_values,
    list_issues,
    events,
    issue_status,
    retention,
    count_events,
    count_events_by_hour,
    stored_rules,
    payload_dicts,
    outcomes,
    release_health,
    transactions,
    check_ins,
    attachments,
    signals_after,
    monitor_crud,
    prune_config_monitors,
    delete_monitor_cascades,
    write_checks,
    duplicate_results_ignored,
    check_results_range,
    check_figures,
    rollups,
    prune_checks,
    latency_summary,
    request_latency,
    slo_crud,
    outages_and_downtime,
    maintenance,
    issue_and_monitor_signals,
    alerts_apply,
    alerts_open_conflict,
    alerts_bad_refs,
    incident_lists,
    outbox_delivery,
    outbox_concurrent_claims,
    silences,
    broken_channels,
    status_pages,
    public_notes_and_monitor_incidents,
    accounts,
    hourly_counts,
    releases_and_commits,
    upload_chunks,
    artifact_bundles,
    bundles_for_several_projects,
    release_refs,
    regroup,
    instance_registry,
    duty_leases,
    check_requests,
    health_readings,
);

#[test]
fn sqlite_concurrent_duty_claims() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("open sqlite"));
    instances_cases::concurrent_claims(store);
}

#[test]
fn postgres_concurrent_duty_claims() {
    let Some(store) = postgres_store() else {
        return;
    };
    instances_cases::concurrent_claims(store.0.clone());
}

#[test]
fn sqlite_concurrent_latency_compaction() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("open sqlite"));
    cases::concurrent_latency_compaction(store);
}

#[test]
fn postgres_concurrent_latency_compaction() {
    let Some(store) = postgres_store() else {
        return;
    };
    cases::concurrent_latency_compaction(store.0.clone());
}

#[test]
fn sqlite_concurrent_readers_and_writer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open sqlite");
    cases::concurrent_readers(Arc::new(store));
}

#[test]
fn sqlite_open_file_and_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("nested/deeper/data.db");
    {
        let s = SqliteStore::open(&file).expect("open file path");
        assert_eq!(s.path(), file);
        s.create_project(&new_project("keep")).unwrap();
    }
    let s = SqliteStore::open(&file).expect("reopen");
    assert!(s.get_project_by_slug("keep").unwrap().is_some());
    let in_dir = SqliteStore::open(&dir.path().join("datadir")).expect("open new dir");
    assert_eq!(in_dir.path(), dir.path().join("datadir/lookout.db"));
}

/// Two instances on one database writing the same issues at once: counts add up, each
/// issue is created once, each event stored once.
#[test]
fn postgres_concurrent_instances() {
    let Some(url) = postgres_url() else {
        return;
    };
    let schema = format!("lookout_test_{:016x}", rand::random::<u64>());
    let a = PgTestStore(Arc::new(
        PostgresStore::connect_in_schema(&url, &schema).expect("first instance"),
    ));
    let b = Arc::new(PostgresStore::connect_in_schema(&url, &schema).expect("second instance"));
    let p = a.0.create_project(&new_project("p")).unwrap().id;
    let run = |store: Arc<dyn Store>, offset: u64| {
        std::thread::spawn(move || {
            let mut results = Vec::new();
            for round in 0..10u64 {
                let batch: Vec<NewEvent> = (0..100u64)
                    .map(|i| {
                        // Half the ids are shared by both instances (an SDK retrying
                        // through another one), half are their own.
                        let own = match i % 2 {
                            0 => 0,
                            _ => offset,
                        };
                        let n = own + round * 1_000 + i;
                        event(p, n, &format!("fp{}", i % 10), 1_000 + i as i64)
                    })
                    .collect();
                results.push(
                    store
                        .write_batch(&events_batch(batch))
                        .expect("concurrent write"),
                );
            }
            results
        })
    };
    let ta = run(Arc::clone(&a.0) as Arc<dyn Store>, 1_000_000);
    let tb = run(Arc::clone(&b) as Arc<dyn Store>, 2_000_000);
    let mut results = ta.join().expect("instance a");
    results.extend(tb.join().expect("instance b"));

    let written: usize = results
        .iter()
        .flat_map(|r| &r.events)
        .filter(|o| !o.duplicate)
        .count();
    assert_eq!(written, 10 * (50 + 50 + 50), "each shared id stored once");
    let new_issues = results
        .iter()
        .flat_map(|r| &r.signals)
        .filter(|s| s.kind == SignalKind::NewIssue)
        .count();
    assert_eq!(new_issues, 10, "each issue created once");
    let list =
        a.0.list_issues(&IssueFilter {
            project_id: p,
            ..IssueFilter::default()
        })
        .unwrap();
    assert_eq!(list.len(), 10);
    // Even fingerprints got only shared ids, odd ones only each instance's own.
    for issue in &list {
        let fp: u64 = issue.fingerprint[2..].parse().expect("fpN");
        let expected = match fp % 2 {
            0 => 100,
            _ => 200,
        };
        assert_eq!(issue.count, expected, "{issue:?}");
    }
    let signals = a.0.signals_after(0, 1000).unwrap();
    assert!(signals.windows(2).all(|w| w[0].id < w[1].id));
    drop(b);
}

fn monitor_signal(monitor_id: i64) -> lookout_core::signal::Signal {
    lookout_core::signal::Signal {
        id: 0,
        kind: SignalKind::MonitorDown,
        project_id: None,
        issue_id: None,
        event_id: None,
        monitor_id: Some(monitor_id),
        detail: Some("HTTP 503".to_string()),
        created_ms: 9_000,
    }
}

/// Signals written before monitors existed (schema version 1).
const OLD_SIGNALS: &str = "
    INSERT INTO signals (kind, project_id, issue_id, event_id, created_ms) VALUES
        ('new_issue', 5, 11, '0000000000000000000000000000000a', 1000),
        ('regression', 5, 11, '0000000000000000000000000000000b', 2000),
        ('unhandled', 5, 12, NULL, 3000);
    DELETE FROM signals WHERE kind = 'unhandled';";

fn assert_old_signals_kept(s: &dyn Store) {
    let old = s.signals_after(0, 10).unwrap();
    let signal = |id, kind, event: &str, created_ms| lookout_core::signal::Signal {
        id,
        kind,
        project_id: Some(5),
        issue_id: Some(11),
        event_id: Some(event.to_string()),
        monitor_id: None,
        detail: None,
        created_ms,
    };
    assert_eq!(
        old,
        vec![
            signal(
                1,
                SignalKind::NewIssue,
                "0000000000000000000000000000000a",
                1_000
            ),
            signal(
                2,
                SignalKind::Regression,
                "0000000000000000000000000000000b",
                2_000
            ),
        ]
    );
    let m = s
        .create_monitor(&NewMonitor {
            name: "m".to_string(),
            kind: MonitorKind::Http,
            spec: serde_json::json!({}),
            source: MonitorSource::Api,
            project_id: None,
            token: None,
            slug: None,
            now_ms: 0,
        })
        .unwrap()
        .id;
    let new = s
        .write_checks(&CheckBatch {
            signals: vec![monitor_signal(m)],
            ..CheckBatch::default()
        })
        .unwrap();
    // Id 3 was handed out (and deleted) before the upgrade: it must not come back.
    assert_eq!(new[0].id, 4);
    assert_eq!(s.signals_after(2, 10).unwrap(), new);
}

#[test]
fn sqlite_upgrade_keeps_signals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&file).expect("open v1 file");
        conn.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .expect("schema v1");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (
                 version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 0);",
        )
        .expect("mark v1");
        conn.execute_batch(OLD_SIGNALS).expect("old signals");
    }
    let s = SqliteStore::open(&file).expect("upgrade");
    assert_old_signals_kept(&s);
    drop(s);
    // Reopening applies nothing twice.
    let s = SqliteStore::open(&file).expect("reopen");
    assert_eq!(s.signals_after(0, 10).unwrap().len(), 3);
}

#[test]
fn postgres_upgrade_keeps_signals() {
    let Some(url) = postgres_url() else {
        return;
    };
    let schema = format!("lookout_test_{:016x}", rand::random::<u64>());
    {
        let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("connect");
        c.batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema};"
        ))
        .expect("schema");
        c.batch_execute(include_str!("../migrations/postgres/0001_init.sql"))
            .expect("schema v1");
        c.batch_execute(
            "CREATE TABLE schema_migrations (
                 version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 0);",
        )
        .expect("mark v1");
        c.batch_execute(OLD_SIGNALS).expect("old signals");
    }
    let s = PgTestStore(Arc::new(
        PostgresStore::connect_in_schema(&url, &schema).expect("upgrade"),
    ));
    assert_old_signals_kept(&*s.0);
}

/// Rows with a stored name of every kind, as versions before the typed model wrote them
/// (a check-in kept whatever word its SDK sent).
const NAMED_ROWS: &str = "
    INSERT INTO incidents (rule, subject_kind, subject_id, severity, status, title, summary,
            count, opened_ms, state)
        VALUES ('down', 'monitor', 7, 'critical', 'acknowledged', 'Down', '', 1, 1000, '{}');
    INSERT INTO incident_timeline (incident_id, at_ms, kind, text)
        VALUES (1, 1000, 'notify_failed', 'slack: 500');
    INSERT INTO outbox (incident_id, channel, event, payload, status, attempts,
            next_attempt_ms, created_ms)
        VALUES (1, 'slack', 'escalated', '{}', 'broken', 1, 1000, 1000);
    INSERT INTO silences (target_kind, target, until_ms, reason, created_ms)
        VALUES ('project', '3', 5000, 'deploy', 1000);
    INSERT INTO check_ins (project_id, check_in_id, monitor_slug, status, received_ms)
        VALUES (1, '', 'nightly', 'done', 1000);";

/// The rows of [`NAMED_ROWS`] read back typed; then names no variant has, written by
/// `exec`, are `Corrupt` errors that name the column and the value.
fn assert_stored_names(s: &dyn Store, exec: &mut dyn FnMut(&str)) {
    exec(NAMED_ROWS);
    let incident = s.get_incident(1).unwrap().expect("incident 1");
    assert_eq!(
        (incident.subject_kind, incident.severity, incident.status),
        (
            SubjectKind::Monitor,
            Severity::Critical,
            IncidentStatus::Acknowledged
        )
    );
    assert_eq!(
        s.incident_timeline(1).unwrap()[0].kind,
        TimelineKind::NotifyFailed
    );
    let message = &s.incident_messages(1).unwrap()[0];
    assert_eq!(
        (message.event, message.status),
        (NotifyKind::Escalated, OutboxStatus::Broken)
    );
    assert_eq!(
        s.active_silences(0).unwrap()[0].target_kind,
        SilenceKind::Project
    );
    assert_eq!(
        s.list_check_ins(1, 10).unwrap()[0].status,
        CheckInStatus::Unknown
    );

    let corrupt = |e: StoreError| match e {
        StoreError::Corrupt(m) => m,
        other => panic!("not Corrupt: {other:?}"),
    };
    exec("UPDATE incidents SET status = 'open'");
    let e = corrupt(s.get_incident(1).unwrap_err());
    assert_eq!(e, "incidents.status: unknown value \"open\"");
    assert!(s.open_incidents().is_err());
    exec("UPDATE outbox SET event = 'paged'");
    let e = corrupt(s.incident_messages(1).unwrap_err());
    assert_eq!(e, "outbox.event: unknown value \"paged\"");
    exec("UPDATE incident_timeline SET kind = 'held'");
    let e = corrupt(s.incident_timeline(1).unwrap_err());
    assert_eq!(e, "incident_timeline.kind: unknown value \"held\"");
    exec("UPDATE silences SET target_kind = 'team'");
    let e = corrupt(s.active_silences(0).unwrap_err());
    assert_eq!(e, "silences.target_kind: unknown value \"team\"");
}

#[test]
fn sqlite_stored_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("lookout.db");
    let s = SqliteStore::open(&file).expect("open");
    let conn = rusqlite::Connection::open(&file).expect("second connection");
    assert_stored_names(&s, &mut |sql| conn.execute_batch(sql).expect(sql));
}

#[test]
fn postgres_stored_names() {
    let Some(url) = postgres_url() else {
        return;
    };
    let schema = format!("lookout_test_{:016x}", rand::random::<u64>());
    let s = PgTestStore(Arc::new(
        PostgresStore::connect_in_schema(&url, &schema).expect("connect"),
    ));
    let mut c = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("connect");
    c.batch_execute(&format!("SET search_path TO {schema}"))
        .expect("schema");
    assert_stored_names(&*s.0, &mut |sql| c.batch_execute(sql).expect(sql));
}

/// Two instances rolling up at once: every bucket is computed once, none twice.
#[test]
fn postgres_concurrent_rollups() {
    let Some(url) = postgres_url() else {
        return;
    };
    let schema = format!("lookout_test_{:016x}", rand::random::<u64>());
    let a = PgTestStore(Arc::new(
        PostgresStore::connect_in_schema(&url, &schema).expect("first instance"),
    ));
    let b = Arc::new(PostgresStore::connect_in_schema(&url, &schema).expect("second instance"));
    let start = 10 * 86_400_000;
    let mut results = Vec::new();
    for i in 0..20 {
        let new = NewMonitor {
            name: format!("m{i}"),
            kind: MonitorKind::Http,
            spec: serde_json::json!({}),
            source: MonitorSource::Config,
            project_id: None,
            token: None,
            slug: None,
            now_ms: 0,
        };
        let id = a.0.create_monitor(&new).unwrap().id;
        for k in 0..180 {
            results.push(CheckRecord {
                monitor_id: id,
                at_ms: start + k * 60_000 + i,
                latency_ms: Some(k as u32),
                outcome: CheckOutcome::Up,
                maintenance: false,
                error: None,
                figures: Default::default(),
            });
        }
    }
    a.0.write_checks(&CheckBatch {
        results,
        ..CheckBatch::default()
    })
    .unwrap();
    let now = start + 3 * HOUR;
    let run = |store: Arc<dyn Store>| std::thread::spawn(move || store.rollup_checks(now));
    let ta = run(Arc::clone(&a.0) as Arc<dyn Store>);
    let tb = run(Arc::clone(&b) as Arc<dyn Store>);
    let written = ta.join().expect("a").unwrap() + tb.join().expect("b").unwrap();
    // 180 minutes and 3 hours per monitor; the day is not complete.
    assert_eq!(written, 20 * (180 + 3));
    drop(b);
}

/// Two instances opening the same incidents at once, in opposite orders: one batch wins
/// whole, the other is a conflict (not a deadlock), and each incident is open once.
#[test]
fn postgres_concurrent_opens() {
    let Some(url) = postgres_url() else {
        return;
    };
    let schema = format!("lookout_test_{:016x}", rand::random::<u64>());
    let a = PgTestStore(Arc::new(
        PostgresStore::connect_in_schema(&url, &schema).expect("first instance"),
    ));
    let b = Arc::new(PostgresStore::connect_in_schema(&url, &schema).expect("second instance"));
    let incident = |round: usize, subject_id: i64| NewIncident {
        rule: format!("rule{round}"),
        subject_kind: SubjectKind::Monitor,
        subject_id,
        severity: Severity::High,
        title: "down".to_string(),
        summary: String::new(),
        count: 1,
        opened_ms: 1_000,
        state: serde_json::json!({}),
        runbook: None,
    };
    for round in 0..5 {
        let forward: Vec<NewIncident> = (0..20).map(|i| incident(round, i)).collect();
        let backward: Vec<NewIncident> = forward.iter().rev().cloned().collect();
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let run = |store: Arc<dyn Store>, opens: Vec<NewIncident>| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                store.apply_alerts(&AlertBatch {
                    opens,
                    ..AlertBatch::default()
                })
            })
        };
        let ta = run(Arc::clone(&a.0) as Arc<dyn Store>, forward);
        let tb = run(Arc::clone(&b) as Arc<dyn Store>, backward);
        let results = [ta.join().expect("a"), tb.join().expect("b")];
        let won = results.iter().filter(|r| r.is_ok()).count();
        let lost = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
            .count();
        assert_eq!((won, lost), (1, 1), "round {round}: {results:?}");
    }
    let open = a.0.open_incidents().unwrap();
    assert_eq!(open.len(), 5 * 20);
    drop(b);
}

/// Losing every connection (a restarted or failed-over server, a killed session) is
/// survived: the pool replaces the dead sessions, and writes and reads work again.
#[test]
fn postgres_survives_lost_connections() {
    let Some(url) = postgres_url() else {
        return;
    };
    let name = format!("lookout_test_{:016x}", rand::random::<u64>());
    let separator = if url.contains('?') { '&' } else { '?' };
    let tagged = format!("{url}{separator}application_name={name}");
    let s = PgTestStore(Arc::new(
        PostgresStore::connect_in_schema(&tagged, &name).expect("connect"),
    ));
    let p = s.0.create_project(&new_project("p")).unwrap().id;
    s.0.write_batch(&events_batch(vec![event(p, 1, "a", 1_000)]))
        .unwrap();

    let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("connect");
    let pids: Vec<i32> = admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!pids.is_empty(), "the store has no session to lose");
    for pid in &pids {
        admin
            .execute("SELECT pg_terminate_backend($1)", &[pid])
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while admin
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ANY($1)",
            &[&pids],
        )
        .unwrap()
        .get::<_, i64>(0)
        > 0
    {
        assert!(std::time::Instant::now() < deadline, "sessions not gone");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let r =
        s.0.write_batch(&events_batch(vec![event(p, 2, "a", 2_000)]))
            .expect("write after the sessions were lost");
    assert!(!r.events[0].duplicate);
    let issue = s.0.get_issue(r.events[0].issue_id).unwrap().expect("issue");
    assert_eq!(issue.issue.count, 2);
    assert!(s.0.get_project(p).unwrap().is_some());
}
