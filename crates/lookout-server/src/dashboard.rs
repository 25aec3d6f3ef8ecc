//! What the dashboard (`lookout-web`) gets from the server: payload decompression, the
//! live monitor registry, the alert engine, and ingest for the test error.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lookout_core::clock::Clock;
use lookout_store::{Project, Store};
use tower::ServiceExt;

use crate::alerts::Alerts;
use crate::ingest::{self, Ingest};
use crate::monitors::Monitors;
use crate::payload::Payloads;

/// The server's side of [`lookout_web::Backend`].
pub struct ServerBackend {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Live monitors.
    pub monitors: Arc<Monitors>,
    /// Incidents.
    pub alerts: Arc<Alerts>,
    /// Event payload compression.
    pub payloads: Arc<Payloads>,
    /// Ingest, which the test error goes through like any SDK's event.
    pub ingest: Arc<Ingest>,
    /// Service level objectives, for the SLO page.
    pub slos: Arc<crate::slo::Slos>,
    /// The last evaluation of every objective and when it was made: evaluating reads a
    /// window of history (30 days of a project's errors per hour: a second on a store of a
    /// million events), so the page shows one at most [`SLO_PAGE_AGE_MS`] old.
    pub slo_cache: parking_lot::Mutex<Option<(i64, Vec<lookout_web::SloReport>)>>,
    /// The URL this server is reached at, for DSNs.
    pub public_url: String,
    /// The fleet, for the instances page.
    pub cluster: Arc<crate::cluster::Cluster>,
    /// The runtime the test error's request runs on (backend calls come from blocking
    /// threads).
    pub runtime: tokio::runtime::Handle,
}

/// How old the SLO page's figures may be: budgets move over hours and days, and the alert
/// loop, not this page, is what acts on a burn.
pub const SLO_PAGE_AGE_MS: i64 = 60_000;

/// A project's DSN under `public_url`.
pub fn dsn(public_url: &str, public_key: &str, project_id: i64) -> String {
    let base = public_url.trim_end_matches('/');
    match base.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{public_key}@{rest}/{project_id}"),
        None => format!("http://{public_key}@{base}/{project_id}"),
    }
}

impl ServerBackend {
    /// Every objective evaluated at `now`, as the SLO page shows it.
    fn evaluate_slos(&self, now: i64) -> Result<Vec<lookout_web::SloReport>, String> {
        use crate::slo::{self, EvalError};
        use lookout_core::slo::BurnAlert;
        let alert = |a: BurnAlert| match a {
            BurnAlert::Page => "page".to_string(),
            BurnAlert::Ticket => "ticket".to_string(),
        };
        let store = self.store.as_ref();
        let all = self.slos.all(store).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(all.len());
        for s in all {
            let c = &s.config;
            let subject = [
                c.monitor.clone(),
                c.group.as_ref().map(|g| g.join(", ")),
                c.project.clone(),
                c.transaction.clone(),
                c.check.clone(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
            let mut report = lookout_web::SloReport {
                name: c.name.clone(),
                kind: c.kind.as_str().to_string(),
                subject,
                window: c.window.clone().unwrap_or_else(|| "30d".into()),
                state: Err(String::new()),
                burn_rates: Vec::new(),
                alert: None,
            };
            match slo::evaluate(store, &s, now) {
                Ok(e) => {
                    report.burn_rates = e
                        .burn_rates
                        .iter()
                        .map(|b| lookout_web::BurnRateReport {
                            alert: alert(b.alert),
                            factor: b.factor,
                            long_ms: b.long_ms,
                            long: b.long,
                            short: b.short,
                            firing: b.firing,
                        })
                        .collect();
                    report.alert = e.alert.map(alert);
                    report.state = Ok((e.window_start_ms, e.status));
                }
                Err(EvalError::Unknown(why)) => report.state = Err(why),
                Err(EvalError::Store(e)) => return Err(e.to_string()),
            }
            out.push(report);
        }
        Ok(out)
    }
}

impl lookout_web::Backend for ServerBackend {
    fn this_instance(&self) -> (String, i64) {
        (self.cluster.id(), self.cluster.ttl_ms())
    }

    fn event_json(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        self.payloads
            .decompress(payload)
            .map_err(|e| format!("stored payload is unreadable: {e}"))
    }

    fn dsn(&self, p: &Project) -> String {
        dsn(&self.public_url, &p.public_key, p.id)
    }

    fn monitor_status(&self, id: i64) -> Option<lookout_store::MonitorStatus> {
        self.monitors.status(id)
    }

    fn last_phases(&self, id: i64) -> Option<[Option<f64>; 5]> {
        self.monitors.last_timings(id).map(|(t, _)| {
            [
                t.dns_ms,
                t.connect_ms,
                t.tls_ms,
                t.first_byte_ms,
                t.total_ms,
            ]
        })
    }

    fn set_monitor_paused(&self, id: i64, paused: bool) -> Result<bool, String> {
        let now = self.clock.now_ms();
        let found = self
            .store
            .set_monitor_paused(id, paused, now)
            .map_err(|e| e.to_string())?;
        if found {
            self.monitors.set_paused(id, paused);
        }
        Ok(found)
    }

    fn check_now(&self, id: i64) -> Result<bool, String> {
        if self.monitors.check_now(id) {
            return Ok(true);
        }
        if !self.monitors.checked_elsewhere(id) {
            return Ok(false);
        }
        self.store
            .request_check(id, self.clock.now_ms())
            .map_err(|e| e.to_string())?;
        Ok(true)
    }

    fn acknowledge(&self, id: i64, by: &str) -> Result<bool, String> {
        self.alerts.acknowledge(id, by).map_err(|e| e.to_string())
    }

    fn resolve(&self, id: i64, by: &str) -> Result<bool, String> {
        self.alerts.resolve(id, by).map_err(|e| e.to_string())
    }

    fn runbook(&self, rule: &str) -> Option<String> {
        self.alerts.runbook(rule).map(|rb| rb.text.clone())
    }

    fn slos(&self) -> Result<Vec<lookout_web::SloReport>, String> {
        let now = self.clock.now_ms();
        if let Some((at, reports)) = self.slo_cache.lock().as_ref() {
            if (0..SLO_PAGE_AGE_MS).contains(&(now - at)) {
                return Ok(reports.clone());
            }
        }
        let reports = self.evaluate_slos(now)?;
        *self.slo_cache.lock() = Some((now, reports.clone()));
        Ok(reports)
    }

    fn send_test_error(&self, p: &Project) -> Result<String, String> {
        let event_id = uuid::Uuid::new_v4().simple().to_string();
        let message = "This is a test error sent from the lookout dashboard";
        let body = serde_json::json!({
            "event_id": event_id,
            "level": "error",
            "platform": "other",
            "logger": "lookout.dashboard",
            "message": message,
            "exception": {"values": [{"type": "LookoutTestError", "value": message}]},
            "tags": {"source": "dashboard"},
        });
        let req = Request::post(format!("/api/{}/store/", p.id))
            .header("content-type", "application/json")
            .header(
                "x-sentry-auth",
                format!(
                    "Sentry sentry_version=7, sentry_key={}, sentry_client=lookout-dashboard/1",
                    p.public_key
                ),
            )
            .body(Body::from(body.to_string()))
            .map_err(|e| e.to_string())?;
        let router: axum::Router = ingest::routes(self.ingest.clone());
        let resp = self
            .runtime
            .block_on(router.oneshot(req))
            .map_err(|e| format!("ingest failed: {e}"))?;
        if resp.status() != StatusCode::OK {
            return Err(format!(
                "ingest refused the test error with {}",
                resp.status()
            ));
        }
        Ok(event_id)
    }
}
