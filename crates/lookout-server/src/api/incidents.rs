//! Incidents (list, one with its timeline and notifications, acknowledge, resolve,
//! notes), rules, channels and silences; and the signed acknowledge page that every
//! notification links to.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use lookout_core::alert::incident::IncidentStatus;
use lookout_core::alert::notify::OutboxStatus;
use lookout_core::alert::silence::SilenceTarget;
use lookout_core::alert::timeline::TimelineKind;
use lookout_store::{
    AlertBatch, IncidentFilter, IncidentRef, IncidentRow, SilenceRow, TimelineEntry,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::blocking;
use crate::alerts::RuleError;
use crate::error::ApiError;
use crate::state::AppState;
use crate::time_fmt::iso;

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not an incident id")))
}

fn incident_json(app: &AppState, r: &IncidentRow) -> Value {
    let mut v = json!({
        "id": r.id,
        "rule": r.rule,
        "subject": {"kind": r.subject_kind, "id": r.subject_id},
        "severity": r.severity,
        "status": r.status,
        "title": r.title,
        "summary": r.summary,
        "count": r.count,
        "opened": iso(r.opened_ms),
        "acknowledged": r.acked_ms.map(iso),
        "acknowledged_by": r.acked_by,
        "resolved": r.resolved_ms.map(iso),
        "resolved_by": r.resolved_by,
        "runbook": r.runbook,
    });
    if let Some(s) = app.alerts.open_state(r.id) {
        v["escalation_step"] = json!(s.step);
        v["notified"] = json!(s.notified);
        v["held"] = json!(s.held(app.clock.now_ms()));
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<u32>,
    before: Option<i64>,
}

pub async fn list(
    State(app): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let statuses = match q.status.as_deref().unwrap_or("all") {
        "all" | "" => vec![],
        "open" => vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged],
        other => vec![other.parse::<IncidentStatus>().map_err(|_| {
            ApiError::bad_request(format!(
                "status `{other}` is unknown: use open, triggered, acknowledged, resolved or all"
            ))
        })?],
    };
    let filter = IncidentFilter {
        statuses,
        subject: None,
        limit: q.limit.unwrap_or(50).clamp(1, 500),
        before_id: q.before,
    };
    let rows = blocking(&app, move |s| s.list_incidents(&filter)).await?;
    Ok(Json(rows.iter().map(|r| incident_json(&app, r)).collect()))
}

pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let (row, timeline, messages) = blocking(&app, move |s| {
        Ok((
            s.get_incident(id)?,
            s.incident_timeline(id)?,
            s.incident_messages(id)?,
        ))
    })
    .await?;
    let row = row.ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    let mut v = incident_json(&app, &row);
    v["timeline"] = timeline
        .iter()
        .map(|t| json!({"at": iso(t.at_ms), "kind": t.kind, "text": t.text, "actor": t.actor}))
        .collect();
    v["notifications"] = messages
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "channel": m.channel,
                "event": m.event,
                "status": m.status,
                "attempts": m.attempts,
                "last_error": m.last_error,
                "queued": iso(m.created_ms),
                "sent": m.sent_ms.map(iso),
                "next_attempt": (m.status == OutboxStatus::Pending).then(|| iso(m.next_attempt_ms)),
            })
        })
        .collect();
    if let Some(rb) = app.alerts.runbook(&row.rule) {
        v["runbook_text"] = json!(rb.text);
    }
    Ok(Json(v))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    by: Option<String>,
    text: Option<String>,
}

pub async fn action(
    State(app): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
    body: Option<Json<ActionBody>>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let by = body
        .by
        .clone()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "api".to_string());
    let a = app.clone();
    let b = by.clone();
    let done = match action.as_str() {
        "ack" | "acknowledge" => {
            tokio::task::spawn_blocking(move || a.alerts.acknowledge(id, &b)).await
        }
        "resolve" => tokio::task::spawn_blocking(move || a.alerts.resolve(id, &b)).await,
        "notes" | "note" => {
            let text = body
                .text
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| ApiError::bad_request("text: write the note"))?;
            let now = app.clock.now_ms();
            tokio::task::spawn_blocking(move || {
                if a.store.get_incident(id)?.is_none() {
                    return Ok(false);
                }
                a.store.apply_alerts(&AlertBatch {
                    timeline: vec![(
                        IncidentRef::Id(id),
                        TimelineEntry {
                            at_ms: now,
                            kind: TimelineKind::Note,
                            text,
                            actor: Some(b),
                        },
                    )],
                    ..AlertBatch::default()
                })?;
                Ok(true)
            })
            .await
        }
        other => {
            return Err(ApiError::not_found(format!(
                "no action `{other}`: use ack, resolve or notes"
            )))
        }
    };
    let done = done
        .map_err(|e| ApiError::internal("an alert task failed", e))?
        .map_err(|e| ApiError::internal("cannot update the incident", e))?;
    if !done {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("incident {id} is not open (or does not exist)"),
        ));
    }
    let row = blocking(&app, move |s| s.get_incident(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    Ok(Json(incident_json(&app, &row)))
}

fn rule_json(app: &AppState, r: &lookout_core::alert::rule::Rule) -> Value {
    json!({
        "name": r.name,
        "when": r.condition.to_string(),
        "severity": r.severity,
        "notify": r.notify,
        "runbook": r.runbook,
        "projects": r.projects,
        "monitors": r.monitors,
        "source": if app.alerts.is_config_rule(&r.name) { "config" } else { "api" },
    })
}

pub async fn rules(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(
        app.alerts
            .rules()
            .iter()
            .map(|r| rule_json(&app, r))
            .collect(),
    )
}

/// `POST /api/v1/rules`: the keys of `[[rules]]`.
pub async fn create_rule(
    State(app): State<Arc<AppState>>,
    body: Result<Json<crate::alerts::config::RuleConfig>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(rc) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let a = app.clone();
    let made = tokio::task::spawn_blocking(move || a.alerts.create_rule(&rc))
        .await
        .map_err(|e| ApiError::internal("an alert task failed", e))?;
    match made {
        Ok(rule) => Ok((StatusCode::CREATED, Json(rule_json(&app, &rule))).into_response()),
        Err(e @ RuleError::Invalid { .. }) => Err(ApiError::bad_request(e.to_string())),
        Err(e @ RuleError::Exists(_)) => Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
        Err(e) => Err(ApiError::internal("cannot create the rule", e)),
    }
}

/// `DELETE /api/v1/rules/{name}`: rules created through the API only.
pub async fn delete_rule(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if app.alerts.is_config_rule(&name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("rule \"{name}\" is declared in the config file; delete it there"),
        ));
    }
    let a = app.clone();
    let n = name.clone();
    let found = tokio::task::spawn_blocking(move || a.alerts.delete_rule(&n))
        .await
        .map_err(|e| ApiError::internal("an alert task failed", e))?
        .map_err(|e| ApiError::internal("cannot delete the rule", e))?;
    if !found {
        return Err(ApiError::not_found(format!("no rule \"{name}\"")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn channels(State(app): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let broken = blocking(&app, |s| s.broken_channels()).await?;
    Ok(Json(
        app.channels
            .sorted()
            .into_iter()
            .map(|(n, channel)| {
                let b = broken.iter().find(|b| b.channel == n);
                json!({
                    "name": n,
                    "kind": channel.kind(),
                    "broken": b.map(|b| json!({"reason": b.reason, "since": iso(b.since_ms)})),
                })
            })
            .collect(),
    ))
}

/// Clears a channel's broken mark once its config is fixed.
pub async fn repair_channel(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    if !app.channels.contains(&name) {
        return Err(ApiError::not_found(format!("no channel `{name}`")));
    }
    let now = app.clock.now_ms();
    blocking(&app, move |s| s.set_channel_broken(&name, None, now)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    rule: Option<String>,
    monitor_id: Option<i64>,
    project_id: Option<i64>,
    until: Option<String>,
    #[serde(default, with = "humantime_serde")]
    duration: Option<std::time::Duration>,
    reason: String,
    by: Option<String>,
}

fn silence_json(s: &SilenceRow) -> Value {
    json!({
        "id": s.id,
        "target": {"kind": s.target_kind, "value": s.target},
        "until": iso(s.until_ms),
        "reason": s.reason,
        "created_by": s.created_by,
        "created": iso(s.created_ms),
    })
}

pub async fn list_silences(State(app): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let now = app.clock.now_ms();
    let rows = blocking(&app, move |s| s.active_silences(now)).await?;
    Ok(Json(rows.iter().map(silence_json).collect()))
}

pub async fn create_silence(
    State(app): State<Arc<AppState>>,
    body: Result<Json<NewSilence>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let now = app.clock.now_ms();
    let target = match (&req.rule, req.monitor_id, req.project_id) {
        (Some(r), None, None) => {
            if !app.alerts.rules().iter().any(|x| &x.name == r) {
                return Err(ApiError::bad_request(format!(
                    "rule: no rule named \"{r}\""
                )));
            }
            SilenceTarget::Rule(r.clone())
        }
        (None, Some(m), None) => SilenceTarget::Monitor(m),
        (None, None, Some(p)) => SilenceTarget::Project(p),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of rule, monitor_id or project_id",
            ))
        }
    };
    let until = match (&req.until, req.duration) {
        (Some(u), None) => crate::time_fmt::parse(u)
            .map_err(|_| ApiError::bad_request(format!("until: `{u}` is not an RFC 3339 time")))?,
        (None, Some(d)) => now + d.as_millis() as i64,
        _ => {
            return Err(ApiError::bad_request(
                "give until (RFC 3339) or duration (e.g. \"2h\"), not both",
            ))
        }
    };
    if until <= now {
        return Err(ApiError::bad_request("until must be in the future"));
    }
    if req.reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "reason: say why notifications are muted",
        ));
    }
    let row = SilenceRow {
        id: 0,
        target_kind: target.kind(),
        target: target.value(),
        until_ms: until,
        reason: req.reason,
        created_by: req.by,
        created_ms: now,
    };
    let created = blocking(&app, move |s| s.create_silence(&row)).await?;
    let a = app.clone();
    let _ = tokio::task::spawn_blocking(move || a.alerts.load_silences(now)).await;
    Ok((StatusCode::CREATED, Json(silence_json(&created))).into_response())
}

pub async fn delete_silence(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not a silence id")))?;
    let found = blocking(&app, move |s| s.delete_silence(id)).await?;
    if !found {
        return Err(ApiError::not_found(format!("no silence {id}")));
    }
    let now = app.clock.now_ms();
    let a = app.clone();
    let _ = tokio::task::spawn_blocking(move || a.alerts.load_silences(now)).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// --- the signed acknowledge page ---

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn signed_incident(
    app: &Arc<AppState>,
    id: &str,
    sig: &str,
) -> Result<IncidentRow, Response> {
    let refuse = || {
        (
            StatusCode::NOT_FOUND,
            Html("<p>This link is not valid.</p>".to_string()),
        )
            .into_response()
    };
    let Ok(id) = id.parse::<i64>() else {
        return Err(refuse());
    };
    if !app.links.verify(id, sig) {
        return Err(refuse());
    }
    match blocking(app, move |s| s.get_incident(id)).await {
        Ok(Some(row)) => Ok(row),
        _ => Err(refuse()),
    }
}

fn page(app: &AppState, row: &IncidentRow, message: Option<&str>) -> Html<String> {
    let runbook = app
        .alerts
        .runbook(&row.rule)
        .map(|r| {
            format!(
                "<h2 id=\"runbook\">Runbook: {}</h2><pre>{}</pre>",
                escape(&r.title),
                escape(&r.text)
            )
        })
        .unwrap_or_default();
    let form = if row.status == IncidentStatus::Triggered {
        "<form method=\"post\"><label>Your name <input name=\"by\" required></label> <button type=\"submit\">Acknowledge</button></form>".to_string()
    } else {
        String::new()
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\
         <h1>{title}</h1><p><strong>{sev}</strong> · {status}{acked} · opened {opened} · count {count}</p>\
         {msg}<pre>{summary}</pre>{form}{runbook}</body></html>",
        title = escape(&row.title),
        sev = row.severity.as_str(),
        status = row.status,
        acked = row
            .acked_by
            .as_ref()
            .map(|b| format!(" by {}", escape(b)))
            .unwrap_or_default(),
        opened = iso(row.opened_ms),
        count = row.count,
        msg = message.map(|m| format!("<p><strong>{}</strong></p>", escape(m))).unwrap_or_default(),
        summary = escape(&row.summary),
    ))
}

/// `GET /ack/{id}/{sig}`: the incident, its runbook and an Acknowledge button. Viewing
/// acknowledges nothing: link previews must not.
pub async fn ack_page(
    State(app): State<Arc<AppState>>,
    Path((id, sig)): Path<(String, String)>,
) -> Response {
    match signed_incident(&app, &id, &sig).await {
        Ok(row) => page(&app, &row, None).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct AckForm {
    by: Option<String>,
}

/// `POST /ack/{id}/{sig}`: acknowledges.
pub async fn ack_submit(
    State(app): State<Arc<AppState>>,
    Path((id, sig)): Path<(String, String)>,
    form: Result<Form<AckForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let row = match signed_incident(&app, &id, &sig).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let by = form
        .ok()
        .and_then(|Form(f)| f.by)
        .map(|b| b.trim().chars().take(100).collect::<String>())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "acknowledge link".to_string());
    let (a, b, iid) = (app.clone(), by.clone(), row.id);
    let done = tokio::task::spawn_blocking(move || a.alerts.acknowledge(iid, &b)).await;
    let msg = match done {
        Ok(Ok(true)) => format!("Acknowledged by {by}. Escalation stopped."),
        Ok(Ok(false)) => "This incident is no longer open.".to_string(),
        _ => "Could not acknowledge; try again.".to_string(),
    };
    let row = blocking(&app, move |s| s.get_incident(iid))
        .await
        .ok()
        .flatten()
        .unwrap_or(row);
    page(&app, &row, Some(&msg)).into_response()
}
