//! Discord channel webhooks: one embed per notification, coloured by severity. Mentions are
//! switched off (`allowed_mentions.parse = []`) so an error message that contains
//! "@everyone" cannot ping a whole server.

use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{classify, Poster};
use crate::text::{colour_int, event_label, facts, rfc3339, tag, truncate};
use crate::{Channel, Delivery, Notification};

/// A Discord channel webhook.
pub type DiscordConfig = crate::HookConfig;

/// Posts to a Discord webhook.
pub struct Discord {
    http: Poster,
}

impl Discord {
    /// A channel for `config`.
    pub fn new(config: &DiscordConfig) -> Self {
        Discord {
            http: Poster::new(&config.webhook_url, config.timeout),
        }
    }

    fn send_one(&self, n: &Notification) -> Delivery {
        let answer = match self.http.post_json(&payload(n).to_string(), &[]) {
            Ok(a) => a,
            Err(d) => return d,
        };
        if answer.status == 429 {
            // The JSON body's `retry_after` (seconds, fractional) is more precise than the
            // header, which Discord rounds up to whole seconds.
            let precise = serde_json::from_str::<Value>(&answer.body)
                .ok()
                .and_then(|v| v.get("retry_after")?.as_f64())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64);
            return Delivery::Retry {
                after: precise.or(answer.retry_after),
                reason: format!("HTTP 429: {}", truncate(&answer.body, 300)),
            };
        }
        // 404 Unknown Webhook, 401 Invalid Webhook Token: the hook was deleted.
        classify(answer, &[401, 404])
    }
}

impl Channel for Discord {
    fn kind(&self) -> &'static str {
        "discord"
    }

    fn min_interval(&self) -> Duration {
        // A channel's webhooks share about 30 messages a minute.
        Duration::from_secs(2)
    }

    fn send(&self, batch: &[Notification]) -> Delivery {
        crate::one_by_one(batch, |n| self.send_one(n))
    }
}

/// The message for one notification.
pub fn payload(n: &Notification) -> Value {
    // Discord's limits: content 2000, title 256, description 4096, field value 1024.
    let mut fields: Vec<Value> = facts(n)
        .into_iter()
        .map(|(k, v)| json!({"name": k, "value": truncate(&v, 1024), "inline": true}))
        .collect();
    if let Some(rb) = &n.runbook {
        let mut value = match &rb.url {
            Some(url) => format!("[{}]({url})", rb.title),
            None => rb.title.clone(),
        };
        if let Some(t) = rb.text.as_deref().filter(|t| !t.trim().is_empty()) {
            value.push('\n');
            value.push_str(t);
        }
        fields.push(json!({"name": "Runbook", "value": truncate(&value, 1024), "inline": false}));
    }
    let links: Vec<String> = [
        (n.incident_url.as_deref(), "Open incident"),
        (n.ack_url.as_deref(), "Acknowledge"),
    ]
    .into_iter()
    .filter_map(|(url, label)| url.map(|u| format!("[{label}]({u})")))
    .collect();
    if !links.is_empty() {
        fields.push(
            json!({"name": "Links", "value": truncate(&links.join(" · "), 1024), "inline": false}),
        );
    }
    let mut embed = json!({
        "title": truncate(&n.title, 256),
        "description": truncate(&n.summary, 4096),
        "color": colour_int(n.severity),
        "fields": fields,
        "timestamp": rfc3339(n.triggered_ms),
        "footer": {"text": format!("lookout · incident {}", n.incident_id)},
    });
    if let Some(url) = &n.incident_url {
        embed["url"] = json!(url);
    }
    json!({
        "content": truncate(&format!("**[{}] {}**: {}", tag(n), event_label(&n.event), n.title), 2000),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}
