//! TLS certificates generated in the test, served on loopback, checked by the probe.

mod common;

use std::time::Duration;

use common::{self_signed, tls_server, TestCa};
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

    let r = tls_check(addr.port(), trusting(&ca)).run().await;
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
    let r = http.run().await;
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
    let r = tls_check(addr.port(), trusting(&ca)).run().await;
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
    let r = http.run().await;
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
    let r = tls_check(addr.port(), trusting(&ca)).run().await;
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
    let r = tls_check(addr.port(), TlsOptions::default()).run().await;
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
    let r = tls_check(addr.port(), trusting(&ca)).run().await;
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
    let r = tls_check(addr.port(), trusting(&ca)).run().await;
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
