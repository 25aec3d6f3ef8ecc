//! One test suite, written once against `&dyn Store`, run on SQLite (temp dir) and on
//! PostgreSQL (a fresh schema per test in `LOOKOUT_TEST_POSTGRES_URL`).

use std::sync::Arc;

use lookout_core::settings::ProjectSettings;
use lookout_core::signal::SignalKind;
use lookout_store::postgres::PostgresStore;
use lookout_store::sqlite::SqliteStore;
use lookout_store::*;

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
        level: "error".to_string(),
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

mod cases {
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
        e1.level = "warning".into();
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
        assert_eq!(ia.level, "error", "level of the latest event");
        assert_eq!(ia.title, "ValueError: newer", "title of the latest event");
        assert_eq!(ia.platform.as_deref(), Some("python"));
        assert_eq!(ia.status, IssueStatus::Unresolved);
        assert_eq!(ia.substatus.as_deref(), Some("new"));
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
        assert_eq!(ia.substatus.as_deref(), Some("ongoing"));

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
        assert!(r.signals.iter().all(|s| s.project_id == p && s.id > 0));
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
        assert_eq!(iy.substatus.as_deref(), Some("regressed"));
        assert_eq!(iy.resolved_ms, Some(3_500));
        // Still regressed (not a second regression) on the next event.
        let r = s
            .write_batch(&events_batch(vec![event(p, 82, "y", 4_200)]))
            .unwrap();
        assert!(r.signals.is_empty() && !r.events[0].regressed);
        assert_eq!(issue(s, y).substatus.as_deref(), Some("regressed"));
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
        e.level = "warning".into();
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
                level: Some("warning".into()),
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
                level: Some("error".into()),
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
        assert_eq!(e3.level, "error");
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
        assert_eq!(i.substatus.as_deref(), Some("ongoing"));
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
            status: status.into(),
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
    match std::env::var("LOOKOUT_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("LOOKOUT_REQUIRE_ALL_SUITES").as_deref() == Ok("1") {
                panic!(
                    "LOOKOUT_REQUIRE_ALL_SUITES=1 but LOOKOUT_TEST_POSTGRES_URL is unset: \
                     set it, e.g. postgres://postgres@127.0.0.1:5432/test"
                );
            }
            println!("skipped: set LOOKOUT_TEST_POSTGRES_URL to run the PostgreSQL suite");
            eprintln!("skipped: set LOOKOUT_TEST_POSTGRES_URL to run the PostgreSQL suite");
            None
        }
    }
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
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = super::SqliteStore::open(dir.path()).expect("open sqlite");
                    super::cases::$case(&store);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $case() {
                    let Some(store) = super::postgres_store() else { return };
                    super::cases::$case(&*store.0);
                }
            )*
        }
    };
}

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
    outcomes,
    release_health,
    transactions,
    check_ins,
    attachments,
    signals_after,
);

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
