//! Regrouping events that arrived before their source maps. Storing a bundle records a job
//! (project, bundle, release, the window of events to look at); this task runs the jobs in
//! the background, a page of events at a time: each stored event that was not mapped at
//! ingest and maps now gets its mapped frames, and moves to the issue its mapped grouping
//! gives. The store applies each page with the job's cursor in one transaction, so a
//! restart resumes where the last page ended and a page applied twice changes nothing.

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
/// How often pending jobs are looked for without a wake-up (jobs left by a restart, or by
/// another instance sharing the database).
const POLL: Duration = Duration::from_secs(60);

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

    /// Runs every pending job to its end. Blocking. Returns how many events were moved.
    pub fn run_pending(&self) -> lookout_store::Result<u64> {
        let mut moved = 0;
        for job in self.store.pending_regroups()? {
            moved += self.run_job(job)?;
        }
        Ok(moved)
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
                self.store.apply_regroup(
                    job.id,
                    job.after_event,
                    0,
                    &[],
                    true,
                    self.clock.now_ms(),
                )?;
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

/// Runs jobs when woken, and every minute for jobs a restart left.
pub async fn run(regrouper: Arc<Regrouper>) {
    loop {
        let r = regrouper.clone();
        match tokio::task::spawn_blocking(move || r.run_pending()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "regrouping failed; will retry"),
            Err(e) => tracing::warn!(error = %e, "the regroup task failed; will retry"),
        }
        let _ = tokio::time::timeout(POLL, regrouper.wake.notified()).await;
    }
}
