//! A cheap loopback HTTP target for the uptime benchmark (`bench/monitors.sh`): every
//! monitor checks its own path, and the benchmark switches paths down and up to measure
//! how fast lookout declares an outage.
//!
//! ```text
//! cargo run --release -p lookout --example http_target -- [PORT]   # 0 or absent: any free port
//! ```
//! - `GET /m/{n}`: 200 `{"status":"ok"}`, or 500 `{"status":"down"}` while `n` is down;
//! - `POST /down/{n}`, `POST /up/{n}`: switch path `n` (204);
//! - `GET /hits/{n}`: the checks seen on a path that was ever switched, as
//!   `[[unix_ms, status], …]` (the last 32), so the benchmark can split detection time
//!   into "waiting for the next check" and "retrying";
//! - `GET /stats`: `{"requests": N}`, requests served on `/m/` since start;
//! - `GET /counts`: `{"n": checks, …}`, requests per path since start (several instances
//!   must check each monitor once per interval between them).
//!
//! Listens on 127.0.0.1 only and prints `listening on 127.0.0.1:PORT` once bound. One
//! thread: it shares the machine with the lookout it is measuring and must steal little.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

/// Hits kept per switched path.
const HITS_KEPT: usize = 32;

/// A path that was switched at least once; paths never switched are up and not tracked.
#[derive(Default)]
struct Switched {
    down: bool,
    hits: VecDeque<(u64, u16)>,
}

#[derive(Default)]
struct Target {
    requests: AtomicU64,
    switched: Mutex<HashMap<u64, Switched>>,
    counts: Mutex<HashMap<u64, u32>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn check(State(t): State<Arc<Target>>, Path(n): Path<u64>) -> impl IntoResponse {
    t.requests.fetch_add(1, Ordering::Relaxed);
    *t.counts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(n)
        .or_default() += 1;
    let down = {
        let mut switched = t.switched.lock().unwrap_or_else(|e| e.into_inner());
        match switched.get_mut(&n) {
            Some(s) => {
                let status = if s.down { 500 } else { 200 };
                if s.hits.len() == HITS_KEPT {
                    s.hits.pop_front();
                }
                s.hits.push_back((now_ms(), status));
                s.down
            }
            None => false,
        }
    };
    let (status, body) = if down {
        (StatusCode::INTERNAL_SERVER_ERROR, r#"{"status":"down"}"#)
    } else {
        (StatusCode::OK, r#"{"status":"ok"}"#)
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body)
}

fn switch(t: &Target, n: u64, down: bool) -> StatusCode {
    t.switched
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(n)
        .or_default()
        .down = down;
    StatusCode::NO_CONTENT
}

async fn down(State(t): State<Arc<Target>>, Path(n): Path<u64>) -> StatusCode {
    switch(&t, n, true)
}

async fn up(State(t): State<Arc<Target>>, Path(n): Path<u64>) -> StatusCode {
    switch(&t, n, false)
}

async fn hits(State(t): State<Arc<Target>>, Path(n): Path<u64>) -> impl IntoResponse {
    let switched = t.switched.lock().unwrap_or_else(|e| e.into_inner());
    let list: Vec<String> = switched
        .get(&n)
        .map(|s| {
            s.hits
                .iter()
                .map(|(ms, st)| format!("[{ms},{st}]"))
                .collect()
        })
        .unwrap_or_default();
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("[{}]", list.join(",")),
    )
}

async fn stats(State(t): State<Arc<Target>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"requests":{}}}"#, t.requests.load(Ordering::Relaxed)),
    )
}

async fn counts(State(t): State<Arc<Target>>) -> impl IntoResponse {
    let counts = t.counts.lock().unwrap_or_else(|e| e.into_inner());
    let list: Vec<String> = counts
        .iter()
        .map(|(n, c)| format!(r#""{n}":{c}"#))
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{{}}}", list.join(",")),
    )
}

fn main() {
    let port: u16 = match std::env::args().nth(1) {
        None => 0,
        Some(p) => p.parse().unwrap_or_else(|_| {
            eprintln!("http_target: `{p}` is not a port\nusage: http_target [PORT]");
            std::process::exit(2);
        }),
    };
    let target = Arc::new(Target::default());
    let app = Router::new()
        .route("/m/{n}", get(check))
        .route("/down/{n}", post(down))
        .route("/up/{n}", post(up))
        .route("/hits/{n}", get(hits))
        .route("/stats", get(stats))
        .route("/counts", get(counts))
        .with_state(target);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| {
                eprintln!("http_target: cannot listen on 127.0.0.1:{port}: {e}");
                std::process::exit(1);
            });
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        println!("listening on {addr}");
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("http_target: {e}");
            std::process::exit(1);
        }
    });
}
