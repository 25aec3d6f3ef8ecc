//! `GET /metrics`: lookout's numbers for Prometheus, built with `prometheus-client`.
//!
//! Most values are read at scrape time from where they already live (the store's outcome
//! counters, issues, outbox and incidents; the monitors' states; the objectives; the
//! writer; the kernel's view of this process), so that several instances sharing one
//! PostgreSQL report the same totals and nothing is counted twice. Only the check
//! durations per phase are observed as checks finish ([`CheckTimings`]).
//!
//! Label sets are bounded: projects, monitors, channels, objectives and rules are what the
//! operator defined; outcomes, categories and reasons come from fixed lists (anything else
//! an SDK reports is `other`); never event ids or URLs.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// A label set: name and value pairs.
type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Check phases observed.
const PHASES: [&str; 5] = ["dns", "connect", "tls", "first_byte", "total"];

fn check_histogram() -> Histogram {
    // 5 ms to 40 s: a local health check to a slow page behind a far CDN.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 14,
    ))
}

/// Durations of checks per monitor and phase, observed as checks finish.
pub struct CheckTimings {
    family: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Default for CheckTimings {
    fn default() -> Self {
        CheckTimings {
            family: Family::new_with_constructor(check_histogram),
        }
    }
}

impl CheckTimings {
    /// Records one check's phases.
    pub fn observe(&self, monitor: &str, t: &lookout_probe::Timings) {
        for (phase, ms) in PHASES.into_iter().zip([
            t.dns_ms,
            t.connect_ms,
            t.tls_ms,
            t.first_byte_ms,
            t.total_ms,
        ]) {
            if let Some(ms) = ms.filter(|v| v.is_finite() && *v >= 0.0) {
                self.family
                    .get_or_create(&labels(&[("monitor", monitor), ("phase", phase)]))
                    .observe(ms / 1000.0);
            }
        }
    }
}

/// Shares from 0 to 1 end in `_ratio`, as Prometheus names them (the crate's own
/// `Ratios` would say `_ratios`).
fn ratio() -> Unit {
    Unit::Other("ratio".to_string())
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The value of a label from a fixed list, `other` for anything else.
fn bounded<'a>(value: &'a str, known: &[&'a str]) -> &'a str {
    if value.is_empty() {
        ""
    } else if known.contains(&value) {
        value
    } else {
        "other"
    }
}

const OUTCOMES: &[&str] = &[
    "accepted",
    "rate_limited",
    "quota",
    "invalid",
    "too_large",
    "client_discard",
    "unsupported",
    "queue_full",
];
const CATEGORIES: &[&str] = &[
    "error",
    "transaction",
    "span",
    "session",
    "attachment",
    "monitor",
    "internal",
    "default",
    "log_item",
    "profile",
    "replay",
    "metric_bucket",
    "user_report_v2",
];
const REASONS: &[&str] = &[
    "queue_overflow",
    "cache_overflow",
    "buffer_overflow",
    "ratelimit_backoff",
    "network_error",
    "sample_rate",
    "before_send",
    "event_processor",
    "send_error",
    "internal_sdk_error",
    "insufficient_data",
    "backpressure",
    "rate_limited",
    "filtered",
    "filtered_sampling",
    "unknown",
];

/// The registries filled for one scrape: lookout's own metrics, and the standard
/// process metrics that every exporter names without a prefix.
pub struct Scrape {
    registry: Registry,
    process: Registry,
}

impl Default for Scrape {
    fn default() -> Self {
        Scrape {
            registry: Registry::with_prefix("lookout"),
            process: Registry::default(),
        }
    }
}

impl Scrape {
    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>, values: Vec<(Labels, f64)>) {
        let family = Family::<Labels, FloatGauge>::default();
        for (l, v) in values {
            family.get_or_create(&l).set(v);
        }
        match unit {
            Some(u) => self.registry.register_with_unit(name, help, u, family),
            None => self.registry.register(name, help, family),
        }
    }

    fn counter(&mut self, name: &str, help: &str, unit: Option<Unit>, values: Vec<(Labels, u64)>) {
        let family = Family::<Labels, Counter>::default();
        for (l, v) in values {
            family.get_or_create(&l).inc_by(v);
        }
        match unit {
            Some(u) => self.registry.register_with_unit(name, help, u, family),
            None => self.registry.register(name, help, family),
        }
    }

    /// The OpenMetrics text of everything registered.
    pub fn openmetrics(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        // One `# EOF`, at the very end.
        if out.ends_with("# EOF\n") {
            out.truncate(out.len() - "# EOF\n".len());
        }
        let _ = encode(&mut out, &self.process);
        out
    }
}

/// What one scrape reads, gathered on a blocking thread.
pub struct Figures {
    /// `(project slug, outcome, category, reason, quantity)`.
    pub outcomes: Vec<(String, String, String, String, u64)>,
    /// `(project slug, status, count)`.
    pub issues: Vec<(String, String, u64)>,
    /// `(monitor name, state, uptime over 24 h, uptime over 30 d)`.
    pub monitors: Vec<(String, &'static str, Option<f64>, Option<f64>)>,
    /// `(channel, outbox status, count)`.
    pub notifications: Vec<(String, String, u64)>,
    /// `(severity, open incidents)`.
    pub incidents: Vec<(String, u64)>,
    /// `(name, value ratio, target ratio, budget left ratio, burn rates by window)`.
    pub slos: Vec<SloFigures>,
    /// Rows waiting for the writer.
    pub writer_queue: u64,
}

/// One objective's numbers.
pub struct SloFigures {
    /// Its name.
    pub name: String,
    /// Good share, 0–1.
    pub value: Option<f64>,
    /// Target, 0–1.
    pub target: f64,
    /// Budget left, as a share of the window's budget (negative once overspent).
    pub budget_left: f64,
    /// `(window, burn rate)`.
    pub burn: Vec<(String, f64)>,
}

/// Every metric of a scrape.
pub fn render(f: &Figures, timings: &CheckTimings) -> Scrape {
    let mut s = Scrape::default();
    s.counter(
        "events",
        "Items received from SDKs, by what happened to them (accepted, rate_limited, quota, invalid, too_large, client_discard for drops the SDK reported, unsupported)",
        None,
        f.outcomes
            .iter()
            .map(|(p, o, c, r, n)| {
                (
                    labels(&[
                        ("project", p),
                        ("outcome", bounded(o, OUTCOMES)),
                        ("category", bounded(c, CATEGORIES)),
                        ("reason", bounded(r, REASONS)),
                    ]),
                    *n,
                )
            })
            .collect(),
    );
    s.gauge(
        "issues",
        "Issues by project and status",
        None,
        f.issues
            .iter()
            .map(|(p, st, n)| (labels(&[("project", p), ("status", st)]), *n as f64))
            .collect(),
    );
    s.gauge(
        "monitor_up",
        "1 when the monitor's last confirmed state is up (or degraded), 0 when down; absent while unknown, paused or in maintenance",
        None,
        f.monitors
            .iter()
            .filter_map(|(m, st, _, _)| match *st {
                "up" | "degraded" => Some((labels(&[("monitor", m)]), 1.0)),
                "down" => Some((labels(&[("monitor", m)]), 0.0)),
                _ => None,
            })
            .collect(),
    );
    s.gauge(
        "monitor_state",
        "1 for the monitor's current state (unknown, up, degraded, down, paused, maintenance)",
        None,
        f.monitors
            .iter()
            .map(|(m, st, _, _)| (labels(&[("monitor", m), ("state", st)]), 1.0))
            .collect(),
    );
    s.gauge(
        "monitor_uptime",
        "Share of the window the monitor was not down, maintenance excluded",
        Some(ratio()),
        f.monitors
            .iter()
            .flat_map(|(m, _, day, month)| {
                [("24h", day), ("30d", month)]
                    .into_iter()
                    .filter_map(move |(w, v)| {
                        v.map(|v| (labels(&[("monitor", m), ("window", w)]), v))
                    })
            })
            .collect(),
    );
    s.registry.register_with_unit(
        "check_duration",
        "Duration of monitor checks by phase (dns, connect, tls, first_byte, total)",
        Unit::Seconds,
        timings.family.clone(),
    );
    s.counter(
        "notifications",
        "Notifications delivered (sent) or given up on (failed), per channel",
        None,
        f.notifications
            .iter()
            .filter(|(_, st, _)| st == "sent" || st == "failed")
            .map(|(c, st, n)| (labels(&[("channel", c), ("result", st)]), *n))
            .collect(),
    );
    s.gauge(
        "notifications_pending",
        "Notifications waiting to be delivered, per channel",
        None,
        f.notifications
            .iter()
            .filter(|(_, st, _)| st == "pending")
            .map(|(c, _, n)| (labels(&[("channel", c)]), *n as f64))
            .collect(),
    );
    s.gauge(
        "incidents_open",
        "Open incidents by severity",
        None,
        f.incidents
            .iter()
            .map(|(sev, n)| (labels(&[("severity", sev)]), *n as f64))
            .collect(),
    );
    s.gauge(
        "slo_value",
        "Share of good events over the objective's window",
        Some(ratio()),
        f.slos
            .iter()
            .filter_map(|x| x.value.map(|v| (labels(&[("slo", &x.name)]), v)))
            .collect(),
    );
    s.gauge(
        "slo_target",
        "The objective's target",
        Some(ratio()),
        f.slos
            .iter()
            .map(|x| (labels(&[("slo", &x.name)]), x.target))
            .collect(),
    );
    s.gauge(
        "slo_error_budget_remaining",
        "Share of the window's error budget left (negative once overspent)",
        Some(ratio()),
        f.slos
            .iter()
            .map(|x| (labels(&[("slo", &x.name)]), x.budget_left))
            .collect(),
    );
    s.gauge(
        "slo_burn_rate",
        "How many times faster than sustainable the error budget burns over the window",
        None,
        f.slos
            .iter()
            .flat_map(|x| {
                x.burn
                    .iter()
                    .map(|(w, v)| (labels(&[("slo", &x.name), ("window", w)]), *v))
            })
            .collect(),
    );
    s.gauge(
        "writer_queue_depth",
        "Rows accepted and waiting for the database writer",
        None,
        vec![(Vec::new(), f.writer_queue as f64)],
    );
    process(&mut s);
    s
}

/// The standard process metrics (unprefixed, as every exporter names them), from /proc.
fn process(s: &mut Scrape) {
    let p = crate::sysinfo::process();
    let plain = &mut s.process;
    let add = |reg: &mut Registry, name: &str, help: &str, unit: Option<Unit>, v: Option<f64>| {
        if let Some(v) = v {
            let g = FloatGauge::default();
            g.set(v);
            match unit {
                Some(u) => reg.register_with_unit(name, help, u, g),
                None => reg.register(name, help, g),
            }
        }
    };
    if let Some(cpu) = p.cpu_seconds {
        let c = Counter::<f64, AtomicU64>::default();
        c.inc_by(cpu);
        plain.register_with_unit(
            "process_cpu",
            "User and system CPU time spent",
            Unit::Seconds,
            c,
        );
    }
    add(
        plain,
        "process_resident_memory",
        "Resident memory size",
        Some(Unit::Bytes),
        p.resident_bytes,
    );
    add(
        plain,
        "process_virtual_memory",
        "Virtual memory size",
        Some(Unit::Bytes),
        p.virtual_bytes,
    );
    add(
        plain,
        "process_open_fds",
        "Open file descriptors",
        None,
        p.open_fds,
    );
    add(
        plain,
        "process_max_fds",
        "The limit on open file descriptors",
        None,
        p.max_fds,
    );
    add(
        plain,
        "process_start_time",
        "When the process started, Unix time",
        Some(Unit::Seconds),
        p.start_time_seconds,
    );
}

/// OpenMetrics text turned into the Prometheus text format (0.0.4): no `# EOF` and
/// `# UNIT` lines, and counter families named by their `_total` samples.
pub fn to_prometheus(openmetrics: &str) -> String {
    let mut counters: Vec<&str> = Vec::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.push(name);
            }
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
