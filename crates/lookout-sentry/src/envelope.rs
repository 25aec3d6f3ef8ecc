//! Envelope framing (<https://develop.sentry.dev/sdk/data-model/envelopes/>): a JSON header
//! line, then items, each a JSON header line followed by its payload. Payloads are borrowed
//! from the request body and not parsed here.

use std::borrow::Cow;

use crate::de::{self, lenient_object, Field};

/// Most items one envelope may carry (see [`crate::limits::Limits::max_items`]).
pub const MAX_ITEMS: usize = 1000;

/// A framed envelope whose payloads borrow from the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'a> {
    /// The envelope header.
    pub headers: EnvelopeHeaders,
    /// The items, in order.
    pub items: Vec<Item<'a>>,
    /// Stray blank lines tolerated between items (some clients add an extra newline after a
    /// length-delimited payload); reported so a caller can log misbehaving SDKs.
    pub skipped: usize,
}

/// The fields of the envelope header lookout reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeHeaders {
    /// `event_id`, normalised to 32 lower-case hex digits; `None` if absent or malformed.
    pub event_id: Option<String>,
    /// `dsn`, as sent.
    pub dsn: Option<String>,
    /// `sent_at` (RFC 3339), as sent.
    pub sent_at: Option<String>,
    /// `sdk.name`.
    pub sdk_name: Option<String>,
}

/// One item: its type, header and raw payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<'a> {
    /// The parsed `type`.
    pub ty: ItemType,
    /// The item header.
    pub headers: ItemHeaders,
    /// The payload bytes, exactly as framed.
    pub payload: &'a [u8],
}

/// The item header fields lookout reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemHeaders {
    /// `type`, as sent.
    pub ty: String,
    /// `length`, when given.
    pub length: Option<usize>,
    /// `content_type`.
    pub content_type: Option<String>,
    /// `filename` (attachments).
    pub filename: Option<String>,
    /// `attachment_type` (e.g. `event.attachment`, `event.minidump`).
    pub attachment_type: Option<String>,
    /// `item_count` (logs, spans containers).
    pub item_count: Option<u64>,
}

/// Item types lookout handles, plus everything else by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemType {
    /// `event`: an error or message event.
    Event,
    /// `transaction`.
    Transaction,
    /// `span`: a container of v2 spans.
    Span,
    /// `session`: one session update.
    Session,
    /// `sessions`: pre-aggregated session counts.
    Sessions,
    /// `client_report`: what the SDK discarded.
    ClientReport,
    /// `check_in`: a cron monitor check-in.
    CheckIn,
    /// `attachment`.
    Attachment,
    /// Any other type, kept so the caller can count and skip it.
    Other(String),
}

impl ItemType {
    /// Maps a wire name to a type.
    pub fn from_name(name: &str) -> ItemType {
        match name {
            "event" => ItemType::Event,
            "transaction" => ItemType::Transaction,
            "span" => ItemType::Span,
            "session" => ItemType::Session,
            "sessions" => ItemType::Sessions,
            "client_report" => ItemType::ClientReport,
            "check_in" => ItemType::CheckIn,
            "attachment" => ItemType::Attachment,
            other => ItemType::Other(other.to_string()),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            ItemType::Event => "event",
            ItemType::Transaction => "transaction",
            ItemType::Span => "span",
            ItemType::Session => "session",
            ItemType::Sessions => "sessions",
            ItemType::ClientReport => "client_report",
            ItemType::CheckIn => "check_in",
            ItemType::Attachment => "attachment",
            ItemType::Other(s) => s,
        }
    }

    /// The Sentry data category used in rate limits and client reports.
    pub fn data_category(&self) -> &'static str {
        match self {
            ItemType::Event => "error",
            ItemType::Transaction => "transaction",
            ItemType::Span => "span",
            ItemType::Session | ItemType::Sessions => "session",
            ItemType::ClientReport => "internal",
            ItemType::CheckIn => "monitor",
            ItemType::Attachment => "attachment",
            ItemType::Other(name) => match name.as_str() {
                "log" => "log_item",
                "profile" => "profile",
                "replay_event" | "replay_recording" | "replay_video" => "replay",
                "statsd" | "metric_buckets" => "metric_bucket",
                "user_report" | "feedback" => "user_report_v2",
                _ => "default",
            },
        }
    }
}

/// Why an envelope could not be framed. Item indices are 0-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Nothing but whitespace.
    #[error("envelope is empty")]
    Empty,
    /// The first line is not a JSON object.
    #[error("envelope header is not a JSON object: {0}")]
    InvalidHeader(String),
    /// An item header line is not a JSON object.
    #[error("item {index}: header is not a JSON object: {message}")]
    InvalidItemHeader {
        /// 0-based item index.
        index: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// An item header has no string `type`.
    #[error("item {index}: header has no `type`")]
    MissingItemType {
        /// 0-based item index.
        index: usize,
    },
    /// `length` is present but not a non-negative integer.
    #[error("item {index}: `length` is not a non-negative integer")]
    InvalidLength {
        /// 0-based item index.
        index: usize,
    },
    /// `length` runs past the end of the body.
    #[error("item {index}: declared length {declared} but only {remaining} bytes remain")]
    Truncated {
        /// 0-based item index.
        index: usize,
        /// The `length` header.
        declared: usize,
        /// Bytes left after the item header.
        remaining: usize,
    },
    /// More items than allowed.
    #[error("envelope has more than {limit} items")]
    TooManyItems {
        /// The item limit.
        limit: usize,
    },
}

/// Frames an envelope with the default item limit ([`MAX_ITEMS`]).
pub fn parse(input: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    parse_with_max_items(input, MAX_ITEMS)
}

/// Frames an envelope, failing once it has more than `max_items` items.
pub fn parse_with_max_items(input: &[u8], max_items: usize) -> Result<Envelope<'_>, EnvelopeError> {
    // A UTF-8 byte order mark is invisible in editors and harmless; some tools add it.
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(EnvelopeError::Empty);
    }
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    let (header_line, mut pos) = line_at(input, start);
    let raw: RawEnvelopeHeaders<'_> = de::from_object_slice(header_line)
        .map_err(|e| EnvelopeError::InvalidHeader(e.to_string()))?;
    let headers = EnvelopeHeaders {
        event_id: raw.event_id.ok().and_then(|s| de::normalize_uuid(&s)),
        dsn: raw.dsn.ok().map(Cow::into_owned),
        sent_at: raw.sent_at.ok().map(Cow::into_owned),
        sdk_name: raw.sdk.ok().and_then(|s| s.name.ok()).map(Cow::into_owned),
    };

    let mut items = Vec::new();
    let mut skipped = 0;
    loop {
        let rest = &input[pos..];
        if rest.iter().all(u8::is_ascii_whitespace) {
            break;
        }
        let (line, next) = line_at(input, pos);
        if line.iter().all(u8::is_ascii_whitespace) {
            skipped += 1;
            pos = next;
            continue;
        }
        let index = items.len();
        if index >= max_items {
            return Err(EnvelopeError::TooManyItems { limit: max_items });
        }
        let raw: RawItemHeaders<'_> =
            de::from_object_slice(line).map_err(|e| EnvelopeError::InvalidItemHeader {
                index,
                message: e.to_string(),
            })?;
        let ty = raw
            .ty
            .ok()
            .ok_or(EnvelopeError::MissingItemType { index })?;
        let length = match raw.length {
            Field::Absent => None,
            Field::Wrong => return Err(EnvelopeError::InvalidLength { index }),
            Field::Val(n) => {
                Some(usize::try_from(n).map_err(|_| EnvelopeError::InvalidLength { index })?)
            }
        };
        let payload;
        match length {
            Some(len) => {
                // A header line ending at EOF has no newline to skip.
                let remaining = input.len() - next;
                if len > remaining {
                    return Err(EnvelopeError::Truncated {
                        index,
                        declared: len,
                        remaining,
                    });
                }
                payload = &input[next..next + len];
                pos = next + len;
                if input[pos..].starts_with(b"\r\n") {
                    pos += 2;
                } else if input[pos..].starts_with(b"\n") {
                    pos += 1;
                }
            }
            None => {
                let (line, after) = line_at(input, next);
                payload = line;
                pos = after;
            }
        }
        items.push(Item {
            ty: ItemType::from_name(&ty),
            headers: ItemHeaders {
                ty: ty.into_owned(),
                length,
                content_type: raw.content_type.ok().map(Cow::into_owned),
                filename: raw.filename.ok().map(Cow::into_owned),
                attachment_type: raw.attachment_type.ok().map(Cow::into_owned),
                item_count: raw.item_count.ok(),
            },
            payload,
        });
    }
    Ok(Envelope {
        headers,
        items,
        skipped,
    })
}

/// The line starting at `start` without its `\n` / `\r\n`, and the offset after the newline.
fn line_at(input: &[u8], start: usize) -> (&[u8], usize) {
    let start = start.min(input.len());
    let rest = &input[start..];
    let (line, next) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], start + i + 1),
        None => (rest, input.len()),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), next)
}

lenient_object! {
    struct RawEnvelopeHeaders<'a> {
        "event_id" => event_id: Field<Cow<'a, str>>,
        "dsn" => dsn: Field<Cow<'a, str>>,
        "sent_at" => sent_at: Field<Cow<'a, str>>,
        "sdk" => sdk: Field<RawSdk<'a>>,
    }
}

lenient_object! {
    struct RawSdk<'a> {
        "name" => name: Field<Cow<'a, str>>,
    }
}

lenient_object! {
    struct RawItemHeaders<'a> {
        "type" => ty: Field<Cow<'a, str>>,
        "length" => length: Field<u64>,
        "content_type" => content_type: Field<Cow<'a, str>>,
        "filename" => filename: Field<Cow<'a, str>>,
        "attachment_type" => attachment_type: Field<Cow<'a, str>>,
        "item_count" => item_count: Field<u64>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As sentry-python 2.x sends an error: header with dsn/sdk/sent_at, one event item
    /// without `length`, trailing newline.
    const PYTHON_EVENT: &[u8] = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"sent_at\":\"2024-03-05T12:34:56.789012Z\",\"dsn\":\"https://abc@lookout.example/1\",\"trace\":{\"trace_id\":\"771a43a4192642f0b136d5159a501700\",\"environment\":\"production\",\"public_key\":\"abc\"},\"sdk\":{\"name\":\"sentry.python\",\"version\":\"2.19.0\"}}\n\
{\"type\":\"event\",\"content_type\":\"application/json\"}\n\
{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"level\":\"error\",\"platform\":\"python\",\"exception\":{\"values\":[{\"type\":\"ZeroDivisionError\",\"value\":\"division by zero\"}]}}\n";

    #[test]
    fn python_sdk_event_without_length() {
        let env = parse(PYTHON_EVENT).unwrap();
        assert_eq!(
            env.headers.event_id.as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(
            env.headers.dsn.as_deref(),
            Some("https://abc@lookout.example/1")
        );
        assert_eq!(
            env.headers.sent_at.as_deref(),
            Some("2024-03-05T12:34:56.789012Z")
        );
        assert_eq!(env.headers.sdk_name.as_deref(), Some("sentry.python"));
        assert_eq!(env.items.len(), 1);
        let item = &env.items[0];
        assert_eq!(item.ty, ItemType::Event);
        assert_eq!(item.headers.ty, "event");
        assert_eq!(item.headers.length, None);
        assert_eq!(
            item.headers.content_type.as_deref(),
            Some("application/json")
        );
        assert!(item.payload.starts_with(b"{\"event_id\""));
        assert!(item.payload.ends_with(b"}]}}"));
        assert_eq!(env.skipped, 0);
    }

    /// As @sentry/node sends a transaction plus a client report: items with `length`,
    /// no trailing newline after the last payload.
    #[test]
    fn js_sdk_items_with_length_and_no_trailing_newline() {
        let tx = br#"{"type":"transaction","transaction":"GET /api","start_timestamp":1709642096.1,"timestamp":1709642096.4}"#;
        let report = br#"{"timestamp":1709642096,"discarded_events":[{"reason":"sample_rate","category":"transaction","quantity":3}]}"#;
        let mut body = br#"{"sent_at":"2024-03-05T12:34:56.789Z","sdk":{"name":"sentry.javascript.node","version":"8.9.2"}}"#.to_vec();
        body.extend(format!("\n{{\"type\":\"transaction\",\"length\":{}}}\n", tx.len()).bytes());
        body.extend(tx);
        body.extend(
            format!(
                "\n{{\"type\":\"client_report\",\"length\":{}}}\n",
                report.len()
            )
            .bytes(),
        );
        body.extend(report);
        let env = parse(&body).unwrap();
        assert_eq!(env.headers.event_id, None);
        assert_eq!(
            env.headers.sdk_name.as_deref(),
            Some("sentry.javascript.node")
        );
        assert_eq!(env.items.len(), 2);
        assert_eq!(env.items[0].ty, ItemType::Transaction);
        assert_eq!(env.items[0].payload, tx);
        assert_eq!(env.items[0].headers.length, Some(tx.len()));
        assert_eq!(env.items[1].ty, ItemType::ClientReport);
        assert_eq!(env.items[1].payload, report);
    }

    #[test]
    fn binary_attachment_with_newlines_needs_length() {
        let bin: Vec<u8> = (0u8..=255)
            .chain(*b"\n\r\n\n{\"type\":\"event\"}\n")
            .collect();
        let mut body = b"{\"event_id\":\"9EC79C33-EC99-42AB-8353-589FCB2E04DC\"}\n".to_vec();
        body.extend(b"{\"type\":\"event\",\"length\":2}\n{}\n");
        body.extend(
            format!(
                "{{\"type\":\"attachment\",\"length\":{},\"filename\":\"core.dmp\",\"attachment_type\":\"event.minidump\",\"content_type\":\"application/octet-stream\"}}\n",
                bin.len()
            )
            .bytes(),
        );
        body.extend(&bin);
        body.extend(b"\n");
        let env = parse(&body).unwrap();
        assert_eq!(
            env.headers.event_id.as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(env.items.len(), 2);
        assert_eq!(env.items[0].payload, b"{}");
        let att = &env.items[1];
        assert_eq!(att.ty, ItemType::Attachment);
        assert_eq!(att.payload, &bin[..]);
        assert_eq!(att.headers.filename.as_deref(), Some("core.dmp"));
        assert_eq!(
            att.headers.attachment_type.as_deref(),
            Some("event.minidump")
        );
        assert_eq!(
            att.headers.content_type.as_deref(),
            Some("application/octet-stream")
        );
    }

    #[test]
    fn crlf_line_endings() {
        let body = b"{}\r\n{\"type\":\"event\"}\r\n{\"message\":\"a\"}\r\n{\"type\":\"session\",\"length\":13}\r\n{\"sid\":\"abc\"}\r\n";
        let env = parse(body).unwrap();
        assert_eq!(env.items.len(), 2);
        assert_eq!(env.items[0].payload, b"{\"message\":\"a\"}");
        assert_eq!(env.items[1].ty, ItemType::Session);
        assert_eq!(env.items[1].payload, b"{\"sid\":\"abc\"}");
        assert_eq!(env.skipped, 0);
    }

    #[test]
    fn header_only_envelopes_have_no_items() {
        for body in [
            &b"{}"[..],
            b"{}\n",
            b"{}\n\n  \r\n",
            b"\xEF\xBB\xBF{}\n",
            b"  {\"event_id\":42}  ",
        ] {
            let env = parse(body).unwrap();
            assert!(env.items.is_empty(), "{body:?}");
            assert_eq!(env.headers, EnvelopeHeaders::default());
        }
    }

    #[test]
    fn zero_length_and_empty_payloads() {
        let env = parse(b"{}\n{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"event\"}\n\n{\"type\":\"event\",\"length\":0}").unwrap();
        assert_eq!(env.items.len(), 3);
        assert!(env.items.iter().all(|i| i.payload.is_empty()));
        // A header at EOF without a payload line.
        let env = parse(b"{}\n{\"type\":\"event\"}").unwrap();
        assert_eq!(env.items.len(), 1);
        assert!(env.items[0].payload.is_empty());
    }

    #[test]
    fn stray_blank_lines_are_counted() {
        let env = parse(b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n\n{\"type\":\"event\"}\n{}\n")
            .unwrap();
        assert_eq!(env.items.len(), 2);
        assert_eq!(env.skipped, 1);
    }

    #[test]
    fn length_as_digit_string_and_unknown_fields() {
        let env = parse(b"{\"x\":[1,{}]}\n{\"type\":\"profile\",\"length\":\"3\",\"platform\":\"python\",\"item_count\":7}\nabc\n").unwrap();
        assert_eq!(env.items[0].payload, b"abc");
        assert_eq!(env.items[0].headers.item_count, Some(7));
        assert_eq!(env.items[0].ty, ItemType::Other("profile".into()));
        assert_eq!(env.items[0].ty.data_category(), "profile");
    }

    #[test]
    fn errors_name_the_item() {
        assert_eq!(parse(b"").unwrap_err(), EnvelopeError::Empty);
        assert_eq!(parse(b" \n\r\n").unwrap_err(), EnvelopeError::Empty);
        assert!(matches!(
            parse(b"[]\n").unwrap_err(),
            EnvelopeError::InvalidHeader(_)
        ));
        assert!(matches!(
            parse(b"{\"a\":\n{}").unwrap_err(),
            EnvelopeError::InvalidHeader(_)
        ));
        assert!(matches!(
            parse(b"not json\n").unwrap_err(),
            EnvelopeError::InvalidHeader(_)
        ));

        let e =
            parse(b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"event\",\"length\":500}\n0123456789")
                .unwrap_err();
        assert_eq!(
            e,
            EnvelopeError::Truncated {
                index: 1,
                declared: 500,
                remaining: 10
            }
        );
        assert_eq!(
            e.to_string(),
            "item 1: declared length 500 but only 10 bytes remain"
        );

        let e = parse(b"{}\n{\"length\":2}\n{}\n").unwrap_err();
        assert_eq!(e, EnvelopeError::MissingItemType { index: 0 });
        assert_eq!(e.to_string(), "item 0: header has no `type`");
        assert_eq!(
            parse(b"{}\n{\"type\":7}\n{}\n").unwrap_err(),
            EnvelopeError::MissingItemType { index: 0 }
        );
        let e = parse(b"{}\n{\"type\":\"event\"}\n{}\n{type: event}\n").unwrap_err();
        assert!(
            matches!(e, EnvelopeError::InvalidItemHeader { index: 1, .. }),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("item 1: header is not a JSON object"),
            "{e}"
        );
        assert_eq!(
            parse(b"{}\n{\"type\":\"event\",\"length\":-1}\n").unwrap_err(),
            EnvelopeError::InvalidLength { index: 0 }
        );
        assert_eq!(
            parse(b"{}\n{\"type\":\"event\",\"length\":\"ten\"}\n").unwrap_err(),
            EnvelopeError::InvalidLength { index: 0 }
        );
        // A declared length that is too short makes the rest of the payload the next
        // "header", which is reported as such rather than silently misframed.
        let e = parse(b"{}\n{\"type\":\"event\",\"length\":3}\n{\"a\":1}\n").unwrap_err();
        assert!(
            matches!(e, EnvelopeError::InvalidItemHeader { index: 1, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn item_count_is_limited() {
        let mut body = b"{}\n".to_vec();
        for _ in 0..MAX_ITEMS {
            body.extend(b"{\"type\":\"event\"}\n{}\n");
        }
        assert_eq!(parse(&body).unwrap().items.len(), MAX_ITEMS);
        body.extend(b"{\"type\":\"event\"}\n{}\n");
        assert_eq!(
            parse(&body).unwrap_err(),
            EnvelopeError::TooManyItems { limit: MAX_ITEMS }
        );
        assert_eq!(
            parse_with_max_items(b"{}\n{\"type\":\"a\"}\n\n{\"type\":\"b\"}\n", 1).unwrap_err(),
            EnvelopeError::TooManyItems { limit: 1 }
        );
    }

    #[test]
    fn item_types_and_categories() {
        for (name, ty, cat) in [
            ("event", ItemType::Event, "error"),
            ("transaction", ItemType::Transaction, "transaction"),
            ("session", ItemType::Session, "session"),
            ("sessions", ItemType::Sessions, "session"),
            ("client_report", ItemType::ClientReport, "internal"),
            ("check_in", ItemType::CheckIn, "monitor"),
            ("attachment", ItemType::Attachment, "attachment"),
            ("span", ItemType::Span, "span"),
        ] {
            assert_eq!(ItemType::from_name(name), ty);
            assert_eq!(ty.as_str(), name);
            assert_eq!(ty.data_category(), cat);
        }
        for (name, cat) in [
            ("log", "log_item"),
            ("profile", "profile"),
            ("replay_event", "replay"),
            ("replay_recording", "replay"),
            ("replay_video", "replay"),
            ("statsd", "metric_bucket"),
            ("metric_buckets", "metric_bucket"),
            ("user_report", "user_report_v2"),
            ("feedback", "user_report_v2"),
            ("something_new", "default"),
        ] {
            let ty = ItemType::from_name(name);
            assert_eq!(ty, ItemType::Other(name.into()));
            assert_eq!(ty.as_str(), name);
            assert_eq!(ty.data_category(), cat, "{name}");
        }
    }
}
