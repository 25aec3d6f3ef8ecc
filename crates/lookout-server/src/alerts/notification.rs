//! What a queued notification says: the incident, its subject by name, its runbook.
//! Stored with the message; its ids and links are filled in when it is sent.

use lookout_core::alert::engine::{Engine, IncidentState, NotifyEvent, Subject};
use lookout_notify::{Notification, Runbook};
use lookout_store::IncidentRef;

use super::Alerts;

/// Runbook lines a notification quotes.
const RUNBOOK_LINES: usize = 6;

impl Alerts {
    /// The notification of `event` about an incident, as stored with its queued message.
    pub(super) fn payload(
        &self,
        engine: &Engine,
        state: &IncidentState,
        event: &NotifyEvent,
        r: IncidentRef,
    ) -> serde_json::Value {
        let incident_id = match r {
            IncidentRef::Id(id) => id,
            IncidentRef::New(_) => 0,
        };
        let runbook = self.runbooks.get(&state.key.rule).map(|rb| Runbook {
            title: rb.title.clone(),
            url: None,
            text: Some(
                rb.text
                    .lines()
                    .skip(1)
                    .filter(|l| !l.trim().is_empty())
                    .take(RUNBOOK_LINES)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        });
        let n = Notification {
            id: String::new(),
            event: event.clone(),
            incident_id,
            dedup_key: String::new(),
            severity: state.severity,
            title: state.title.clone(),
            summary: state.summary.clone(),
            rule: state.key.rule.clone(),
            subject: self.subject_label(engine, &state.key.subject),
            count: state.count,
            triggered_ms: state.opened_ms,
            incident_url: None,
            ack_url: None,
            runbook,
        };
        serde_json::to_value(n).unwrap_or_default()
    }

    /// "project web", "monitor Homepage", "issue 12": names where they are known.
    fn subject_label(&self, engine: &Engine, s: &Subject) -> String {
        match s {
            Subject::Project(id) => match self.projects.get(*id) {
                Some(p) => format!("project {}", p.project.slug),
                None => format!("project {id}"),
            },
            Subject::Monitor(id) => match engine.monitor_name(*id) {
                Some(n) => format!("monitor {n}"),
                None => format!("monitor {id}"),
            },
            Subject::Issue(id) => format!("issue {id}"),
        }
    }
}
