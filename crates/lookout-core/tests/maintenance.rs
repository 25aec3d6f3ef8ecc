//! Maintenance windows: one-off boundaries, recurring windows in a time zone (including
//! a daylight saving change), and overlapping recurring windows merged.

use lookout_core::maintenance::MaintenanceWindow;
use lookout_core::schedule::CronSchedule;

const MIN: i64 = 60_000;

fn at(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .as_millisecond()
}

fn recurring(expr: &str, tz: &str, duration_ms: i64) -> MaintenanceWindow {
    MaintenanceWindow::Recurring {
        cron: CronSchedule::parse(expr, Some(tz)).unwrap(),
        duration_ms,
    }
}

#[test]
fn one_off_is_active_from_its_start_until_just_before_its_end() {
    let (start, end) = (at("2024-06-01T02:00:00Z"), at("2024-06-01T04:00:00Z"));
    let w = MaintenanceWindow::OneOff {
        start_ms: start,
        end_ms: end,
    };
    assert_eq!(w.active_until(start - 1), None);
    assert_eq!(w.active_until(start), Some(end));
    assert_eq!(w.active_until(end - 1), Some(end));
    assert_eq!(w.active_until(end), None);
}

#[test]
fn an_empty_or_inverted_one_off_is_never_active() {
    let t = at("2024-06-01T02:00:00Z");
    for (start_ms, end_ms) in [(t, t), (t, t - MIN)] {
        let w = MaintenanceWindow::OneOff { start_ms, end_ms };
        assert_eq!(w.active_until(t), None);
        assert_eq!(w.active_until(t - 1), None);
    }
}

#[test]
fn sunday_two_am_in_berlin_for_thirty_minutes() {
    let w = recurring("0 2 * * SUN", "Europe/Berlin", 30 * MIN);
    // Summer: 02:00 CEST is 00:00 UTC.
    let start = at("2024-06-02T02:00:00+02:00");
    assert_eq!(start, at("2024-06-02T00:00:00Z"));
    assert_eq!(w.active_until(start - 1), None);
    assert_eq!(w.active_until(start), Some(start + 30 * MIN));
    assert_eq!(w.active_until(start + 30 * MIN - 1), Some(start + 30 * MIN));
    assert_eq!(w.active_until(start + 30 * MIN), None);
    // Saturday noon: none; the next one starts a week after this one.
    assert_eq!(w.active_until(at("2024-06-01T12:00:00Z")), None);
    let next = at("2024-06-09T02:00:00+02:00");
    assert_eq!(w.active_until(next - 1), None);
    assert_eq!(w.active_until(next), Some(next + 30 * MIN));
    // Winter: 02:00 CET is 01:00 UTC.
    let winter = at("2024-01-07T01:00:00Z");
    assert_eq!(w.active_until(winter - 1), None);
    assert_eq!(w.active_until(winter + 10 * MIN), Some(winter + 30 * MIN));
}

#[test]
fn a_window_on_the_spring_forward_night_starts_after_the_gap() {
    // 2024-03-31: 02:00 does not exist in Berlin; the window opens at 03:00 CEST.
    let w = recurring("0 2 * * SUN", "Europe/Berlin", 30 * MIN);
    let start = at("2024-03-31T03:00:00+02:00");
    assert_eq!(w.active_until(at("2024-03-30T12:00:00Z")), None);
    assert_eq!(w.active_until(start - 1), None);
    assert_eq!(w.active_until(start), Some(start + 30 * MIN));
}

#[test]
fn a_window_across_fall_back_lasts_its_elapsed_duration() {
    // 01:30 CEST plus 2 hours of elapsed time ends at 02:30 CET (the clock fell back).
    let w = recurring("30 1 27 10 *", "Europe/Berlin", 120 * MIN);
    let start = at("2024-10-27T01:30:00+02:00");
    assert_eq!(
        w.active_until(start + MIN),
        Some(at("2024-10-27T02:30:00+01:00"))
    );
}

#[test]
fn touching_and_overlapping_recurring_windows_count_as_one() {
    // 02:00-03:00 and 03:00-04:00 touch: maintenance lasts until 04:00.
    let w = recurring("0 2,3 * * *", "UTC", 60 * MIN);
    assert_eq!(
        w.active_until(at("2024-06-01T02:15:00Z")),
        Some(at("2024-06-01T04:00:00Z"))
    );
    // 02:00 for 90 min and 03:00 for 90 min overlap: until 04:30.
    let w = recurring("0 2,3 * * *", "UTC", 90 * MIN);
    assert_eq!(
        w.active_until(at("2024-06-01T02:15:00Z")),
        Some(at("2024-06-01T04:30:00Z"))
    );
    // Inside the second window only.
    assert_eq!(
        w.active_until(at("2024-06-01T04:00:00Z")),
        Some(at("2024-06-01T04:30:00Z"))
    );
    // Separate windows stay separate.
    let w = recurring("0 2,4 * * *", "UTC", 60 * MIN);
    assert_eq!(
        w.active_until(at("2024-06-01T02:15:00Z")),
        Some(at("2024-06-01T03:00:00Z"))
    );
}

#[test]
fn a_window_that_never_ends_still_gives_an_answer() {
    // Hourly for two hours: always in maintenance; the answer is far ahead, not a hang.
    let w = recurring("0 * * * *", "UTC", 120 * MIN);
    let now = at("2024-06-01T02:15:00Z");
    let until = w.active_until(now).unwrap();
    assert!(until > now + 24 * 60 * MIN, "{until}");
}

#[test]
fn windows_round_trip_through_serde() {
    let w = recurring("0 2 * * SUN", "Europe/Berlin", 30 * MIN);
    let json = serde_json::to_value(&w).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "type": "recurring",
            "cron": {"expr": "0 2 * * SUN", "tz": "Europe/Berlin"},
            "duration_ms": 1_800_000
        })
    );
    assert_eq!(
        serde_json::from_value::<MaintenanceWindow>(json).unwrap(),
        w
    );
}

#[test]
fn spans_list_the_current_and_coming_windows() {
    let w = recurring("0 2 * * *", "UTC", 60 * MIN);
    let now = at("2024-06-01T02:30:00Z");
    let day = 24 * 60 * MIN;
    assert_eq!(
        w.spans(now, now + 2 * day, 10),
        vec![
            (at("2024-06-01T02:00:00Z"), at("2024-06-01T03:00:00Z")),
            (at("2024-06-02T02:00:00Z"), at("2024-06-02T03:00:00Z")),
            (at("2024-06-03T02:00:00Z"), at("2024-06-03T03:00:00Z")),
        ]
    );
    assert_eq!(w.spans(now, now + 2 * day, 1).len(), 1);
    let later = at("2024-06-01T03:00:00Z");
    assert_eq!(
        w.spans(later, later + day, 10),
        vec![(at("2024-06-02T02:00:00Z"), at("2024-06-02T03:00:00Z"))],
        "a window that just ended is not announced"
    );
    let once = MaintenanceWindow::OneOff {
        start_ms: at("2024-06-05T02:00:00Z"),
        end_ms: at("2024-06-05T04:00:00Z"),
    };
    assert!(
        once.spans(now, now + day, 10).is_empty(),
        "beyond the horizon"
    );
    assert_eq!(once.spans(now, now + 7 * day, 10).len(), 1);
    assert!(once
        .spans(at("2024-06-05T04:00:00Z"), at("2024-06-09T00:00:00Z"), 10)
        .is_empty());
}
