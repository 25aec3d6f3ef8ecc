//! Which items of a request are taken: error events only while the project is within its
//! rate limit and monthly quota (refused ones are counted, and the request still keeps
//! its other items), then every item on its own.

use axum::http::StatusCode;
use lookout_sentry::envelope::{Envelope, ItemType};
use lookout_sentry::limits::format_rate_limits;

use super::process::{Ctx, Processed};
use crate::error::ApiError;
use crate::projects::ProjectRuntime;

/// Processes a request's items: an envelope's, or a legacy `/store/` body as one event.
/// Also returns the refusal to answer with when the project's limits held events back.
pub(super) fn process(
    ctx: &Ctx<'_>,
    envelope: Option<&Envelope<'_>>,
    store_body: &[u8],
) -> (Processed, Option<ApiError>) {
    let mut processed = Processed::default();
    let mut limited: Option<ApiError> = None;
    match envelope {
        Some(env) => {
            let events = env.items.iter().filter(|i| i.ty == ItemType::Event).count() as u64;
            let admit_events = events == 0 || {
                match admit(ctx.project, ctx.now_ms, events) {
                    Ok(()) => true,
                    Err((outcome, reason, err)) => {
                        processed.count(ctx, outcome, "error", reason, events);
                        limited = Some(err);
                        false
                    }
                }
            };
            for item in &env.items {
                if item.ty == ItemType::Event && !admit_events {
                    continue;
                }
                processed.add_item(ctx, item);
            }
        }
        None => match admit(ctx.project, ctx.now_ms, 1) {
            Ok(()) => match processed.add_event(ctx, store_body) {
                Ok(()) => processed.kept += 1,
                Err(r) => {
                    processed.count(ctx, "invalid", "error", "store", 1);
                    processed.rejected.push((ItemType::Event, r));
                }
            },
            Err((outcome, reason, err)) => {
                processed.count(ctx, outcome, "error", reason, 1);
                limited = Some(err);
            }
        },
    }
    (processed, limited)
}

/// A refusal: the outcome and reason counted, and the answer.
type Refusal = (&'static str, &'static str, ApiError);

/// Applies the rate limit, then the monthly quota, to `n` error events.
fn admit(project: &ProjectRuntime, now_ms: i64, n: u64) -> Result<(), Refusal> {
    let id = project.project.id;
    if let Err(secs) = project
        .limiter
        .lock()
        .try_acquire(now_ms, n.min(u32::MAX as u64) as u32)
    {
        return Err((
            "rate_limited",
            "project_rate_limit",
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "project {id} is over its rate limit of {} events per minute",
                    project.project.settings.rate_limit_per_minute
                ),
            )
            .retry_after(secs)
            .rate_limits(format_rate_limits(&[(
                secs,
                &["error", "default"],
                "project",
                None,
            )])),
        ));
    }
    if let Err(secs) = project.quota.lock().try_consume(now_ms, n) {
        return Err((
            "quota",
            "usage_exceeded",
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "project {id} has used its monthly quota of {} errors; it resets at the start of next month",
                    project.project.settings.monthly_quota
                ),
            )
            .retry_after(secs)
            .rate_limits(format_rate_limits(&[(
                secs,
                &["error", "default"],
                "project",
                Some("usage_exceeded"),
            )])),
        ));
    }
    Ok(())
}
