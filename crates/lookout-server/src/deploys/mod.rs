//! Deploys on the server: the `[deploy.watch]` settings, and the watch after each deploy
//! that judges its release by what it does in the window after it (errors per minute
//! against the same length before, new issues first seen in the release, unhandled
//! errors, crash-free sessions), raising a `deploy_bad` signal for the alert engine and
//! calling the rollback hook when the verdict is bad.

pub mod config;
pub mod watch;
