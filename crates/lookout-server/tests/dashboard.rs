//! The dashboard over HTTP: every route refuses anonymous requests (walked from the
//! served router's own paths), CSRF, the sign-in rate limit, the first-user setup, API
//! tokens with scopes, and the pages with real data: incidents from the real alert loop,
//! monitors checked against real targets on loopback (a failing HTTP server, a TLS server
//! with a generated certificate, a degraded health document), notifications delivered to
//! an in-process receiver.

mod common;
#[path = "../../lookout-probe/tests/common/mod.rs"]
mod probe_common;

use common::web::{create_user, WebClient, EMAIL, PASSWORD};
use common::{
    envelope, exception_event, request, spawn_app, spawn_app_with_server, wait_for, TOKEN,
};
use lookout_core::clock::ManualClock;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every path the served router holds, read from its `Debug` output (axum has no API to
/// list routes; the output names each path as a quoted string). Should that format change,
/// the walk below finds none of the paths it checks for and fails rather than passing empty.
fn served_paths(app: &common::TestApp) -> BTreeSet<String> {
    let debug = format!("{:?}", app.running.as_ref().unwrap().router());
    debug
        .split('"')
        .filter(|s| s.starts_with('/') && !s.contains(char::is_whitespace))
        // The catch-all axum adds for the router's fallback (a 404 for unknown paths).
        .filter(|s| !s.contains("__private__axum_fallback"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_route_but_the_public_ones_refuses_anonymous_requests() {
    let app = spawn_app("");
    let mut anon = WebClient::new(&app);
    let mut walked = 0;
    for (method, path) in lookout_web::route_list() {
        if lookout_web::PUBLIC_PATHS.contains(&path) {
            continue;
        }
        let p = anon.request(method.as_str(), &concrete(path), &[("csrf", "x")]);
        walked += 1;
        if method == "GET" {
            assert_eq!(p.status, 303, "{method} {path} answered anonymously");
            assert!(
                p.header("location")
                    .unwrap_or("")
                    .starts_with("/login?next="),
                "{method} {path} did not send to sign-in"
            );
        } else {
            assert_eq!(p.status, 401, "{method} {path} answered anonymously");
        }
    }
    assert!(walked >= 15, "only {walked} dashboard routes walked");

    let doc: Value = serde_json::from_str(lookout_server::api::document()).unwrap();
    let mut api = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if lookout_server::PUBLIC_ROUTES.contains(&path.as_str()) {
            continue;
        }
        for method in ops.as_object().unwrap().keys() {
            let url = format!("{}{}", app.url, concrete(path));
            let m = method.to_uppercase();
            for auth in [None, Some("Bearer lkt_not-a-token")] {
                let headers: Vec<(&str, &str)> =
                    auth.iter().map(|a| ("authorization", *a)).collect();
                let r = request(&m, &url, &headers, b"{}".to_vec());
                assert_eq!(r.status, 401, "{m} {path} with {auth:?}: {}", r.body);
            }
            api += 1;
        }
    }
    assert!(api >= 30, "only {api} API operations walked");

    // The whole served router: ingest, pings, status pages, acknowledge links, the
    // Sentry-compatible `/api/0/` routes, `/metrics`, the API and the dashboard. Each path
    // is either declared public or refuses every method it answers.
    let public: BTreeSet<&str> = lookout_server::PUBLIC_ROUTES
        .iter()
        .chain(lookout_web::PUBLIC_PATHS)
        .copied()
        .collect();
    let paths = served_paths(&app);
    for known in [
        "/metrics",
        "/api/0/",
        "/api/0/organizations/{org}/releases/",
        "/api/0/{*rest}",
        "/api/v1/monitors",
        "/overview",
        "/status/{slug}",
        "/api/{project_id}/envelope/",
    ] {
        assert!(
            paths.contains(known),
            "{known} not among the router's paths: {paths:?}"
        );
    }
    for p in &public {
        assert!(
            paths.contains(*p),
            "{p} is declared public but not routed: {paths:?}"
        );
    }
    let mut refused = 0;
    for path in paths.iter().filter(|p| !public.contains(p.as_str())) {
        let mut answered = 0;
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            anon.cookies.clear();
            let r = anon.request(method, &concrete(path), &[("csrf", "x")]);
            match r.status {
                405 => continue,
                401 => {}
                303 if method == "GET"
                    && r.header("location")
                        .is_some_and(|l| l.starts_with("/login?next=")) => {}
                other => panic!(
                    "{method} {path} answered an anonymous request with {other}: {}",
                    r.body
                ),
            }
            answered += 1;
        }
        assert!(answered > 0, "{path}: every method answered 405");
        refused += 1;
    }
    assert!(
        refused >= walked + 10,
        "only {refused} private paths walked: {paths:?}"
    );

    // The public exceptions answer without credentials.
    assert_eq!(anon.get("/login").status, 200);
    assert_eq!(anon.get("/static/app.css").status, 200);
    assert_eq!(anon.get("/api/health").status, 200);
    let root = anon.get("/");
    assert_eq!(
        (root.status, root.header("location")),
        (303, Some("/login"))
    );
}

/// Every page (and the HTML part of alert emails) is an askama template: no Rust source of
/// the server, the dashboard or the notifiers holds markup in a string (`format!("<p>…")`, `Html("<html>…")`), so values are escaped in one
/// place. Unit tests at the end of a file (`#[cfg(test)]`) may compare against markup.
#[test]
fn no_html_is_built_outside_the_templates() {
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("../lookout-web/src"), &mut files);
    // The HTML part of alert emails.
    let notify_from = files.len();
    sources(&root.join("../lookout-notify/src"), &mut files);
    assert!(files.len() > 50, "the sources were not found: {files:?}");
    assert!(
        files[notify_from..].iter().any(|f| f.ends_with("email.rs")),
        "lookout-notify's sources were not found: {files:?}"
    );
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let markup = ["\"<", "#\"<"].iter().any(|q| {
                line.match_indices(q).any(|(at, _)| {
                    line[at + q.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!')
                })
            });
            if markup && !line.trim_start().starts_with("//") {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "markup built in Rust instead of a template:\n{}",
        found.join("\n")
    );
}

#[test]
fn sign_in_with_csrf_and_sign_out() {
    let app = spawn_app("");
    create_user(&app, EMAIL, PASSWORD);
    let mut web = WebClient::new(&app);

    // The sign-in form's token must match its cookie.
    let login = web.get("/login");
    assert_eq!(login.status, 200);
    let cookie = login.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");
    let wrong = web.post(
        "/login",
        &[("csrf", "forged"), ("email", EMAIL), ("password", PASSWORD)],
    );
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert!(!web.cookies.contains_key("lookout_session"));

    let ok = web.sign_in(EMAIL, PASSWORD);
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location"), Some("/overview"));
    assert!(web.cookies.contains_key("lookout_session"));
    let overview = web.get("/overview");
    assert_eq!(overview.status, 200);
    assert!(
        overview.body.contains("Open incidents"),
        "{}",
        overview.body
    );
    assert!(overview.body.contains(EMAIL));
    assert_eq!(web.get("/").header("location"), Some("/overview"));

    // Every form of a session carries its CSRF token; another token is refused.
    let csrf = web.csrf();
    for (path, form) in [
        ("/issues/bulk", vec![("action", "resolve")]),
        ("/tokens", vec![("name", "x"), ("scope", "read")]),
        ("/logout", vec![]),
    ] {
        let mut f = form.clone();
        f.push(("csrf", "0000"));
        assert_eq!(
            web.post(path, &f).status,
            403,
            "{path} took a wrong CSRF token"
        );
        let mut f = form;
        f.push(("csrf", ""));
        assert_eq!(
            web.post(path, &f).status,
            403,
            "{path} took an empty CSRF token"
        );
    }

    let out = web.post("/logout", &[("csrf", &csrf)]);
    assert_eq!((out.status, out.header("location")), (303, Some("/login")));
    assert!(!web.cookies.contains_key("lookout_session"));
    assert_eq!(web.get("/overview").status, 303, "the session ended");
}

#[test]
fn the_sixth_wrong_password_in_a_minute_is_refused() {
    let app = spawn_app(
        "\n[[monitors]]\nname = \"Home\"\nkind = \"heartbeat\"\nperiod = \"1h\"\ntoken = \"home-token-1234\"\n\n[[status_pages]]\nslug = \"acme\"\ntitle = \"Acme status\"\nmonitors = [\"Home\"]\n",
    );
    create_user(&app, EMAIL, PASSWORD);
    let mut web = WebClient::new(&app);
    for i in 0..5 {
        let p = web.sign_in(EMAIL, "wrong password");
        assert_eq!(p.status, 401, "attempt {i}");
        assert!(p.body.contains("Wrong email or password"));
    }
    let sixth = web.sign_in(EMAIL, "wrong password");
    assert_eq!(sixth.status, 429, "{}", sixth.body);
    assert_eq!(sixth.header("retry-after"), Some("60"));
    // Even the right password waits: the limit is on the account, not the guess.
    assert_eq!(web.sign_in(EMAIL, PASSWORD).status, 429);
    // A status page, the API and ingest are not behind the sign-in limit: the same client,
    // still limited, reads the page, its feed and its summary.
    assert_eq!(
        web.sign_in(EMAIL, "wrong password").status,
        429,
        "still limited"
    );
    let page = web.get("/status/acme");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Acme status") && page.body.contains("Home"));
    assert_eq!(web.get("/status/acme/feed.atom").status, 200);
    assert_eq!(web.get("/status/acme/summary.json").status, 200);
    assert_eq!(web.get("/api/health").status, 200);
    assert_eq!(app.get("/api/v1/monitors").status, 200);
    let (_, body) = envelope(&exception_event("KeyError", "x", "app", "f", 1));
    assert_eq!(app.post_envelope(body, &[]).status, 200);
}

/// Behind nginx every request comes from 127.0.0.1: without `trusted_proxies` one person
/// guessing passwords would lock everybody out for a minute.
#[test]
fn behind_a_trusted_proxy_each_client_has_its_own_sign_in_limit() {
    let bad = lookout_server::config::Config::parse(
        "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
        "t.toml",
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("server.trusted_proxies") && bad.contains("10.0.0.0/33"),
        "{bad}"
    );

    let app = spawn_app_with_server(
        "trusted_proxies = [\"127.0.0.1\", \"::1\"]",
        "",
        std::sync::Arc::new(lookout_core::clock::SystemClock),
        tempfile::tempdir().unwrap(),
    );
    create_user(&app, EMAIL, PASSWORD);
    let mut guesser = WebClient::new(&app);
    guesser.forwarded_for = Some("203.0.113.7".into());
    for i in 0..5 {
        let p = guesser.sign_in(&format!("nobody{i}@example.org"), "guess");
        assert_eq!(p.status, 401, "attempt {i}");
    }
    // Five failures from one address, each on another account: the address is limited...
    assert_eq!(guesser.sign_in("nobody9@example.org", "guess").status, 429);
    // ...and a client that claims another address in its own header is still itself.
    guesser.forwarded_for = Some("198.51.100.2, 203.0.113.7".into());
    assert_eq!(guesser.sign_in(EMAIL, PASSWORD).status, 429);
    // Another client behind the same proxy signs in.
    let mut user = WebClient::new(&app);
    user.forwarded_for = Some("198.51.100.2".into());
    let ok = user.sign_in(EMAIL, PASSWORD);
    assert_eq!(ok.status, 303, "{}", ok.body);
}

#[test]
fn the_setup_token_creates_the_first_user_once() {
    let app = spawn_app("");
    let token = app
        .running
        .as_ref()
        .unwrap()
        .web
        .setup_token()
        .expect("no user yet");
    let mut web = WebClient::new(&app);
    assert_eq!(web.get("/setup?token=wrong").status, 404);
    let form = web.get(&format!("/setup?token={token}"));
    assert_eq!(form.status, 200);
    let short = web.post(
        "/setup",
        &[("token", &token), ("email", EMAIL), ("password", "short")],
    );
    assert_eq!(short.status, 400);
    assert!(short.body.contains("at least 10 characters"));
    let made = web.post(
        "/setup",
        &[
            ("token", &token),
            ("email", "Ops@Example.org"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(
        (made.status, made.header("location")),
        (303, Some("/overview"))
    );
    assert_eq!(web.get("/overview").status, 200, "signed in at once");
    assert!(app.running.as_ref().unwrap().web.setup_token().is_none());
    let again = WebClient::new(&app).post(
        "/setup",
        &[
            ("token", &token),
            ("email", "evil@example.org"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(again.status, 404, "the token is used up");
    let mut other = WebClient::new(&app);
    assert_eq!(
        other.sign_in(EMAIL, PASSWORD).status,
        303,
        "email is lower-cased"
    );
}

/// `lookout user create` writes the store while the server runs: the sign-in page stops
/// saying no user exists, and the setup link stops offering its form.
#[test]
fn a_user_made_outside_the_dashboard_spends_the_setup_token() {
    let app = spawn_app("");
    let token = app
        .running
        .as_ref()
        .unwrap()
        .web
        .setup_token()
        .expect("no user yet");
    let mut web = WebClient::new(&app);
    assert!(web.get("/login").body.contains("No user exists yet"));
    create_user(&app, EMAIL, PASSWORD);
    let login = web.get("/login");
    assert_eq!(login.status, 200);
    assert!(!login.body.contains("No user exists yet"), "{}", login.body);
    assert_eq!(web.get(&format!("/setup?token={token}")).status, 404);
    assert!(app.running.as_ref().unwrap().web.setup_token().is_none());
    assert_eq!(web.sign_in(EMAIL, PASSWORD).status, 303);
}

#[test]
fn api_tokens_are_shown_once_stored_hashed_scoped_and_revocable() {
    let app = spawn_app("");
    create_user(&app, EMAIL, PASSWORD);
    let mut web = WebClient::new(&app);
    web.sign_in(EMAIL, PASSWORD);
    let csrf = web.csrf();
    let bad = web.post(
        "/tokens",
        &[("csrf", &csrf), ("name", "x"), ("scope", "root")],
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("not a scope"));
    let made = web.post(
        "/tokens",
        &[("csrf", &csrf), ("name", "ci reader"), ("scope", "read")],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    assert_eq!(made.header("cache-control"), Some("no-store"));
    let token = made.input("new-token").or_else(|| {
        let at = made.body.find("lkt_")?;
        Some(made.body[at..at + 68].to_string())
    });
    let token = token.expect("the new token is shown");
    assert!(token.starts_with("lkt_") && token.len() == 68, "{token}");
    assert!(!web.get("/tokens").body.contains(&token), "shown once only");

    let bearer = format!("Bearer {token}");
    let get = |path: &str| {
        request(
            "GET",
            &format!("{}{path}", app.url),
            &[("authorization", &bearer)],
            vec![],
        )
    };
    assert_eq!(get("/api/v1/projects").status, 200);
    let post = request(
        "POST",
        &format!("{}/api/v1/issues/1/resolve", app.url),
        &[("authorization", &bearer)],
        vec![],
    );
    assert_eq!(post.status, 403, "{}", post.body);
    assert!(post.detail().contains("write"), "{}", post.body);
    // The admin token still works.
    assert_eq!(app.get("/api/v1/projects").status, 200);

    let page = web.get("/tokens").body;
    let rest = &page[page.find("action=\"/tokens/").expect("a revoke form") + 16..];
    let id = rest[..rest.find('/').unwrap()].to_string();
    let revoked = web.post(&format!("/tokens/{id}/revoke"), &[("csrf", &csrf)]);
    assert_eq!(revoked.status, 303);
    assert_eq!(get("/api/v1/projects").status, 401);
    assert_eq!(app.get("/api/v1/projects").status, 200, "{}", TOKEN);
}

#[test]
fn a_token_made_for_one_project_reaches_only_it() {
    let app = spawn_app("");
    let made = app.send(
        "POST",
        "/api/v1/projects",
        &serde_json::json!({"slug": "web", "name": "Web"}),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    create_user(&app, EMAIL, PASSWORD);
    let mut web = WebClient::new(&app);
    web.sign_in(EMAIL, PASSWORD);
    let csrf = web.csrf();
    let form = web.get("/tokens").body;
    assert!(form.contains("name=\"project\" value=\"web\""), "{form}");
    let bad = web.post(
        "/tokens",
        &[
            ("csrf", &csrf),
            ("name", "x"),
            ("scope", "read"),
            ("project", "nope"),
        ],
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("There is no project `nope`"),
        "{}",
        bad.body
    );
    let made = web.post(
        "/tokens",
        &[
            ("csrf", &csrf),
            ("name", "web reader"),
            ("scope", "read"),
            ("project", "web"),
        ],
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let at = made.body.find("lkt_").expect("the new token is shown");
    let token = made.body[at..at + 68].to_string();
    let listed = web.get("/tokens").body;
    assert!(
        listed.contains("<td>web</td>"),
        "the list names its project: {listed}"
    );

    let bearer = format!("Bearer {token}");
    let get = |path: &str| {
        request(
            "GET",
            &format!("{}{path}", app.url),
            &[("authorization", &bearer)],
            vec![],
        )
    };
    let projects = get("/api/v1/projects");
    assert_eq!(projects.status, 200);
    let slugs: Vec<&str> = projects
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["slug"].as_str())
        .collect();
    assert_eq!(slugs, ["web"]);
    assert_eq!(get("/api/v1/projects/web/issues").status, 200);
    let other = get("/api/v1/projects/app/issues");
    assert_eq!(other.status, 403, "{}", other.body);
    assert!(other.detail().contains("may not reach project `app`"));
    assert_eq!(get("/api/v1/incidents").status, 403);
}

#[test]
fn pages_show_issues_events_and_act_on_them() {
    let app = spawn_app("");
    create_user(&app, EMAIL, PASSWORD);
    let mut event = exception_event(
        "KeyError",
        "'user_id' <script>x</script>",
        "app.views",
        "profile",
        42,
    );
    event["exception"]["values"][0]["stacktrace"]["frames"][1]["context_line"] =
        json!("    return users[user_id]");
    event["exception"]["values"][0]["stacktrace"]["frames"][1]["pre_context"] =
        json!(["def profile(request):"]);
    event["exception"]["values"][0]["stacktrace"]["frames"][1]["vars"] = json!({"user_id": "u-77"});
    event["breadcrumbs"] =
        json!({"values": [{"timestamp": 1.7e9, "category": "query", "message": "SELECT 1"}]});
    event["request"] = json!({"method": "GET", "url": "https://app.example/profile"});
    event["user"] = json!({"id": "u-77"});
    let (event_id, body) = envelope(&event);
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    let issue = wait_for("the issue", || app.issues("").into_iter().next());
    let id = issue["id"].as_i64().unwrap();

    let mut web = WebClient::new(&app);
    web.sign_in(EMAIL, PASSWORD);
    let list = web.get("/issues");
    assert_eq!(list.status, 200);
    assert!(list.body.contains("KeyError"), "{}", list.body);
    assert!(
        list.body.contains("&#60;script&#62;") || list.body.contains("&lt;script&gt;"),
        "titles are escaped: {}",
        list.body
    );
    assert!(!list.body.contains("<script>x"), "titles are escaped");
    assert!(
        list.body.contains("<polyline points="),
        "a sparkline per issue"
    );
    for q in [
        "status=all",
        "level=error",
        "release=web%401.0.0",
        "environment=production",
        "q=KeyError",
        "sort=count",
    ] {
        let p = web.get(&format!("/issues?{q}"));
        assert!(p.body.contains("KeyError"), "filter {q} lost the issue");
    }
    assert!(!web
        .get("/issues?q=nothing-like-it")
        .body
        .contains("KeyError"));
    assert_eq!(web.get("/issues?status=nonsense").status, 400);

    let page = web.get(&format!("/issues/{id}"));
    assert_eq!(page.status, 200);
    for needle in [
        "profile",
        "return users[user_id]",
        "u-77",
        "SELECT 1",
        "https://app.example/profile",
        &event_id[..8],
        "web@1.0.0",
        "production",
    ] {
        assert!(page.body.contains(needle), "the issue page lacks {needle}");
    }
    let csrf = web.csrf();
    let done = web.post(
        &format!("/issues/{id}/status"),
        &[("csrf", &csrf), ("action", "resolve")],
    );
    assert_eq!(done.status, 303);
    assert_eq!(
        app.get(&format!("/api/v1/issues/{id}")).body["status"],
        "resolved"
    );
    let bulk = web.post(
        "/issues/bulk",
        &[
            ("csrf", &csrf),
            ("action", "ignore"),
            ("id", &id.to_string()),
            ("back", "/issues?status=all"),
        ],
    );
    assert_eq!(
        (bulk.status, bulk.header("location")),
        (303, Some("/issues?status=all"))
    );
    assert_eq!(
        app.get(&format!("/api/v1/issues/{id}")).body["status"],
        "ignored"
    );
    assert_eq!(web.get("/issues/999999").status, 404);
    assert_eq!(web.get("/issues/abc").status, 400);

    // Setup: the DSN and the test error, through real ingest.
    let setup = web.get("/install");
    assert!(
        setup.body.contains(&app.dsn()),
        "the setup page shows the DSN"
    );
    let sent = web.post(
        "/install/test-error",
        &[("csrf", &csrf), ("project", "app")],
    );
    assert_eq!(sent.status, 303, "{}", sent.body);
    wait_for("the test error", || {
        app.issues("query=LookoutTestError").into_iter().next()
    });

    for path in ["/overview", "/monitors", "/incidents", "/tokens"] {
        assert_eq!(web.get(path).status, 200, "{path}");
    }
}

/// Three issues whose event counts, first-seen and last-seen times each rank them
/// differently, so every sort the page offers has an order of its own and a handler that
/// ignored `sort` would show one order for all of them.
#[test]
fn the_issue_list_sorts_by_each_offered_order() {
    let app = common::spawn_app_with_clock("", Arc::new(ManualClock::new(NOON)));
    // (title, minutes before noon of each event): Alpha 3 events seen from -50 to -30,
    // Beta 2 from -45 to -5, Gamma 1 at -20.
    for (seed, (title, minutes)) in [
        ("AlphaError", &[50, 40, 30][..]),
        ("BetaError", &[45, 5][..]),
        ("GammaError", &[20][..]),
    ]
    .into_iter()
    .enumerate()
    {
        error_events(
            &app,
            &format!("{title}: sorted"),
            &format!("sort-{title}"),
            seed as u64 + 100,
            minutes.iter().map(|m| NOON - m * MIN_MS),
        );
    }
    let mut counts: Vec<(String, u64)> = app
        .issues("")
        .iter()
        .map(|i| {
            (
                i["title"].as_str().unwrap().to_string(),
                i["count"].as_u64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("AlphaError: sorted".to_string(), 3),
            ("BetaError: sorted".to_string(), 2),
            ("GammaError: sorted".to_string(), 1),
        ]
    );

    let mut web = signed_in(&app);
    let order = |body: &str| -> Vec<String> {
        body.split("class=\"issue-title\"")
            .skip(1)
            .map(|rest| {
                let text = &rest[rest.find('>').unwrap() + 1..];
                text[..text.find("</a>").unwrap()]
                    .trim_end_matches(": sorted")
                    .to_string()
            })
            .collect()
    };
    let page = web.get("/issues");
    assert_eq!(page.status, 200, "{}", page.body);
    // Every order the page offers in its menu is checked below, and no other.
    let offered: Vec<&str> = section(&page.body, "<select name=\"sort\">", "</select>")
        .split("<option value=\"")
        .skip(1)
        .map(|o| &o[..o.find('"').unwrap()])
        .collect();
    assert_eq!(offered, ["last_seen", "first_seen", "count"]);
    assert_eq!(
        order(&page.body),
        ["BetaError", "GammaError", "AlphaError"],
        "last seen first by default"
    );
    for (sort, expected) in [
        ("last_seen", ["BetaError", "GammaError", "AlphaError"]),
        ("first_seen", ["GammaError", "BetaError", "AlphaError"]),
        ("count", ["AlphaError", "BetaError", "GammaError"]),
    ] {
        let page = web.get(&format!("/issues?sort={sort}"));
        assert_eq!(page.status, 200, "{sort}: {}", page.body);
        assert_eq!(order(&page.body), expected, "sort={sort}");
        assert!(
            page.body
                .contains(&format!("<option value=\"{sort}\" selected>")),
            "the menu shows sort={sort} as chosen"
        );
    }
    let bad = web.get("/issues?sort=title");
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("sort `title` is unknown"), "{}", bad.body);
}

#[test]
fn monitor_pages_pause_resume_and_check_now() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let app = spawn_app(&format!(
        "\n[[monitors]]\nname = \"Port\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {closed}\ninterval = \"60s\"\nalert_after = 1\n\n[[monitors]]\nname = \"Backup\"\nkind = \"heartbeat\"\nperiod = \"1h\"\ntoken = \"backup-token-1234\"\n"
    ));
    create_user(&app, EMAIL, PASSWORD);
    let mut web = WebClient::new(&app);
    web.sign_in(EMAIL, PASSWORD);
    let csrf = web.csrf();
    let monitors = app.get("/api/v1/monitors").body;
    let id_of = |name: &str| {
        monitors
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (port, backup) = (id_of("Port"), id_of("Backup"));

    let list = web.get("/monitors");
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Port") && list.body.contains("Backup"));
    assert!(list.body.contains("class=\"uptime\""), "90-day bars");

    // Check now: the closed port is checked at once and goes down with its error shown.
    let now = web.post(
        &format!("/monitors/{port}/action"),
        &[("csrf", &csrf), ("action", "check")],
    );
    assert_eq!(now.status, 303, "{}", now.body);
    let page = wait_for("the check", || {
        let p = web.get(&format!("/monitors/{port}"));
        p.body
            .contains("Recent checks")
            .then_some(())
            .and_then(|_| {
                p.body
                    .contains("badge st-down\">down</span> Port")
                    .then_some(p)
            })
    });
    assert!(
        page.body.contains("connection refused") || page.body.contains("refused"),
        "the error is shown"
    );
    let overview = web.get("/overview");
    assert!(
        overview.body.contains(&format!("/monitors/{port}")),
        "a down monitor is on the overview"
    );

    // A heartbeat cannot be checked now; pause and resume work for both.
    let hb = web.post(
        &format!("/monitors/{backup}/action"),
        &[("csrf", &csrf), ("action", "check")],
    );
    assert_eq!(hb.status, 400);
    assert!(web
        .get(&format!("/monitors/{backup}"))
        .body
        .contains("Heartbeat history"));
    assert_eq!(
        web.post(
            &format!("/monitors/{port}/action"),
            &[("csrf", &csrf), ("action", "pause")]
        )
        .status,
        303
    );
    assert_eq!(
        app.get(&format!("/api/v1/monitors/{port}")).body["paused"],
        true
    );
    assert!(web
        .get(&format!("/monitors/{port}"))
        .body
        .contains("value=\"resume\""));
    assert_eq!(
        web.post(
            &format!("/monitors/{port}/action"),
            &[("csrf", &csrf), ("action", "resume")]
        )
        .status,
        303
    );
    assert_eq!(
        app.get(&format!("/api/v1/monitors/{port}")).body["paused"],
        false
    );
    assert_eq!(
        web.post(
            "/monitors/999999/action",
            &[("csrf", &csrf), ("action", "pause")]
        )
        .status,
        404
    );
    assert_eq!(
        web.post(
            &format!("/monitors/{port}/action"),
            &[("csrf", &csrf), ("action", "explode")]
        )
        .status,
        400
    );
}

#[test]
fn cookies_are_secure_when_the_public_url_is_https() {
    let app = spawn_app("");
    let mut web = WebClient::new(&app);
    let plain = web.get("/login");
    assert!(!plain.header("set-cookie").unwrap().contains("Secure"));
    // Behind a TLS-terminating proxy that says so.
    let mut b = ureq::http::Request::builder()
        .method("GET")
        .uri(format!("{}/login", app.url));
    b = b.header("x-forwarded-proto", "https");
    let resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .run(b.body(Vec::new()).unwrap())
        .unwrap();
    let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\npublic_url = \"https://lookout.example\"\n",
        dir.path().display()
    );
    let config = lookout_server::Config::parse(&text, "t.toml", &|_| None).unwrap();
    let https = common::spawn_config(
        config,
        std::sync::Arc::new(lookout_core::clock::SystemClock),
    );
    let cookie = WebClient::new(&https).get("/login");
    assert!(cookie.header("set-cookie").unwrap().contains("; Secure"));
    // The DSNs on the setup page use the public URL.
    create_user(&https, EMAIL, PASSWORD);
    let mut web = WebClient::new(&https);
    // The client speaks plain http to the test server; the cookie is sent all the same.
    web.sign_in(EMAIL, PASSWORD);
    assert!(
        web.get("/install").body.contains("https://"),
        "DSNs under the public URL"
    );
}

/// Noon, so that an hour of checks never straddles midnight.
const NOON: i64 = 1_773_144_000_000;
const MIN_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn signed_in(app: &common::TestApp) -> WebClient {
    create_user(app, EMAIL, PASSWORD);
    let mut web = WebClient::new(app);
    web.sign_in(EMAIL, PASSWORD);
    web
}

fn monitor_id(app: &common::TestApp, name: &str) -> i64 {
    let list = app.get("/api/v1/monitors").body;
    list.as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no monitor {name}: {list}"))["id"]
        .as_i64()
        .unwrap()
}

fn record(
    monitor_id: i64,
    at_ms: i64,
    up: bool,
    figures: lookout_store::CheckFigures,
) -> lookout_store::CheckRecord {
    lookout_store::CheckRecord {
        monitor_id,
        at_ms,
        latency_ms: Some(100),
        outcome: if up {
            lookout_store::CheckOutcome::Up
        } else {
            lookout_store::CheckOutcome::Down
        },
        maintenance: false,
        error: (!up).then(|| "HTTP 503".to_string()),
        figures,
    }
}

fn write(app: &common::TestApp, results: Vec<lookout_store::CheckRecord>) {
    app.state()
        .store
        .write_checks(&lookout_store::CheckBatch {
            results,
            ..Default::default()
        })
        .unwrap();
}

#[test]
fn the_monitor_page_draws_phases_and_process_figures_over_the_chosen_range() {
    let clock = lookout_core::clock::ManualClock::new(NOON);
    let app = common::spawn_app_with_clock(
        "\n[[monitors]]\nname = \"Web\"\nkind = \"heartbeat\"\nperiod = \"1h\"\ntoken = \"web-token-1234\"\n\n[[monitors]]\nname = \"Worker\"\nkind = \"heartbeat\"\nperiod = \"1h\"\ntoken = \"worker-token-1234\"\n",
        std::sync::Arc::new(clock.clone()),
    );
    let mut web = signed_in(&app);
    let (w, worker) = (monitor_id(&app, "Web"), monitor_id(&app, "Worker"));
    let phases = |dns, connect, tls, first_byte| lookout_store::CheckFigures {
        dns_ms: Some(dns),
        connect_ms: Some(connect),
        tls_ms: Some(tls),
        first_byte_ms: Some(first_byte),
        ..Default::default()
    };
    let process = |kb, permille| lookout_store::CheckFigures {
        memory_kb: Some(kb),
        cpu_permille: Some(permille),
        ..Default::default()
    };
    let two_hours_ago = NOON - 2 * HOUR_MS;
    write(
        &app,
        vec![
            record(w, two_hours_ago, true, phases(2, 10, 20, 50)),
            record(w, two_hours_ago + MIN_MS, true, phases(4, 20, 40, 70)),
            record(w, NOON - 10 * DAY_MS, true, phases(9, 9, 9, 9)),
            record(worker, two_hours_ago, true, process(150_000, 125)),
            record(worker, two_hours_ago + MIN_MS, true, process(250_001, 0)),
        ],
    );
    app.state().store.rollup_checks(NOON).unwrap();

    let page = web.get(&format!("/monitors/{w}"));
    assert_eq!(page.status, 200, "{}", page.body);
    // The hour's stack holds each phase's mean; the legend names them.
    assert!(
        page.body
            .contains("DNS 3 ms, Connect 15 ms, TLS 30 ms, First byte 60 ms"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("Phases, last 24 hours (mean per hour, up to 108 ms)"));
    assert!(page.body.contains("class=\"ph4\""));
    // The raw results say what each check measured.
    assert!(page
        .body
        .contains("DNS 2 ms · Connect 10 ms · TLS 20 ms · First byte 50 ms"));
    assert!(
        !page.body.contains("Memory (last"),
        "no process chart for HTTP figures"
    );
    // Thirty days: day roll-ups, the older check included.
    let month = web.get(&format!("/monitors/{w}?range=30d"));
    assert_eq!(month.status, 200);
    assert!(
        month.body.contains("(mean per day, up to"),
        "{}",
        month.body
    );
    assert!(month
        .body
        .contains("DNS 9 ms, Connect 9 ms, TLS 9 ms, First byte 9 ms"));
    assert!(month.body.contains("aria-current=\"page\">30d</a>"));
    let bad = web.get(&format!("/monitors/{w}?range=1y"));
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("use 24h, 7d, 30d or 90d"), "{}", bad.body);

    // A pm2 app's memory and CPU: means per hour, the last shown.
    let page = web.get(&format!("/monitors/{worker}?range=7d"));
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("Memory (last 195.3 MiB, up to 195.3 MiB)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("CPU (last 6.3 %, up to 6.3 %)"));
    assert!(page.body.contains("memory 146.5 MiB · CPU 12.5 %"));
    assert!(
        !page.body.contains("Phases, last"),
        "no phase chart for pm2 figures"
    );

    // The API gives the same figures.
    let rollups = app
        .get(&format!(
            "/api/v1/monitors/{w}/rollups?resolution=hour&from={}",
            NOON - DAY_MS
        ))
        .body;
    let hour = &rollups.as_array().unwrap()[0];
    assert_eq!(
        (hour["dns_ms"].clone(), hour["first_byte_ms"].clone()),
        (json!(3), json!(60)),
        "{rollups}"
    );
    assert!(
        hour.get("memory_bytes").is_none(),
        "absent figures are left out"
    );
    let results = app
        .get(&format!(
            "/api/v1/monitors/{worker}/results?from={}",
            NOON - DAY_MS
        ))
        .body;
    assert_eq!(results[0]["memory_bytes"], 250_001 * 1024, "{results}");
    assert_eq!(results[0]["cpu_percent"], 0.0);
    assert_eq!(results[1]["cpu_percent"], 12.5);
}

#[test]
fn the_deploys_page_lists_verdicts_and_the_error_charts_mark_deploys() {
    let app = spawn_app("");
    let mut web = signed_in(&app);
    use lookout_core::clock::Clock;
    // Recent enough that the watch after the first deploy (10 minutes from its end) is
    // still running, so the verdict below is the only one.
    let started = lookout_core::clock::SystemClock.now_ms() - 5 * MIN_MS;
    let iso = |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap().to_string();
    let passed = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({
            "project": "app",
            "release": "web@2.0.0",
            "environment": "production",
            "commit": "abc123def4567890abc123def4567890abc12345",
            "dateStarted": iso(started),
            "dateFinished": iso(started + 90_000),
            "verdict": "passed",
            "checks": [{"kind": "health", "target": "http://127.0.0.1:3000/api/health",
                        "outcome": "passed", "summary": "ok (database ok)", "attempts": 3,
                        "duration_ms": 4200}],
        }),
    );
    assert_eq!(passed.status, 201, "{}", passed.body);
    let passed = passed.body["id"].as_i64().unwrap();
    let rolled = app.send(
        "POST",
        "/api/v1/deploys",
        &json!({
            "project": "app",
            "release": "web@2.0.1",
            "dateStarted": iso(started + MIN_MS),
            "verdict": "rolled_back",
            "checks": [{"kind": "page", "target": "http://127.0.0.1:3000/login",
                        "outcome": "failed", "summary": "HTTP 500", "attempts": 5,
                        "duration_ms": 60000}],
            "rollback": {"to": "HEAD~1", "steps": [{"command": "npm ci", "outcome": "passed",
                         "exit_code": 0, "reason": null, "duration_ms": 3000}]},
        }),
    );
    assert_eq!(rolled.status, 201, "{}", rolled.body);
    let rolled = rolled.body["id"].as_i64().unwrap();
    // The watch after the first deploy judged it bad.
    assert!(app
        .state()
        .store
        .judge_deploy(
            passed,
            "bad",
            &json!({"errors_before": 1, "errors_after": 25, "errors_per_min_before": 0.1,
                    "errors_per_min_after": 2.5, "new_issues": 2, "unhandled": 1,
                    "sessions": 0, "crash_free_percent": null, "window_min": 10.0,
                    "reasons": ["errors per minute went from 0.10 to 2.50"]}),
        )
        .unwrap());

    let list = web.get("/deploys");
    assert_eq!(list.status, 200, "{}", list.body);
    for text in [
        "web@2.0.0",
        "web@2.0.1",
        "abc123def456<",
        ">passed<",
        ">rolled_back<",
        ">bad<",
        "0.10 → 2.50 errors/min",
        "1 min",
    ] {
        assert!(list.body.contains(text), "{text} missing: {}", list.body);
    }
    assert!(list.body.contains("aria-current=\"page\">Deploys</a>"));
    assert_eq!(web.get("/deploys?project=app").status, 200);
    let unknown = web.get("/deploys?project=nope");
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("There is no project `nope`"));

    let one = web.get(&format!("/deploys/{passed}"));
    assert_eq!(one.status, 200);
    for text in [
        "health http://127.0.0.1:3000/api/health",
        "ok (database ok)",
        "4.2 s",
        "errors per minute went from 0.10 to 2.50",
        "Errors a minute after",
    ] {
        assert!(one.body.contains(text), "{text} missing: {}", one.body);
    }
    let two = web.get(&format!("/deploys/{rolled}"));
    assert!(
        two.body.contains("Rollback to <code>HEAD~1</code>"),
        "{}",
        two.body
    );
    assert!(two.body.contains("npm ci") && two.body.contains("HTTP 500"));
    assert!(two.body.contains("not watched"));
    assert_eq!(web.get("/deploys/x").status, 400);
    assert_eq!(web.get("/deploys/999999").status, 404);

    // Markers on the overview's errors per hour and on an issue's chart.
    let overview = web.get("/overview");
    assert!(
        overview
            .body
            .contains("Deploy of web@2.0.0 to production at")
            && overview.body.contains("(bad)"),
        "{}",
        overview.body
    );
    assert!(overview.body.contains("class=\"deploy\""));
    let (_, body) = envelope(&exception_event(
        "KeyError", "price", "app.cart", "total", 7,
    ));
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    let issue = wait_for("the issue", || app.issues("").into_iter().next());
    let page = web.get(&format!("/issues/{}", issue["id"]));
    assert!(page
        .body
        .contains("Events per hour, last 24 hours (dashed: deploys)"));
    assert!(
        page.body.contains("Deploy of web@2.0.1 to production at"),
        "{}",
        page.body
    );
    assert!(page.body.contains("1 events"), "the event's hour is drawn");
}

#[test]
fn the_slo_page_shows_value_budget_burn_and_the_budget_over_the_window() {
    let clock = lookout_core::clock::ManualClock::new(NOON);
    let app = common::spawn_app_with_clock(
        "\n[[monitors]]\nname = \"Home\"\nkind = \"heartbeat\"\nperiod = \"1h\"\ntoken = \"home-token-1234\"\n\n[[slos]]\nname = \"Homepage availability\"\nkind = \"availability\"\nmonitor = \"Home\"\ntarget = 99\n",
        std::sync::Arc::new(clock.clone()),
    );
    let mut web = signed_in(&app);
    let home = monitor_id(&app, "Home");
    let none = lookout_store::CheckFigures::default();
    // Yesterday: 100 good checks. The last hour: 99 good and one bad.
    let mut results: Vec<_> = (0..100)
        .map(|i| record(home, NOON - DAY_MS + i * 10_000, true, none))
        .collect();
    results.extend((0..100).map(|i| record(home, NOON - 50 * MIN_MS + i * 10_000, i != 42, none)));
    write(&app, results);

    let page = web.get("/slos");
    assert_eq!(page.status, 200, "{}", page.body);
    for text in [
        "Homepage availability",
        "availability · Home · window 30d",
        "99.500 %",
        "99 %",
        "<dd>2.0 failed checks</dd>",
        "<dd>1</dd>",
        "1.0 (50.0 %)",
        "in 15 d 0 h",
        "1.00×",
        ">met<",
        "of the budget left (1 bad of 100)",
        "of the budget left (0 bad of 100)",
        "class=\"zero\"",
    ] {
        assert!(page.body.contains(text), "{text} missing: {}", page.body);
    }
    assert!(page.body.contains("aria-current=\"page\">SLOs</a>"));
    // Same figures as the API's.
    let api = app.get("/api/v1/slos").body;
    assert_eq!(api[0]["budget_spent"], 1.0, "{api}");

    // The page's evaluation is at most a minute old: a new failure shows after that.
    write(&app, vec![record(home, NOON - MIN_MS / 2, false, none)]);
    assert!(
        web.get("/slos").body.contains("<dd>1</dd>"),
        "within the minute"
    );
    clock.advance(61_000);
    let page = web.get("/slos");
    assert!(page.body.contains("<dd>2</dd>"), "{}", page.body);
}

/// An HTTP receiver on loopback that records each request's path and JSON body (a webhook
/// endpoint and a Slack hook at once) and answers 200.
struct Recorder {
    url: String,
    got: Arc<Mutex<Vec<(String, Value)>>>,
    _rt: tokio::runtime::Runtime,
}

impl Recorder {
    fn start() -> Recorder {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let g = got.clone();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app =
            axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
                let g = g.clone();
                async move {
                    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    g.lock().unwrap().push((uri.path().to_string(), v));
                    "ok"
                }
            });
        rt.spawn(async move { axum::serve(listener, app).await });
        Recorder {
            url: format!("http://{addr}"),
            got,
            _rt: rt,
        }
    }

    /// The bodies received at `path`.
    fn bodies(&self, path: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// `n` error events of project `app` received at `at_ms`, written through the store as the
/// writer would (the alert loop counts them like any others).
fn errors(app: &common::TestApp, n: u64, at_ms: i64, seed: u64) {
    let times = std::iter::repeat_n(at_ms, n as usize);
    error_events(
        app,
        "ValueError: boom",
        &format!("boom-{seed}"),
        seed,
        times,
    );
}

/// Error events of one issue (`title`, `fingerprint`) of project `app`, one received at each
/// of `times`, written through the store as the writer would.
fn error_events(
    app: &common::TestApp,
    title: &str,
    fingerprint: &str,
    seed: u64,
    times: impl IntoIterator<Item = i64>,
) {
    let events = times
        .into_iter()
        .enumerate()
        .map(|(i, at_ms)| lookout_store::NewEvent {
            project_id: common::PROJECT_ID,
            event_id: format!("{seed:016x}{i:016x}"),
            timestamp_ms: at_ms,
            received_ms: at_ms,
            level: lookout_store::Level::Error,
            platform: Some("python".into()),
            release: None,
            environment: None,
            title: title.into(),
            culprit: "app.views in handle".into(),
            fingerprint: fingerprint.into(),
            grouping_version: "test".into(),
            handled: Some(true),
            user_key: None,
            payload: b"{}".to_vec(),
        })
        .collect();
    app.state()
        .store
        .write_batch(&lookout_store::WriteBatch {
            events,
            ..Default::default()
        })
        .unwrap();
}

/// `text` appears in `body` only escaped (askama writes `&#60;`, others `&lt;`), never raw.
fn assert_escaped(body: &str, text: &str) {
    let raw = text.to_string();
    let numeric = text
        .replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;");
    let named = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        body.contains(&numeric) || body.contains(&named),
        "{text} is not shown escaped: {body}"
    );
    assert!(!body.contains(&raw), "{text} is shown raw: {body}");
}

/// The part of a page between two markers.
fn section<'a>(body: &'a str, from: &str, to: &str) -> &'a str {
    let start = body
        .find(from)
        .unwrap_or_else(|| panic!("{from} not in {body}"));
    let end = body[start..].find(to).map_or(body.len(), |e| start + e);
    &body[start..end]
}

/// The incidents as (id, rule name).
fn incident_ids(app: &common::TestApp) -> Vec<(i64, String)> {
    let r = app.get("/api/v1/incidents");
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_i64().unwrap(),
                i["rule"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A health document that reports its database degraded.
const DEGRADED_DOC: &str =
    r#"{"status": "degraded", "checks": {"database": {"status": "degraded", "latency": 900}}}"#;

#[test]
fn the_overview_puts_open_incidents_first_then_degraded_monitors_and_errors_against_the_target() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let target = rt.block_on(probe_common::Target::start(probe_common::Mode::Respond(
        200,
        DEGRADED_DOC,
    )));
    let clock = ManualClock::new(NOON);
    let app = common::spawn_app_with_clock(
        &format!(
            "\n[[monitors]]\nname = \"Health\"\nkind = \"health\"\nurl = \"{}\"\ninterval = \"1h\"\nalert_after = 1\n\n[[monitors]]\nname = \"Quiet\"\nkind = \"heartbeat\"\nperiod = \"1h\"\ntoken = \"quiet-token-1234\"\n\n[alerts]\nevaluate_every = \"10s\"\n[[rules]]\nname = \"Error spike\"\nwhen = \"errors > 50 in 5m\"\nseverity = \"critical\"\n",
            target.url("/api/health")
        ),
        Arc::new(clock.clone()),
    );
    let mut web = signed_in(&app);
    let health = monitor_id(&app, "Health");
    // The check taken at start reads the degraded document; one check confirms it.
    wait_for("the degraded state", || {
        (app.get(&format!("/api/v1/monitors/{health}")).body["status"]["state"] == "degraded")
            .then_some(())
    });
    // Five errors three hours ago (under the target), sixty this hour (over it, and a spike).
    errors(&app, 5, NOON - 3 * HOUR_MS + MIN_MS, 1);
    errors(&app, 60, NOON + 1_000, 2);
    clock.advance(10_000);
    let (incident, rule) = wait_for("the incident", || incident_ids(&app).into_iter().next());
    assert_eq!(rule, "Error spike");

    let page = web.get("/overview");
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    // Open incidents come first, then the monitors that need a look, then the charts.
    let at = |needle: &str| {
        body.find(needle)
            .unwrap_or_else(|| panic!("{needle} not on the overview: {body}"))
    };
    let link = format!("<a href=\"/incidents/{incident}\">");
    assert!(at("id=\"inc-h\"") < at(&link), "the incident is listed");
    assert!(at(&link) < at("id=\"mon-h\""), "incidents before monitors");
    assert!(at("id=\"mon-h\"") < at("id=\"err-h\""));
    assert!(!body.contains("No open incidents."));
    let monitors = section(body, "id=\"mon-h\"", "id=\"err-h\"");
    assert!(
        monitors.contains("<span class=\"badge st-degraded\">degraded</span>")
            && monitors.contains(&format!("<a href=\"/monitors/{health}\">Health</a>")),
        "the degraded monitor: {monitors}"
    );
    assert!(monitors.contains("database"), "with its reason: {monitors}");
    assert!(
        !monitors.contains("Quiet"),
        "a monitor that is fine is not listed: {monitors}"
    );
    // Errors per hour against the target of 10: the line at 10 of a 60-high scale, the
    // current hour's bar over it and marked, the quieter hour's not.
    let chart = section(body, "id=\"err-h\"", "</section>");
    assert!(
        chart.contains("Errors per hour, last 24 hours (target: under 10 an hour)"),
        "{chart}"
    );
    assert!(chart.contains("65 errors, worst hour 60"), "{chart}");
    assert!(
        chart.contains("<span class=\"badge st-down\">over target</span>"),
        "{chart}"
    );
    assert!(
        chart.contains("<line class=\"target\" x1=\"0\" x2=\"480\" y1=\"66.7\" y2=\"66.7\">"),
        "the target line at 10 of 60: {chart}"
    );
    assert_eq!(chart.matches("class=\"bar over\"").count(), 1, "{chart}");
    assert_eq!(chart.matches("class=\"bar\"").count(), 23, "{chart}");
    assert!(chart.contains(": 60 errors</title>") && chart.contains(": 5 errors</title>"));

    // Once resolved, the incident leaves the overview.
    let r = app.send(
        "POST",
        &format!("/api/v1/incidents/{incident}/resolve"),
        &json!({"by": "ops"}),
    );
    assert!(r.status < 300, "{}", r.body);
    let after = web.get("/overview").body;
    assert!(!after.contains(&link), "{after}");
    assert!(after.contains("No open incidents."), "{after}");
}

#[test]
fn incidents_are_handled_from_the_dashboard_and_notifications_link_to_them() {
    let hook = Recorder::start();
    let clock = ManualClock::new(NOON);
    let dir = tempfile::tempdir().unwrap();
    let runbook = dir.path().join("spike.md");
    std::fs::write(
        &runbook,
        "# Spike <script>alert(1)</script>\n\nRestart the <b>worker</b>.\n",
    )
    .unwrap();
    let app = spawn_app_with_server(
        "public_url = \"https://lookout.example\"",
        &format!(
            "\n[channels.hook]\nkind = \"webhook\"\nurl = \"{url}/webhook\"\n\n[channels.chat]\nkind = \"slack\"\nwebhook_url = \"{url}/slack\"\n\n[alerts]\nevaluate_every = \"10s\"\n\n[[rules]]\nname = \"Error spike\"\nwhen = \"errors > 50 in 5m\"\nseverity = \"critical\"\nnotify = [\"hook\", \"chat\"]\nrunbook = \"{runbook}\"\n\n[[rules]]\nname = \"Big spike\"\nwhen = \"errors > 55 in 5m\"\nseverity = \"high\"\n",
            url = hook.url,
            runbook = runbook.display()
        ),
        Arc::new(clock.clone()),
        dir,
    );
    errors(&app, 60, NOON + 1_000, 1);
    clock.advance(10_000);
    let both = wait_for("both incidents", || {
        let l = incident_ids(&app);
        (l.len() == 2).then_some(l)
    });
    let id_of = |word: &str| {
        both.iter()
            .find(|(_, t)| t.contains(word))
            .unwrap_or_else(|| panic!("no {word} incident: {both:?}"))
            .0
    };
    let (spike, big) = (id_of("Error spike"), id_of("Big spike"));

    // Delivered notifications link to the incident's page under the public URL.
    let page_url = format!("https://lookout.example/incidents/{spike}");
    let webhook = wait_for("the webhook", || {
        hook.bodies("/webhook")
            .into_iter()
            .find(|b| b["data"]["incident_id"] == spike)
    });
    assert_eq!(
        webhook["data"]["incident_url"],
        page_url.as_str(),
        "{webhook}"
    );
    let slack = wait_for("the Slack message", || {
        hook.bodies("/slack")
            .into_iter()
            .find(|b| b.to_string().contains("Error spike"))
    });
    assert!(
        slack
            .to_string()
            .contains(&format!("<{page_url}|Open incident>")),
        "the Slack message links to {page_url}: {slack}"
    );
    let ack_url = webhook["data"]["ack_url"]
        .as_str()
        .expect("an acknowledge link");
    let ack_path = ack_url
        .strip_prefix("https://lookout.example")
        .unwrap_or_else(|| panic!("{ack_url} is not under the public URL"))
        .to_string();

    // The signed acknowledge page: one escaping path (askama), the runbook's markup and a
    // name given in the form come out as text.
    let mut anon = WebClient::new(&app);
    let ack = anon.get(&ack_path);
    assert_eq!(ack.status, 200, "{}", ack.body);
    assert!(
        ack.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{:?}",
        ack.headers
    );
    assert!(ack.body.contains("Error spike") && ack.body.contains(">Acknowledge</button>"));
    assert_escaped(&ack.body, "<script>alert(1)</script>");
    assert_escaped(&ack.body, "<b>worker</b>");
    let forged = anon.get(&format!("{}0", &ack_path[..ack_path.len() - 1]));
    let forged = if forged.status == 200 {
        anon.get(&format!("{}1", &ack_path[..ack_path.len() - 1]))
    } else {
        forged
    };
    assert_eq!(forged.status, 404);
    assert!(
        forged.body.contains("This link is not valid"),
        "{}",
        forged.body
    );
    let acked = anon.post(&ack_path, &[("by", "<i>carol</i>")]);
    assert_eq!(acked.status, 200, "{}", acked.body);
    assert_escaped(&acked.body, "<i>carol</i>");
    assert!(acked.body.contains("Escalation stopped."), "{}", acked.body);
    assert!(
        !acked.body.contains(">Acknowledge</button>"),
        "no second acknowledge: {}",
        acked.body
    );
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{spike}")).body["acknowledged_by"],
        "<i>carol</i>"
    );

    // The dashboard's forms on the other incident: acknowledge, a note, resolve.
    let mut web = signed_in(&app);
    let csrf = web.csrf();
    let path = format!("/incidents/{big}");
    let action = format!("/incidents/{big}/action");
    let open = web.get(&path);
    assert_eq!(open.status, 200);
    assert!(open.body.contains("value=\"ack\""), "{}", open.body);
    assert_eq!(
        web.post(&action, &[("csrf", "forged"), ("action", "ack")])
            .status,
        403
    );
    for (form, what) in [
        (vec![("action", "ack")], "acknowledge"),
        (
            vec![
                ("action", "note"),
                ("text", "Restarted the <script>worker</script>"),
            ],
            "note",
        ),
    ] {
        let mut f = form;
        f.push(("csrf", &csrf));
        let r = web.post(&action, &f);
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some(path.as_str())),
            "{what}: {}",
            r.body
        );
    }
    assert_eq!(
        web.post(
            &action,
            &[("csrf", &csrf), ("action", "note"), ("text", "  ")]
        )
        .status,
        400,
        "an empty note"
    );
    assert_eq!(
        web.post(&action, &[("csrf", &csrf), ("action", "shout")])
            .status,
        400
    );
    let acked = web.get(&path).body;
    assert!(
        !acked.contains("value=\"ack\"") && acked.contains("value=\"resolve\""),
        "acknowledged: resolve is left: {acked}"
    );
    let r = web.post(&action, &[("csrf", &csrf), ("action", "resolve")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let api = app.get(&format!("/api/v1/incidents/{big}")).body;
    assert_eq!(api["status"], "resolved", "{api}");
    assert_eq!(api["acknowledged_by"], EMAIL, "{api}");

    // The timeline, read back on the page, in order, with the note escaped.
    let done = web.get(&path).body;
    assert!(done.contains("id=\"incident-status\">resolved<"), "{done}");
    assert!(
        !done.contains("value=\"resolve\""),
        "nothing left to do: {done}"
    );
    let timeline = section(&done, "<ol class=\"timeline\">", "</ol>");
    let at = |class: &str| {
        timeline
            .find(&format!("class=\"tl-{class}\""))
            .unwrap_or_else(|| panic!("no {class} line: {timeline}"))
    };
    assert!(at("triggered") < at("acknowledged"), "{timeline}");
    // The system writes notes too ("nobody notified…"): the user's is found by its text.
    let note = timeline
        .find(&format!(
            "<strong>note</strong> by {EMAIL}<div>Restarted the"
        ))
        .unwrap_or_else(|| panic!("no note by the user: {timeline}"));
    assert!(at("acknowledged") < note, "{timeline}");
    assert!(note < at("resolved"), "{timeline}");
    assert!(
        timeline.contains(&format!("<strong>acknowledged</strong> by {EMAIL}")),
        "{timeline}"
    );
    assert_escaped(timeline, "<script>worker</script>");
    assert!(timeline.contains("Restarted the"), "{timeline}");
    // The runbook beside the first incident is rendered from Markdown, its markup cleaned.
    let spike_page = web.get(&format!("/incidents/{spike}")).body;
    let rb = section(&spike_page, "id=\"rb-h\"", "</aside>");
    assert!(!rb.contains("<script>"), "{rb}");
    assert!(rb.contains("Restart the"), "{rb}");
}

#[test]
fn the_monitor_page_draws_percentiles_outages_and_the_certificate_expiry() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let failing = rt.block_on(probe_common::Target::start(probe_common::Mode::Status(503)));
    let ca = probe_common::TestCa::new();
    // Certificates are judged at the server's clock: five days left at noon.
    let day = |n: i64| NOON / 1000 + n * probe_common::DAY;
    let (tls, _t) = rt.block_on(probe_common::tls_server(ca.leaf_between(
        &["localhost"],
        day(-1),
        day(5),
    )));
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_file = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let clock = ManualClock::new(NOON);
    let app = common::spawn_app_with_clock(
        &format!(
            "\n[[monitors]]\nname = \"Web\"\nkind = \"heartbeat\"\nperiod = \"1h\"\ntoken = \"web-token-1234\"\n\n[[monitors]]\nname = \"Broken\"\nkind = \"http\"\nurl = \"{}\"\ninterval = \"1h\"\nalert_after = 1\n\n[[monitors]]\nname = \"Cert\"\nkind = \"tls\"\nhost = \"localhost\"\nport = {}\nca_file = \"{}\"\ninterval = \"1h\"\nalert_after = 1\n",
            failing.url("/"),
            tls.port(),
            ca_file.display()
        ),
        Arc::new(clock.clone()),
    );
    let mut web = signed_in(&app);
    let (w, broken, cert) = (
        monitor_id(&app, "Web"),
        monitor_id(&app, "Broken"),
        monitor_id(&app, "Cert"),
    );

    // Response times two hours ago: half at 100 ms, half at 300 ms.
    let results = (0..20)
        .map(|k| {
            let mut r = record(
                w,
                NOON - 2 * HOUR_MS + k * MIN_MS,
                true,
                lookout_store::CheckFigures::default(),
            );
            r.latency_ms = Some(if k < 10 { 100 } else { 300 });
            r
        })
        .collect();
    write(&app, results);
    app.state().store.rollup_checks(NOON).unwrap();
    let rollups = app
        .get(&format!(
            "/api/v1/monitors/{w}/rollups?resolution=hour&from={}",
            NOON - DAY_MS
        ))
        .body;
    let hour = &rollups.as_array().expect("roll-ups")[0];
    let (p50, p95) = (
        hour["p50_ms"].as_u64().expect("p50"),
        hour["p95_ms"].as_u64().expect("p95"),
    );
    assert!(p50 < p95 && p95 == 300, "{rollups}");
    // The chart's polylines are drawn from those stored figures: 24 hourly points, zero
    // but in the hour two hours back (slot 22), scaled to the largest p95.
    let points = |v: u64| {
        (0..24)
            .map(|i| {
                let x = (480.0 * i as f64 / 23.0 * 10.0).round() / 10.0;
                let figure = if i == 22 { v } else { 0 };
                let y = ((80.0 - 80.0 * figure as f64 / p95 as f64) * 10.0).round() / 10.0;
                format!("{x},{y}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let page = web.get(&format!("/monitors/{w}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("(p50 and p95, up to {p95} ms)")),
        "{}",
        page.body
    );
    for (class, v) in [("p95", p95), ("p50", p50)] {
        let line = format!("<polyline class=\"{class}\" points=\"{}\">", points(v));
        assert!(page.body.contains(&line), "{line} not in {}", page.body);
    }
    assert!(page.body.contains("No outages in 90 days."));
    assert!(!page.body.contains("TLS certificate expires"));

    // The failing target, checked at start: down at once, an ongoing outage with its cause.
    let down = wait_for("the outage", || {
        let p = web.get(&format!("/monitors/{broken}"));
        p.body.contains("(ongoing)").then_some(p.body)
    });
    let outages = section(&down, "id=\"out-h\"", "</section>");
    assert!(
        outages.contains("<th scope=\"col\">Cause</th>") && outages.contains("503"),
        "{outages}"
    );
    assert!(
        outages.contains(&format!("<td>{}</td>", "2026-03-10 12:00 UTC")),
        "the outage starts at the failing check: {outages}"
    );
    assert!(!outages.contains("No outages"), "{outages}");

    // The TLS monitor's certificate: its expiry date and the days left, flagged under 14.
    let tls_page = wait_for("the certificate", || {
        let p = web.get(&format!("/monitors/{cert}"));
        p.body.contains("TLS certificate expires").then_some(p.body)
    });
    assert!(
        tls_page
            .contains("<p class=\"flash bad\">TLS certificate expires 2026-03-15 (4 days).</p>")
            || tls_page.contains(
                "<p class=\"flash bad\">TLS certificate expires 2026-03-15 (5 days).</p>"
            ),
        "{tls_page}"
    );
}

#[test]
fn the_issue_list_filters_exclude_and_the_issue_page_pages_events_shows_tags_and_reopens() {
    let app = spawn_app("");
    let mut web = signed_in(&app);
    let mut key_error = exception_event("KeyError", "'user_id'", "app.views", "profile", 42);
    key_error["tags"] = json!({"tier": "gold"});
    let mut sent = Vec::new();
    for _ in 0..25 {
        let (id, body) = envelope(&key_error);
        assert_eq!(app.post_envelope(body, &[]).status, 200);
        sent.push(id);
    }
    let mut timeout = exception_event("TimeoutError", "upstream", "app.jobs", "fetch", 7);
    timeout["level"] = json!("warning");
    timeout["release"] = json!("web@2.0.0");
    timeout["environment"] = json!("staging");
    let (_, body) = envelope(&timeout);
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    let issues = wait_for("both issues with every event", || {
        let l = app.issues("");
        (l.len() == 2
            && l.iter()
                .map(|i| i["count"].as_i64().unwrap_or(0))
                .sum::<i64>()
                == 26)
            .then_some(l)
    });
    let id_of = |ty: &str| {
        issues
            .iter()
            .find(|i| i["title"].as_str().unwrap_or_default().starts_with(ty))
            .unwrap_or_else(|| panic!("no {ty}: {issues:?}"))["id"]
            .as_i64()
            .unwrap()
    };
    let (key, slow) = (id_of("KeyError"), id_of("TimeoutError"));

    // Each filter keeps the issue it names and leaves out the other.
    for (q, kept, left) in [
        ("level=error", "KeyError", "TimeoutError"),
        ("level=warning", "TimeoutError", "KeyError"),
        ("release=web%401.0.0", "KeyError", "TimeoutError"),
        ("release=web%402.0.0", "TimeoutError", "KeyError"),
        ("environment=production", "KeyError", "TimeoutError"),
        ("environment=staging", "TimeoutError", "KeyError"),
        ("q=upstream", "TimeoutError", "KeyError"),
    ] {
        let p = web.get(&format!("/issues?{q}"));
        assert_eq!(p.status, 200, "{q}: {}", p.body);
        assert!(p.body.contains(kept), "{q} lost {kept}");
        assert!(!p.body.contains(left), "{q} kept {left}");
    }

    // The issue page: first and last seen, tags, and the events twenty at a time.
    let page = web.get(&format!("/issues/{key}"));
    assert_eq!(page.status, 200);
    for needle in [
        "<dt>First seen</dt><dd>",
        "<dt>Last seen</dt><dd>",
        "<h3>Tags</h3>",
        "<li><span>tier</span> gold</li>",
        "<dt>Events</dt><dd>25</dd>",
    ] {
        assert!(
            page.body.contains(needle),
            "{needle} missing: {}",
            page.body
        );
    }
    let shown = |body: &str| -> BTreeSet<String> {
        let list = section(body, "<ul class=\"rows events\">", "</ul>");
        list.split("<code>")
            .skip(1)
            // The list shows each event id's first eight characters.
            .map(|s| {
                s[..s.find("</code>").unwrap()]
                    .chars()
                    .take(8)
                    .collect::<String>()
            })
            .collect()
    };
    let first = shown(&page.body);
    assert_eq!(first.len(), 20, "{first:?}");
    let older = page
        .body
        .find("?before=")
        .map(|at| {
            let rest = &page.body[at + 8..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .expect("an Older events link");
    assert!(page.body.contains("Older events"));
    let next = web.get(&format!("/issues/{key}?before={older}"));
    assert_eq!(next.status, 200);
    let second = shown(&next.body);
    assert_eq!(second.len(), 5, "{second:?}");
    assert!(first.is_disjoint(&second), "pages overlap");
    let all: BTreeSet<String> = sent.iter().map(|id| id[..8].to_string()).collect();
    assert_eq!(
        first.union(&second).cloned().collect::<BTreeSet<_>>(),
        all,
        "every event on one of the pages"
    );
    assert!(!next.body.contains("Older events"), "the last page");
    assert_eq!(web.get(&format!("/issues/{key}?before=x")).status, 400);

    // Resolved: out of the default list, in the resolved one; reopened: back.
    let csrf = web.csrf();
    let set = |web: &mut WebClient, action: &str| {
        let r = web.post(
            &format!("/issues/{key}/status"),
            &[("csrf", &csrf), ("action", action)],
        );
        assert_eq!(r.status, 303, "{action}: {}", r.body);
    };
    set(&mut web, "resolve");
    let list = web.get("/issues").body;
    assert!(
        !list.contains("KeyError") && list.contains("TimeoutError"),
        "{list}"
    );
    assert!(web.get("/issues?status=resolved").body.contains("KeyError"));
    let resolved = web.get(&format!("/issues/{key}")).body;
    assert!(resolved.contains("value=\"reopen\""), "{resolved}");
    assert!(!resolved.contains("value=\"resolve\""));
    set(&mut web, "reopen");
    assert_eq!(
        app.get(&format!("/api/v1/issues/{key}")).body["status"],
        "unresolved"
    );
    assert!(web.get("/issues").body.contains("KeyError"));
    assert!(web
        .get(&format!("/issues/{key}"))
        .body
        .contains("value=\"resolve\""));
    assert_eq!(
        web.post(
            &format!("/issues/{slow}/status"),
            &[("csrf", &csrf), ("action", "delete")]
        )
        .status,
        400
    );
}

#[test]
fn the_setup_page_gives_every_snippet_the_project_dsn_and_a_copy_button() {
    let app = spawn_app("");
    let made = app.send(
        "POST",
        "/api/v1/projects",
        &json!({"slug": "shop", "name": "Shop"}),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let dsns: Vec<(String, String)> = app
        .running
        .as_ref()
        .unwrap()
        .projects()
        .into_iter()
        .map(|(p, dsn)| (p.slug, dsn))
        .collect();
    assert_eq!(dsns.len(), 2, "{dsns:?}");
    let mut web = signed_in(&app);
    let page = web.get("/install");
    assert_eq!(page.status, 200);
    for (slug, dsn) in &dsns {
        let card = section(
            &page.body,
            &format!("aria-labelledby=\"p-{slug}\""),
            "</section>",
        );
        // The copy button copies the field that holds this project's DSN.
        assert!(
            card.contains(&format!(
                "<input id=\"dsn-{slug}\" class=\"dsn\" readonly value=\"{dsn}\">"
            )),
            "{card}"
        );
        assert!(
            card.contains(&format!(
                "<button type=\"button\" data-copy=\"dsn-{slug}\">Copy</button>"
            )),
            "{card}"
        );
        let snippets: Vec<&str> = card.split("<details>").skip(1).collect();
        for sdk in ["Next.js", "Node", "Browser", "Python", "Rust"] {
            let snippet = snippets
                .iter()
                .find(|s| s.starts_with(&format!("<summary>{sdk} ")))
                .unwrap_or_else(|| panic!("no {sdk} snippet for {slug}: {card}"));
            assert!(
                snippet.contains(&format!("\"{dsn}\"")),
                "the {sdk} snippet of {slug} lacks its DSN: {snippet}"
            );
            for (other, other_dsn) in &dsns {
                if other != slug {
                    assert!(!snippet.contains(other_dsn.as_str()));
                }
            }
        }
        assert_eq!(snippets.len(), 5, "{card}");
    }
    // The script that handles the copy button is served with the page.
    assert!(page.body.contains("/static/app.js"), "{}", page.body);
    let js = web.get("/static/app.js");
    assert!(js.body.contains("data-copy") && js.body.contains("clipboard"));
}
