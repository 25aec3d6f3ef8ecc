//! Measures `parse_event` throughput on a typical Python-SDK error event (~7 KB).
//!
//! Run: `cargo run --release -p lookout-sentry --example parse_bench`

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use lookout_sentry::event::parse_event;

/// An event shaped like sentry-python's for a Django view error: a two-exception chain with
/// 20 frames in all, breadcrumbs, contexts, request headers and tags.
fn python_event() -> String {
    let mut frames = String::new();
    for i in 0..10 {
        if i > 0 {
            frames.push(',');
        }
        let _ = write!(
            frames,
            r#"{{"filename":"shop/services/module_{i}.py","abs_path":"/srv/app/shop/services/module_{i}.py","function":"handle_step_{i}","module":"shop.services.module_{i}","lineno":{ln},"context_line":"        result = self.process(data, step={i})","vars":{{"step":"{i}"}},"in_app":{in_app}}}"#,
            ln = 40 + i * 7,
            in_app = i % 3 != 0
        );
    }
    let mut crumbs = String::new();
    for i in 0..8 {
        if i > 0 {
            crumbs.push(',');
        }
        let _ = write!(
            crumbs,
            r#"{{"timestamp":"2024-03-05T12:34:{i:02}.123456Z","type":"default","category":"query","message":"SELECT \"shop_order\".\"id\" FROM \"shop_order\" WHERE \"shop_order\".\"id\" = %s","data":{{"db.system":"postgresql"}},"level":"info"}}"#
        );
    }
    format!(
        r#"{{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","timestamp":"2024-03-05T12:34:56.789012Z","platform":"python","level":"error","logger":"django.request","server_name":"web-1","release":"shop@1.4.2","environment":"production","transaction":"/checkout/<int:id>/","transaction_info":{{"source":"route"}},
"sdk":{{"name":"sentry.python.django","version":"2.19.0","packages":[{{"name":"pypi:sentry-sdk","version":"2.19.0"}}],"integrations":["django","logging","stdlib","threading","redis"]}},
"contexts":{{"runtime":{{"name":"CPython","version":"3.12.1","build":"3.12.1 (main, Dec  8 2023, 05:40:51) [GCC 12.2.0]"}},"trace":{{"trace_id":"771a43a4192642f0b136d5159a501700","span_id":"b0e6f15b45c36b12","parent_span_id":"a0e6f15b45c36b11","op":"http.server","status":"internal_error"}},"os":{{"name":"Linux","version":"6.1.0"}}}},
"request":{{"url":"https://shop.example/checkout/7/","method":"POST","query_string":"ref=mail","headers":{{"Host":"shop.example","User-Agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36","Accept":"text/html,application/xhtml+xml","Accept-Language":"en-US,en;q=0.9","Content-Type":"application/x-www-form-urlencoded","X-Forwarded-For":"203.0.113.9"}},"env":{{"SERVER_NAME":"web-1","SERVER_PORT":"8000"}}}},
"user":{{"id":"1042","email":"ada@example.com","ip_address":"203.0.113.9"}},
"tags":{{"route":"checkout","region":"eu-west-1","canary":"false"}},
"modules":{{"django":"5.0.2","sentry-sdk":"2.19.0","redis":"5.0.1","psycopg":"3.1.18"}},
"extra":{{"sys.argv":["manage.py","runserver"]}},
"breadcrumbs":{{"values":[{crumbs}]}},
"exception":{{"values":[
 {{"type":"KeyError","value":"'sku'","module":null,"mechanism":{{"type":"chained","handled":true}},"stacktrace":{{"frames":[{frames}]}}}},
 {{"type":"CheckoutError","value":"could not price order 7","module":"shop.errors","mechanism":{{"type":"django","handled":false}},"stacktrace":{{"frames":[{frames}]}}}}
]}}}}"#
    )
}

fn main() {
    let body = python_event();
    let bytes = body.as_bytes();
    let check = parse_event(bytes).expect("benchmark event parses");
    assert_eq!(check.exceptions.len(), 2);
    assert_eq!(
        check.exceptions[1]
            .stacktrace
            .as_ref()
            .map(|s| s.frames.len()),
        Some(10)
    );

    let iterations = 200_000;
    for _ in 0..5_000 {
        black_box(parse_event(black_box(bytes)).ok());
    }
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(parse_event(black_box(bytes)).ok());
    }
    let secs = start.elapsed().as_secs_f64();
    // The floor: serde_json skipping the same document without keeping anything.
    let floor_start = Instant::now();
    for _ in 0..iterations {
        black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(bytes)).ok());
    }
    let floor = floor_start.elapsed().as_secs_f64();
    println!(
        "floor (serde_json IgnoredAny over the same bytes): {:.0} documents/s",
        iterations as f64 / floor
    );
    println!(
        "parse_event: {} bytes/event, {iterations} iterations in {secs:.2} s = {:.0} events/s ({:.1} µs/event, {:.0} MB/s) on one core",
        bytes.len(),
        iterations as f64 / secs,
        secs * 1e6 / iterations as f64,
        bytes.len() as f64 * iterations as f64 / secs / 1e6,
    );
}
