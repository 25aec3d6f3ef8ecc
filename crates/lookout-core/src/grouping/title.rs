//! What an issue is called: its title (`Type: value` or the message's first line) and
//! its culprit (where it happened).

use lookout_sentry::event::{EventView, FrameView, StacktraceView};

use super::non_empty;
use super::stacktrace::normalize_filename;

/// Longest title kept, in characters.
const TITLE_MAX_CHARS: usize = 100;

/// The issue title: the last exception's `Type: value`, else the message's first line.
pub(super) fn title(event: &EventView<'_>) -> String {
    if let Some(exc) = event.exceptions.last() {
        let ty = non_empty(exc.ty.as_deref());
        let value = non_empty(exc.value.as_deref()).map(first_line);
        return match (ty, value) {
            (Some(ty), Some(v)) => format!("{ty}: {}", truncate_chars(v, TITLE_MAX_CHARS)),
            (Some(ty), None) => truncate_chars(ty, TITLE_MAX_CHARS),
            (None, Some(v)) => truncate_chars(v, TITLE_MAX_CHARS),
            (None, None) => "<unknown>".to_string(),
        };
    }
    if let Some(m) =
        non_empty(event.message.as_deref()).or(non_empty(event.message_template.as_deref()))
    {
        return truncate_chars(first_line(m), TITLE_MAX_CHARS);
    }
    "<unlabeled event>".to_string()
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// Where it happened: `location in function` of the frame that most likely caused it,
/// else the transaction or logger.
pub(super) fn culprit(event: &EventView<'_>) -> String {
    let stacktrace = event
        .exceptions
        .iter()
        .rev()
        .filter_map(|e| e.stacktrace.as_ref())
        .find(|st| !st.frames.is_empty())
        .or(event.stacktrace.as_ref());
    if let Some(frame) = stacktrace.and_then(culprit_frame) {
        let location = non_empty(frame.module.as_deref())
            .map(str::to_string)
            .or_else(|| {
                non_empty(frame.filename.as_deref())
                    .or(non_empty(frame.abs_path.as_deref()))
                    .map(normalize_filename)
            })
            .filter(|l| !l.is_empty());
        let function = non_empty(frame.function.as_deref());
        match (location, function) {
            (Some(l), Some(f)) => return format!("{l} in {f}"),
            (Some(l), None) => return l,
            (None, Some(f)) => return f.to_string(),
            (None, None) => {}
        }
    }
    non_empty(event.transaction.as_deref())
        .or(non_empty(event.logger.as_deref()))
        .unwrap_or_default()
        .to_string()
}

fn culprit_frame<'v, 'a>(st: &'v StacktraceView<'a>) -> Option<&'v FrameView<'a>> {
    let has_name = |f: &&FrameView<'_>| {
        f.function.is_some() || f.module.is_some() || f.filename.is_some() || f.abs_path.is_some()
    };
    st.frames
        .iter()
        .rev()
        .filter(has_name)
        .find(|f| f.in_app == Some(true))
        .or_else(|| st.frames.iter().rev().find(has_name))
}
