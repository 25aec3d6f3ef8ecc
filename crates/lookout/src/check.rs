//! `lookout check URL`: one check from the command line, with the timings per phase, the
//! certificate's expiry and the verdict. The exit code is the verdict, for scripts.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use lookout_core::clock::{Clock, SystemClock};
use lookout_core::exit;
use lookout_probe::http::Keyword;
use lookout_probe::{
    Check, CheckResult, HttpCheck, JsonCondition, Status, StatusCodes, TcpCheck, TlsOptions,
};

use crate::Failure;

/// Options of `lookout check`.
#[derive(Args)]
#[command(after_help = exit::TABLE)]
pub struct CheckArgs {
    /// What to check: an http(s):// URL, or tcp://host:port.
    target: String,
    /// Require this text in the body.
    #[arg(long)]
    keyword: Option<String>,
    /// Require this text to be absent from the body.
    #[arg(long)]
    keyword_absent: Option<String>,
    /// A condition on the JSON body, e.g. '$.status == "ok"'.
    #[arg(long)]
    json: Option<String>,
    /// Read the body as a health document (ok/degraded/unhealthy or pass/warn/fail).
    #[arg(long)]
    health: bool,
    /// Give up after this long.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    timeout: Duration,
    /// Request method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Request body.
    #[arg(long)]
    body: Option<String>,
    /// Accepted status codes, e.g. 200-299,301.
    #[arg(long, default_value = "200-299")]
    expect: String,
    /// Do not follow redirects.
    #[arg(long)]
    no_follow: bool,
    /// Degraded when the response takes longer than this.
    #[arg(long, value_parser = crate::parse_duration)]
    max_response_time: Option<Duration>,
    /// Also trust the CA certificates in this PEM file.
    #[arg(long)]
    ca_file: Option<std::path::PathBuf>,
}

/// Runs the check and prints the report; the exit code is the verdict. A target or option
/// that cannot be checked is bad usage, never "down".
pub fn run(args: CheckArgs) -> Result<ExitCode, Failure> {
    let check = build(&args).map_err(|e| Failure::Usage(anyhow!(e)))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("cannot start the async runtime: {e}"))?;
    let result = rt.block_on(check.run(SystemClock.now_ms()));
    print!("{}", report(&args.target, &result));
    Ok(ExitCode::from(match result.status {
        Status::Up => exit::OK,
        Status::Degraded => exit::FAILED,
        Status::Down => exit::DOWN,
    }))
}

fn build(args: &CheckArgs) -> Result<Check, String> {
    if args.target.starts_with("tcp://") {
        return Ok(Check::Tcp(TcpCheck::parse(&args.target, args.timeout)?));
    }
    if !args.target.contains("://") {
        return Err(format!(
            "`{}` is not a target: give an http(s):// URL or tcp://host:port",
            args.target
        ));
    }
    let mut c = HttpCheck::new(args.target.clone());
    c.validate_url().map_err(|e| e.to_string())?;
    c.timeout = args.timeout;
    c.method = args
        .method
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("`{}` is not an HTTP method", args.method))?;
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("header `{h}` must be `Name: value`"))?;
        c.headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    c.body = args.body.clone().map(Into::into);
    c.accepted = StatusCodes::parse(&args.expect).map_err(|e| format!("--expect: {e}"))?;
    c.follow_redirects = !args.no_follow;
    c.keyword = match (&args.keyword, &args.keyword_absent) {
        (Some(_), Some(_)) => return Err("give --keyword or --keyword-absent, not both".into()),
        (Some(k), None) => Some(Keyword::Present(k.clone())),
        (None, Some(k)) => Some(Keyword::Absent(k.clone())),
        (None, None) => None,
    };
    c.json_condition = args
        .json
        .as_deref()
        .map(JsonCondition::parse)
        .transpose()
        .map_err(|e| format!("--json: {e}"))?;
    c.health = args.health;
    c.max_response_ms = args.max_response_time.map(|d| d.as_millis() as u64);
    if let Some(path) = &args.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read --ca-file {}: {e}", path.display()))?;
        c.tls = TlsOptions::with_extra_roots_pem(&pem).map_err(|e| format!("--ca-file: {e}"))?;
    }
    Ok(Check::Http(Box::new(c)))
}

fn report(target: &str, r: &CheckResult) -> String {
    let mut out = format!("{target}\n");
    for hop in &r.redirects {
        out.push_str(&format!("  redirect    {} -> {}\n", hop.status, hop.to));
    }
    let t = &r.timings;
    for (name, v) in [
        ("DNS", t.dns_ms),
        ("connect", t.connect_ms),
        ("TLS", t.tls_ms),
        ("first byte", t.first_byte_ms),
        ("total", t.total_ms),
    ] {
        if let Some(ms) = v {
            out.push_str(&format!("  {name:<11} {ms:>8.1} ms\n"));
        }
    }
    if let Some(code) = r.http_status {
        out.push_str(&format!("  HTTP status {code}\n"));
    }
    if let Some(tls) = &r.tls {
        let validity = match &tls.error {
            None => "valid".to_string(),
            Some(e) => format!("INVALID ({e})"),
        };
        out.push_str(&format!(
            "  certificate {validity}, expires {} ({} days left)\n              subject {}; issuer {}\n",
            date(tls.not_after_unix),
            tls.days_left,
            tls.subject,
            tls.issuer
        ));
    }
    if let Some(d) = &r.detail {
        out.push_str(&format!("  detail      {d}\n"));
    }
    let verdict = match r.status {
        Status::Up => "UP",
        Status::Degraded => "DEGRADED",
        Status::Down => "DOWN",
    };
    match &r.error {
        Some(e) => out.push_str(&format!("verdict: {verdict}: {e}\n")),
        None => out.push_str(&format!("verdict: {verdict}\n")),
    }
    out
}

/// `YYYY-MM-DD` (UTC) of Unix seconds. Counted on civil time, whose range, unlike
/// `jiff::Timestamp`'s, reaches 9999-12-31: the notAfter of certificates that never expire.
fn date(unix: i64) -> String {
    jiff::civil::DateTime::constant(1970, 1, 1, 0, 0, 0, 0)
        .checked_add(jiff::SignedDuration::from_secs(unix))
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| format!("{unix} (Unix seconds)"))
}

#[cfg(test)]
mod tests {
    use super::date;

    #[test]
    fn dates_of_unix_seconds() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(date(1_772_366_400), "2026-03-01");
        assert_eq!(date(253_402_300_799), "9999-12-31");
        assert_eq!(date(i64::MAX), format!("{} (Unix seconds)", i64::MAX));
    }
}
