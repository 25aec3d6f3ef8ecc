//! The health document, in the reference format:
//! `{status, timestamp, uptime, checks: {database: {status, latency}, memory: {...}}}`.
//! Later capabilities add checks of their own beside `database` and `memory`.

use serde::Serialize;

/// Overall or per-check status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// All good.
    Ok,
    /// Working, with a warning (memory > 80 %, slow database).
    Degraded,
    /// Not working (database unreachable, memory > 90 %).
    Unhealthy,
}

impl HealthStatus {
    /// The HTTP status code the reference uses: 200 for ok and degraded, 503 for unhealthy.
    pub fn http_code(self) -> u16 {
        match self {
            HealthStatus::Ok | HealthStatus::Degraded => 200,
            HealthStatus::Unhealthy => 503,
        }
    }
}

/// Thresholds, defaulting to the reference's.
#[derive(Debug, Clone, Copy)]
pub struct HealthThresholds {
    /// Database latency above which the check is degraded, in ms.
    pub db_degraded_ms: f64,
    /// Memory percentage above which the check is degraded.
    pub memory_degraded_pct: f64,
    /// Memory percentage above which the check is unhealthy.
    pub memory_unhealthy_pct: f64,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        Self {
            db_degraded_ms: 100.0,
            memory_degraded_pct: 80.0,
            memory_unhealthy_pct: 90.0,
        }
    }
}

/// `checks.database`.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseCheck {
    /// ok, degraded or unhealthy.
    pub status: HealthStatus,
    /// Round-trip of a trivial query, in ms; absent when unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<u64>,
    /// Why it is unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `checks.memory`.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryCheck {
    /// Bytes in use.
    pub used: u64,
    /// Bytes available to the process (cgroup limit or physical memory).
    pub total: u64,
    /// `used / total * 100`, two decimals.
    pub percentage: f64,
    /// ok, degraded or unhealthy.
    pub status: HealthStatus,
}

/// Evaluates the database check from a measured latency or an error.
pub fn database_check(result: Result<f64, String>, t: &HealthThresholds) -> DatabaseCheck {
    match result {
        Ok(ms) => DatabaseCheck {
            status: if ms > t.db_degraded_ms {
                HealthStatus::Degraded
            } else {
                HealthStatus::Ok
            },
            latency: Some(ms.round() as u64),
            error: None,
        },
        Err(e) => DatabaseCheck {
            status: HealthStatus::Unhealthy,
            latency: None,
            error: Some(e),
        },
    }
}

/// Evaluates the memory check.
pub fn memory_check(used: u64, total: u64, t: &HealthThresholds) -> MemoryCheck {
    let pct = if total == 0 {
        0.0
    } else {
        (used as f64 / total as f64 * 10_000.0).round() / 100.0
    };
    let status = if pct > t.memory_unhealthy_pct {
        HealthStatus::Unhealthy
    } else if pct > t.memory_degraded_pct {
        HealthStatus::Degraded
    } else {
        HealthStatus::Ok
    };
    MemoryCheck {
        used,
        total,
        percentage: pct,
        status,
    }
}

/// The overall status is the worst of the checks'.
pub fn overall<I: IntoIterator<Item = HealthStatus>>(checks: I) -> HealthStatus {
    checks.into_iter().max().unwrap_or(HealthStatus::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_reference() {
        let t = HealthThresholds::default();
        assert_eq!(memory_check(50, 100, &t).status, HealthStatus::Ok);
        assert_eq!(memory_check(81, 100, &t).status, HealthStatus::Degraded);
        assert_eq!(memory_check(91, 100, &t).status, HealthStatus::Unhealthy);
        assert_eq!(database_check(Ok(23.0), &t).status, HealthStatus::Ok);
        assert_eq!(database_check(Ok(150.0), &t).status, HealthStatus::Degraded);
        assert_eq!(
            database_check(Err("refused".into()), &t).status,
            HealthStatus::Unhealthy
        );
        assert_eq!(
            overall([HealthStatus::Ok, HealthStatus::Degraded]),
            HealthStatus::Degraded
        );
        assert_eq!(HealthStatus::Degraded.http_code(), 200);
        assert_eq!(HealthStatus::Unhealthy.http_code(), 503);
        assert_eq!(memory_check(123456789, 512000000, &t).percentage, 24.11);
    }
}
