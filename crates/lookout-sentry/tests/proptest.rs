//! Property tests: the parsers never panic, and framing round-trips.

use lookout_sentry::{envelope, event, items};
use proptest::prelude::*;

/// Serialises items the way an SDK does when it sets explicit lengths.
fn serialise(items: &[(String, Vec<u8>)], trailing_newline: bool) -> Vec<u8> {
    let mut out = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n".to_vec();
    for (i, (ty, payload)) in items.iter().enumerate() {
        let header = serde_json::json!({ "type": ty, "length": payload.len() });
        out.extend(header.to_string().bytes());
        out.push(b'\n');
        out.extend(payload);
        if trailing_newline || i + 1 < items.len() {
            out.push(b'\n');
        }
    }
    out
}

fn json_ish() -> impl Strategy<Value = Vec<u8>> {
    // Mostly JSON-shaped noise so the parsers get past the first byte.
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("null".to_string()),
        Just("\"exception\"".to_string()),
        Just("\"values\"".to_string()),
        Just("\"frames\"".to_string()),
        Just("\"threads\"".to_string()),
        Just("\"tags\"".to_string()),
        Just("\"logentry\"".to_string()),
        Just("\"timestamp\"".to_string()),
        Just("\"2024-03-05T12:34:56.5+01:00\"".to_string()),
        Just("\"type\"".to_string()),
        Just("\"length\"".to_string()),
        Just("\n".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "\"[a-z\\\\\"]{0,6}\"",
    ];
    prop::collection::vec(token, 0..64).prop_map(|t| t.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn envelope_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = envelope::parse(&bytes);
    }

    #[test]
    fn event_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = event::parse_event(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_json_shaped_input(bytes in json_ish()) {
        let _ = event::parse_event(&bytes);
        let _ = envelope::parse(&bytes);
        let _ = items::parse_transaction(&bytes);
        let _ = items::parse_session(&bytes);
        let _ = items::parse_sessions(&bytes);
        let _ = items::parse_client_report(&bytes);
        let _ = items::parse_check_in(&bytes);
    }

    #[test]
    fn framing_round_trips(
        items in prop::collection::vec((".{0,12}", prop::collection::vec(any::<u8>(), 0..200)), 0..12),
        trailing_newline in any::<bool>(),
    ) {
        let body = serialise(&items, trailing_newline);
        let env = envelope::parse(&body).unwrap();
        prop_assert_eq!(env.headers.event_id.as_deref(), Some("9ec79c33ec9942ab8353589fcb2e04dc"));
        prop_assert_eq!(env.items.len(), items.len());
        prop_assert_eq!(env.skipped, 0);
        for (got, (ty, payload)) in env.items.iter().zip(&items) {
            prop_assert_eq!(&got.headers.ty, ty);
            prop_assert_eq!(got.ty.as_str(), ty.as_str());
            prop_assert_eq!(got.headers.length, Some(payload.len()));
            prop_assert_eq!(got.payload, &payload[..]);
        }
    }
}
