//! Heartbeat pings in the healthchecks.io style: `/ping/{token}` (success),
//! `/ping/{token}/start`, `/ping/{token}/fail` and `/ping/{token}/{exit_code}` (0 is
//! success). GET, HEAD and POST all work, so `curl -fsS -m 10 --retry 5 URL` after a cron
//! job is enough. The answer comes once the ping is durable.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lookout_core::heartbeat::Ping;

use crate::monitors::Monitors;

/// The ping routes.
pub fn routes<S>(monitors: Arc<Monitors>) -> Router<S> {
    Router::new()
        .route("/ping/{token}", get(success).post(success))
        .route("/ping/{token}/{what}", get(other).post(other))
        .with_state(monitors)
}

async fn success(State(monitors): State<Arc<Monitors>>, Path(token): Path<String>) -> Response {
    apply(&monitors, &token, Ping::Success { duration_ms: None }).await
}

async fn other(
    State(monitors): State<Arc<Monitors>>,
    Path((token, what)): Path<(String, String)>,
) -> Response {
    let ping = match what.as_str() {
        "start" => Ping::Start,
        "fail" => Ping::Fail {
            exit_code: None,
            duration_ms: None,
        },
        code => match code.parse::<i32>() {
            Ok(c) if (0..=255).contains(&c) => Ping::from_exit_code(c),
            _ => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!(
                        "`{what}` is not a ping: use /ping/TOKEN, /ping/TOKEN/start, /ping/TOKEN/fail or /ping/TOKEN/EXIT_CODE (0-255)\n"
                    ),
                )
                    .into_response()
            }
        },
    };
    apply(&monitors, &token, ping).await
}

async fn apply(monitors: &Monitors, token: &str, ping: Ping) -> Response {
    let Some((_, durable)) = monitors.ping(token, ping) else {
        let msg = if monitors.has_token(token) {
            "this heartbeat monitor is paused; resume it to record pings\n"
        } else {
            "no heartbeat monitor has this token\n"
        };
        return (StatusCode::NOT_FOUND, msg).into_response();
    };
    match tokio::time::timeout(Duration::from_secs(10), durable).await {
        Ok(Ok(())) => (StatusCode::OK, "OK\n").into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "5")],
            "the ping could not be stored yet; retry\n",
        )
            .into_response(),
    }
}
