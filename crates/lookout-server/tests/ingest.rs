//! Ingest over real HTTP: every way a request can be wrong gets its own 4xx with a message,
//! every encoding and auth form works, limits and quotas answer as SDKs expect.

mod common;

use std::io::Write;
use std::sync::Arc;

use lookout_core::clock::SystemClock;

use common::*;
use serde_json::{json, Value};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn every_content_encoding_is_accepted() {
    let app = spawn_app("");
    let ev = exception_event("ValueError", "bad 1", "app.enc", "f", 1);
    type Encode = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let cases: Vec<(&str, Encode)> = vec![
        ("identity", Box::new(|d: &[u8]| d.to_vec())),
        ("gzip", Box::new(gzip)),
        ("x-gzip", Box::new(gzip)),
        (
            "deflate",
            Box::new(|d: &[u8]| {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(d).unwrap();
                e.finish().unwrap()
            }),
        ),
        (
            "br",
            Box::new(|d: &[u8]| {
                let mut out = Vec::new();
                brotli::BrotliCompress(&mut &d[..], &mut out, &Default::default()).unwrap();
                out
            }),
        ),
        (
            "zstd",
            Box::new(|d: &[u8]| zstd::bulk::compress(d, 3).unwrap()),
        ),
    ];
    for (enc, f) in &cases {
        let (id, body) = envelope(&ev);
        let r = app.post_envelope(f(&body), &[("content-encoding", enc)]);
        assert_eq!(r.status, 200, "{enc}: {}", r.body);
        assert_eq!(r.body["id"], json!(id), "{enc}");
    }
    let issues = app.issues("");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["count"], json!(cases.len()));
}

#[test]
fn malformed_requests_get_specific_errors() {
    let app = spawn_app("[ingest]\nmax_envelope_bytes = 200000\n");
    // Truncated: the item declares more bytes than follow.
    let r = app.post_envelope(
        b"{}\n{\"type\":\"event\",\"length\":500}\n{\"message\":\"hi\"}\n".to_vec(),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.detail().contains("500"), "{}", r.detail());
    assert!(r.header("x-sentry-error").is_some());

    // Envelope header is not JSON.
    let r = app.post_envelope(b"not json\n{\"type\":\"event\"}\n{}\n".to_vec(), &[]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.detail().contains("envelope"), "{}", r.detail());

    // Empty body.
    let r = app.post_envelope(Vec::new(), &[]);
    assert_eq!(r.status, 400, "{}", r.body);

    // The only event is not JSON.
    let r = app.post_envelope(b"{}\n{\"type\":\"event\"}\n{not json\n".to_vec(), &[]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.detail().contains("event"), "{}", r.detail());

    // Event JSON that is not an object.
    let r = app.post_envelope(b"{}\n{\"type\":\"event\"}\n[1,2]\n".to_vec(), &[]);
    assert_eq!(r.status, 400, "{}", r.body);

    // Corrupt gzip.
    let r = app.post_envelope(
        b"\x1f\x8b\x08garbage".to_vec(),
        &[("content-encoding", "gzip")],
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // Unknown encoding.
    let r = app.post_envelope(b"{}\n".to_vec(), &[("content-encoding", "lzma")]);
    assert_eq!(r.status, 415, "{}", r.body);

    // Over the size limit: refused on the declared length before the body is read, and
    // while streaming when the length is not declared (chunked).
    let (status, text) = raw_post(&app, "content-length: 300000\r\n", &[]);
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("limit"), "{text}");
    let mut chunked = Vec::new();
    for _ in 0..30 {
        chunked.extend_from_slice(format!("{:x}\r\n", 10_000).as_bytes());
        chunked.extend_from_slice(&[b' '; 10_000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, text) = raw_post(&app, "transfer-encoding: chunked\r\n", &chunked);
    assert_eq!(status, 413, "{text}");

    // An event over 1 MiB after decompression.
    let big = json!({"message": "x".repeat(1_100_000)});
    let (_, body) = envelope(&big);
    let r = app.post_envelope(gzip(&body), &[("content-encoding", "gzip")]);
    assert_eq!(r.status, 413, "{}", r.body);

    // Nothing above was stored.
    assert!(app.issues("").is_empty());
}

/// Posts with a raw socket, so that the answer can be read even when the server refuses
/// before the whole body was sent.
fn raw_post(app: &TestApp, headers: &str, body: &[u8]) -> (u16, String) {
    use std::io::Read;
    let addr = app.url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /api/{PROJECT_ID}/envelope/ HTTP/1.1\r\nhost: {addr}\r\nx-sentry-auth: {}\r\n{headers}connection: close\r\n\r\n",
        auth_header()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Resident set size of this process, bytes.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

#[test]
fn a_decompression_bomb_gets_413_not_oom() {
    let app = spawn_app("");
    // 200 MB of zeros compress to ~200 KB; the default limit after decompression is 20 MiB.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..200 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 1_000_000);
    let before = rss_bytes();
    let r = app.post_envelope(bomb, &[("content-encoding", "gzip")]);
    assert_eq!(r.status, 413, "{}", r.body);
    let grown = rss_bytes().saturating_sub(before);
    assert!(grown < 100 << 20, "RSS grew by {grown} bytes");
}

#[test]
fn authentication_is_checked_in_every_form() {
    let app = spawn_app("");
    let ev = exception_event("E", "x", "app.auth", "f", 1);
    let url = app.envelope_url();

    // sentry_key in the query (browser and Node SDKs).
    let (_, body) = envelope(&ev);
    let r = request(
        "POST",
        &format!("{url}?sentry_key={KEY}&sentry_version=7"),
        &[],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Authorization: Sentry …
    let (_, body) = envelope(&ev);
    let auth = auth_header();
    let r = request("POST", &url, &[("authorization", &auth)], body);
    assert_eq!(r.status, 200, "{}", r.body);

    // The DSN in the envelope header alone.
    let id = uuid::Uuid::new_v4().simple().to_string();
    let body = format!(
        "{{\"event_id\":\"{id}\",\"dsn\":\"{}\"}}\n{{\"type\":\"event\"}}\n{}\n",
        app.dsn(),
        ev
    );
    let r = request("POST", &url, &[], body.into_bytes());
    assert_eq!(r.status, 200, "{}", r.body);

    // None at all.
    let (_, body) = envelope(&ev);
    let r = request("POST", &url, &[], body);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.detail().contains("authentication"), "{}", r.detail());

    // A wrong key.
    let (_, body) = envelope(&ev);
    let wrong = "Sentry sentry_key=ffffffffffffffffffffffffffffffff";
    let r = request("POST", &url, &[("x-sentry-auth", wrong)], body);
    assert_eq!(r.status, 401, "{}", r.body);

    // Two forms that disagree.
    let (_, body) = envelope(&ev);
    let r = request(
        "POST",
        &format!("{url}?sentry_key=ffffffffffffffffffffffffffffffff"),
        &[("x-sentry-auth", &auth)],
        body,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.detail().contains("conflicting"), "{}", r.detail());

    // An unknown project, and one that is not a number.
    let (_, body) = envelope(&ev);
    let r = request(
        "POST",
        &format!("{}/api/999/envelope/", app.url),
        &[("x-sentry-auth", &auth)],
        body.clone(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.detail().contains("999"), "{}", r.detail());
    let r = request(
        "POST",
        &format!("{}/api/abc/envelope/", app.url),
        &[("x-sentry-auth", &auth)],
        body,
    );
    assert_eq!(r.status, 400, "{}", r.body);

    assert_eq!(app.issues("")[0]["count"], json!(3));
}

#[test]
fn unknown_items_are_counted_and_other_items_are_kept() {
    let app = spawn_app("");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let event = json!({"event_id": id, "message": "hello 1", "level": "info"});
    let txn = json!({"type": "transaction", "transaction": "/checkout", "start_timestamp": now - 0.25, "timestamp": now,
        "contexts": {"trace": {"op": "http.server", "status": "ok", "trace_id": "a".repeat(32), "span_id": "b".repeat(16)}}, "release": "web@1"});
    let session = json!({"sid": uuid::Uuid::new_v4().to_string(), "init": true, "status": "crashed", "errors": 1,
        "started": now - 60.0, "attrs": {"release": "web@1", "environment": "production"}});
    let report = json!({"timestamp": now, "discarded_events": [{"reason": "queue_overflow", "category": "error", "quantity": 4}]});
    let check_in = json!({"check_in_id": "c".repeat(32), "monitor_slug": "nightly", "status": "ok", "duration": 1.5,
        "monitor_config": {"schedule": {"type": "crontab", "value": "0 3 * * *"}}});
    let attachment = b"line one\nline two\n";
    let body = [
        format!("{{\"event_id\":\"{id}\"}}"),
        "{\"type\":\"event\"}".into(),
        event.to_string(),
        "{\"type\":\"profile\"}".into(),
        "{\"whatever\":1}".into(),
        "{\"type\":\"transaction\"}".into(),
        txn.to_string(),
        "{\"type\":\"session\"}".into(),
        session.to_string(),
        "{\"type\":\"client_report\"}".into(),
        report.to_string(),
        "{\"type\":\"check_in\"}".into(),
        check_in.to_string(),
        format!(
            "{{\"type\":\"attachment\",\"length\":{},\"filename\":\"log.txt\",\"content_type\":\"text/plain\"}}",
            attachment.len()
        ),
        String::from_utf8(attachment.to_vec()).unwrap(),
    ]
    .join("\n");
    let r = app.post_envelope(body.into_bytes(), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], json!(id));

    let stats = app.stats();
    let outcome = |o: &str, c: &str| -> u64 {
        stats["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["outcome"] == o && x["category"] == c)
            .map(|x| x["quantity"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(outcome("accepted", "error"), 1, "{stats}");
    assert_eq!(outcome("accepted", "transaction"), 1, "{stats}");
    assert_eq!(outcome("accepted", "monitor"), 1, "{stats}");
    assert_eq!(outcome("accepted", "attachment"), 1, "{stats}");
    assert_eq!(outcome("client_discard", "error"), 4, "{stats}");
    assert_eq!(outcome("unsupported", "profile"), 1, "{stats}");
    assert_eq!(stats["client_discarded"], json!(4));
    let health = stats["release_health"].as_array().unwrap();
    assert_eq!(health.len(), 1, "{stats}");
    assert_eq!(health[0]["crashed"], json!(1));
    assert_eq!(health[0]["crash_free_rate"], json!(0.0));

    let state = app.state();
    let txns = state.store.list_transactions(PROJECT_ID, 0, 10).unwrap();
    assert_eq!(txns.len(), 1);
    assert_eq!(txns[0].name, "/checkout");
    assert!(
        (txns[0].duration_ms - 250.0).abs() < 5.0,
        "{}",
        txns[0].duration_ms
    );
    let checks = state.store.list_check_ins(PROJECT_ID, 10).unwrap();
    assert_eq!(checks[0].monitor_slug, "nightly");
    assert!(checks[0]
        .monitor_config
        .as_deref()
        .unwrap()
        .contains("crontab"));
    let atts = state.store.list_attachments(PROJECT_ID, &id).unwrap();
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].data, attachment);
}

#[test]
fn rate_limit_answers_429_with_sentry_headers_and_counts_drops() {
    let app = spawn_app("rate_limit_per_minute = 5\n");
    let ev = exception_event("E", "x", "app.rl", "f", 1);
    for i in 0..5 {
        let (_, body) = envelope(&ev);
        let r = app.post_envelope(body, &[]);
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
    }
    let (_, body) = envelope(&ev);
    let r = app.post_envelope(body, &[]);
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: u64 = r
        .header("retry-after")
        .unwrap()
        .parse()
        .expect("integer Retry-After");
    assert!(retry >= 1);
    let limits = r.header("x-sentry-rate-limits").unwrap();
    assert!(limits.contains(":error"), "{limits}");
    assert!(limits.contains("project"), "{limits}");
    // Drops are recorded; the writer commits them shortly after the answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let stats = app.stats();
        if stats["dropped"] == json!(1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stats}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn monthly_quota_refuses_with_usage_exceeded() {
    let app = spawn_app("monthly_quota = 3\n");
    let ev = exception_event("E", "x", "app.q", "f", 1);
    for _ in 0..3 {
        let (_, body) = envelope(&ev);
        assert_eq!(app.post_envelope(body, &[]).status, 200);
    }
    let (_, body) = envelope(&ev);
    let r = app.post_envelope(body, &[]);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r
        .header("x-sentry-rate-limits")
        .unwrap()
        .contains("usage_exceeded"));
    assert!(r.detail().contains("quota"), "{}", r.detail());
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry <= 31 * 86_400);
    assert_eq!(app.stats()["quota"], json!({"limit": 3, "used": 3}));
}

#[test]
fn the_quota_survives_a_restart() {
    let dir;
    {
        let app = spawn_app("monthly_quota = 2\n");
        let ev = exception_event("E", "x", "app.q", "f", 1);
        for _ in 0..2 {
            let (_, body) = envelope(&ev);
            assert_eq!(app.post_envelope(body, &[]).status, 200);
        }
        dir = app.dir.path().to_path_buf();
        let mut app = app;
        let running = app.running.take().unwrap();
        app.rt.block_on(running.shutdown()).unwrap();
        // Keep the directory: restart on it below.
        std::mem::forget(std::mem::replace(
            &mut app.dir,
            tempfile::tempdir().unwrap(),
        ));
    }
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\napi_token = \"{TOKEN}\"\n\n[[projects]]\nslug = \"app\"\nid = {PROJECT_ID}\npublic_key = \"{KEY}\"\nmonthly_quota = 2\n",
        dir.display()
    );
    let config = lookout_server::Config::parse(&text, "t", &|_| None).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let running = rt.block_on(lookout_server::start(config)).unwrap();
    let url = format!("{}/api/{PROJECT_ID}/envelope/", running.url());
    let (_, body) = envelope(&exception_event("E", "x", "app.q", "f", 1));
    let r = request("POST", &url, &[("x-sentry-auth", &auth_header())], body);
    assert_eq!(r.status, 429, "{}", r.body);
    rt.block_on(running.shutdown()).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn cors_preflight_and_origin_rules() {
    let app = spawn_app("allowed_origins = [\"https://app.example\"]\n");
    let r = request(
        "OPTIONS",
        &app.envelope_url(),
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        vec![],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let expose = r.header("access-control-expose-headers").unwrap();
    for h in ["retry-after", "x-sentry-rate-limits", "x-sentry-error"] {
        assert!(expose.contains(h), "{expose}");
    }

    let ev = exception_event("E", "x", "app.cors", "f", 1);
    let (_, body) = envelope(&ev);
    let r = app.post_envelope(body, &[("origin", "https://app.example")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );

    let (_, body) = envelope(&ev);
    let r = app.post_envelope(body, &[("origin", "https://evil.example")]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.detail().contains("origin"), "{}", r.detail());
}

#[test]
fn scrubbing_happens_before_storage() {
    let app = spawn_app("");
    let ev = json!({
        "platform": "python",
        "message": "payment failed for card 4111 1111 1111 1111",
        "request": {
            "url": "https://app.example/login?token=abc123&next=/home",
            "headers": {"Authorization": "Bearer sekrit", "Cookie": "session=xyz", "User-Agent": "curl"},
            "data": {"username": "ann", "password": "hunter2"}
        },
        "extra": {"api_key": "k-123", "harmless": "value"}
    });
    let (id, body) = envelope(&ev);
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    let r = app.get(&format!("/api/v1/projects/app/events/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let text = r.body.to_string();
    for secret in [
        "hunter2",
        "sekrit",
        "session=xyz",
        "k-123",
        "4111 1111 1111 1111",
        "abc123",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(text.contains("[Filtered]"));
    assert_eq!(r.body["data"]["extra"]["harmless"], json!("value"));
    assert_eq!(
        r.body["data"]["request"]["headers"]["User-Agent"],
        json!("curl")
    );
    let issues = app.issues("");
    assert!(!issues[0]["title"].as_str().unwrap().contains("4111"));
}

#[test]
fn legacy_store_endpoint_accepts_json_and_base64_deflate() {
    let app = spawn_app("");
    let url = format!("{}/api/{PROJECT_ID}/store/", app.url);
    let auth = auth_header();
    let ev = exception_event("TypeError", "x is undefined", "app.legacy", "f", 3);
    let r = request(
        "POST",
        &url,
        &[("x-sentry-auth", &auth)],
        ev.to_string().into_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"].as_str().unwrap().len(), 32);

    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(ev.to_string().as_bytes()).unwrap();
    let b64 = base64_encode(&z.finish().unwrap());
    let r = request("POST", &url, &[("x-sentry-auth", &auth)], b64.into_bytes());
    assert_eq!(r.status, 200, "{}", r.body);

    let r = request("POST", &url, &[("x-sentry-auth", &auth)], b"{oops".to_vec());
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(app.issues("")[0]["count"], json!(2));
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn duplicates_are_stored_once() {
    let app = spawn_app("");
    let (id, body) = envelope(&exception_event("E", "x", "app.dup", "f", 1));
    assert_eq!(app.post_envelope(body.clone(), &[]).status, 200);
    let r = app.post_envelope(body, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["id"], json!(id));
    assert_eq!(app.issues("")[0]["count"], json!(1));
}

#[test]
fn lenient_events_keep_what_is_valid() {
    let app = spawn_app("");
    let ev = json!({
        "level": "loud",
        "timestamp": "not a time",
        "tags": "not a map",
        "user": 5,
        "exception": {"values": [{"type": "OddError", "value": "still here",
            "stacktrace": {"frames": [{"function": "f", "module": "m", "lineno": "12", "in_app": true}]}}]},
        "unknown_field": {"deep": [1, 2, 3]}
    });
    let (id, body) = envelope(&ev);
    let r = app.post_envelope(body, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let issues = app.issues("");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["title"], json!("OddError: still here"));
    assert_eq!(issues[0]["level"], json!("error"));
    let r = app.get(&format!("/api/v1/projects/app/events/{id}"));
    assert_eq!(r.status, 200);
    // An event without id, timestamp or level is stored with generated ones.
    let body = b"{}\n{\"type\":\"event\"}\n{\"message\":\"bare\"}\n".to_vec();
    let r = app.post_envelope(body, &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"].as_str().map(str::len), Some(32));
}

#[test]
fn health_is_in_the_reference_format() {
    let app = spawn_app("");
    let r = request("GET", &format!("{}/api/health", app.url), &[], vec![]);
    let b: &Value = &r.body;
    let status = b["status"].as_str().unwrap();
    assert!(["ok", "degraded", "unhealthy"].contains(&status), "{b}");
    assert_eq!(r.status, if status == "unhealthy" { 503 } else { 200 });
    assert!(b["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(b["uptime"].as_f64().unwrap() >= 0.0);
    assert_eq!(b["checks"]["database"]["status"], json!("ok"), "{b}");
    assert!(b["checks"]["database"]["latency"].as_u64().is_some());
    let mem = &b["checks"]["memory"];
    assert!(mem["used"].as_u64().unwrap() > 0);
    assert!(mem["total"].as_u64().unwrap() >= mem["used"].as_u64().unwrap());
    assert!(mem["percentage"].as_f64().is_some());
    assert!(mem["status"].is_string());
}

/// An event as SDKs send them: a little that varies and a lot that repeats (SDK, runtime,
/// modules, request headers), which is what a dictionary captures.
fn sdk_like_event(i: u64) -> Value {
    let mut ev = exception_event(
        &format!("Error{}", i % 40),
        &format!("order {i} could not be priced"),
        &format!("shop.module_{}", i % 40),
        "price",
        i % 40 + 10,
    );
    ev["sdk"] = json!({"name": "sentry.python.django", "version": "2.19.0",
        "integrations": ["django", "logging", "stdlib", "threading", "redis", "celery"]});
    ev["contexts"] = json!({"runtime": {"name": "CPython", "version": "3.12.1",
        "build": "3.12.1 (main, Dec  8 2023, 05:40:51) [GCC 12.2.0]"},
        "os": {"name": "Linux", "version": "6.1.0-18-amd64"}});
    ev["modules"] = json!({"django": "5.0.2", "sentry-sdk": "2.19.0", "redis": "5.0.1",
        "psycopg": "3.1.18", "celery": "5.3.6", "requests": "2.31.0", "urllib3": "2.2.0"});
    ev["request"] = json!({"url": format!("https://shop.example/orders/{i}/"), "method": "POST",
        "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
            "Accept": "text/html,application/xhtml+xml", "Accept-Language": "en-US,en;q=0.9"}});
    ev
}

fn stored_dict_id(app: &TestApp, event_id: &str) -> Option<u32> {
    let e = app
        .state()
        .store
        .get_event(PROJECT_ID, event_id)
        .unwrap()
        .expect("event stored");
    zstd::zstd_safe::get_dict_id_from_frame(&e.payload).map(|id| id.get())
}

fn event_type_via_api(app: &TestApp, event_id: &str) -> Value {
    let r = app.get(&format!("/api/v1/projects/app/events/{event_id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("error").is_none(), "{}", r.body);
    r.body["exceptions"][0]["type"].clone()
}

/// Once a project has sent enough events, its payloads are compressed with a dictionary
/// trained on them; events from before and after read back whole, also after a restart.
#[test]
fn payloads_get_a_dictionary_trained_on_the_project() {
    let cfg = "[ingest]\ndictionary_samples = 200\n";
    let mut app = spawn_app(cfg);
    let (first, body) = envelope(&sdk_like_event(0));
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    assert_eq!(stored_dict_id(&app, &first), None);
    // 40 errors with at most 10 samples each (a 20th of 200): 200 samples by event 400.
    for i in 1..400 {
        let (_, body) = envelope(&sdk_like_event(i));
        assert_eq!(app.post_envelope(body, &[]).status, 200);
    }
    wait_for("a trained dictionary", || {
        (app.state().payloads.dictionaries() == 1).then_some(())
    });
    let dicts = app.state().store.payload_dicts().unwrap();
    assert_eq!(dicts.len(), 1);
    assert_eq!(dicts[0].project_id, PROJECT_ID);
    assert_eq!(dicts[0].samples, 200);

    let (later, body) = envelope(&sdk_like_event(401));
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    assert_eq!(stored_dict_id(&app, &later), Some(dicts[0].id));
    let with = app
        .state()
        .store
        .get_event(PROJECT_ID, &later)
        .unwrap()
        .unwrap();
    let plain =
        zstd::bulk::compress(&app.state().payloads.decompress(&with.payload).unwrap(), 1).unwrap();
    assert!(
        with.payload.len() * 2 < plain.len(),
        "{} bytes with the dictionary, {} without",
        with.payload.len(),
        plain.len()
    );
    assert_eq!(event_type_via_api(&app, &first), json!("Error0"));
    assert_eq!(event_type_via_api(&app, &later), json!("Error1"));

    // After a restart the dictionary is read back from the database.
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    drop(app);
    let app = spawn_app_in(cfg, Arc::new(SystemClock), dir);
    assert_eq!(app.state().payloads.dictionaries(), 1);
    assert_eq!(event_type_via_api(&app, &later), json!("Error1"));
    let (again, body) = envelope(&sdk_like_event(402));
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    assert_eq!(stored_dict_id(&app, &again), Some(dicts[0].id));
}

/// With `dictionary_samples = 0` nothing is trained.
#[test]
fn dictionaries_can_be_turned_off() {
    let app = spawn_app("[ingest]\ndictionary_samples = 0\n");
    for i in 0..300 {
        let (_, body) = envelope(&sdk_like_event(i));
        assert_eq!(app.post_envelope(body, &[]).status, 200);
    }
    let (id, body) = envelope(&sdk_like_event(300));
    assert_eq!(app.post_envelope(body, &[]).status, 200);
    assert_eq!(stored_dict_id(&app, &id), None);
    assert_eq!(app.state().payloads.dictionaries(), 0);
    assert_eq!(event_type_via_api(&app, &id), json!("Error20"));
}

/// A regroup job recorded but not run (the server stopped between the upload and the
/// background task) runs when the server starts again: the job is a row, not a promise in
/// memory.
#[test]
fn a_pending_regroup_job_runs_after_a_restart() {
    use lookout_store::RegroupStore;
    let mut app = spawn_app("");
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    drop(app);
    let store = lookout_store::sqlite::SqliteStore::open(dir.path()).unwrap();
    let id = store
        .enqueue_regroup(&lookout_store::NewRegroupJob {
            project_id: PROJECT_ID,
            bundle_id: 1,
            release: None,
            since_ms: 0,
            max_events: 100,
            now_ms: 1,
        })
        .unwrap();
    drop(store);
    let app = spawn_app_in("", Arc::new(SystemClock), dir);
    wait_for("the pending job to run", || {
        app.state().store.get_regroup(id).unwrap()?.done_ms
    });
    assert!(app.state().store.pending_regroups().unwrap().is_empty());
}

/// Request durations are written as small deltas and merged into their roll-up rows by
/// the jobs loop within seconds: by then nothing is left to merge, and the request is in
/// the rows.
#[test]
fn request_durations_are_merged_into_their_rollups_by_the_jobs() {
    let app = spawn_app("");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let txn = json!({"type": "transaction", "transaction": "/checkout", "start_timestamp": now - 0.25, "timestamp": now,
        "contexts": {"trace": {"op": "http.server", "status": "ok", "trace_id": "a".repeat(32), "span_id": "b".repeat(16)}}});
    let body = format!("{{}}\n{{\"type\":\"transaction\"}}\n{txn}\n");
    let r = app.post_envelope(body.into_bytes(), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    // The jobs merge every 5 s. Asking the store to merge would do the job's work, so the
    // deltas table is read directly: a few of the job's turns, however late they come.
    let db = rusqlite::Connection::open_with_flags(
        app.dir.path().join("lookout.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    wait_up_to(
        std::time::Duration::from_secs(20),
        "the jobs to merge the request's duration",
        || {
            let left: i64 = db
                .query_row("SELECT count(*) FROM latency_deltas", [], |r| r.get(0))
                .unwrap();
            (left == 0).then_some(())
        },
    );
    let store = &app.state().store;
    assert_eq!(
        store.compact_latency().unwrap(),
        0,
        "merged by the jobs already"
    );
    let total = store
        .latency_total(&lookout_store::LatencyQuery {
            kind: lookout_store::KIND_REQUEST,
            owner_id: PROJECT_ID,
            from_ms: ((now - 60.0) * 1000.0) as i64,
            to_ms: ((now + 60.0) * 1000.0) as i64,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(total.hist.count(), 1);
}
