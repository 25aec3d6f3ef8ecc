//! Grouping errors into issues the way Sentry does: a custom fingerprint wins, then the
//! stack trace (code location, never line numbers), then exception type and parameterised
//! value, then the message template. The hash covers only the components, so the same
//! error from another deploy directory, build hash or line offset lands in the same issue.
//!
//! The parts: `stacktrace` turns frames into components, `parameterize` takes the data
//! out of messages, `title` names the issue; this module picks the basis and hashes.

mod parameterize;
mod stacktrace;
mod title;

use lookout_sentry::event::EventView;
use sha2::{Digest, Sha256};

pub use parameterize::parameterize;
pub use stacktrace::normalize_filename;

use stacktrace::stacktrace_components;
use title::{culprit, title};

/// The version of these rules, stored next to each hash so a later change can regroup.
pub const GROUPING_VERSION: &str = "lookout-1";

/// What decided the group of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupingBasis {
    /// The SDK's custom `fingerprint`.
    Fingerprint,
    /// Exception types and stack frames.
    Stacktrace,
    /// Exception types and parameterised values (no usable frames).
    Exception,
    /// The message template or parameterised message.
    Message,
    /// Nothing useful: all such events of a transaction or logger group together.
    Fallback,
}

impl GroupingBasis {
    /// A stable lower-case name, for storage and display.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupingBasis::Fingerprint => "fingerprint",
            GroupingBasis::Stacktrace => "stacktrace",
            GroupingBasis::Exception => "exception",
            GroupingBasis::Message => "message",
            GroupingBasis::Fallback => "fallback",
        }
    }
}

/// The outcome of grouping one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    /// 32 lower-case hex digits: the first 16 bytes of a SHA-256 over the components.
    pub hash: String,
    /// [`GROUPING_VERSION`].
    pub version: &'static str,
    /// What the hash was computed from.
    pub basis: GroupingBasis,
    /// The issue title (`Type: value` or the message's first line).
    pub title: String,
    /// Where it happened (`module in function`), or the transaction or logger.
    pub culprit: String,
    /// Whether the exception was handled; `None` when no mechanism said.
    pub handled: Option<bool>,
}

/// Identifies a user the way Sentry counts "users affected": id, else email, else
/// username, else IP address.
pub fn user_key(view: &EventView<'_>) -> Option<String> {
    let u = view.user.as_ref()?;
    if let Some(v) = u.id.as_deref().filter(|v| !v.is_empty()) {
        return Some(format!("id:{v}"));
    }
    if let Some(v) = u.email.as_deref().filter(|v| !v.is_empty()) {
        return Some(format!("email:{v}"));
    }
    if let Some(v) = u.username.as_deref().filter(|v| !v.is_empty()) {
        return Some(format!("username:{v}"));
    }
    u.ip_address
        .as_deref()
        .filter(|v| !v.is_empty() && *v != "{{auto}}")
        .map(|v| format!("ip:{v}"))
}

/// Groups one event.
pub fn group(event: &EventView<'_>) -> Grouping {
    let (basis, components) = match custom_fingerprint(event) {
        Some(components) => (GroupingBasis::Fingerprint, components),
        None => default_components(event),
    };
    Grouping {
        hash: hash_components(basis, &components),
        version: GROUPING_VERSION,
        basis,
        title: title(event),
        culprit: culprit(event),
        handled: handled(event),
    }
}

/// The components the default rules hash (what `{{ default }}` in a fingerprint expands to).
pub fn default_components(event: &EventView<'_>) -> (GroupingBasis, Vec<String>) {
    if let Some(components) = stacktrace_components(event) {
        return (GroupingBasis::Stacktrace, components);
    }
    if !event.exceptions.is_empty() {
        let mut components = Vec::with_capacity(event.exceptions.len() * 2);
        for exc in &event.exceptions {
            push_type_and_value(&mut components, exc.ty.as_deref(), exc.value.as_deref());
        }
        return (GroupingBasis::Exception, components);
    }
    if let Some(template) = non_empty(event.message_template.as_deref()) {
        return (GroupingBasis::Message, vec![format!("message:{template}")]);
    }
    if let Some(message) = non_empty(event.message.as_deref()) {
        return (
            GroupingBasis::Message,
            vec![format!("message:{}", parameterize(message))],
        );
    }
    let mut components = vec!["<no grouping information>".to_string()];
    if let Some(t) = non_empty(event.transaction.as_deref()) {
        components.push(format!("transaction:{t}"));
    }
    if let Some(l) = non_empty(event.logger.as_deref()) {
        components.push(format!("logger:{l}"));
    }
    (GroupingBasis::Fallback, components)
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

fn push_type_and_value(out: &mut Vec<String>, ty: Option<&str>, value: Option<&str>) {
    if let Some(ty) = non_empty(ty) {
        out.push(format!("type:{ty}"));
    }
    if let Some(value) = non_empty(value) {
        out.push(format!("value:{}", parameterize(value)));
    }
}

/// Expands a custom fingerprint; `None` when there is none, or when it is only
/// `{{ default }}` (which must hash exactly like no fingerprint at all).
fn custom_fingerprint(event: &EventView<'_>) -> Option<Vec<String>> {
    let fp = event.fingerprint.as_ref().filter(|fp| !fp.is_empty())?;
    if fp.len() == 1 && variable_name(&fp[0]).as_deref() == Some("default") {
        return None;
    }
    let mut components = Vec::with_capacity(fp.len());
    for entry in fp {
        match variable_name(entry).as_deref() {
            Some("default") => components.extend(default_components(event).1),
            Some("transaction") => components.push(opt_string(event.transaction.as_deref())),
            Some("logger") => components.push(opt_string(event.logger.as_deref())),
            Some("level") => components.push(event.level.as_str().to_string()),
            Some("message") => components.push(
                event
                    .message
                    .as_deref()
                    .map(|m| parameterize(m).into_owned())
                    .unwrap_or_default(),
            ),
            Some("type") => components.push(opt_string(
                event.exceptions.last().and_then(|e| e.ty.as_deref()),
            )),
            _ => components.push(format!("fp:{entry}")),
        }
    }
    Some(components)
}

fn opt_string(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

/// `{{ name }}` → `name` (lower-cased, whitespace-tolerant); `None` for plain entries.
fn variable_name(entry: &str) -> Option<String> {
    let inner = entry
        .trim()
        .strip_prefix("{{")?
        .strip_suffix("}}")?
        .trim()
        .to_ascii_lowercase();
    Some(inner)
}

fn hash_components(basis: GroupingBasis, components: &[String]) -> String {
    let mut h = Sha256::new();
    // Length prefixes make ["ab","c"] and ["a","bc"] hash differently.
    h.update(basis.as_str().as_bytes());
    for c in components {
        h.update((c.len() as u64).to_le_bytes());
        h.update(c.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

fn handled(event: &EventView<'_>) -> Option<bool> {
    let mut result = None;
    for m in event.exceptions.iter().filter_map(|e| e.mechanism.as_ref()) {
        match m.handled {
            Some(false) => return Some(false),
            Some(true) => result = Some(true),
            None => {}
        }
    }
    result
}
