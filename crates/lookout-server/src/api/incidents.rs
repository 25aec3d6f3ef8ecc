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
use lookout_core::alert::Severity;
use lookout_notify::Delivery;
use lookout_store::{
    AlertBatch, IncidentFilter, IncidentRef, IncidentRow, SilenceRow, TimelineEntry,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::blocking;
use crate::alerts::RuleError;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::time_fmt::iso;

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("`{id}` is not an incident id")))
}

/// What an incident is about.
#[derive(Serialize, ToSchema)]
pub struct Subject {
    /// project, issue or monitor.
    #[schema(value_type = String)]
    kind: Value,
    /// Its id.
    id: i64,
}

/// An incident: a rule that fired for a subject.
#[derive(Serialize, ToSchema)]
pub struct Incident {
    /// Id.
    id: i64,
    /// The rule's name.
    rule: String,
    /// What it is about.
    subject: Subject,
    /// critical, high, medium or low.
    #[schema(value_type = String)]
    severity: Value,
    /// triggered, acknowledged or resolved.
    #[schema(value_type = String)]
    status: Value,
    /// One line.
    title: String,
    /// What happened.
    summary: String,
    /// Occurrences while open.
    count: i64,
    /// RFC 3339.
    opened: String,
    /// RFC 3339.
    acknowledged: Option<String>,
    /// Who acknowledged.
    acknowledged_by: Option<String>,
    /// RFC 3339.
    resolved: Option<String>,
    /// Who resolved (or `auto`).
    resolved_by: Option<String>,
    /// The rule's runbook file.
    runbook: Option<String>,
    /// While open: the step of the severity's route reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    escalation_step: Option<u32>,
    /// While open: the channels notified so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    notified: Option<Vec<String>>,
    /// While open: notifications held because the rule is flapping.
    #[serde(skip_serializing_if = "Option::is_none")]
    held: Option<bool>,
}

impl Incident {
    fn of(app: &AppState, r: &IncidentRow) -> Self {
        let open = app.alerts.open_state(r.id);
        Incident {
            id: r.id,
            rule: r.rule.clone(),
            subject: Subject {
                kind: json!(r.subject_kind),
                id: r.subject_id,
            },
            severity: json!(r.severity),
            status: json!(r.status),
            title: r.title.clone(),
            summary: r.summary.clone(),
            count: r.count,
            opened: iso(r.opened_ms),
            acknowledged: r.acked_ms.map(iso),
            acknowledged_by: r.acked_by.clone(),
            resolved: r.resolved_ms.map(iso),
            resolved_by: r.resolved_by.clone(),
            runbook: r.runbook.clone(),
            escalation_step: open.as_ref().map(|s| s.step),
            notified: open.as_ref().map(|s| s.notified.clone()),
            held: open.as_ref().map(|s| s.held(app.clock.now_ms())),
        }
    }
}

/// Which incidents to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// open, triggered, acknowledged, resolved or all (default).
    status: Option<String>,
    /// At most this many (default 50, at most 500).
    limit: Option<u32>,
    /// Only incidents with an id below this one (the next page).
    before: Option<i64>,
}

/// Incidents, newest first.
#[utoipa::path(get, operation_id = "incidents_list", path = "/api/v1/incidents", tag = "incidents", params(ListQuery),
    responses(
        (status = 200, description = "OK", body = Vec<Incident>),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Incident>>, ApiError> {
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
    Ok(Json(rows.iter().map(|r| Incident::of(&app, r)).collect()))
}

/// One entry of an incident's timeline.
#[derive(Serialize, ToSchema)]
pub struct TimelineItem {
    /// RFC 3339.
    at: String,
    /// triggered, notified, notify_failed, acknowledged, escalated, note, resolved…
    #[schema(value_type = String)]
    kind: Value,
    /// What happened.
    text: String,
    /// Who did it.
    actor: Option<String>,
}

/// A notification of an incident, sent or waiting in the outbox.
#[derive(Serialize, ToSchema)]
pub struct NotificationItem {
    /// Id.
    id: i64,
    /// The channel's name.
    channel: String,
    /// trigger, escalate, renotify, acknowledge or resolve.
    #[schema(value_type = String)]
    event: Value,
    /// pending, sent or failed.
    #[schema(value_type = String)]
    status: Value,
    /// Delivery attempts so far.
    attempts: u32,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// RFC 3339.
    queued: String,
    /// RFC 3339.
    sent: Option<String>,
    /// RFC 3339, while pending.
    next_attempt: Option<String>,
}

/// An incident with its timeline, notifications and runbook.
#[derive(Serialize, ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    incident: Incident,
    /// Oldest first.
    timeline: Vec<TimelineItem>,
    /// Oldest first.
    notifications: Vec<NotificationItem>,
    /// Notes shown on the status pages of the incident's monitor, oldest first (apart
    /// from the timeline's notes, which stay internal).
    public_notes: Vec<PublicNote>,
    /// The runbook's Markdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    runbook_text: Option<String>,
}

/// One incident.
#[utoipa::path(get, operation_id = "incidents_get", path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "the incident's id")),
    responses(
        (status = 200, description = "OK", body = IncidentDetail),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let id = parse_id(&id)?;
    let (row, timeline, messages, notes) = blocking(&app, move |s| {
        Ok((
            s.get_incident(id)?,
            s.incident_timeline(id)?,
            s.incident_messages(id)?,
            s.public_notes(&[id])?,
        ))
    })
    .await?;
    let row = row.ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    Ok(Json(IncidentDetail {
        incident: Incident::of(&app, &row),
        timeline: timeline
            .iter()
            .map(|t| TimelineItem {
                at: iso(t.at_ms),
                kind: json!(t.kind),
                text: t.text.clone(),
                actor: t.actor.clone(),
            })
            .collect(),
        notifications: messages
            .iter()
            .map(|m| NotificationItem {
                id: m.id,
                channel: m.channel.clone(),
                event: json!(m.event),
                status: json!(m.status),
                attempts: m.attempts as u32,
                last_error: m.last_error.clone(),
                queued: iso(m.created_ms),
                sent: m.sent_ms.map(iso),
                next_attempt: (m.status == OutboxStatus::Pending).then(|| iso(m.next_attempt_ms)),
            })
            .collect(),
        public_notes: notes.iter().map(PublicNote::of).collect(),
        runbook_text: app.alerts.runbook(&row.rule).map(|rb| rb.text.clone()),
    }))
}

/// A note published on status pages.
#[derive(Serialize, ToSchema)]
pub struct PublicNote {
    /// Id.
    id: i64,
    /// RFC 3339.
    at: String,
    /// The text as published.
    text: String,
    /// Who wrote it (not published).
    by: Option<String>,
}

impl PublicNote {
    fn of(n: &lookout_store::PublicNote) -> Self {
        PublicNote {
            id: n.id,
            at: iso(n.at_ms),
            text: n.text.clone(),
            by: n.author.clone(),
        }
    }
}

/// A public note to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicNoteBody {
    /// What the status pages say (plain text).
    text: String,
    /// Who writes it (default "api"; not published).
    by: Option<String>,
}

/// Longest public note, characters: a status update, not a post-mortem.
const PUBLIC_NOTE_MAX: usize = 5_000;

/// Adds a note to the incident that the status pages showing its monitor publish; the
/// timeline's notes stay internal.
#[utoipa::path(post, operation_id = "incidents_add_public_note", path = "/api/v1/incidents/{id}/public-notes", tag = "incidents", request_body = PublicNoteBody,
    params(("id" = i64, Path, description = "the incident's id")),
    responses(
        (status = 201, description = "Created", body = PublicNote),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
pub async fn add_public_note(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Result<Json<PublicNoteBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let Json(b) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let text = b.text.trim().to_string();
    if text.is_empty() {
        return Err(ApiError::bad_request("text: write the note"));
    }
    if text.chars().count() > PUBLIC_NOTE_MAX {
        return Err(ApiError::bad_request(format!(
            "text: at most {PUBLIC_NOTE_MAX} characters"
        )));
    }
    let by =
        b.by.filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| "api".to_string());
    let now = app.clock.now_ms();
    let note = blocking(&app, move |s| s.add_public_note(id, now, &text, Some(&by)))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    Ok((StatusCode::CREATED, Json(PublicNote::of(&note))).into_response())
}

/// Who acts, and a note's text.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// Who (default "api").
    by: Option<String>,
    /// The note (notes only).
    text: Option<String>,
}

/// Acknowledges or resolves an incident, or adds a note to its timeline.
#[utoipa::path(post, operation_id = "incidents_action", path = "/api/v1/incidents/{id}/{action}", tag = "incidents", request_body(content = Option<ActionBody>),
    params(("id" = i64, Path, description = "the incident's id"), ("action" = String, Path, description = "ack, resolve or notes")),
    responses(
        (status = 200, description = "OK", body = Incident),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
pub async fn action(
    State(app): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
    body: Option<Json<ActionBody>>,
) -> Result<Json<Incident>, ApiError> {
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
    Ok(Json(Incident::of(&app, &row)))
}

/// An alert rule in force.
#[derive(Serialize, ToSchema)]
pub struct Rule {
    /// Unique name.
    name: String,
    /// The condition, e.g. `errors > 50 in 5m`.
    when: String,
    /// critical, high, medium or low.
    #[schema(value_type = String)]
    severity: lookout_core::alert::Severity,
    /// Channels notified on trigger (else the severity's route).
    notify: Vec<String>,
    /// A Markdown runbook.
    runbook: Option<String>,
    /// Only these projects (ids).
    projects: Option<Vec<i64>>,
    /// Only these monitors (ids).
    monitors: Option<Vec<i64>>,
    /// config (read-only here) or api.
    source: String,
}

impl Rule {
    fn of(app: &AppState, r: &lookout_core::alert::rule::Rule) -> Self {
        Rule {
            name: r.name.clone(),
            when: r.condition.to_string(),
            severity: r.severity,
            notify: r.notify.clone(),
            runbook: r.runbook.clone(),
            projects: r.projects.clone(),
            monitors: r.monitors.clone(),
            source: if app.alerts.is_config_rule(&r.name) {
                "config"
            } else {
                "api"
            }
            .to_string(),
        }
    }
}

/// The rules in force.
#[utoipa::path(get, operation_id = "incidents_rules", path = "/api/v1/rules", tag = "incidents",
    responses(
        (status = 200, description = "OK", body = Vec<Rule>),
    ))]
pub async fn rules(State(app): State<Arc<AppState>>) -> Json<Vec<Rule>> {
    Json(
        app.alerts
            .rules()
            .iter()
            .map(|r| Rule::of(&app, r))
            .collect(),
    )
}

/// `POST /api/v1/rules`: the keys of `[[rules]]`.
#[utoipa::path(post, operation_id = "incidents_create_rule", path = "/api/v1/rules", tag = "incidents", request_body = crate::alerts::config::RuleConfig,
    responses(
        (status = 201, description = "Created", body = Rule),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
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
        Ok(rule) => Ok((StatusCode::CREATED, Json(Rule::of(&app, &rule))).into_response()),
        Err(e @ RuleError::Invalid { .. }) => Err(ApiError::bad_request(e.to_string())),
        Err(e @ RuleError::Exists(_)) => Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
        Err(e) => Err(ApiError::internal("cannot create the rule", e)),
    }
}

/// `DELETE /api/v1/rules/{name}`: rules created through the API only.
#[utoipa::path(delete, operation_id = "incidents_delete_rule", path = "/api/v1/rules/{name}", tag = "incidents",
    params(("name" = String, Path, description = "the rule's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
        (status = 409, description = "Conflict: the detail says why", body = ErrorBody),
    ))]
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

/// Why a channel is marked broken.
#[derive(Serialize, ToSchema)]
pub struct Broken {
    /// What the receiver answered.
    reason: String,
    /// RFC 3339.
    since: String,
}

/// A configured channel.
#[derive(Serialize, ToSchema)]
pub struct Channel {
    /// As in `[channels.NAME]`.
    name: String,
    /// slack, discord, teams, pagerduty, webhook or email.
    kind: String,
    /// Set when a receiver said the destination is gone; cleared by `repair`.
    broken: Option<Broken>,
}

/// The configured channels and their broken state.
#[utoipa::path(get, operation_id = "incidents_channels", path = "/api/v1/channels", tag = "incidents",
    responses(
        (status = 200, description = "OK", body = Vec<Channel>),
    ))]
pub async fn channels(State(app): State<Arc<AppState>>) -> Result<Json<Vec<Channel>>, ApiError> {
    let broken = blocking(&app, |s| s.broken_channels()).await?;
    Ok(Json(
        app.channels
            .sorted()
            .into_iter()
            .map(|(n, channel)| {
                let b = broken.iter().find(|b| b.channel == n);
                Channel {
                    name: n.to_string(),
                    kind: channel.kind().to_string(),
                    broken: b.map(|b| Broken {
                        reason: b.reason.clone(),
                        since: iso(b.since_ms),
                    }),
                }
            })
            .collect(),
    ))
}

/// Clears a channel's broken mark once its config is fixed.
#[utoipa::path(post, operation_id = "incidents_repair_channel", path = "/api/v1/channels/{name}/repair", tag = "incidents",
    params(("name" = String, Path, description = "the channel's name")),
    responses(
        (status = 204, description = "Cleared"),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
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

/// What `POST /api/v1/channels/{name}/test` takes (the body may be empty).
#[derive(Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelTest {
    /// The severity the test carries: critical, high, medium or low (default low).
    severity: Option<String>,
}

/// What the receiver made of a test notification.
#[derive(Serialize, ToSchema)]
pub struct TestDelivery {
    /// The channel's name.
    channel: String,
    /// Its kind.
    kind: String,
    /// Whether the receiver accepted it.
    delivered: bool,
    /// delivered, retry (429, 5xx, timeout: the dispatcher would try again), broken (the
    /// destination is gone) or rejected (refused).
    outcome: String,
    /// The HTTP status or SMTP code, when delivered.
    status: Option<u16>,
    /// The receiver's answer when delivered, else why not.
    detail: String,
    /// Seconds the receiver asked to wait (`Retry-After`).
    retry_after_s: Option<u64>,
}

/// Sends a test notification through a configured channel, from this server (its network,
/// its secrets), and says what the receiver answered. A failed delivery is still a 200:
/// the answer is the receiver's, not this request's.
#[utoipa::path(post, operation_id = "incidents_test_channel", path = "/api/v1/channels/{name}/test", tag = "incidents",
    params(("name" = String, Path, description = "the channel's name")),
    request_body(content = Option<ChannelTest>, description = "optional; the severity of the test"),
    responses(
        (status = 200, description = "Sent; `delivered` says whether the receiver accepted it", body = TestDelivery),
        (status = 400, description = "Bad request: the detail names the field", body = ErrorBody),
        (status = 404, description = "No such channel: the detail lists the configured ones", body = ErrorBody),
    ))]
pub async fn test_channel(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<TestDelivery>, ApiError> {
    let req: ChannelTest = if body.iter().all(u8::is_ascii_whitespace) {
        ChannelTest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("the body is not a channel test: {e}")))?
    };
    let severity = match req.severity.as_deref() {
        None => Severity::Low,
        Some(s) => Severity::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "severity: `{s}` is not a severity; use critical, high, medium or low"
            ))
        })?,
    };
    let Some(channel) = app.channels.get(&name).cloned() else {
        let names: Vec<&str> = app.channels.sorted().into_iter().map(|(n, _)| n).collect();
        return Err(ApiError::not_found(if names.is_empty() {
            format!("no channel `{name}`: this server configures no channels")
        } else {
            format!(
                "no channel `{name}`; the configured channels are: {}",
                names.join(", ")
            )
        }));
    };
    let notification = lookout_notify::Notification::test(
        format!("ntf_test_{}", uuid::Uuid::new_v4().simple()),
        &name,
        severity,
        app.clock.now_ms(),
        Some(app.public_url.clone()),
        &format!("`lookout notify test {name}` through the server"),
    );
    let kind = channel.kind().to_string();
    let delivery = tokio::task::spawn_blocking(move || channel.send(&[notification]))
        .await
        .map_err(|e| ApiError::internal("the channel task failed", e))?;
    let (outcome, status, detail, retry_after_s) = match delivery {
        Delivery::Delivered { status, answer } => ("delivered", status, answer, None),
        Delivery::Retry { after, reason } => ("retry", None, reason, after.map(|a| a.as_secs())),
        Delivery::Broken { reason } => ("broken", None, reason, None),
        Delivery::Rejected { reason } => ("rejected", None, reason, None),
    };
    Ok(Json(TestDelivery {
        channel: name,
        kind,
        delivered: outcome == "delivered",
        outcome: outcome.to_string(),
        status,
        detail,
        retry_after_s,
    }))
}

/// A silence to create: exactly one of `rule`, `monitor_id`, `project_id`, and `until`
/// or `duration`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Mute this rule.
    rule: Option<String>,
    /// Mute this monitor.
    monitor_id: Option<i64>,
    /// Mute this project.
    project_id: Option<i64>,
    /// RFC 3339.
    until: Option<String>,
    /// e.g. "2h".
    #[serde(default, with = "humantime_serde")]
    #[schema(value_type = Option<String>)]
    duration: Option<std::time::Duration>,
    /// Why.
    reason: String,
    /// Who.
    by: Option<String>,
}

/// What a silence mutes.
#[derive(Serialize, ToSchema)]
pub struct SilenceTargetBody {
    /// rule, monitor or project.
    #[schema(value_type = String)]
    kind: Value,
    /// The rule's name or the id.
    value: String,
}

/// A silence in force.
#[derive(Serialize, ToSchema)]
pub struct Silence {
    id: i64,
    target: SilenceTargetBody,
    /// RFC 3339.
    until: String,
    reason: String,
    created_by: Option<String>,
    /// RFC 3339.
    created: String,
}

impl Silence {
    fn of(s: &SilenceRow) -> Self {
        Silence {
            id: s.id,
            target: SilenceTargetBody {
                kind: json!(s.target_kind),
                value: s.target.clone(),
            },
            until: iso(s.until_ms),
            reason: s.reason.clone(),
            created_by: s.created_by.clone(),
            created: iso(s.created_ms),
        }
    }
}

/// The silences in force.
#[utoipa::path(get, operation_id = "incidents_list_silences", path = "/api/v1/silences", tag = "incidents",
    responses(
        (status = 200, description = "OK", body = Vec<Silence>),
    ))]
pub async fn list_silences(
    State(app): State<Arc<AppState>>,
) -> Result<Json<Vec<Silence>>, ApiError> {
    let now = app.clock.now_ms();
    let rows = blocking(&app, move |s| s.active_silences(now)).await?;
    Ok(Json(rows.iter().map(Silence::of).collect()))
}

/// Mutes a rule, a monitor or a project until a time.
#[utoipa::path(post, operation_id = "incidents_create_silence", path = "/api/v1/silences", tag = "incidents", request_body = NewSilence,
    responses(
        (status = 201, description = "Created", body = Silence),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
    ))]
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
    Ok((StatusCode::CREATED, Json(Silence::of(&created))).into_response())
}

/// Ends a silence.
#[utoipa::path(delete, operation_id = "incidents_delete_silence", path = "/api/v1/silences/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "the silence's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad request: the detail says which value and why", body = ErrorBody),
        (status = 404, description = "Not found: the detail names what", body = ErrorBody),
    ))]
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
//
// Rendered with askama templates (`templates/ack/`) like the status pages, so every value
// goes through the template engine's escaping and no HTML is assembled by hand.

#[derive(askama::Template)]
#[template(path = "ack/page.html")]
struct AckPage<'a> {
    title: &'a str,
    severity: &'a str,
    status: String,
    acked_by: Option<&'a str>,
    opened: String,
    count: i64,
    message: Option<&'a str>,
    summary: &'a str,
    can_ack: bool,
    runbook: Option<AckRunbook<'a>>,
}

struct AckRunbook<'a> {
    title: &'a str,
    text: &'a str,
}

#[derive(askama::Template)]
#[template(path = "ack/invalid.html")]
struct AckInvalid;

/// A rendered page, or a plain 500 should a template fail at run time (askama checks
/// them at compile time, so this is a value that cannot be written out).
fn html(status: StatusCode, rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the acknowledge page");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot render this page").into_response()
        }
    }
}

async fn signed_incident(
    app: &Arc<AppState>,
    id: &str,
    sig: &str,
) -> Result<IncidentRow, Response> {
    use askama::Template;
    let refuse = || html(StatusCode::NOT_FOUND, AckInvalid.render());
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

fn page(app: &AppState, row: &IncidentRow, message: Option<&str>) -> Response {
    use askama::Template;
    let runbook = app.alerts.runbook(&row.rule);
    let page = AckPage {
        title: &row.title,
        severity: row.severity.as_str(),
        status: row.status.to_string(),
        acked_by: row.acked_by.as_deref(),
        opened: iso(row.opened_ms),
        count: row.count,
        message,
        summary: &row.summary,
        can_ack: row.status == IncidentStatus::Triggered,
        runbook: runbook.map(|r| AckRunbook {
            title: &r.title,
            text: &r.text,
        }),
    };
    html(StatusCode::OK, page.render())
}

/// `GET /ack/{id}/{sig}`: the incident, its runbook and an Acknowledge button. Viewing
/// acknowledges nothing: link previews must not.
pub async fn ack_page(
    State(app): State<Arc<AppState>>,
    Path((id, sig)): Path<(String, String)>,
) -> Response {
    match signed_incident(&app, &id, &sig).await {
        Ok(row) => page(&app, &row, None),
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
    page(&app, &row, Some(&msg))
}
