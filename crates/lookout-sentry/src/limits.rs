//! Size limits on what clients may send, and the `X-Sentry-Rate-Limits` answer header.

use std::fmt::Write as _;

/// Size and count limits applied at ingest.
///
/// The values follow Sentry Relay's defaults where those fit one small machine, and are
/// smaller where Relay's (sized for a fleet) would let one client exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request body as received (possibly compressed). Relay: `max_envelope_size` is 100 MiB,
    /// too much for a 2-core box; 20 MiB still fits any attachment we accept.
    pub max_envelope_bytes: usize,
    /// Request body after decompression; caps decompression bombs. Relay applies
    /// `max_envelope_size` (100 MiB) here too; we use 20 MiB.
    pub max_decompressed_bytes: usize,
    /// One event item. Relay: `max_event_size` = 1 MiB.
    pub max_event_bytes: usize,
    /// One transaction item. Relay uses `max_event_size` (1 MiB) for transactions as well.
    pub max_transaction_bytes: usize,
    /// One attachment item. Relay: `max_attachment_size` = 100 MiB; we keep 10 MiB.
    pub max_attachment_bytes: usize,
    /// Session updates per envelope and aggregates per `sessions` item. Relay:
    /// `max_session_count` = 100.
    pub max_session_items: usize,
    /// Items per envelope; Relay has no fixed count, we cap framing work per request.
    pub max_items: usize,
}

const MIB: usize = 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_envelope_bytes: 20 * MIB,
            max_decompressed_bytes: 20 * MIB,
            max_event_bytes: MIB,
            max_transaction_bytes: MIB,
            max_attachment_bytes: 10 * MIB,
            max_session_items: 100,
            max_items: crate::envelope::MAX_ITEMS,
        }
    }
}

/// Formats the `X-Sentry-Rate-Limits` header value.
///
/// Each entry is `(retry_after_secs, categories, scope, reason_code)`; an empty category list
/// means every category. The wire form is `retry_after:cat;cat:scope[:reason_code]`, entries
/// separated by `, `; SDKs read it to back off per data category.
pub fn format_rate_limits(entries: &[(u64, &[&str], &str, Option<&str>)]) -> String {
    let mut out = String::new();
    for (i, (secs, categories, scope, reason)) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{secs}:{}:{scope}", categories.join(";"));
        if let Some(reason) = reason {
            let _ = write!(out, ":{reason}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_documented_values() {
        let l = Limits::default();
        assert_eq!(l.max_envelope_bytes, 20 * 1024 * 1024);
        assert_eq!(l.max_decompressed_bytes, 20 * 1024 * 1024);
        assert_eq!(l.max_event_bytes, 1024 * 1024);
        assert_eq!(l.max_transaction_bytes, 1024 * 1024);
        assert_eq!(l.max_attachment_bytes, 10 * 1024 * 1024);
        assert_eq!(l.max_session_items, 100);
        assert_eq!(l.max_items, 1000);
    }

    #[test]
    fn rate_limit_header_format() {
        assert_eq!(
            format_rate_limits(&[(60, &["error", "transaction"], "key", None)]),
            "60:error;transaction:key"
        );
        assert_eq!(
            format_rate_limits(&[
                (60, &["error"], "organization", Some("usage_exceeded")),
                (2700, &[], "project", None),
            ]),
            "60:error:organization:usage_exceeded, 2700::project"
        );
        assert_eq!(format_rate_limits(&[]), "");
    }
}
