//! Service level objectives: error budgets and burn rates, from counts of good and total
//! "events" (checks, requests, hours) per period. Pure: the server reads the counts from
//! the store and passes them in with the time.
//!
//! Every kind of objective reduces to the same arithmetic: over the window, `total` events
//! of which `good` met the objective; the target (say 99.9 %) allows `(1 − target) · total`
//! bad events: that is the budget. Both the bad events and the budget add up over any
//! split of the window, so a daily history sums to the window's figures.

use serde::Serialize;

/// An hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// A day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Good and total events of a period; additive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Events that met the objective.
    pub good: f64,
    /// All events.
    pub total: f64,
}

impl Counts {
    /// `good` of `total`.
    pub fn new(good: f64, total: f64) -> Self {
        Self { good, total }
    }

    /// Events that did not meet the objective.
    pub fn bad(&self) -> f64 {
        (self.total - self.good).max(0.0)
    }

    /// The share of good events in percent; `None` when there were none.
    pub fn percent_good(&self) -> Option<f64> {
        (self.total > 0.0).then(|| 100.0 * self.good / self.total)
    }
}

impl std::ops::Add for Counts {
    type Output = Counts;

    fn add(self, other: Counts) -> Counts {
        Counts::new(self.good + other.good, self.total + other.total)
    }
}

/// The share of events a target allows to be bad (0.001 for 99.9 %).
pub fn allowed_share(target_percent: f64) -> f64 {
    (1.0 - target_percent / 100.0).clamp(0.0, 1.0)
}

/// How many times faster than sustainable the budget burns over `counts`: 1 spends
/// exactly the budget over the window, 14.4 spends 2 % of a 30-day budget in an hour.
/// `None` when there were no events or the target allows none.
pub fn burn_rate(counts: Counts, target_percent: f64) -> Option<f64> {
    let allowed = allowed_share(target_percent);
    (counts.total > 0.0 && allowed > 0.0).then(|| counts.bad() / counts.total / allowed)
}

/// One day of an objective's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// Start of the day (UTC), Unix ms.
    pub start_ms: i64,
    /// That day's good and total events.
    pub counts: Counts,
    /// That day's share of good events, percent.
    pub value: Option<f64>,
    /// Budget (bad events allowed) earned that day.
    pub budget: f64,
    /// Bad events that day.
    pub spent: f64,
    /// Share of the window's budget left at the end of the day, percent.
    pub budget_left_percent: f64,
}

/// An objective's state over its window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Share of good events over the window, percent; `None` before any event.
    pub value: Option<f64>,
    /// The target, percent.
    pub target: f64,
    /// Whether the value meets the target (true before any event).
    pub met: bool,
    /// Good and total events over the window.
    pub counts: Counts,
    /// Bad events the window allows.
    pub budget_total: f64,
    /// Bad events so far.
    pub budget_spent: f64,
    /// Bad events still allowed (negative once overspent).
    pub budget_left: f64,
    /// The share of the budget left, percent (100 before any event, negative once
    /// overspent).
    pub budget_left_percent: f64,
    /// The burn rate over the last hour.
    pub burn_rate_1h: Option<f64>,
    /// Milliseconds until the budget is spent at the last hour's burn rate; `Some(0)` once
    /// spent, `None` when nothing burns.
    pub exhausted_in_ms: Option<i64>,
    /// Per day, oldest first.
    pub history: Vec<Day>,
}

/// Evaluates an objective from per-day counts over its window (`days`: start of day and
/// counts, oldest first), the last hour's counts and the window's length.
pub fn evaluate(target: f64, window_ms: i64, days: &[(i64, Counts)], last_hour: Counts) -> Status {
    let allowed = allowed_share(target);
    let counts = days.iter().fold(Counts::default(), |a, (_, c)| a + *c);
    let budget_total = allowed * counts.total;
    let budget_spent = counts.bad();
    let budget_left = budget_total - budget_spent;
    let left_percent = |spent: f64| {
        if budget_total > 0.0 {
            100.0 * (budget_total - spent) / budget_total
        } else if spent > 0.0 {
            // Nothing allowed and something spent: overspent entirely.
            -100.0
        } else {
            100.0
        }
    };
    let mut cumulative = 0.0;
    let history = days
        .iter()
        .map(|&(start_ms, c)| {
            cumulative += c.bad();
            Day {
                start_ms,
                counts: c,
                value: c.percent_good(),
                budget: allowed * c.total,
                spent: c.bad(),
                budget_left_percent: left_percent(cumulative),
            }
        })
        .collect();
    let budget_left_percent = left_percent(budget_spent);
    let burn_rate_1h = burn_rate(last_hour, target);
    let exhausted_in_ms = if budget_left_percent <= 0.0 {
        Some(0)
    } else {
        burn_rate_1h
            .filter(|b| *b > 0.0)
            .map(|b| (budget_left_percent / 100.0 * window_ms as f64 / b) as i64)
    };
    let value = counts.percent_good();
    Status {
        value,
        target,
        met: value.is_none_or(|v| v >= target),
        counts,
        budget_total,
        budget_spent,
        budget_left,
        budget_left_percent,
        burn_rate_1h,
        exhausted_in_ms,
        history,
    }
}

/// Which kind of alert a burn-rate pair raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BurnAlert {
    /// Wake someone: the budget will be gone within days.
    Page,
    /// Look at it this week.
    Ticket,
}

/// One multiwindow burn-rate condition (the SRE workbook's form): the budget burns at
/// least `factor` times too fast over the long window, and still does over the short one
/// (so the alert ends soon after the burning does).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BurnWindow {
    /// Page or ticket.
    pub alert: BurnAlert,
    /// The burn rate to reach.
    pub factor: f64,
    /// The long window, ms.
    pub long_ms: i64,
    /// The short window, ms.
    pub short_ms: i64,
}

/// The workbook's four: page on 14.4× over 1 h and 5 min and on 6× over 6 h and 30 min;
/// ticket on 3× over 1 d and 2 h and on 1× over 3 d and 6 h.
pub const DEFAULT_BURN_WINDOWS: [BurnWindow; 4] = [
    BurnWindow {
        alert: BurnAlert::Page,
        factor: 14.4,
        long_ms: HOUR_MS,
        short_ms: 5 * 60_000,
    },
    BurnWindow {
        alert: BurnAlert::Page,
        factor: 6.0,
        long_ms: 6 * HOUR_MS,
        short_ms: 30 * 60_000,
    },
    BurnWindow {
        alert: BurnAlert::Ticket,
        factor: 3.0,
        long_ms: DAY_MS,
        short_ms: 2 * HOUR_MS,
    },
    BurnWindow {
        alert: BurnAlert::Ticket,
        factor: 1.0,
        long_ms: 3 * DAY_MS,
        short_ms: 6 * HOUR_MS,
    },
];

/// The short window the workbook pairs with a long one: a twelfth of it.
pub fn short_window_ms(long_ms: i64) -> i64 {
    (long_ms / 12).max(60_000)
}

/// The burn rate a multiwindow condition sees: the smaller of the two windows' rates, so
/// that it is over a factor only when both are.
pub fn multiwindow_burn(long: Counts, short: Counts, target: f64) -> Option<f64> {
    Some(burn_rate(long, target)?.min(burn_rate(short, target)?))
}

/// Which alerts fire: `counts_over(ms)` gives the counts of the last `ms`. Page wins over
/// ticket.
pub fn burn_alerts(
    windows: &[BurnWindow],
    target: f64,
    mut counts_over: impl FnMut(i64) -> Counts,
) -> Option<BurnAlert> {
    let mut out = None;
    for w in windows {
        let rate = multiwindow_burn(counts_over(w.long_ms), counts_over(w.short_ms), target);
        if rate.is_some_and(|r| r >= w.factor) {
            match w.alert {
                BurnAlert::Page => return Some(BurnAlert::Page),
                BurnAlert::Ticket => out = Some(BurnAlert::Ticket),
            }
        }
    }
    out
}

/// The start of the window ending at `now_ms`: `window_ms` back for a rolling window,
/// or the first of the month (UTC) for a calendar month.
pub fn window_start(now_ms: i64, window: Window) -> i64 {
    match window {
        Window::Rolling(ms) => now_ms - ms,
        Window::CalendarMonth => {
            let Ok(ts) = jiff::Timestamp::from_millisecond(now_ms) else {
                return now_ms - 30 * DAY_MS;
            };
            let d = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
            d.first_of_month()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp().as_millisecond())
                .unwrap_or(now_ms - 30 * DAY_MS)
        }
    }
}

/// The length a window's budget is spread over: its length, or the whole month's.
pub fn window_length_ms(now_ms: i64, window: Window) -> i64 {
    match window {
        Window::Rolling(ms) => ms,
        Window::CalendarMonth => {
            let start = window_start(now_ms, window);
            let next = jiff::Timestamp::from_millisecond(start)
                .ok()
                .and_then(|t| {
                    t.to_zoned(jiff::tz::TimeZone::UTC)
                        .checked_add(jiff::Span::new().months(1))
                        .ok()
                })
                .map(|z| z.timestamp().as_millisecond());
            next.map_or(30 * DAY_MS, |n| n - start)
        }
    }
}

/// The window an objective is measured over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The last so many milliseconds.
    Rolling(i64),
    /// Since the first of the month, UTC.
    CalendarMonth,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_of_a_month_of_minutely_checks() {
        // 43,200 checks in 30 days at 99.9 %: 43.2 checks (minutes) may fail.
        let day = Counts::new(1440.0, 1440.0);
        let mut days: Vec<(i64, Counts)> = (0..30).map(|d| (d * DAY_MS, day)).collect();
        days[3].1 = Counts::new(1440.0 - 20.0, 1440.0);
        let s = evaluate(99.9, 30 * DAY_MS, &days, Counts::new(60.0, 60.0));
        assert!((s.budget_total - 43.2).abs() < 1e-9);
        assert_eq!(s.budget_spent, 20.0);
        assert!((s.budget_left - 23.2).abs() < 1e-9);
        assert!((s.budget_left_percent - 100.0 * 23.2 / 43.2).abs() < 1e-9);
        assert!((s.value.unwrap() - 100.0 * (43_200.0 - 20.0) / 43_200.0).abs() < 1e-9);
        assert!(s.met);
        assert_eq!(s.exhausted_in_ms, None, "nothing burns in the last hour");
        assert_eq!(s.history[2].budget_left_percent, 100.0);
        assert!((s.history[3].budget_left_percent - s.budget_left_percent).abs() < 1e-9);
    }

    #[test]
    fn exhaustion_at_the_current_burn() {
        // Half the budget left; burning 10× over the last hour spends a 30-day budget in
        // 3 days, so half of it in 1.5 days.
        let days = [(0, Counts::new(999.5, 1000.0))];
        let last_hour = Counts::new(99.0, 100.0);
        let s = evaluate(99.9, 30 * DAY_MS, &days, last_hour);
        assert!((s.budget_left_percent - 50.0).abs() < 1e-9);
        assert!((s.burn_rate_1h.unwrap() - 10.0).abs() < 1e-9);
        let expected = (1.5 * DAY_MS as f64) as i64;
        assert!((s.exhausted_in_ms.unwrap() - expected).abs() <= 1);
        let spent = evaluate(
            99.9,
            30 * DAY_MS,
            &[(0, Counts::new(990.0, 1000.0))],
            last_hour,
        );
        assert_eq!(spent.exhausted_in_ms, Some(0));
        assert!(!spent.met);
        assert!((spent.budget_left_percent - -900.0).abs() < 1e-9);
    }

    #[test]
    fn no_events_is_a_full_budget() {
        let s = evaluate(99.0, DAY_MS, &[], Counts::default());
        assert_eq!(s.value, None);
        assert!(s.met);
        assert_eq!(s.budget_left_percent, 100.0);
        assert_eq!(s.burn_rate_1h, None);
    }

    #[test]
    fn burn_rates_by_hand() {
        assert_eq!(
            burn_rate(Counts::new(0.0, 10.0), 99.9).map(|r| r.round()),
            Some(1000.0)
        );
        assert!((burn_rate(Counts::new(985.6, 1000.0), 99.0).unwrap() - 1.44).abs() < 1e-9);
        assert_eq!(burn_rate(Counts::default(), 99.9), None);
        assert_eq!(burn_rate(Counts::new(5.0, 10.0), 100.0), None);
        assert_eq!(short_window_ms(HOUR_MS), 5 * 60_000);
    }

    #[test]
    fn page_needs_both_windows() {
        // A full outage in the last 5 minutes of an otherwise clean hour: 5/60 of the hour
        // bad is 83× the 99.9 % rate: page.
        let outage = |ms: i64| {
            let total = (ms / 60_000) as f64;
            Counts::new(total - (ms.min(5 * 60_000) / 60_000) as f64, total)
        };
        assert_eq!(
            burn_alerts(&DEFAULT_BURN_WINDOWS, 99.9, outage),
            Some(BurnAlert::Page)
        );
        // An outage that ended 10 minutes ago: the 5-minute window is clean.
        let over = |ms: i64| {
            let total = (ms / 60_000) as f64;
            let bad = if ms >= 15 * 60_000 { 5.0 } else { 0.0 };
            Counts::new(total - bad, total)
        };
        assert_eq!(burn_alerts(&DEFAULT_BURN_WINDOWS[..1], 99.9, over), None);
    }

    #[test]
    fn calendar_month_windows() {
        // 2026-02-14T12:00:00Z.
        let now = 1_771_070_400_000;
        let start = window_start(now, Window::CalendarMonth);
        assert_eq!(start, 1_769_904_000_000, "2026-02-01T00:00:00Z");
        assert_eq!(window_length_ms(now, Window::CalendarMonth), 28 * DAY_MS);
        assert_eq!(window_start(now, Window::Rolling(DAY_MS)), now - DAY_MS);
    }
}
