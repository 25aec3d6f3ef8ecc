//! The Sentry wire protocol, accepted liberally.
//!
//! Official SDKs must be able to report to lookout by changing only their DSN, so this crate
//! parses what they send without being stricter than Sentry itself: unknown item types and
//! fields are skipped, a malformed field is dropped rather than the event.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod body;
mod de;
pub mod dsn;
pub mod envelope;
pub mod event;
pub mod items;
pub mod limits;
