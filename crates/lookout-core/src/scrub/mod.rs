//! Server-side data scrubbing before anything is stored, on by default. A streaming
//! rewriter over the raw JSON bytes: it never builds a tree, copies nothing while nothing
//! is sensitive, and splices `"[Filtered]"` over the values it must hide.
//!
//! The parts: `keys` decides which keys name secrets, `rewriter` walks the JSON and hides
//! their values, `text` hides secrets inside strings (`key=value` pairs, URL passwords,
//! card numbers), `json_string` decodes and encodes the strings it rewrites.

mod json_string;
mod keys;
mod rewriter;
mod text;

use std::borrow::Cow;

use crate::settings::ScrubSettings;
use keys::SensitiveKeys;

/// What a scrubbed value becomes.
pub const FILTERED: &str = "[Filtered]";
/// Deeper input is refused rather than risking the stack; serde_json stops at 128.
const MAX_DEPTH: usize = 512;

/// The scrubber could not read its input; the caller validated it, so this is a defect
/// or an attack, never a normal event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrubError {
    /// The bytes are not JSON.
    #[error("invalid JSON at byte {offset}")]
    Invalid {
        /// Where reading stopped.
        offset: usize,
    },
    /// The JSON nests deeper than the scrubber follows.
    #[error("JSON nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// The result of scrubbing one payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrubOutput<'a> {
    /// The payload, borrowed when nothing was replaced.
    pub json: Cow<'a, [u8]>,
    /// How many values (or parts of strings) were replaced.
    pub replaced: usize,
}

/// A scrubber configured from a project's settings; cheap to share across threads.
#[derive(Debug, Clone)]
pub struct Scrubber {
    enabled: bool,
    keys: SensitiveKeys,
    credit_cards: bool,
    ip_addresses: bool,
}

impl Scrubber {
    /// Builds a scrubber from `settings`.
    pub fn new(settings: &ScrubSettings) -> Self {
        Self {
            enabled: settings.enabled,
            keys: SensitiveKeys::new(&settings.extra_keys, &settings.safe_keys),
            credit_cards: settings.credit_cards,
            ip_addresses: settings.ip_addresses,
        }
    }

    /// Scrubs one JSON payload (an event, or any JSON item of an envelope).
    pub fn scrub<'a>(&self, json: &'a [u8]) -> Result<ScrubOutput<'a>, ScrubError> {
        if !self.enabled {
            return Ok(ScrubOutput {
                json: Cow::Borrowed(json),
                replaced: 0,
            });
        }
        if let Err(e) = std::str::from_utf8(json) {
            return Err(ScrubError::Invalid {
                offset: e.valid_up_to(),
            });
        }
        let (out, replaced) = rewriter::rewrite(self, json)?;
        Ok(ScrubOutput {
            json: out,
            replaced,
        })
    }
}
