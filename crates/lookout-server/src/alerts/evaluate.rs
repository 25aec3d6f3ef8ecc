//! The evaluation loop: new signals (read from the store by cursor, oldest first),
//! windowed measures every `evaluate_every`, silences, and the engine's timers when one
//! is due. Woken by signal wake-ups, by a rule removed, or every [`MAX_SLEEP`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{broadcast, mpsc};

use super::measures;
use super::step::SIGNAL_CURSOR;
use super::Alerts;
use crate::bus::MonitorFact;
use lookout_core::signal::Signal;

/// Signals read per step.
const SIGNAL_PAGE: u32 = 500;
/// The longest the loop sleeps: the injected clock is read, never waited on.
const MAX_SLEEP: Duration = Duration::from_millis(200);
/// The shortest time between two runs woken by signals. Under an error storm a signal
/// comes with every ingest batch (hundreds a second), and with the reference rules most
/// runs count occurrences into open incidents: a write each, competing with ingest for
/// the database. Waiting this long gathers them into one run and adds at most this much
/// to a signal's way to a channel; a signal after a quiet moment waits for nothing.
const SIGNAL_RUN_GAP: Duration = Duration::from_millis(25);

/// What the monitors reported, as the loop keeps it.
#[derive(Default)]
struct MonitorView {
    /// The latest health document `checks` of each health monitor that read one.
    health: HashMap<i64, serde_json::Value>,
    /// Monitors defined, renamed or deleted since the last run (`None`: deleted).
    renamed: Vec<(i64, Option<String>)>,
}

impl MonitorView {
    /// `shared`: other instances run some of the monitors, so health readings come from
    /// the store ([`MonitorView::stored`]) for all of them alike, and this instance's own
    /// are not applied ahead of the others' (a reading must not flip back and forth
    /// between a local and a slightly older stored one).
    fn apply(&mut self, fact: MonitorFact, shared: bool) {
        match fact {
            MonitorFact::Health { .. } if shared => {}
            MonitorFact::Defined { id, name } => {
                self.health.remove(&id);
                self.renamed.push((id, Some(name)));
            }
            MonitorFact::Removed { id } => {
                self.health.remove(&id);
                self.renamed.push((id, None));
            }
            MonitorFact::Health {
                id,
                checks: Some(c),
            } => {
                self.health.insert(id, c);
            }
            MonitorFact::Health { id, checks: None } => {
                self.health.remove(&id);
            }
        }
    }

    /// The readings every instance stored, the latest of each health monitor.
    fn stored(&mut self, readings: Vec<lookout_store::HealthReading>) {
        for r in readings {
            match r.checks {
                Some(c) => {
                    self.health.insert(r.monitor_id, c);
                }
                None => {
                    self.health.remove(&r.monitor_id);
                }
            }
        }
    }
}

/// How often the loop's holder reads the stored health readings while other instances
/// run monitors: about as often as a sync, a fraction of the shortest check interval.
const HEALTH_READ_EVERY: Duration = Duration::from_millis(500);

/// Runs the evaluation loop until aborted.
pub async fn run(
    alerts: Arc<Alerts>,
    mut signals: broadcast::Receiver<Signal>,
    mut facts: mpsc::Receiver<MonitorFact>,
) {
    let view = Arc::new(Mutex::new(MonitorView::default()));
    let mut next_measure = 0i64;
    let mut cursor = 0;
    // Whether this instance ran the loop at the last turn; `None` until the first.
    let mut holding = false;
    let mut changed_seen: Option<i64> = None;
    let mut health_read: Option<Instant> = None;
    loop {
        let shared = alerts.cluster.shared();
        {
            let mut v = view.lock();
            while let Ok(fact) = facts.try_recv() {
                v.apply(fact, shared);
            }
        }
        if !alerts.cluster.holds(crate::cluster::ALERTS) {
            // Another instance runs the loop; this one stands by.
            holding = false;
            tokio::time::sleep(MAX_SLEEP).await;
            continue;
        }
        if !holding {
            // Taken over (or started): what the last holder decided is in the store.
            let a = alerts.clone();
            match tokio::task::spawn_blocking(move || a.take_over()).await {
                Ok(Ok((c, changed))) => {
                    (cursor, changed_seen, holding) = (c, changed, true);
                    next_measure = 0;
                    health_read = None;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot take the alert loop over; retrying");
                    tokio::time::sleep(MAX_SLEEP).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "taking the alert loop over panicked");
                    continue;
                }
            }
        } else if alerts.cluster.shared() {
            let a = alerts.clone();
            let seen = changed_seen;
            if let Ok(Ok(now_seen)) =
                tokio::task::spawn_blocking(move || a.reload_if_changed(seen)).await
            {
                changed_seen = now_seen;
            }
        }
        if shared && health_read.is_none_or(|t| t.elapsed() >= HEALTH_READ_EVERY) {
            let a = alerts.clone();
            match tokio::task::spawn_blocking(move || a.store.health_readings()).await {
                Ok(Ok(readings)) => view.lock().stored(readings),
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot read health readings"),
                Err(e) => tracing::error!(error = %e, "reading health readings panicked"),
            }
            health_read = Some(Instant::now());
        }
        let run_started = Instant::now();
        let now = alerts.clock.now_ms();
        let measure = now >= next_measure;
        let (a, v) = (alerts.clone(), view.clone());
        let res = tokio::task::spawn_blocking(move || a.evaluate(now, cursor, measure, &v)).await;
        match res {
            Ok(Ok(c)) => {
                cursor = c;
                if measure {
                    next_measure = now + alerts.evaluate_every_ms;
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "alert evaluation failed; retrying"),
            Err(e) => tracing::error!(error = %e, "alert evaluation panicked"),
        }
        tokio::select! {
            _ = tokio::time::sleep(MAX_SLEEP) => {}
            _ = signals.recv() => {
                let since = run_started.elapsed();
                if since < SIGNAL_RUN_GAP {
                    tokio::time::sleep(SIGNAL_RUN_GAP - since).await;
                }
                // The writer sends each signal of a batch: one run reads them all.
                while !matches!(
                    signals.try_recv(),
                    Err(TryRecvError::Empty | TryRecvError::Closed)
                ) {}
            }
            _ = alerts.wake.notified() => {}
        }
    }
}

impl Alerts {
    /// One run of the loop; returns the new signal cursor. Blocking.
    fn evaluate(
        &self,
        now: i64,
        mut cursor: i64,
        measure: bool,
        view: &Mutex<MonitorView>,
    ) -> anyhow::Result<i64> {
        let renamed = std::mem::take(&mut view.lock().renamed);
        if !renamed.is_empty() {
            let mut engine = self.engine();
            for (id, name) in renamed {
                engine.set_monitor_name(id, name);
            }
        }
        // New signals, oldest first, a page at a time.
        loop {
            let page = self.store.signals_after(cursor, SIGNAL_PAGE)?;
            let Some(last) = page.last().map(|s| s.id) else {
                break;
            };
            self.step(now, Some(last), |e| {
                page.iter().flat_map(|s| e.on_signal(now, s)).collect()
            })?;
            cursor = last;
            if page.len() < SIGNAL_PAGE as usize {
                break;
            }
        }
        if measure {
            let rules = self.rules();
            let projects: Vec<i64> = self.projects.all().iter().map(|p| p.project.id).collect();
            let mut values = measures::stored(self.store.as_ref(), &projects, &rules, now)?;
            values.extend(measures::health(&rules, &view.lock().health));
            values.extend(measures::burn_rates(
                self.store.as_ref(),
                &self.slos,
                &rules,
                now,
            )?);
            if !values.is_empty() {
                self.step(now, None, |e| {
                    values
                        .iter()
                        .flat_map(|(rule, subject, v)| e.on_measure(now, rule, *subject, *v))
                        .collect()
                })?;
            }
            self.load_silences_by(now, super::step::By::Loop)?;
        }
        // Timers only when one is due: a tick walks every open incident.
        let due = self.engine().next_deadline_ms().is_some_and(|t| t <= now);
        if due {
            self.step(now, None, |e| e.tick(now))?;
        }
        Ok(cursor)
    }

    /// Makes this instance's engine the store's: open incidents, rules, silences; returns
    /// the signal cursor and the last change made through another instance. Blocking.
    fn take_over(&self) -> anyhow::Result<(i64, Option<i64>)> {
        let changed = self.store.cursor(super::step::CHANGED_ELSEWHERE)?;
        self.reload_open()?;
        self.sync_rules()?;
        self.load_silences_by(self.clock.now_ms(), super::step::By::Loop)?;
        Ok((self.initial_cursor(), changed))
    }

    /// Reloads the open incidents when a person changed one through another instance
    /// since `seen`; returns the new mark. Blocking.
    fn reload_if_changed(&self, seen: Option<i64>) -> anyhow::Result<Option<i64>> {
        let changed = self.store.cursor(super::step::CHANGED_ELSEWHERE)?;
        if changed != seen {
            self.reload_open()?;
            self.load_silences_by(self.clock.now_ms(), super::step::By::Loop)?;
        }
        Ok(changed)
    }

    /// Where signal handling resumes: the stored cursor, or on the very first start the
    /// newest signal (old facts are not news). Blocking.
    fn initial_cursor(&self) -> i64 {
        match self.store.cursor(SIGNAL_CURSOR) {
            Ok(Some(c)) => c,
            Ok(None) => {
                let mut last = 0;
                while let Ok(page) = self.store.signals_after(last, SIGNAL_PAGE) {
                    match page.last() {
                        Some(s) => last = s.id,
                        None => break,
                    }
                }
                last
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the alert cursor; starting from the newest signal");
                0
            }
        }
    }
}
