//! Releases, commits, upload chunks and artifact bundles.

use super::*;

fn file(path: &str, url: &str, kind: &str, debug_id: Option<&str>) -> ArtifactFile {
    ArtifactFile {
        bundle_id: 0,
        project_id: 0,
        path: path.to_string(),
        url: url.to_string(),
        kind: kind.to_string(),
        debug_id: debug_id.map(str::to_string),
        release: None,
        sourcemap: None,
    }
}

fn bundle(project_id: i64, checksum: &str, release: Option<&str>, now_ms: i64) -> NewBundle {
    NewBundle {
        project_id,
        checksum: checksum.to_string(),
        release: release.map(str::to_string),
        dist: None,
        data: checksum.as_bytes().to_vec(),
        files: vec![
            file("_/_/a.js", "~/a.js", "minified_source", Some("d1")),
            file("_/_/a.js.map", "~/a.js.map", "source_map", Some("d1")),
        ],
        now_ms,
    }
}

pub fn releases_and_commits(s: &dyn Store) {
    let p = s.create_project(&new_project("web")).unwrap();
    let other = s.create_project(&new_project("api")).unwrap();
    let r = s.ensure_release(p.id, "1.0.0", Some(500), 1_000).unwrap();
    assert_eq!(
        (r.version.as_str(), r.started_ms, r.released_ms),
        ("1.0.0", Some(500), None)
    );
    // Idempotent: the second call returns the same release, unchanged.
    let again = s.ensure_release(p.id, "1.0.0", None, 2_000).unwrap();
    assert_eq!(again, r);
    // Same version in another project is another release.
    let o = s.ensure_release(other.id, "1.0.0", None, 3_000).unwrap();
    assert_ne!(o.id, r.id);

    let commit = |sha: &str| Commit {
        sha: sha.to_string(),
        repository: Some("origin".to_string()),
        author_name: Some("A".to_string()),
        author_email: Some("a@example.org".to_string()),
        message: Some(format!("commit {sha}")),
        timestamp_ms: Some(900),
    };
    let updated = s
        .update_release(
            p.id,
            "1.0.0",
            &ReleaseUpdate {
                released_ms: Some(4_000),
                commits: Some(vec![commit("bbb"), commit("aaa")]),
                ..ReleaseUpdate::default()
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.released_ms, updated.commit_count),
        (Some(4_000), 2)
    );
    let shas: Vec<String> = s
        .release_commits(r.id)
        .unwrap()
        .into_iter()
        .map(|c| c.sha)
        .collect();
    assert_eq!(shas, ["bbb", "aaa"]);
    // Commits given again replace the old list; fields not given stay.
    let updated = s
        .update_release(
            p.id,
            "1.0.0",
            &ReleaseUpdate {
                commits: Some(vec![commit("ccc")]),
                ..ReleaseUpdate::default()
            },
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.released_ms, updated.commit_count),
        (Some(4_000), 1)
    );
    assert!(s
        .update_release(p.id, "9.9.9", &ReleaseUpdate::default())
        .unwrap()
        .is_none());

    s.ensure_release(p.id, "1.1.0", None, 5_000).unwrap();
    let list: Vec<String> = s
        .list_releases(p.id, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(list, ["1.1.0", "1.0.0"]);
    assert_eq!(s.list_releases(p.id, 1).unwrap().len(), 1);
    assert_eq!(
        s.get_release(p.id, "1.1.0").unwrap().unwrap().commit_count,
        0
    );
    assert!(s.get_release(p.id, "2.0.0").unwrap().is_none());
}

pub fn upload_chunks(s: &dyn Store) {
    let sums = vec!["c1".to_string(), "c2".to_string(), "c3".to_string()];
    assert_eq!(s.missing_chunks(&sums).unwrap(), sums);
    s.put_chunks(
        &[
            ("c1".into(), b"one".to_vec()),
            ("c3".into(), b"three".to_vec()),
        ],
        1_000,
    )
    .unwrap();
    // A chunk sent twice keeps its first copy.
    s.put_chunks(&[("c1".into(), b"other".to_vec())], 2_000)
        .unwrap();
    assert_eq!(s.missing_chunks(&sums).unwrap(), ["c2"]);
    assert_eq!(
        s.get_chunks(&sums).unwrap(),
        [Some(b"one".to_vec()), None, Some(b"three".to_vec())]
    );
    assert_eq!(s.prune_chunks(1_500).unwrap(), 2);
    assert_eq!(s.missing_chunks(&sums).unwrap(), sums);
}

/// One bundle through `save_bundles`, with a regroup job that looks at no event: the
/// bundle and the ids of the bundles it pushed out.
fn save_one(
    s: &dyn Store,
    b: &NewBundle,
    chunks: &[String],
    max_bundles: u32,
) -> (BundleInfo, Vec<i64>) {
    let window = RegroupWindow {
        since_ms: 0,
        max_events: 0,
    };
    let mut saved = s
        .save_bundles(std::slice::from_ref(b), chunks, max_bundles, window)
        .unwrap();
    let one = saved.pop().expect("one bundle saved");
    (one.info, one.removed)
}

pub fn artifact_bundles(s: &dyn Store) {
    let p = s.create_project(&new_project("web")).unwrap();
    s.put_chunks(&[("k1".into(), b"zip".to_vec())], 1_000)
        .unwrap();
    let (b1, _) = save_one(
        s,
        &bundle(p.id, "sum1", None, 1_000),
        &["k1".to_string()],
        10,
    );
    assert_eq!((b1.file_count, b1.size), (2, 4));
    // The chunks it was made of are gone; the bundle and its index are there.
    assert_eq!(s.missing_chunks(&["k1".to_string()]).unwrap(), ["k1"]);
    assert_eq!(s.find_bundle(p.id, "sum1").unwrap().unwrap().id, b1.id);
    assert_eq!(s.bundle_data(b1.id).unwrap().unwrap(), b"sum1");
    let files = s.artifact_files().unwrap();
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f.bundle_id == b1.id
        && f.project_id == p.id
        && f.debug_id.as_deref() == Some("d1")));

    // The same upload again is the same bundle, not a second one.
    let (again, _) = save_one(s, &bundle(p.id, "sum1", None, 1_500), &[], 10);
    assert_eq!(again.id, b1.id);
    assert_eq!(s.artifact_files().unwrap().len(), 2);

    // Over the per-project limit, the oldest go.
    s.ensure_release(p.id, "1.0", None, 1_000).unwrap();
    s.ensure_release(p.id, "2.0", None, 2_000).unwrap();
    let (b2, _) = save_one(s, &bundle(p.id, "sum2", Some("1.0"), 2_000), &[], 2);
    let (b3, removed) = save_one(s, &bundle(p.id, "sum3", Some("2.0"), 3_000), &[], 2);
    assert_eq!(removed, [b1.id]);
    let ids: Vec<i64> = s
        .list_bundles(p.id)
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, [b3.id, b2.id]);
    assert!(s.bundle_data(b1.id).unwrap().is_none());
    assert!(s
        .artifact_files()
        .unwrap()
        .iter()
        .all(|f| f.bundle_id != b1.id));
    let f = s.artifact_files().unwrap();
    assert!(f.iter().any(|f| f.release.as_deref() == Some("2.0")));

    // Retention: old bundles of releases beyond the newest one go; the newest's stay.
    let removed = s.prune_bundles(10_000, 1).unwrap();
    assert_eq!(removed, [b2.id]);
    let ids: Vec<i64> = s
        .list_bundles(p.id)
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, [b3.id]);
}

/// One upload for several projects is stored for all of them (bundle, release, regroup
/// job) or, when one fails, for none; its chunks go only with a stored upload.
pub fn bundles_for_several_projects(s: &dyn Store) {
    let web = s.create_project(&new_project("web")).unwrap();
    let api = s.create_project(&new_project("api")).unwrap();
    let window = RegroupWindow {
        since_ms: 500,
        max_events: 1_000,
    };
    s.put_chunks(&[("k9".into(), b"zip".to_vec())], 1_000)
        .unwrap();
    let chunks = ["k9".to_string()];

    // The second project does not exist (deleted since the request named it).
    let err = s
        .save_bundles(
            &[
                bundle(web.id, "multi", Some("3.0"), 1_000),
                bundle(9_999, "multi", Some("3.0"), 1_000),
            ],
            &chunks,
            10,
            window,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
    assert!(
        s.list_bundles(web.id).unwrap().is_empty(),
        "nothing half-stored"
    );
    assert!(s.get_release(web.id, "3.0").unwrap().is_none());
    assert!(s.pending_regroups().unwrap().is_empty());
    assert!(s.bundle_ids().unwrap().is_empty());
    assert!(
        s.missing_chunks(&chunks).unwrap().is_empty(),
        "the chunks stay for a retry"
    );

    let saved = s
        .save_bundles(
            &[
                bundle(web.id, "multi", Some("3.0"), 1_000),
                bundle(api.id, "multi", Some("3.0"), 1_000),
            ],
            &chunks,
            10,
            window,
        )
        .unwrap();
    assert_eq!(saved.len(), 2);
    let ids: Vec<i64> = saved.iter().map(|b| b.info.id).collect();
    assert_eq!(s.bundle_ids().unwrap(), ids);
    for (p, b) in [(web.id, &saved[0]), (api.id, &saved[1])] {
        assert_eq!(b.info.project_id, p);
        assert!(s.get_release(p, "3.0").unwrap().is_some());
        let job = s.get_regroup(b.regroup_job).unwrap().unwrap();
        assert_eq!(
            (job.project_id, job.bundle_id, job.release.as_deref()),
            (p, b.info.id, Some("3.0"))
        );
        assert_eq!((job.since_ms, job.max_events), (500, 1_000));
    }
    assert_eq!(s.missing_chunks(&chunks).unwrap(), chunks);
}

pub fn release_refs(s: &dyn Store) {
    let p = s.create_project(&new_project("web")).unwrap();
    let r = s.ensure_release(p.id, "1.0.0", None, 1_000).unwrap();
    let set = |refs: Vec<ReleaseRef>| {
        s.update_release(
            p.id,
            "1.0.0",
            &ReleaseUpdate {
                refs: Some(refs),
                ..ReleaseUpdate::default()
            },
        )
        .unwrap()
        .unwrap();
    };
    let range = |repo: &str, head: &str, prev: Option<&str>| ReleaseRef {
        repository: repo.to_string(),
        commit: head.to_string(),
        previous_commit: prev.map(str::to_string),
    };
    set(vec![
        range("acme/web", "bbb", Some("aaa")),
        range("acme/api", "ccc", None),
    ]);
    assert_eq!(
        s.release_refs(r.id).unwrap(),
        [
            range("acme/api", "ccc", None),
            range("acme/web", "bbb", Some("aaa"))
        ]
    );
    // Given again, they replace the old ones; an update without refs keeps them.
    set(vec![range("acme/web", "ddd", Some("bbb"))]);
    s.update_release(p.id, "1.0.0", &ReleaseUpdate::default())
        .unwrap();
    assert_eq!(
        s.release_refs(r.id).unwrap(),
        [range("acme/web", "ddd", Some("bbb"))]
    );
}
