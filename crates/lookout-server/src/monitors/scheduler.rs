//! The scheduler loop: wakes when the earliest check is due (or when monitors change),
//! starts every due check on its own task so a slow target never delays the others, and
//! bounds how many run at once.

use std::sync::Arc;
use std::time::Duration;

use super::Monitors;

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
