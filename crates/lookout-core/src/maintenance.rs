//! Maintenance windows: spans of time in which monitors are checked but never alert.
//! A window covers `[start, end)`: it is active at its start and over at its end.

use serde::{Deserialize, Serialize};

use crate::schedule::CronSchedule;

/// Overlapping recurring windows merged into one span before giving up; only a
/// duration longer than the gap between starts could chain this far.
const MAX_CHAINED_WINDOWS: usize = 1_000;

/// When monitors are in maintenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MaintenanceWindow {
    /// Once, from `start_ms` to `end_ms`.
    OneOff {
        /// When it begins.
        start_ms: i64,
        /// When it ends.
        end_ms: i64,
    },
    /// At every run of `cron`, for `duration_ms` ("every Sunday 02:00 Europe/Berlin for
    /// 30 minutes"). The duration is elapsed time, so a window that spans a daylight
    /// saving change still lasts exactly that long.
    Recurring {
        /// When each window starts.
        cron: CronSchedule,
        /// How long each lasts.
        duration_ms: i64,
    },
}

impl MaintenanceWindow {
    /// When the window covering `now_ms` ends, if one does. Recurring windows that
    /// overlap or touch count as one, so the answer is when maintenance really ends.
    pub fn active_until(&self, now_ms: i64) -> Option<i64> {
        match self {
            MaintenanceWindow::OneOff { start_ms, end_ms } => {
                (*start_ms <= now_ms && now_ms < *end_ms).then_some(*end_ms)
            }
            MaintenanceWindow::Recurring { cron, duration_ms } => {
                let mut start = cron.prev_at_or_before(now_ms)?;
                let mut end = start.saturating_add(*duration_ms);
                if now_ms >= end {
                    return None;
                }
                for _ in 0..MAX_CHAINED_WINDOWS {
                    match cron.next_after(start) {
                        Some(next) if next <= end => {
                            start = next;
                            end = end.max(next.saturating_add(*duration_ms));
                        }
                        _ => break,
                    }
                }
                Some(end)
            }
        }
    }

    /// Its spans that are in progress at `now_ms` or begin before `until_ms`, in order,
    /// at most `limit`: what a status page announces.
    pub fn spans(&self, now_ms: i64, until_ms: i64, limit: usize) -> Vec<(i64, i64)> {
        match self {
            MaintenanceWindow::OneOff { start_ms, end_ms } => {
                if *end_ms > now_ms && *start_ms < until_ms && start_ms < end_ms {
                    vec![(*start_ms, *end_ms)]
                } else {
                    Vec::new()
                }
            }
            MaintenanceWindow::Recurring { cron, duration_ms } => {
                let mut out = Vec::new();
                let current = cron
                    .prev_at_or_before(now_ms)
                    .filter(|s| s.saturating_add(*duration_ms) > now_ms);
                let mut next = current.or_else(|| cron.next_after(now_ms));
                while let Some(start) = next.filter(|s| *s < until_ms && out.len() < limit) {
                    out.push((start, start.saturating_add(*duration_ms)));
                    next = cron.next_after(start);
                }
                out
            }
        }
    }
}
