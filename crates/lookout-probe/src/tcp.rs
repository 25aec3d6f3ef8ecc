//! The TCP check: can a connection be opened, and how fast.

use std::time::{Duration, Instant};

use crate::net::{ms_since, open, Deadline};
use crate::{CheckError, CheckResult, Status, Timings};

/// Connect to `host:port`.
#[derive(Debug, Clone)]
pub struct TcpCheck {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Overall timeout.
    pub timeout: Duration,
}

impl TcpCheck {
    /// Parses `host:port`, `[v6]:port` or `tcp://host:port`.
    pub fn parse(target: &str, timeout: Duration) -> Result<Self, String> {
        let (host, port) = split_host_port(target.strip_prefix("tcp://").unwrap_or(target))
            .ok_or_else(|| {
                format!("`{target}` is not host:port (e.g. tcp://db.example.org:5432)")
            })?;
        Ok(TcpCheck {
            host,
            port,
            timeout,
        })
    }

    /// Runs the check once.
    pub async fn run(&self) -> CheckResult {
        let deadline = Deadline::after(self.timeout);
        let mut timings = Timings::default();
        let start = Instant::now();
        let outcome = async {
            open(&self.host, self.port, &deadline, &mut timings).await?;
            Ok::<(), CheckError>(())
        }
        .await;
        timings.total_ms = Some(ms_since(start));
        let result = CheckResult::new(timings);
        match outcome {
            Ok(()) => result,
            Err(e) => result.fail(Status::Down, e),
        }
    }
}

/// Splits `host:port`, accepting bracketed IPv6 literals.
pub(crate) fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.trim_end_matches('/').rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?))
}
