//! The alert condition language: what parses to what, what fails with which sentence, and
//! that the canonical form always parses back to the same condition.

use lookout_core::alert::rule::{Cmp, Condition, ErrorFilter, Rule};
use lookout_core::alert::Severity;
use lookout_sentry::event::Level;
use proptest::prelude::*;

const MIN: i64 = 60_000;

fn parse(s: &str) -> Condition {
    Condition::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> String {
    match Condition::parse(s) {
        Ok(c) => panic!("{s} parsed as {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn error_counts_parse_with_either_operator_and_any_spacing() {
    let want = Condition::ErrorCount {
        threshold: 50,
        inclusive: false,
        window_ms: 5 * MIN,
        filter: ErrorFilter::default(),
    };
    assert_eq!(parse("errors > 50 in 5m"), want);
    assert_eq!(parse("  ERRORS>50   IN 5M "), want);
    assert_eq!(parse("error >50 in 300s"), want);
    assert_eq!(
        parse("errors >= 20 in 1h30m"),
        Condition::ErrorCount {
            threshold: 20,
            inclusive: true,
            window_ms: 90 * MIN,
            filter: ErrorFilter::default(),
        }
    );
}

#[test]
fn error_filters_combine_with_and() {
    let c = parse(
        r#"errors > 50 in 5m where environment = "production" and release="shop@1.2" and LEVEL = error"#,
    );
    assert_eq!(
        c,
        Condition::ErrorCount {
            threshold: 50,
            inclusive: false,
            window_ms: 5 * MIN,
            filter: ErrorFilter {
                environment: Some("production".into()),
                release: Some("shop@1.2".into()),
                level: Some(Level::Error),
            },
        }
    );
    // Quoted values keep their case; bare ones are taken as written.
    assert_eq!(
        parse("errors > 1 in 1m where env = Staging"),
        Condition::ErrorCount {
            threshold: 1,
            inclusive: false,
            window_ms: MIN,
            filter: ErrorFilter {
                environment: Some("Staging".into()),
                ..ErrorFilter::default()
            },
        }
    );
}

#[test]
fn event_and_monitor_conditions_parse_with_their_aliases() {
    let cases = [
        ("new issue", Condition::NewIssue),
        ("New Issue", Condition::NewIssue),
        ("regression", Condition::Regression),
        ("regressed issue", Condition::Regression),
        ("unhandled", Condition::Unhandled),
        ("unhandled exception", Condition::Unhandled),
        ("monitor down", Condition::MonitorDown),
        ("monitor degraded", Condition::MonitorDegraded),
        ("monitor crash loop", Condition::CrashLoop),
        ("Crash Loop", Condition::CrashLoop),
        ("monitor crashloop", Condition::CrashLoop),
        ("bad deploy", Condition::DeployBad),
        ("Deploy Bad", Condition::DeployBad),
        ("heartbeat missed", Condition::HeartbeatMissed),
        ("heartbeat failed", Condition::HeartbeatFailed),
        (
            "tls expires within 7d",
            Condition::TlsExpiring { within_days: 7 },
        ),
        (
            "certificate expires within 14d",
            Condition::TlsExpiring { within_days: 14 },
        ),
    ];
    for (src, want) in cases {
        assert_eq!(parse(src), want, "{src}");
    }
}

#[test]
fn health_fields_take_numbers_percentages_and_durations() {
    let mem = |op, threshold| Condition::HealthField {
        path: "memory.percentage".into(),
        op,
        threshold,
    };
    assert_eq!(parse("health memory.percentage > 90"), mem(Cmp::Gt, 90.0));
    assert_eq!(parse("health memory > 90%"), mem(Cmp::Gt, 90.0));
    assert_eq!(parse("health memory>=80.5%"), mem(Cmp::Ge, 80.5));
    assert_eq!(
        parse("health database.latency > 100ms"),
        Condition::HealthField {
            path: "database.latency".into(),
            op: Cmp::Gt,
            threshold: 100.0,
        }
    );
    assert_eq!(
        parse("health disk.free_gb < 5"),
        Condition::HealthField {
            path: "disk.free_gb".into(),
            op: Cmp::Lt,
            threshold: 5.0,
        }
    );
}

#[test]
fn latency_deploy_and_slo_conditions_parse() {
    assert_eq!(
        parse("p95 > 2s in 5m"),
        Condition::LatencyP95 {
            threshold_ms: 2_000,
            inclusive: false,
            window_ms: 5 * MIN,
        }
    );
    assert_eq!(
        parse("p95 >= 500ms in 10m"),
        Condition::LatencyP95 {
            threshold_ms: 500,
            inclusive: true,
            window_ms: 10 * MIN,
        }
    );
    assert_eq!(
        parse("errors after deploy > 2x in 15m"),
        Condition::ErrorRateAfterDeploy {
            factor: 2.0,
            window_ms: 15 * MIN,
        }
    );
    assert_eq!(
        parse("slo burn rate > 14.4"),
        Condition::SloBurnRate {
            slo: None,
            threshold: 14.4,
            inclusive: false,
            over_ms: None,
        }
    );
    let full = Condition::SloBurnRate {
        slo: Some("uptime".into()),
        threshold: 6.0,
        inclusive: true,
        over_ms: Some(60 * MIN),
    };
    assert_eq!(parse(r#"slo burn rate >= 6 for "uptime" over 1h"#), full);
    assert_eq!(parse("SLO burn rate >= 6 over 1h for uptime"), full);
}

#[test]
fn bad_conditions_say_what_was_expected_and_what_was_found() {
    let cases = [
        (
            "errors > 50 in 5 minutes",
            r#"expected a duration like 5m after "in", found "5 minutes""#,
        ),
        (
            "errors > 50",
            r#"expected "in" and a window like 5m after "50", found the end of the condition"#,
        ),
        (
            "errors = 50 in 5m",
            r#"expected ">" or ">=" after "errors", found "=""#,
        ),
        (
            "errors > 5.5 in 5m",
            r#"expected a whole number of errors after ">", found "5.5""#,
        ),
        (
            "errors > 50 in 0m",
            r#"the window after "in" must be longer than 0"#,
        ),
        (
            "errors > 50 in 5m where env = prod and colour = red",
            r#"expected environment, release or level after "and", found "colour""#,
        ),
        (
            "errors > 50 in 5m where level = loud",
            r#"expected a level: fatal, error, warning, info or debug after "=", found "loud""#,
        ),
        (
            r#"errors > 50 in 5m where env = "a" and env = "b""#,
            "environment is given twice after \"where\"",
        ),
        (
            "errors after deploy > 2 in 15m",
            r#"expected a factor like 2x after ">", found "2""#,
        ),
        (
            "monitor sideways",
            r#"expected "down", "degraded" or "crash loop" after "monitor", found "sideways""#,
        ),
        (
            "tls expires within 36h",
            r#"expected a whole number of days like 7d after "within", found "36h""#,
        ),
        (
            "health memory > lots",
            r#"expected a number like 90, 90% or 100ms after ">", found "lots""#,
        ),
        (
            "p95 > 2 in 5m",
            r#"expected a latency like 2s or 500ms after ">", found "2""#,
        ),
        (
            "monitor down please",
            r#"unexpected "please" after "monitor down"; the condition ends there"#,
        ),
        (
            "",
            r#"the condition is empty; try "errors > 50 in 5m" or "monitor down""#,
        ),
        (
            r#"errors > 1 in 1m where env = "prod"#,
            r#"the quoted value "prod is missing its closing ""#,
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src}");
    }
    assert!(err("cpu > 90").starts_with("unknown condition \"cpu\""));
}

#[test]
fn canonical_forms_are_stable() {
    let cases = [
        ("ERRORS>=50 in 300s", "errors >= 50 in 5m"),
        (
            "errors > 50 in 5m where level = warn and env = production",
            r#"errors > 50 in 5m where environment = "production" and level = warning"#,
        ),
        ("health memory > 90%", "health memory.percentage > 90"),
        ("health database > 100ms", "health database.latency > 100"),
        ("p95 latency > 2000ms in 5m", "p95 > 2s in 5m"),
        ("certificate expiring within 7d", "tls expires within 7d"),
        ("unhandled exception", "unhandled"),
        (
            "slo burn rate > 14.4x over 60m for uptime",
            r#"slo burn rate > 14.4 for "uptime" over 1h"#,
        ),
    ];
    for (src, canonical) in cases {
        assert_eq!(parse(src).to_string(), canonical, "{src}");
    }
}

#[test]
fn conditions_serialise_as_their_canonical_text() {
    let c = parse("errors > 50 in 5m");
    assert_eq!(serde_json::to_string(&c).unwrap(), r#""errors > 50 in 5m""#);
    let back: Condition = serde_json::from_str(r#""monitor down""#).unwrap();
    assert_eq!(back, Condition::MonitorDown);
    let bad = serde_json::from_str::<Condition>(r#""monitor up""#).unwrap_err();
    assert!(
        bad.to_string()
            .contains("expected \"down\", \"degraded\" or \"crash loop\""),
        "{bad}"
    );
}

#[test]
fn rules_reject_scopes_that_cannot_match() {
    let mut r = Rule::new("spike", parse("errors > 50 in 5m"), Severity::Critical);
    assert_eq!(r.clear_after_ms, 5 * MIN);
    assert_eq!(r.resolve_after_ms, Some(24 * 60 * MIN));
    assert!(r.validate().is_ok());
    r.monitors = Some(vec![1]);
    assert_eq!(
        r.validate().unwrap_err(),
        r#"rule "spike": "errors > 50 in 5m" is about projects, so scope it with projects, not monitors"#
    );
    let mut h = Rule::new("mem", parse("health memory > 90%"), Severity::High);
    h.projects = Some(vec![1]);
    assert!(h.validate().unwrap_err().contains("scope it with monitors"));
    let mut e = Rule::new("new", Condition::NewIssue, Severity::Low);
    e.resolve_after_ms = Some(0);
    assert!(e.validate().is_err());
    assert!(Rule::new(" ", Condition::NewIssue, Severity::Low)
        .validate()
        .is_err());
}

fn duration() -> impl Strategy<Value = i64> {
    prop_oneof![
        1i64..100_000,
        (1i64..10_000).prop_map(|s| s * 1_000),
        (1i64..10_000).prop_map(|m| m * MIN),
        (1i64..1_000).prop_map(|h| h * 60 * MIN),
    ]
}

fn text() -> impl Strategy<Value = String> {
    // Quotes, backslashes, spaces, operators and non-ASCII must all survive quoting.
    "[a-zA-Z0-9 _@.\"\\\\<>=ß'-]{1,12}"
}

fn decimal() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..100_000).prop_map(f64::from),
        (0.0f64..1.0e6),
        (-1.0e6f64..0.0),
    ]
}

fn level() -> impl Strategy<Value = Option<Level>> {
    prop::option::of(prop_oneof![
        Just(Level::Debug),
        Just(Level::Info),
        Just(Level::Warning),
        Just(Level::Error),
        Just(Level::Fatal),
    ])
}

fn condition() -> impl Strategy<Value = Condition> {
    let path = "[a-z][a-z0-9_]{0,8}(\\.[a-z0-9_-]{1,8}){1,3}";
    let cmp = prop_oneof![Just(Cmp::Gt), Just(Cmp::Ge), Just(Cmp::Lt), Just(Cmp::Le)];
    prop_oneof![
        (
            any::<u64>(),
            any::<bool>(),
            duration(),
            prop::option::of(text()),
            prop::option::of(text()),
            level()
        )
            .prop_map(
                |(threshold, inclusive, window_ms, environment, release, level)| {
                    Condition::ErrorCount {
                        threshold,
                        inclusive,
                        window_ms,
                        filter: ErrorFilter {
                            environment,
                            release,
                            level,
                        },
                    }
                }
            ),
        (decimal().prop_filter("positive", |f| *f > 0.0), duration())
            .prop_map(|(factor, window_ms)| Condition::ErrorRateAfterDeploy { factor, window_ms }),
        Just(Condition::NewIssue),
        Just(Condition::Regression),
        Just(Condition::Unhandled),
        Just(Condition::MonitorDown),
        Just(Condition::MonitorDegraded),
        Just(Condition::CrashLoop),
        Just(Condition::DeployBad),
        Just(Condition::HeartbeatMissed),
        Just(Condition::HeartbeatFailed),
        any::<u32>().prop_map(|within_days| Condition::TlsExpiring { within_days }),
        (path, cmp, decimal()).prop_map(|(path, op, threshold)| Condition::HealthField {
            path,
            op,
            threshold,
        }),
        (0i64..10_000_000, any::<bool>(), duration()).prop_map(
            |(threshold_ms, inclusive, window_ms)| Condition::LatencyP95 {
                threshold_ms,
                inclusive,
                window_ms,
            }
        ),
        (
            prop::option::of(text()),
            decimal().prop_map(f64::abs),
            any::<bool>(),
            prop::option::of(duration())
        )
            .prop_map(
                |(slo, threshold, inclusive, over_ms)| Condition::SloBurnRate {
                    slo,
                    threshold,
                    inclusive,
                    over_ms,
                }
            ),
    ]
}

proptest! {
    #[test]
    fn display_parses_back_to_the_same_condition(c in condition()) {
        let text = c.to_string();
        prop_assert_eq!(Condition::parse(&text), Ok(c), "{}", text);
    }

    #[test]
    fn any_input_parses_or_fails_with_a_message_and_never_panics(s in "\\PC{0,60}") {
        match Condition::parse(&s) {
            Ok(c) => prop_assert_eq!(Condition::parse(&c.to_string()), Ok(c)),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    #[test]
    fn near_misses_of_the_grammar_never_panic(
        words in prop::collection::vec(
            prop_oneof![
                Just("errors"), Just(">"), Just(">="), Just("50"), Just("in"), Just("5m"),
                Just("where"), Just("env"), Just("="), Just("\"x\""), Just("and"),
                Just("health"), Just("memory"), Just("90%"), Just("slo"), Just("burn"),
                Just("rate"), Just("for"), Just("over"), Just("1h"), Just("p95"), Just("2s"),
                Just("tls"), Just("expires"), Just("within"), Just("7d"), Just("after"),
                Just("deploy"), Just("2x"), Just("level"), Just("error"),
            ],
            0..10,
        )
    ) {
        let s = words.join(" ");
        if let Ok(c) = Condition::parse(&s) {
            prop_assert_eq!(Condition::parse(&c.to_string()), Ok(c));
        }
    }
}
