//! The engine's clocks: triggering (who hears first), escalation and reminders while
//! nobody acknowledges, auto-resolution, and the silence covering an incident.

use super::{
    Action, IncidentKey, IncidentState, Note, NotifyEvent, Resolution, Silence, SilenceTarget,
    Subject,
};
use crate::alert::policy::SeverityPolicy;
use crate::alert::rule::Rule;

pub(super) fn trigger(
    st: &mut IncidentState,
    rule: &Rule,
    policy: &SeverityPolicy,
    now_ms: i64,
    out: &mut Vec<Action>,
) {
    st.triggered_ms = Some(now_ms);
    st.step_since_ms = Some(now_ms);
    st.last_notified_ms = Some(now_ms);
    let channels = policy.channels(&rule.notify, st.step).to_vec();
    if channels.is_empty() {
        out.push(timeline(
            &st.key,
            now_ms,
            Note::NobodyNotified {
                severity: st.severity,
            },
        ));
    }
    send(st, NotifyEvent::Triggered, channels, out);
}

pub(super) fn escalate_or_remind(
    st: &mut IncidentState,
    rule: &Rule,
    policy: &SeverityPolicy,
    now_ms: i64,
    out: &mut Vec<Action>,
) {
    if escalation_due(st, policy).is_some_and(|t| t <= now_ms) {
        st.step += 1;
        st.step_since_ms = Some(now_ms);
        st.last_notified_ms = Some(now_ms);
        let channels = policy.channels(&rule.notify, st.step).to_vec();
        out.push(timeline(
            &st.key,
            now_ms,
            Note::Escalated {
                step: st.step,
                channels: channels.clone(),
            },
        ));
        send(st, NotifyEvent::Escalated { step: st.step }, channels, out);
    } else if reminder_due(st, policy).is_some_and(|t| t <= now_ms) {
        st.last_notified_ms = Some(now_ms);
        let channels = policy.channels(&rule.notify, st.step).to_vec();
        send(st, NotifyEvent::Reminder, channels, out);
    }
}

pub(super) fn escalation_due(st: &IncidentState, policy: &SeverityPolicy) -> Option<i64> {
    if st.step >= policy.max_escalations {
        return None;
    }
    Some(st.step_since_ms?.saturating_add(policy.ack_within_ms?))
}

pub(super) fn reminder_due(st: &IncidentState, policy: &SeverityPolicy) -> Option<i64> {
    Some(st.last_notified_ms?.saturating_add(policy.renotify_ms?))
}

/// Records the channels as notified and emits the notification, if anyone is to hear it.
fn send(st: &mut IncidentState, event: NotifyEvent, channels: Vec<String>, out: &mut Vec<Action>) {
    if channels.is_empty() {
        return;
    }
    for c in &channels {
        if !st.notified.contains(c) {
            st.notified.push(c.clone());
        }
    }
    out.push(Action::Notify {
        key: st.key.clone(),
        event,
        channels,
    });
}

pub(super) fn timeline(key: &IncidentKey, at_ms: i64, entry: Note) -> Action {
    Action::Timeline {
        key: key.clone(),
        at_ms,
        entry,
    }
}

pub(super) fn due_to_close(rule: &Rule, st: &IncidentState, now_ms: i64) -> Option<Resolution> {
    if rule.condition.is_measured()
        && st
            .below_since_ms
            .is_some_and(|b| now_ms - b >= rule.clear_after_ms)
    {
        return Some(Resolution::Cleared {
            clear_after_ms: rule.clear_after_ms,
        });
    }
    if rule.condition.is_event() {
        if let Some(d) = rule.resolve_after_ms {
            if now_ms - st.last_seen_ms >= d {
                return Some(Resolution::Quiet {
                    resolve_after_ms: d,
                });
            }
        }
    }
    None
}

/// The longest-running silence covering the incident at `now_ms`.
pub(super) fn active_silence<'a>(
    silences: &'a [Silence],
    st: &IncidentState,
    now_ms: i64,
) -> Option<&'a Silence> {
    silences
        .iter()
        .filter(|s| s.until_ms > now_ms)
        .filter(|s| match &s.target {
            SilenceTarget::Rule(r) => st.key.rule == *r,
            SilenceTarget::Monitor(m) => st.key.subject == Subject::Monitor(*m),
            SilenceTarget::Project(p) => st.project_id == Some(*p),
        })
        .max_by_key(|s| s.until_ms)
}
