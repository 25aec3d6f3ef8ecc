//! One monitor's runtime state: what it shows, when it is next due, and the signals it
//! raises.

use lookout_core::monitor::{spread_offset_ms, State};
use lookout_core::signal::{Signal, SignalKind};
use lookout_store::MonitorStatus;

use super::Entry;

impl Entry {
    /// The confirmed health, which is what is stored: a paused or in-maintenance monitor
    /// that was down must come back down after a restart.
    pub(super) fn health_state(&self) -> State {
        match &self.heartbeat {
            Some(h) => h.state(),
            None => self.machine.health(),
        }
    }

    /// The status as shown: paused and maintenance take precedence over health.
    pub(super) fn shown_status(&self) -> MonitorStatus {
        MonitorStatus {
            state: self.shown_state(),
            ..self.status.clone()
        }
    }

    pub(super) fn shown_state(&self) -> State {
        match &self.heartbeat {
            Some(h) if !self.monitor.paused => {
                if self.machine.maintenance_until_ms().is_some() {
                    State::Maintenance
                } else {
                    h.state()
                }
            }
            _ => self.machine.state(),
        }
    }

    /// The first time this monitor is due: for a check, on its own phase within the
    /// interval (so many monitors spread out), but never before its last check's
    /// interval has passed; for a heartbeat, its next deadline.
    pub(super) fn first_due(&self, now: i64) -> Option<i64> {
        if self.monitor.paused {
            return None;
        }
        if self.heartbeat.is_some() {
            return self.next_due();
        }
        let interval = self.def.settings.interval_ms;
        let natural = self.machine.next_due_ms();
        if natural > 0 && natural >= now {
            return Some(natural);
        }
        let phase = spread_offset_ms(self.monitor.id as u64, interval);
        let base = now - now.rem_euclid(interval) + phase;
        Some(if base < now { base + interval } else { base })
    }

    /// Whether this is an outbound check with no check due on its own schedule: never
    /// checked, or last checked more than an interval ago (the server was down). Such a
    /// check is taken during the warm-up rather than a whole interval later.
    pub(super) fn owes_a_check(&self, now: i64) -> bool {
        if self.monitor.paused || self.heartbeat.is_some() {
            return false;
        }
        let natural = self.machine.next_due_ms();
        !(natural > 0 && natural >= now)
    }

    /// Whether this is an outbound check that has never run.
    pub(super) fn never_checked(&self) -> bool {
        self.heartbeat.is_none() && self.status.last_check_ms.is_none()
    }

    /// When to check next after a check scheduled at `checked_ms`: [`Entry::next_due`],
    /// except that after a check run off its phase, a full interval's wait goes to the
    /// phase slot nearest to it (between half and one and a half intervals away), so a
    /// monitor checked at once joins the spread schedule. A retry keeps its timing.
    pub(super) fn due_after_check(&mut self, checked_ms: i64) -> Option<i64> {
        let next = self.next_due()?;
        let interval = self.def.settings.interval_ms;
        if !self.off_phase || interval <= 0 || next - checked_ms != interval {
            return Some(next);
        }
        self.off_phase = false;
        let phase = spread_offset_ms(self.monitor.id as u64, interval);
        let below = next - (next - phase).rem_euclid(interval);
        Some(if next - below <= interval / 2 {
            below
        } else {
            below + interval
        })
    }

    pub(super) fn next_due(&self) -> Option<i64> {
        if self.monitor.paused {
            return None;
        }
        match &self.heartbeat {
            Some(h) => h.next_deadline_ms(),
            None => Some(self.machine.next_due_ms()),
        }
    }

    pub(super) fn sync_maintenance(&mut self, until: Option<i64>) {
        match until {
            Some(u) => self.machine.enter_maintenance(u),
            None => self.machine.exit_maintenance(),
        }
    }

    pub(super) fn signal(&self, kind: SignalKind, detail: String, at_ms: i64) -> Signal {
        Signal {
            id: 0,
            kind,
            project_id: self.monitor.project_id,
            issue_id: None,
            event_id: None,
            monitor_id: Some(self.monitor.id),
            detail: Some(format!("{}: {detail}", self.monitor.name)),
            created_ms: at_ms,
        }
    }

    pub(super) fn target(&self) -> String {
        let c = &self.def.config;
        c.url
            .clone()
            .or_else(|| c.host.clone())
            .unwrap_or_else(|| self.monitor.name.clone())
    }
}
