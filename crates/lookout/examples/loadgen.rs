//! Open-loop load generator for ingest benchmarks: sends the raw HTTP requests of a
//! `replay.py --keep-pack` pack (real sentry-sdk envelopes, each with a fresh event id) at
//! a fixed rate over keep-alive connections, and reports latency percentiles.
//!
//! Latency is measured from the moment each request was *due*, not from when a connection
//! became free to send it, so a slow server cannot hide its queueing by slowing the client
//! down (coordinated omission). The service time (from the actual write) is reported too.
//!
//! ```text
//! cargo run --release -p lookout --example loadgen -- \
//!     --pack PACK --addr 127.0.0.1:PORT --rate 2000 --duration 30 [--skip N] [--count N] \
//!     [--connections 64] [--json-out FILE]
//! ```
//! Pack format (see `shared/bench/replay.lua`): repeated `<byte length>\n<raw request>`.
//! Bounded in time and in request count; refuses non-loopback targets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    pack: String,
    addr: SocketAddr,
    rate: f64,
    duration: f64,
    skip: usize,
    count: usize,
    connections: usize,
    json_out: Option<String>,
}

fn usage(msg: &str) -> ! {
    eprintln!("loadgen: {msg}\nusage: loadgen --pack FILE --addr 127.0.0.1:PORT --rate N --duration SECS [--skip N] [--count N] [--connections N] [--json-out FILE]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut pack = None;
    let mut addr = None;
    let (mut rate, mut duration) = (2000.0, 30.0);
    let (mut skip, mut count, mut connections) = (0, usize::MAX, 64);
    let mut json_out = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        let num = |v: String| -> f64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: `{v}` is not a number")))
        };
        match flag.as_str() {
            "--pack" => pack = Some(val()),
            "--addr" => addr = Some(val()),
            "--rate" => rate = num(val()),
            "--duration" => duration = num(val()),
            "--skip" => skip = num(val()) as usize,
            "--count" => count = num(val()) as usize,
            "--connections" => connections = num(val()) as usize,
            "--json-out" => json_out = Some(val()),
            _ => usage(&format!("unknown argument {flag}")),
        }
    }
    let addr = addr.unwrap_or_else(|| usage("--addr is required"));
    let addr = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| usage(&format!("cannot resolve {addr}")));
    if !addr.ip().is_loopback() {
        usage(&format!("refusing non-loopback target {addr}"));
    }
    if !(rate > 0.0 && duration > 0.0 && duration <= 600.0 && connections > 0) {
        usage("need --rate > 0, 0 < --duration <= 600 and --connections > 0");
    }
    Args {
        pack: pack.unwrap_or_else(|| usage("--pack is required")),
        addr,
        rate,
        duration,
        skip,
        count,
        connections,
        json_out,
    }
}

/// Reads `want` requests after skipping `skip` from a pack.
fn load_pack(path: &str, skip: usize, want: usize) -> std::io::Result<Vec<Vec<u8>>> {
    let mut r = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut index = 0;
    while out.len() < want {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        let len: usize = line.trim().parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad length line {line:?}"),
            )
        })?;
        let mut req = vec![0; len];
        r.read_exact(&mut req)?;
        if index >= skip {
            out.push(req);
        }
        index += 1;
    }
    Ok(out)
}

/// Reads one HTTP/1.1 response; returns its status and whether the server closes.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, bool)> {
    buf.clear();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad status line"))?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let close = header("connection:").is_some_and(|v| v == "close");
    if let Some(len) = header("content-length:").and_then(|v| v.parse::<usize>().ok()) {
        while buf.len() < head_end + len {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        while !buf[head_end..].ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    } else {
        // No length: the body runs to the end of the connection.
        while s.read(&mut chunk)? > 0 {}
        return Ok((status, true));
    }
    Ok((status, close))
}

#[derive(Default)]
struct Tally {
    /// Microseconds from the time the request was due to its complete response.
    latency_us: Vec<u64>,
    /// Microseconds from the write to the complete response.
    service_us: Vec<u64>,
    statuses: std::collections::BTreeMap<u16, u64>,
    errors: u64,
    /// Requests written more than 1 ms after they were due (all connections were busy).
    late: u64,
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    Ok(s)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    lookout_core::stats::nearest_rank(sorted, p).unwrap_or(0) as f64 / 1000.0
}

fn summary(v: &mut [u64]) -> String {
    v.sort_unstable();
    format!(
        "{{\"p50\":{:.3},\"p90\":{:.3},\"p99\":{:.3},\"p999\":{:.3},\"max\":{:.3}}}",
        percentile(v, 50.0),
        percentile(v, 90.0),
        percentile(v, 99.0),
        percentile(v, 99.9),
        v.last().copied().unwrap_or(0) as f64 / 1000.0
    )
}

fn main() {
    let args = parse_args();
    let planned = ((args.rate * args.duration) as usize).min(args.count);
    let reqs = load_pack(&args.pack, args.skip, planned).unwrap_or_else(|e| {
        eprintln!("loadgen: cannot read pack {}: {e}", args.pack);
        std::process::exit(1);
    });
    if reqs.len() < planned {
        eprintln!(
            "loadgen: the pack holds only {} requests after skipping {}; {planned} wanted (each must be sent once: servers dedupe event ids)",
            reqs.len(),
            args.skip
        );
        std::process::exit(1);
    }
    let reqs = Arc::new(reqs);
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    // Connect everything first, then start the clock.
    let conns: Vec<TcpStream> = (0..args.connections)
        .map(|_| {
            connect(args.addr).unwrap_or_else(|e| {
                eprintln!("loadgen: cannot connect to {}: {e}", args.addr);
                std::process::exit(1);
            })
        })
        .collect();
    let start = Instant::now() + Duration::from_millis(50);
    let hard_stop = start + Duration::from_secs_f64(args.duration) + Duration::from_secs(30);
    let handles: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            let (reqs, next, tally, addr) = (reqs.clone(), next.clone(), tally.clone(), args.addr);
            let rate = args.rate;
            std::thread::spawn(move || {
                let mut conn = Some(conn);
                let mut local = Tally::default();
                let mut buf = Vec::with_capacity(4096);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= reqs.len() || Instant::now() > hard_stop {
                        break;
                    }
                    let due = start + Duration::from_secs_f64(i as f64 / rate);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    } else if now - due > Duration::from_millis(1) {
                        local.late += 1;
                    }
                    let sent = Instant::now();
                    let result = (|| -> std::io::Result<(u16, bool)> {
                        if conn.is_none() {
                            conn = Some(connect(addr)?);
                        }
                        let s = conn.as_mut().expect("connected");
                        s.write_all(&reqs[i])?;
                        read_response(s, &mut buf)
                    })();
                    let done = Instant::now();
                    match result {
                        Ok((status, close)) => {
                            local.latency_us.push((done - due).as_micros() as u64);
                            local.service_us.push((done - sent).as_micros() as u64);
                            *local.statuses.entry(status).or_default() += 1;
                            if close {
                                conn = None;
                            }
                        }
                        Err(_) => {
                            local.errors += 1;
                            conn = None;
                        }
                    }
                }
                let mut t = tally.lock().expect("tally");
                t.latency_us.extend(local.latency_us);
                t.service_us.extend(local.service_us);
                for (k, v) in local.statuses {
                    *t.statuses.entry(k).or_default() += v;
                }
                t.errors += local.errors;
                t.late += local.late;
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker thread");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut t = std::mem::take(&mut *tally.lock().expect("tally"));
    let completed = t.latency_us.len();
    let ok: u64 = t
        .statuses
        .iter()
        .filter(|(k, _)| (200..300).contains(*k))
        .map(|(_, v)| v)
        .sum();
    let statuses = t
        .statuses
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect::<Vec<_>>()
        .join(",");
    let latency = summary(&mut t.latency_us);
    let service = summary(&mut t.service_us);
    let json = format!(
        "{{\"target\":\"{}\",\"rate\":{},\"duration_s\":{elapsed:.3},\"connections\":{},\"requests\":{},\"completed\":{completed},\"accepted_2xx\":{ok},\"achieved_per_s\":{:.1},\"errors\":{},\"late_starts\":{},\"statuses\":{{{statuses}}},\"latency_ms\":{latency},\"service_ms\":{service}}}",
        args.addr,
        args.rate,
        args.connections,
        reqs.len(),
        completed as f64 / elapsed,
        t.errors,
        t.late,
    );
    println!(
        "loadgen: {completed} of {} requests in {elapsed:.1}s at a target {}/s over {} connections; 2xx {ok}, errors {}, late starts {}",
        reqs.len(),
        args.rate,
        args.connections,
        t.errors,
        t.late
    );
    println!("loadgen: latency from due time (ms) {latency}; service time (ms) {service}");
    println!("LOADGEN_RESULT {json}");
    if let Some(path) = args.json_out {
        std::fs::write(&path, &json)
            .unwrap_or_else(|e| eprintln!("loadgen: cannot write {path}: {e}"));
    }
}
