//! Bodies of the fuzz targets, kept toolchain-independent so they also run as plain tests.

use lookout_sentry::envelope::{self, ItemType};
use lookout_sentry::{body, event, items};

/// Frames an envelope, then parses every payload with the parser its type selects.
pub fn envelope(data: &[u8]) {
    if let Ok(env) = envelope::parse(data) {
        for item in &env.items {
            let _ = item.ty.data_category();
            match item.ty {
                ItemType::Event => {
                    let _ = event::parse_event(item.payload);
                }
                ItemType::Transaction => {
                    if let Ok(t) = items::parse_transaction(item.payload) {
                        let _ = t.duration_ms();
                    }
                }
                ItemType::Span => {
                    for s in items::parse_spans(item.payload).into_iter().flatten() {
                        let _ = (s.duration_ms(), s.is_error());
                    }
                }
                ItemType::Session => {
                    let _ = items::parse_session(item.payload);
                }
                ItemType::Sessions => {
                    let _ = items::parse_sessions(item.payload);
                }
                ItemType::ClientReport => {
                    let _ = items::parse_client_report(item.payload);
                }
                ItemType::CheckIn => {
                    let _ = items::parse_check_in(item.payload);
                }
                ItemType::Attachment | ItemType::Other(_) => {}
            }
        }
    }
    // The legacy store body decoder sees raw request bytes too.
    let _ = body::decode_legacy_store_body(data, 1 << 16);
}

/// Parses an event payload.
pub fn event(data: &[u8]) {
    if let Ok(e) = event::parse_event(data) {
        let _ = e.level.as_str();
    }
}
