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
    let fleet = app.cluster.fleet();
    // Instances that disagree on rules or monitors page differently for the same
    // outage: lookout still works, but someone must look.
    let fleet_status = match fleet.mismatch {
        Some(_) => health::HealthStatus::Degraded,
        None => health::HealthStatus::Ok,
    };
    let instances: Vec<serde_json::Value> = fleet
        .instances
        .iter()
        .map(|(i, duties)| {
            serde_json::json!({
                "id": i.id,
                "name": i.name,
                "host": i.host,
                "version": i.version,
                "addr": i.addr,
                "config_hash": i.config_hash,
                "config_summary": i.config_summary,
                "started": crate::time_fmt::iso(i.started_ms),
                "heartbeat": crate::time_fmt::iso(i.heartbeat_ms),
                "duties": duties,
            })
        })
        .collect();
    let cluster = serde_json::json!({
        "status": fleet_status,
        "instance": {
            "id": fleet.instance.id,
            "name": fleet.instance.name,
            "host": fleet.instance.host,
            "config_hash": fleet.instance.config_hash,
        },
        "duties": fleet.duties,
        "monitors_owned": sched.owned,
        "instances": instances,
        "message": fleet.mismatch,
    });
    let status = health::overall([database.status, memory.status, sched_status, fleet_status]);
    let body = serde_json::json!({
        "status": status,
        "timestamp": crate::time_fmt::iso(app.clock.now_ms()),
        "uptime": (app.started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        "checks": {
            "database": database,
            "memory": memory,
            "scheduler": scheduler,
            "cluster": cluster,
        }
    });
    let code = StatusCode::from_u16(status.http_code()).unwrap_or(StatusCode::OK);
    (code, Json(body)).into_response()
}
