//! Request latency of a project from its latency histograms: percentiles and throughput
//! over a range, overall and per transaction (slowest first).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use lookout_store::{LatencyQuery, LatencyStats, KIND_REQUEST};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::monitors::parse_time;
use super::{blocking, find_project};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::time_fmt::iso;

/// Which requests, over which range.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LatencyParams {
    /// Start: Unix milliseconds or RFC 3339 (default: 24 hours before `to`).
    from: Option<String>,
    /// End: Unix milliseconds or RFC 3339 (default: now).
    to: Option<String>,
    /// Only this transaction (route or page) name.
    transaction: Option<String>,
    /// Only this release.
    release: Option<String>,
    /// Only this environment.
    environment: Option<String>,
    /// At most this many transactions (default 20, at most 500).
    limit: Option<u32>,
}

/// Percentiles and throughput of a group of requests.
#[derive(Serialize, ToSchema)]
pub struct Percentiles {
    /// Transaction name; absent for the whole project.
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction: Option<String>,
    /// Requests in the range.
    count: u64,
    /// Failed requests (error status or a 5xx response).
    errors: u64,
    /// Requests per minute over the range.
    throughput_per_minute: f64,
    /// Median, ms.
    p50_ms: Option<f64>,
    /// 75th percentile, ms.
    p75_ms: Option<f64>,
    /// 95th percentile, ms.
    p95_ms: Option<f64>,
    /// 99th percentile, ms.
    p99_ms: Option<f64>,
    /// Mean, ms.
    mean_ms: Option<f64>,
    /// Slowest, ms.
    max_ms: Option<f64>,
}

impl Percentiles {
    fn of(s: &LatencyStats, transaction: Option<String>, minutes: f64) -> Self {
        let p = s.summary();
        Percentiles {
            transaction,
            count: p.count,
            errors: p.errors,
            throughput_per_minute: p.count as f64 / minutes,
            p50_ms: p.p50_ms,
            p75_ms: p.p75_ms,
            p95_ms: p.p95_ms,
            p99_ms: p.p99_ms,
            mean_ms: p.mean_ms,
            max_ms: p.max_ms,
        }
    }
}

/// A project's request latency.
#[derive(Serialize, ToSchema)]
pub struct Latency {
    /// The project's slug.
    project: String,
    /// RFC 3339.
    from: String,
    /// RFC 3339.
    to: String,
    /// All requests.
    total: Percentiles,
    /// Per transaction, slowest p95 first.
    transactions: Vec<Percentiles>,
}

/// Request latency percentiles (p50/p75/p95/p99) and throughput of a project, overall
/// and per transaction, slowest first; from transactions and v2 segment spans.
#[utoipa::path(get, operation_id = "projects_latency", path = "/api/v1/projects/{project}/latency", tag = "projects",
    params(("project" = String, Path, description = "slug or numeric id"), LatencyParams),
    responses(
        (status = 200, description = "OK", body = Latency),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn latency(
    State(app): State<Arc<AppState>>,
    Path(project): Path<String>,
    query: Result<Query<LatencyParams>, QueryRejection>,
) -> Result<Json<Latency>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let p = find_project(&app, project).await?;
    let now = app.clock.now_ms();
    let to =
        q.to.as_deref()
            .map(|v| parse_time("to", v))
            .transpose()?
            .unwrap_or(now + 1);
    let from = q
        .from
        .as_deref()
        .map(|v| parse_time("from", v))
        .transpose()?
        .unwrap_or(to - 24 * 3_600_000);
    if from >= to {
        return Err(ApiError::bad_request("from must be before to"));
    }
    let limit = match q.limit {
        None => 20,
        Some(n @ 1..=500) => n as usize,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "limit: {n} is out of range; give 1 to 500"
            )))
        }
    };
    let lq = LatencyQuery {
        kind: KIND_REQUEST,
        owner_id: p.id,
        from_ms: from,
        to_ms: to,
        name: q.transaction,
        release: q.release,
        environment: q.environment,
    };
    let by_name = blocking(&app, move |s| s.latency_by_name(&lq)).await?;
    let minutes = ((to - from) as f64 / 60_000.0).max(1.0 / 60.0);
    let mut total = LatencyStats::default();
    for s in &by_name {
        total.hist.merge(&s.hist);
        total.errors += s.errors;
    }
    Ok(Json(Latency {
        project: p.slug,
        from: iso(from),
        to: iso(to),
        total: Percentiles::of(&total, None, minutes),
        transactions: by_name
            .iter()
            .take(limit)
            .map(|s| Percentiles::of(s, Some(s.key.clone()), minutes))
            .collect(),
    }))
}
