//! Grouping as users experience it: which events end up in the same issue.

use std::borrow::Cow;

use lookout_core::grouping::{default_components, group, parameterize, GroupingBasis};
use lookout_sentry::event::{EventView, ExceptionView, FrameView, MechanismView, StacktraceView};
use proptest::prelude::*;

fn s(v: &str) -> Option<Cow<'static, str>> {
    Some(Cow::Owned(v.to_string()))
}

fn py_frame(module: &str, function: &str, lineno: u64, in_app: bool) -> FrameView<'static> {
    FrameView {
        filename: s(&format!("{}.py", module.replace('.', "/"))),
        abs_path: s(&format!("/srv/app/{}.py", module.replace('.', "/"))),
        module: s(module),
        function: s(function),
        lineno: Some(lineno),
        in_app: Some(in_app),
        context_line: s("    x = y"),
        ..FrameView::default()
    }
}

fn js_frame(url: &str, function: &str, lineno: u64, colno: u64) -> FrameView<'static> {
    FrameView {
        filename: s(url),
        abs_path: s(url),
        function: s(function),
        lineno: Some(lineno),
        colno: Some(colno),
        in_app: Some(true),
        ..FrameView::default()
    }
}

fn exception(ty: &str, value: &str, frames: Vec<FrameView<'static>>) -> ExceptionView<'static> {
    ExceptionView {
        ty: s(ty),
        value: s(value),
        mechanism: Some(MechanismView {
            ty: s("excepthook"),
            handled: Some(false),
        }),
        stacktrace: Some(StacktraceView { frames }),
        ..ExceptionView::default()
    }
}

fn python_error(value: &str, line_offset: u64) -> EventView<'static> {
    EventView {
        platform: s("python"),
        transaction: s("/users/{id}"),
        exceptions: vec![exception(
            "KeyError",
            value,
            vec![
                py_frame("django.core.handlers.base", "_get_response", 197, false),
                py_frame("myapp.views", "get_user", 10 + line_offset, true),
                py_frame("myapp.models", "lookup", 55 + line_offset, true),
            ],
        )],
        ..EventView::default()
    }
}

#[test]
fn same_site_with_different_values_groups_together() {
    let a = group(&python_error("'user_123'", 0));
    let b = group(&python_error("'user_456'", 0));
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.basis, GroupingBasis::Stacktrace);
    assert_eq!(a.hash.len(), 32);
    assert!(a
        .hash
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(a.version, "lookout-1");
}

#[test]
fn moving_code_down_ten_lines_keeps_the_group() {
    assert_eq!(
        group(&python_error("x", 0)).hash,
        group(&python_error("x", 10)).hash
    );
}

#[test]
fn another_call_site_is_another_issue() {
    let a = python_error("x", 0);
    let mut b = a.clone();
    b.exceptions[0].stacktrace.as_mut().unwrap().frames[2].function = s("lookup_by_email");
    assert_ne!(group(&a).hash, group(&b).hash);
    let mut c = a.clone();
    c.exceptions[0].ty = s("ValueError");
    assert_ne!(group(&a).hash, group(&c).hash);
}

#[test]
fn only_in_app_frames_count_when_there_are_any() {
    let a = python_error("x", 0);
    let mut b = a.clone();
    // A framework upgrade changes library frames; the issue must stay the same.
    let frames = &mut b.exceptions[0].stacktrace.as_mut().unwrap().frames;
    frames[0] = py_frame("django.core.handlers.exception", "inner", 47, false);
    frames.insert(0, py_frame("gunicorn.workers.sync", "handle", 135, false));
    assert_eq!(group(&a).hash, group(&b).hash);

    let (_, components) = default_components(&a);
    assert_eq!(
        components,
        vec![
            "type:KeyError",
            "frame:myapp.views:get_user",
            "frame:myapp.models:lookup"
        ]
    );

    // Without any in-app frame, all frames count.
    let mut c = a.clone();
    for f in &mut c.exceptions[0].stacktrace.as_mut().unwrap().frames {
        f.in_app = None;
    }
    assert_eq!(default_components(&c).1.len(), 4);
}

#[test]
fn recursion_collapses_whatever_the_depth() {
    let recursion = |depth: usize| {
        let mut frames = vec![py_frame("myapp.main", "main", 3, true)];
        frames.extend((0..depth).map(|i| py_frame("myapp.tree", "walk", 20 + i as u64, true)));
        EventView {
            exceptions: vec![exception(
                "RecursionError",
                "maximum recursion depth exceeded",
                frames,
            )],
            ..EventView::default()
        }
    };
    let a = group(&recursion(1000));
    assert_eq!(a.hash, group(&recursion(997)).hash);
    assert_eq!(a.hash, group(&recursion(1)).hash);
    assert_eq!(default_components(&recursion(1000)).1.len(), 3);

    let mutual = |depth: usize| {
        let mut frames = vec![py_frame("myapp.main", "main", 3, true)];
        for _ in 0..depth {
            frames.push(py_frame("myapp.parse", "expr", 10, true));
            frames.push(py_frame("myapp.parse", "term", 30, true));
        }
        EventView {
            exceptions: vec![exception("RecursionError", "x", frames)],
            ..EventView::default()
        }
    };
    assert_eq!(group(&mutual(300)).hash, group(&mutual(7)).hash);
}

#[test]
fn javascript_builds_and_deploy_paths_do_not_split_issues() {
    let event = |host: &str, hash: &str, line: u64| EventView {
        platform: s("javascript"),
        exceptions: vec![exception(
            "TypeError",
            "Cannot read properties of undefined (reading 'id')",
            vec![
                js_frame(
                    &format!("{host}/static/js/vendor.{hash}.js"),
                    "r",
                    2,
                    9000 + line,
                ),
                js_frame(
                    &format!("{host}/static/js/main.{hash}.js?v=3"),
                    "Object.<anonymous>",
                    1,
                    line,
                ),
                js_frame(
                    &format!("{host}/static/js/main.{hash}.js"),
                    "handleClick",
                    1,
                    100 + line,
                ),
            ],
        )],
        ..EventView::default()
    };
    let a = group(&event("https://shop.example.com", "3f2a9c1b", 0));
    let b = group(&event("https://cdn.example.net", "9e8d7c6b", 1234));
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.culprit, "js/main.<hash>.js in handleClick");

    let node = |root: &str| EventView {
        exceptions: vec![exception(
            "Error",
            "boom",
            vec![FrameView {
                filename: s(&format!("{root}/dist/server.js")),
                function: s("handler"),
                lineno: Some(7),
                ..FrameView::default()
            }],
        )],
        ..EventView::default()
    };
    assert_eq!(
        group(&node("/home/deploy/releases/20240101")).hash,
        group(&node("app://")).hash
    );
}

#[test]
fn chained_exceptions_use_each_type_and_frames() {
    let mut a = python_error("x", 0);
    a.exceptions.insert(
        0,
        exception(
            "ConnectionError",
            "db down at 10.0.0.1",
            vec![py_frame("myapp.db", "connect", 5, true)],
        ),
    );
    let b = python_error("x", 0);
    assert_ne!(group(&a).hash, group(&b).hash);
    // The title and culprit come from the last (finally raised) exception.
    let g = group(&a);
    assert_eq!(g.title, "KeyError: x");
    assert_eq!(g.culprit, "myapp.models in lookup");
}

#[test]
fn exception_groups_with_more_identical_children_stay_one_issue() {
    // Python's ExceptionGroup("3 rows failed") with N identical ValueError children: the
    // number of children must not split the issue.
    let group_of = |n: usize| {
        let mut e = python_error("x", 0);
        e.exceptions.clear();
        for i in 0..n {
            e.exceptions.push(exception(
                "ValueError",
                &format!("row {i} is invalid"),
                vec![py_frame("myapp.importer", "parse_row", 30, true)],
            ));
        }
        e.exceptions.push(exception(
            "ExceptionGroup",
            &format!("{n} rows failed to import"),
            vec![py_frame("myapp.importer", "bulk_import", 12, true)],
        ));
        group(&e).hash
    };
    assert_eq!(group_of(2), group_of(3));
    assert_eq!(group_of(2), group_of(4));
    assert_ne!(group_of(1), group_of(0));
}

#[test]
fn without_frames_type_and_parameterised_value_group() {
    let event = |value: &str| EventView {
        exceptions: vec![ExceptionView {
            ty: s("TimeoutError"),
            value: s(value),
            ..ExceptionView::default()
        }],
        ..EventView::default()
    };
    let a = group(&event("timed out after 30s connecting to 10.0.0.1:5432"));
    let b = group(&event("timed out after 45s connecting to 10.0.0.2:5432"));
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.basis, GroupingBasis::Exception);
    assert_ne!(a.hash, group(&event("connection refused")).hash);
    assert_eq!(
        a.title,
        "TimeoutError: timed out after 30s connecting to 10.0.0.1:5432"
    );
    assert_eq!(a.culprit, "");
    assert_eq!(a.handled, None);
}

#[test]
fn messages_group_by_template_then_parameterised_text() {
    let msg = |text: &str, template: Option<&str>| EventView {
        message: s(text),
        message_template: template.and_then(s),
        logger: s("myapp.auth"),
        ..EventView::default()
    };
    let a = group(&msg("User 42 logged in", Some("User %s logged in")));
    let b = group(&msg("User bob logged in", Some("User %s logged in")));
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.basis, GroupingBasis::Message);
    assert_eq!(a.title, "User 42 logged in");
    assert_eq!(a.culprit, "myapp.auth");

    let c = group(&msg("Payment 1234 failed for bob@example.com", None));
    let d = group(&msg("Payment 98 failed for alice@example.org", None));
    assert_eq!(c.hash, d.hash);
    assert_ne!(
        c.hash,
        group(&msg("Refund 98 failed for alice@example.org", None)).hash
    );
}

#[test]
fn attached_stacktrace_groups_messages_only_with_in_app_frames() {
    let event = |text: &str, in_app: bool| EventView {
        message: s(text),
        stacktrace: Some(StacktraceView {
            frames: vec![py_frame("myapp.jobs", "run", 12, in_app)],
        }),
        ..EventView::default()
    };
    let a = group(&event("job 1 failed", true));
    assert_eq!(a.basis, GroupingBasis::Stacktrace);
    assert_eq!(a.hash, group(&event("something else entirely", true)).hash);
    assert_eq!(a.culprit, "myapp.jobs in run");
    let b = group(&event("job 1 failed", false));
    assert_eq!(b.basis, GroupingBasis::Message);
}

#[test]
fn custom_fingerprints() {
    let base = python_error("x", 0);
    let with_fp = |fp: &[&str]| {
        let mut e = base.clone();
        e.fingerprint = Some(fp.iter().map(|f| Cow::Owned(f.to_string())).collect());
        e
    };
    let plain = group(&base);
    // `{{ default }}` alone is exactly the default grouping.
    let only_default = group(&with_fp(&["{{ default }}"]));
    assert_eq!(only_default.hash, plain.hash);
    assert_eq!(only_default.basis, GroupingBasis::Stacktrace);

    let split_a = group(&with_fp(&["{{default}}", "tenant-a"]));
    let split_b = group(&with_fp(&[" {{ DEFAULT }} ", "tenant-b"]));
    assert_eq!(split_a.basis, GroupingBasis::Fingerprint);
    assert_ne!(split_a.hash, split_b.hash);
    assert_ne!(split_a.hash, plain.hash);

    let custom = group(&with_fp(&["database-unavailable"]));
    let mut other = python_error("y", 0);
    other.exceptions[0].ty = s("OperationalError");
    other.fingerprint = Some(vec![Cow::Borrowed("database-unavailable")]);
    assert_eq!(custom.hash, group(&other).hash);
    assert_eq!(custom.title, "KeyError: x");

    // Empty fingerprint means none.
    assert_eq!(group(&with_fp(&[])).hash, plain.hash);
    // Length-prefixing keeps entry boundaries apart.
    assert_ne!(
        group(&with_fp(&["ab", "c"])).hash,
        group(&with_fp(&["a", "bc"])).hash
    );
}

#[test]
fn titles_are_truncated_on_char_boundaries() {
    let long = "é".repeat(300);
    let g = group(&python_error(&format!("{long}\nsecond line"), 0));
    assert!(g.title.starts_with("KeyError: éé"));
    assert_eq!(g.title.chars().count(), "KeyError: ".len() + 100 + 1);

    let no_value = EventView {
        exceptions: vec![ExceptionView {
            ty: s("SystemExit"),
            ..ExceptionView::default()
        }],
        ..EventView::default()
    };
    assert_eq!(group(&no_value).title, "SystemExit");
    let no_type = EventView {
        exceptions: vec![ExceptionView::default()],
        ..EventView::default()
    };
    assert_eq!(group(&no_type).title, "<unknown>");
    let msg = EventView {
        message: s("first\nsecond"),
        ..EventView::default()
    };
    assert_eq!(group(&msg).title, "first");
}

#[test]
fn handled_comes_from_mechanisms() {
    let mut e = python_error("x", 0);
    assert_eq!(group(&e).handled, Some(false));
    e.exceptions[0].mechanism.as_mut().unwrap().handled = Some(true);
    assert_eq!(group(&e).handled, Some(true));
    e.exceptions.push(ExceptionView {
        ty: s("Other"),
        mechanism: Some(MechanismView {
            ty: None,
            handled: Some(false),
        }),
        ..ExceptionView::default()
    });
    assert_eq!(group(&e).handled, Some(false));
    e.exceptions.iter_mut().for_each(|x| x.mechanism = None);
    assert_eq!(group(&e).handled, None);
}

#[test]
fn fallback_groups_by_transaction_or_logger() {
    let e = |t: Option<&str>| EventView {
        transaction: t.and_then(s),
        ..EventView::default()
    };
    let a = group(&e(Some("/checkout")));
    assert_eq!(a.basis, GroupingBasis::Fallback);
    assert_eq!(a.title, "<unlabeled event>");
    assert_eq!(a.culprit, "/checkout");
    assert_ne!(a.hash, group(&e(Some("/cart"))).hash);
    assert_eq!(group(&e(None)).hash, group(&e(None)).hash);
}

#[test]
fn frames_without_any_name_are_ignored() {
    let mut a = python_error("x", 0);
    let b = a.clone();
    a.exceptions[0]
        .stacktrace
        .as_mut()
        .unwrap()
        .frames
        .push(FrameView {
            lineno: Some(1),
            in_app: Some(true),
            ..FrameView::default()
        });
    assert_eq!(group(&a).hash, group(&b).hash);
}

/// The same error from two Next.js builds whose chunks have different names (and the
/// minifier gave the functions other names and columns): unmapped, the frames name the
/// chunks and the issues differ; mapped through the builds' source maps (as the server's
/// symbolicator writes them, the minified frames kept beside as `raw_frames`), the frames
/// name the original file, function and line, and the two are one issue.
#[test]
fn builds_with_different_chunk_names_group_together_once_mapped() {
    let minified = |chunk: &str, name: &str, col: u64| {
        serde_json::json!([
            {"filename": format!("app:///_next/static/chunks/{chunk}.js"),
             "abs_path": format!("app:///_next/static/chunks/{chunk}.js"),
             "function": name, "lineno": 1, "colno": col + 900, "in_app": true},
            {"filename": format!("app:///_next/static/chunks/app/page-{chunk}.js"),
             "abs_path": format!("app:///_next/static/chunks/app/page-{chunk}.js"),
             "function": name, "lineno": 1, "colno": col, "in_app": true},
        ])
    };
    let mapped = serde_json::json!([
        {"filename": "app/cart/page.tsx", "abs_path": "webpack://_N_E/./app/cart/page.tsx",
         "function": "onCheckout", "lineno": 21, "colno": 5, "in_app": true,
         "context_line": "    checkout(cart);",
         "data": {"symbolicated": true, "resolved_with": "debug-id"}},
        {"filename": "lib/checkout.ts", "abs_path": "webpack://_N_E/./lib/checkout.ts",
         "function": "checkout", "lineno": 9, "colno": 11, "in_app": true,
         "context_line": "    throw new Error(\"cart is empty\");",
         "data": {"symbolicated": true, "resolved_with": "debug-id"}},
    ]);
    let event = |frames: serde_json::Value, raw: Option<serde_json::Value>| {
        let mut st = serde_json::json!({ "frames": frames });
        if let Some(raw) = raw {
            st["raw_frames"] = raw;
        }
        serde_json::to_vec(&serde_json::json!({
            "platform": "javascript",
            "exception": {"values": [{
                "type": "Error", "value": "cart is empty",
                "mechanism": {"type": "onerror", "handled": false},
                "stacktrace": st,
            }]},
        }))
        .unwrap()
    };
    let hash = |json: &[u8]| group(&lookout_sentry::event::parse_event(json).unwrap()).hash;

    let build_a = minified("3f9a1c", "a", 23456);
    let build_b = minified("77e0b2", "Qe", 24011);
    let unmapped_a = hash(&event(build_a.clone(), None));
    let unmapped_b = hash(&event(build_b.clone(), None));
    assert_ne!(
        unmapped_a, unmapped_b,
        "unmapped, the chunk names split the issue (else the case below proves nothing)"
    );
    let mapped_a = hash(&event(mapped.clone(), Some(build_a)));
    let mapped_b = hash(&event(mapped, Some(build_b)));
    assert_eq!(mapped_a, mapped_b, "mapped, one bug is one issue");
    assert_ne!(mapped_a, unmapped_a);
}

proptest! {
    #[test]
    fn parameterize_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
        let once = parameterize(&s).into_owned();
        let twice = parameterize(&once).into_owned();
        prop_assert_eq!(&twice, &once, "input {:?}", s);
    }

    #[test]
    fn parameterize_is_idempotent_on_data_like_text(
        s in "[0-9a-fA-F:./@ _#,xTZ+-]{0,40}|([a-z]{1,6}[ :/.=@-]?[0-9]{1,6}[ .:,/-]?){0,6}"
    ) {
        let once = parameterize(&s).into_owned();
        let twice = parameterize(&once).into_owned();
        prop_assert_eq!(&twice, &once, "input {:?}", s);
    }

    #[test]
    fn parameterize_is_idempotent_on_paths_urls_and_placeholders(
        s in "(https?://|/|C:\\\\|[0-9]{1,4}|[a-f]{1,8}|[.:/@ <>_#=-]|<int>|e[0-9]|T|Z){0,14}"
    ) {
        let once = parameterize(&s).into_owned();
        let twice = parameterize(&once).into_owned();
        prop_assert_eq!(&twice, &once, "input {:?}", s);
    }

    /// Only placeholders change: the text is kept apart from them, and whatever is left
    /// has no stand-alone run of 3+ digits (digits glued to letters, like `sha256`, stay).
    #[test]
    fn numbers_standing_alone_are_replaced(words in prop::collection::vec("[a-z]{1,6}|[0-9]{1,9}", 0..10)) {
        let text = words.join(" ");
        let out = parameterize(&text);
        for token in out.split(' ') {
            prop_assert!(!token.bytes().all(|b| b.is_ascii_digit()) || token.is_empty(), "{:?} -> {:?}", text, out);
        }
    }

    #[test]
    fn unchanged_text_is_borrowed(s in "[a-zA-Z ,;!?]{0,60}") {
        prop_assert!(matches!(parameterize(&s), Cow::Borrowed(_)));
    }
}
