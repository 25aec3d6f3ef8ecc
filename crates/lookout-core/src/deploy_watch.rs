//! The verdict on a release in the window after its deploy: errors per minute against the
//! same length of time before the deploy, issues first seen in the release, issues with
//! unhandled errors from it, and its crash-free session rate. Pure: the counts come in.

use serde::{Deserialize, Serialize};

/// What was counted in the window after a deploy and in as long a window before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WatchCounts {
    /// The length of each window, ms.
    pub window_ms: i64,
    /// Errors (error and fatal events) in the environment before the deploy.
    pub errors_before: u64,
    /// Errors after it.
    pub errors_after: u64,
    /// Issues first seen in the release after the deploy.
    pub new_issues: u64,
    /// Issues with unhandled errors from the release after the deploy.
    pub unhandled: u64,
    /// Sessions of the release after the deploy.
    pub sessions: u64,
    /// Of which crashed.
    pub crashed: u64,
}

/// When a release is bad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Errors per minute after above this many times the rate before…
    pub error_rate_factor: f64,
    /// …with at least this many errors after.
    pub min_errors: u64,
    /// More new issues than this.
    pub max_new_issues: u64,
    /// More issues with unhandled errors than this.
    pub max_unhandled: u64,
    /// A crash-free session rate (percent) below this…
    pub min_crash_free_percent: f64,
    /// …over at least this many sessions.
    pub min_sessions: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            error_rate_factor: 2.0,
            min_errors: 5,
            max_new_issues: 0,
            max_unhandled: 0,
            min_crash_free_percent: 99.0,
            min_sessions: 20,
        }
    }
}

/// The verdict with the figures it rests on, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Whether the release is bad.
    pub bad: bool,
    /// The window, minutes.
    pub window_min: f64,
    /// Errors before the deploy.
    pub errors_before: u64,
    /// Errors after it.
    pub errors_after: u64,
    /// Errors per minute before.
    pub errors_per_min_before: f64,
    /// Errors per minute after.
    pub errors_per_min_after: f64,
    /// Issues first seen in the release.
    pub new_issues: u64,
    /// Issues with unhandled errors from the release.
    pub unhandled: u64,
    /// Sessions of the release.
    pub sessions: u64,
    /// Crash-free sessions, percent; none without sessions.
    pub crash_free_percent: Option<f64>,
    /// Why it is bad, one sentence each; empty when good.
    pub reasons: Vec<String>,
}

/// How many times the error rate before the deploy the rate after it is, as the `errors
/// after deploy` rule condition measures it: 0 below `min_errors` errors after (a quiet app
/// going from none to one error is no spike), and a quiet before counts as one error, so
/// errors out of silence still compare.
pub fn error_ratio(before: u64, after: u64, min_errors: u64) -> f64 {
    if after < min_errors.max(1) {
        return 0.0;
    }
    after as f64 / before.max(1) as f64
}

/// Judges the release by `counts` against `t`.
pub fn judge(c: &WatchCounts, t: &Thresholds) -> Judgement {
    let minutes = (c.window_ms.max(1) as f64) / 60_000.0;
    let per_min = |n: u64| n as f64 / minutes;
    let crash_free = (c.sessions > 0)
        .then(|| 100.0 * (c.sessions - c.crashed.min(c.sessions)) as f64 / c.sessions as f64);
    let mut reasons = Vec::new();
    let ratio = error_ratio(c.errors_before, c.errors_after, t.min_errors);
    if ratio > t.error_rate_factor {
        reasons.push(format!(
            "errors rose to {:.1}/min from {:.1}/min before the deploy ({} errors after, {} before)",
            per_min(c.errors_after),
            per_min(c.errors_before),
            c.errors_after,
            c.errors_before
        ));
    }
    if c.new_issues > t.max_new_issues {
        reasons.push(format!(
            "{} new issue(s) first seen in this release (at most {} allowed)",
            c.new_issues, t.max_new_issues
        ));
    }
    if c.unhandled > t.max_unhandled {
        reasons.push(format!(
            "{} issue(s) with unhandled errors from this release (at most {} allowed)",
            c.unhandled, t.max_unhandled
        ));
    }
    if let Some(rate) = crash_free {
        if c.sessions >= t.min_sessions && rate < t.min_crash_free_percent {
            reasons.push(format!(
                "{rate:.2}% of {} sessions crash-free (at least {}% expected)",
                c.sessions, t.min_crash_free_percent
            ));
        }
    }
    Judgement {
        bad: !reasons.is_empty(),
        window_min: minutes,
        errors_before: c.errors_before,
        errors_after: c.errors_after,
        errors_per_min_before: per_min(c.errors_before),
        errors_per_min_after: per_min(c.errors_after),
        new_issues: c.new_issues,
        unhandled: c.unhandled,
        sessions: c.sessions,
        crash_free_percent: crash_free,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts() -> WatchCounts {
        WatchCounts {
            window_ms: 600_000,
            errors_before: 10,
            errors_after: 12,
            ..WatchCounts::default()
        }
    }

    #[test]
    fn a_steady_release_is_good() {
        let j = judge(&counts(), &Thresholds::default());
        assert!(!j.bad, "{j:?}");
        assert!(j.reasons.is_empty());
        assert_eq!(j.errors_per_min_before, 1.0);
        assert_eq!(j.errors_per_min_after, 1.2);
        assert_eq!(j.crash_free_percent, None);
    }

    #[test]
    fn each_threshold_alone_makes_a_release_bad_and_says_why() {
        let t = Thresholds::default();
        for (c, why) in [
            (
                WatchCounts {
                    errors_after: 21,
                    ..counts()
                },
                "errors rose to 2.1/min from 1.0/min",
            ),
            (
                WatchCounts {
                    new_issues: 1,
                    ..counts()
                },
                "1 new issue(s)",
            ),
            (
                WatchCounts {
                    unhandled: 2,
                    ..counts()
                },
                "2 issue(s) with unhandled errors",
            ),
            (
                WatchCounts {
                    sessions: 100,
                    crashed: 3,
                    ..counts()
                },
                "97.00% of 100 sessions crash-free",
            ),
        ] {
            let j = judge(&c, &t);
            assert!(j.bad, "{c:?}");
            assert_eq!(j.reasons.len(), 1, "{j:?}");
            assert!(j.reasons[0].contains(why), "{}", j.reasons[0]);
        }
    }

    #[test]
    fn small_numbers_do_not_judge() {
        let t = Thresholds::default();
        // From silence to fewer errors than min_errors: no spike.
        let c = WatchCounts {
            errors_before: 0,
            errors_after: 4,
            ..counts()
        };
        assert!(!judge(&c, &t).bad);
        // From silence to min_errors: a spike.
        let c = WatchCounts {
            errors_before: 0,
            errors_after: 5,
            ..counts()
        };
        assert!(judge(&c, &t).bad);
        // Too few sessions to judge the crash-free rate.
        let c = WatchCounts {
            sessions: 10,
            crashed: 5,
            ..counts()
        };
        let j = judge(&c, &t);
        assert!(!j.bad, "{j:?}");
        assert_eq!(j.crash_free_percent, Some(50.0));
    }

    #[test]
    fn the_ratio_compares_rates_of_equal_windows() {
        assert_eq!(error_ratio(10, 30, 5), 3.0);
        assert_eq!(error_ratio(0, 6, 5), 6.0);
        assert_eq!(error_ratio(0, 4, 5), 0.0);
        assert_eq!(error_ratio(5, 0, 0), 0.0);
    }
}
