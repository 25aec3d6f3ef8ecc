//! Where the request side of ingest spends its time, stage by stage, on real SDK traffic:
//! the requests of a `replay.py --keep-pack` pack (see bench/README.md) are decoded,
//! framed, scrubbed, parsed, grouped and compressed on one thread, without HTTP or a
//! database. Prints µs per event for each stage, and stored bytes per event with and
//! without a payload dictionary trained on the first 1,000 events.
//!
//! Run: `cargo run --release -p lookout-server --example ingest_stages -- PACK [N]`

use std::hint::black_box;
use std::time::{Duration, Instant};

use lookout_core::grouping;
use lookout_core::scrub::Scrubber;
use lookout_core::settings::ScrubSettings;
use lookout_sentry::body::{self, ContentEncoding};
use lookout_sentry::envelope::{self, ItemType};
use lookout_sentry::event::parse_event;
use lookout_server::payload::compress_with;

struct Request {
    encoding: String,
    body: Vec<u8>,
}

fn load(path: &str, want: usize) -> Vec<Request> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() && out.len() < want {
        let nl = at
            + data[at..]
                .iter()
                .position(|&b| b == b'\n')
                .expect("length line");
        let n: usize = std::str::from_utf8(&data[at..nl])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let raw = &data[nl + 1..nl + 1 + n];
        at = nl + 1 + n;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("headers end");
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let encoding = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-encoding")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        out.push(Request {
            encoding,
            body: raw[split + 4..].to_vec(),
        });
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let pack = args
        .next()
        .expect("usage: ingest_stages PACK [N] (a replay.py --keep-pack pack)");
    let n: usize = args.next().map_or(20_000, |v| v.parse().expect("N"));
    let reqs = load(&pack, n);
    let scrubber = Scrubber::new(&ScrubSettings::default());
    // As the server does: a dictionary trained on the project's first events (every
    // tenth is held out there; here they all train, the difference is small).
    let mut first = Vec::new();
    'outer: for r in &reqs {
        let enc = ContentEncoding::parse(&r.encoding).expect("encoding");
        let decoded = body::decode(enc, &r.body, 20 << 20).expect("decode");
        for item in envelope::parse(&decoded).expect("envelope").items {
            if item.ty == ItemType::Event {
                first.push(scrubber.scrub(item.payload).expect("scrub").json.to_vec());
                if first.len() == 1000 {
                    break 'outer;
                }
            }
        }
    }
    let dict = zstd::dict::from_samples(&first, 64 * 1024).expect("train");
    let dict = zstd::dict::EncoderDictionary::copy(&dict, 1);
    let mut t = [Duration::ZERO; 7];
    let names = [
        "decode (gzip/br)",
        "envelope framing",
        "scrub",
        "parse_event",
        "grouping",
        "zstd + dictionary",
        "zstd alone",
    ];
    let (mut events, mut in_bytes, mut json_bytes, mut out_bytes, mut plain_bytes) =
        (0usize, 0, 0, 0, 0);
    for _round in 0..2 {
        for r in &reqs {
            let s = Instant::now();
            let enc = ContentEncoding::parse(&r.encoding).expect("encoding");
            let decoded = body::decode(enc, &r.body, 20 << 20).expect("decode");
            let s1 = Instant::now();
            let env = envelope::parse(&decoded).expect("envelope");
            let s2 = Instant::now();
            t[0] += s1 - s;
            t[1] += s2 - s1;
            for item in env.items.iter().filter(|i| i.ty == ItemType::Event) {
                let a = Instant::now();
                let scrubbed = scrubber.scrub(item.payload).expect("scrub");
                let b = Instant::now();
                let view = parse_event(&scrubbed.json).expect("parse");
                let c = Instant::now();
                let g = black_box(grouping::group(&view));
                let d = Instant::now();
                let z = compress_with(Some(&dict), &scrubbed.json);
                let e = Instant::now();
                let plain = compress_with(None, &scrubbed.json);
                t[6] += e.elapsed();
                t[2] += b - a;
                t[3] += c - b;
                t[4] += d - c;
                t[5] += e - d;
                events += 1;
                in_bytes += r.body.len();
                json_bytes += scrubbed.json.len();
                out_bytes += z.len();
                plain_bytes += plain.len();
                black_box(g);
            }
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / events as f64;
    println!(
        "{} requests ×2, {events} events; per event: {:.0} B sent, {:.0} B JSON, \
         {:.0} B stored with the dictionary, {:.0} B without",
        reqs.len(),
        in_bytes as f64 / events as f64,
        json_bytes as f64 / events as f64,
        out_bytes as f64 / events as f64,
        plain_bytes as f64 / events as f64
    );
    let mut total = 0.0;
    for (name, d) in names.iter().zip(t) {
        println!("{name:<18} {:>7.1} µs/event", per(d));
    }
    for d in &t[..6] {
        total += per(*d);
    }
    println!(
        "{:<18} {total:>7.1} µs/event (with the dictionary)",
        "total"
    );
}
