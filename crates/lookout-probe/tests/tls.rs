//! TLS certificates generated in the test, served on loopback, checked by the probe.

mod common;

use std::time::Duration;

use common::{now_ms, self_signed, tls_server, TestCa, DAY};
use lookout_probe::{CheckError, HttpCheck, Status, TlsCheck, TlsErrorKind, TlsOptions};

fn trusting(ca: &TestCa) -> TlsOptions {
    TlsOptions::with_extra_roots(vec![ca.cert.clone()]).unwrap()
}

fn tls_check(port: u16, tls: TlsOptions) -> TlsCheck {
    TlsCheck {
        host: "localhost".into(),
        port,
        timeout: Duration::from_secs(5),
        tls,
    }
}

#[tokio::test]
async fn valid_certificate_expiring_in_five_days() {
    let ca = TestCa::new();
    let (addr, _server) = tls_server(ca.leaf(&["localhost"], -1, 5)).await;

    let r = tls_check(addr.port(), trusting(&ca)).run(now_ms()).await;
    assert_eq!(r.status, Status::Up, "{r:?}");
    let tls = r.tls.unwrap();
    assert!(tls.valid && tls.error.is_none());
    assert!((4..=5).contains(&tls.days_left), "{}", tls.days_left);
    assert_eq!(tls.subject, "CN=localhost");
    assert_eq!(tls.issuer, "CN=lookout test CA");
    assert!(r.timings.tls_ms.is_some());

    // An https check reports the certificate too, and every phase.
    let mut http = HttpCheck::new(format!("https://localhost:{}/", addr.port()));
    http.tls = TlsOptions::with_extra_roots_pem(ca.pem.as_bytes()).unwrap();
    let r = http.run(now_ms()).await;
    assert_eq!(r.status, Status::Up, "{r:?}");
    assert_eq!(r.http_status, Some(200));
    let t = r.timings;
    assert!(t.dns_ms.is_some() && t.connect_ms.is_some() && t.tls_ms.is_some());
    assert!(t.first_byte_ms.is_some() && t.total_ms.is_some());
    assert!((4..=5).contains(&r.tls.unwrap().days_left));
}

#[tokio::test]
async fn expired_certificate_still_reports_its_expiry() {
    let ca = TestCa::new();
    let (addr, _server) = tls_server(ca.leaf(&["localhost"], -30, -2)).await;
    let r = tls_check(addr.port(), trusting(&ca)).run(now_ms()).await;
    assert_eq!(r.status, Status::Down);
    assert!(
        matches!(
            r.error,
            Some(CheckError::Tls {
                kind: TlsErrorKind::Expired,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(r
        .error
        .unwrap()
        .to_string()
        .starts_with("TLS error: the certificate has expired"));
    let tls = r.tls.unwrap();
    assert!(!tls.valid);
    assert!((-3..=-2).contains(&tls.days_left), "{}", tls.days_left);
    assert_eq!(tls.error_kind, Some(TlsErrorKind::Expired));

    let mut http = HttpCheck::new(format!("https://localhost:{}/", addr.port()));
    http.tls = trusting(&ca);
    let r = http.run(now_ms()).await;
    assert!(matches!(
        r.error,
        Some(CheckError::Tls {
            kind: TlsErrorKind::Expired,
            ..
        })
    ));
    assert!(
        r.tls.is_some(),
        "the https check reports the rejected certificate"
    );
}

#[tokio::test]
async fn certificate_for_another_host() {
    let ca = TestCa::new();
    let (addr, _server) = tls_server(ca.leaf(&["other.example"], -1, 90)).await;
    let r = tls_check(addr.port(), trusting(&ca)).run(now_ms()).await;
    assert!(
        matches!(
            r.error,
            Some(CheckError::Tls {
                kind: TlsErrorKind::HostnameMismatch,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(r.tls.unwrap().subject, "CN=other.example");
}

#[tokio::test]
async fn untrusted_issuer_and_self_signed() {
    let ca = TestCa::new();
    let (addr, _server) = tls_server(ca.leaf(&["localhost"], -1, 90)).await;
    let r = tls_check(addr.port(), TlsOptions::default())
        .run(now_ms())
        .await;
    assert!(
        matches!(
            r.error,
            Some(CheckError::Tls {
                kind: TlsErrorKind::UnknownIssuer,
                ..
            })
        ),
        "{r:?}"
    );

    let (addr, _server) = tls_server(self_signed("localhost")).await;
    let r = tls_check(addr.port(), trusting(&ca)).run(now_ms()).await;
    assert!(
        matches!(
            r.error,
            Some(CheckError::Tls {
                kind: TlsErrorKind::SelfSigned,
                ..
            })
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn not_yet_valid_certificate() {
    let ca = TestCa::new();
    let (addr, _server) = tls_server(ca.leaf(&["localhost"], 2, 90)).await;
    let r = tls_check(addr.port(), trusting(&ca)).run(now_ms()).await;
    assert!(
        matches!(
            r.error,
            Some(CheckError::Tls {
                kind: TlsErrorKind::NotYetValid,
                ..
            })
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn certificates_are_judged_at_the_callers_time() {
    let ca = TestCa::new();
    // 2020-01-01 to 2100-01-01 (a GeneralizedTime).
    let (not_before, not_after) = (1_577_836_800, 4_102_444_800);
    let leaf = ca.leaf_between(&["localhost"], not_before, not_after);
    let (addr, _server) = tls_server(leaf).await;
    let check = tls_check(addr.port(), trusting(&ca));
    for (now, days) in [
        (not_after - 400 * DAY, 400),
        (not_after - 10 * DAY, 10),
        (not_after - 10 * DAY + 1, 9),
        (not_after, 0),
    ] {
        let r = check.run(now * 1000).await;
        assert_eq!(r.status, Status::Up, "{r:?}");
        assert_eq!(
            r.detail.as_deref(),
            Some(format!("certificate expires in {days} days").as_str())
        );
        let tls = r.tls.unwrap();
        assert!(tls.valid, "{tls:?}");
        assert_eq!(tls.not_after_unix, not_after);
        assert_eq!(tls.days_left, days, "at {now}");
    }

    let r = check.run((not_after + 1) * 1000).await;
    assert_eq!(r.status, Status::Down);
    let tls = r.tls.unwrap();
    assert_eq!(
        (tls.days_left, tls.error_kind),
        (-1, Some(TlsErrorKind::Expired))
    );
    let r = check.run((not_before - 1) * 1000).await;
    assert_eq!(r.tls.unwrap().error_kind, Some(TlsErrorKind::NotYetValid));

    let mut http = HttpCheck::new(format!("https://localhost:{}/", addr.port()));
    http.tls = trusting(&ca);
    let r = http.run((not_after - 30 * DAY) * 1000).await;
    assert_eq!(r.status, Status::Up, "{r:?}");
    assert_eq!(r.tls.unwrap().days_left, 30);
    let r = http.run((not_after + DAY) * 1000).await;
    assert_eq!(r.status, Status::Down, "{r:?}");
}
