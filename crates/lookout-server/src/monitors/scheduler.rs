//! The scheduler: the queue of due checks and heartbeat deadlines, and the loop that
//! wakes when the earliest is due (or when monitors change), starts every due check on
//! its own task so a slow target never delays the others, and bounds how many run at
//! once. Lateness (start minus scheduled time) is kept for `/api/health`.

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::Duration;

use lookout_probe::CheckResult;

use super::spec::Probe;
use super::{Inner, Monitors, SchedulerStats};
use crate::bus::MonitorFact;

/// Lateness is judged over this trailing window.
const LATENESS_WINDOW_MS: i64 = 60_000;

/// The longest the loop sleeps: an injected clock may jump, and is only read, never
/// waited on, so the loop must look again at least this often.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// The shortest: checks due within it start together, so 100,000 monitors (1.7 checks a
/// millisecond) do not wake the loop for each one; it adds at most this to lateness.
const MIN_SLEEP: Duration = Duration::from_millis(5);

/// Runs the scheduler until the task is aborted.
pub async fn run(monitors: Arc<Monitors>) {
    loop {
        let now = monitors.clock.now_ms();
        for due in monitors.take_due(now) {
            let m = monitors.clone();
            tokio::spawn(async move {
                // Waiting for a permit counts as lateness: the start time is taken after.
                let permit = m.permits.clone().acquire_owned().await;
                let started = m.clock.now_ms();
                let result = due.check.run(started).await;
                drop(permit);
                // No wake-up: the next check of this monitor is at least a retry
                // interval away, well past the loop's next look.
                m.finish(&due, started, result);
            });
        }
        let sleep = match monitors.next_due() {
            Some(due) => {
                let wait = (due - monitors.clock.now_ms()).max(1) as u64;
                Duration::from_millis(wait).clamp(MIN_SLEEP, MAX_SLEEP)
            }
            None => MAX_SLEEP,
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = monitors.wake.notified() => {}
        }
    }
}

/// A check due to run.
struct DueCheck {
    id: i64,
    generation: u64,
    scheduled_ms: i64,
    check: Arc<lookout_probe::Check>,
}

impl Monitors {
    /// Scheduler figures.
    pub fn stats(&self) -> SchedulerStats {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        inner.trim_lateness(now);
        let mut late: Vec<i64> = inner.lateness.iter().map(|&(_, l)| l).collect();
        late.sort_unstable();
        let pct = |p: f64| -> i64 { lookout_core::stats::nearest_rank(&late, p).unwrap_or(0) };
        SchedulerStats {
            monitors: inner.entries.len(),
            running: inner.entries.values().filter(|e| e.running).count(),
            checks_started: inner.checks_started,
            overdue: inner.overdue,
            owned: if inner.fenced() {
                0
            } else {
                inner.entries.keys().filter(|id| inner.owns(**id)).count()
            },
            late_p50_ms: pct(50.0),
            late_p99_ms: pct(99.0),
            late_max_ms: late.last().copied().unwrap_or(0),
        }
    }

    /// Takes every check that is due at `now`, marking it running. Heartbeat deadlines are
    /// handled here directly (they need no I/O); outbound checks are returned to be run.
    fn take_due(&self, now: i64) -> Vec<DueCheck> {
        let mut inner = self.lock();
        let mut out = Vec::new();
        let mut records = Vec::new();
        if inner.fenced() {
            // Left queued: alone, they run once the lease is renewed; in a fleet, the
            // renewal takes them back first (`set_members` after a lapse).
            return out;
        }
        while let Some(&Reverse((due, id, gen))) = inner.queue.peek() {
            if due > now {
                break;
            }
            inner.queue.pop();
            let owned = inner.owns(id);
            let until = inner.maintenance_until(id, now);
            let Some(e) = inner.entries.get_mut(&id) else {
                continue;
            };
            if e.generation != gen || e.queued != Some(due) || e.running {
                continue;
            }
            e.queued = None;
            if !owned {
                // Another instance runs it; if this one gains it, it is reloaded from
                // the store and queued again (`set_members`).
                continue;
            }
            match &e.def.probe {
                Probe::Check(check) => {
                    e.running = true;
                    out.push(DueCheck {
                        id,
                        generation: gen,
                        scheduled_ms: due,
                        check: check.clone(),
                    });
                }
                Probe::Heartbeat(_) => {
                    let record = e.heartbeat_tick(now, until);
                    if let Some(r) = record {
                        records.push(r);
                    }
                    if let Some(next) = e.next_due() {
                        inner.schedule(id, next.max(now + 1));
                    }
                }
            }
        }
        inner.overdue = out.len();
        inner.checks_started += out.len() as u64;
        drop(inner);
        for r in records {
            self.send(r);
        }
        out
    }

    /// When the next item is due, if any.
    fn next_due(&self) -> Option<i64> {
        let inner = self.lock();
        if inner.fenced() {
            return None;
        }
        inner.queue.peek().map(|Reverse((due, _, _))| *due)
    }

    /// Applies a finished check: state machine, TLS warnings, outage and signals; then
    /// schedules the next check.
    fn finish(&self, due: &DueCheck, started_ms: i64, result: CheckResult) {
        let mut inner = self.lock();
        inner
            .lateness
            .push_back((started_ms, started_ms - due.scheduled_ms));
        inner.trim_lateness(started_ms);
        let until = inner.maintenance_until(due.id, started_ms);
        let Some(e) = inner.entries.get_mut(&due.id) else {
            return;
        };
        if e.generation != due.generation {
            // Redefined or paused while the check ran: its result belongs to the old one.
            e.running = false;
            return;
        }
        e.running = false;
        let had_health = e.has_health;
        self.timings.observe(&e.monitor.name, &result.timings);
        let mut record = e.apply_check(due.scheduled_ms, started_ms, &result, until);
        if let Some(checks) = &result.health_checks {
            record.latency = crate::slo::health_samples(due.id, started_ms, checks);
        }
        let health = (had_health || e.has_health).then_some(MonitorFact::Health {
            id: due.id,
            checks: result.health_checks,
        });
        if let Some(MonitorFact::Health { id, checks }) = &health {
            record.health = Some(lookout_store::HealthReading {
                monitor_id: *id,
                checks: checks.clone(),
                at_ms: started_ms,
            });
        }
        let now = self.clock.now_ms();
        let next = e
            .due_after_check(due.scheduled_ms)
            .map(|n| catch_up(n, due.scheduled_ms, now.max(started_ms)));
        if let Some(next) = next {
            inner.schedule(due.id, next);
        }
        drop(inner);
        self.send(record);
        if let Some(fact) = health {
            self.tell(fact);
        }
        self.checked.notify_waiters();
    }
}

/// The next check after one scheduled at `scheduled` ran late (a stalled process, a
/// machine that slept, a check slower than its retry interval): the first slot of the
/// same schedule after `now`, rather than at once. Falling behind must never make two
/// checks in a row, which a target counts as two and an instance sharing the monitors
/// would see as a double check.
fn catch_up(next: i64, scheduled: i64, now: i64) -> i64 {
    let wait = next - scheduled;
    if next > now || wait <= 0 {
        return next.max(now + 1);
    }
    next + ((now - next) / wait + 1) * wait
}

impl Inner {
    /// Queues monitor `id` at `due`, unless it is already queued as early.
    pub(super) fn schedule(&mut self, id: i64, due: i64) {
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        if e.queued.is_some_and(|q| q <= due) {
            return;
        }
        e.queued = Some(due);
        let gen = e.generation;
        self.queue.push(Reverse((due, id, gen)));
    }

    pub(super) fn trim_lateness(&mut self, now: i64) {
        while self
            .lateness
            .front()
            .is_some_and(|&(t, _)| t < now - LATENESS_WINDOW_MS)
        {
            self.lateness.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::catch_up;

    #[test]
    fn a_late_check_goes_on_to_the_next_slot_of_its_schedule() {
        // On time: the next slot as given.
        assert_eq!(catch_up(10_000, 0, 500), 10_000);
        // Finished 25 s after a check scheduled at 0 with a 10 s wait: 30 s, not at once.
        assert_eq!(catch_up(10_000, 0, 25_000), 30_000);
        // Exactly on a slot: the one after it.
        assert_eq!(catch_up(10_000, 0, 20_000), 30_000);
        // A 10 s retry after a check that ran 12 s late keeps the retry's pace.
        assert_eq!(catch_up(110_000, 100_000, 112_000), 120_000);
        // No wait (a clock that went back): never in the past.
        assert_eq!(catch_up(5_000, 5_000, 7_000), 7_001);
    }
}
