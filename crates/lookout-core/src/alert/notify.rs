//! Notifications: what channels are told about an incident, and where a queued message
//! is in its delivery.

use serde::{Deserialize, Serialize};

use crate::stable::stable_names;

/// Why channels are being told something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotifyEvent {
    /// The incident opened (or its held notification was released).
    Triggered,
    /// Nobody acknowledged in time; `step` is the route step now notified.
    Escalated {
        /// The step reached, from 1.
        step: u32,
    },
    /// Still unacknowledged.
    Reminder,
    /// Someone is on it.
    Acknowledged {
        /// Who.
        by: String,
    },
    /// It is over.
    Resolved {
        /// Who resolved it; `None` when it resolved itself.
        by: Option<String>,
    },
    /// A test sent by hand (`lookout notify test`); the engine never sends one.
    Test,
}

impl NotifyEvent {
    /// Which kind of notification, as stored with a queued message (and named in webhook
    /// types, `incident.<kind>`).
    pub fn kind(&self) -> NotifyKind {
        match self {
            NotifyEvent::Triggered => NotifyKind::Triggered,
            NotifyEvent::Escalated { .. } => NotifyKind::Escalated,
            NotifyEvent::Reminder => NotifyKind::Reminder,
            NotifyEvent::Acknowledged { .. } => NotifyKind::Acknowledged,
            NotifyEvent::Resolved { .. } => NotifyKind::Resolved,
            NotifyEvent::Test => NotifyKind::Test,
        }
    }
}

stable_names! {
    /// The kinds of notification.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum NotifyKind ("notification kind") {
        /// The incident opened.
        Triggered = "triggered",
        /// The next route step was told.
        Escalated = "escalated",
        /// Still unacknowledged.
        Reminder = "reminder",
        /// Someone is on it.
        Acknowledged = "acknowledged",
        /// It is over.
        Resolved = "resolved",
        /// Sent by hand to try a channel.
        Test = "test",
    }
}

stable_names! {
    /// Where a queued notification is in its delivery.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum OutboxStatus ("outbox status") {
        /// Waiting for its next attempt.
        Pending = "pending",
        /// Delivered.
        Sent = "sent",
        /// Given up on.
        Failed = "failed",
        /// Not sent because its channel is broken (the receiver said the hook is gone).
        Broken = "broken",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_match_the_serialized_event_types() {
        let events = [
            NotifyEvent::Triggered,
            NotifyEvent::Escalated { step: 1 },
            NotifyEvent::Reminder,
            NotifyEvent::Acknowledged { by: "a".into() },
            NotifyEvent::Resolved { by: None },
            NotifyEvent::Test,
        ];
        for e in events {
            assert_eq!(serde_json::to_value(&e).unwrap()["type"], e.kind().as_str());
        }
        for s in OutboxStatus::ALL {
            assert_eq!(s.as_str().parse::<OutboxStatus>().unwrap(), *s);
        }
    }
}
