//! Microsoft Teams through a Workflows ("Post to a channel when a webhook request is
//! received") webhook: a message with one Adaptive Card 1.4, the version Teams renders.

use lookout_core::alert::Severity;
use serde_json::{json, Value};

use crate::http::{classify, Poster};
use crate::text::{event_label, facts, tag, truncate};
use crate::{Channel, Delivery, Notification};

/// A Teams workflow's HTTP trigger.
pub type TeamsConfig = crate::HookConfig;

/// Posts Adaptive Cards to a Teams workflow.
pub struct Teams {
    http: Poster,
}

impl Teams {
    /// A channel for `config`.
    pub fn new(config: &TeamsConfig) -> Self {
        Teams {
            http: Poster::new(&config.webhook_url, config.timeout),
        }
    }

    fn send_one(&self, n: &Notification) -> Delivery {
        let answer = match self.http.post_json(&payload(n).to_string(), &[]) {
            Ok(a) => a,
            Err(d) => return d,
        };
        // The retired Office 365 connectors answer 200 and put Teams' own failure in the
        // body; a URL that still points at one would otherwise count as delivered.
        if answer.status == 200 && answer.body.contains("returned HTTP error 429") {
            return Delivery::Retry {
                after: answer.retry_after,
                reason: format!("HTTP 200: {}", truncate(&answer.body, 300)),
            };
        }
        classify(answer, &[404])
    }
}

impl Channel for Teams {
    fn kind(&self) -> &'static str {
        "teams"
    }

    fn send(&self, batch: &[Notification]) -> Delivery {
        crate::one_by_one(batch, |n| self.send_one(n))
    }
}

/// The message for one notification.
pub fn payload(n: &Notification) -> Value {
    // Adaptive Cards have no free colours: the nearest named one.
    let colour = match n.severity {
        Severity::Critical | Severity::High => "Attention",
        Severity::Medium => "Warning",
        Severity::Low => "Default",
    };
    let mut body = vec![
        json!({"type": "TextBlock", "text": format!("{} · {}", tag(n), event_label(&n.event)),
               "weight": "Bolder", "color": colour, "size": "Small", "wrap": true}),
        json!({"type": "TextBlock", "text": truncate(&n.title, 500),
               "weight": "Bolder", "size": "Large", "wrap": true}),
        json!({"type": "TextBlock", "text": truncate(&n.summary, 3000), "wrap": true}),
        json!({"type": "FactSet", "facts": facts(n).into_iter()
               .map(|(k, v)| json!({"title": k, "value": v})).collect::<Vec<_>>()}),
    ];
    if let Some(rb) = &n.runbook {
        body.push(
            json!({"type": "TextBlock", "text": format!("Runbook: {}", rb.title),
                         "weight": "Bolder", "wrap": true, "spacing": "Medium"}),
        );
        if let Some(t) = rb.text.as_deref().filter(|t| !t.trim().is_empty()) {
            body.push(json!({"type": "TextBlock", "text": truncate(t, 2000), "wrap": true, "isSubtle": true}));
        }
    }
    let actions: Vec<Value> = [
        (n.incident_url.as_deref(), "Open incident".to_string()),
        (
            n.runbook.as_ref().and_then(|r| r.url.as_deref()),
            "Runbook".to_string(),
        ),
        (n.ack_url.as_deref(), "Acknowledge".to_string()),
    ]
    .into_iter()
    .filter_map(|(url, title)| {
        url.map(|u| json!({"type": "Action.OpenUrl", "title": title, "url": u}))
    })
    .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
                "msteams": {"width": "Full"},
            },
        }],
    })
}
