//! `[deploy.watch]`: how long a release is watched after its deploy, the thresholds of a
//! bad verdict, and the rollback hook. The rest of `[deploy]` belongs to `lookout deploy`.

use std::time::Duration;

use serde::Deserialize;

/// `[deploy.watch]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {
    /// How long after a deploy its release is watched; `0s` turns the watch off.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Bad when errors per minute after the deploy exceed this many times the rate in
    /// the same length of time before it.
    pub error_rate_factor: f64,
    /// ...and there are at least this many errors after it (a quiet app going from 0 to
    /// 1 error is not a spike).
    pub min_errors: u64,
    /// Bad when more than this many issues are first seen in the release in the window.
    pub max_new_issues: u64,
    /// Bad when more than this many unhandled errors (crashes) come from the release.
    pub max_unhandled: u64,
    /// Bad when the release's crash-free session rate (percent) falls below this…
    pub min_crash_free_percent: f64,
    /// …over at least this many sessions (fewer sessions do not judge).
    pub min_sessions: u64,
    /// A command run on the lookout host when the verdict is bad (with `sh -c`; the deploy
    /// is in `LOOKOUT_DEPLOY_*` variables).
    pub rollback_command: Option<String>,
    /// A URL that gets a POST with the verdict as JSON when it is bad (the pipeline
    /// listens and rolls back).
    pub rollback_webhook: Option<String>,
    /// Longest the rollback command or webhook may take.
    #[serde(with = "humantime_serde")]
    pub rollback_timeout: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            window: Duration::from_secs(600),
            error_rate_factor: 2.0,
            min_errors: 5,
            max_new_issues: 0,
            max_unhandled: 0,
            min_crash_free_percent: 99.0,
            min_sessions: 20,
            rollback_command: None,
            rollback_webhook: None,
            rollback_timeout: Duration::from_secs(300),
        }
    }
}

/// What of `[deploy]` the server reads: only `watch`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServerDeploySection {
    /// `[deploy.watch]`.
    pub watch: WatchConfig,
}

impl WatchConfig {
    /// The window in milliseconds.
    pub fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }

    /// Why the settings cannot work, with the key (under `deploy.watch.`) to fix.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if !(self.error_rate_factor.is_finite() && self.error_rate_factor >= 1.0) {
            return Some((
                "error_rate_factor",
                format!(
                    "{} is not a factor of 1 or more; write e.g. 2.0 for \"twice the rate before the deploy\"",
                    self.error_rate_factor
                ),
            ));
        }
        if !(0.0..=100.0).contains(&self.min_crash_free_percent) {
            return Some((
                "min_crash_free_percent",
                format!(
                    "{} is not a percentage; write e.g. 99.0",
                    self.min_crash_free_percent
                ),
            ));
        }
        if let Some(url) = &self.rollback_webhook {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Some((
                    "rollback_webhook",
                    format!("`{url}` must start with http:// or https://"),
                ));
            }
        }
        if self.rollback_timeout.is_zero() {
            return Some((
                "rollback_timeout",
                "must be longer than 0 (the hook would be stopped before it starts); e.g. \"5m\""
                    .into(),
            ));
        }
        if self.window > Duration::from_secs(24 * 3600) {
            return Some((
                "window",
                "longer than a day; a release is judged within minutes, e.g. \"10m\"".into(),
            ));
        }
        None
    }
}
