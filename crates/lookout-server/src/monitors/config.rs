//! `[uptime]` and `[[maintenance]]`: how monitors run, how long their history is kept,
//! and when they are checked but never alert. (`[[monitors]]` entries are in
//! [`super::spec`].)

use std::time::Duration;

use lookout_core::maintenance::MaintenanceWindow;
use lookout_core::schedule::CronSchedule;
use lookout_store::CheckRetention;
use serde::Deserialize;

use super::spec::MonitorConfig;

/// `[uptime]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UptimeConfig {
    /// Checks running at once at most; more wait their turn (and count as late).
    pub max_concurrent_checks: usize,
    /// How long raw check results are kept (at least 26h: day roll-ups are made from them).
    #[serde(with = "humantime_serde")]
    pub raw_retention: Duration,
    /// How long per-minute roll-ups are kept.
    #[serde(with = "humantime_serde")]
    pub minute_retention: Duration,
    /// How long hourly roll-ups are kept.
    #[serde(with = "humantime_serde")]
    pub hour_retention: Duration,
    /// How long daily roll-ups are kept.
    #[serde(with = "humantime_serde")]
    pub day_retention: Duration,
    /// `/api/health` reports the scheduler degraded when the 99th percentile of check
    /// lateness over the last minute exceeds this.
    #[serde(with = "humantime_serde")]
    pub max_lateness: Duration,
}

impl Default for UptimeConfig {
    fn default() -> Self {
        let day = Duration::from_secs(86_400);
        UptimeConfig {
            max_concurrent_checks: 512,
            raw_retention: 2 * day,
            minute_retention: 7 * day,
            hour_retention: 90 * day,
            day_retention: 400 * day,
            max_lateness: Duration::from_secs(5),
        }
    }
}

impl UptimeConfig {
    /// How long the store keeps each resolution of history.
    pub fn retention(&self) -> CheckRetention {
        let ms = |d: Duration| d.as_millis() as i64;
        CheckRetention {
            raw_ms: ms(self.raw_retention),
            minute_ms: ms(self.minute_retention),
            hour_ms: ms(self.hour_retention),
            day_ms: ms(self.day_retention),
        }
    }
}

/// `[[maintenance]]`: a one-off (`start`, `end`) or recurring (`cron`, `duration`) window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// What it is for, e.g. "Deploy window".
    pub name: String,
    /// Names of the monitors it covers; every monitor when absent.
    pub monitors: Option<Vec<String>>,
    /// One-off: RFC 3339 start.
    pub start: Option<String>,
    /// One-off: RFC 3339 end.
    pub end: Option<String>,
    /// Recurring: when each window starts.
    pub cron: Option<String>,
    /// Recurring: how long each window lasts.
    #[serde(default, with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// Recurring: the cron expression's time zone (IANA name, default UTC).
    pub timezone: Option<String>,
    /// What status pages showing its monitors say about it (its name stays internal).
    pub public_note: Option<String>,
}

impl MaintenanceConfig {
    /// The window as the scheduler evaluates it, or what is wrong (key, message).
    pub fn window(&self) -> Result<MaintenanceWindow, (&'static str, String)> {
        let rfc3339 = |key: &'static str, v: &str| {
            crate::time_fmt::parse(v).map_err(|e| {
                (
                    key,
                    format!("`{v}` is not an RFC 3339 time (e.g. 2026-12-01T02:00:00Z): {e}"),
                )
            })
        };
        match (&self.start, &self.end, &self.cron) {
            (Some(start), Some(end), None) => {
                if self.duration.is_some() || self.timezone.is_some() {
                    return Err((
                        "duration",
                        "a one-off window has start and end; duration and timezone are for cron windows"
                            .into(),
                    ));
                }
                let (start_ms, end_ms) = (rfc3339("start", start)?, rfc3339("end", end)?);
                if end_ms <= start_ms {
                    return Err(("end", "must be after start".into()));
                }
                Ok(MaintenanceWindow::OneOff { start_ms, end_ms })
            }
            (None, None, Some(expr)) => {
                let cron = CronSchedule::parse(expr, self.timezone.as_deref())
                    .map_err(|e| (super::spec::cron_key(&e), e))?;
                let duration = self.duration.filter(|d| !d.is_zero()).ok_or((
                    "duration",
                    "a cron window needs a duration, e.g. \"30m\"".to_string(),
                ))?;
                Ok(MaintenanceWindow::Recurring {
                    cron,
                    duration_ms: duration.as_millis() as i64,
                })
            }
            _ => Err((
                "start",
                "give start and end (one-off), or cron and duration (recurring)".into(),
            )),
        }
    }
}

/// Checks `[uptime]`, `[[monitors]]` and `[[maintenance]]` together (windows name
/// monitors); the error is the key path and what is wrong.
pub fn validate(
    uptime: &UptimeConfig,
    monitors: &[MonitorConfig],
    maintenance: &[MaintenanceConfig],
) -> Result<(), (String, String)> {
    if uptime.max_concurrent_checks == 0 {
        return Err((
            "uptime.max_concurrent_checks".into(),
            "must be at least 1".into(),
        ));
    }
    if uptime.raw_retention < Duration::from_secs(26 * 3600) {
        return Err((
            "uptime.raw_retention".into(),
            "must be at least 26h: daily roll-ups are computed from raw results".into(),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (i, m) in monitors.iter().enumerate() {
        if let Err(e) = m.validate() {
            return Err((
                format!("monitors[{i}].{}", e.key),
                format!("(monitor \"{}\") {}", e.name, e.message),
            ));
        }
        if !names.insert((m.project.clone(), m.name.clone())) {
            return Err((
                format!("monitors[{i}].name"),
                format!("the name \"{}\" is used twice", m.name),
            ));
        }
    }
    for (i, w) in maintenance.iter().enumerate() {
        if let Err((key, message)) = w.window() {
            return Err((
                format!("maintenance[{i}].{key}"),
                format!("(window \"{}\") {message}", w.name),
            ));
        }
        for name in w.monitors.iter().flatten() {
            if !monitors.iter().any(|m| &m.name == name) {
                return Err((
                    format!("maintenance[{i}].monitors"),
                    format!(
                        "(window \"{}\") no monitor is named \"{name}\" in the config",
                        w.name
                    ),
                ));
            }
        }
    }
    Ok(())
}
