//! Uptime figures a status page shows: one per UTC day for the bars, and one over a
//! period, both from confirmed outages (as the API's uptime is), counting only time since
//! the monitor existed.

use lookout_store::Outage;

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// One UTC day of a monitor's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// Midnight UTC that starts it, Unix ms.
    pub start_ms: i64,
    /// Uptime in percent; `None` when the monitor did not exist yet.
    pub pct: Option<f64>,
    /// Time in confirmed outages that day.
    pub down_ms: i64,
}

/// Time in `outages` within `[from, to)`.
pub fn downtime(outages: &[Outage], from: i64, to: i64, now: i64) -> i64 {
    outages
        .iter()
        .map(|o| (o.end_ms.unwrap_or(now).min(to) - o.start_ms.max(from)).max(0))
        .sum()
}

/// Uptime over `[from, to)` as a percentage, or `None` when the monitor, created at
/// `created_ms`, has no time in it.
pub fn pct(outages: &[Outage], created_ms: i64, from: i64, to: i64, now: i64) -> Option<f64> {
    let from = from.max(created_ms);
    let to = to.min(now);
    let span = to - from;
    (span > 0).then(|| {
        let down = downtime(outages, from, to, now).min(span);
        100.0 * (1.0 - down as f64 / span as f64)
    })
}

/// The last `n` UTC days up to and including today, oldest first.
pub fn days(outages: &[Outage], created_ms: i64, now: i64, n: i64) -> Vec<Day> {
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    (0..n)
        .map(|i| {
            let start = today - (n - 1 - i) * DAY_MS;
            let end = start + DAY_MS;
            Day {
                start_ms: start,
                pct: pct(outages, created_ms, start, end, now),
                down_ms: downtime(outages, start.max(created_ms), end.min(now), now),
            }
        })
        .collect()
}

/// A percentage as shown: two decimals, but never rounded up to 100 % while there was
/// downtime (99.999 shows as 99.99, not 100.00).
pub fn shown(pct: f64) -> String {
    let floored = (pct * 100.0).floor() / 100.0;
    format!("{floored:.2}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage(start_ms: i64, end_ms: Option<i64>) -> Outage {
        Outage {
            id: 1,
            monitor_id: 1,
            start_ms,
            end_ms,
            cause: String::new(),
        }
    }

    #[test]
    fn days_clip_outages_and_creation() {
        let now = 10 * DAY_MS + 12 * 3_600_000; // noon of day 10
        let created = 7 * DAY_MS + 6 * 3_600_000; // 06:00 of day 7
        let outages = [
            // 1 h 12 min across midnight between days 8 and 9: 36 min each side.
            outage(9 * DAY_MS - 36 * 60_000, Some(9 * DAY_MS + 36 * 60_000)),
            // Ongoing since 11:00 today.
            outage(10 * DAY_MS + 11 * 3_600_000, None),
        ];
        let d = days(&outages, created, now, 5);
        assert_eq!(d.len(), 5);
        assert_eq!(d[0].start_ms, 6 * DAY_MS);
        assert_eq!(d[0].pct, None, "before the monitor existed");
        assert_eq!(d[1].pct, Some(100.0), "from creation on, no outage");
        let expect = 100.0 * (1.0 - 36.0 / 1440.0);
        assert!((d[2].pct.unwrap() - expect).abs() < 1e-9);
        assert!((d[3].pct.unwrap() - expect).abs() < 1e-9);
        assert_eq!(d[3].down_ms, 36 * 60_000);
        // Today counts up to now: 1 h down of 12 h.
        assert!((d[4].pct.unwrap() - 100.0 * (1.0 - 1.0 / 12.0)).abs() < 1e-9);
        assert_eq!(shown(d[4].pct.unwrap()), "91.66%");
        assert_eq!(shown(99.9999), "99.99%");
        assert_eq!(shown(100.0), "100.00%");
    }
}
