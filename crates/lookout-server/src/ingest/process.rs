//! Turning the items of one request into rows for the writer: scrub, parse leniently,
//! group, compress. Runs on the request's task, off the writer's thread.

use lookout_core::grouping;
use lookout_core::heartbeat::CheckInStatus;
use lookout_core::limits::hour_bucket_ms;
use lookout_sentry::envelope::{Item, ItemType};
use lookout_sentry::event::{parse_event, EventView};
use lookout_sentry::items;
use lookout_sentry::limits::Limits;
use lookout_store::{
    AttachmentRow, CheckInRow, LatencySample, NewEvent, OutcomeIncrement, SessionCounts,
    TransactionRow, WriteBatch, KIND_REQUEST,
};

use crate::projects::ProjectRuntime;

/// Why one item was not kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// Over a size limit.
    TooLarge(String),
    /// Not parseable.
    Invalid(String),
}

impl Rejection {
    fn outcome(&self) -> &'static str {
        match self {
            Rejection::TooLarge(_) => "too_large",
            Rejection::Invalid(_) => "invalid",
        }
    }

    /// The message for the SDK.
    pub fn message(&self) -> &str {
        match self {
            Rejection::TooLarge(m) | Rejection::Invalid(m) => m,
        }
    }
}

/// The rows made from one request.
#[derive(Debug, Default)]
pub struct Processed {
    /// Rows to write.
    pub batch: WriteBatch,
    /// Items kept.
    pub kept: usize,
    /// Items refused, with why.
    pub rejected: Vec<(ItemType, Rejection)>,
    /// The id of the first event kept.
    pub first_event_id: Option<String>,
}

/// The context of one request.
pub struct Ctx<'a> {
    /// The project.
    pub project: &'a ProjectRuntime,
    /// Limits.
    pub limits: &'a Limits,
    /// Receive time, Unix ms.
    pub now_ms: i64,
    /// The envelope header's event id.
    pub envelope_event_id: Option<&'a str>,
    /// Payload compression.
    pub payloads: &'a std::sync::Arc<crate::payload::Payloads>,
    /// Source maps.
    pub symbolicator: &'a crate::sourcemaps::Symbolicator,
}

impl Processed {
    /// Processes one envelope item.
    pub fn add_item(&mut self, ctx: &Ctx<'_>, item: &Item<'_>) {
        let result = match &item.ty {
            ItemType::Event => self.add_event(ctx, item.payload),
            ItemType::Transaction => self.add_transaction(ctx, item.payload),
            ItemType::Span => self.add_spans(ctx, item.payload),
            ItemType::Session => self.add_session(ctx, item.payload),
            ItemType::Sessions => self.add_sessions(ctx, item.payload),
            ItemType::ClientReport => self.add_client_report(ctx, item.payload),
            ItemType::CheckIn => self.add_check_in(ctx, item.payload),
            ItemType::Attachment => self.add_attachment(ctx, item),
            ItemType::Other(name) => {
                self.count(ctx, "unsupported", item.ty.data_category(), name, 1);
                Ok(())
            }
        };
        match result {
            Ok(()) => self.kept += 1,
            Err(r) => {
                self.count(
                    ctx,
                    r.outcome(),
                    item.ty.data_category(),
                    item.ty.as_str(),
                    1,
                );
                self.rejected.push((item.ty.clone(), r));
            }
        }
    }

    /// Records an outcome counter in this request's batch.
    pub fn count(&mut self, ctx: &Ctx<'_>, outcome: &str, category: &str, reason: &str, n: u64) {
        let bucket_ms = hour_bucket_ms(ctx.now_ms);
        if let Some(o) = self
            .batch
            .outcomes
            .iter_mut()
            .find(|o| o.outcome == outcome && o.category == category && o.reason == reason)
        {
            o.quantity += n;
            return;
        }
        self.batch.outcomes.push(OutcomeIncrement {
            project_id: ctx.project.project.id,
            bucket_ms,
            outcome: outcome.to_string(),
            category: category.to_string(),
            reason: reason.to_string(),
            quantity: n,
        });
    }

    /// Processes an event payload (an `event` item or a legacy `/store/` body).
    pub fn add_event(&mut self, ctx: &Ctx<'_>, payload: &[u8]) -> Result<(), Rejection> {
        if payload.len() > ctx.limits.max_event_bytes {
            return Err(Rejection::TooLarge(format!(
                "event of {} bytes is over the limit of {} bytes",
                payload.len(),
                ctx.limits.max_event_bytes
            )));
        }
        // Scrub first: everything derived below (title, tags, user) must come from the
        // scrubbed document, never from the original.
        let scrubbed = ctx
            .project
            .scrubber
            .scrub(payload)
            .map_err(|e| Rejection::Invalid(format!("event is not valid JSON: {e}")))?;
        // Map minified frames back to the original code before anything is derived from
        // them, so the grouping, title and culprit name the code as written.
        let mapped = ctx
            .symbolicator
            .symbolicate(ctx.project.project.id, &scrubbed.json);
        let json: &[u8] = mapped.as_deref().unwrap_or(&scrubbed.json);
        let view = parse_event(json).map_err(|e| Rejection::Invalid(e.to_string()))?;
        if view.ty.as_deref() == Some("transaction") {
            return self.add_transaction(ctx, json);
        }
        let event = new_event(ctx, &view, json);
        self.first_event_id
            .get_or_insert_with(|| event.event_id.clone());
        self.batch.events.push(event);
        self.count(ctx, "accepted", "error", "", 1);
        Ok(())
    }

    fn add_transaction(&mut self, ctx: &Ctx<'_>, payload: &[u8]) -> Result<(), Rejection> {
        if payload.len() > ctx.limits.max_transaction_bytes {
            return Err(Rejection::TooLarge(format!(
                "transaction of {} bytes is over the limit of {} bytes",
                payload.len(),
                ctx.limits.max_transaction_bytes
            )));
        }
        let t = items::parse_transaction(payload).map_err(|e| Rejection::Invalid(e.to_string()))?;
        let duration_ms = t.duration_ms().unwrap_or(0.0).max(0.0);
        let start_ms = t
            .start_timestamp
            .map(|s| (s * 1000.0) as i64)
            .unwrap_or(ctx.now_ms);
        self.batch.latency.push(LatencySample {
            kind: KIND_REQUEST,
            owner_id: ctx.project.project.id,
            name: t.name.clone(),
            release: t.release.clone().unwrap_or_default(),
            environment: t.environment.clone().unwrap_or_default(),
            at_ms: start_ms,
            duration_ms,
            error: t
                .status
                .as_deref()
                .is_some_and(|s| s != "ok" && s != "unknown"),
        });
        self.batch.transactions.push(TransactionRow {
            project_id: ctx.project.project.id,
            event_id: t
                .event_id
                .clone()
                .or_else(|| ctx.envelope_event_id.map(str::to_string))
                .unwrap_or_else(new_id),
            name: t.name,
            op: t.op,
            status: t.status,
            start_ms,
            duration_ms,
            release: t.release,
            environment: t.environment,
        });
        self.count(ctx, "accepted", "transaction", "", 1);
        Ok(())
    }

    /// A v2 span container: each segment span is one request or page load and goes into
    /// the latency histograms; the spans inside a segment are steps of it, not requests.
    fn add_spans(&mut self, ctx: &Ctx<'_>, payload: &[u8]) -> Result<(), Rejection> {
        if payload.len() > ctx.limits.max_transaction_bytes {
            return Err(Rejection::TooLarge(format!(
                "span container of {} bytes is over the limit of {} bytes",
                payload.len(),
                ctx.limits.max_transaction_bytes
            )));
        }
        let spans = items::parse_spans(payload).map_err(|e| Rejection::Invalid(e.to_string()))?;
        let total = spans.len() as u64;
        for s in spans.into_iter().filter(|s| s.is_segment) {
            let duration_ms = s.duration_ms().unwrap_or(0.0);
            let error = s.is_error();
            self.batch.latency.push(LatencySample {
                kind: KIND_REQUEST,
                owner_id: ctx.project.project.id,
                at_ms: s
                    .start_timestamp
                    .map(|t| (t * 1000.0) as i64)
                    .unwrap_or(ctx.now_ms),
                name: s.name,
                release: s.release.unwrap_or_default(),
                environment: s.environment.unwrap_or_default(),
                duration_ms,
                error,
            });
        }
        self.count(ctx, "accepted", "span", "", total);
        Ok(())
    }

    fn add_session(&mut self, ctx: &Ctx<'_>, payload: &[u8]) -> Result<(), Rejection> {
        let s = items::parse_session(payload).map_err(|e| Rejection::Invalid(e.to_string()))?;
        // A session is counted once, when it reaches a final state; "ok" updates are
        // progress reports of a session still running.
        let (healthy, errored, crashed, abnormal) = match s.status.as_str() {
            "exited" if s.errors > 0 => (0, 1, 0, 0),
            "exited" => (1, 0, 0, 0),
            "errored" => (0, 1, 0, 0),
            "crashed" => (0, 0, 1, 0),
            "abnormal" => (0, 0, 0, 1),
            _ => {
                self.count(ctx, "accepted", "session", "", 1);
                return Ok(());
            }
        };
        let started_ms = s.started.map(|t| (t * 1000.0) as i64).unwrap_or(ctx.now_ms);
        self.push_sessions(
            ctx,
            s.release.unwrap_or_default(),
            s.environment.unwrap_or_default(),
            started_ms,
            [healthy, errored, crashed, abnormal],
        );
        self.count(ctx, "accepted", "session", "", 1);
        Ok(())
    }

    fn add_sessions(&mut self, ctx: &Ctx<'_>, payload: &[u8]) -> Result<(), Rejection> {
        let s = items::parse_sessions(payload).map_err(|e| Rejection::Invalid(e.to_string()))?;
        let release = s.release.unwrap_or_default();
        let environment = s.environment.unwrap_or_default();
        let mut n = 0;
        for a in s.aggregates.iter().take(ctx.limits.max_session_items) {
            let started_ms = a.started.map(|t| (t * 1000.0) as i64).unwrap_or(ctx.now_ms);
            self.push_sessions(
                ctx,
                release.clone(),
                environment.clone(),
                started_ms,
                [a.exited, a.errored, a.crashed, a.abnormal],
            );
            n += a.exited + a.errored + a.crashed + a.abnormal;
        }
        self.count(ctx, "accepted", "session", "", n);
        Ok(())
    }

    fn push_sessions(
        &mut self,
        ctx: &Ctx<'_>,
        release: String,
        environment: String,
        started_ms: i64,
        [healthy, errored, crashed, abnormal]: [u64; 4],
    ) {
        if release.is_empty() {
            // Release health is per release; Sentry drops sessions without one too.
            return;
        }
        self.batch.sessions.push(SessionCounts {
            project_id: ctx.project.project.id,
            release,
            environment,
            bucket_ms: hour_bucket_ms(started_ms),
            healthy,
            errored,
            crashed,
            abnormal,
        });
    }

    fn add_client_report(&mut self, ctx: &Ctx<'_>, payload: &[u8]) -> Result<(), Rejection> {
        let r =
            items::parse_client_report(payload).map_err(|e| Rejection::Invalid(e.to_string()))?;
        for d in r.discarded {
            self.count(ctx, "client_discard", &d.category, &d.reason, d.quantity);
        }
        Ok(())
    }

    fn add_check_in(&mut self, ctx: &Ctx<'_>, payload: &[u8]) -> Result<(), Rejection> {
        let c = items::parse_check_in(payload).map_err(|e| Rejection::Invalid(e.to_string()))?;
        self.batch.check_ins.push(CheckInRow {
            project_id: ctx.project.project.id,
            check_in_id: c.check_in_id,
            monitor_slug: c.monitor_slug,
            status: CheckInStatus::from_sent(&c.status),
            duration_s: c.duration,
            environment: c.environment,
            monitor_config: c.monitor_config,
            received_ms: ctx.now_ms,
        });
        self.count(ctx, "accepted", "monitor", "", 1);
        Ok(())
    }

    fn add_attachment(&mut self, ctx: &Ctx<'_>, item: &Item<'_>) -> Result<(), Rejection> {
        if item.payload.len() > ctx.limits.max_attachment_bytes {
            return Err(Rejection::TooLarge(format!(
                "attachment of {} bytes is over the limit of {} bytes",
                item.payload.len(),
                ctx.limits.max_attachment_bytes
            )));
        }
        self.batch.attachments.push(AttachmentRow {
            project_id: ctx.project.project.id,
            event_id: ctx.envelope_event_id.unwrap_or_default().to_string(),
            filename: item
                .headers
                .filename
                .clone()
                .unwrap_or_else(|| "attachment".to_string()),
            content_type: item.headers.content_type.clone(),
            attachment_type: item.headers.attachment_type.clone(),
            data: item.payload.to_vec(),
            size: item.payload.len() as u64,
            received_ms: ctx.now_ms,
        });
        self.count(ctx, "accepted", "attachment", "", 1);
        Ok(())
    }
}

fn new_event(ctx: &Ctx<'_>, view: &EventView<'_>, json: &[u8]) -> NewEvent {
    let g = grouping::group(view);
    let event_id = view
        .event_id
        .clone()
        .or_else(|| ctx.envelope_event_id.map(str::to_string))
        .unwrap_or_else(new_id);
    let timestamp_ms = view
        .timestamp
        .filter(|t| t.is_finite() && *t > 0.0)
        .map(|t| (t * 1000.0) as i64)
        .unwrap_or(ctx.now_ms);
    let payload = ctx
        .payloads
        .compress(ctx.project.project.id, &g.hash, json, ctx.now_ms);
    NewEvent {
        project_id: ctx.project.project.id,
        event_id,
        timestamp_ms,
        received_ms: ctx.now_ms,
        level: view.level,
        platform: view.platform.as_deref().map(str::to_string),
        release: view.release.as_deref().map(str::to_string),
        environment: view.environment.as_deref().map(str::to_string),
        title: g.title,
        culprit: g.culprit,
        fingerprint: g.hash,
        grouping_version: g.version.to_string(),
        handled: g.handled,
        user_key: grouping::user_key(view),
        payload,
    }
}

/// A fresh event id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
