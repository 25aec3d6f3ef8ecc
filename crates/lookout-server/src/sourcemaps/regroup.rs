//! Regrouping events that arrived before their source maps. Storing a bundle records a job
//! (project, bundle, release, the window of events to look at); this task runs the jobs in
//! the background, a page of events at a time: each stored event that was not mapped at
//! ingest and maps now gets its mapped frames, and moves to the issue its mapped grouping
//! gives. The store applies each page with the job's cursor in one transaction, so a
//! restart resumes where the last page ended and a page applied twice changes nothing.
//!
//! Every instance runs this task, and each round first refreshes its source map index
//! from the store (so bundles uploaded through another instance are used at ingest within
//! a round); only the instance holding the `jobs` duty runs the jobs, and only those whose
//! bundle its index holds. A job whose bundle is gone (removed by the per-project limit or
//! retention before it ran) is marked done without work.

use std::sync::Arc;
use std::time::Duration;

use lookout_core::clock::Clock;
use lookout_core::grouping;
use lookout_sentry::event::parse_event;
use lookout_store::{NewRegroupJob, RegroupCandidate, RegroupJob, RegroupMove, Store};
use tokio::sync::Notify;

use crate::payload::Payloads;
use crate::sourcemaps::Symbolicator;

/// Events read from the store per page.
const PAGE: u32 = 200;

/// Runs regroup jobs.
pub struct Regrouper {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The source map index.
    pub symbolicator: Arc<Symbolicator>,
    /// Payload compression.
    pub payloads: Arc<Payloads>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// How far back events are regrouped (`[sourcemaps] regroup_window`).
    pub window: Duration,
    /// At most this many events are looked at per bundle (`[sourcemaps] regroup_max_events`).
    pub max_events: u64,
    /// Wakes the task when a job is recorded.
    pub wake: Notify,
    /// The fleet: jobs run on the `jobs` duty's holder only.
    pub cluster: Arc<crate::cluster::Cluster>,
    /// How often the index is refreshed from the store and pending jobs are looked for
    /// without a wake-up (`[cluster] sync_every`).
    pub poll: Duration,
}

impl Regrouper {
    /// Records a job for a bundle just stored and wakes the task. Blocking.
    pub fn enqueue(
        &self,
        project_id: i64,
        bundle_id: i64,
        release: Option<&str>,
    ) -> lookout_store::Result<i64> {
        let now = self.clock.now_ms();
        let id = self.store.enqueue_regroup(&NewRegroupJob {
            project_id,
            bundle_id,
            release: release.map(str::to_string),
            since_ms: now - self.window.as_millis() as i64,
            max_events: self.max_events,
            now_ms: now,
        })?;
        self.wake.notify_one();
        Ok(id)
    }

    /// The window of events a job recorded now looks at.
    pub fn window_now(&self) -> lookout_store::RegroupWindow {
        lookout_store::RegroupWindow {
            since_ms: self.clock.now_ms() - self.window.as_millis() as i64,
            max_events: self.max_events,
        }
    }

    /// Wakes the task (jobs were recorded with a bundle).
    pub fn wake_up(&self) {
        self.wake.notify_one();
    }

    /// One round: refreshes the index from the store, then, on the `jobs` duty's holder,
    /// runs the pending jobs. Blocking. Returns how many events were moved.
    pub fn round(&self) -> lookout_store::Result<u64> {
        if let Err(e) = self.symbolicator.refresh() {
            tracing::warn!(error = %e, "cannot read the stored source map bundles; will retry");
        }
        if !self.cluster.holds(crate::cluster::JOBS) {
            return Ok(0);
        }
        self.run_pending()
    }

    /// Runs every pending job whose bundle the index holds to its end, and closes those
    /// whose bundle is no longer stored. Blocking. Returns how many events were moved.
    pub fn run_pending(&self) -> lookout_store::Result<u64> {
        let mut moved = 0;
        let jobs = self.store.pending_regroups()?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let mut stored: Option<Vec<i64>> = None;
        for job in jobs {
            if !self.symbolicator.has_bundle(job.bundle_id) {
                // Not in the index: either stored after its last refresh (the next round
                // has it) or removed before the job ran (nothing to map with, ever).
                let ids = match &stored {
                    Some(ids) => ids,
                    None => stored.insert(self.store.bundle_ids()?),
                };
                if ids.binary_search(&job.bundle_id).is_err() {
                    self.close(&job)?;
                    tracing::info!(
                        job = job.id,
                        bundle = job.bundle_id,
                        "the bundle of a regroup job is gone; the job is closed"
                    );
                }
                continue;
            }
            moved += self.run_job(job)?;
        }
        Ok(moved)
    }

    /// Marks `job` done where it stands, moving nothing more.
    fn close(&self, job: &RegroupJob) -> lookout_store::Result<lookout_store::RegroupStep> {
        self.store
            .apply_regroup(job.id, job.after_event, 0, &[], true, self.clock.now_ms())
    }

    fn run_job(&self, mut job: RegroupJob) -> lookout_store::Result<u64> {
        let mut moved = 0;
        loop {
            let room = job.max_events.saturating_sub(job.scanned);
            let page = if room == 0 {
                Vec::new()
            } else {
                self.store
                    .regroup_candidates(&job, room.min(u64::from(PAGE)) as u32)?
            };
            let Some(last) = page.last().map(|c| c.row_id) else {
                self.close(&job)?;
                tracing::info!(
                    job = job.id,
                    project = job.project_id,
                    bundle = job.bundle_id,
                    scanned = job.scanned,
                    moved = job.moved + moved,
                    "regrouped the events that arrived before their source maps"
                );
                return Ok(moved);
            };
            let moves: Vec<RegroupMove> = page
                .iter()
                .filter_map(|c| self.map_one(job.project_id, c))
                .collect();
            let step = self.store.apply_regroup(
                job.id,
                last,
                page.len() as u64,
                &moves,
                false,
                self.clock.now_ms(),
            )?;
            for (from, into) in &step.merged {
                tracing::info!(
                    project = job.project_id,
                    issue = from,
                    into,
                    "merged an issue into the one its mapped frames group it in"
                );
            }
            moved += step.moved + step.rekeyed;
            job.after_event = last;
            job.scanned += page.len() as u64;
        }
    }

    /// The move for one stored event, if its frames map now and did not at ingest.
    fn map_one(&self, project_id: i64, c: &RegroupCandidate) -> Option<RegroupMove> {
        let json = match self.payloads.decompress(&c.payload) {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(event = %c.event_id, error = %e, "cannot read a stored event; left as it is");
                return None;
            }
        };
        // Mapped at ingest: its frames are the original ones already.
        if has_raw_frames(&json) {
            return None;
        }
        let mapped = self.symbolicator.symbolicate(project_id, &json)?;
        let view = parse_event(&mapped).ok()?;
        let g = grouping::group(&view);
        let payload = self
            .payloads
            .compress(project_id, &g.hash, &mapped, self.clock.now_ms());
        Some(RegroupMove {
            row_id: c.row_id,
            from_issue: c.issue_id,
            payload,
            fingerprint: g.hash,
            grouping_version: g.version.to_string(),
            title: g.title,
            culprit: g.culprit,
            handled: g.handled != Some(false),
            user_key: grouping::user_key(&view),
        })
    }
}

/// Whether a stored event holds `raw_frames`, which only the symbolicator writes.
fn has_raw_frames(json: &[u8]) -> bool {
    json.windows(12).any(|w| w == b"\"raw_frames\"")
}

/// Runs a round when woken and every `poll`: jobs recorded through other instances, or
/// left by a restart or by a jobs holder that stopped, are taken up by the next round.
pub async fn run(regrouper: Arc<Regrouper>) {
    loop {
        let r = regrouper.clone();
        match tokio::task::spawn_blocking(move || r.round()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "regrouping failed; will retry"),
            Err(e) => tracing::warn!(error = %e, "the regroup task failed; will retry"),
        }
        let _ = tokio::time::timeout(regrouper.poll, regrouper.wake.notified()).await;
    }
}
