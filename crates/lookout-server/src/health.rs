//! lookout's own `GET /api/health`, in the reference format the team's apps use.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lookout_core::health::{self, HealthThresholds};

use crate::state::AppState;
use crate::sysinfo;

/// `GET /api/health`.
pub async fn handler(State(app): State<Arc<AppState>>) -> Response {
    let t = HealthThresholds::default();
    let store = app.store.clone();
    let db = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            store
                .ping()
                .map(|()| start.elapsed().as_secs_f64() * 1000.0)
                .map_err(|e| e.to_string())
        }),
    )
    .await;
    let db = match db {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(format!("health task failed: {e}")),
        Err(_) => Err("no answer within 5 s".to_string()),
    };
    let database = health::database_check(db, &t);
    let (used, total) = sysinfo::memory();
    let memory = health::memory_check(used, total, &t);
    let sched = app.monitors.stats();
    let max_late = app.max_lateness.as_millis() as i64;
    // Late checks mean outages are noticed late: worth a warning, not an outage of lookout.
    let sched_status = if sched.late_p99_ms > max_late {
        health::HealthStatus::Degraded
    } else {
        health::HealthStatus::Ok
    };
    let scheduler = serde_json::json!({
        "status": sched_status,
        "monitors": sched.monitors,
        "running": sched.running,
        "late_p50_ms": sched.late_p50_ms,
        "late_p99_ms": sched.late_p99_ms,
        "max_lateness_ms": max_late,
    });
    let status = health::overall([database.status, memory.status, sched_status]);
    let body = serde_json::json!({
        "status": status,
        "timestamp": crate::time_fmt::iso(app.clock.now_ms()),
        "uptime": (app.started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        "checks": {
            "database": database,
            "memory": memory,
            "scheduler": scheduler,
        }
    });
    let code = StatusCode::from_u16(status.http_code()).unwrap_or(StatusCode::OK);
    (code, Json(body)).into_response()
}
