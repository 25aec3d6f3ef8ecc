//! DNS and TCP connect with timings, shared by every check kind.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::time::Instant as TokioInstant;

use crate::{CheckError, Phase, Timings};

/// The overall deadline of a check, so each phase gets what is left.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: TokioInstant,
    limit_ms: u64,
}

impl Deadline {
    pub(crate) fn after(timeout: std::time::Duration) -> Self {
        Deadline {
            at: TokioInstant::now() + timeout,
            limit_ms: timeout.as_millis() as u64,
        }
    }

    /// Runs `fut`, turning the deadline into a timeout error naming `phase`.
    pub(crate) async fn run<T>(
        &self,
        phase: Phase,
        fut: impl std::future::Future<Output = Result<T, CheckError>>,
    ) -> Result<T, CheckError> {
        match tokio::time::timeout_at(self.at, fut).await {
            Ok(r) => r,
            Err(_) => Err(CheckError::Timeout {
                phase,
                limit_ms: self.limit_ms,
            }),
        }
    }
}

/// Milliseconds since `start`, as a float so fast loopback phases do not read as 0.
pub(crate) fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Resolves `host` and connects under `deadline`, recording both phases in `timings`.
pub(crate) async fn open(
    host: &str,
    port: u16,
    deadline: &Deadline,
    timings: &mut Timings,
) -> Result<TcpStream, CheckError> {
    let t = Instant::now();
    let addrs = deadline.run(Phase::Dns, resolve(host, port)).await?;
    timings.dns_ms = Some(ms_since(t));
    let t = Instant::now();
    let tcp = deadline.run(Phase::Connect, connect(&addrs)).await?;
    timings.connect_ms = Some(ms_since(t));
    Ok(tcp)
}

/// Resolves `host`. Names under `.invalid` fail at once without asking a resolver, as
/// RFC 6761 asks of resolver libraries.
pub(crate) async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, CheckError> {
    let bare = host.trim_end_matches('.').to_ascii_lowercase();
    if bare == "invalid" || bare.ends_with(".invalid") {
        return Err(CheckError::Dns {
            host: host.to_string(),
            reason: "the .invalid domain never resolves (RFC 6761)".to_string(),
        });
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| CheckError::Dns {
            host: host.to_string(),
            reason: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(CheckError::Dns {
            host: host.to_string(),
            reason: "no address found".to_string(),
        });
    }
    Ok(addrs)
}

/// Connects to the first address that accepts; the error is the last address's.
pub(crate) async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, CheckError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                // Checks send one small request; Nagle would only add latency to it.
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = Some(CheckError::ConnectionRefused {
                    addr: addr.to_string(),
                });
            }
            Err(e) => {
                last = Some(CheckError::Connect {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                });
            }
        }
    }
    Err(last.unwrap_or_else(|| CheckError::Connect {
        addr: String::new(),
        reason: "no address to connect to".to_string(),
    }))
}
