//! Push monitors: heartbeat pings (`/ping/{token}`), Sentry cron check-ins by slug, and
//! the deadlines by which a ping must have come. Each becomes a record for the recorder:
//! the result, the status, outages opened or closed, and signals.

use lookout_core::heartbeat::{HeartbeatEvent, Ping};
use lookout_core::signal::SignalKind;
use lookout_store::{CheckOutcome, CheckRecord, MonitorStatus, OutageChange};

use super::recorder::Record;
use super::{token_key, Entry, Inner, Monitors};

impl Monitors {
    /// A heartbeat ping by token: `None` when no monitor has that token (or it is
    /// paused). The receiver fires once the ping is durable.
    pub fn ping(
        &self,
        token: &str,
        ping: Ping,
    ) -> Option<(MonitorStatus, tokio::sync::oneshot::Receiver<()>)> {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let id = *inner.by_token.get(&token_key(token))?;
        let (status, mut record) = inner.ping_entry(id, now, ping)?;
        drop(inner);
        let (tx, rx) = tokio::sync::oneshot::channel();
        record.ack = Some(tx);
        self.send(record);
        self.wake.notify_one();
        Some((status, rx))
    }

    /// Whether a token belongs to a monitor.
    pub fn has_token(&self, token: &str) -> bool {
        self.lock().by_token.contains_key(&token_key(token))
    }

    /// A Sentry check-in for a project's monitor slug; `false` when no monitor has it.
    pub fn check_in(&self, project_id: i64, slug: &str, ping: Ping, at_ms: i64) -> bool {
        let mut inner = self.lock();
        let Some(&id) = inner.by_slug.get(&(project_id, slug.to_string())) else {
            return false;
        };
        let sent = inner.ping_entry(id, at_ms, ping);
        drop(inner);
        if let Some((_, record)) = sent {
            self.send(record);
        }
        self.wake.notify_one();
        true
    }
}

impl Inner {
    /// Applies a ping; the caller sends the record once the lock is released.
    pub(super) fn ping_entry(
        &mut self,
        id: i64,
        now: i64,
        ping: Ping,
    ) -> Option<(MonitorStatus, Record)> {
        let until = self.maintenance_until(id, now);
        let e = self.entries.get_mut(&id)?;
        if e.monitor.paused {
            return None;
        }
        let record = e.heartbeat_ping(now, ping, until)?;
        let status = e.shown_status();
        if let Some(next) = e.next_due() {
            self.schedule(id, next.max(now + 1));
        }
        Some((status, record))
    }
}

impl Entry {
    pub(super) fn heartbeat_ping(
        &mut self,
        now: i64,
        ping: Ping,
        until: Option<i64>,
    ) -> Option<Record> {
        self.sync_maintenance(until);
        let h = self.heartbeat.as_mut()?;
        let events = h.ping(now, ping.clone());
        // A run's duration: as the job reported it, else since its start ping.
        let measured = h.last_duration_ms();
        let mut record = self.heartbeat_events(now, events, until);
        let (outcome, error, latency) = match &ping {
            Ping::Start => (None, None, None),
            Ping::Success { duration_ms } => {
                (Some(CheckOutcome::Up), None, duration_ms.or(measured))
            }
            Ping::Fail {
                exit_code,
                duration_ms,
            } => (
                Some(CheckOutcome::Down),
                Some(match exit_code {
                    Some(c) => format!("the run failed with exit code {c}"),
                    None => "the run reported a failure".to_string(),
                }),
                duration_ms.or(measured),
            ),
        };
        if let Some(outcome) = outcome {
            record.result = Some(CheckRecord {
                monitor_id: self.monitor.id,
                at_ms: now,
                latency_ms: latency.map(|d| d.clamp(0, i64::from(u32::MAX)) as u32),
                outcome,
                maintenance: until.is_some(),
                error: error.clone(),
                figures: Default::default(),
            });
            self.status.last_latency_ms = latency;
            self.status.last_error = error;
        }
        self.status.last_check_ms = Some(now);
        self.status.running_since_ms = self.heartbeat.as_ref().and_then(|h| h.running_since_ms());
        self.status.state = self.health_state();
        record.status = Some((self.monitor.id, self.status.clone()));
        Some(record)
    }

    pub(super) fn heartbeat_tick(&mut self, now: i64, until: Option<i64>) -> Option<Record> {
        self.sync_maintenance(until);
        let h = self.heartbeat.as_mut()?;
        let events = h.tick(now);
        if events.is_empty() {
            return None;
        }
        let mut record = self.heartbeat_events(now, events, until);
        self.status.running_since_ms = self.heartbeat.as_ref().and_then(|h| h.running_since_ms());
        self.status.state = self.health_state();
        record.status = Some((self.monitor.id, self.status.clone()));
        Some(record)
    }

    pub(super) fn heartbeat_events(
        &mut self,
        now: i64,
        events: Vec<HeartbeatEvent>,
        until: Option<i64>,
    ) -> Record {
        let mut record = Record::default();
        let id = self.monitor.id;
        for ev in events {
            let (kind, detail, outcome_down) = match ev {
                HeartbeatEvent::Missed { expected_ms } => (
                    SignalKind::HeartbeatMissed,
                    format!(
                        "no ping since the run expected at {}",
                        crate::time_fmt::iso(expected_ms)
                    ),
                    true,
                ),
                HeartbeatEvent::TooLong { started_ms } => (
                    SignalKind::HeartbeatMissed,
                    format!(
                        "the run started at {} has not finished",
                        crate::time_fmt::iso(started_ms)
                    ),
                    true,
                ),
                HeartbeatEvent::Failed { exit_code } => (
                    SignalKind::HeartbeatFailed,
                    match exit_code {
                        Some(c) => format!("the run failed with exit code {c}"),
                        None => "the run reported a failure".to_string(),
                    },
                    true,
                ),
                HeartbeatEvent::Recovered { down_for_ms } => (
                    SignalKind::MonitorUp,
                    format!(
                        "up again after {}",
                        humantime::format_duration(std::time::Duration::from_secs(
                            (down_for_ms / 1000).max(0) as u64
                        ))
                    ),
                    false,
                ),
            };
            if until.is_some() {
                continue;
            }
            if outcome_down {
                if self.status.down_since_ms.is_none() {
                    let since = self
                        .heartbeat
                        .as_ref()
                        .and_then(|h| h.down_since_ms())
                        .unwrap_or(now);
                    self.status.down_since_ms = Some(since);
                    record.outages.push(OutageChange::Open {
                        monitor_id: id,
                        start_ms: since,
                        cause: detail.clone(),
                    });
                }
                self.status.last_error = Some(detail.clone());
            } else {
                self.status.down_since_ms = None;
                self.status.last_error = None;
                record.outages.push(OutageChange::Close {
                    monitor_id: id,
                    end_ms: now,
                });
            }
            record.signals.push(self.signal(kind, detail, now));
        }
        record
    }
}
