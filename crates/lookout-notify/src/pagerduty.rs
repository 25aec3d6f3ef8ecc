//! PagerDuty Events API v2. Every event of an incident carries the incident's stable
//! `dedup_key`, so PagerDuty keeps one alert per lookout incident: triggers (first, escalated,
//! reminder) fold into it, and an acknowledge or resolve closes the one it opened.

use std::time::Duration;

use lookout_core::alert::Severity;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::http::{classify, Poster};
use crate::text::{event_label, human_time, rfc3339, truncate};
use crate::{Channel, Delivery, Notification, NotifyEvent, SecretUrl};

/// Where events go unless `url` says otherwise (EU accounts use events.eu.pagerduty.com).
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// `kind = "pagerduty"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The integration key of an Events API v2 integration on the service; a secret.
    #[serde(serialize_with = "crate::secret::expose")]
    pub routing_key: SecretString,
    /// The events endpoint (default <https://events.pagerduty.com/v2/enqueue>).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<SecretUrl>,
    /// How long one delivery may take (default 10s).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

impl PagerDutyConfig {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let key = self.routing_key.expose_secret();
        if key.is_empty() || key.chars().any(char::is_whitespace) {
            return Err((
                "routing_key",
                "must be the integration key of an Events API v2 integration (32 characters, on the service's Integrations tab)"
                    .into(),
            ));
        }
        if let Some(url) = &self.url {
            url.validate().map_err(|m| ("url", m))?;
        }
        crate::config::validate_timeout(self.timeout)
    }
}

/// Sends events to PagerDuty.
pub struct PagerDuty {
    http: Poster,
    routing_key: SecretString,
}

impl PagerDuty {
    /// A channel for `config`.
    pub fn new(config: &PagerDutyConfig) -> Self {
        let url = config
            .url
            .clone()
            .unwrap_or_else(|| SecretUrl::new(DEFAULT_URL));
        PagerDuty {
            http: Poster::new(&url, config.timeout),
            routing_key: config.routing_key.clone(),
        }
    }

    fn send_one(&self, n: &Notification) -> Delivery {
        match self
            .http
            .post_json(&event(self.routing_key.expose_secret(), n).to_string(), &[])
        {
            Ok(a) => classify(a, &[]),
            Err(d) => d,
        }
    }
}

impl Channel for PagerDuty {
    fn kind(&self) -> &'static str {
        "pagerduty"
    }

    fn send(&self, batch: &[Notification]) -> Delivery {
        crate::one_by_one(batch, |n| self.send_one(n))
    }
}

/// PagerDuty's severity for ours.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "info",
    }
}

/// The event for one notification.
pub fn event(routing_key: &str, n: &Notification) -> Value {
    let action = match n.event {
        NotifyEvent::Acknowledged { .. } => "acknowledge",
        NotifyEvent::Resolved { .. } => "resolve",
        NotifyEvent::Triggered
        | NotifyEvent::Escalated { .. }
        | NotifyEvent::Reminder
        | NotifyEvent::Test => "trigger",
    };
    let mut links = Vec::new();
    if let Some(url) = &n.incident_url {
        links.push(json!({"href": url, "text": "Open incident in lookout"}));
    }
    if let Some(rb) = &n.runbook {
        if let Some(url) = &rb.url {
            links.push(json!({"href": url, "text": format!("Runbook: {}", rb.title)}));
        }
    }
    let mut details = json!({
        "event": event_label(&n.event),
        "summary": n.summary,
        "subject": n.subject,
        "rule": n.rule,
        "count": n.count,
        "started": human_time(n.triggered_ms),
        "incident_id": n.incident_id,
    });
    if let Some(url) = &n.ack_url {
        details["acknowledge_in_lookout"] = json!(url);
    }
    if let Some(rb) = &n.runbook {
        details["runbook"] = json!(rb);
    }
    let mut ev = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": n.dedup_key,
        "payload": {
            "summary": truncate(&n.title, 1024),
            "source": "lookout",
            "severity": severity(n.severity),
            "timestamp": rfc3339(n.triggered_ms),
            "component": n.subject,
            "class": n.rule,
            "custom_details": details,
        },
        "links": links,
        "client": "lookout",
    });
    if let Some(url) = &n.incident_url {
        ev["client_url"] = json!(url);
    }
    ev
}
