//! HTTP, TCP and DNS checks against real servers on loopback.

mod common;

use std::time::Duration;

use common::{closed_port, now_ms, Mode, Target};
use lookout_probe::http::Keyword;
use lookout_probe::{
    Check, CheckError, HttpCheck, JsonCondition, Phase, Status, StatusCodes, TcpCheck,
};

fn check(url: String) -> HttpCheck {
    let mut c = HttpCheck::new(url);
    c.timeout = Duration::from_secs(5);
    c
}

#[tokio::test]
async fn up_reports_every_plain_http_phase() {
    let target = Target::start(Mode::Up).await;
    let r = check(target.url("/")).run(now_ms()).await;
    assert_eq!(r.status, Status::Up, "{r:?}");
    assert!(r.ok && r.error.is_none());
    assert_eq!(r.http_status, Some(200));
    let t = r.timings;
    assert!(t.dns_ms.is_some() && t.connect_ms.is_some() && t.first_byte_ms.is_some());
    assert!(t.tls_ms.is_none(), "plain http has no TLS phase");
    assert!(t.total_ms.unwrap() >= t.first_byte_ms.unwrap());
    assert!(r.tls.is_none());
}

#[tokio::test]
async fn the_same_target_switched_through_its_modes() {
    let target = Target::start(Mode::Up).await;
    let mut c = check(target.url("/api/health"));
    c.keyword = Some(Keyword::Present("\"status\": \"ok\"".into()));
    assert_eq!(c.run(now_ms()).await.status, Status::Up);

    target.set(Mode::Status(500));
    let r = c.run(now_ms()).await;
    assert_eq!(r.status, Status::Down);
    assert_eq!(
        r.error,
        Some(CheckError::UnexpectedStatus {
            got: 500,
            expected: "200-299".into()
        })
    );
    assert_eq!(
        r.error.unwrap().to_string(),
        "unexpected HTTP status 500 (expected 200-299)"
    );

    target.set(Mode::Body("<html>maintenance</html>"));
    let r = c.run(now_ms()).await;
    assert!(
        matches!(r.error, Some(CheckError::KeywordMissing { .. })),
        "{r:?}"
    );
    assert!(r.error.unwrap().to_string().contains("missing"));

    target.set(Mode::Slow(Duration::from_secs(3)));
    c.timeout = Duration::from_millis(500);
    let r = c.run(now_ms()).await;
    assert_eq!(r.status, Status::Down);
    assert_eq!(
        r.error,
        Some(CheckError::Timeout {
            phase: Phase::FirstByte,
            limit_ms: 500
        })
    );
    assert!(
        r.timings.connect_ms.is_some(),
        "phases before the timeout are kept"
    );

    let url = target.url("/");
    target.close().await;
    let r = check(url).run(now_ms()).await;
    assert!(
        matches!(r.error, Some(CheckError::ConnectionRefused { .. })),
        "{r:?}"
    );
}

#[tokio::test]
async fn accepted_status_ranges_and_absent_keyword() {
    let target = Target::start(Mode::Status(404)).await;
    let mut c = check(target.url("/"));
    c.accepted = StatusCodes::parse("200-299,404").unwrap();
    assert_eq!(c.run(now_ms()).await.status, Status::Up);
    c.keyword = Some(Keyword::Absent("wrong".into()));
    let r = c.run(now_ms()).await;
    assert_eq!(
        r.error,
        Some(CheckError::KeywordPresent {
            keyword: "wrong".into()
        })
    );
}

#[tokio::test]
async fn slow_response_is_degraded_not_down() {
    let target = Target::start(Mode::Slow(Duration::from_millis(150))).await;
    let mut c = check(target.url("/"));
    c.max_response_ms = Some(50);
    let r = c.run(now_ms()).await;
    assert_eq!(r.status, Status::Degraded, "{r:?}");
    assert!(matches!(
        r.error,
        Some(CheckError::TooSlow { limit_ms: 50, .. })
    ));
}

#[tokio::test]
async fn json_condition_survives_pretty_printing_where_a_keyword_does_not() {
    let target = Target::start(Mode::Up).await;
    let mut keyword = check(target.url("/"));
    keyword.keyword = Some(Keyword::Present(r#""status":"ok""#.into()));
    assert_eq!(keyword.run(now_ms()).await.status, Status::Down);

    let mut json = check(target.url("/"));
    json.json_condition = Some(JsonCondition::parse(r#"$.status == "ok""#).unwrap());
    assert_eq!(json.run(now_ms()).await.status, Status::Up);

    json.json_condition = Some(JsonCondition::parse("$.checks.database.latency < 100").unwrap());
    assert_eq!(json.run(now_ms()).await.status, Status::Up);

    json.json_condition = Some(JsonCondition::parse("$.checks.database.latency > 100").unwrap());
    let r = json.run(now_ms()).await;
    assert_eq!(r.status, Status::Down);
    assert_eq!(
        r.error.unwrap().to_string(),
        "JSON condition `$.checks.database.latency > 100` is false: $.checks.database.latency is 3"
    );

    target.set(Mode::Body("not json"));
    json.json_condition = Some(JsonCondition::parse("$.status").unwrap());
    let r = json.run(now_ms()).await;
    assert!(r.error.unwrap().to_string().contains("not JSON"));
}

const REF_DEGRADED: &str = r#"{"status":"degraded","checks":{"database":{"status":"degraded","latency":850},"memory":{"status":"ok"}}}"#;
const REF_UNHEALTHY: &str = r#"{"status":"unhealthy","checks":{"database":{"status":"unhealthy","error":"connection refused"},"memory":{"status":"ok"}}}"#;
const HJ_WARN: &str = r#"{"status":"warn","checks":{"cpu:utilization":[{"status":"warn","observedValue":93,"observedUnit":"percent"}],"db:responseTime":[{"status":"pass"}]}}"#;
const HJ_FAIL: &str =
    r#"{"status":"fail","checks":{"db:responseTime":[{"status":"fail","output":"no route"}]}}"#;

#[tokio::test]
async fn health_documents_in_both_formats() {
    let target = Target::start(Mode::Up).await;
    let mut c = check(target.url("/api/health"));
    c.health = true;
    let r = c.run(now_ms()).await;
    assert_eq!(r.status, Status::Up, "{r:?}");
    assert!(r.detail.unwrap().contains("1 check(s)"));

    target.set(Mode::Respond(200, REF_DEGRADED));
    let r = c.run(now_ms()).await;
    assert_eq!(r.status, Status::Degraded);
    assert_eq!(
        r.error,
        Some(CheckError::HealthDegraded {
            checks: vec!["database (degraded, latency 850 ms)".into()]
        })
    );

    target.set(Mode::Respond(503, REF_UNHEALTHY));
    let r = c.run(now_ms()).await;
    assert_eq!(r.status, Status::Down);
    assert_eq!(
        r.error.unwrap().to_string(),
        "health is unhealthy: database (unhealthy, connection refused)"
    );

    target.set(Mode::Respond(200, HJ_WARN));
    let r = c.run(now_ms()).await;
    assert_eq!(r.status, Status::Degraded);
    assert!(r
        .error
        .unwrap()
        .to_string()
        .contains("cpu:utilization (warn, observed 93 percent)"));

    target.set(Mode::Respond(503, HJ_FAIL));
    let r = c.run(now_ms()).await;
    assert_eq!(r.status, Status::Down);
    assert!(r
        .error
        .unwrap()
        .to_string()
        .contains("db:responseTime (fail, no route)"));

    // A 503 without a document is still unhealthy.
    target.set(Mode::Status(503));
    let r = c.run(now_ms()).await;
    assert!(matches!(r.error, Some(CheckError::HealthUnhealthy { .. })));
}

#[tokio::test]
async fn redirects_are_followed_and_recorded() {
    let target = Target::start(Mode::Up).await;
    let r = check(target.url("/redirect/3")).run(now_ms()).await;
    assert_eq!(r.status, Status::Up, "{r:?}");
    assert_eq!(r.redirects.len(), 3);
    assert_eq!(r.redirects[0].from, target.url("/redirect/3"));
    assert_eq!(r.redirects[2].to, target.url("/final"));
    assert!(r.redirects.iter().all(|h| h.status == 302));

    let mut c = check(target.url("/redirect/3"));
    c.max_redirects = 2;
    let r = c.run(now_ms()).await;
    assert_eq!(r.error, Some(CheckError::TooManyRedirects { max: 2 }));

    c.follow_redirects = false;
    c.accepted = StatusCodes::parse("302").unwrap();
    let r = c.run(now_ms()).await;
    assert_eq!((r.status, r.http_status), (Status::Up, Some(302)));
}

#[tokio::test]
async fn closed_port_is_connection_refused() {
    let port = closed_port().await;
    let r = check(format!("http://127.0.0.1:{port}/"))
        .run(now_ms())
        .await;
    assert_eq!(r.status, Status::Down);
    let e = r.error.unwrap();
    assert!(matches!(e, CheckError::ConnectionRefused { .. }));
    assert_eq!(
        e.to_string(),
        format!("connection to 127.0.0.1:{port} refused")
    );

    let tcp = Check::Tcp(
        TcpCheck::parse(&format!("tcp://127.0.0.1:{port}"), Duration::from_secs(2)).unwrap(),
    );
    assert!(matches!(
        tcp.run(now_ms()).await.error,
        Some(CheckError::ConnectionRefused { .. })
    ));
}

#[tokio::test]
async fn tcp_check_times_the_connect() {
    let target = Target::start(Mode::Up).await;
    let c = TcpCheck::parse(&format!("tcp://{}", target.addr), Duration::from_secs(2)).unwrap();
    let r = c.run().await;
    assert_eq!(r.status, Status::Up, "{r:?}");
    assert!(r.timings.connect_ms.is_some());
    assert!(TcpCheck::parse("nohost", Duration::from_secs(1)).is_err());
}

#[tokio::test]
async fn invalid_domain_is_a_dns_failure() {
    let r = check("http://nonexistent.invalid/".into())
        .run(now_ms())
        .await;
    assert_eq!(r.status, Status::Down);
    let e = r.error.unwrap();
    assert!(
        matches!(e, CheckError::Dns { ref host, .. } if host == "nonexistent.invalid"),
        "{e:?}"
    );
    assert!(e
        .to_string()
        .starts_with("DNS lookup of nonexistent.invalid failed"));
    let tcp = TcpCheck::parse("nonexistent.invalid:443", Duration::from_secs(1)).unwrap();
    assert!(matches!(
        tcp.run().await.error,
        Some(CheckError::Dns { .. })
    ));
}

#[tokio::test]
async fn bad_urls_are_invalid_checks() {
    let r = check("ftp://example.invalid/".into()).run(now_ms()).await;
    assert!(matches!(r.error, Some(CheckError::Invalid { .. })), "{r:?}");
}

#[tokio::test]
async fn a_required_health_document_must_be_there() {
    let target = Target::start(Mode::Body("OK")).await;
    let mut c = check(target.url("/api/health"));
    c.health = true;
    assert_eq!(
        c.run(now_ms()).await.status,
        Status::Up,
        "a plain 200 is up by default"
    );

    c.require_health_document = true;
    let r = c.run(now_ms()).await;
    assert_eq!(r.error, Some(CheckError::NotHealthDocument));
    assert!(r
        .error
        .unwrap()
        .to_string()
        .contains("not a health document"));

    target.set(Mode::Respond(200, REF_DEGRADED));
    assert_eq!(c.run(now_ms()).await.status, Status::Degraded);
    target.set(Mode::Status(500));
    let r = c.run(now_ms()).await;
    assert!(
        matches!(r.error, Some(CheckError::UnexpectedStatus { got: 500, .. })),
        "the status says more than the missing document: {r:?}"
    );
}
