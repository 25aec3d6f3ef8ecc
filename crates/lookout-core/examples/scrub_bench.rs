//! Throughput of the ingest-path pure functions on a realistic ~7 KB Python SDK event.
//!
//! Run: `cargo run --release -p lookout-core --example scrub_bench`

use std::hint::black_box;
use std::time::{Duration, Instant};

use lookout_core::grouping::{group, parameterize};
use lookout_core::scrub::Scrubber;
use lookout_core::settings::ScrubSettings;
use serde_json::{json, Value};

fn frame(i: usize) -> Value {
    let in_app = i >= 5;
    let module = if in_app {
        format!("shop.services.orders_{i}")
    } else {
        format!("django.core.handlers.layer_{i}")
    };
    json!({
        "filename": format!("{}.py", module.replace('.', "/")),
        "abs_path": format!("/srv/shop/releases/20240501/{}.py", module.replace('.', "/")),
        "module": module,
        "function": format!("handle_step_{i}"),
        "lineno": 100 + i,
        "in_app": in_app,
        "context_line": format!("        result = self.process(order_id, step={i})"),
        "pre_context": ["    def handle(self, request):", "        order_id = request.GET['id']"],
        "post_context": ["        return result", ""],
        "vars": {
            "self": "<OrderService object at 0x7f3a1c2b9d90>",
            "order_id": "'ord_8812734'",
            "step": i.to_string(),
            "token": "'tok_live_abcdef'",
        }
    })
}

fn event() -> Vec<u8> {
    let frames: Vec<Value> = (0..9).map(frame).collect();
    let crumbs: Vec<Value> = (0..5)
        .map(|i| {
            json!({
                "timestamp": 1_714_557_600.0 + f64::from(i),
                "category": "httplib",
                "type": "http",
                "data": {"url": format!("https://api.payments.example.com/v1/charges/{i}?expand=customer"),
                         "method": "POST", "status_code": 200, "reason": "OK"}
            })
        })
        .collect();
    let v = json!({
        "event_id": "fc6d8c0c43fc4630ad850ee518f1b9d0",
        "timestamp": "2024-05-01T10:00:00.123456Z",
        "platform": "python",
        "level": "error",
        "logger": "django.request",
        "server_name": "web-1",
        "release": "shop@2024.05.01+3f2a9c1",
        "environment": "production",
        "transaction": "/orders/{order_id}/pay",
        "sdk": {"name": "sentry.python.django", "version": "2.3.1",
                "packages": [{"name": "pypi:sentry-sdk", "version": "2.3.1"}]},
        "exception": {"values": [{
            "type": "KeyError",
            "value": "'customer_4471' not found in cache shard 12 (10.0.3.17:6379)",
            "module": null,
            "mechanism": {"type": "django", "handled": false},
            "stacktrace": {"frames": frames}
        }]},
        "breadcrumbs": {"values": crumbs},
        "request": {
            "url": "https://shop.example.com/orders/8812734/pay",
            "method": "POST",
            "query_string": "ref=mail&utm_source=newsletter",
            "headers": {"Host": "shop.example.com", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)",
                        "Accept": "text/html", "Cookie": "sessionid=abc123; csrftoken=def456",
                        "Content-Type": "application/x-www-form-urlencoded"},
            "data": {"card_holder": "Bob Smith", "amount": "19.99", "currency": "EUR"},
            "env": {"SERVER_NAME": "web-1", "SERVER_PORT": "443", "REMOTE_ADDR": "203.0.113.9"}
        },
        "user": {"id": "4471", "email": "bob@example.com", "ip_address": "203.0.113.9"},
        "contexts": {
            "runtime": {"name": "CPython", "version": "3.12.3"},
            "os": {"name": "Linux", "version": "6.1.0"},
            "trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "op": "http.server"}
        },
        "modules": {"django": "5.0.4", "psycopg": "3.1.18", "redis": "5.0.4", "celery": "5.4.0",
                    "requests": "2.31.0", "sentry-sdk": "2.3.1"},
        "tags": {"tenant": "acme", "region": "eu-west-1"},
        "extra": {"sys.argv": ["gunicorn", "shop.wsgi"]}
    });
    serde_json::to_vec(&v).expect("serialisable")
}

fn measure(mut f: impl FnMut() -> usize) -> (u64, Duration) {
    for _ in 0..200 {
        black_box(f());
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            black_box(f());
            n += 1;
        }
    }
    (n, start.elapsed())
}

fn main() {
    let bytes = event();
    let scrubber = Scrubber::new(&ScrubSettings::default());
    let replaced = scrubber.scrub(&bytes).expect("valid").replaced;
    println!("event: {} bytes, {} values scrubbed", bytes.len(), replaced);

    let (n, t) = measure(|| {
        scrubber
            .scrub(black_box(&bytes))
            .map_or(0, |o| o.json.len())
    });
    let secs = t.as_secs_f64();
    println!(
        "scrub (with replacements): {:>8.1} MB/s  {:>9.0} events/s",
        (n as f64 * bytes.len() as f64) / secs / 1e6,
        n as f64 / secs
    );

    let clean = scrubber.scrub(&bytes).expect("valid").json.into_owned();
    let (n, t) = measure(|| scrubber.scrub(black_box(&clean)).map_or(0, |o| o.replaced));
    let secs = t.as_secs_f64();
    println!(
        "scrub (already clean):     {:>8.1} MB/s  {:>9.0} events/s",
        (n as f64 * clean.len() as f64) / secs / 1e6,
        n as f64 / secs
    );

    match lookout_sentry::event::parse_event(&bytes) {
        Ok(view) => {
            let g = group(&view);
            println!(
                "grouping: {:?} {} | {} | {}",
                g.basis, g.hash, g.title, g.culprit
            );
            let (n, t) = measure(|| group(black_box(&view)).hash.len());
            println!(
                "group:                     {:>9.0} events/s",
                n as f64 / t.as_secs_f64()
            );
        }
        Err(e) => println!("group: skipped, parse_event failed: {e:?}"),
    }

    let messages = [
        "'customer_4471' not found in cache shard 12 (10.0.3.17:6379)",
        "User 8812734 failed to pay order ord_8812734 at 2024-05-01T10:00:00Z",
        "Timeout after 30.5s calling https://api.payments.example.com/v1/charges/42",
        "Invalid value for field 'amount': expected a number",
    ];
    let (n, t) = measure(|| {
        messages
            .iter()
            .map(|m| parameterize(black_box(m)).len())
            .sum()
    });
    println!(
        "parameterize:              {:>9.0} messages/s",
        n as f64 * messages.len() as f64 / t.as_secs_f64()
    );
}
