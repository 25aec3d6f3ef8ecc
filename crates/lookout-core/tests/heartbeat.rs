//! Push monitors on a manual timeline: periods and cron slots with grace, thresholds,
//! start/end pings and max runtime, recovery, no repeated alerts while down, restore
//! after a restart, and Sentry's `monitor_config` and check-in statuses.

use lookout_core::heartbeat::{
    CheckInStatus, HeartbeatEvent, HeartbeatSchedule, HeartbeatSpec, HeartbeatState, Ping,
};
use lookout_core::monitor::State;
use lookout_core::schedule::CronSchedule;
use proptest::prelude::*;
use serde_json::json;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
/// Some instant well after 1970, so nothing works by accident at zero.
const T0: i64 = 1_717_236_000_000; // 2024-06-01T10:00:00Z

fn period(period_ms: i64, grace_ms: i64) -> HeartbeatSpec {
    HeartbeatSpec::new(HeartbeatSchedule::Period { period_ms }, grace_ms)
}

fn hourly_cron(grace_ms: i64) -> HeartbeatSpec {
    HeartbeatSpec::new(
        HeartbeatSchedule::Cron(CronSchedule::parse("0 * * * *", None).unwrap()),
        grace_ms,
    )
}

fn ok() -> Ping {
    Ping::Success { duration_ms: None }
}

fn fail(code: i32) -> Ping {
    Ping::Fail {
        exit_code: Some(code),
        duration_ms: None,
    }
}

#[test]
fn on_time_pings_stay_up_without_events() {
    let mut h = HeartbeatState::new(period(HOUR, 5 * MIN), T0);
    assert_eq!(h.state(), State::Unknown);
    assert_eq!(h.next_deadline_ms(), Some(T0 + HOUR + 5 * MIN));
    for i in 1..=24 {
        let now = T0 + i * HOUR;
        // The scheduler may tick before the deadline; nothing is due.
        assert_eq!(h.tick(now - 1), vec![]);
        assert_eq!(h.ping(now, ok()), vec![]);
        assert_eq!(h.state(), State::Up);
        assert_eq!(h.next_deadline_ms(), Some(now + HOUR + 5 * MIN));
        assert_eq!(h.last_ping_ms(), Some(now));
        assert_eq!(h.last_success_ms(), Some(now));
    }
}

#[test]
fn a_missed_period_is_detected_exactly_at_expected_plus_grace() {
    let mut h = HeartbeatState::new(period(HOUR, 5 * MIN), T0);
    h.ping(T0, ok());
    let deadline = T0 + HOUR + 5 * MIN;
    assert_eq!(h.next_deadline_ms(), Some(deadline));
    assert_eq!(h.tick(deadline - 1), vec![]);
    assert_eq!(h.state(), State::Up);
    assert_eq!(
        h.tick(deadline),
        vec![HeartbeatEvent::Missed {
            expected_ms: T0 + HOUR
        }]
    );
    assert_eq!(h.state(), State::Down);
    assert_eq!(h.down_since_ms(), Some(deadline));
}

#[test]
fn a_new_monitor_without_pings_counts_from_creation() {
    let mut h = HeartbeatState::new(period(30 * MIN, MIN), T0);
    assert_eq!(h.expected_ms(), Some(T0 + 30 * MIN));
    assert_eq!(h.tick(T0 + 31 * MIN - 1), vec![]);
    assert_eq!(
        h.tick(T0 + 31 * MIN),
        vec![HeartbeatEvent::Missed {
            expected_ms: T0 + 30 * MIN
        }]
    );
}

#[test]
fn failure_threshold_two_needs_two_misses() {
    let mut spec = period(HOUR, 5 * MIN);
    spec.failure_threshold = 2;
    let mut h = HeartbeatState::new(spec, T0);
    h.ping(T0, ok());
    assert_eq!(h.tick(T0 + HOUR + 5 * MIN), vec![]);
    assert_eq!(h.state(), State::Up);
    // The next slot is one period after the missed one.
    assert_eq!(h.next_deadline_ms(), Some(T0 + 2 * HOUR + 5 * MIN));
    assert_eq!(
        h.tick(T0 + 2 * HOUR + 5 * MIN),
        vec![HeartbeatEvent::Missed {
            expected_ms: T0 + 2 * HOUR
        }]
    );
    assert_eq!(h.state(), State::Down);
    // The outage began with the first miss.
    assert_eq!(h.down_since_ms(), Some(T0 + HOUR + 5 * MIN));
}

#[test]
fn a_success_between_misses_resets_the_count() {
    let mut spec = period(HOUR, 5 * MIN);
    spec.failure_threshold = 2;
    let mut h = HeartbeatState::new(spec, T0);
    h.ping(T0, ok());
    assert_eq!(h.tick(T0 + HOUR + 5 * MIN), vec![]);
    assert_eq!(h.ping(T0 + HOUR + 10 * MIN, ok()), vec![]);
    let next = h.next_deadline_ms().unwrap();
    assert_eq!(next, T0 + 2 * HOUR + 15 * MIN);
    assert_eq!(h.tick(next), vec![]);
    assert_eq!(h.state(), State::Up);
}

#[test]
fn a_late_scheduler_gets_one_event_for_many_missed_slots() {
    let mut h = HeartbeatState::new(period(HOUR, 5 * MIN), T0);
    h.ping(T0, ok());
    let now = T0 + 10 * HOUR;
    assert_eq!(
        h.tick(now),
        vec![HeartbeatEvent::Missed {
            expected_ms: T0 + HOUR
        }]
    );
    let next = h.next_deadline_ms().unwrap();
    assert!(next > now, "next deadline {next} is not after {now}");
    assert_eq!(next, T0 + 10 * HOUR + 5 * MIN);

    // With a threshold of 3 the third slot confirms it.
    let mut spec = period(HOUR, 5 * MIN);
    spec.failure_threshold = 3;
    let mut h = HeartbeatState::new(spec, T0);
    h.ping(T0, ok());
    assert_eq!(
        h.tick(now),
        vec![HeartbeatEvent::Missed {
            expected_ms: T0 + 3 * HOUR
        }]
    );
}

#[test]
fn no_event_spam_while_down() {
    let mut h = HeartbeatState::new(period(MIN, 0), T0);
    h.ping(T0, ok());
    assert_eq!(h.tick(T0 + MIN).len(), 1);
    for _ in 0..500 {
        let d = h.next_deadline_ms().unwrap();
        assert_eq!(h.tick(d), vec![]);
    }
    // A failure report while down says nothing new either.
    assert_eq!(h.ping(h.next_deadline_ms().unwrap() - 1, fail(1)), vec![]);
    // A year of per-minute slots settles at once and quietly.
    let later = T0 + 366 * 24 * HOUR;
    assert_eq!(h.tick(later), vec![]);
    assert!(h.next_deadline_ms().unwrap() > later);
    assert_eq!(h.state(), State::Down);
}

#[test]
fn the_end_of_time_does_not_hang() {
    let mut h = HeartbeatState::new(period(HOUR, 5 * MIN), T0);
    assert_eq!(
        h.tick(i64::MAX),
        vec![HeartbeatEvent::Missed {
            expected_ms: T0 + HOUR
        }]
    );
    assert_eq!(h.tick(i64::MAX), vec![]);
    let mut c = HeartbeatState::new(hourly_cron(5 * MIN), T0);
    assert_eq!(c.tick(i64::MAX).len(), 1);
    assert_eq!(c.next_deadline_ms(), None);
}

#[test]
fn a_fail_ping_goes_down_and_a_success_recovers() {
    let mut h = HeartbeatState::new(period(HOUR, 5 * MIN), T0);
    h.ping(T0, ok());
    assert_eq!(
        h.ping(T0 + HOUR, fail(2)),
        vec![HeartbeatEvent::Failed { exit_code: Some(2) }]
    );
    assert_eq!(h.state(), State::Down);
    // A failed run still attended its slot: the next is one period on.
    assert_eq!(h.next_deadline_ms(), Some(T0 + 2 * HOUR + 5 * MIN));
    assert_eq!(
        h.ping(T0 + 2 * HOUR, Ping::from_exit_code(0)),
        vec![HeartbeatEvent::Recovered { down_for_ms: HOUR }]
    );
    assert_eq!(h.state(), State::Up);
    assert_eq!(h.down_since_ms(), None);
}

#[test]
fn exit_codes_map_to_success_and_failure() {
    assert_eq!(Ping::from_exit_code(0), Ping::Success { duration_ms: None });
    assert_eq!(
        Ping::from_exit_code(1),
        Ping::Fail {
            exit_code: Some(1),
            duration_ms: None
        }
    );
    assert_eq!(
        Ping::from_exit_code(-9),
        Ping::Fail {
            exit_code: Some(-9),
            duration_ms: None
        }
    );
    let mut h = HeartbeatState::new(period(HOUR, MIN), T0);
    assert_eq!(h.ping(T0 + MIN, Ping::from_exit_code(0)), vec![]);
    assert_eq!(h.state(), State::Up);
    assert_eq!(
        h.ping(T0 + 2 * MIN, Ping::from_exit_code(137)),
        vec![HeartbeatEvent::Failed {
            exit_code: Some(137)
        }]
    );
}

#[test]
fn a_start_without_an_end_is_too_long_after_max_runtime() {
    let mut spec = period(HOUR, 5 * MIN);
    spec.max_runtime_ms = Some(10 * MIN);
    let mut h = HeartbeatState::new(spec, T0);
    let start = T0 + 20 * MIN;
    assert_eq!(h.ping(start, Ping::Start), vec![]);
    assert_eq!(h.running_since_ms(), Some(start));
    assert_eq!(h.next_deadline_ms(), Some(start + 10 * MIN));
    assert_eq!(h.tick(start + 10 * MIN - 1), vec![]);
    assert_eq!(
        h.tick(start + 10 * MIN),
        vec![HeartbeatEvent::TooLong { started_ms: start }]
    );
    assert_eq!(h.running_since_ms(), None);
    assert_eq!(h.state(), State::Down);
    // The start attended its slot; the next slot still counts from it.
    assert_eq!(h.next_deadline_ms(), Some(start + HOUR + 5 * MIN));
}

#[test]
fn without_max_runtime_a_hanging_run_is_caught_by_the_next_slot() {
    let mut h = HeartbeatState::new(period(HOUR, 5 * MIN), T0);
    h.ping(T0, Ping::Start);
    assert_eq!(h.next_deadline_ms(), Some(T0 + HOUR + 5 * MIN));
    assert_eq!(
        h.tick(T0 + HOUR + 5 * MIN),
        vec![HeartbeatEvent::Missed {
            expected_ms: T0 + HOUR
        }]
    );
}

#[test]
fn start_then_success_gives_the_run_duration() {
    let mut spec = period(HOUR, 5 * MIN);
    spec.max_runtime_ms = Some(30 * MIN);
    let mut h = HeartbeatState::new(spec, T0);
    h.ping(T0, Ping::Start);
    assert_eq!(h.ping(T0 + 7 * MIN, ok()), vec![]);
    assert_eq!(h.last_duration_ms(), Some(7 * MIN));
    assert_eq!(h.running_since_ms(), None);
    // The run's end, not its start, anchors the next period.
    assert_eq!(h.next_deadline_ms(), Some(T0 + 7 * MIN + HOUR + 5 * MIN));
    // A duration the job reports wins over the one measured from its start ping.
    h.ping(T0 + HOUR, Ping::Start);
    h.ping(
        T0 + HOUR + 3 * MIN,
        Ping::Success {
            duration_ms: Some(1234),
        },
    );
    assert_eq!(h.last_duration_ms(), Some(1234));
    // A failure after a start has a duration too.
    h.ping(T0 + 2 * HOUR, Ping::Start);
    h.ping(T0 + 2 * HOUR + MIN, fail(1));
    assert_eq!(h.last_duration_ms(), Some(MIN));
}

#[test]
fn recovery_threshold_two_needs_two_successes_in_a_row() {
    let mut spec = period(HOUR, 5 * MIN);
    spec.recovery_threshold = 2;
    let mut h = HeartbeatState::new(spec, T0);
    h.ping(T0, fail(1));
    assert_eq!(h.state(), State::Down);
    assert_eq!(h.ping(T0 + HOUR, ok()), vec![]);
    assert_eq!(h.state(), State::Down);
    // A miss in between starts the count again.
    let d = h.next_deadline_ms().unwrap();
    assert_eq!(h.tick(d), vec![]);
    assert_eq!(h.ping(d + MIN, ok()), vec![]);
    assert_eq!(h.state(), State::Down);
    assert_eq!(
        h.ping(d + 2 * MIN, ok()),
        vec![HeartbeatEvent::Recovered {
            down_for_ms: d + 2 * MIN - T0
        }]
    );
    assert_eq!(h.state(), State::Up);
}

#[test]
fn a_late_success_within_grace_is_fine() {
    let mut h = HeartbeatState::new(period(HOUR, 5 * MIN), T0);
    h.ping(T0, ok());
    assert_eq!(h.ping(T0 + HOUR + 4 * MIN, ok()), vec![]);
    // Exactly at the deadline is still in time.
    let d = h.next_deadline_ms().unwrap();
    assert_eq!(h.ping(d, ok()), vec![]);
    assert_eq!(h.state(), State::Up);
}

#[test]
fn a_ping_after_an_unticked_deadline_reports_the_miss_then_the_recovery() {
    let mut h = HeartbeatState::new(period(HOUR, 5 * MIN), T0);
    h.ping(T0, ok());
    assert_eq!(
        h.ping(T0 + HOUR + 10 * MIN, ok()),
        vec![
            HeartbeatEvent::Missed {
                expected_ms: T0 + HOUR
            },
            HeartbeatEvent::Recovered {
                down_for_ms: 5 * MIN
            }
        ]
    );
    assert_eq!(h.state(), State::Up);
}

#[test]
fn cron_slots_with_grace() {
    // Created at 10:30; the first run is expected at 11:00.
    let created = T0 + 30 * MIN;
    let mut h = HeartbeatState::new(hourly_cron(5 * MIN), created);
    assert_eq!(h.expected_ms(), Some(T0 + HOUR));
    assert_eq!(h.next_deadline_ms(), Some(T0 + HOUR + 5 * MIN));
    // Late but within grace; the slot does not move with the ping as a period would.
    assert_eq!(h.ping(T0 + HOUR + 3 * MIN, ok()), vec![]);
    assert_eq!(h.next_deadline_ms(), Some(T0 + 2 * HOUR + 5 * MIN));
    assert_eq!(h.tick(T0 + 2 * HOUR + 5 * MIN - 1), vec![]);
    assert_eq!(
        h.tick(T0 + 2 * HOUR + 5 * MIN),
        vec![HeartbeatEvent::Missed {
            expected_ms: T0 + 2 * HOUR
        }]
    );
    // Slots missed while down stay quiet; the 13:00 run recovers.
    assert_eq!(h.tick(T0 + 3 * HOUR + 5 * MIN), vec![]);
    assert_eq!(
        h.ping(T0 + 4 * HOUR + 30_000, ok()),
        vec![HeartbeatEvent::Recovered {
            down_for_ms: 2 * HOUR - 5 * MIN + 30_000
        }]
    );
}

#[test]
fn a_cron_ping_a_few_seconds_early_counts_for_its_slot() {
    let mut h = HeartbeatState::new(hourly_cron(5 * MIN), T0);
    // The job host's clock is 2 s ahead: it pings "before" 11:00.
    h.ping(T0 + HOUR - 2_000, ok());
    assert_eq!(h.expected_ms(), Some(T0 + 2 * HOUR));
    // A ping well before the slot does not.
    h.ping(T0 + 2 * HOUR - 5 * MIN, ok());
    assert_eq!(h.expected_ms(), Some(T0 + 2 * HOUR));
    // With no grace there is no tolerance either.
    let mut strict = HeartbeatState::new(hourly_cron(0), T0);
    strict.ping(T0 + HOUR - 2_000, ok());
    assert_eq!(strict.expected_ms(), Some(T0 + HOUR));
}

#[test]
fn a_cron_start_ping_attends_the_slot_and_max_runtime_takes_over() {
    let mut spec = hourly_cron(5 * MIN);
    spec.max_runtime_ms = Some(50 * MIN);
    let mut h = HeartbeatState::new(spec, T0 + MIN);
    h.ping(T0 + HOUR, Ping::Start);
    assert_eq!(h.next_deadline_ms(), Some(T0 + HOUR + 50 * MIN));
    assert_eq!(h.tick(T0 + HOUR + 5 * MIN), vec![]);
    assert_eq!(h.ping(T0 + HOUR + 40 * MIN, ok()), vec![]);
    assert_eq!(h.last_duration_ms(), Some(40 * MIN));
    assert_eq!(h.next_deadline_ms(), Some(T0 + 2 * HOUR + 5 * MIN));
}

#[test]
fn cron_in_a_time_zone_across_spring_forward() {
    // Daily 02:30 in Berlin: on 2024-03-31 the run is expected at 03:00 CEST.
    let spec = HeartbeatSpec::new(
        HeartbeatSchedule::Cron(CronSchedule::parse("30 2 * * *", Some("Europe/Berlin")).unwrap()),
        10 * MIN,
    );
    let created = "2024-03-30T12:00:00+01:00"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let gap_run = "2024-03-31T03:00:00+02:00"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let mut h = HeartbeatState::new(spec, created);
    h.ping(created + HOUR, ok());
    assert_eq!(h.expected_ms(), Some(gap_run));
    assert_eq!(
        h.tick(gap_run + 10 * MIN),
        vec![HeartbeatEvent::Missed {
            expected_ms: gap_run
        }]
    );
}

#[test]
fn restore_after_a_restart() {
    let spec = || {
        let mut s = period(HOUR, 5 * MIN);
        s.max_runtime_ms = Some(20 * MIN);
        s
    };
    // Up, last pinged at T0: a miss is still noticed after the restart.
    let mut h = HeartbeatState::restore(spec(), T0 - 24 * HOUR, State::Up, Some(T0), None);
    assert_eq!(h.state(), State::Up);
    assert_eq!(h.next_deadline_ms(), Some(T0 + HOUR + 5 * MIN));
    assert_eq!(
        h.tick(T0 + 3 * HOUR),
        vec![HeartbeatEvent::Missed {
            expected_ms: T0 + HOUR
        }]
    );

    // Down: no second alert for the same outage, and recovery is measured from the
    // first deadline after the last ping.
    let mut h = HeartbeatState::restore(spec(), T0 - 24 * HOUR, State::Down, Some(T0), None);
    assert_eq!(h.state(), State::Down);
    assert_eq!(h.tick(T0 + 3 * HOUR), vec![]);
    assert_eq!(
        h.ping(T0 + 4 * HOUR, ok()),
        vec![HeartbeatEvent::Recovered {
            down_for_ms: 4 * HOUR - (HOUR + 5 * MIN)
        }]
    );

    // A run that was going when lookout stopped still has its max runtime.
    let mut h =
        HeartbeatState::restore(spec(), T0 - 24 * HOUR, State::Up, Some(T0), Some(T0 + HOUR));
    assert_eq!(h.running_since_ms(), Some(T0 + HOUR));
    assert_eq!(h.next_deadline_ms(), Some(T0 + HOUR + 20 * MIN));
    assert_eq!(
        h.tick(T0 + HOUR + 20 * MIN),
        vec![HeartbeatEvent::TooLong {
            started_ms: T0 + HOUR
        }]
    );

    // Never pinged: the same as a new monitor.
    let created = T0 - 10 * MIN;
    assert_eq!(
        HeartbeatState::restore(spec(), created, State::Unknown, None, None),
        HeartbeatState::new(spec(), created)
    );
    // States a heartbeat does not have itself fall back sensibly.
    let h = HeartbeatState::restore(spec(), created, State::Paused, Some(T0), None);
    assert_eq!(h.state(), State::Unknown);
}

#[test]
fn sentry_check_in_statuses() {
    assert_eq!(
        Ping::from_sentry_check_in(CheckInStatus::from_sent("in_progress"), None),
        Some(Ping::Start)
    );
    assert_eq!(
        Ping::from_sentry_check_in(CheckInStatus::from_sent("ok"), Some(1.5)),
        Some(Ping::Success {
            duration_ms: Some(1500)
        })
    );
    assert_eq!(
        Ping::from_sentry_check_in(CheckInStatus::from_sent("error"), Some(0.0004)),
        Some(Ping::Fail {
            exit_code: None,
            duration_ms: Some(0)
        })
    );
    assert_eq!(
        Ping::from_sentry_check_in(CheckInStatus::from_sent("ok"), Some(f64::NAN)),
        Some(Ping::Success { duration_ms: None })
    );
    assert_eq!(
        Ping::from_sentry_check_in(CheckInStatus::from_sent("ok"), Some(-3.0)),
        Some(Ping::Success { duration_ms: None })
    );
    for synthetic in ["missed", "timeout", "unknown", "OK", "done", ""] {
        assert_eq!(
            Ping::from_sentry_check_in(CheckInStatus::from_sent(synthetic), Some(1.0)),
            None,
            "{synthetic}"
        );
    }
    // Words Sentry does not define are kept as `unknown`; its own words as they are.
    assert_eq!(CheckInStatus::from_sent("done"), CheckInStatus::Unknown);
    assert_eq!(CheckInStatus::from_sent("OK"), CheckInStatus::Unknown);
    for s in CheckInStatus::ALL {
        assert_eq!(CheckInStatus::from_sent(s.as_str()), *s);
    }
}

#[test]
fn sentry_crontab_config_with_defaults() {
    let spec = HeartbeatSpec::from_sentry_monitor_config(&json!({
        "schedule": {"type": "crontab", "value": "0 * * * *"}
    }))
    .unwrap();
    assert_eq!(
        spec,
        HeartbeatSpec {
            schedule: HeartbeatSchedule::Cron(CronSchedule::parse("0 * * * *", None).unwrap()),
            grace_ms: MIN,
            max_runtime_ms: Some(30 * MIN),
            failure_threshold: 1,
            recovery_threshold: 1,
        }
    );
}

#[test]
fn sentry_crontab_config_with_everything_set() {
    let spec = HeartbeatSpec::from_sentry_monitor_config(&json!({
        "schedule": {"type": "crontab", "value": "30 2 * * 1-5"},
        "checkin_margin": 10,
        "max_runtime": 90,
        "timezone": "Europe/Berlin",
        "failure_issue_threshold": 3,
        "recovery_threshold": 2,
        "owner": "team:1"
    }))
    .unwrap();
    let HeartbeatSchedule::Cron(cron) = &spec.schedule else {
        panic!("not a cron schedule: {spec:?}");
    };
    assert_eq!(cron.expr(), "30 2 * * 1-5");
    assert_eq!(cron.timezone(), "Europe/Berlin");
    assert_eq!(spec.grace_ms, 10 * MIN);
    assert_eq!(spec.max_runtime_ms, Some(90 * MIN));
    assert_eq!(spec.failure_threshold, 3);
    assert_eq!(spec.recovery_threshold, 2);
}

#[test]
fn sentry_interval_config_and_older_shapes() {
    let spec = HeartbeatSpec::from_sentry_monitor_config(&json!({
        "schedule": {"type": "interval", "value": 10, "unit": "minute"},
        "checkin_margin": null,
        "max_runtime": null,
        "timezone": ""
    }))
    .unwrap();
    assert_eq!(
        spec.schedule,
        HeartbeatSchedule::Period {
            period_ms: 10 * MIN
        }
    );
    assert_eq!(spec.grace_ms, MIN);
    assert_eq!(spec.max_runtime_ms, Some(30 * MIN));

    let pair = HeartbeatSpec::from_sentry_monitor_config(&json!({
        "schedule_type": "interval", "schedule": [2, "hour"], "checkin_margin": 0
    }))
    .unwrap();
    assert_eq!(
        pair.schedule,
        HeartbeatSchedule::Period {
            period_ms: 2 * HOUR
        }
    );
    // Sentry reads a margin of 0 as 1.
    assert_eq!(pair.grace_ms, MIN);

    let string = HeartbeatSpec::from_sentry_monitor_config(&json!({
        "schedule_type": "crontab", "schedule": "@daily", "max_runtime": "15"
    }))
    .unwrap();
    assert_eq!(
        string.schedule,
        HeartbeatSchedule::Cron(CronSchedule::parse("@daily", None).unwrap())
    );
    assert_eq!(string.max_runtime_ms, Some(15 * MIN));
}

#[test]
fn sentry_config_errors_name_the_field() {
    let cases = [
        (json!("0 * * * *"), "monitor_config: must be a JSON object"),
        (json!({}), "monitor_config.schedule: is missing"),
        (
            json!({"schedule": 5}),
            "monitor_config.schedule: must be an object such as {\"type\": \"crontab\", \"value\": \"0 * * * *\"}",
        ),
        (
            json!({"schedule": {"value": "0 * * * *"}}),
            "monitor_config.schedule.type: is missing; use \"crontab\" or \"interval\"",
        ),
        (
            json!({"schedule": {"type": "weekly", "value": 1}}),
            "monitor_config.schedule.type: \"weekly\" is not a schedule type; use \"crontab\" or \"interval\"",
        ),
        (
            json!({"schedule": {"type": "crontab", "value": "61 * * * *"}}),
            "monitor_config.schedule.value: minute field: 61 is out of range 0-59",
        ),
        (
            json!({"schedule": {"type": "crontab", "value": 5}}),
            "monitor_config.schedule.value: a crontab schedule needs a cron expression string",
        ),
        (
            json!({"schedule": {"type": "crontab", "value": "0 * * * *"}, "timezone": "Europe/Parris"}),
            "monitor_config.timezone: unknown time zone \"Europe/Parris\"; did you mean \"Europe/Paris\"?",
        ),
        (
            json!({"schedule": {"type": "crontab", "value": "0 * * * *"}, "timezone": 1}),
            "monitor_config.timezone: must be a time zone name",
        ),
        (
            json!({"schedule": {"type": "interval", "value": 0, "unit": "minute"}}),
            "monitor_config.schedule.value: an interval needs a whole number of at least 1",
        ),
        (
            json!({"schedule": {"type": "interval", "value": 1.5, "unit": "minute"}}),
            "monitor_config.schedule.value: an interval needs a whole number of at least 1",
        ),
        (
            json!({"schedule": {"type": "interval", "value": 1, "unit": "fortnight"}}),
            "monitor_config.schedule.unit: unknown interval unit \"fortnight\"; use minute, hour, day, week, month or year",
        ),
        (
            json!({"schedule": {"type": "interval", "value": 1}}),
            "monitor_config.schedule.unit: an interval needs a unit (minute, hour, day, week, month or year)",
        ),
        (
            json!({"schedule": {"type": "interval", "value": 1, "unit": "hour"}, "checkin_margin": -1}),
            "monitor_config.checkin_margin: must be a whole number from 0 to 40320, not -1",
        ),
        (
            json!({"schedule": {"type": "interval", "value": 1, "unit": "hour"}, "max_runtime": 50000}),
            "monitor_config.max_runtime: must be a whole number from 1 to 40320, not 50000",
        ),
        (
            json!({"schedule": {"type": "interval", "value": 1, "unit": "hour"}, "max_runtime": "soon"}),
            "monitor_config.max_runtime: must be a whole number from 1 to 40320, not \"soon\"",
        ),
        (
            json!({"schedule": {"type": "interval", "value": 1, "unit": "hour"}, "failure_issue_threshold": 0}),
            "monitor_config.failure_issue_threshold: must be a whole number from 1 to 720, not 0",
        ),
        (
            json!({"schedule": {"type": "interval", "value": 1, "unit": "hour"}, "recovery_threshold": 721}),
            "monitor_config.recovery_threshold: must be a whole number from 1 to 720, not 721",
        ),
    ];
    for (config, want) in cases {
        assert_eq!(
            HeartbeatSpec::from_sentry_monitor_config(&config).unwrap_err(),
            want,
            "for {config}"
        );
    }
}

#[test]
fn events_serialize_with_a_type_tag() {
    assert_eq!(
        serde_json::to_value(HeartbeatEvent::Missed { expected_ms: 5 }).unwrap(),
        json!({"type": "missed", "expected_ms": 5})
    );
    assert_eq!(
        serde_json::to_value(HeartbeatEvent::TooLong { started_ms: 7 }).unwrap(),
        json!({"type": "too_long", "started_ms": 7})
    );
}

#[derive(Debug, Clone)]
enum Step {
    Tick(i64),
    Ping(i64, Ping),
}

fn step() -> impl Strategy<Value = Step> {
    let ping = prop_oneof![
        Just(Ping::Start),
        Just(Ping::Success { duration_ms: None }),
        (0..3i32).prop_map(Ping::from_exit_code),
    ];
    prop_oneof![
        (0..3 * HOUR).prop_map(Step::Tick),
        ((0..3 * HOUR), ping).prop_map(|(d, p)| Step::Ping(d, p)),
    ]
}

proptest! {
    #[test]
    fn down_is_announced_once_per_outage(
        cron in any::<bool>(),
        grace in 0..10 * MIN,
        max_runtime in proptest::option::of(1..90 * MIN),
        failure_threshold in 1..4u32,
        recovery_threshold in 1..4u32,
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let mut spec = if cron { hourly_cron(grace) } else { period(HOUR, grace) };
        spec.max_runtime_ms = max_runtime;
        spec.failure_threshold = failure_threshold;
        spec.recovery_threshold = recovery_threshold;
        let mut h = HeartbeatState::new(spec, T0);
        let mut now = T0;
        let mut down = false;
        for s in steps {
            let events = match s {
                Step::Tick(d) => { now += d; h.tick(now) }
                Step::Ping(d, p) => { now += d; h.ping(now, p) }
            };
            for e in events {
                match e {
                    HeartbeatEvent::Recovered { down_for_ms } => {
                        prop_assert!(down, "recovered while not down");
                        prop_assert!(down_for_ms >= 0);
                        down = false;
                    }
                    other => {
                        prop_assert!(!down, "{:?} while already down", other);
                        down = true;
                    }
                }
            }
            prop_assert_eq!(h.state() == State::Down, down);
            if let Some(d) = h.next_deadline_ms() {
                // Everything due was settled: the next deadline is in the future
                // (a ping at exactly a deadline leaves that deadline for the tick).
                prop_assert!(d >= now, "deadline {} before now {}", d, now);
            }
        }
    }
}
