//! Slack incoming webhooks. A message carries one attachment per notification (coloured by
//! severity, laid out with blocks), so a burst of notifications becomes one message: a hook
//! takes about one message a second, and one message is easier to read than ten.

use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{classify, Poster};
use crate::text::{event_label, facts, tag, truncate};
use crate::{Channel, Delivery, Notification};

/// The incoming webhook of a Slack channel.
pub type SlackConfig = crate::HookConfig;

/// Posts to a Slack incoming webhook.
pub struct Slack {
    http: Poster,
}

/// Notifications per message: Slack refuses more than 100 attachments, and a message
/// taller than a screen is not read.
const MAX_BATCH: usize = 10;

/// Errors Slack answers when the hook can never work again (revoked, channel archived,
/// app removed), as opposed to a bad payload.
const GONE_ERRORS: [&str; 10] = [
    "invalid_token",
    "no_service",
    "no_service_id",
    "no_team",
    "team_disabled",
    "channel_not_found",
    "channel_is_archived",
    "action_prohibited",
    "posting_to_general_channel_denied",
    "user_not_found",
];

impl Slack {
    /// A channel for `config`.
    pub fn new(config: &SlackConfig) -> Self {
        Slack {
            http: Poster::new(&config.webhook_url, config.timeout),
        }
    }
}

impl Channel for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn min_interval(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn send(&self, batch: &[Notification]) -> Delivery {
        if batch.is_empty() {
            return crate::nothing_to_send();
        }
        let body = payload(batch).to_string();
        let answer = match self.http.post_json(&body, &[]) {
            Ok(a) => a,
            Err(d) => return d,
        };
        let gone = (400..500).contains(&answer.status)
            && GONE_ERRORS.iter().any(|e| answer.body.trim() == *e);
        if gone {
            return Delivery::Broken {
                reason: format!("HTTP {}: {}", answer.status, answer.body.trim()),
            };
        }
        classify(answer, &[404])
    }
}

/// The message for a batch.
pub fn payload(batch: &[Notification]) -> Value {
    let text = match batch {
        [n] => format!(
            "[{}] {}: {}",
            tag(n),
            event_label(&n.event),
            escape(&n.title)
        ),
        _ => format!(
            "{} notifications: {}",
            batch.len(),
            batch
                .iter()
                .map(|n| format!("[{}] {}", tag(n), escape(&n.title)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    json!({
        "text": truncate(&text, 3000),
        "attachments": batch.iter().map(attachment).collect::<Vec<_>>(),
    })
}

fn attachment(n: &Notification) -> Value {
    // Slack's limits: header 150 characters, section text 3000, field 2000.
    let mut blocks = vec![
        json!({"type": "header", "text": {
            "type": "plain_text",
            "text": truncate(&format!("{}: {}", event_label(&n.event), n.title), 150),
        }}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&escape(&n.summary), 3000)}}),
        json!({"type": "section", "fields": facts(n).into_iter().map(|(k, v)| json!({
            "type": "mrkdwn",
            "text": truncate(&format!("*{k}*\n{}", escape(&v)), 2000),
        })).collect::<Vec<_>>()}),
    ];
    if let Some(rb) = &n.runbook {
        let mut text = match &rb.url {
            Some(url) => format!("*Runbook:* {}", link(url, &rb.title)),
            None => format!("*Runbook:* {}", escape(&rb.title)),
        };
        if let Some(t) = rb.text.as_deref().filter(|t| !t.trim().is_empty()) {
            for line in t.lines() {
                text.push_str(&format!("\n>{}", escape(line)));
            }
        }
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, 3000)}}),
        );
    }
    let links: Vec<String> = [
        (n.incident_url.as_deref(), "Open incident"),
        (n.ack_url.as_deref(), "Acknowledge"),
    ]
    .into_iter()
    .filter_map(|(url, label)| url.map(|u| link(u, label)))
    .collect();
    if !links.is_empty() {
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": links.join("  ·  ")}}),
        );
    }
    json!({
        "color": n.severity.colour(),
        "fallback": truncate(&format!("[{}] {}", tag(n), n.title), 300),
        "blocks": blocks,
    })
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn link(url: &str, label: &str) -> String {
    // `|` and `>` would end the link early.
    let url = url.replace('|', "%7C").replace('>', "%3E");
    format!("<{url}|{}>", escape(label).replace('|', "¦"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tests::sample;
    use lookout_core::alert::Severity;

    #[test]
    fn escapes_user_text() {
        let p = payload(&[sample(Severity::Low)]);
        let s = p.to_string();
        assert!(s.contains("TypeError &lt;x&gt; &amp; y"), "{s}");
        assert!(
            s.contains("<https://lookout.example.com/ack/42?sig=abc|Acknowledge>"),
            "{s}"
        );
    }
}
