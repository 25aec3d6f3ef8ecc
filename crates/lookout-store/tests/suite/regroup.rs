//! Regrouping events after their source maps arrive: jobs with a cursor, moves into an
//! existing issue, an emptied issue merged away with a redirect, an issue re-keyed in
//! place, no signals, and applying the same moves twice changes nothing.

use super::*;

fn issue(s: &dyn Store, id: i64) -> Issue {
    s.get_issue(id).unwrap().expect("issue exists").issue
}

fn mv(c: &RegroupCandidate, fingerprint: &str, user: &str) -> RegroupMove {
    RegroupMove {
        row_id: c.row_id,
        from_issue: c.issue_id,
        payload: b"mapped".to_vec(),
        fingerprint: fingerprint.to_string(),
        grouping_version: "v1".to_string(),
        title: format!("Error: {fingerprint}"),
        culprit: format!("checkout in {fingerprint}"),
        handled: false,
        user_key: Some(user.to_string()),
    }
}

pub fn regroup(s: &dyn Store) {
    let p = s.create_project(&new_project("web")).unwrap().id;
    let with = |n: u64, fp: &str, at: i64, release: &str, user: &str| NewEvent {
        release: Some(release.to_string()),
        environment: Some("production".to_string()),
        user_key: Some(user.to_string()),
        ..event(p, n, fp, at)
    };
    // One batch each, so event rows are numbered in this order.
    let mut last_signal = 0;
    for e in [
        with(1, "minified-a", 10_000, "1.0", "ada"),
        with(2, "minified-a", 11_000, "1.0", "bob"),
        with(3, "mapped", 20_000, "1.1", "ada"),
        with(4, "minified-b", 12_000, "1.0", "ada"),
        with(5, "minified-b", 13_000, "1.0", "ada"),
        with(6, "minified-c", 14_000, "1.0", "ada"),
    ] {
        let result = s.write_batch(&events_batch(vec![e])).unwrap();
        last_signal = result
            .signals
            .iter()
            .map(|s| s.id)
            .fold(last_signal, i64::max);
    }
    let issue_of = |n: u64| s.get_event(p, &eid(n)).unwrap().unwrap().issue_id;
    let (a, t, b, c) = (issue_of(1), issue_of(3), issue_of(4), issue_of(6));

    let unhandled_before = issue(s, t).unhandled_count;
    let id = s
        .enqueue_regroup(&NewRegroupJob {
            project_id: p,
            bundle_id: 7,
            release: None,
            since_ms: 10_500,
            max_events: 100,
            now_ms: 30_000,
        })
        .unwrap();
    let job = s.pending_regroups().unwrap();
    assert_eq!(job.len(), 1);
    let mut job = job.into_iter().next().unwrap();
    assert_eq!((job.id, job.after_event, job.done_ms), (id, 0, None));

    // The window leaves event 1 (received before `since_ms`) out; oldest first, paged.
    let page = s.regroup_candidates(&job, 2).unwrap();
    let ids: Vec<&str> = page.iter().map(|c| c.event_id.as_str()).collect();
    assert_eq!(ids, [eid(2), eid(3)]);
    assert_eq!(page[0].fingerprint, "minified-a");
    assert_eq!(page[0].payload, vec![2u8; 16]);

    // Event 2 moves into the existing issue; issue a keeps event 1, so it stays.
    let step = s
        .apply_regroup(
            id,
            page[1].row_id,
            2,
            &[mv(&page[0], "mapped", "bob")],
            false,
            31_000,
        )
        .unwrap();
    assert_eq!((step.moved, step.rekeyed, step.merged.len()), (1, 0, 0));
    assert_eq!(issue_of(2), t);
    let ti = s.get_issue(t).unwrap().unwrap();
    assert_eq!((ti.issue.count, ti.issue.user_count), (2, 2));
    assert_eq!(ti.issue.unhandled_count, unhandled_before + 1);
    assert_eq!(ti.issue.first_seen_ms, 11_000);
    let releases: Vec<(&str, u64)> = ti
        .releases
        .iter()
        .map(|r| (r.value.as_str(), r.count))
        .collect();
    assert_eq!(releases, [("1.1", 1), ("1.0", 1)]);
    assert_eq!(s.get_issue(a).unwrap().unwrap().issue.count, 1);
    assert_eq!(s.get_event(p, &eid(2)).unwrap().unwrap().payload, b"mapped");
    assert_eq!(s.issue_redirect(a).unwrap(), None);

    // The job resumes after its cursor.
    job = s.get_regroup(id).unwrap().unwrap();
    assert_eq!((job.scanned, job.moved), (2, 1));
    let page = s.regroup_candidates(&job, 10).unwrap();
    let ids: Vec<&str> = page.iter().map(|c| c.event_id.as_str()).collect();
    assert_eq!(ids, [eid(4), eid(5), eid(6)]);

    // Event 4 maps to a grouping no issue has, but b keeps event 5: a new issue for it.
    // Event 6 is all of c: c takes the mapped grouping in place.
    let moves = [
        mv(&page[0], "mapped-b", "ada"),
        mv(&page[2], "mapped-c", "ada"),
    ];
    let last = page[2].row_id;
    let step = s.apply_regroup(id, last, 3, &moves, true, 32_000).unwrap();
    assert_eq!((step.moved, step.rekeyed), (1, 1));
    let nb = issue_of(4);
    assert!(nb != b && nb != t && nb != c);
    assert_eq!(issue(s, nb).count, 1);
    assert_eq!(issue(s, nb).fingerprint, "mapped-b");
    assert_eq!(issue(s, b).count, 1);
    assert_eq!(issue_of(6), c);
    let ci = issue(s, c);
    assert_eq!(
        (ci.fingerprint.as_str(), ci.title.as_str(), ci.count),
        ("mapped-c", "Error: mapped-c", 1)
    );
    assert!(s.pending_regroups().unwrap().is_empty());
    let job = s.get_regroup(id).unwrap().unwrap();
    assert_eq!((job.after_event, job.scanned, job.moved), (last, 5, 3));
    assert_eq!(job.done_ms, Some(32_000));

    // A second job (say, the bundle of event 1's build arrives later) empties issue a:
    // a is merged into t with what is left of it, and redirects there.
    let id2 = s
        .enqueue_regroup(&NewRegroupJob {
            project_id: p,
            bundle_id: 8,
            release: Some("1.0".to_string()),
            since_ms: 0,
            max_events: 100,
            now_ms: 40_000,
        })
        .unwrap();
    let job2 = s.get_regroup(id2).unwrap().unwrap();
    let page = s.regroup_candidates(&job2, 10).unwrap();
    // Release-bound: event 3 (release 1.1) is not looked at.
    assert!(page.iter().all(|c| c.event_id != eid(3)));
    let first = page.iter().find(|c| c.event_id == eid(1)).unwrap();
    let step = s
        .apply_regroup(
            id2,
            first.row_id,
            1,
            &[mv(first, "mapped", "ada")],
            false,
            41_000,
        )
        .unwrap();
    assert_eq!(step.merged, vec![(a, t)]);
    assert_eq!(issue_of(1), t);
    assert!(s.get_issue(a).unwrap().is_none());
    assert_eq!(s.issue_redirect(a).unwrap(), Some(t));
    let ti = s.get_issue(t).unwrap().unwrap();
    assert_eq!(ti.issue.count, 3);
    assert_eq!(ti.issue.user_count, 2, "ada and bob");
    assert_eq!(ti.issue.first_seen_ms, 10_000);
    let releases: Vec<(&str, u64)> = ti
        .releases
        .iter()
        .map(|r| (r.value.as_str(), r.count))
        .collect();
    assert_eq!(releases, [("1.1", 1), ("1.0", 2)]);
    let listed: Vec<i64> = s
        .list_issues(&IssueFilter {
            project_id: p,
            ..IssueFilter::default()
        })
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert!(!listed.contains(&a), "{listed:?}");

    // The same moves again (a job restarted before its cursor was saved) change nothing.
    let again = s
        .apply_regroup(
            id2,
            first.row_id,
            0,
            &[mv(first, "mapped", "ada")],
            true,
            42_000,
        )
        .unwrap();
    assert_eq!(again, RegroupStep::default());
    assert_eq!(issue(s, t).count, 3);

    // No signal: no new-issue alert for the issues regrouping made or filled.
    assert!(s.signals_after(last_signal, 100).unwrap().is_empty());
}
