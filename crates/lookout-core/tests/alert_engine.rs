//! The incident engine with explicit times: opening, deduplication, escalation,
//! acknowledgement, reminders, auto-resolution, flapping, silences and restarts.

use std::collections::HashMap;

use lookout_core::alert::engine::{
    Action, Engine, IncidentKey, IncidentState, IncidentStatus, NotifyEvent, Silence,
    SilenceTarget, Subject,
};
use lookout_core::alert::policy::Policies;
use lookout_core::alert::rule::{Condition, Rule};
use lookout_core::alert::Severity;
use lookout_core::signal::{Signal, SignalKind};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000_000;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The defaults, with channels: critical pages on-call, then the ops lead, then the CTO.
fn policies() -> Policies {
    let mut p = Policies::default();
    p.critical.route = vec![names(&["oncall"]), names(&["ops-lead"]), names(&["cto"])];
    p.high.route = vec![names(&["slack"]), names(&["ops-lead"])];
    p.medium.route = vec![names(&["email"])];
    p.low.route = vec![names(&["email"])];
    p
}

fn rule(name: &str, condition: &str, severity: Severity) -> Rule {
    Rule::new(name, Condition::parse(condition).unwrap(), severity)
}

fn engine(rules: Vec<Rule>) -> Engine {
    engine_with(rules, policies())
}

fn engine_with(rules: Vec<Rule>, policies: Policies) -> Engine {
    let mut e = Engine::new(rules, policies).unwrap();
    e.set_monitor_names(HashMap::from([(7, "Homepage".to_string())]));
    e
}

fn monitor(kind: SignalKind, id: i64, detail: &str) -> Signal {
    Signal {
        id: 0,
        kind,
        project_id: Some(1),
        issue_id: None,
        event_id: None,
        monitor_id: Some(id),
        detail: Some(detail.to_string()),
        created_ms: T0,
    }
}

fn issue(kind: SignalKind, project: i64, issue: i64, event: &str) -> Signal {
    Signal {
        id: 0,
        kind,
        project_id: Some(project),
        issue_id: Some(issue),
        event_id: Some(event.to_string()),
        monitor_id: None,
        detail: None,
        created_ms: T0,
    }
}

fn key(rule: &str, subject: Subject) -> IncidentKey {
    IncidentKey::new(rule, subject)
}

/// The notifications among `actions`, as (event, channels).
fn notifies(actions: &[Action]) -> Vec<(NotifyEvent, Vec<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Notify {
                event, channels, ..
            } => Some((event.clone(), channels.clone())),
            _ => None,
        })
        .collect()
}

fn opened(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Opened { .. }))
        .count()
}

fn resolved(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Resolved { reason, .. } => Some(reason.to_string()),
            _ => None,
        })
        .collect()
}

fn timeline(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Timeline { entry, .. } => Some(entry.to_string()),
            _ => None,
        })
        .collect()
}

/// Ticks every minute in `(from, to]`, collecting the actions.
fn tick_through(e: &mut Engine, from: i64, to: i64) -> Vec<Action> {
    let mut out = Vec::new();
    let mut t = from + MIN;
    while t <= to {
        out.extend(e.tick(t));
        t += MIN;
    }
    out
}

fn spike_rule() -> Rule {
    rule("error-spike", "errors > 50 in 5m", Severity::Critical)
}

#[test]
fn fifty_one_errors_in_five_minutes_open_one_critical_incident_and_notify_once() {
    let mut e = engine(vec![spike_rule()]);
    assert!(e
        .on_measure(T0, "error-spike", Subject::Project(1), 50.0)
        .is_empty());
    let a = e.on_measure(T0 + MIN, "error-spike", Subject::Project(1), 51.0);
    match &a[0] {
        Action::Opened {
            key: k,
            severity,
            title,
            summary,
            count,
            at_ms,
        } => {
            assert_eq!(*k, key("error-spike", Subject::Project(1)));
            assert_eq!(*severity, Severity::Critical);
            assert_eq!(title, "Error spike: 51 errors in 5m");
            assert_eq!(
                summary,
                "errors > 50 in 5m — project 1 (rule \"error-spike\")"
            );
            assert_eq!((*count, *at_ms), (1, T0 + MIN));
        }
        other => panic!("expected Opened first, got {other:?}"),
    }
    assert_eq!(
        notifies(&a),
        vec![(NotifyEvent::Triggered, names(&["oncall"]))]
    );
    let again = e.on_measure(T0 + 2 * MIN, "error-spike", Subject::Project(1), 51.0);
    assert_eq!(
        again,
        vec![Action::Updated {
            key: key("error-spike", Subject::Project(1)),
            count: 2
        }]
    );
    assert_eq!(e.open_incidents().count(), 1);
}

/// A storm of 5,000 errors over an hour, measured every minute as "errors in the last
/// 5 minutes", ticking every minute as the server would.
fn storm(e: &mut Engine) -> Vec<Action> {
    let per_minute: Vec<i64> = (0..60).map(|m| if m < 20 { 100 } else { 75 }).collect();
    assert_eq!(per_minute.iter().sum::<i64>(), 5_000);
    let mut out = Vec::new();
    for m in 0..60usize {
        let now = T0 + (m as i64 + 1) * MIN;
        let window: i64 = per_minute[m.saturating_sub(4)..=m].iter().sum();
        out.extend(e.on_measure(now, "error-spike", Subject::Project(1), window as f64));
        out.extend(e.tick(now));
    }
    out
}

#[test]
fn an_error_storm_stays_one_incident_and_notifications_follow_the_timers_not_the_errors() {
    // Reminders only: at most the trigger plus one per renotify period.
    let mut reminders_only = policies();
    reminders_only.critical.ack_within_ms = None;
    let mut e = engine_with(vec![spike_rule()], reminders_only);
    let a = storm(&mut e);
    assert_eq!(opened(&a), 1);
    let st = e
        .incident(&key("error-spike", Subject::Project(1)))
        .unwrap();
    // Every minute breached the threshold: the count follows the measures.
    assert_eq!(st.count, 60);
    assert_eq!(st.worst, Some(500.0));
    assert_eq!(st.value, Some(375.0));
    let n = notifies(&a);
    let renotify = 30;
    assert!(n.len() as i64 <= 1 + 60 / renotify, "{n:?}");
    assert_eq!(
        n.iter().map(|(ev, _)| ev.clone()).collect::<Vec<_>>(),
        // Triggered at 1 min, reminded at 31 min; the next is due at 61 min.
        vec![NotifyEvent::Triggered, NotifyEvent::Reminder]
    );

    // With the default escalation, only the three escalations come on top.
    let mut e = engine(vec![spike_rule()]);
    let n = notifies(&storm(&mut e));
    let escalations = n
        .iter()
        .filter(|(ev, _)| matches!(ev, NotifyEvent::Escalated { .. }))
        .count();
    assert_eq!(escalations, 3);
    assert!(n.len() - escalations <= 1 + 60 / renotify as usize, "{n:?}");
}

#[test]
fn an_unacknowledged_high_incident_escalates_to_step_one_after_an_hour() {
    let mut e = engine(vec![rule("site-down", "monitor down", Severity::High)]);
    let a = e.on_signal(
        T0,
        &monitor(SignalKind::MonitorDown, 7, "connection refused"),
    );
    assert_eq!(
        notifies(&a),
        vec![(NotifyEvent::Triggered, names(&["slack"]))]
    );
    assert_eq!(e.next_deadline_ms(), Some(T0 + HOUR));
    assert!(tick_through(&mut e, T0, T0 + HOUR - MIN).is_empty());
    let a = e.tick(T0 + HOUR);
    assert_eq!(
        notifies(&a),
        vec![(NotifyEvent::Escalated { step: 1 }, names(&["ops-lead"]))]
    );
    assert_eq!(timeline(&a), vec!["escalated to step 1 (ops-lead)"]);
    let st = e.incident(&key("site-down", Subject::Monitor(7))).unwrap();
    assert_eq!(st.step, 1);
    assert_eq!(st.notified, names(&["slack", "ops-lead"]));
}

#[test]
fn acknowledgement_stops_escalation_and_reminders() {
    let mut e = engine(vec![rule("site-down", "monitor down", Severity::Critical)]);
    e.on_signal(T0, &monitor(SignalKind::MonitorDown, 7, "timeout"));
    let k = key("site-down", Subject::Monitor(7));
    let mut unacked = e.clone();
    let a = e.acknowledge(T0 + 10 * MIN, &k, "alice");
    assert_eq!(timeline(&a), vec!["acknowledged by alice"]);
    assert_eq!(
        notifies(&a),
        vec![(
            NotifyEvent::Acknowledged { by: "alice".into() },
            names(&["oncall"])
        )]
    );
    assert!(e.acknowledge(T0 + 11 * MIN, &k, "bob").is_empty());
    let st = e.incident(&k).unwrap();
    assert_eq!(st.status, IncidentStatus::Acknowledged);
    assert_eq!(st.acked_by.as_deref(), Some("alice"));
    assert_eq!(e.next_deadline_ms(), None);
    assert!(notifies(&tick_through(&mut e, T0 + 10 * MIN, T0 + 24 * HOUR)).is_empty());
    // The same incident left alone would have been chased.
    assert!(!notifies(&tick_through(&mut unacked, T0 + 10 * MIN, T0 + 24 * HOUR)).is_empty());
}

#[test]
fn escalation_stops_at_max_escalations_and_reminders_go_to_the_last_step() {
    let mut e = engine(vec![rule("site-down", "monitor down", Severity::Critical)]);
    e.on_signal(T0, &monitor(SignalKind::MonitorDown, 7, "timeout"));
    let n = notifies(&tick_through(&mut e, T0, T0 + 4 * HOUR));
    let steps: Vec<(u32, Vec<String>)> = n
        .iter()
        .filter_map(|(ev, ch)| match ev {
            NotifyEvent::Escalated { step } => Some((*step, ch.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (1, names(&["ops-lead"])),
            (2, names(&["cto"])),
            // The route has three steps; the last repeats.
            (3, names(&["cto"])),
        ]
    );
    // Escalations at 15, 30 and 45 min; then reminders every 30 min from 75 min to 225.
    let reminders: Vec<&Vec<String>> = n
        .iter()
        .filter(|(ev, _)| *ev == NotifyEvent::Reminder)
        .map(|(_, ch)| ch)
        .collect();
    assert_eq!(reminders.len(), 6, "{n:?}");
    assert!(reminders.iter().all(|ch| **ch == names(&["cto"])));

    let mut once = policies();
    once.critical.max_escalations = 1;
    let mut e = engine_with(
        vec![rule("site-down", "monitor down", Severity::Critical)],
        once,
    );
    e.on_signal(T0, &monitor(SignalKind::MonitorDown, 7, "timeout"));
    let n = notifies(&tick_through(&mut e, T0, T0 + 4 * HOUR));
    assert_eq!(
        n.iter()
            .filter(|(ev, _)| matches!(ev, NotifyEvent::Escalated { .. }))
            .count(),
        1
    );
}

#[test]
fn monitor_down_then_up_sends_one_triggered_and_one_resolved() {
    let mut e = engine(vec![rule("site-down", "monitor down", Severity::High)]);
    let mut all = e.on_signal(
        T0,
        &monitor(SignalKind::MonitorDown, 7, "connection refused"),
    );
    match &all[0] {
        Action::Opened { title, .. } => {
            assert_eq!(title, "Site is down: Homepage — connection refused")
        }
        other => panic!("{other:?}"),
    }
    all.extend(e.on_signal(T0 + MIN, &monitor(SignalKind::MonitorDown, 7, "timeout")));
    all.extend(e.on_signal(
        T0 + 5 * MIN,
        &monitor(SignalKind::MonitorUp, 7, "up again after 5m"),
    ));
    assert_eq!(opened(&all), 1);
    assert_eq!(
        notifies(&all),
        vec![
            (NotifyEvent::Triggered, names(&["slack"])),
            (NotifyEvent::Resolved { by: None }, names(&["slack"])),
        ]
    );
    assert_eq!(resolved(&all), vec!["up again after 5m"]);
    assert_eq!(e.open_incidents().count(), 0);
    assert_eq!(e.next_deadline_ms(), None);
}

#[test]
fn a_bad_deploy_opens_one_incident_per_project_with_its_reasons_and_ends_by_quiet_time() {
    let mut e = engine(vec![
        rule("bad-deploy", "bad deploy", Severity::High),
        rule("site-down", "monitor down", Severity::High),
    ]);
    let bad = |project: i64, detail: &str| Signal {
        id: 0,
        kind: SignalKind::DeployBad,
        project_id: Some(project),
        issue_id: None,
        event_id: None,
        monitor_id: None,
        detail: Some(detail.to_string()),
        created_ms: T0,
    };
    let mut all = e.on_signal(
        T0,
        &bad(
            1,
            "web@2 in production (deploy #3): 1 new issue(s) first seen in this release",
        ),
    );
    match &all[0] {
        Action::Opened { key: k, title, .. } => {
            assert_eq!(*k, key("bad-deploy", Subject::Project(1)));
            assert_eq!(
                title,
                "Bad deploy: web@2 in production (deploy #3): 1 new issue(s) first seen in this release"
            );
        }
        other => panic!("{other:?}"),
    }
    // A second bad release of the project while it is open counts; another project opens
    // its own. Only the deploy rule hears them.
    all.extend(e.on_signal(T0 + MIN, &bad(1, "web@3 in production (deploy #4): …")));
    all.extend(e.on_signal(T0 + MIN, &bad(2, "api@9 in production (deploy #5): …")));
    assert_eq!(opened(&all), 2, "{all:?}");
    assert_eq!(
        e.incident(&key("bad-deploy", Subject::Project(1)))
            .unwrap()
            .count,
        2
    );
    assert_eq!(
        notifies(&all),
        vec![
            (NotifyEvent::Triggered, names(&["slack"])),
            (NotifyEvent::Triggered, names(&["slack"])),
        ]
    );
    // No project, no subject: nothing.
    let mut orphan = bad(1, "x");
    orphan.project_id = None;
    assert!(e.on_signal(T0 + MIN, &orphan).is_empty());
    // Nothing says a bad release is over: quiet time ends the incidents.
    e.acknowledge(
        T0 + 2 * MIN,
        &key("bad-deploy", Subject::Project(1)),
        "alice",
    );
    e.acknowledge(
        T0 + 2 * MIN,
        &key("bad-deploy", Subject::Project(2)),
        "alice",
    );
    let after = Rule::DEFAULT_RESOLVE_AFTER_MS;
    let _ = e.tick(T0 + MIN + after - 1);
    assert_eq!(e.open_incidents().count(), 2);
    let _ = e.tick(T0 + MIN + after);
    assert_eq!(e.open_incidents().count(), 0);
}

#[test]
fn degraded_ends_on_undegraded_or_on_up_and_heartbeats_end_on_up() {
    let mut e = engine(vec![
        rule("degraded", "monitor degraded", Severity::Medium),
        rule("missed", "heartbeat missed", Severity::High),
    ]);
    e.on_signal(T0, &monitor(SignalKind::MonitorDegraded, 7, "slow db"));
    let a = e.on_signal(T0 + MIN, &monitor(SignalKind::MonitorUndegraded, 7, ""));
    assert_eq!(resolved(&a), vec!["the monitor is no longer degraded"]);
    e.on_signal(
        T0 + 2 * MIN,
        &monitor(SignalKind::MonitorDegraded, 8, "slow db"),
    );
    e.on_signal(
        T0 + 2 * MIN,
        &monitor(SignalKind::HeartbeatMissed, 9, "no ping"),
    );
    assert_eq!(e.open_incidents().count(), 2);
    // Undegraded does not end a missed heartbeat; up ends both kinds.
    assert!(
        resolved(&e.on_signal(T0 + 3 * MIN, &monitor(SignalKind::MonitorUndegraded, 9, "")))
            .is_empty()
    );
    e.on_signal(T0 + 3 * MIN, &monitor(SignalKind::MonitorUp, 8, "up"));
    e.on_signal(T0 + 3 * MIN, &monitor(SignalKind::MonitorUp, 9, "up"));
    assert_eq!(e.open_incidents().count(), 0);
}

#[test]
fn a_flapping_monitor_opens_but_holds_notifications_until_it_has_been_quiet() {
    let mut e = engine(vec![rule("site-down", "monitor down", Severity::High)]);
    let down = monitor(SignalKind::MonitorDown, 7, "timeout");
    let up = monitor(SignalKind::MonitorUp, 7, "up again");
    for i in 0..2 {
        let a = e.on_signal(T0 + i * 10 * MIN, &down);
        assert_eq!(notifies(&a).len(), 1, "opening {i} notifies");
        e.on_signal(T0 + i * 10 * MIN + MIN, &up);
    }
    let third = e.on_signal(T0 + 20 * MIN, &down);
    assert_eq!(opened(&third), 1);
    assert!(notifies(&third).is_empty(), "{third:?}");
    assert_eq!(
        timeline(&third),
        vec![
            "flapping: notifications held (opened 3 times within 1h); released once it has \
              stayed open for 1h"
        ]
    );
    let a = e.on_signal(T0 + 21 * MIN, &up);
    assert_eq!(resolved(&a).len(), 1);
    assert!(
        notifies(&a).is_empty(),
        "nobody heard of it, nobody hears it ended"
    );

    // Down again, and this time it stays down: held for an hour after the last opening.
    assert!(notifies(&e.on_signal(T0 + 30 * MIN, &down)).is_empty());
    assert_eq!(e.next_deadline_ms(), Some(T0 + 90 * MIN));
    assert!(tick_through(&mut e, T0 + 30 * MIN, T0 + 89 * MIN).is_empty());
    let a = e.tick(T0 + 90 * MIN);
    assert_eq!(timeline(&a)[0], "notifications released");
    assert_eq!(
        notifies(&a),
        vec![(NotifyEvent::Triggered, names(&["slack"]))]
    );
    // Escalation runs from the release, not from the opening.
    assert_eq!(e.next_deadline_ms(), Some(T0 + 150 * MIN));

    // Openings more than an hour apart never flap.
    let mut calm = engine(vec![rule("site-down", "monitor down", Severity::High)]);
    for i in 0..5 {
        let a = calm.on_signal(T0 + i * 61 * MIN, &down);
        assert_eq!(notifies(&a).len(), 1);
        calm.on_signal(T0 + i * 61 * MIN + MIN, &up);
        calm.tick(T0 + i * 61 * MIN + 2 * MIN);
    }
}

#[test]
fn silences_hold_notifications_and_release_them_when_they_end() {
    let mut e = engine(vec![rule("site-down", "monitor down", Severity::High)]);
    let until = T0 + 30 * MIN;
    e.set_silences(
        T0,
        vec![Silence {
            target: SilenceTarget::Monitor(7),
            until_ms: until,
            reason: "planned migration".into(),
        }],
    );
    let a = e.on_signal(T0 + MIN, &monitor(SignalKind::MonitorDown, 7, "timeout"));
    assert_eq!(opened(&a), 1);
    assert!(notifies(&a).is_empty());
    assert_eq!(
        timeline(&a),
        vec![
            "notifications held: silenced by Homepage until 2023-11-14T22:43:20Z (planned \
             migration)"
        ]
    );
    // Another monitor is not covered.
    let other = e.on_signal(T0 + MIN, &monitor(SignalKind::MonitorDown, 8, "timeout"));
    assert_eq!(notifies(&other).len(), 1);
    let k = key("site-down", Subject::Monitor(7));
    let more = e.on_signal(
        T0 + 2 * MIN,
        &monitor(SignalKind::MonitorDown, 7, "timeout"),
    );
    assert_eq!(
        more,
        vec![Action::Updated {
            key: k.clone(),
            count: 2
        }]
    );
    let held: Vec<Action> = tick_through(&mut e, T0 + 2 * MIN, until - MIN)
        .into_iter()
        .filter(|a| *a.key() == k)
        .collect();
    assert!(held.is_empty(), "{held:?}");
    let a = e.tick(until);
    let released: Vec<Action> = a.into_iter().filter(|a| *a.key() == k).collect();
    assert_eq!(timeline(&released), vec!["notifications released"]);
    assert_eq!(
        notifies(&released),
        vec![(NotifyEvent::Triggered, names(&["slack"]))]
    );
    // The acknowledgement window starts at the release.
    let a = tick_through(&mut e, until, until + HOUR - MIN);
    assert!(a.iter().all(|a| *a.key() != k), "{a:?}");
    let a = e.tick(until + HOUR);
    assert!(notifies(&a).contains(&(NotifyEvent::Escalated { step: 1 }, names(&["ops-lead"]))));
}

#[test]
fn a_silence_pauses_an_incident_that_already_notified_and_hides_its_resolution() {
    let mut e = engine(vec![
        rule("site-down", "monitor down", Severity::High),
        rule("new-issue", "new issue", Severity::Low),
    ]);
    e.on_signal(T0, &monitor(SignalKind::MonitorDown, 7, "timeout"));
    let k = key("site-down", Subject::Monitor(7));
    let a = e.set_silences(
        T0 + 30 * MIN,
        vec![
            Silence {
                target: SilenceTarget::Rule("site-down".into()),
                until_ms: T0 + 2 * HOUR,
                reason: String::new(),
            },
            Silence {
                target: SilenceTarget::Project(3),
                until_ms: T0 + 2 * HOUR,
                reason: "noisy".into(),
            },
        ],
    );
    assert_eq!(
        timeline(&a),
        vec!["notifications held: silenced by rule \"site-down\" until 2023-11-15T00:13:20Z"]
    );
    assert_eq!(
        e.incident(&k).unwrap().silenced_until_ms,
        Some(T0 + 2 * HOUR)
    );
    assert_eq!(e.next_deadline_ms(), Some(T0 + 2 * HOUR));
    assert!(notifies(&tick_through(&mut e, T0 + 30 * MIN, T0 + 2 * HOUR - MIN)).is_empty());
    let a = e.tick(T0 + 2 * HOUR);
    assert_eq!(timeline(&a), vec!["notifications released"]);
    assert!(notifies(&a).is_empty(), "it was already announced");
    assert_eq!(e.next_deadline_ms(), Some(T0 + 3 * HOUR));

    // A project silence covers that project's issues; resolving one says nothing.
    e.set_silences(
        T0 + 2 * HOUR,
        vec![Silence {
            target: SilenceTarget::Project(3),
            until_ms: T0 + 5 * HOUR,
            reason: "noisy".into(),
        }],
    );
    let a = e.on_signal(T0 + 2 * HOUR, &issue(SignalKind::NewIssue, 3, 42, "e1"));
    assert!(notifies(&a).is_empty());
    let b = e.on_signal(T0 + 2 * HOUR, &issue(SignalKind::NewIssue, 4, 43, "e2"));
    assert_eq!(notifies(&b).len(), 1);
    let r = e.resolve(
        T0 + 3 * HOUR,
        &key("new-issue", Subject::Issue(42)),
        Some("bob"),
    );
    assert_eq!(resolved(&r), vec!["resolved by bob"]);
    assert!(notifies(&r).is_empty());
    let r = e.resolve(
        T0 + 3 * HOUR,
        &key("new-issue", Subject::Issue(43)),
        Some("bob"),
    );
    assert_eq!(
        notifies(&r),
        vec![(
            NotifyEvent::Resolved {
                by: Some("bob".into())
            },
            names(&["email"])
        )]
    );
    assert!(e
        .resolve(T0 + 3 * HOUR, &key("new-issue", Subject::Issue(43)), None)
        .is_empty());
}

#[test]
fn restored_incidents_continue_their_escalation_timers() {
    let rules = || {
        vec![
            rule("site-down", "monitor down", Severity::High),
            rule("error-spike", "errors > 50 in 5m", Severity::Critical),
        ]
    };
    let mut before = engine(rules());
    before.on_signal(T0, &monitor(SignalKind::MonitorDown, 7, "timeout"));
    before.on_measure(T0 + 5 * MIN, "error-spike", Subject::Project(1), 80.0);
    before.tick(T0 + 20 * MIN); // the spike escalates once, at T0 + 20 min
    let stored = serde_json::to_string(&before.open_incidents().collect::<Vec<_>>()).unwrap();

    // The process restarts at T0 + 40 min.
    let mut after = engine(rules());
    after.restore(serde_json::from_str::<Vec<IncidentState>>(&stored).unwrap());
    assert_eq!(
        after.open_incidents().collect::<Vec<_>>(),
        before.open_incidents().collect::<Vec<_>>()
    );
    assert_eq!(after.next_deadline_ms(), Some(T0 + 35 * MIN));
    let a = after.tick(T0 + 40 * MIN);
    assert_eq!(
        notifies(&a),
        vec![(NotifyEvent::Escalated { step: 2 }, names(&["cto"]))]
    );
    assert!(tick_through(&mut after, T0 + 40 * MIN, T0 + 59 * MIN)
        .iter()
        .all(|a| *a.key() != key("site-down", Subject::Monitor(7))));
    let a = after.tick(T0 + HOUR);
    assert!(notifies(&a).contains(&(NotifyEvent::Escalated { step: 1 }, names(&["ops-lead"]))));
    // The restored spike still clears the normal way and tells everyone it paged.
    after.on_measure(T0 + 61 * MIN, "error-spike", Subject::Project(1), 3.0);
    let a = after.tick(T0 + 66 * MIN);
    assert_eq!(resolved(&a), vec!["back within the threshold for 5m"]);
    assert_eq!(
        notifies(&a),
        vec![(
            NotifyEvent::Resolved { by: None },
            names(&["oncall", "ops-lead", "cto"])
        )]
    );
}

#[test]
fn incidents_of_removed_rules_resolve_after_a_restore() {
    let mut before = engine(vec![rule("site-down", "monitor down", Severity::High)]);
    before.on_signal(T0, &monitor(SignalKind::MonitorDown, 7, "timeout"));
    let stored: Vec<IncidentState> = before.open_incidents().cloned().collect();
    let mut after = engine(vec![spike_rule()]);
    after.restore(stored);
    assert_eq!(after.next_deadline_ms(), Some(T0));
    let a = after.tick(T0 + HOUR);
    assert_eq!(resolved(&a), vec!["its rule is no longer configured"]);
    assert_eq!(after.open_incidents().count(), 0);
}

#[test]
fn event_incidents_count_further_occurrences_and_resolve_after_quiet_time() {
    let mut e = engine(vec![
        rule("new-issue", "new issue", Severity::Low),
        rule("unhandled", "unhandled exception", Severity::High),
    ]);
    // Ingest emits both signals for the first event of a new unhandled issue.
    let mut a = e.on_signal(T0, &issue(SignalKind::NewIssue, 1, 42, "e1"));
    a.extend(e.on_signal(T0, &issue(SignalKind::Unhandled, 1, 42, "e1")));
    assert_eq!(opened(&a), 2);
    let new_key = key("new-issue", Subject::Issue(42));
    let unhandled_key = key("unhandled", Subject::Issue(42));
    assert_eq!(e.incident(&new_key).unwrap().count, 1);
    assert_eq!(e.incident(&new_key).unwrap().title, "New issue: #42");
    assert_eq!(
        e.incident(&unhandled_key).unwrap().title,
        "Unhandled exception: #42"
    );

    let a = e.on_signal(T0 + HOUR, &issue(SignalKind::Unhandled, 1, 42, "e2"));
    assert_eq!(
        a,
        vec![
            Action::Updated {
                key: new_key.clone(),
                count: 2
            },
            Action::Updated {
                key: unhandled_key.clone(),
                count: 2
            },
        ]
    );
    e.acknowledge(T0 + HOUR, &unhandled_key, "alice");
    assert_eq!(e.next_deadline_ms(), Some(T0 + 25 * HOUR));
    assert!(e.tick(T0 + 25 * HOUR - 1).is_empty());
    let a = e.tick(T0 + 25 * HOUR);
    assert_eq!(
        resolved(&a),
        vec!["no new occurrences for 1d", "no new occurrences for 1d"]
    );

    // Without a quiet time, an event incident waits for a person.
    let mut by_hand = rule("regression", "regression", Severity::Medium);
    by_hand.resolve_after_ms = None;
    let mut e = engine(vec![by_hand]);
    e.on_signal(T0, &issue(SignalKind::Regression, 1, 42, "e1"));
    e.acknowledge(T0, &key("regression", Subject::Issue(42)), "alice");
    assert_eq!(e.next_deadline_ms(), None);
    assert!(e.tick(T0 + 365 * 24 * HOUR).is_empty());
    assert_eq!(e.open_incidents().count(), 1);
}

#[test]
fn rules_only_cover_their_projects_and_monitors() {
    let mut spike = spike_rule();
    spike.projects = Some(vec![1]);
    let mut down = rule("site-down", "monitor down", Severity::High);
    down.monitors = Some(vec![7]);
    let mut new = rule("new-issue", "new issue", Severity::Low);
    new.projects = Some(vec![1]);
    let mut e = engine(vec![spike, down, new]);
    assert!(e
        .on_measure(T0, "error-spike", Subject::Project(2), 500.0)
        .is_empty());
    assert_eq!(
        opened(&e.on_measure(T0, "error-spike", Subject::Project(1), 500.0)),
        1
    );
    assert!(e
        .on_signal(T0, &monitor(SignalKind::MonitorDown, 8, "timeout"))
        .is_empty());
    assert_eq!(
        opened(&e.on_signal(T0, &monitor(SignalKind::MonitorDown, 7, "timeout"))),
        1
    );
    assert!(e
        .on_signal(T0, &issue(SignalKind::NewIssue, 2, 43, "e1"))
        .is_empty());
    assert_eq!(
        opened(&e.on_signal(T0, &issue(SignalKind::NewIssue, 1, 42, "e2"))),
        1
    );
    // Measures of the wrong subject kind or for signal rules are ignored.
    assert!(e
        .on_measure(T0, "error-spike", Subject::Monitor(1), 500.0)
        .is_empty());
    assert!(e
        .on_measure(T0, "site-down", Subject::Monitor(7), 1.0)
        .is_empty());
    assert!(e
        .on_measure(T0, "nope", Subject::Project(1), 1.0)
        .is_empty());
}

#[test]
fn a_windowed_measure_resolves_only_after_staying_clear_for_clear_after() {
    let mut e = engine(vec![spike_rule()]);
    let k = key("error-spike", Subject::Project(1));
    let m = |e: &mut Engine, t: i64, v: f64| {
        e.on_measure(T0 + t * MIN, "error-spike", Subject::Project(1), v)
    };
    m(&mut e, 0, 60.0);
    assert!(m(&mut e, 1, 40.0).is_empty());
    assert_eq!(e.next_deadline_ms(), Some(T0 + 6 * MIN));
    // Back over the threshold: the clear clock starts again.
    assert_eq!(m(&mut e, 3, 60.0).len(), 1);
    assert!(m(&mut e, 4, 50.0).is_empty());
    assert!(m(&mut e, 8, 10.0).is_empty());
    assert!(e.incident(&k).is_some());
    let a = m(&mut e, 9, 10.0);
    assert_eq!(resolved(&a), vec!["back within the threshold for 5m"]);
    assert_eq!(
        notifies(&a),
        vec![(NotifyEvent::Resolved { by: None }, names(&["oncall"]))]
    );

    // Without further measures, tick resolves it at the same moment.
    let mut quick = spike_rule();
    quick.clear_after_ms = 2 * MIN;
    let mut e = engine(vec![quick]);
    m(&mut e, 0, 60.0);
    m(&mut e, 1, 0.0);
    assert!(e
        .tick(T0 + 3 * MIN - 1)
        .iter()
        .all(|a| !matches!(a, Action::Resolved { .. })));
    assert_eq!(
        resolved(&e.tick(T0 + 3 * MIN)),
        vec!["back within the threshold for 2m"]
    );
}

#[test]
fn rule_channels_are_step_zero_and_escalation_continues_on_the_route() {
    let mut r = rule("site-down", "monitor down", Severity::High);
    r.notify = names(&["pagerduty"]);
    r.runbook = Some("https://wiki/runbooks/site-down".into());
    let mut e = engine(vec![r]);
    let a = e.on_signal(T0, &monitor(SignalKind::MonitorDown, 7, "timeout"));
    match &a[0] {
        Action::Opened { summary, .. } => assert_eq!(
            summary,
            "monitor down — Homepage (rule \"site-down\"); runbook: https://wiki/runbooks/site-down"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        notifies(&a),
        vec![(NotifyEvent::Triggered, names(&["pagerduty"]))]
    );
    let a = e.tick(T0 + HOUR);
    assert_eq!(
        notifies(&a),
        vec![(NotifyEvent::Escalated { step: 1 }, names(&["ops-lead"]))]
    );
    let a = e.on_signal(T0 + HOUR, &monitor(SignalKind::MonitorUp, 7, "up again"));
    assert_eq!(
        notifies(&a),
        vec![(
            NotifyEvent::Resolved { by: None },
            names(&["pagerduty", "ops-lead"])
        )]
    );
}

#[test]
fn low_incidents_are_never_chased_and_empty_routes_say_nobody_was_told() {
    let mut e = engine_with(
        vec![rule("new-issue", "new issue", Severity::Low)],
        Policies::default(),
    );
    let a = e.on_signal(T0, &issue(SignalKind::NewIssue, 1, 42, "e1"));
    assert!(notifies(&a).is_empty());
    assert_eq!(
        timeline(&a),
        vec!["nobody notified: the rule has no notify channels and the low route is empty"]
    );
    // Only the quiet-time resolution is pending.
    assert_eq!(e.next_deadline_ms(), Some(T0 + 24 * HOUR));
}

#[test]
fn certificates_alert_only_within_the_rule_s_days() {
    let mut e = engine(vec![rule("tls", "tls expires within 7d", Severity::High)]);
    let tls = |days: &str| {
        monitor(
            SignalKind::TlsExpiring,
            7,
            &format!("the certificate of example.com {days}"),
        )
    };
    assert!(e.on_signal(T0, &tls("expires in 14 days")).is_empty());
    let a = e.on_signal(T0, &tls("expires in 7 days"));
    match &a[0] {
        Action::Opened { title, .. } => assert_eq!(
            title,
            "Certificate expiring: Homepage — the certificate of example.com expires in 7 days"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.on_signal(T0 + HOUR, &tls("has expired")),
        vec![Action::Updated {
            key: key("tls", Subject::Monitor(7)),
            count: 2
        }]
    );
}

#[test]
fn health_and_latency_measures_read_like_the_reference() {
    let mut e = engine(vec![
        rule("memory", "health memory > 90%", Severity::High),
        rule("db", "health database.latency < 1", Severity::Low),
        rule("slow", "p95 > 2s in 5m", Severity::Medium),
    ]);
    let a = e.on_measure(T0, "memory", Subject::Monitor(7), 92.456);
    match &a[0] {
        Action::Opened { title, .. } => {
            assert_eq!(
                title,
                "Health check: Homepage memory.percentage is 92.46 (> 90)"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(e
        .on_measure(T0, "memory", Subject::Project(7), 99.0)
        .is_empty());
    assert!(e
        .on_measure(T0, "memory", Subject::Monitor(7), f64::NAN)
        .is_empty());
    // A "<" condition keeps its lowest value as the worst.
    e.on_measure(T0, "db", Subject::Monitor(7), 0.5);
    e.on_measure(T0 + MIN, "db", Subject::Monitor(7), 0.2);
    e.on_measure(T0 + 2 * MIN, "db", Subject::Monitor(7), 0.7);
    assert_eq!(
        e.incident(&key("db", Subject::Monitor(7))).unwrap().worst,
        Some(0.2)
    );
    let a = e.on_measure(T0, "slow", Subject::Project(1), 2_300.0);
    match &a[0] {
        Action::Opened { title, .. } => assert_eq!(title, "Slow responses: p95 2.3s in 5m"),
        other => panic!("{other:?}"),
    }
    assert!(e
        .on_measure(T0, "slow", Subject::Project(2), 2_000.0)
        .is_empty());
}

#[test]
fn engines_reject_duplicate_rule_names_and_bad_policies() {
    let err = Engine::new(vec![spike_rule(), spike_rule()], Policies::default()).unwrap_err();
    assert!(err.contains("two rules are named \"error-spike\""), "{err}");
    let mut p = Policies::default();
    p.high.ack_within_ms = Some(0);
    let err = Engine::new(vec![], p).unwrap_err();
    assert!(err.starts_with("the high policy: ack_within"), "{err}");
}

#[test]
fn actions_and_state_serialise_for_the_outbox_and_the_store() {
    let mut e = engine(vec![rule("site-down", "monitor down", Severity::High)]);
    let a = e.on_signal(T0, &monitor(SignalKind::MonitorDown, 7, "timeout"));
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json[0]["type"], "opened");
    assert_eq!(json[0]["key"]["subject"]["kind"], "monitor");
    assert_eq!(json[1]["event"]["type"], "triggered");
    let back: Vec<Action> = serde_json::from_value(json).unwrap();
    assert_eq!(back, a);
}

#[test]
fn rules_added_and_removed_at_run_time() {
    let mut e = engine(vec![rule("Site down", "monitor down", Severity::Critical)]);
    assert!(e
        .add_rule(rule("Site down", "monitor degraded", Severity::High))
        .is_err());
    e.add_rule(rule("Degraded", "monitor degraded", Severity::High))
        .unwrap();
    let a = e.on_signal(0, &monitor(SignalKind::MonitorDegraded, 7, "slow"));
    assert_eq!(opened(&a), 1, "the new rule takes effect: {a:?}");
    assert!(e.remove_rule("Site down"));
    assert!(!e.remove_rule("Site down"));
    assert_eq!(e.rule("Degraded").map(|r| r.severity), Some(Severity::High));
    assert!(e.remove_rule("Degraded"));
    // Its incident resolves at the next tick.
    let a = e.tick(1);
    assert_eq!(resolved(&a).len(), 1, "{a:?}");
    assert!(e.open_incidents().next().is_none());
}
