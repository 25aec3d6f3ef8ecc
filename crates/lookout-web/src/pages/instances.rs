//! The lookout instances sharing this database: which is alive, which duties each holds,
//! and whether their configs agree.

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{blocking, render, Chrome};
use crate::auth::SignedIn;
use crate::view;
use crate::Web;

pub(crate) struct Line {
    pub name: String,
    pub id: String,
    pub this: bool,
    pub host: String,
    pub version: String,
    pub addr: String,
    pub config: String,
    pub started: String,
    pub heartbeat: String,
    pub duties: String,
}

#[derive(Template)]
#[template(path = "instances.html")]
struct Page {
    chrome: Chrome,
    instances: Vec<Line>,
    mismatch: bool,
    ttl: String,
}

/// The instances page.
pub async fn page(State(web): State<Arc<Web>>, who: SignedIn) -> Response {
    let (me, ttl_ms) = web.backend.this_instance();
    let now = web.clock.now_ms();
    let loaded = blocking(&web, move |s| {
        Ok((s.live_instances(now - ttl_ms)?, s.list_duties()?))
    })
    .await;
    let (live, duties) = match loaded {
        Ok(v) => v,
        Err(r) => return r,
    };
    let hashes: BTreeSet<&str> = live.iter().map(|i| i.config_hash.as_str()).collect();
    let instances = live
        .iter()
        .map(|i| Line {
            name: i.name.clone(),
            id: i.id.clone(),
            this: i.id == me,
            host: i.host.clone(),
            version: i.version.clone(),
            addr: i.addr.clone(),
            config: format!("{} ({})", i.config_hash, i.config_summary),
            started: view::time(i.started_ms),
            heartbeat: view::ago(i.heartbeat_ms, now),
            duties: duties
                .iter()
                .filter(|d| d.holder == i.id && d.expires_ms > now)
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    render(&Page {
        chrome: Chrome::new(&who, "/instances", "Instances"),
        instances,
        mismatch: hashes.len() > 1,
        ttl: format!("{} s", ttl_ms as f64 / 1000.0),
    })
}
