//! Cron schedules: parsing and its messages, next/prev across month and year ends, leap
//! years, daylight saving changes in Europe/Berlin and America/New_York, and properties
//! checked against a naive day-by-day reference in UTC.

use lookout_core::schedule::{parse_interval, CronSchedule};
use proptest::prelude::*;

/// Unix ms of an RFC 3339 time with an explicit offset, so expected instants do not
/// depend on the time zone rules under test.
fn at(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .as_millisecond()
}

fn cron(expr: &str) -> CronSchedule {
    CronSchedule::parse(expr, None).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn cron_in(expr: &str, tz: &str) -> CronSchedule {
    CronSchedule::parse(expr, Some(tz)).unwrap_or_else(|e| panic!("{expr} in {tz}: {e}"))
}

fn parse_err(expr: &str) -> String {
    match CronSchedule::parse(expr, None) {
        Ok(s) => panic!("{expr} parsed as {s:?}"),
        Err(e) => e,
    }
}

/// The next `n` runs strictly after `from`.
fn runs(s: &CronSchedule, from: i64, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    let mut t = from;
    for _ in 0..n {
        t = s.next_after(t).expect("a next run");
        out.push(t);
    }
    out
}

#[test]
fn bad_expressions_say_which_field_and_why() {
    let cases = [
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("* 24 * * *", "hour field: 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("* * 32 * *", "day-of-month field: 32 is out of range 1-31"),
        ("* * * 13 *", "month field: 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("99999999999 * * * *", "minute field: 99999999999 is out of range 0-59"),
        (
            "* * * Foo *",
            "month field: \"Foo\" is not a month (1-12 or JAN-DEC)",
        ),
        (
            "* * * MON *",
            "month field: \"MON\" is not a month (1-12 or JAN-DEC)",
        ),
        (
            "* * * * mom",
            "day-of-week field: \"mom\" is not a day of the week (0-7 or SUN-SAT)",
        ),
        ("*/0 * * * *", "minute field: step 0 must be at least 1"),
        ("*/x * * * *", "minute field: step \"x\" is not a number"),
        (
            "*/90 * * * *",
            "minute field: step 90 is larger than the field's range 0-59; a step cannot reach past it",
        ),
        ("0 1/2/3 * * *", "hour field: \"1/2/3\" has more than one /"),
        (
            "0 22-2 * * *",
            "hour field: range 22-2 runs backwards; write it as 22-23,0-2",
        ),
        ("1,,2 * * * *", "minute field: empty list item in \"1,,2\""),
        ("1, * * * *", "minute field: empty list item in \"1,\""),
        ("0 0 * * 1#6", "day-of-week field: \"1#6\": the occurrence after # must be 1 to 5"),
        ("0 0 L/2 * *", "day-of-month field: \"L/2\" cannot take a step"),
        ("0 0 * * 5-", "day-of-week field: a value is missing; expected a day of the week (0-7 or SUN-SAT)"),
        ("L * * * *", "minute field: \"L\" is not a number"),
        ("", "the cron expression is empty"),
        ("   ", "the cron expression is empty"),
        (
            "* * * *",
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), but \"* * * *\" has 4",
        ),
        (
            "0 0 * * * *",
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week), but \"0 0 * * * *\" has 6; seconds and years are not supported",
        ),
        (
            "@reboot",
            "@reboot cannot be scheduled: it means \"when the machine starts\"",
        ),
        (
            "@every 5m",
            "unknown cron macro \"@every 5m\"; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly",
        ),
        (
            "0 0 30 2 *",
            "day-of-month field: day 30 never occurs in February, so the expression never matches",
        ),
        (
            "0 0 31 4,6,SEP *",
            "day-of-month field: day 31 never occurs in April, June and September, so the expression never matches",
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(parse_err(expr), want, "for {expr:?}");
    }
}

#[test]
fn unknown_time_zones_are_named_with_a_suggestion_when_close() {
    let err = CronSchedule::parse("0 * * * *", Some("Europe/Parris")).unwrap_err();
    assert_eq!(
        err,
        "unknown time zone \"Europe/Parris\"; did you mean \"Europe/Paris\"?"
    );
    let err = CronSchedule::parse("0 * * * *", Some("Mars/Olympus_Mons")).unwrap_err();
    assert_eq!(err, "unknown time zone \"Mars/Olympus_Mons\"");
}

#[test]
fn time_zone_defaults_to_utc_and_is_canonicalized() {
    assert_eq!(cron("0 * * * *").timezone(), "UTC");
    assert_eq!(
        CronSchedule::parse("0 * * * *", Some(""))
            .unwrap()
            .timezone(),
        "UTC"
    );
    assert_eq!(
        cron_in("0 * * * *", "europe/berlin").timezone(),
        "Europe/Berlin"
    );
}

#[test]
fn keeps_the_original_text_for_display() {
    let s = cron_in("  0 9 * * mon-fri ", "Europe/Berlin");
    assert_eq!(s.expr(), "0 9 * * mon-fri");
    assert_eq!(s.to_string(), "0 9 * * mon-fri");
    assert_eq!(
        format!("{s:?}"),
        "CronSchedule(\"0 9 * * mon-fri\", Europe/Berlin)"
    );
}

#[test]
fn macros_equal_their_expansions() {
    let from = at("2023-12-30T17:45:00Z");
    for (mac, expansion) in [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
    ] {
        assert_eq!(
            runs(&cron(mac), from, 5),
            runs(&cron(expansion), from, 5),
            "{mac}"
        );
        assert_eq!(cron(mac).expr(), mac);
    }
    assert_eq!(
        runs(&cron("@weekly"), from, 2),
        vec![at("2023-12-31T00:00:00Z"), at("2024-01-07T00:00:00Z")]
    );
}

#[test]
fn names_lists_ranges_and_steps() {
    // Saturday 2024-06-01.
    let sat = at("2024-06-01T12:00:00Z");
    assert_eq!(
        runs(&cron("0 9 * * MON-fri"), sat, 3),
        vec![
            at("2024-06-03T09:00:00Z"),
            at("2024-06-04T09:00:00Z"),
            at("2024-06-05T09:00:00Z")
        ]
    );
    assert_eq!(
        runs(&cron("0 0 1 jan,Jul *"), sat, 2),
        vec![at("2024-07-01T00:00:00Z"), at("2025-01-01T00:00:00Z")]
    );
    let t = at("2024-06-01T10:07:00Z");
    assert_eq!(
        runs(&cron("*/15 * * * *"), t, 3),
        vec![
            at("2024-06-01T10:15:00Z"),
            at("2024-06-01T10:30:00Z"),
            at("2024-06-01T10:45:00Z")
        ]
    );
    // `5/15` is shorthand for `5-59/15`.
    assert_eq!(
        runs(&cron("5/15 * * * *"), t, 3),
        vec![
            at("2024-06-01T10:20:00Z"),
            at("2024-06-01T10:35:00Z"),
            at("2024-06-01T10:50:00Z")
        ]
    );
    assert_eq!(
        runs(&cron("10-20/5,59 8 * * *"), t, 4),
        vec![
            at("2024-06-02T08:10:00Z"),
            at("2024-06-02T08:15:00Z"),
            at("2024-06-02T08:20:00Z"),
            at("2024-06-02T08:59:00Z")
        ]
    );
    // 7 is Sunday too; `?` is `*`.
    assert_eq!(
        runs(&cron("0 0 ? * 7"), sat, 1),
        vec![at("2024-06-02T00:00:00Z")]
    );
    // Odd weekdays from Monday stop at Saturday: no Sunday as 7.
    assert_eq!(
        runs(&cron("0 12 * * 1/2"), sat, 4),
        vec![
            at("2024-06-03T12:00:00Z"),
            at("2024-06-05T12:00:00Z"),
            at("2024-06-07T12:00:00Z"),
            at("2024-06-10T12:00:00Z")
        ]
    );
}

#[test]
fn day_of_month_and_day_of_week_are_ored_when_both_are_restricted() {
    // The 13th, and every Friday: June 2024 has Fridays 7, 14, 21, 28.
    let s = cron("0 0 13 * FRI");
    assert_eq!(
        runs(&s, at("2024-06-01T00:00:00Z"), 4),
        vec![
            at("2024-06-07T00:00:00Z"),
            at("2024-06-13T00:00:00Z"),
            at("2024-06-14T00:00:00Z"),
            at("2024-06-21T00:00:00Z")
        ]
    );
    // With day of week `*` only the 13th counts.
    assert_eq!(
        runs(&cron("0 0 13 * *"), at("2024-06-01T00:00:00Z"), 2),
        vec![at("2024-06-13T00:00:00Z"), at("2024-07-13T00:00:00Z")]
    );
    // A day that February lacks is fine when Mondays also count.
    assert_eq!(
        runs(&cron("0 0 30 2 MON"), at("2024-02-01T00:00:00Z"), 1),
        vec![at("2024-02-05T00:00:00Z")]
    );
}

#[test]
fn last_day_and_nth_weekday_extensions() {
    assert_eq!(
        runs(&cron("0 0 L * *"), at("2023-01-15T00:00:00Z"), 3),
        vec![
            at("2023-01-31T00:00:00Z"),
            at("2023-02-28T00:00:00Z"),
            at("2023-03-31T00:00:00Z")
        ]
    );
    assert_eq!(
        runs(&cron("0 0 L 2 *"), at("2023-03-01T00:00:00Z"), 1),
        vec![at("2024-02-29T00:00:00Z")]
    );
    // First Monday of the month, and last Friday.
    assert_eq!(
        runs(&cron("0 0 * * MON#1"), at("2024-06-01T00:00:00Z"), 2),
        vec![at("2024-06-03T00:00:00Z"), at("2024-07-01T00:00:00Z")]
    );
    assert_eq!(
        runs(&cron("0 0 * * 5L"), at("2024-06-01T00:00:00Z"), 2),
        vec![at("2024-06-28T00:00:00Z"), at("2024-07-26T00:00:00Z")]
    );
}

#[test]
fn next_is_strict_and_prev_is_inclusive() {
    let s = cron("0 * * * *");
    let slot = at("2024-06-01T10:00:00Z");
    assert_eq!(s.next_after(slot), Some(at("2024-06-01T11:00:00Z")));
    assert_eq!(s.next_after(slot - 1), Some(slot));
    assert_eq!(s.prev_at_or_before(slot), Some(slot));
    assert_eq!(s.prev_at_or_before(slot + 1), Some(slot));
    assert_eq!(
        s.prev_at_or_before(slot - 1),
        Some(at("2024-06-01T09:00:00Z"))
    );
    // Before 1970 too.
    let old = at("1969-07-20T20:17:40Z");
    assert_eq!(s.next_after(old), Some(at("1969-07-20T21:00:00Z")));
    assert_eq!(s.prev_at_or_before(old), Some(at("1969-07-20T20:00:00Z")));
}

#[test]
fn month_and_year_ends() {
    let s = cron("0 0 31 * *");
    assert_eq!(
        runs(&s, at("2024-01-31T00:00:00Z"), 3),
        vec![
            at("2024-03-31T00:00:00Z"),
            at("2024-05-31T00:00:00Z"),
            at("2024-07-31T00:00:00Z")
        ]
    );
    assert_eq!(
        s.prev_at_or_before(at("2024-03-30T23:59:59Z")),
        Some(at("2024-01-31T00:00:00Z"))
    );
    let nye = cron("59 23 31 12 *");
    assert_eq!(
        nye.next_after(at("2024-12-31T23:59:00Z")),
        Some(at("2025-12-31T23:59:00Z"))
    );
    assert_eq!(
        cron("0 0 1 1 *").next_after(at("2024-12-31T23:59:59.999Z")),
        Some(at("2025-01-01T00:00:00Z"))
    );
}

#[test]
fn leap_days() {
    let s = cron("0 12 29 2 *");
    assert_eq!(
        runs(&s, at("2023-03-01T00:00:00Z"), 3),
        vec![
            at("2024-02-29T12:00:00Z"),
            at("2028-02-29T12:00:00Z"),
            at("2032-02-29T12:00:00Z")
        ]
    );
    assert_eq!(
        s.prev_at_or_before(at("2027-06-01T00:00:00Z")),
        Some(at("2024-02-29T12:00:00Z"))
    );
    // 2100 is not a leap year.
    assert_eq!(
        s.next_after(at("2096-03-01T00:00:00Z")),
        Some(at("2104-02-29T12:00:00Z"))
    );
}

#[test]
fn berlin_spring_forward_runs_a_skipped_fixed_time_once() {
    // 2024-03-31: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    let s = cron_in("30 2 * * *", "Europe/Berlin");
    assert_eq!(
        runs(&s, at("2024-03-29T12:00:00+01:00"), 3),
        vec![
            at("2024-03-30T02:30:00+01:00"),
            at("2024-03-31T03:00:00+02:00"),
            at("2024-04-01T02:30:00+02:00")
        ]
    );
    assert_eq!(
        s.prev_at_or_before(at("2024-03-31T12:00:00+02:00")),
        Some(at("2024-03-31T03:00:00+02:00"))
    );
}

#[test]
fn berlin_fall_back_runs_a_repeated_fixed_time_once() {
    // 2024-10-27: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    let s = cron_in("30 2 * * *", "Europe/Berlin");
    assert_eq!(
        runs(&s, at("2024-10-26T12:00:00+02:00"), 2),
        vec![
            at("2024-10-27T02:30:00+02:00"),
            at("2024-10-28T02:30:00+01:00")
        ]
    );
    assert_eq!(
        s.prev_at_or_before(at("2024-10-27T02:45:00+01:00")),
        Some(at("2024-10-27T02:30:00+02:00"))
    );
}

#[test]
fn berlin_interval_jobs_keep_their_spacing_through_both_changes() {
    let s = cron_in("*/30 * * * *", "Europe/Berlin");
    assert_eq!(
        runs(&s, at("2024-03-31T01:00:00+01:00"), 3),
        vec![
            at("2024-03-31T01:30:00+01:00"),
            at("2024-03-31T03:00:00+02:00"),
            at("2024-03-31T03:30:00+02:00")
        ]
    );
    assert_eq!(
        runs(&s, at("2024-10-27T01:45:00+02:00"), 5),
        vec![
            at("2024-10-27T02:00:00+02:00"),
            at("2024-10-27T02:30:00+02:00"),
            at("2024-10-27T02:00:00+01:00"),
            at("2024-10-27T02:30:00+01:00"),
            at("2024-10-27T03:00:00+01:00")
        ]
    );
}

#[test]
fn new_york_changes() {
    // 2024-03-10: 02:00 EST jumps to 03:00 EDT.
    let s = cron_in("30 2 * * *", "America/New_York");
    assert_eq!(
        runs(&s, at("2024-03-09T12:00:00-05:00"), 3),
        vec![
            at("2024-03-10T03:00:00-04:00"),
            at("2024-03-11T02:30:00-04:00"),
            at("2024-03-12T02:30:00-04:00")
        ]
    );
    // 2024-11-03: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    let s = cron_in("30 1 * * *", "America/New_York");
    assert_eq!(
        runs(&s, at("2024-11-02T12:00:00-04:00"), 3),
        vec![
            at("2024-11-03T01:30:00-04:00"),
            at("2024-11-04T01:30:00-05:00"),
            at("2024-11-05T01:30:00-05:00")
        ]
    );
    // Midnight in New York is 04:00 or 05:00 UTC depending on the season.
    let daily = cron_in("@daily", "America/New_York");
    assert_eq!(
        runs(&daily, at("2024-11-02T12:00:00Z"), 2),
        vec![at("2024-11-03T04:00:00Z"), at("2024-11-04T05:00:00Z")]
    );
}

#[test]
fn round_trips_through_serde() {
    let s = cron_in("0 2 * * SUN", "Europe/Berlin");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"expr": "0 2 * * SUN", "tz": "Europe/Berlin"})
    );
    let back: CronSchedule = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
    let bad = serde_json::from_value::<CronSchedule>(
        serde_json::json!({"expr": "61 * * * *", "tz": "UTC"}),
    );
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("minute field: 61 is out of range 0-59"));
}

#[test]
fn sentry_interval_units() {
    assert_eq!(parse_interval(10, "minute"), Ok(600_000));
    assert_eq!(parse_interval(2, "hours"), Ok(7_200_000));
    assert_eq!(parse_interval(1, "day"), Ok(86_400_000));
    assert_eq!(parse_interval(1, "week"), Ok(604_800_000));
    assert_eq!(parse_interval(1, "month"), Ok(31 * 86_400_000));
    assert_eq!(parse_interval(1, "Year"), Ok(366 * 86_400_000));
    assert_eq!(
        parse_interval(1, "fortnight"),
        Err(
            "unknown interval unit \"fortnight\"; use minute, hour, day, week, month or year"
                .into()
        )
    );
    assert_eq!(
        parse_interval(0, "minute"),
        Err("an interval must be at least 1".into())
    );
    assert_eq!(
        parse_interval(u64::MAX, "year"),
        Err(format!("an interval of {} years is too long", u64::MAX))
    );
}

/// One field of a generated expression: its text and the values a reference matcher
/// should accept.
#[derive(Debug, Clone)]
struct GenField {
    text: String,
    values: Vec<u32>,
    star: bool,
}

/// Values from `min` to `max` for lists and ranges; `*` and `*/k` cover `min..=full_max`.
fn gen_field(
    min: u32,
    max: u32,
    full_max: u32,
    names: &'static [&'static str],
) -> impl Strategy<Value = GenField> {
    let star = Just(GenField {
        text: "*".into(),
        values: (min..=full_max).collect(),
        star: true,
    });
    let step = (2..=(full_max - min).max(2)).prop_map(move |k| GenField {
        text: format!("*/{k}"),
        values: (min..=full_max).step_by(k as usize).collect(),
        star: false,
    });
    let list = (
        proptest::collection::btree_set(min..=max, 1..4),
        any::<bool>(),
    )
        .prop_map(move |(set, use_names)| {
            let text = set
                .iter()
                .map(|&v| match names.get((v - min) as usize) {
                    Some(n) if use_names => n.to_string(),
                    _ => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",");
            GenField {
                text,
                values: set.into_iter().collect(),
                star: false,
            }
        });
    let range = (min..=max, min..=max).prop_map(|(a, b)| {
        let (a, b) = (a.min(b), a.max(b));
        GenField {
            text: format!("{a}-{b}"),
            values: (a..=b).collect(),
            star: false,
        }
    });
    prop_oneof![star, step, list, range]
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Five fields whose listed days of month (1-28) always exist and whose `*/k` days
/// include the 1st, so every expression matches.
fn gen_expr() -> impl Strategy<Value = [GenField; 5]> {
    (
        gen_field(0, 59, 59, &[]),
        gen_field(0, 23, 23, &[]),
        gen_field(1, 28, 31, &[]),
        gen_field(1, 12, 12, MONTHS),
        gen_field(0, 7, 7, DAYS),
    )
        .prop_map(|(a, b, c, d, e)| [a, b, c, d, e])
}

/// A naive reference: walk day by day in UTC and take the first matching minute.
fn reference_next(f: &[GenField; 5], after_ms: i64) -> Option<i64> {
    use jiff::civil::Date;
    let after = jiff::Timestamp::from_millisecond(after_ms).ok()?;
    let start = after.to_zoned(jiff::tz::TimeZone::UTC).date();
    let dows: Vec<u32> = f[4].values.iter().map(|d| d % 7).collect();
    let mut day: Date = start;
    for _ in 0..(366 * 30) {
        let dom_ok = f[2].values.contains(&(day.day() as u32));
        let dow_ok = dows.contains(&(day.weekday().to_sunday_zero_offset() as u32));
        let day_ok = match (f[2].star, f[4].star) {
            (true, _) => dow_ok,
            (_, true) => dom_ok,
            _ => dom_ok || dow_ok,
        };
        if day_ok && f[3].values.contains(&(day.month() as u32)) {
            for &h in &f[1].values {
                for &m in &f[0].values {
                    let t = day
                        .at(h as i8, m as i8, 0, 0)
                        .to_zoned(jiff::tz::TimeZone::UTC)
                        .ok()?
                        .timestamp()
                        .as_millisecond();
                    if t > after_ms {
                        return Some(t);
                    }
                }
            }
        }
        day = day.tomorrow().ok()?;
    }
    None
}

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn next_after_matches_a_naive_reference_in_utc(
        fields in gen_expr(),
        // 1990 to 2090.
        t in 631_152_000_000i64..3_786_912_000_000,
    ) {
        let expr = fields.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join(" ");
        let s = CronSchedule::parse(&expr, None).unwrap();
        prop_assert_eq!(s.next_after(t), reference_next(&fields, t), "{}", expr);
    }

    #[test]
    fn next_and_prev_agree_in_every_zone(
        fields in gen_expr(),
        zone in 0..ZONES.len(),
        t in 631_152_000_000i64..3_786_912_000_000,
    ) {
        let expr = fields.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join(" ");
        let s = CronSchedule::parse(&expr, Some(ZONES[zone])).unwrap();
        let next = s.next_after(t).unwrap();
        prop_assert!(next > t);
        // Strictly increasing, and nothing between t and next.
        let after = s.next_after(next).unwrap();
        prop_assert!(after > next);
        prop_assert_eq!(s.prev_at_or_before(next), Some(next));
        prop_assert_eq!(s.prev_at_or_before(next - 1).map(|p| p <= t), Some(true));
        let prev = s.prev_at_or_before(t).unwrap();
        prop_assert!(prev <= t);
        prop_assert_eq!(s.next_after(prev), Some(next));
    }
}
