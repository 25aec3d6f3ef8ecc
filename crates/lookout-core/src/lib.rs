//! Pure domain logic of lookout. Nothing here performs I/O or reads the wall clock:
//! callers pass data and a [`clock::Clock`], and get decisions back.

pub mod alert;
pub mod backoff;
pub mod clock;
pub mod deploy;
pub mod deploy_watch;
pub mod exit;
pub mod grouping;
pub mod health;
pub mod heartbeat;
pub mod histogram;
pub mod interpolate;
pub mod issue;
pub mod limits;
pub mod maintenance;
pub mod monitor;
pub mod schedule;
pub mod scrub;
pub mod settings;
pub mod signal;
pub mod slo;
pub mod slug;
pub mod stable;
pub mod stats;
