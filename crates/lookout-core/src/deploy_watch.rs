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

/// What one release did in a window, for the gate between two releases serving at once.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ReleaseCounts {
    /// Errors (error and fatal events) of the release.
    pub errors: u64,
    /// Requests (transactions) of the release.
    pub requests: u64,
    /// Issues first seen in the release.
    pub new_issues: u64,
    /// Issues with unhandled errors from the release.
    pub unhandled: u64,
    /// Sessions of the release.
    pub sessions: u64,
    /// Of which crashed.
    pub crashed: u64,
    /// p95 of its request durations, ms, when it sent any.
    pub request_p95_ms: Option<f64>,
}

impl ReleaseCounts {
    /// How much the release was seen: requests, sessions or errors, whichever is most.
    fn observations(&self) -> u64 {
        self.requests.max(self.sessions).max(self.errors)
    }

    fn crash_free(&self) -> Option<f64> {
        (self.sessions > 0).then(|| {
            100.0 * (self.sessions - self.crashed.min(self.sessions)) as f64 / self.sessions as f64
        })
    }
}

/// When the new release fails against the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateThresholds {
    /// Each release must have been seen this often (requests, sessions or errors).
    pub min_observations: u64,
    /// Fails when its error rate (per request when both send requests, else per minute)
    /// is above this many times the baseline's…
    pub error_rate_factor: f64,
    /// …with at least this many errors.
    pub min_errors: u64,
    /// Fails with more new issues than this.
    pub max_new_issues: u64,
    /// Fails with more issues with unhandled errors than the baseline plus this.
    pub max_extra_unhandled: u64,
    /// Fails when its crash-free rate is this many points below the baseline's.
    pub max_crash_free_drop: f64,
    /// Fails when its request p95 is above this many times the baseline's.
    pub p95_factor: f64,
}

impl Default for GateThresholds {
    fn default() -> Self {
        GateThresholds {
            min_observations: 20,
            error_rate_factor: 1.5,
            min_errors: 5,
            max_new_issues: 0,
            max_extra_unhandled: 0,
            max_crash_free_drop: 1.0,
            p95_factor: 1.5,
        }
    }
}

/// The gate's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    /// The new release does as well as the baseline.
    Pass,
    /// It does worse.
    Fail,
    /// One release was seen too little to compare.
    NotEnoughData,
}

impl GateVerdict {
    /// The name in output, JSON and `$GITHUB_OUTPUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            GateVerdict::Pass => "pass",
            GateVerdict::Fail => "fail",
            GateVerdict::NotEnoughData => "not_enough_data",
        }
    }
}

/// The gate's answer with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// The answer.
    pub verdict: GateVerdict,
    /// Why it failed, or what was missing; empty on a pass.
    pub reasons: Vec<String>,
    /// The new release's error rate, in `rate_unit`.
    pub error_rate: f64,
    /// The baseline's.
    pub baseline_error_rate: f64,
    /// `per request` or `per minute`.
    pub rate_unit: String,
}

/// Compares the new release with the baseline over windows of `window_ms`.
pub fn gate(new: &ReleaseCounts, base: &ReleaseCounts, window_ms: i64, t: &GateThresholds) -> Gate {
    let per_request = new.requests > 0 && base.requests > 0;
    let minutes = window_ms.max(1) as f64 / 60_000.0;
    let rate = |c: &ReleaseCounts| {
        if per_request {
            c.errors as f64 / c.requests as f64
        } else {
            c.errors as f64 / minutes
        }
    };
    let (error_rate, baseline_error_rate) = (rate(new), rate(base));
    let rate_unit = if per_request {
        "per request"
    } else {
        "per minute"
    }
    .to_string();
    let mut reasons = Vec::new();
    for (name, c) in [("the new release", new), ("the baseline", base)] {
        if c.observations() < t.min_observations {
            reasons.push(format!(
                "{name} was seen {} time(s) (requests, sessions or errors); at least {} are needed",
                c.observations(),
                t.min_observations
            ));
        }
    }
    if !reasons.is_empty() {
        return Gate {
            verdict: GateVerdict::NotEnoughData,
            reasons,
            error_rate,
            baseline_error_rate,
            rate_unit,
        };
    }
    // A baseline without errors counts as one, so errors out of silence still compare.
    let floor = if per_request {
        1.0 / base.requests as f64
    } else {
        1.0 / minutes
    };
    if new.errors >= t.min_errors
        && error_rate > t.error_rate_factor * baseline_error_rate.max(floor)
    {
        reasons.push(format!(
            "errors {} at {error_rate:.3} against {baseline_error_rate:.3} for the baseline ({} errors against {})",
            rate_unit, new.errors, base.errors
        ));
    }
    if new.new_issues > t.max_new_issues {
        reasons.push(format!(
            "{} new issue(s) first seen in the new release (at most {} allowed)",
            new.new_issues, t.max_new_issues
        ));
    }
    if new.unhandled > base.unhandled + t.max_extra_unhandled {
        reasons.push(format!(
            "{} issue(s) with unhandled errors against {} for the baseline",
            new.unhandled, base.unhandled
        ));
    }
    if let (Some(n), Some(b)) = (new.crash_free(), base.crash_free()) {
        if n < b - t.max_crash_free_drop {
            reasons.push(format!(
                "{n:.2}% crash-free sessions against {b:.2}% for the baseline"
            ));
        }
    }
    if let (Some(n), Some(b)) = (new.request_p95_ms, base.request_p95_ms) {
        if n > t.p95_factor * b {
            reasons.push(format!(
                "request p95 {n:.0} ms against {b:.0} ms for the baseline"
            ));
        }
    }
    Gate {
        verdict: if reasons.is_empty() {
            GateVerdict::Pass
        } else {
            GateVerdict::Fail
        },
        reasons,
        error_rate,
        baseline_error_rate,
        rate_unit,
    }
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    fn seen(errors: u64, requests: u64) -> ReleaseCounts {
        ReleaseCounts {
            errors,
            requests,
            ..ReleaseCounts::default()
        }
    }

    #[test]
    fn equal_releases_pass_and_the_noisier_fails() {
        let t = GateThresholds::default();
        let g = gate(&seen(10, 1000), &seen(10, 1000), 600_000, &t);
        assert_eq!(g.verdict, GateVerdict::Pass, "{g:?}");
        assert_eq!(g.rate_unit, "per request");
        let g = gate(&seen(40, 1000), &seen(10, 1000), 600_000, &t);
        assert_eq!(g.verdict, GateVerdict::Fail, "{g:?}");
        assert!(g.reasons[0].contains("per request"), "{g:?}");
        // Without requests the rate is per minute, from errors alone.
        let g = gate(&seen(90, 0), &seen(30, 0), 600_000, &t);
        assert_eq!(g.verdict, GateVerdict::Fail, "{g:?}");
        assert_eq!(g.rate_unit, "per minute");
        let g = gate(&seen(30, 0), &seen(30, 0), 600_000, &t);
        assert_eq!(g.verdict, GateVerdict::Pass, "{g:?}");
    }

    #[test]
    fn too_little_traffic_is_not_enough_data() {
        let t = GateThresholds::default();
        let g = gate(&seen(3, 0), &seen(2, 0), 600_000, &t);
        assert_eq!(g.verdict, GateVerdict::NotEnoughData);
        assert_eq!(g.reasons.len(), 2, "{g:?}");
        let g = gate(&seen(0, 500), &seen(0, 5), 600_000, &t);
        assert_eq!(g.verdict, GateVerdict::NotEnoughData);
        assert!(g.reasons[0].contains("the baseline"), "{g:?}");
    }

    #[test]
    fn issues_crashes_sessions_and_latency_fail_the_gate() {
        let t = GateThresholds::default();
        let base = ReleaseCounts {
            sessions: 1000,
            crashed: 5,
            request_p95_ms: Some(200.0),
            ..seen(5, 1000)
        };
        for (new, why) in [
            (
                ReleaseCounts {
                    new_issues: 1,
                    ..base
                },
                "new issue",
            ),
            (
                ReleaseCounts {
                    unhandled: 1,
                    ..base
                },
                "unhandled",
            ),
            (
                ReleaseCounts {
                    crashed: 30,
                    ..base
                },
                "crash-free",
            ),
            (
                ReleaseCounts {
                    request_p95_ms: Some(450.0),
                    ..base
                },
                "p95",
            ),
        ] {
            let g = gate(&new, &base, 600_000, &t);
            assert_eq!(g.verdict, GateVerdict::Fail, "{why}");
            assert!(g.reasons.iter().any(|r| r.contains(why)), "{g:?}");
        }
        assert_eq!(gate(&base, &base, 600_000, &t).verdict, GateVerdict::Pass);
    }
}
