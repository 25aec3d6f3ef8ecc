//! The server's log set-up: `tracing` lines on stderr, filtered by `LOOKOUT_LOG`, with
//! colours only when stderr is a terminal (a journal or a log file gets plain text).

use std::io::IsTerminal;

/// Installs the subscriber.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOOKOUT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
