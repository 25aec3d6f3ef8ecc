//! Email through a real SMTP server on loopback (plain, STARTTLS and implicit TLS with a
//! certificate from a test CA trusted through `ca_file`), read back as received.

mod common;

use std::io::Write;

use common::*;
use lookout_core::alert::Severity;
use lookout_notify::{build, Channel, ChannelConfig, Delivery, NotifyEvent};

const ACK: &str = "https://lookout.example.com/ack/42?sig=abc";

fn email(port: u16, extra: &str) -> Box<dyn Channel> {
    let text = format!(
        "kind = \"email\"\nhost = \"127.0.0.1\"\nport = {port}\nfrom = \"lookout <alerts@example.com>\"\nto = [\"ops@example.com\", \"Dev Team <dev@example.com>\"]\ntimeout = \"5s\"\n{extra}"
    );
    let config: ChannelConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    build(&config).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn ca_file(tls: &TestTls) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(tls.ca_pem.as_bytes()).unwrap();
    f
}

fn triggered() -> lookout_notify::Notification {
    notification(Severity::Critical, NotifyEvent::Triggered)
}

#[test]
fn plain_smtp_delivers_text_and_html() {
    let sink = SmtpSink::start(SmtpSecurity::Plain);
    let ch = email(sink.port, "tls = \"none\"\n");
    assert_eq!(ch.kind(), "email");
    let d = ch.send(&[triggered()]);
    assert!(
        matches!(&d, Delivery::Delivered { status: Some(250), answer } if answer.contains("queued as 1")),
        "{d:?}"
    );
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert!(!m.tls);
    assert_eq!(m.login, None);
    assert_eq!(m.from, "<alerts@example.com>");
    assert_eq!(m.to, ["<ops@example.com>", "<dev@example.com>"]);
    assert_eq!(
        m.header("subject").as_deref(),
        Some("[CRITICAL] Error spike: 51 errors in 5m (project web)")
    );
    assert!(m.header("message-id").unwrap().contains("ntf_123"));
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("multipart/alternative"));
    let parts = m.parts();
    assert_eq!(parts.len(), 2, "{parts:#?}");
    let (text_type, text) = &parts[0];
    let (html_type, html) = &parts[1];
    assert!(text_type.starts_with("text/plain"), "{text_type}");
    assert!(html_type.starts_with("text/html"), "{html_type}");
    for needle in [
        "Error spike: 51 errors in 5m (project web)",
        "Top issue: TypeError: cannot read 'id'",
        "Acknowledge: https://lookout.example.com/ack/42?sig=abc",
        "Runbook: Error spikes",
        "Check the last deploy.",
        "Severity: Critical",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    for needle in [
        format!("<a href=\"{ACK}\">Acknowledge</a>"),
        "Error spike: 51 errors in 5m (project web)</h2>".into(),
        // Quotes are escaped like the rest (askama writes numeric entities).
        "TypeError: cannot read &#39;id&#39;".into(),
        format!("border-left:6px solid {}", Severity::Critical.colour()),
    ] {
        assert!(html.contains(&needle), "{needle} missing from:\n{html}");
    }
}

/// Titles, summaries, runbooks and links come from error messages and config: in the
/// HTML part they are text, never markup, and a link cannot break out of its attribute.
#[test]
fn the_html_part_escapes_what_it_shows() {
    let sink = SmtpSink::start(SmtpSecurity::Plain);
    let ch = email(sink.port, "tls = \"none\"\n");
    let mut n = triggered();
    n.title = "<script>alert(1)</script> in checkout".into();
    n.summary = "TypeError at <img src=x onerror=alert(2)> & more".into();
    n.ack_url = Some("https://lookout.example.com/ack/42?sig=abc&x=\"><b>bold</b>".into());
    n.runbook.as_mut().unwrap().text = Some("Run </pre><script>alert(3)</script>".into());
    assert!(ch.send(&[n]).is_delivered());
    let mails = sink.mails();
    let parts = mails[0].parts();
    let (html_type, html) = &parts[1];
    assert!(html_type.starts_with("text/html"), "{html_type}");
    for needle in [
        "&#60;script&#62;alert(1)&#60;/script&#62; in checkout</h2>",
        "TypeError at &#60;img src=x onerror=alert(2)&#62; &#38; more",
        "href=\"https://lookout.example.com/ack/42?sig=abc&#38;x=&#34;&#62;&#60;b&#62;bold&#60;/b&#62;\"",
        "Run &#60;/pre&#62;&#60;script&#62;alert(3)&#60;/script&#62;</pre>",
    ] {
        assert!(html.contains(needle), "{needle} missing from:\n{html}");
    }
    for raw in ["<script", "<img", "<b>", "</pre><script"] {
        assert!(!html.contains(raw), "{raw} arrived unescaped in:\n{html}");
    }
    // The text part is plain text: nothing to escape, the title arrives as written.
    assert!(parts[0].1.contains("<script>alert(1)</script> in checkout"));
}

#[test]
fn subjects_follow_the_incident() {
    let sink = SmtpSink::start(SmtpSecurity::Plain);
    let ch = email(sink.port, "tls = \"none\"\n");
    for (severity, event) in [
        (Severity::High, NotifyEvent::Escalated { step: 2 }),
        (
            Severity::High,
            NotifyEvent::Resolved {
                by: Some("alice".into()),
            },
        ),
        (Severity::Low, NotifyEvent::Test),
    ] {
        assert!(ch.send(&[notification(severity, event)]).is_delivered());
    }
    let subjects: Vec<String> = sink
        .mails()
        .iter()
        .map(|m| m.header("subject").unwrap())
        .collect();
    assert_eq!(
        subjects,
        [
            "[HIGH] Escalated (step 2): Error spike: 51 errors in 5m (project web)",
            "[RESOLVED] Error spike: 51 errors in 5m (project web)",
            "[TEST] Error spike: 51 errors in 5m (project web)",
        ]
    );
}

#[test]
fn starttls_with_a_private_ca_and_login() {
    let tls = TestTls::new();
    let ca = ca_file(&tls);
    let sink = SmtpSink::start(SmtpSecurity::StartTls(tls));
    let ch = email(
        sink.port,
        &format!(
            "tls = \"starttls\"\nusername = \"lookout\"\npassword = \"hunter2\"\nca_file = \"{}\"\n",
            ca.path().display()
        ),
    );
    let d = ch.send(&[triggered()]);
    assert!(d.is_delivered(), "{d:?}");
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].tls, "the message went in clear text");
    assert_eq!(mails[0].login.as_deref(), Some("lookout:hunter2"));
}

#[test]
fn starttls_is_required_not_opportunistic() {
    // A server (or a man in the middle) that offers no STARTTLS gets nothing.
    let sink = SmtpSink::start(SmtpSecurity::Plain);
    let ch = email(sink.port, "");
    let d = ch.send(&[triggered()]);
    assert!(matches!(d, Delivery::Retry { .. }), "{d:?}");
    assert!(sink.mails().is_empty());
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let sink = SmtpSink::start(SmtpSecurity::StartTls(TestTls::new()));
    let d = email(sink.port, "").send(&[triggered()]);
    assert!(
        matches!(&d, Delivery::Retry { reason, .. } if reason.to_lowercase().contains("certificate")),
        "{d:?}"
    );
    assert!(sink.mails().is_empty());
}

#[test]
fn implicit_tls() {
    let tls = TestTls::new();
    let ca = ca_file(&tls);
    let sink = SmtpSink::start(SmtpSecurity::Implicit(tls));
    let ch = email(
        sink.port,
        &format!(
            "tls = \"implicit\"\nca_file = \"{}\"\n",
            ca.path().display()
        ),
    );
    let d = ch.send(&[triggered()]);
    assert!(d.is_delivered(), "{d:?}");
    assert!(sink.mails()[0].tls);
}

#[test]
fn smtp_answers_are_classified() {
    let sink = SmtpSink::start(SmtpSecurity::Plain);
    let ch = email(sink.port, "tls = \"none\"\n");
    sink.refuse_recipients("451 4.3.0 mailbox busy, try later");
    let d = ch.send(&[triggered()]);
    assert!(
        matches!(&d, Delivery::Retry { reason, .. } if reason.contains("451") || reason.contains("try later")),
        "{d:?}"
    );
    sink.refuse_recipients("550 5.1.1 no such user");
    let d = ch.send(&[triggered()]);
    assert!(
        matches!(&d, Delivery::Rejected { reason } if reason.contains("no such user")),
        "{d:?}"
    );
    assert!(sink.mails().is_empty());

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let d = email(port, "tls = \"none\"\n").send(&[triggered()]);
    assert!(
        matches!(&d, Delivery::Retry { reason, .. } if reason.contains(&port.to_string())),
        "{d:?}"
    );
}
