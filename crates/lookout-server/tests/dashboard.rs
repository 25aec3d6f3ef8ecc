//! The dashboard over HTTP: every route refuses anonymous requests (walked from the
//! routers' own lists), CSRF, the sign-in rate limit, the first-user setup, API tokens
//! with scopes, and the pages with real data.

mod common;

use common::web::{create_user, WebClient, EMAIL, PASSWORD};
use common::{envelope, exception_event, request, spawn_app, wait_for, TOKEN};
use serde_json::{json, Value};

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            s if s.starts_with('{') => "1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
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
    let app = spawn_app("");
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
    // A status page, the API and ingest are not behind the sign-in limit.
    assert_eq!(web.get("/api/health").status, 200);
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
