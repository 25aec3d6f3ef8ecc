//! The incident engine: signals and measures in, incidents, notifications, escalations
//! and auto-resolutions out.
//!
//! Incidents are keyed by rule and subject, so a storm stays one incident whose count
//! grows. An incident is triggered, then acknowledged, then resolved (by a person, by a
//! monitor coming back, by a measure staying under its threshold, or by quiet time for
//! event rules). Until it is acknowledged, the severity's policy escalates it through the
//! route and sends reminders. Silences and flapping hold notifications without hiding
//! the incident. Every decision is returned as an [`Action`]; the state is plain data the
//! server stores and gives back to [`Engine::restore`] after a restart.
//!
//! The parts: `timers` (triggering, escalation, reminders, auto-resolution, silences),
//! `matching` (which signals and measures concern which rules) and `wording` (titles
//! and summaries for people).

mod matching;
mod timers;
mod wording;

use std::collections::{BTreeMap, HashMap};

pub use super::action::Action;
pub use super::incident::{IncidentKey, IncidentState, IncidentStatus, Resolution, Subject};
pub use super::notify::NotifyEvent;
pub use super::silence::{Silence, SilenceTarget};
pub use super::timeline::Note;

use super::duration::HOUR_MS;
use super::policy::Policies;
use super::rule::Rule;
use super::Severity;
use crate::signal::{Signal, SignalKind};
use matching::{in_scope, measures, opened_by, resolved_by};
use timers::{
    active_silence, due_to_close, escalate_or_remind, escalation_due, reminder_due, timeline,
    trigger,
};
use wording::{silenced, summary, title};

/// Openings of one key within this span count towards flapping.
const FLAP_WINDOW_MS: i64 = HOUR_MS;
/// Openings within [`FLAP_WINDOW_MS`] that make a key flapping.
const FLAP_OPENINGS: usize = 3;
/// How long a flapping key must go without opening again before it notifies.
const FLAP_QUIET_MS: i64 = HOUR_MS;

/// The incident engine. See the module documentation.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Vec<Rule>,
    by_name: HashMap<String, usize>,
    policies: Policies,
    // Ordered maps, so that every call returns its actions in the same order.
    open: BTreeMap<IncidentKey, IncidentState>,
    opens: BTreeMap<IncidentKey, Vec<i64>>,
    silences: Vec<Silence>,
    monitor_names: HashMap<i64, String>,
}

impl Engine {
    /// An engine for these rules and policies; fails on an invalid rule or policy, or
    /// two rules with one name.
    pub fn new(rules: Vec<Rule>, policies: Policies) -> Result<Engine, String> {
        for s in Severity::ALL {
            policies
                .get(s)
                .validate()
                .map_err(|e| format!("the {} policy: {e}", s.as_str()))?;
        }
        let mut by_name = HashMap::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            r.validate()?;
            if by_name.insert(r.name.clone(), i).is_some() {
                return Err(format!(
                    "two rules are named \"{}\"; names must be unique because incidents are \
                     keyed by them",
                    r.name
                ));
            }
        }
        Ok(Engine {
            rules,
            by_name,
            policies,
            open: BTreeMap::new(),
            opens: BTreeMap::new(),
            silences: Vec::new(),
            monitor_names: HashMap::new(),
        })
    }

    /// The rules, in configuration order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Adds a rule at run time (one created through the API); fails on an invalid rule
    /// or a name in use.
    pub fn add_rule(&mut self, rule: Rule) -> Result<(), String> {
        rule.validate()?;
        if self.by_name.contains_key(&rule.name) {
            return Err(format!("a rule named \"{}\" already exists", rule.name));
        }
        self.by_name.insert(rule.name.clone(), self.rules.len());
        self.rules.push(rule);
        Ok(())
    }

    /// Removes a rule; its open incidents resolve at the next [`Engine::tick`]. `false`
    /// when no rule has that name.
    pub fn remove_rule(&mut self, name: &str) -> bool {
        let Some(i) = self.by_name.remove(name) else {
            return false;
        };
        self.rules.remove(i);
        self.by_name = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        true
    }

    /// The rule with this name.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.by_name.get(name).map(|&i| &self.rules[i])
    }

    /// Names used in titles instead of "monitor 7".
    pub fn set_monitor_names(&mut self, names: HashMap<i64, String>) {
        self.monitor_names = names;
    }

    /// Names one monitor (a monitor defined or renamed), or forgets it (`None`: deleted).
    pub fn set_monitor_name(&mut self, id: i64, name: Option<String>) {
        match name {
            Some(n) => self.monitor_names.insert(id, n),
            None => self.monitor_names.remove(&id),
        };
    }

    /// A monitor's name, if known.
    pub fn monitor_name(&self, id: i64) -> Option<&str> {
        self.monitor_names.get(&id).map(String::as_str)
    }

    /// Takes back the open incidents stored before a restart. Their timers continue
    /// from the stored times; incidents of rules no longer configured resolve at the
    /// next [`Engine::tick`].
    pub fn restore(&mut self, open: Vec<IncidentState>) {
        for st in open {
            self.opens
                .insert(st.key.clone(), st.recent_opens_ms.clone());
            self.open.insert(st.key.clone(), st);
        }
    }

    /// Replaces every open incident with `open`: after a decision could not be recorded,
    /// the store's view is the truth again.
    pub fn reset_open(&mut self, open: Vec<IncidentState>) {
        self.open.clear();
        self.restore(open);
    }

    /// The open incidents, ordered by key.
    pub fn open_incidents(&self) -> impl Iterator<Item = &IncidentState> {
        self.open.values()
    }

    /// The open incident with this key.
    pub fn incident(&self, key: &IncidentKey) -> Option<&IncidentState> {
        self.open.get(key)
    }

    /// Evaluates a recorded signal against every rule.
    pub fn on_signal(&mut self, now_ms: i64, signal: &Signal) -> Vec<Action> {
        let mut out = Vec::new();
        match signal.kind {
            SignalKind::NewIssue | SignalKind::Regression | SignalKind::Unhandled => {
                let Some(issue) = signal.issue_id else {
                    return out;
                };
                self.occur(now_ms, Subject::Issue(issue), signal, &mut out);
            }
            SignalKind::DeployBad => {
                let Some(p) = signal.project_id else {
                    return out;
                };
                self.occur(now_ms, Subject::Project(p), signal, &mut out);
            }
            SignalKind::MonitorUp | SignalKind::MonitorUndegraded => {
                let Some(m) = signal.monitor_id else {
                    return out;
                };
                let detail = match signal.detail.as_deref().filter(|d| !d.is_empty()) {
                    Some(d) => d.to_string(),
                    None if signal.kind == SignalKind::MonitorUp => {
                        "the monitor is up again".to_string()
                    }
                    None => "the monitor is no longer degraded".to_string(),
                };
                let reason = Resolution::Recovered { detail };
                for i in 0..self.rules.len() {
                    if resolved_by(&self.rules[i].condition, signal.kind) {
                        let key = IncidentKey::new(&self.rules[i].name, Subject::Monitor(m));
                        self.close(now_ms, &key, reason.clone(), &mut out);
                    }
                }
            }
            SignalKind::MonitorDown
            | SignalKind::MonitorDegraded
            | SignalKind::TlsExpiring
            | SignalKind::HeartbeatMissed
            | SignalKind::HeartbeatFailed
            | SignalKind::CrashLoop => {
                let Some(m) = signal.monitor_id else {
                    return out;
                };
                self.occur(now_ms, Subject::Monitor(m), signal, &mut out);
            }
        }
        out
    }

    /// Evaluates a windowed measure (errors in the window, p95, a health field, a burn
    /// rate) of `subject` against the named rule's threshold. Measures for unknown
    /// rules, signal rules, the wrong kind of subject or subjects out of the rule's
    /// scope are ignored.
    pub fn on_measure(
        &mut self,
        now_ms: i64,
        rule: &str,
        subject: Subject,
        value: f64,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(&i) = self.by_name.get(rule) else {
            return out;
        };
        let r = &self.rules[i];
        let Some(breached) = r.condition.compare(value) else {
            return out;
        };
        let project = match subject {
            Subject::Project(p) => Some(p),
            _ => None,
        };
        if !value.is_finite() || !measures(&r.condition, subject) || !in_scope(r, subject, project)
        {
            return out;
        }
        let (rising, clear_after) = (r.condition.rising(), r.clear_after_ms);
        let key = IncidentKey::new(rule, subject);
        match self.open.get_mut(&key) {
            Some(st) => {
                st.value = Some(value);
                if breached {
                    st.count += 1;
                    st.last_seen_ms = now_ms;
                    st.below_since_ms = None;
                    st.worst = Some(match st.worst {
                        Some(w) if rising => w.max(value),
                        Some(w) => w.min(value),
                        None => value,
                    });
                    out.push(Action::Updated {
                        key,
                        count: st.count,
                    });
                } else {
                    let since = *st.below_since_ms.get_or_insert(now_ms);
                    if now_ms - since >= clear_after {
                        let reason = Resolution::Cleared {
                            clear_after_ms: clear_after,
                        };
                        self.close(now_ms, &key, reason, &mut out);
                    }
                }
            }
            None if breached => {
                let draft = Draft {
                    project_id: project,
                    detail: None,
                    event_id: None,
                    value: Some(value),
                };
                self.open_incident(now_ms, i, key, draft, &mut out);
            }
            None => {}
        }
        out
    }

    /// Someone is on it: stops escalation and reminders. Nothing happens if the
    /// incident is not open or already acknowledged.
    pub fn acknowledge(&mut self, now_ms: i64, key: &IncidentKey, by: &str) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(st) = self.open.get_mut(key) else {
            return out;
        };
        if st.status == IncidentStatus::Acknowledged {
            return out;
        }
        st.status = IncidentStatus::Acknowledged;
        st.acked_by = Some(by.to_string());
        st.acked_ms = Some(now_ms);
        out.push(timeline(
            key,
            now_ms,
            Note::Acknowledged { by: by.to_string() },
        ));
        if !st.held(now_ms) && !st.notified.is_empty() {
            out.push(Action::Notify {
                key: key.clone(),
                event: NotifyEvent::Acknowledged { by: by.to_string() },
                channels: st.notified.clone(),
            });
        }
        out
    }

    /// Resolves an incident by hand (`by` a person) or from outside the engine.
    pub fn resolve(&mut self, now_ms: i64, key: &IncidentKey, by: Option<&str>) -> Vec<Action> {
        let mut out = Vec::new();
        let reason = Resolution::ByHand {
            by: by.map(str::to_string),
        };
        self.close(now_ms, key, reason, &mut out);
        out
    }

    /// Replaces the silences and applies them at once: incidents they cover hold their
    /// notifications, incidents they no longer cover release them. Returns what
    /// [`Engine::tick`] returns at `now_ms`.
    pub fn set_silences(&mut self, now_ms: i64, silences: Vec<Silence>) -> Vec<Action> {
        self.silences = silences;
        self.tick(now_ms)
    }

    /// Runs the timers due at `now_ms`: auto-resolution, silence and flapping expiry,
    /// escalations and reminders. A late tick catches up with one escalation or one
    /// reminder per incident, never a burst.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Action> {
        let mut out = Vec::new();
        self.silences.retain(|s| s.until_ms > now_ms);
        self.opens.retain(|_, v| {
            v.retain(|t| now_ms - t < FLAP_WINDOW_MS);
            !v.is_empty()
        });
        let mut closing = Vec::new();
        for (key, st) in &mut self.open {
            let Some(&i) = self.by_name.get(&key.rule) else {
                closing.push((key.clone(), Resolution::RuleRemoved));
                continue;
            };
            let rule = &self.rules[i];
            if let Some(reason) = due_to_close(rule, st, now_ms) {
                closing.push((key.clone(), reason));
                continue;
            }
            let policy = self.policies.get(st.severity);
            let was_held = st.silenced_until_ms.is_some() || st.flapping_until_ms.is_some();
            match active_silence(&self.silences, st, now_ms) {
                Some(s) => {
                    if st.silenced_until_ms.is_none() {
                        out.push(timeline(key, now_ms, silenced(s, &self.monitor_names)));
                    }
                    st.silenced_until_ms = Some(s.until_ms);
                }
                None => st.silenced_until_ms = None,
            }
            if st.flapping_until_ms.is_some_and(|t| t <= now_ms) {
                st.flapping_until_ms = None;
            }
            if st.held(now_ms) {
                continue;
            }
            if was_held {
                out.push(timeline(key, now_ms, Note::Released));
            }
            if st.status == IncidentStatus::Acknowledged {
                continue;
            }
            if st.triggered_ms.is_none() {
                trigger(st, rule, policy, now_ms, &mut out);
            } else if was_held {
                // Timers do not run while held: restart them from the release.
                st.step_since_ms = Some(now_ms);
                st.last_notified_ms = Some(now_ms);
            } else {
                escalate_or_remind(st, rule, policy, now_ms, &mut out);
            }
        }
        for (key, reason) in closing {
            self.close(now_ms, &key, reason, &mut out);
        }
        out
    }

    /// When [`Engine::tick`] next has something to do, if ever.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.open.values().filter_map(|st| self.deadline(st)).min()
    }

    fn deadline(&self, st: &IncidentState) -> Option<i64> {
        let Some(rule) = self.rule(&st.key.rule) else {
            // Orphaned by a configuration change: resolve at the next tick.
            return Some(st.opened_ms);
        };
        let mut next: Option<i64> = None;
        let mut at = |t: Option<i64>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if rule.condition.is_measured() {
            at(st
                .below_since_ms
                .map(|b| b.saturating_add(rule.clear_after_ms)));
        }
        if rule.condition.is_event() {
            at(rule
                .resolve_after_ms
                .map(|d| st.last_seen_ms.saturating_add(d)));
        }
        at(st.silenced_until_ms);
        at(st.flapping_until_ms);
        let held = st.silenced_until_ms.is_some() || st.flapping_until_ms.is_some();
        if !held && st.status == IncidentStatus::Triggered {
            let policy = self.policies.get(st.severity);
            match st.triggered_ms {
                None => at(Some(st.opened_ms)),
                Some(_) => {
                    at(escalation_due(st, policy));
                    at(reminder_due(st, policy));
                }
            }
        }
        next
    }

    /// Counts an issue, monitor or deploy signal against every rule it concerns: a further
    /// occurrence of an open incident, or a new incident.
    fn occur(&mut self, now_ms: i64, subject: Subject, signal: &Signal, out: &mut Vec<Action>) {
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            let fits = match subject {
                Subject::Issue(_) => rule.condition.is_issue(),
                _ => opened_by(&rule.condition, signal),
            };
            if !fits || !in_scope(rule, subject, signal.project_id) {
                continue;
            }
            let key = IncidentKey::new(&rule.name, subject);
            if let Some(st) = self.open.get_mut(&key) {
                // The ingest batch emits new_issue and unhandled for one event: one
                // occurrence, not two.
                if signal.event_id.is_some() && st.last_event_id == signal.event_id {
                    continue;
                }
                st.count += 1;
                st.last_seen_ms = now_ms;
                st.last_event_id.clone_from(&signal.event_id);
                out.push(Action::Updated {
                    key,
                    count: st.count,
                });
            } else if opened_by(&rule.condition, signal) {
                let draft = Draft {
                    project_id: signal.project_id,
                    detail: signal.detail.as_deref(),
                    event_id: signal.event_id.clone(),
                    value: None,
                };
                self.open_incident(now_ms, i, key, draft, out);
            }
        }
    }

    fn open_incident(
        &mut self,
        now_ms: i64,
        rule_index: usize,
        key: IncidentKey,
        draft: Draft<'_>,
        out: &mut Vec<Action>,
    ) {
        let rule = &self.rules[rule_index];
        let opens = self.opens.entry(key.clone()).or_default();
        opens.retain(|t| now_ms - t < FLAP_WINDOW_MS);
        opens.push(now_ms);
        let recent_opens_ms = opens.clone();
        let title = title(rule, key.subject, &draft, &self.monitor_names);
        let summary = summary(rule, key.subject, draft.project_id, &self.monitor_names);
        let mut st = IncidentState {
            key: key.clone(),
            severity: rule.severity,
            status: IncidentStatus::Triggered,
            title: title.clone(),
            summary: summary.clone(),
            project_id: draft.project_id,
            opened_ms: now_ms,
            acked_by: None,
            acked_ms: None,
            count: 1,
            value: draft.value,
            worst: draft.value,
            last_seen_ms: now_ms,
            last_event_id: draft.event_id,
            below_since_ms: None,
            triggered_ms: None,
            step: 0,
            step_since_ms: None,
            last_notified_ms: None,
            notified: Vec::new(),
            silenced_until_ms: None,
            flapping_until_ms: None,
            recent_opens_ms,
        };
        out.push(Action::Opened {
            key: key.clone(),
            severity: rule.severity,
            title,
            summary,
            count: 1,
            at_ms: now_ms,
        });
        if st.recent_opens_ms.len() >= FLAP_OPENINGS {
            st.flapping_until_ms = Some(now_ms + FLAP_QUIET_MS);
            out.push(timeline(
                &key,
                now_ms,
                Note::Flapping {
                    opens: st.recent_opens_ms.len(),
                    window_ms: FLAP_WINDOW_MS,
                    quiet_ms: FLAP_QUIET_MS,
                },
            ));
        }
        if let Some(s) = active_silence(&self.silences, &st, now_ms) {
            st.silenced_until_ms = Some(s.until_ms);
            out.push(timeline(&key, now_ms, silenced(s, &self.monitor_names)));
        }
        if !st.held(now_ms) {
            trigger(&mut st, rule, self.policies.get(rule.severity), now_ms, out);
        }
        self.open.insert(key, st);
    }

    fn close(&mut self, now_ms: i64, key: &IncidentKey, reason: Resolution, out: &mut Vec<Action>) {
        let Some(st) = self.open.remove(key) else {
            return;
        };
        let by = reason.by().map(str::to_string);
        out.push(Action::Resolved {
            key: key.clone(),
            at_ms: now_ms,
            reason,
        });
        if !st.held(now_ms) && !st.notified.is_empty() {
            out.push(Action::Notify {
                key: key.clone(),
                event: NotifyEvent::Resolved { by },
                channels: st.notified,
            });
        }
    }
}

/// What the opening signal or measure knows about a new incident.
struct Draft<'a> {
    project_id: Option<i64>,
    detail: Option<&'a str>,
    event_id: Option<String>,
    value: Option<f64>,
}
