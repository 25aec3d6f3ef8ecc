//! Service level objectives: each one's value against its target, its error budget
//! (total, spent, left), how long the budget lasts at the last hour's burn rate, the
//! multiwindow burn rates, and the budget left drawn day by day over the window. The
//! figures come from the server's evaluation (`Backend::slos`), the same as the API's.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{backend, render, Chrome};
use crate::auth::SignedIn;
use crate::charts;
use crate::view;
use crate::Web;

pub(crate) struct BurnLine {
    pub alert: String,
    pub factor: String,
    pub window: String,
    pub long: String,
    pub short: String,
    pub firing: bool,
}

pub(crate) struct Card {
    pub name: String,
    pub kind: String,
    pub subject: String,
    pub window: String,
    pub error: String,
    pub value: String,
    pub target: String,
    pub met: bool,
    pub budget_total: String,
    pub budget_spent: String,
    pub budget_left: String,
    pub budget_left_percent: String,
    pub exhausted: String,
    pub burn_1h: String,
    pub alert: String,
    pub budget_line: String,
    pub zero_y: f64,
    pub chart_label: String,
    pub days: Vec<(f64, String)>,
    pub burn_rates: Vec<BurnLine>,
}

#[derive(Template)]
#[template(path = "slos.html")]
struct Page {
    chrome: Chrome,
    slos: Vec<Card>,
    w: f64,
    h: f64,
}

/// A count of events: whole numbers as such, fractions to one decimal.
fn events(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// What an objective's bad events are, by its kind.
fn unit(kind: &str) -> &'static str {
    match kind {
        "availability" => "failed checks",
        "errors_per_hour" => "hours over the threshold",
        "latency" => "slow requests",
        "health_latency" => "slow readings",
        _ => "failed requests",
    }
}

fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "–".into())
}

fn card(r: crate::SloReport, now: i64) -> Card {
    let mut c = Card {
        name: r.name,
        kind: r.kind,
        subject: r.subject,
        window: r.window,
        error: String::new(),
        value: "–".into(),
        target: String::new(),
        met: true,
        budget_total: String::new(),
        budget_spent: String::new(),
        budget_left: String::new(),
        budget_left_percent: String::new(),
        exhausted: String::new(),
        burn_1h: String::new(),
        alert: r.alert.unwrap_or_default(),
        budget_line: String::new(),
        zero_y: charts::HEIGHT,
        chart_label: String::new(),
        days: Vec::new(),
        burn_rates: r
            .burn_rates
            .into_iter()
            .map(|b| BurnLine {
                factor: format!("{}×", b.factor),
                window: format!(
                    "{} and {}",
                    view::duration(b.long_ms),
                    view::duration(b.long_ms / 12)
                ),
                long: rate(b.long),
                short: rate(b.short),
                firing: b.firing,
                alert: b.alert,
            })
            .collect(),
    };
    let (start, st) = match r.state {
        Ok(v) => v,
        Err(e) => {
            c.error = e;
            return c;
        }
    };
    c.value = st
        .value
        .map(|v| format!("{v:.3} %"))
        .unwrap_or_else(|| "no events yet".into());
    c.target = format!("{} %", st.target);
    c.met = st.met;
    c.budget_total = format!("{} {}", events(st.budget_total), unit(&c.kind));
    c.budget_spent = events(st.budget_spent);
    c.budget_left = events(st.budget_left);
    c.budget_left_percent = format!("{:.1} %", st.budget_left_percent);
    c.exhausted = match st.exhausted_in_ms {
        Some(0) => "spent".into(),
        Some(ms) => format!("in {}", view::duration(ms)),
        None => "not burning".into(),
    };
    c.burn_1h = rate(st.burn_rate_1h);
    // The budget starts whole at the window's start and is drawn to each day's end.
    let mut left = vec![100.0];
    left.extend(st.history.iter().map(|d| d.budget_left_percent));
    let (line, zero) = charts::signed_line(&left, 0.0, 100.0);
    c.budget_line = line;
    c.zero_y = zero;
    let n = (left.len().max(2) - 1) as f64;
    c.days = st
        .history
        .iter()
        .enumerate()
        .map(|(i, d)| {
            (
                ((charts::WIDTH * (i + 1) as f64 / n) * 10.0).round() / 10.0,
                format!(
                    "{}: {:.1} % of the budget left ({} bad of {})",
                    view::date(d.start_ms),
                    d.budget_left_percent,
                    events(d.spent),
                    events(d.counts.total)
                ),
            )
        })
        .collect();
    c.chart_label = format!(
        "Error budget left of {} since {}: {} now",
        c.name,
        view::date(start.min(now)),
        c.budget_left_percent
    );
    c
}

/// The SLO page.
pub async fn page(State(web): State<Arc<Web>>, who: SignedIn) -> Response {
    let reports = match backend(&web, |b| b.slos()).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let now = web.clock.now_ms();
    render(&Page {
        chrome: Chrome::new(&who, "/slos", "SLOs"),
        slos: reports.into_iter().map(|r| card(r, now)).collect(),
        w: charts::WIDTH,
        h: charts::HEIGHT,
    })
}
