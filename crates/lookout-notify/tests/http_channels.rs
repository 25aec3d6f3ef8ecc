//! The webhook-style channels against real HTTP receivers on loopback that play Slack,
//! Discord, Teams, PagerDuty and a webhook endpoint: the payloads they get, and what each
//! channel makes of their answers and failures.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::*;
use lookout_core::alert::Severity;
use lookout_notify::{build, Channel, ChannelConfig, Delivery, NotifyEvent};
use serde_json::{json, Value};

fn channel(toml_text: &str) -> Box<dyn Channel> {
    let config: ChannelConfig =
        toml::from_str(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"));
    build(&config).unwrap()
}

fn hook(kind: &str, url: &str, extra: &str) -> Box<dyn Channel> {
    channel(&format!(
        "kind = \"{kind}\"\nwebhook_url = \"{url}\"\n{extra}"
    ))
}

fn triggered(severity: Severity) -> lookout_notify::Notification {
    notification(severity, NotifyEvent::Triggered)
}

fn is_retry_after(d: &Delivery, secs: f64) -> bool {
    matches!(d, Delivery::Retry { after: Some(a), .. } if (a.as_secs_f64() - secs).abs() < 0.01)
}

/// Every string anywhere in a JSON document.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::Object(o) => o.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn mentions(v: &Value, needle: &str) -> bool {
    strings(v).iter().any(|s| s.contains(needle))
}

const ACK: &str = "https://lookout.example.com/ack/42?sig=abc";
const RUNBOOK: &str = "https://wiki.example.com/runbooks/errors";
const INCIDENT: &str = "https://lookout.example.com/incidents/42";

#[test]
fn slack_gets_a_coloured_attachment_with_links() {
    let rx = Receiver::start(reply(200, "ok"));
    let slack = hook("slack", &rx.url("/services/T0/B0/secret"), "");
    assert_eq!(slack.kind(), "slack");
    assert_eq!(slack.min_interval(), Duration::from_secs(1));
    for severity in Severity::ALL {
        rx.clear();
        let d = slack.send(&[triggered(severity)]);
        assert_eq!(
            d,
            Delivery::Delivered {
                status: Some(200),
                answer: "ok".into()
            }
        );
        let req = rx.only();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/services/T0/B0/secret");
        assert_eq!(req.header("content-type"), Some("application/json"));
        let body = req.json();
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("Error spike: 51 errors in 5m"), "{text}");
        assert!(
            text.contains(&format!("[{}]", severity.as_str().to_uppercase())),
            "{text}"
        );
        let attachments = body["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1);
        let a = &attachments[0];
        assert_eq!(a["color"], severity.colour());
        let blocks = a["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert!(blocks[0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Triggered: Error spike"));
        for needle in [
            ACK,
            RUNBOOK,
            INCIDENT,
            "Error spikes",
            "Check the last deploy.",
            "project web",
            "51",
        ] {
            assert!(mentions(a, needle), "{needle} missing from {a:#}");
        }
    }
}

#[test]
fn slack_batches_several_notifications_into_one_message() {
    let rx = Receiver::start(reply(200, "ok"));
    let slack = hook("slack", &rx.url("/hook"), "");
    assert!(slack.max_batch() >= 3);
    let batch = vec![
        triggered(Severity::Critical),
        notification(Severity::Medium, NotifyEvent::Escalated { step: 2 }),
        notification(
            Severity::Low,
            NotifyEvent::Resolved {
                by: Some("alice".into()),
            },
        ),
    ];
    assert!(slack.send(&batch).is_delivered());
    let body = rx.only().json();
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 3);
    let colours: Vec<&str> = attachments
        .iter()
        .map(|a| a["color"].as_str().unwrap())
        .collect();
    assert_eq!(
        colours,
        [
            Severity::Critical.colour(),
            Severity::Medium.colour(),
            Severity::Low.colour()
        ]
    );
    assert!(mentions(&attachments[1], "Escalated (step 2)"));
    assert!(mentions(&attachments[2], "Resolved by alice"));
    assert!(body["text"]
        .as_str()
        .unwrap()
        .starts_with("3 notifications"));
}

#[test]
fn slack_failures_are_classified() {
    let rx = Receiver::start(reply_with(429, "retry-after", "30", "rate_limited"));
    let slack = hook("slack", &rx.url("/hook"), "timeout = \"300ms\"\n");
    let n = [triggered(Severity::High)];
    assert!(is_retry_after(&slack.send(&n), 30.0));

    rx.set(reply(500, "internal_error"));
    assert!(
        matches!(slack.send(&n), Delivery::Retry { after: None, reason } if reason.contains("500"))
    );

    for (status, body) in [
        (404, "no_service"),
        (410, "channel_is_archived"),
        (403, "invalid_token"),
        (404, "channel_not_found"),
    ] {
        rx.set(reply(status, body));
        assert!(
            matches!(slack.send(&n), Delivery::Broken { reason } if reason.contains(body)),
            "{status} {body}"
        );
    }

    rx.set(reply(400, "invalid_payload"));
    assert!(
        matches!(slack.send(&n), Delivery::Rejected { reason } if reason.contains("invalid_payload"))
    );

    rx.set(Reply::Hang(Duration::from_secs(5)));
    let start = Instant::now();
    let d = slack.send(&n);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(
        matches!(&d, Delivery::Retry { reason, .. } if reason.contains("did not answer within 300ms")),
        "{d:?}"
    );
    // The secret part of the hook URL never appears in a reason.
    assert!(!format!("{d:?}").contains("/hook"), "{d:?}");
}

#[test]
fn unreachable_receivers_are_retried_and_redirects_not_followed() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let slack = hook("slack", &format!("http://127.0.0.1:{port}/hook"), "");
    assert!(matches!(
        slack.send(&[triggered(Severity::Low)]),
        Delivery::Retry { .. }
    ));

    let rx = Receiver::start(reply_with(
        302,
        "location",
        "http://127.0.0.1:9/elsewhere",
        "",
    ));
    let d = hook("discord", &rx.url("/hook"), "").send(&[triggered(Severity::Low)]);
    assert!(
        matches!(&d, Delivery::Broken { reason } if reason.contains("302")),
        "{d:?}"
    );
    assert_eq!(rx.requests().len(), 1);
}

#[test]
fn discord_gets_an_embed_without_mentions() {
    let rx = Receiver::start(reply(204, ""));
    let discord = hook("discord", &rx.url("/api/webhooks/1/tok"), "");
    let d = discord.send(&[triggered(Severity::Critical)]);
    assert_eq!(
        d,
        Delivery::Delivered {
            status: Some(204),
            answer: String::new()
        }
    );
    let body = rx.only().json();
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    let embed = &body["embeds"][0];
    assert_eq!(embed["color"], 0xd1242f);
    assert_eq!(embed["title"], "Error spike: 51 errors in 5m (project web)");
    assert_eq!(embed["url"], INCIDENT);
    assert_eq!(embed["timestamp"], "2026-03-01T12:00:00Z");
    for needle in [ACK, RUNBOOK, "Check the last deploy."] {
        assert!(mentions(embed, needle), "{needle} missing from {embed:#}");
    }
    assert!(body["content"]
        .as_str()
        .unwrap()
        .contains("[CRITICAL] Triggered"));
}

#[test]
fn discord_failures_are_classified() {
    let rx = Receiver::start(reply_with(
        429,
        "retry-after",
        "2",
        r#"{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}"#,
    ));
    let discord = hook("discord", &rx.url("/hook"), "");
    let n = [triggered(Severity::High)];
    assert!(
        is_retry_after(&discord.send(&n), 1.5),
        "the body's precise retry_after wins"
    );
    rx.set(reply_with(429, "retry-after", "3", "slow down"));
    assert!(is_retry_after(&discord.send(&n), 3.0));
    for status in [404, 401] {
        rx.set(reply(
            status,
            r#"{"message": "Unknown Webhook", "code": 10015}"#,
        ));
        assert!(
            matches!(discord.send(&n), Delivery::Broken { .. }),
            "{status}"
        );
    }
    rx.set(reply(400, r#"{"embeds": ["0"]}"#));
    assert!(matches!(discord.send(&n), Delivery::Rejected { .. }));
    rx.set(reply(502, "bad gateway"));
    assert!(matches!(discord.send(&n), Delivery::Retry { .. }));
}

#[test]
fn teams_gets_an_adaptive_card() {
    let rx = Receiver::start(reply(202, ""));
    let teams = hook(
        "teams",
        &rx.url("/workflows/abc/triggers/manual/paths/invoke?sig=s"),
        "",
    );
    assert!(teams.send(&[triggered(Severity::Medium)]).is_delivered());
    let req = rx.only();
    assert!(req.path.ends_with("?sig=s"), "{}", req.path);
    let body = req.json();
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let kinds: Vec<&str> = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"TextBlock") && kinds.contains(&"FactSet"),
        "{kinds:?}"
    );
    let actions = card["actions"].as_array().unwrap();
    let urls: Vec<&str> = actions.iter().map(|a| a["url"].as_str().unwrap()).collect();
    assert_eq!(urls, [INCIDENT, RUNBOOK, ACK]);
    assert!(actions.iter().all(|a| a["type"] == "Action.OpenUrl"));
    assert!(mentions(card, "Error spike: 51 errors in 5m"));
}

#[test]
fn teams_failures_are_classified() {
    let in_90s = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
    let rx = Receiver::start(reply_with(429, "retry-after", &in_90s, ""));
    let teams = hook("teams", &rx.url("/hook"), "");
    let n = [triggered(Severity::Low)];
    let d = teams.send(&n);
    assert!(
        matches!(d, Delivery::Retry { after: Some(a), .. } if (85..=90).contains(&a.as_secs())),
        "an HTTP-date Retry-After counts from now: {d:?}"
    );
    rx.set(reply(404, "not found"));
    assert!(matches!(teams.send(&n), Delivery::Broken { .. }));
    rx.set(reply(500, "boom"));
    assert!(matches!(teams.send(&n), Delivery::Retry { .. }));
    rx.set(reply(400, "bad card"));
    assert!(matches!(teams.send(&n), Delivery::Rejected { .. }));
}

#[test]
fn pagerduty_follows_the_incident_with_one_dedup_key() {
    let rx = Receiver::start(reply(
        202,
        r#"{"status":"success","message":"Event processed","dedup_key":"lookout-incident-42"}"#,
    ));
    let pd = channel(&format!(
        "kind = \"pagerduty\"\nrouting_key = \"R0UTINGKEY0123456789abcdefABCDEF\"\nurl = \"{}\"\n",
        rx.url("/v2/enqueue")
    ));
    let events = [
        (NotifyEvent::Triggered, "trigger"),
        (NotifyEvent::Escalated { step: 1 }, "trigger"),
        (NotifyEvent::Reminder, "trigger"),
        (
            NotifyEvent::Acknowledged { by: "bob".into() },
            "acknowledge",
        ),
        (NotifyEvent::Resolved { by: None }, "resolve"),
        (NotifyEvent::Test, "trigger"),
    ];
    for (event, _) in &events {
        let d = pd.send(&[notification(Severity::Critical, event.clone())]);
        assert!(
            matches!(&d, Delivery::Delivered { status: Some(202), answer } if answer.contains("Event processed")),
            "{d:?}"
        );
    }
    let requests = rx.requests();
    assert_eq!(requests.len(), events.len());
    for (req, (event, action)) in requests.iter().zip(&events) {
        let body = req.json();
        assert_eq!(body["event_action"], *action, "{event:?}");
        assert_eq!(body["dedup_key"], "lookout-incident-42");
        assert_eq!(body["routing_key"], "R0UTINGKEY0123456789abcdefABCDEF");
        assert_eq!(body["payload"]["source"], "lookout");
        assert_eq!(
            body["payload"]["summary"],
            "Error spike: 51 errors in 5m (project web)"
        );
        assert_eq!(body["links"][0]["href"], INCIDENT);
    }

    rx.clear();
    for (severity, expected) in [
        (Severity::Critical, "critical"),
        (Severity::High, "error"),
        (Severity::Medium, "warning"),
        (Severity::Low, "info"),
    ] {
        pd.send(&[triggered(severity)]);
        assert_eq!(
            rx.requests().last().unwrap().json()["payload"]["severity"],
            expected
        );
    }
}

#[test]
fn pagerduty_failures_are_classified() {
    let rx = Receiver::start(reply(
        400,
        r#"{"status":"invalid event","message":"Event object is invalid","errors":["'routing_key' is invalid"]}"#,
    ));
    let pd = channel(&format!(
        "kind = \"pagerduty\"\nrouting_key = \"key\"\nurl = \"{}\"\ntimeout = \"300ms\"\n",
        rx.url("/v2/enqueue")
    ));
    let n = [triggered(Severity::High)];
    assert!(
        matches!(pd.send(&n), Delivery::Rejected { reason } if reason.contains("Event object is invalid"))
    );
    rx.set(reply_with(429, "retry-after", "60", ""));
    assert!(is_retry_after(&pd.send(&n), 60.0));
    rx.set(reply(503, "unavailable"));
    assert!(matches!(pd.send(&n), Delivery::Retry { .. }));
    rx.set(Reply::Hang(Duration::from_secs(5)));
    assert!(
        matches!(pd.send(&n), Delivery::Retry { reason, .. } if reason.contains("did not answer"))
    );
}

#[test]
fn webhook_posts_standard_webhooks_json() {
    let rx = Receiver::start(reply(200, "thanks"));
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let wh = channel(&format!(
        "kind = \"webhook\"\nurl = \"{}\"\nsecret = \"{secret}\"\nheaders = {{ authorization = \"Bearer t0ken\" }}\n",
        rx.url("/lookout")
    ));
    let n = notification(
        Severity::High,
        NotifyEvent::Acknowledged { by: "alice".into() },
    );
    assert_eq!(
        wh.send(std::slice::from_ref(&n)),
        Delivery::Delivered {
            status: Some(200),
            answer: "thanks".into()
        }
    );
    let req = rx.only();
    assert_eq!(req.header("webhook-id"), Some("ntf_123"));
    assert_eq!(req.header("authorization"), Some("Bearer t0ken"));
    let ts: u64 = req.header("webhook-timestamp").unwrap().parse().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(ts) < 60, "{ts} vs {now}");
    assert!(req.header("webhook-signature").unwrap().starts_with("v1,"));
    let body = req.json();
    assert_eq!(body["type"], "incident.acknowledged");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let data = &body["data"];
    assert_eq!(data["id"], "ntf_123");
    assert_eq!(
        data["event"],
        json!({"type": "acknowledged", "by": "alice"})
    );
    assert_eq!(data["incident_id"], 42);
    assert_eq!(data["dedup_key"], "lookout-incident-42");
    assert_eq!(data["severity"], "high");
    assert_eq!(data["ack_url"], ACK);
    assert_eq!(data["runbook"]["url"], RUNBOOK);
    let back: lookout_notify::Notification = serde_json::from_value(data.clone()).unwrap();
    assert_eq!(back, n, "data carries every field");

    // A retry carries the same webhook-id, so the receiver can drop the duplicate.
    rx.clear();
    rx.set(reply(503, "busy"));
    assert!(matches!(
        wh.send(std::slice::from_ref(&n)),
        Delivery::Retry { .. }
    ));
    rx.set(reply(200, ""));
    assert!(wh.send(std::slice::from_ref(&n)).is_delivered());
    let ids: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(ids, ["ntf_123", "ntf_123"]);
}

#[test]
fn webhook_without_secret_is_unsigned_and_failures_are_classified() {
    let rx = Receiver::start(reply(200, ""));
    let wh = channel(&format!(
        "kind = \"webhook\"\nurl = \"{}\"\n",
        rx.url("/in")
    ));
    let n = [notification(Severity::Low, NotifyEvent::Test)];
    assert!(wh.send(&n).is_delivered());
    let req = rx.only();
    assert_eq!(req.header("webhook-signature"), None);
    assert_eq!(req.header("webhook-id"), Some("ntf_123"));
    assert_eq!(req.json()["type"], "incident.test");
    rx.set(reply(410, "gone"));
    assert!(matches!(wh.send(&n), Delivery::Broken { .. }));
    rx.set(reply(404, "no such route"));
    assert!(matches!(wh.send(&n), Delivery::Rejected { .. }));
    rx.set(reply(500, "oops"));
    assert!(matches!(wh.send(&n), Delivery::Retry { .. }));
}
