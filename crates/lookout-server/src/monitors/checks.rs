//! A finished outbound check applied to its monitor: the state machine's transitions
//! (outages and signals), certificate expiry warnings, and the new status.

use lookout_core::monitor::{tls_warning, Outcome, Transition};
use lookout_core::signal::SignalKind;
use lookout_probe::{CheckResult, Status};
use lookout_store::{CheckFigures, CheckOutcome, CheckRecord, OutageChange};

use super::recorder::Record;
use super::Entry;

/// What a check measured, as stored: phases in whole ms, a pm2 app's memory in KiB and
/// CPU in tenths of a percent.
fn figures(result: &CheckResult) -> CheckFigures {
    let ms = |v: Option<f64>| v.map(|v| v.round().clamp(0.0, f64::from(u32::MAX)) as u32);
    let t = &result.timings;
    let pm2 = result.pm2.as_ref();
    CheckFigures {
        dns_ms: ms(t.dns_ms),
        connect_ms: ms(t.connect_ms),
        tls_ms: ms(t.tls_ms),
        first_byte_ms: ms(t.first_byte_ms),
        memory_kb: pm2.map(|p| u32::try_from(p.memory_bytes / 1024).unwrap_or(u32::MAX)),
        cpu_permille: pm2.and_then(|p| ms(Some(p.cpu_percent * 10.0))),
    }
}

impl Entry {
    pub(super) fn apply_check(
        &mut self,
        scheduled_ms: i64,
        started_ms: i64,
        result: &CheckResult,
        until: Option<i64>,
    ) -> Record {
        self.sync_maintenance(until);
        let error = result.error.as_ref().map(|e| e.to_string()).or_else(|| {
            (result.status != Status::Up)
                .then(|| result.detail.clone())
                .flatten()
        });
        let outcome = match result.status {
            Status::Up => Outcome::Up,
            Status::Degraded => Outcome::Degraded {
                reason: error.clone().unwrap_or_else(|| "degraded".into()),
            },
            Status::Down => Outcome::Down {
                reason: error.clone().unwrap_or_else(|| "down".into()),
            },
        };
        let transitions = self.machine.record(scheduled_ms, outcome);
        self.last_timings = Some((result.timings, result.http_status));
        self.has_health = result.health_checks.is_some();
        let mut record = Record::default();
        let id = self.monitor.id;
        let latency = result.timings.total_ms.map(|t| t.round().max(0.0) as u32);
        record.result = Some(CheckRecord {
            monitor_id: id,
            at_ms: started_ms,
            latency_ms: latency,
            outcome: match result.status {
                Status::Up => CheckOutcome::Up,
                Status::Degraded => CheckOutcome::Degraded,
                Status::Down => CheckOutcome::Down,
            },
            maintenance: until.is_some(),
            error: error.clone(),
            figures: figures(result),
        });
        for t in transitions {
            let (kind, detail) = match &t {
                Transition::WentDown { reason, since_ms } => {
                    record.outages.push(OutageChange::Open {
                        monitor_id: id,
                        start_ms: *since_ms,
                        cause: reason.clone(),
                    });
                    (SignalKind::MonitorDown, reason.clone())
                }
                Transition::Recovered { down_for_ms } => {
                    record.outages.push(OutageChange::Close {
                        monitor_id: id,
                        end_ms: scheduled_ms,
                    });
                    (
                        SignalKind::MonitorUp,
                        format!(
                            "up again after {}",
                            humantime::format_duration(std::time::Duration::from_secs(
                                (*down_for_ms / 1000).max(0) as u64
                            ))
                        ),
                    )
                }
                Transition::Degraded { reason } => (SignalKind::MonitorDegraded, reason.clone()),
                Transition::Undegraded => {
                    (SignalKind::MonitorUndegraded, "no longer degraded".into())
                }
            };
            record.signals.push(self.signal(kind, detail, scheduled_ms));
        }
        if let Some(tls) = result.tls.as_ref().filter(|_| self.def.has_certificate) {
            self.status.tls_expires_ms = Some(tls.not_after_unix * 1000);
            let max = self.def.tls_expiry_days.iter().copied().max().unwrap_or(0);
            if tls.days_left > i64::from(max) {
                self.status.tls_warned_days = None;
            }
            let warned = self.status.tls_warned_days.map(|d| d as u32);
            if until.is_none() {
                if let Some(days) = tls_warning(tls.days_left, &self.def.tls_expiry_days, warned) {
                    self.status.tls_warned_days = Some(i64::from(days));
                    let detail = if tls.days_left < 0 {
                        format!("the certificate of {} has expired", self.target())
                    } else {
                        format!(
                            "the certificate of {} expires in {} days",
                            self.target(),
                            tls.days_left
                        )
                    };
                    record
                        .signals
                        .push(self.signal(SignalKind::TlsExpiring, detail, started_ms));
                }
            }
        }
        if let Some(p) = &result.pm2 {
            if p.restarted > 0 && !self.crash_looping && until.is_none() {
                let detail = format!(
                    "restarted {} time(s) since the last check ({} restarts in all): a crash loop",
                    p.restarted, p.restarts
                );
                record
                    .signals
                    .push(self.signal(SignalKind::CrashLoop, detail, started_ms));
            }
            self.crash_looping = p.restarted > 0;
        }
        self.last_pm2 = result.pm2.clone();
        self.status.state = self.health_state();
        self.status.last_check_ms = Some(scheduled_ms);
        self.status.last_latency_ms = latency.map(i64::from);
        self.status.last_error = error;
        self.status.down_since_ms = self.machine.down_since_ms();
        record.status = Some((id, self.status.clone()));
        record
    }
}
