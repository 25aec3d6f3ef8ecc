//! The condition language of alert rules: what a rule watches.
//!
//! A condition is one short line, case-insensitive, spaces optional around operators:
//!
//! | condition | fires on |
//! |---|---|
//! | `errors > 50 in 5m [where environment = "production" and release = "x" and level = error]` | a project's error count over the window (`>` or `>=`) |
//! | `errors after deploy > 2x in 15m` | the error rate after a deploy against the rate before (deploy capability) |
//! | `bad deploy` (`deploy bad`) | the watch after a deploy judged its release bad, one incident per project, ended by quiet time |
//! | `new issue`, `regression` (`regressed issue`), `unhandled` (`unhandled exception`) | ingest signals, one incident per issue |
//! | `monitor down`, `monitor degraded`, `heartbeat missed`, `heartbeat failed` | monitor signals, one incident per monitor |
//! | `monitor crash loop` (`crash loop`) | a pm2 monitor's app restarted since its last check, one incident per monitor, ended by quiet time |
//! | `tls expires within 7d` (`certificate expires within 7d`) | a certificate warning with at most that many days left |
//! | `health memory.percentage > 90`, `health database.latency > 100ms`, `health memory > 90%` | a health document field read by a health monitor (`<`, `<=` too) |
//! | `p95 > 2s in 5m` (`>=` too) | a project's p95 latency over the window |
//! | `slo burn rate > 14.4 [for "uptime"] [over 1h]` | an SLO's burn rate (SLO capability) |
//!
//! Durations are whole numbers with a unit, `ms`, `s`, `m`, `h` or `d`, and may be
//! chained (`1h30m`). [`Condition`]'s `Display` prints the canonical form, which parses
//! back to the same condition.

mod parse;

use std::fmt;

use lookout_sentry::event::Level;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::duration::format_duration;

/// How a measured value is compared with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl Cmp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
        }
    }

    /// Whether `value` is on the alerting side of `threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Cmp::Gt => value > threshold,
            Cmp::Ge => value >= threshold,
            Cmp::Lt => value < threshold,
            Cmp::Le => value <= threshold,
        }
    }

    /// Whether larger values are worse (`>`, `>=`).
    pub fn rising(self) -> bool {
        matches!(self, Cmp::Gt | Cmp::Ge)
    }

    fn from_inclusive(inclusive: bool) -> Cmp {
        if inclusive {
            Cmp::Ge
        } else {
            Cmp::Gt
        }
    }
}

/// Which errors an error count includes; every part that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFilter {
    /// Only events of this environment.
    pub environment: Option<String>,
    /// Only events of this release.
    pub release: Option<String>,
    /// Only events of exactly this level.
    pub level: Option<Level>,
}

impl ErrorFilter {
    /// True when the filter lets every error through.
    pub fn is_empty(&self) -> bool {
        self.environment.is_none() && self.release.is_none() && self.level.is_none()
    }

    /// Whether an event with these attributes is counted.
    pub fn matches(&self, environment: Option<&str>, release: Option<&str>, level: Level) -> bool {
        self.environment
            .as_deref()
            .is_none_or(|e| environment == Some(e))
            && self.release.as_deref().is_none_or(|r| release == Some(r))
            && self.level.is_none_or(|l| l == level)
    }
}

/// What a rule watches. See the module documentation for the grammar.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A project's error count over a window exceeds a threshold.
    ErrorCount {
        /// The count to exceed.
        threshold: u64,
        /// `>=` rather than `>`.
        inclusive: bool,
        /// The window the server counts over.
        window_ms: i64,
        /// Which errors count.
        filter: ErrorFilter,
    },
    /// The error rate after a deploy is more than `factor` times the rate before it;
    /// evaluated by the deploy capability, which feeds the ratio as a measure.
    ErrorRateAfterDeploy {
        /// The ratio to exceed.
        factor: f64,
        /// How long after the deploy to watch.
        window_ms: i64,
    },
    /// The watch after a deploy judged the release bad (by any of its thresholds: error
    /// rate, new issues, unhandled errors, crash-free sessions).
    DeployBad,
    /// The first event of a new issue.
    NewIssue,
    /// An event for a resolved issue.
    Regression,
    /// An unhandled exception.
    Unhandled,
    /// A monitor's failure was confirmed.
    MonitorDown,
    /// A monitor answers but reports a problem.
    MonitorDegraded,
    /// A pm2 monitor's app keeps restarting (its restart count climbed between checks).
    CrashLoop,
    /// A heartbeat or cron monitor did not ping in time.
    HeartbeatMissed,
    /// A heartbeat or cron monitor reported a failed run.
    HeartbeatFailed,
    /// A certificate has at most `within_days` days left.
    TlsExpiring {
        /// Days left at or below which the rule fires.
        within_days: u32,
    },
    /// A numeric field of a health document, as health monitors read it.
    HealthField {
        /// Dotted path below `checks` (`memory.percentage`, `database.latency`).
        path: String,
        /// The comparison.
        op: Cmp,
        /// The threshold; durations are in ms, percentages in percent.
        threshold: f64,
    },
    /// A project's p95 latency over a window exceeds a threshold.
    LatencyP95 {
        /// The latency to exceed, in ms.
        threshold_ms: i64,
        /// `>=` rather than `>`.
        inclusive: bool,
        /// The window the server measures over.
        window_ms: i64,
    },
    /// An SLO's error budget burns faster than `threshold` times the sustainable rate;
    /// evaluated by the SLO capability, which feeds the rate as a measure.
    SloBurnRate {
        /// Which SLO; `None` means every SLO the rule is scoped to.
        slo: Option<String>,
        /// The burn rate to exceed.
        threshold: f64,
        /// `>=` rather than `>`.
        inclusive: bool,
        /// The window the burn rate is computed over; `None` leaves it to the SLO.
        over_ms: Option<i64>,
    },
}

impl Condition {
    /// Parses a condition; the error is a sentence pointing at the bad part.
    pub fn parse(src: &str) -> Result<Condition, String> {
        parse::condition(src)
    }

    /// Whether the condition is fed by measures ([`super::engine::Engine::on_measure`])
    /// rather than signals.
    pub fn is_measured(&self) -> bool {
        self.compare(0.0).is_some()
    }

    /// Whether a measured `value` breaches the condition; `None` for signal conditions.
    pub fn compare(&self, value: f64) -> Option<bool> {
        Some(match self {
            Condition::ErrorCount {
                threshold,
                inclusive,
                ..
            } => Cmp::from_inclusive(*inclusive).holds(value, *threshold as f64),
            Condition::ErrorRateAfterDeploy { factor, .. } => value > *factor,
            Condition::HealthField { op, threshold, .. } => op.holds(value, *threshold),
            Condition::LatencyP95 {
                threshold_ms,
                inclusive,
                ..
            } => Cmp::from_inclusive(*inclusive).holds(value, *threshold_ms as f64),
            Condition::SloBurnRate {
                threshold,
                inclusive,
                ..
            } => Cmp::from_inclusive(*inclusive).holds(value, *threshold),
            _ => return None,
        })
    }

    /// Whether larger measured values are worse (false only for `<` health fields).
    pub fn rising(&self) -> bool {
        match self {
            Condition::HealthField { op, .. } => op.rising(),
            _ => true,
        }
    }

    /// Whether incidents of this condition end by quiet time
    /// ([`super::rule::Rule::resolve_after_ms`]) because nothing signals that they are over.
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            Condition::NewIssue
                | Condition::Regression
                | Condition::Unhandled
                | Condition::TlsExpiring { .. }
                // A crash loop is signalled when it starts; nothing says it stopped.
                | Condition::CrashLoop
                // A verdict is given once per deploy; a later good one is about another
                // release, and need not mean the bad one is gone everywhere.
                | Condition::DeployBad
        )
    }

    /// Whether the condition is about issues (incidents keyed by issue).
    pub fn is_issue(&self) -> bool {
        matches!(
            self,
            Condition::NewIssue | Condition::Regression | Condition::Unhandled
        )
    }

    /// Whether the condition is about monitors (incidents keyed by monitor).
    pub fn is_monitor(&self) -> bool {
        matches!(
            self,
            Condition::MonitorDown
                | Condition::MonitorDegraded
                | Condition::CrashLoop
                | Condition::HeartbeatMissed
                | Condition::HeartbeatFailed
                | Condition::TlsExpiring { .. }
                | Condition::HealthField { .. }
        )
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::ErrorCount {
                threshold,
                inclusive,
                window_ms,
                filter,
            } => {
                write!(
                    f,
                    "errors {} {threshold} in {}",
                    Cmp::from_inclusive(*inclusive).as_str(),
                    format_duration(*window_ms)
                )?;
                let mut sep = " where ";
                if let Some(e) = &filter.environment {
                    write!(f, "{sep}environment = {}", quoted(e))?;
                    sep = " and ";
                }
                if let Some(r) = &filter.release {
                    write!(f, "{sep}release = {}", quoted(r))?;
                    sep = " and ";
                }
                if let Some(l) = filter.level {
                    write!(f, "{sep}level = {}", l.as_str())?;
                }
                Ok(())
            }
            Condition::ErrorRateAfterDeploy { factor, window_ms } => write!(
                f,
                "errors after deploy > {factor}x in {}",
                format_duration(*window_ms)
            ),
            Condition::DeployBad => f.write_str("bad deploy"),
            Condition::NewIssue => f.write_str("new issue"),
            Condition::Regression => f.write_str("regression"),
            Condition::Unhandled => f.write_str("unhandled"),
            Condition::MonitorDown => f.write_str("monitor down"),
            Condition::MonitorDegraded => f.write_str("monitor degraded"),
            Condition::CrashLoop => f.write_str("monitor crash loop"),
            Condition::HeartbeatMissed => f.write_str("heartbeat missed"),
            Condition::HeartbeatFailed => f.write_str("heartbeat failed"),
            Condition::TlsExpiring { within_days } => {
                write!(f, "tls expires within {within_days}d")
            }
            Condition::HealthField {
                path,
                op,
                threshold,
            } => write!(f, "health {path} {} {threshold}", op.as_str()),
            Condition::LatencyP95 {
                threshold_ms,
                inclusive,
                window_ms,
            } => write!(
                f,
                "p95 {} {} in {}",
                Cmp::from_inclusive(*inclusive).as_str(),
                format_duration(*threshold_ms),
                format_duration(*window_ms)
            ),
            Condition::SloBurnRate {
                slo,
                threshold,
                inclusive,
                over_ms,
            } => {
                write!(
                    f,
                    "slo burn rate {} {threshold}",
                    Cmp::from_inclusive(*inclusive).as_str()
                )?;
                if let Some(s) = slo {
                    write!(f, " for {}", quoted(s))?;
                }
                if let Some(o) = over_ms {
                    write!(f, " over {}", format_duration(*o))?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for Condition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Condition::parse(s)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Condition::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_escape_quotes_and_backslashes() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn error_filter_matches_only_when_every_part_matches() {
        let f = ErrorFilter {
            environment: Some("production".into()),
            release: None,
            level: Some(Level::Error),
        };
        assert!(f.matches(Some("production"), Some("1.0"), Level::Error));
        assert!(!f.matches(Some("staging"), None, Level::Error));
        assert!(!f.matches(None, None, Level::Error));
        assert!(!f.matches(Some("production"), None, Level::Fatal));
        assert!(ErrorFilter::default().matches(None, None, Level::Debug));
    }
}
