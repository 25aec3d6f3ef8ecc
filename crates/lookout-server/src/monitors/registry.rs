//! The monitors defined: adding, redefining, pausing and removing them, and what the API
//! reads of them (live status, timings, the next check).

use std::collections::HashMap;
use std::sync::Arc;

use lookout_core::heartbeat::HeartbeatState;
use lookout_core::monitor::{MonitorState, Outcome};
use lookout_store::{Maintenance, Monitor, MonitorStatus};

use super::maintenance::ConfigWindow;
use super::recorder::Record;
use super::spec::{MonitorDef, Probe};
use super::{token_key, Entry, Inner, Monitors};
use crate::bus::MonitorFact;

/// The pace of the warm-up: 500 first checks a second, so 10,000 monitors loaded at start
/// are all checked within 20 s, at three times the steady rate of 10,000 monitors at 60 s
/// (which the scheduler sustains with milliseconds of lateness).
const WARM_UP_SPACING_MS: i64 = 2;
/// The warm-up's burst: this much of its pace (50 checks) starts at once, so a config of a
/// few dozen monitors has them all checked the moment lookout starts.
const WARM_UP_BURST_MS: i64 = 100;

impl Monitors {
    /// Adds or replaces a monitor (its definition already validated). The state machine
    /// is restored from the stored status, so a restart or an edit does not forget an
    /// ongoing outage. A monitor that owes a check (never checked, or not since more than
    /// an interval) gets it during the warm-up: at once, paced at one check every
    /// [`WARM_UP_SPACING_MS`] across all such monitors so thousands loaded at start do not
    /// fire together, and never later than its own phase slot; then it joins its phase.
    pub fn upsert(&self, monitor: Monitor, def: MonitorDef) {
        self.insert(monitor, def, false, &[]);
    }

    /// [`Monitors::upsert`] for a monitor another run checked until now (this process
    /// before a restart, or another instance before a handover): `recent` are its latest
    /// stored results (see [`super::sync::recent_outcomes`]), so a failure streak it had
    /// begun goes on here and an outage is dated from its first failure.
    pub fn upsert_restored(&self, monitor: Monitor, def: MonitorDef, recent: &[(i64, Outcome)]) {
        self.insert(monitor, def, false, recent);
    }

    /// Adds a monitor created at run time: it is checked at once, then on its phase
    /// within the interval like every other.
    pub fn add_new(&self, monitor: Monitor, def: MonitorDef) {
        self.insert(monitor, def, true, &[]);
    }

    /// Waits until monitor `id` has the result of a check, for at most its interval (and
    /// never more than a minute: the longest a check may take). Returns at once for a
    /// monitor that has one, is paused, is a heartbeat, or is unknown.
    pub async fn first_result(&self, id: i64) {
        let bound = {
            let inner = self.lock();
            let Some(e) = inner.entries.get(&id) else {
                return;
            };
            if !inner.owns(id) {
                // Another instance checks it; its result reaches this one's view only
                // through the store.
                return;
            }
            e.def.settings.interval_ms.clamp(0, 61_000)
        };
        let wait = async {
            loop {
                let checked = self.checked.notified();
                let waiting = self.lock().entries.get(&id).is_some_and(|e| {
                    e.status.last_check_ms.is_none() && e.heartbeat.is_none() && !e.monitor.paused
                });
                if !waiting {
                    return;
                }
                checked.await;
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_millis(bound as u64), wait).await;
    }

    fn insert(&self, monitor: Monitor, def: MonitorDef, at_once: bool, recent: &[(i64, Outcome)]) {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let generation = inner
            .entries
            .get(&monitor.id)
            .map_or(0, |e| e.generation + 1);
        inner.unindex(monitor.id);
        let def = Arc::new(def);
        let status = monitor.status.clone();
        let machine = {
            let mut m = MonitorState::restore(
                def.settings,
                status.state,
                status.down_since_ms,
                status.last_check_ms,
            );
            m.continue_streaks(recent);
            if monitor.paused {
                m.pause();
            }
            m
        };
        let heartbeat = match &def.probe {
            Probe::Heartbeat(spec) => Some(HeartbeatState::restore(
                spec.clone(),
                monitor.created_ms,
                status.state,
                status.last_check_ms,
                status.running_since_ms,
            )),
            Probe::Check(_) => None,
        };
        if let Some(t) = &monitor.token {
            inner.by_token.insert(token_key(t), monitor.id);
        }
        if let (Some(p), Some(s)) = (monitor.project_id, &monitor.slug) {
            inner.by_slug.insert((p, s.clone()), monitor.id);
        }
        let id = monitor.id;
        let name = monitor.name.clone();
        let mut entry = Entry {
            monitor,
            def,
            machine,
            heartbeat,
            status,
            generation,
            running: false,
            queued: None,
            last_timings: None,
            last_pm2: None,
            crash_looping: false,
            has_health: false,
            off_phase: false,
            held_until: None,
        };
        entry.status.state = entry.health_state();
        let due = if at_once && entry.never_checked() {
            entry.off_phase = true;
            Some(now)
        } else if entry.owes_a_check(now) {
            let phase = entry.first_due(now);
            let paced = inner.warm_up_next.max(now);
            let warm = (paced - WARM_UP_BURST_MS).max(now);
            if phase.is_some_and(|p| p <= warm) {
                phase
            } else {
                inner.warm_up_next = paced + WARM_UP_SPACING_MS;
                entry.off_phase = true;
                Some(warm)
            }
        } else {
            entry.first_due(now)
        };
        inner.entries.insert(id, entry);
        if let Some(due) = due {
            inner.schedule(id, due);
        }
        drop(inner);
        self.tell(MonitorFact::Defined { id, name });
        self.wake.notify_one();
    }

    /// Forgets a monitor.
    pub fn remove(&self, id: i64) {
        let mut inner = self.lock();
        inner.unindex(id);
        inner.entries.remove(&id);
        drop(inner);
        self.tell(MonitorFact::Removed { id });
    }

    /// Pauses or resumes a monitor.
    pub fn set_paused(&self, id: i64, paused: bool) {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let Some(e) = inner.entries.get_mut(&id) else {
            return;
        };
        e.generation += 1;
        e.monitor.paused = paused;
        if paused {
            e.machine.pause();
        } else {
            e.machine.resume(now);
            // Checked at once: the next check goes back onto the phase.
            e.off_phase = e.heartbeat.is_none();
        }
        e.status.state = e.health_state();
        e.queued = None;
        let due = e.first_due(now);
        let status = e.status.clone();
        if let Some(due) = due {
            inner.schedule(id, due);
        }
        drop(inner);
        self.send(Record::status(id, status));
        self.wake.notify_one();
    }

    /// Moves a monitor's next check to now ("check now" in the dashboard); `false` if it
    /// is unknown, paused, a heartbeat (it waits for pings), being checked already or run
    /// by another instance ([`Monitors::checked_elsewhere`]).
    pub fn check_now(&self, id: i64) -> bool {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let Some(e) = inner.entries.get(&id) else {
            return false;
        };
        // Queued here is not enough: an instance keeps every monitor in its queue and
        // skips those another instance owns when they come due.
        if e.monitor.paused || e.heartbeat.is_some() || e.queued.is_none() || !inner.owns(id) {
            return false;
        }
        inner.schedule(id, now);
        drop(inner);
        self.wake.notify_one();
        true
    }

    /// Whether monitor `id` is one another instance checks (known, not paused, not a
    /// heartbeat, not owned here): "check now" must then be asked of its owner.
    pub fn checked_elsewhere(&self, id: i64) -> bool {
        let inner = self.lock();
        inner
            .entries
            .get(&id)
            .is_some_and(|e| !e.monitor.paused && e.heartbeat.is_none() && !inner.owns(id))
    }

    /// Of the requested `ids`, those this instance settles: it owns them (and queues
    /// their check now) or does not know them (deleted). The rest are for other owners.
    pub fn take_requests(&self, ids: &[i64]) -> Vec<i64> {
        ids.iter()
            .copied()
            .filter(|id| {
                let inner = self.lock();
                let known = inner.entries.contains_key(id);
                let owned = inner.owns(*id);
                drop(inner);
                if owned && known {
                    self.check_now(*id);
                }
                owned || !known
            })
            .collect()
    }

    /// Replaces the maintenance windows.
    pub fn set_windows(&self, config: Vec<ConfigWindow>, api: Vec<Maintenance>) {
        let mut inner = self.lock();
        inner.config_windows = config;
        inner.api_windows = api;
    }

    /// Replaces only the API-created maintenance windows.
    pub fn set_api_windows(&self, api: Vec<Maintenance>) {
        self.lock().api_windows = api;
    }

    /// The config's maintenance windows.
    pub fn config_windows(&self) -> Vec<super::maintenance::ConfigWindow> {
        self.lock().config_windows.clone()
    }

    /// The current status of every monitor, by id.
    pub fn statuses(&self) -> HashMap<i64, MonitorStatus> {
        self.lock()
            .entries
            .iter()
            .map(|(id, e)| (*id, e.shown_status()))
            .collect()
    }

    /// The current status of one monitor.
    pub fn status(&self, id: i64) -> Option<MonitorStatus> {
        self.lock().entries.get(&id).map(Entry::shown_status)
    }

    /// A pm2 monitor's last figures.
    pub fn last_pm2(&self, id: i64) -> Option<lookout_probe::pm2::Pm2Figures> {
        self.lock()
            .entries
            .get(&id)
            .and_then(|e| e.last_pm2.clone())
    }

    /// The last check's per-phase timings and HTTP status.
    pub fn last_timings(&self, id: i64) -> Option<(lookout_probe::Timings, Option<u16>)> {
        self.lock().entries.get(&id).and_then(|e| e.last_timings)
    }

    /// Sets the live instances sharing the monitors (sorted ids; this one is `me`);
    /// returns the monitors this instance runs from now on that it did not before, whose
    /// state the caller reloads from the store (another instance ran them meanwhile).
    /// After a `lapsed` lease every monitor it runs counts as gained: the others may
    /// have run any of them while it was taken for dead.
    pub fn set_members(&self, me: &str, members: Vec<String>, lapsed: bool) -> Vec<i64> {
        let mut inner = self.lock();
        let before: Vec<i64> = if lapsed {
            Vec::new()
        } else {
            inner
                .entries
                .keys()
                .copied()
                .filter(|id| inner.owns(*id))
                .collect()
        };
        inner.me = me.to_string();
        inner.members = members;
        let mut gained: Vec<i64> = inner
            .entries
            .keys()
            .copied()
            .filter(|id| inner.owns(*id) && !before.contains(id))
            .collect();
        gained.sort_unstable();
        gained
    }

    /// Extends the time this instance may run checks and heartbeat deadlines: until its
    /// fleet lease (from its last successful heartbeat) runs out. Past it, nothing is run
    /// and the queue waits: an instance that could not heartbeat (database unreachable,
    /// process stopped) has been taken for dead and its monitors run elsewhere, so its
    /// stale view must not check them beside their new owner.
    pub fn renew_lease(&self, until: std::time::Instant) {
        self.lock().lease_until = Some(until);
        self.wake.notify_one();
    }

    /// Holds monitors just taken over while their last owner may still be running them
    /// (it learns of the new membership only at its next heartbeat): none is checked
    /// until `until_ms`, when the caller reloads their state from the store, which then
    /// holds the last owner's final check, so the first check here comes an interval
    /// after it rather than at once beside it. A check in flight finishes.
    pub fn hold(&self, ids: &[i64], until_ms: i64) {
        let mut inner = self.lock();
        for id in ids {
            if let Some(e) = inner.entries.get_mut(id) {
                // Its queue item no longer matches, so it is skipped.
                e.queued = None;
                e.held_until = Some(until_ms);
            }
        }
    }

    /// The monitors this instance runs, sorted.
    pub fn owned_ids(&self) -> Vec<i64> {
        let inner = self.lock();
        let mut ids: Vec<i64> = inner
            .entries
            .keys()
            .copied()
            .filter(|id| inner.owns(*id))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Compares the store's monitors with those in memory: returns the stored monitors
    /// to load again (created, redefined, paused or resumed through another instance; a
    /// heartbeat pinged through another instance) and the ids to forget (deleted). For
    /// monitors another instance runs, the stored status replaces the shown one.
    /// Monitors defined at or after `listed_ms` (the list was read from then) stay.
    pub fn plan_sync(&self, stored: Vec<Monitor>, listed_ms: i64) -> (Vec<Monitor>, Vec<i64>) {
        let now = self.clock.now_ms();
        let mut inner = self.lock();
        let known: std::collections::HashSet<i64> = stored.iter().map(|m| m.id).collect();
        let gone: Vec<i64> = inner
            .entries
            .iter()
            .filter(|(id, e)| !known.contains(id) && e.monitor.updated_ms < listed_ms)
            .map(|(id, _)| *id)
            .collect();
        let mut load = Vec::new();
        for m in stored {
            let owned = inner.owns(m.id);
            let Some(e) = inner.entries.get_mut(&m.id) else {
                load.push(m);
                continue;
            };
            let redefined = e.monitor.updated_ms != m.updated_ms || e.monitor.paused != m.paused;
            let pinged_elsewhere = e.heartbeat.is_some()
                && m.status.last_check_ms > e.status.last_check_ms
                && (owned || m.status.state != e.status.state);
            // Gained while its reload failed: nothing would ever queue it again.
            let stranded = owned
                && e.heartbeat.is_none()
                && e.queued.is_none()
                && !e.running
                && !e.monitor.paused
                && e.held_until.is_none_or(|t| now >= t);
            if redefined || pinged_elsewhere || stranded {
                load.push(m);
            } else if !owned && !e.running {
                e.status = m.status;
            }
        }
        (load, gone)
    }

    /// When a monitor's next check (or heartbeat deadline) is due.
    pub fn next_check(&self, id: i64) -> Option<i64> {
        self.lock().entries.get(&id).and_then(|e| e.queued)
    }
}

impl Inner {
    pub(super) fn unindex(&mut self, id: i64) {
        if let Some(e) = self.entries.get(&id) {
            if let Some(t) = &e.monitor.token {
                self.by_token.remove(&token_key(t));
            }
            if let (Some(p), Some(s)) = (e.monitor.project_id, &e.monitor.slug) {
                self.by_slug.remove(&(p, s.clone()));
            }
        }
    }
}
