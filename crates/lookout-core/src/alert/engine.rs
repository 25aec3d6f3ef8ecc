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

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::policy::{Policies, SeverityPolicy};
use super::rule::{format_duration, Condition, Rule};
use super::Severity;
use crate::signal::{Signal, SignalKind};

const HOUR_MS: i64 = 3_600_000;
/// Openings of one key within this span count towards flapping.
const FLAP_WINDOW_MS: i64 = HOUR_MS;
/// Openings within [`FLAP_WINDOW_MS`] that make a key flapping.
const FLAP_OPENINGS: usize = 3;
/// How long a flapping key must go without opening again before it notifies.
const FLAP_QUIET_MS: i64 = HOUR_MS;

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Subject {
    /// A project (error counts, latency).
    Project(i64),
    /// An issue (new issue, regression, unhandled).
    Issue(i64),
    /// A monitor (down, degraded, heartbeat, TLS, health).
    Monitor(i64),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Project(p) => write!(f, "project {p}"),
            Subject::Issue(i) => write!(f, "issue #{i}"),
            Subject::Monitor(m) => write!(f, "monitor {m}"),
        }
    }
}

/// Identifies an incident: at most one is open per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IncidentKey {
    /// The rule's name.
    pub rule: String,
    /// What it is about.
    pub subject: Subject,
}

impl IncidentKey {
    /// The key of `rule`'s incident about `subject`.
    pub fn new(rule: impl Into<String>, subject: Subject) -> IncidentKey {
        IncidentKey {
            rule: rule.into(),
            subject,
        }
    }
}

/// Where an open incident is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// Open and nobody has said they are on it: escalates and reminds.
    Triggered,
    /// Someone is on it: no more escalations or reminders.
    Acknowledged,
}

/// An open incident, as the server stores it and hands back to [`Engine::restore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentState {
    /// Rule and subject.
    pub key: IncidentKey,
    /// The rule's severity when it opened.
    pub severity: Severity,
    /// Triggered or acknowledged.
    pub status: IncidentStatus,
    /// One line for people ("Error spike: 51 errors in 5m").
    pub title: String,
    /// The condition, the subject, the rule and its runbook.
    pub summary: String,
    /// The project concerned, if known (for project silences).
    pub project_id: Option<i64>,
    /// When it opened.
    pub opened_ms: i64,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// When it was acknowledged.
    pub acked_ms: Option<i64>,
    /// Occurrences: signals for event and monitor rules, breaching measures for
    /// measured rules.
    pub count: u64,
    /// The latest measured value.
    pub value: Option<f64>,
    /// The worst measured value so far (highest, or lowest for `<` conditions).
    pub worst: Option<f64>,
    /// The latest occurrence.
    pub last_seen_ms: i64,
    /// The event of the latest counted signal, so that two signals of one event
    /// (new issue and unhandled) count once.
    pub last_event_id: Option<String>,
    /// Since when a measured condition has been false.
    pub below_since_ms: Option<i64>,
    /// When the Triggered notification went out; `None` while it is held.
    pub triggered_ms: Option<i64>,
    /// The route step reached; also the number of escalations so far.
    pub step: u32,
    /// When the current step was notified; the escalation clock runs from here.
    pub step_since_ms: Option<i64>,
    /// The latest notification; the reminder clock runs from here.
    pub last_notified_ms: Option<i64>,
    /// Every channel notified so far, in order; acknowledgement and resolution go here.
    pub notified: Vec<String>,
    /// The end of the silence holding its notifications.
    pub silenced_until_ms: Option<i64>,
    /// While flapping, when its notifications will be released if it stays open.
    pub flapping_until_ms: Option<i64>,
    /// When its key opened within the last hour, including this time.
    pub recent_opens_ms: Vec<i64>,
}

impl IncidentState {
    /// Whether its notifications are held at `now_ms` (silenced or flapping).
    pub fn held(&self, now_ms: i64) -> bool {
        self.silenced_until_ms.is_some_and(|t| t > now_ms)
            || self.flapping_until_ms.is_some_and(|t| t > now_ms)
    }
}

/// What a silence covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum SilenceTarget {
    /// Every incident of the rule with this name.
    Rule(String),
    /// Every incident about this monitor.
    Monitor(i64),
    /// Every incident in this project (its error counts, issues and monitors).
    Project(i64),
}

/// Holds notifications of matching incidents until `until_ms`; they still open and count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// What it covers.
    pub target: SilenceTarget,
    /// When it ends.
    pub until_ms: i64,
    /// Why, shown on the incident's timeline.
    pub reason: String,
}

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
}

/// A decision for the server to carry out: store, deliver, record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// An incident opened.
    Opened {
        /// Which.
        key: IncidentKey,
        /// How urgent.
        severity: Severity,
        /// One line for people.
        title: String,
        /// The condition, subject, rule and runbook.
        summary: String,
        /// Occurrences so far (1).
        count: u64,
        /// When.
        at_ms: i64,
    },
    /// An open incident occurred again.
    Updated {
        /// Which.
        key: IncidentKey,
        /// Occurrences so far.
        count: u64,
    },
    /// Tell these channels.
    Notify {
        /// Which incident.
        key: IncidentKey,
        /// What to tell them.
        event: NotifyEvent,
        /// Channel names.
        channels: Vec<String>,
    },
    /// An incident is over.
    Resolved {
        /// Which.
        key: IncidentKey,
        /// When.
        at_ms: i64,
        /// Why, in words.
        reason: String,
    },
    /// A line for the incident's timeline.
    Timeline {
        /// Which incident.
        key: IncidentKey,
        /// When.
        at_ms: i64,
        /// What happened ("escalated to step 1 (ops-lead)").
        entry: String,
    },
}

impl Action {
    /// The incident the action is about.
    pub fn key(&self) -> &IncidentKey {
        match self {
            Action::Opened { key, .. }
            | Action::Updated { key, .. }
            | Action::Notify { key, .. }
            | Action::Resolved { key, .. }
            | Action::Timeline { key, .. } => key,
        }
    }
}

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
            SignalKind::MonitorUp | SignalKind::MonitorUndegraded => {
                let Some(m) = signal.monitor_id else {
                    return out;
                };
                let reason = match signal.detail.as_deref().filter(|d| !d.is_empty()) {
                    Some(d) => d.to_string(),
                    None if signal.kind == SignalKind::MonitorUp => {
                        "the monitor is up again".to_string()
                    }
                    None => "the monitor is no longer degraded".to_string(),
                };
                for i in 0..self.rules.len() {
                    if resolved_by(&self.rules[i].condition, signal.kind) {
                        let key = IncidentKey::new(&self.rules[i].name, Subject::Monitor(m));
                        self.close(now_ms, &key, reason.clone(), None, &mut out);
                    }
                }
            }
            SignalKind::MonitorDown
            | SignalKind::MonitorDegraded
            | SignalKind::TlsExpiring
            | SignalKind::HeartbeatMissed
            | SignalKind::HeartbeatFailed => {
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
                        let reason = clear_reason(clear_after);
                        self.close(now_ms, &key, reason, None, &mut out);
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
        out.push(Action::Timeline {
            key: key.clone(),
            at_ms: now_ms,
            entry: format!("acknowledged by {by}"),
        });
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
        let reason = match by {
            Some(b) => format!("resolved by {b}"),
            None => "resolved".to_string(),
        };
        self.close(now_ms, key, reason, by, &mut out);
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
                closing.push((key.clone(), "its rule is no longer configured".to_string()));
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
                        out.push(timeline(key, now_ms, held_by(s, &self.monitor_names)));
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
                out.push(timeline(key, now_ms, "notifications released".into()));
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
            self.close(now_ms, &key, reason, None, &mut out);
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

    /// Counts an issue or monitor signal against every rule it concerns: a further
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
                format!(
                    "flapping: notifications held (opened {} times within {}); released \
                     once it has stayed open for {}",
                    st.recent_opens_ms.len(),
                    format_duration(FLAP_WINDOW_MS),
                    format_duration(FLAP_QUIET_MS)
                ),
            ));
        }
        if let Some(s) = active_silence(&self.silences, &st, now_ms) {
            st.silenced_until_ms = Some(s.until_ms);
            out.push(timeline(&key, now_ms, held_by(s, &self.monitor_names)));
        }
        if !st.held(now_ms) {
            trigger(&mut st, rule, self.policies.get(rule.severity), now_ms, out);
        }
        self.open.insert(key, st);
    }

    fn close(
        &mut self,
        now_ms: i64,
        key: &IncidentKey,
        reason: String,
        by: Option<&str>,
        out: &mut Vec<Action>,
    ) {
        let Some(st) = self.open.remove(key) else {
            return;
        };
        out.push(Action::Resolved {
            key: key.clone(),
            at_ms: now_ms,
            reason,
        });
        if !st.held(now_ms) && !st.notified.is_empty() {
            out.push(Action::Notify {
                key: key.clone(),
                event: NotifyEvent::Resolved {
                    by: by.map(str::to_string),
                },
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

fn trigger(
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
            format!(
                "nobody notified: the rule has no notify channels and the {} route is empty",
                st.severity.as_str()
            ),
        ));
    }
    send(st, NotifyEvent::Triggered, channels, out);
}

fn escalate_or_remind(
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
        let to = if channels.is_empty() {
            "no channels".to_string()
        } else {
            channels.join(", ")
        };
        out.push(timeline(
            &st.key,
            now_ms,
            format!("escalated to step {} ({to})", st.step),
        ));
        send(st, NotifyEvent::Escalated { step: st.step }, channels, out);
    } else if reminder_due(st, policy).is_some_and(|t| t <= now_ms) {
        st.last_notified_ms = Some(now_ms);
        let channels = policy.channels(&rule.notify, st.step).to_vec();
        send(st, NotifyEvent::Reminder, channels, out);
    }
}

fn escalation_due(st: &IncidentState, policy: &SeverityPolicy) -> Option<i64> {
    if st.step >= policy.max_escalations {
        return None;
    }
    Some(st.step_since_ms?.saturating_add(policy.ack_within_ms?))
}

fn reminder_due(st: &IncidentState, policy: &SeverityPolicy) -> Option<i64> {
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

fn timeline(key: &IncidentKey, at_ms: i64, entry: String) -> Action {
    Action::Timeline {
        key: key.clone(),
        at_ms,
        entry,
    }
}

fn due_to_close(rule: &Rule, st: &IncidentState, now_ms: i64) -> Option<String> {
    if rule.condition.is_measured()
        && st
            .below_since_ms
            .is_some_and(|b| now_ms - b >= rule.clear_after_ms)
    {
        return Some(clear_reason(rule.clear_after_ms));
    }
    if rule.condition.is_event() {
        if let Some(d) = rule.resolve_after_ms {
            if now_ms - st.last_seen_ms >= d {
                return Some(format!("no new occurrences for {}", format_duration(d)));
            }
        }
    }
    None
}

fn clear_reason(clear_after_ms: i64) -> String {
    format!(
        "back within the threshold for {}",
        format_duration(clear_after_ms)
    )
}

/// The longest-running silence covering the incident at `now_ms`.
fn active_silence<'a>(
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

fn held_by(s: &Silence, names: &HashMap<i64, String>) -> String {
    let target = match &s.target {
        SilenceTarget::Rule(r) => format!("rule \"{r}\""),
        SilenceTarget::Monitor(m) => monitor_name(*m, names),
        SilenceTarget::Project(p) => format!("project {p}"),
    };
    let until = jiff::Timestamp::from_millisecond(s.until_ms)
        .map_or_else(|_| s.until_ms.to_string(), |t| t.to_string());
    let mut entry = format!("notifications held: silenced by {target} until {until}");
    if !s.reason.is_empty() {
        entry.push_str(&format!(" ({})", s.reason));
    }
    entry
}

/// Which signal kinds open (or count towards) incidents of a condition.
fn opened_by(c: &Condition, signal: &Signal) -> bool {
    match (c, signal.kind) {
        (Condition::NewIssue, SignalKind::NewIssue)
        | (Condition::Regression, SignalKind::Regression)
        | (Condition::Unhandled, SignalKind::Unhandled)
        | (Condition::MonitorDown, SignalKind::MonitorDown)
        | (Condition::MonitorDegraded, SignalKind::MonitorDegraded)
        | (Condition::HeartbeatMissed, SignalKind::HeartbeatMissed)
        | (Condition::HeartbeatFailed, SignalKind::HeartbeatFailed) => true,
        // A warning whose days cannot be read still alerts: a missed expiry costs more
        // than an early message.
        (Condition::TlsExpiring { within_days }, SignalKind::TlsExpiring) => {
            tls_days_left(signal.detail.as_deref()).is_none_or(|d| d <= i64::from(*within_days))
        }
        _ => false,
    }
}

/// Which signal kinds end incidents of a condition. A monitor going from degraded to
/// down and back up never says "undegraded", so up ends degraded incidents too.
fn resolved_by(c: &Condition, kind: SignalKind) -> bool {
    match kind {
        SignalKind::MonitorUp => matches!(
            c,
            Condition::MonitorDown
                | Condition::MonitorDegraded
                | Condition::HeartbeatMissed
                | Condition::HeartbeatFailed
        ),
        SignalKind::MonitorUndegraded => matches!(c, Condition::MonitorDegraded),
        _ => false,
    }
}

/// Whether measures of a condition are taken per this kind of subject.
fn measures(c: &Condition, subject: Subject) -> bool {
    match c {
        Condition::ErrorCount { .. }
        | Condition::ErrorRateAfterDeploy { .. }
        | Condition::LatencyP95 { .. } => matches!(subject, Subject::Project(_)),
        Condition::HealthField { .. } => matches!(subject, Subject::Monitor(_)),
        Condition::SloBurnRate { .. } => !matches!(subject, Subject::Issue(_)),
        _ => false,
    }
}

fn in_scope(rule: &Rule, subject: Subject, project: Option<i64>) -> bool {
    rule.projects
        .as_ref()
        .is_none_or(|ps| project.is_some_and(|p| ps.contains(&p)))
        && rule
            .monitors
            .as_ref()
            .is_none_or(|ms| matches!(subject, Subject::Monitor(m) if ms.contains(&m)))
}

/// Days left on a certificate, read from the monitor's detail ("… expires in 6 days",
/// "… has expired").
fn tls_days_left(detail: Option<&str>) -> Option<i64> {
    let d = detail?;
    if d.contains("expired") {
        return Some(-1);
    }
    let words: Vec<&str> = d.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[1].starts_with("day"))
        .and_then(|w| w[0].parse().ok())
}

fn monitor_name(id: i64, names: &HashMap<i64, String>) -> String {
    names
        .get(&id)
        .cloned()
        .unwrap_or_else(|| format!("monitor {id}"))
}

fn title(rule: &Rule, subject: Subject, d: &Draft<'_>, names: &HashMap<i64, String>) -> String {
    let who = match subject {
        Subject::Monitor(m) => monitor_name(m, names),
        Subject::Issue(i) => format!("#{i}"),
        Subject::Project(p) => format!("project {p}"),
    };
    let with_detail = |head: &str| match d.detail.filter(|x| !x.is_empty()) {
        Some(x) => format!("{head}: {who} — {x}"),
        None => format!("{head}: {who}"),
    };
    let v = d.value.unwrap_or(0.0);
    match &rule.condition {
        Condition::ErrorCount { window_ms, .. } => format!(
            "Error spike: {} errors in {}",
            num(v),
            format_duration(*window_ms)
        ),
        Condition::ErrorRateAfterDeploy { window_ms, .. } => format!(
            "Errors after deploy: {}x the rate before, within {}",
            num(v),
            format_duration(*window_ms)
        ),
        Condition::LatencyP95 { window_ms, .. } => format!(
            "Slow responses: p95 {} in {}",
            latency(v),
            format_duration(*window_ms)
        ),
        Condition::HealthField {
            path,
            op,
            threshold,
        } => format!(
            "Health check: {who} {path} is {} ({} {})",
            num(v),
            op.as_str(),
            num(*threshold)
        ),
        Condition::SloBurnRate { slo, .. } => match slo {
            Some(s) => format!("SLO burn rate: {s} burning {}x", num(v)),
            None => format!("SLO burn rate: {who} burning {}x", num(v)),
        },
        Condition::NewIssue => with_detail("New issue"),
        Condition::Regression => with_detail("Regression"),
        Condition::Unhandled => with_detail("Unhandled exception"),
        Condition::MonitorDown => with_detail("Site is down"),
        Condition::MonitorDegraded => with_detail("Degraded"),
        Condition::HeartbeatMissed => with_detail("Heartbeat missed"),
        Condition::HeartbeatFailed => with_detail("Job failed"),
        Condition::TlsExpiring { .. } => with_detail("Certificate expiring"),
    }
}

fn summary(
    rule: &Rule,
    subject: Subject,
    project: Option<i64>,
    names: &HashMap<i64, String>,
) -> String {
    let about = match (subject, project) {
        (Subject::Monitor(m), _) => monitor_name(m, names),
        (Subject::Issue(i), Some(p)) => format!("issue #{i} in project {p}"),
        (s, _) => s.to_string(),
    };
    let mut s = format!("{} — {about} (rule \"{}\")", rule.condition, rule.name);
    if let Some(r) = &rule.runbook {
        s.push_str(&format!("; runbook: {r}"));
    }
    s
}

/// A number for people: whole numbers plain, others to two decimals.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn latency(ms: f64) -> String {
    if ms >= 1_000.0 {
        format!("{}s", num((ms / 10.0).round() / 100.0))
    } else {
        format!("{}ms", num(ms.round()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_days_are_read_from_the_monitor_detail() {
        assert_eq!(
            tls_days_left(Some("the certificate of example.com expires in 6 days")),
            Some(6)
        );
        assert_eq!(
            tls_days_left(Some("the certificate of example.com has expired")),
            Some(-1)
        );
        assert_eq!(tls_days_left(Some("something else")), None);
        assert_eq!(tls_days_left(None), None);
    }

    #[test]
    fn numbers_and_latencies_read_well() {
        assert_eq!(num(51.0), "51");
        assert_eq!(num(92.456), "92.46");
        assert_eq!(num(14.4), "14.4");
        assert_eq!(latency(2_300.0), "2.3s");
        assert_eq!(latency(640.4), "640ms");
    }

    #[test]
    fn scope_checks_projects_and_monitors() {
        let mut r = Rule::new("r", Condition::MonitorDown, Severity::High);
        r.monitors = Some(vec![7]);
        assert!(in_scope(&r, Subject::Monitor(7), None));
        assert!(!in_scope(&r, Subject::Monitor(8), None));
        r.monitors = None;
        r.projects = Some(vec![1]);
        assert!(in_scope(&r, Subject::Monitor(8), Some(1)));
        assert!(!in_scope(&r, Subject::Monitor(8), Some(2)));
        assert!(!in_scope(&r, Subject::Monitor(8), None));
    }
}
