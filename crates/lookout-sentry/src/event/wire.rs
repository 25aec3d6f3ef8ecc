//! The shapes SDKs send an event in (current, legacy `sentry.interfaces.*`, a bare list
//! or a single object where a container is usual), read leniently and turned into the
//! views of the parent module.

use std::borrow::Cow;

use super::{EventView, ExceptionView, FrameView, Level, MechanismView, StacktraceView, UserView};
use crate::de::{self, lenient_object, Field, Present, Stringish, Timestamp};

/// Reads an event object; fails only when the input is not a JSON object.
pub(super) fn parse(input: &[u8]) -> Result<EventView<'_>, serde_json::Error> {
    let raw: RawEvent<'_> = de::from_object_slice(input)?;
    Ok(raw.into_view())
}

lenient_object! {
    struct RawEvent<'a> {
        "event_id" => event_id: Field<Cow<'a, str>>,
        "timestamp" => timestamp: Field<Timestamp>,
        "level" => level: Field<Cow<'a, str>>,
        "platform" => platform: Field<Cow<'a, str>>,
        "logger" => logger: Field<Cow<'a, str>>,
        "release" => release: Field<Cow<'a, str>>,
        "dist" => dist: Field<Cow<'a, str>>,
        "environment" => environment: Field<Cow<'a, str>>,
        "server_name" => server_name: Field<Cow<'a, str>>,
        "transaction" => transaction: Field<Cow<'a, str>>,
        "message" => message: Field<RawMessage<'a>>,
        "logentry" => logentry: Field<RawMessage<'a>>,
        "sentry.interfaces.Message" => legacy_message: Field<RawMessage<'a>>,
        "exception" => exception: Field<RawExceptions<'a>>,
        "sentry.interfaces.Exception" => legacy_exception: Field<RawExceptions<'a>>,
        "stacktrace" => stacktrace: Field<RawStacktrace<'a>>,
        "sentry.interfaces.Stacktrace" => legacy_stacktrace: Field<RawStacktrace<'a>>,
        "threads" => threads: Field<RawThreads<'a>>,
        "fingerprint" => fingerprint: Field<Vec<Stringish<'a>>>,
        "user" => user: Field<RawUser<'a>>,
        "sentry.interfaces.User" => legacy_user: Field<RawUser<'a>>,
        "tags" => tags: Field<RawTags<'a>>,
        "sdk" => sdk: Field<RawSdk<'a>>,
        "type" => ty: Field<Cow<'a, str>>,
    }
}

/// `message`/`logentry`: a plain string or `{message, formatted, params}`.
#[derive(Default)]
struct RawMessage<'a> {
    message: Option<Cow<'a, str>>,
    formatted: Option<Cow<'a, str>>,
    has_params: bool,
}

lenient_object! {
    struct RawLogEntry<'a> {
        "message" => message: Field<Cow<'a, str>>,
        "formatted" => formatted: Field<Cow<'a, str>>,
        "params" => params: Field<Present>,
    }
}

impl<'de: 'a, 'a> de::Lenient<'de> for RawMessage<'a> {
    fn from_borrowed_str(s: &'de str) -> Option<Self> {
        Some(RawMessage {
            formatted: Some(Cow::Borrowed(s)),
            ..Default::default()
        })
    }
    fn from_str(s: &str) -> Option<Self> {
        Some(RawMessage {
            formatted: Some(Cow::Owned(s.to_owned())),
            ..Default::default()
        })
    }
    fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let e = RawLogEntry::from_map(map)?.unwrap_or_default();
        let (message, formatted) = (e.message.ok(), e.formatted.ok());
        if message.is_none() && formatted.is_none() {
            return Ok(None);
        }
        let has_params = matches!(e.params, Field::Val(Present { non_empty: true }));
        Ok(Some(RawMessage {
            message,
            formatted,
            has_params,
        }))
    }
}

impl<'a> RawMessage<'a> {
    /// (message, template) per the logentry rules: the template is kept only when it says
    /// something the formatted text does not.
    fn split(self) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>) {
        let template = match (&self.message, &self.formatted) {
            (Some(m), Some(f)) if self.has_params || m != f => Some(m.clone()),
            (Some(m), None) if self.has_params => Some(m.clone()),
            _ => None,
        };
        (self.formatted.or(self.message), template)
    }
}

/// `exception`: `{values: [...]}`, a bare list, or one exception object.
struct RawExceptions<'a>(Vec<RawException<'a>>);

lenient_object! {
    /// The container and a single exception share one object shape, so one pass reads both.
    struct RawExceptionOrValues<'a> {
        "values" => values: Field<Vec<RawException<'a>>>,
        "type" => ty: Field<Cow<'a, str>>,
        "value" => value: Field<Stringish<'a>>,
        "module" => module: Field<Cow<'a, str>>,
        "mechanism" => mechanism: Field<RawMechanism<'a>>,
        "stacktrace" => stacktrace: Field<RawStacktrace<'a>>,
        "raw_stacktrace" => raw_stacktrace: Field<RawStacktrace<'a>>,
    }
}

impl<'de: 'a, 'a> de::Lenient<'de> for RawExceptions<'a> {
    fn from_seq<A: serde::de::SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        Ok(<Vec<RawException<'a>>>::from_seq(seq)?.map(RawExceptions))
    }
    fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let v = RawExceptionOrValues::from_map(map)?.unwrap_or_default();
        let single = RawException {
            ty: v.ty,
            value: v.value,
            module: v.module,
            mechanism: v.mechanism,
            stacktrace: v.stacktrace,
            raw_stacktrace: v.raw_stacktrace,
            ..Default::default()
        };
        Ok(match v.values {
            Field::Val(list) => Some(RawExceptions(list)),
            Field::Wrong => None,
            Field::Absent if single.is_empty() => Some(RawExceptions(Vec::new())),
            Field::Absent => Some(RawExceptions(vec![single])),
        })
    }
}

lenient_object! {
    struct RawException<'a> {
        "type" => ty: Field<Cow<'a, str>>,
        "value" => value: Field<Stringish<'a>>,
        "module" => module: Field<Cow<'a, str>>,
        "mechanism" => mechanism: Field<RawMechanism<'a>>,
        "stacktrace" => stacktrace: Field<RawStacktrace<'a>>,
        "raw_stacktrace" => raw_stacktrace: Field<RawStacktrace<'a>>,
    }
}

impl RawException<'_> {
    fn is_empty(&self) -> bool {
        !matches!(self.ty, Field::Val(_))
            && !matches!(self.value, Field::Val(_))
            && !matches!(self.stacktrace, Field::Val(_))
            && !matches!(self.raw_stacktrace, Field::Val(_))
    }
}

lenient_object! {
    struct RawMechanism<'a> {
        "type" => ty: Field<Cow<'a, str>>,
        "handled" => handled: Field<bool>,
    }
}

lenient_object! {
    struct RawStacktrace<'a> {
        "frames" => frames: Field<Vec<RawFrame<'a>>>,
    }
}

lenient_object! {
    struct RawFrame<'a> {
        "filename" => filename: Field<Cow<'a, str>>,
        "abs_path" => abs_path: Field<Cow<'a, str>>,
        "module" => module: Field<Cow<'a, str>>,
        "function" => function: Field<Cow<'a, str>>,
        "package" => package: Field<Cow<'a, str>>,
        "lineno" => lineno: Field<u64>,
        "colno" => colno: Field<u64>,
        "in_app" => in_app: Field<bool>,
        "context_line" => context_line: Field<Cow<'a, str>>,
    }
}

/// `threads`: `{values: [...]}` or a bare list.
struct RawThreads<'a>(Vec<RawThread<'a>>);

lenient_object! {
    struct RawThreadValues<'a> {
        "values" => values: Field<Vec<RawThread<'a>>>,
    }
}

impl<'de: 'a, 'a> de::Lenient<'de> for RawThreads<'a> {
    fn from_seq<A: serde::de::SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        Ok(<Vec<RawThread<'a>>>::from_seq(seq)?.map(RawThreads))
    }
    fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
        let v = RawThreadValues::from_map(map)?.unwrap_or_default();
        Ok(match v.values {
            Field::Wrong => None,
            other => Some(RawThreads(other.ok().unwrap_or_default())),
        })
    }
}

lenient_object! {
    struct RawThread<'a> {
        "crashed" => crashed: Field<bool>,
        "current" => current: Field<bool>,
        "stacktrace" => stacktrace: Field<RawStacktrace<'a>>,
    }
}

lenient_object! {
    struct RawUser<'a> {
        "id" => id: Field<Stringish<'a>>,
        "email" => email: Field<Cow<'a, str>>,
        "username" => username: Field<Stringish<'a>>,
        "ip_address" => ip_address: Field<Cow<'a, str>>,
    }
}

lenient_object! {
    struct RawSdk<'a> {
        "name" => name: Field<Cow<'a, str>>,
    }
}

/// `tags`: an object, or a list of `[key, value]` pairs; values stringified, nulls skipped.
struct RawTags<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> de::Lenient<'de> for RawTags<'a> {
    fn from_map<A: serde::de::MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<Field<Cow<'a, str>>, Field<Stringish<'a>>>()? {
            if let (Field::Val(k), Field::Val(v)) = (k, v) {
                out.push((k, v.0));
            }
        }
        Ok(Some(RawTags(out)))
    }
    fn from_seq<A: serde::de::SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        let mut out = Vec::new();
        while let Some(pair) = seq.next_element::<Field<Vec<Field<Stringish<'a>>>>>()? {
            if let Field::Val(pair) = pair {
                if let [Field::Val(k), Field::Val(v)] =
                    <[_; 2]>::try_from(pair).unwrap_or([Field::Absent, Field::Absent])
                {
                    out.push((k.0, v.0));
                }
            }
        }
        Ok(Some(RawTags(out)))
    }
}

impl<'a> RawEvent<'a> {
    fn into_view(self) -> EventView<'a> {
        let mut dropped = Vec::new();
        let mut take = |name: &'static str, f: Field<Cow<'a, str>>| -> Option<Cow<'a, str>> {
            if f.is_wrong() {
                dropped.push(name);
            }
            f.ok()
        };
        let platform = take("platform", self.platform);
        let logger = take("logger", self.logger);
        let release = take("release", self.release);
        let dist = take("dist", self.dist);
        let environment = take("environment", self.environment);
        let server_name = take("server_name", self.server_name);
        let transaction = take("transaction", self.transaction);
        let ty = take("type", self.ty);
        let level_s = take("level", self.level);
        let event_id_s = take("event_id", self.event_id);
        let mut check = |name: &'static str, wrong: bool| {
            if wrong {
                dropped.push(name);
            }
        };

        let event_id = event_id_s.and_then(|s| {
            let id = de::normalize_uuid(&s);
            check("event_id", id.is_none());
            id
        });
        let level = level_s.and_then(|s| Level::parse(&s)).unwrap_or_default();

        check("timestamp", self.timestamp.is_wrong());
        let timestamp = self.timestamp.ok().map(|t| t.0);

        check("logentry", self.logentry.is_wrong());
        check("message", self.message.is_wrong());
        check("sentry.interfaces.Message", self.legacy_message.is_wrong());
        let (message, message_template) = self
            .logentry
            .ok()
            .or(self.message.ok())
            .or(self.legacy_message.ok())
            .map(RawMessage::split)
            .unwrap_or_default();

        check("exception", self.exception.is_wrong());
        check(
            "sentry.interfaces.Exception",
            self.legacy_exception.is_wrong(),
        );
        let exceptions = self
            .exception
            .ok()
            .or(self.legacy_exception.ok())
            .map(|e| e.0.into_iter().map(RawException::into_view).collect())
            .unwrap_or_default();

        check("stacktrace", self.stacktrace.is_wrong());
        check(
            "sentry.interfaces.Stacktrace",
            self.legacy_stacktrace.is_wrong(),
        );
        check("threads", self.threads.is_wrong());
        let stacktrace = self
            .stacktrace
            .ok()
            .or(self.legacy_stacktrace.ok())
            .map(RawStacktrace::into_view)
            .or_else(|| self.threads.ok().and_then(|t| thread_stacktrace(t.0)));

        check("fingerprint", self.fingerprint.is_wrong());
        let fingerprint = self
            .fingerprint
            .ok()
            .map(|v| v.into_iter().map(|s| s.0).collect());

        check("user", self.user.is_wrong());
        check("sentry.interfaces.User", self.legacy_user.is_wrong());
        let user = self.user.ok().or(self.legacy_user.ok()).map(|u| UserView {
            id: u.id.ok().map(|s| s.0),
            email: u.email.ok(),
            username: u.username.ok().map(|s| s.0),
            ip_address: u.ip_address.ok(),
        });

        check("tags", self.tags.is_wrong());
        let tags = self.tags.ok().map(|t| t.0).unwrap_or_default();

        check("sdk", self.sdk.is_wrong());
        let sdk_name = self.sdk.ok().and_then(|s| s.name.ok());

        EventView {
            event_id,
            timestamp,
            level,
            platform,
            logger,
            release,
            dist,
            environment,
            server_name,
            transaction,
            message,
            message_template,
            exceptions,
            stacktrace,
            fingerprint,
            user,
            tags,
            sdk_name,
            ty,
            dropped_fields: dropped,
        }
    }
}

impl<'a> RawException<'a> {
    fn into_view(self) -> ExceptionView<'a> {
        ExceptionView {
            ty: self.ty.ok(),
            value: self.value.ok().map(|s| s.0),
            module: self.module.ok(),
            mechanism: self.mechanism.ok().map(|m| MechanismView {
                ty: m.ty.ok(),
                handled: m.handled.ok(),
            }),
            stacktrace: self
                .stacktrace
                .ok()
                .or(self.raw_stacktrace.ok())
                .map(RawStacktrace::into_view),
        }
    }
}

impl<'a> RawStacktrace<'a> {
    fn into_view(self) -> StacktraceView<'a> {
        StacktraceView {
            frames: self
                .frames
                .ok()
                .unwrap_or_default()
                .into_iter()
                .map(|f| FrameView {
                    filename: f.filename.ok(),
                    abs_path: f.abs_path.ok(),
                    module: f.module.ok(),
                    function: f.function.ok(),
                    package: f.package.ok(),
                    lineno: f.lineno.ok(),
                    colno: f.colno.ok(),
                    in_app: f.in_app.ok(),
                    context_line: f.context_line.ok(),
                })
                .collect(),
        }
    }
}

/// The crashed thread's stack, else the current one's, else the first one present.
fn thread_stacktrace(threads: Vec<RawThread<'_>>) -> Option<StacktraceView<'_>> {
    let pick = |threads: &[RawThread<'_>]| {
        let has = |t: &RawThread<'_>| matches!(t.stacktrace, Field::Val(_));
        threads
            .iter()
            .position(|t| has(t) && t.crashed == Field::Val(true))
            .or_else(|| {
                threads
                    .iter()
                    .position(|t| has(t) && t.current == Field::Val(true))
            })
            .or_else(|| threads.iter().position(has))
    };
    let i = pick(&threads)?;
    threads
        .into_iter()
        .nth(i)?
        .stacktrace
        .ok()
        .map(RawStacktrace::into_view)
}
