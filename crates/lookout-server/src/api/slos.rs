//! Service level objectives: each one's value, budget, burn rates and daily history;
//! objectives created and deleted through the API (those of the config file are
//! read-only here).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lookout_store::StoreError;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::blocking;
use crate::error::{ApiError, ErrorBody};
use crate::slo::{self, Slo, SloConfig};
use crate::state::AppState;
use crate::time_fmt::iso;

/// One objective and where it stands.
#[derive(Serialize, ToSchema)]
pub struct SloView {
    /// The definition.
    definition: SloConfig,
    /// "config" (read-only here) or "api".
    source: &'static str,
    /// RFC 3339: where the window starts.
    window_start: Option<String>,
    /// Share of good events over the window, percent.
    value: Option<f64>,
    /// The target, percent.
    target: f64,
    /// Whether the value meets the target.
    met: Option<bool>,
    /// Bad events the window allows.
    budget_total: Option<f64>,
    /// Bad events so far.
    budget_spent: Option<f64>,
    /// Bad events still allowed.
    budget_left: Option<f64>,
    /// Share of the budget left, percent.
    budget_left_percent: Option<f64>,
    /// Seconds until the budget is gone at the last hour's burn rate; null when nothing
    /// burns.
    exhausted_in_seconds: Option<i64>,
    /// page, ticket, or null.
    alert: Option<&'static str>,
    /// The four multiwindow burn rates (page 14.4× 1h/5m and 6× 6h/30m; ticket 3× 1d/2h
    /// and 1× 3d/6h).
    #[schema(value_type = Vec<Object>)]
    burn_rates: Value,
    /// Per day, oldest first (in the answer of one objective only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    history: Option<Value>,
    /// Why it could not be evaluated (a monitor or project it names is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn view(s: &Slo, eval: Result<slo::Evaluation, String>, history: bool) -> SloView {
    let mut v = SloView {
        definition: s.config.clone(),
        source: if s.from_config { "config" } else { "api" },
        window_start: None,
        value: None,
        target: s.config.target,
        met: None,
        budget_total: None,
        budget_spent: None,
        budget_left: None,
        budget_left_percent: None,
        exhausted_in_seconds: None,
        alert: None,
        burn_rates: Value::Array(Vec::new()),
        history: None,
        error: None,
    };
    match eval {
        Err(e) => v.error = Some(e),
        Ok(e) => {
            let st = &e.status;
            v.window_start = Some(iso(e.window_start_ms));
            v.value = st.value;
            v.met = Some(st.met);
            v.budget_total = Some(st.budget_total);
            v.budget_spent = Some(st.budget_spent);
            v.budget_left = Some(st.budget_left);
            v.budget_left_percent = Some(st.budget_left_percent);
            v.exhausted_in_seconds = st.exhausted_in_ms.map(|ms| ms / 1000);
            v.alert = e.alert.map(|a| match a {
                lookout_core::slo::BurnAlert::Page => "page",
                lookout_core::slo::BurnAlert::Ticket => "ticket",
            });
            v.burn_rates = serde_json::to_value(&e.burn_rates).unwrap_or_default();
            if history {
                v.history = Some(Value::Array(
                    st.history
                        .iter()
                        .map(|d| {
                            serde_json::json!({
                                "day": iso(d.start_ms),
                                "good": d.counts.good,
                                "total": d.counts.total,
                                "value": d.value,
                                "budget": d.budget,
                                "spent": d.spent,
                                "budget_left_percent": d.budget_left_percent,
                            })
                        })
                        .collect(),
                ));
            }
        }
    }
    v
}

fn evaluate(
    store: &dyn lookout_store::Store,
    s: &Slo,
    now: i64,
) -> lookout_store::Result<Result<slo::Evaluation, String>> {
    match slo::evaluate(store, s, now) {
        Ok(e) => Ok(Ok(e)),
        Err(slo::EvalError::Unknown(why)) => Ok(Err(why)),
        Err(slo::EvalError::Store(e)) => Err(e),
    }
}

/// Every objective with its value, budget and burn rates.
#[utoipa::path(get, operation_id = "slos_list", path = "/api/v1/slos", tag = "slos",
    responses(
        (status = 200, description = "OK", body = Vec<SloView>),
    ))]
pub async fn list(State(app): State<Arc<AppState>>) -> Result<Json<Vec<SloView>>, ApiError> {
    let now = app.clock.now_ms();
    let slos = app.slos.clone();
    let out = blocking(&app, move |store| {
        let mut out = Vec::new();
        for s in slos.all(store)? {
            let e = evaluate(store, &s, now)?;
            out.push(view(&s, e, false));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(out))
}

/// One objective, with its daily history over the window.
#[utoipa::path(get, operation_id = "slos_get", path = "/api/v1/slos/{name}", tag = "slos",
    params(("name" = String, Path, description = "the objective's name")),
    responses(
        (status = 200, description = "OK", body = SloView),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<SloView>, ApiError> {
    let now = app.clock.now_ms();
    let slos = app.slos.clone();
    let n = name.clone();
    let found = blocking(&app, move |store| {
        let Some(s) = slos.all(store)?.into_iter().find(|s| s.config.name == n) else {
            return Ok(None);
        };
        let e = evaluate(store, &s, now)?;
        Ok(Some(view(&s, e, true)))
    })
    .await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no SLO named \"{name}\"")))
}

/// Creates an objective (the body is a `[[slos]]` entry as JSON).
#[utoipa::path(post, operation_id = "slos_create", path = "/api/v1/slos", tag = "slos", request_body = SloConfig,
    responses(
        (status = 201, description = "Created", body = SloView),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<Arc<AppState>>,
    body: Result<Json<SloConfig>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(c) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let s = c
        .validate(false)
        .map_err(|(key, m)| ApiError::bad_request(format!("{key}: {m}")))?;
    if app.slos.in_config(&c.name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("an SLO named \"{}\" is declared in the config file", c.name),
        ));
    }
    let now = app.clock.now_ms();
    let spec =
        serde_json::to_value(&c).map_err(|e| ApiError::internal("cannot encode the SLO", e))?;
    let store = app.store.clone();
    let s2 = s.clone();
    let made = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
        // The names it uses must exist now; a monitor deleted later shows as an error.
        if let Err(slo::EvalError::Unknown(why)) = slo::source(store.as_ref(), &s2) {
            return Ok(Err(why));
        }
        store.create_slo(&s2.config.name, &spec, now)?;
        Ok(Ok(evaluate(store.as_ref(), &s2, now)?))
    })
    .await
    .map_err(|e| ApiError::internal("a database task failed", e))?;
    match made {
        Ok(Err(why)) => Err(ApiError::bad_request(why)),
        Ok(Ok(e)) => Ok((StatusCode::CREATED, Json(view(&s, e, false))).into_response()),
        Err(StoreError::Conflict(m)) => Err(ApiError::new(StatusCode::CONFLICT, m)),
        Err(e) => Err(ApiError::internal("cannot create the SLO", e)),
    }
}

/// Deletes an objective created through the API.
#[utoipa::path(delete, operation_id = "slos_delete", path = "/api/v1/slos/{name}", tag = "slos",
    params(("name" = String, Path, description = "the objective's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
pub async fn delete(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if app.slos.in_config(&name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("SLO \"{name}\" is declared in the config file; delete it there"),
        ));
    }
    let n = name.clone();
    let found = blocking(&app, move |s| s.delete_slo(&n)).await?;
    if !found {
        return Err(ApiError::not_found(format!("no SLO named \"{name}\"")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
