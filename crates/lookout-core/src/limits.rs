//! Per-project rate limit (a token bucket) and monthly quota. Pure: the caller passes the
//! time, so windows and month boundaries are tested with explicit instants.

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_HOUR: i64 = 3_600_000;
/// One token in bucket units: a bucket of `per_minute` tokens refills `per_minute` units
/// per millisecond, so all arithmetic stays in integers without rounding drift.
const UNITS_PER_TOKEN: u64 = 60_000;

/// A token bucket holding `per_minute` events that refills continuously.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_minute: u64,
    capacity: u64,
    level: u64,
    last_ms: Option<i64>,
}

impl RateLimiter {
    /// A full bucket of `per_minute` tokens; 0 means unlimited.
    pub fn new(per_minute: u32) -> Self {
        let per_minute = u64::from(per_minute);
        let capacity = per_minute * UNITS_PER_TOKEN;
        Self {
            per_minute,
            capacity,
            level: capacity,
            last_ms: None,
        }
    }

    /// Takes `n` tokens, or says in how many seconds (at least 1) they will be there.
    pub fn try_acquire(&mut self, now_ms: i64, n: u32) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        self.refill(now_ms);
        let need = u64::from(n) * UNITS_PER_TOKEN;
        if need > self.capacity {
            // More than a whole minute's worth can never fit; a minute is the honest answer.
            return Err(60);
        }
        if self.level >= need {
            self.level -= need;
            return Ok(());
        }
        let wait_ms = (need - self.level).div_ceil(self.per_minute);
        Err(wait_ms.div_ceil(MS_PER_SECOND as u64).max(1))
    }

    fn refill(&mut self, now_ms: i64) {
        match self.last_ms {
            None => self.last_ms = Some(now_ms),
            Some(last) if now_ms > last => {
                // A clock that steps backwards refills nothing rather than underflowing.
                let elapsed = now_ms.abs_diff(last);
                let add = elapsed.saturating_mul(self.per_minute);
                self.level = self.level.saturating_add(add).min(self.capacity);
                self.last_ms = Some(now_ms);
            }
            Some(_) => {}
        }
    }
}

/// Events accepted per calendar month (UTC), reset when a new month starts.
#[derive(Debug, Clone)]
pub struct MonthlyQuota {
    limit: u64,
    used: u64,
    period_end_ms: i64,
}

impl MonthlyQuota {
    /// A quota of `limit` (0 = unlimited) of which `used_this_month` is already spent.
    pub fn new(limit: u64, used_this_month: u64, now_ms: i64) -> Self {
        Self {
            limit,
            used: used_this_month,
            period_end_ms: next_month_start_ms(now_ms),
        }
    }

    /// Consumes `n` all-or-nothing, or returns the seconds (at least 1) until the next month.
    pub fn try_consume(&mut self, now_ms: i64, n: u64) -> Result<(), u64> {
        if now_ms >= self.period_end_ms {
            self.used = 0;
            self.period_end_ms = next_month_start_ms(now_ms);
        }
        if self.limit != 0 && self.used.saturating_add(n) > self.limit {
            let wait_ms = self.period_end_ms.saturating_sub(now_ms).max(0) as u64;
            return Err(wait_ms.div_ceil(MS_PER_SECOND as u64).max(1));
        }
        self.used = self.used.saturating_add(n);
        Ok(())
    }

    /// Events counted this month.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// The monthly limit; 0 means unlimited.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

/// The first millisecond of the UTC calendar month containing `now_ms`.
pub fn month_start_ms(now_ms: i64) -> i64 {
    utc_month_start(now_ms, 0)
}

/// The first millisecond of the UTC calendar month after the one containing `now_ms`.
pub fn next_month_start_ms(now_ms: i64) -> i64 {
    utc_month_start(now_ms, 1)
}

/// The start of the UTC hour containing `now_ms`, the key of hourly counters.
pub fn hour_bucket_ms(now_ms: i64) -> i64 {
    now_ms.div_euclid(MS_PER_HOUR).saturating_mul(MS_PER_HOUR)
}

/// The start of the UTC month `months` after the one containing `now_ms`. Beyond the
/// calendar's range (years ±9999) it saturates at the end it fell off.
fn utc_month_start(now_ms: i64, months: i32) -> i64 {
    let edge = if now_ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    };
    let now = Timestamp::from_millisecond(now_ms).unwrap_or(edge);
    now.to_zoned(TimeZone::UTC)
        .date()
        .first_of_month()
        .checked_add(Span::new().months(months))
        .and_then(|first| first.to_zoned(TimeZone::UTC))
        .map_or(edge, |start| start.timestamp())
        .as_millisecond()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS_PER_DAY: i64 = 86_400_000;

    /// A UTC date and time, Unix ms.
    fn ms(y: i16, m: i8, d: i8, h: i8, min: i8, s: i8) -> i64 {
        jiff::civil::date(y, m, d)
            .at(h, min, s, 0)
            .to_zoned(TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    #[test]
    fn every_day_lies_in_its_month() {
        assert_eq!(ms(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(ms(2000, 3, 1, 0, 0, 0), 11_017 * MS_PER_DAY);
        for z in (-800_000..800_000).step_by(997) {
            let t = z * MS_PER_DAY;
            let (start, next) = (month_start_ms(t), next_month_start_ms(t));
            assert!(start <= t && t < next, "{t}");
            assert_eq!(month_start_ms(next), next, "{t}");
            assert!((28..=31).contains(&((next - start) / MS_PER_DAY)), "{t}");
        }
    }

    #[test]
    fn burst_then_refusal_then_refill() {
        let t0 = 1_700_000_000_000;
        let mut rl = RateLimiter::new(60);
        for _ in 0..60 {
            assert_eq!(rl.try_acquire(t0, 1), Ok(()));
        }
        let retry = rl.try_acquire(t0, 1).unwrap_err();
        assert_eq!(retry, 1);
        // Half a second later half a token is back: still refused, still at least 1 s.
        assert_eq!(rl.try_acquire(t0 + 500, 1), Err(1));
        assert_eq!(rl.try_acquire(t0 + 1_000, 1), Ok(()));
        assert!(rl.try_acquire(t0 + 1_000, 1).is_err());
        // A full minute refills the whole bucket, and no more than that.
        let t1 = t0 + 3_600_000;
        for _ in 0..60 {
            assert_eq!(rl.try_acquire(t1, 1), Ok(()));
        }
        assert!(rl.try_acquire(t1, 1).is_err());
    }

    #[test]
    fn retry_after_reflects_the_deficit() {
        let mut rl = RateLimiter::new(6);
        assert_eq!(rl.try_acquire(0, 6), Ok(()));
        // 6 per minute is one token every 10 s; 3 tokens take 30 s.
        assert_eq!(rl.try_acquire(0, 3), Err(30));
        assert_eq!(rl.try_acquire(0, 7), Err(60));
    }

    #[test]
    fn zero_means_unlimited_and_backwards_clock_is_harmless() {
        let mut rl = RateLimiter::new(0);
        for _ in 0..10_000 {
            assert!(rl.try_acquire(0, 1_000).is_ok());
        }
        let mut rl = RateLimiter::new(2);
        assert!(rl.try_acquire(10_000, 2).is_ok());
        assert!(rl.try_acquire(0, 1).is_err());
        assert!(rl.try_acquire(i64::MAX, 2).is_ok());
        assert!(rl.try_acquire(i64::MIN, 1).is_err());
    }

    #[test]
    fn quota_refuses_at_limit_and_resets_in_january() {
        let now = ms(2024, 12, 31, 23, 59, 0);
        let mut q = MonthlyQuota::new(5_000, 4_998, now);
        assert_eq!(q.try_consume(now, 2), Ok(()));
        assert_eq!(q.used(), 5_000);
        assert_eq!(q.try_consume(now, 1), Err(60));
        assert_eq!(q.try_consume(now + 59_500, 1), Err(1));
        let jan = ms(2025, 1, 1, 0, 0, 0);
        assert_eq!(q.try_consume(jan, 1), Ok(()));
        assert_eq!(q.used(), 1);
        assert_eq!(q.limit(), 5_000);
    }

    #[test]
    fn quota_in_a_leap_february() {
        let now = ms(2024, 2, 28, 12, 0, 0);
        let mut q = MonthlyQuota::new(1, 1, now);
        let day_and_half = 36 * 3_600;
        assert_eq!(q.try_consume(now, 1), Err(day_and_half));
        assert_eq!(q.try_consume(ms(2024, 2, 29, 23, 59, 59), 1), Err(1));
        assert_eq!(q.try_consume(ms(2024, 3, 1, 0, 0, 0), 1), Ok(()));
        assert_eq!(next_month_start_ms(now), ms(2024, 3, 1, 0, 0, 0));
        assert_eq!(
            next_month_start_ms(ms(2023, 2, 28, 0, 0, 0)),
            ms(2023, 3, 1, 0, 0, 0)
        );
    }

    #[test]
    fn unlimited_quota_counts_but_never_refuses() {
        let mut q = MonthlyQuota::new(0, u64::MAX - 1, 0);
        assert!(q.try_consume(0, 10).is_ok());
        assert_eq!(q.used(), u64::MAX);
    }

    #[test]
    fn month_and_hour_boundaries() {
        let t = ms(2025, 7, 15, 13, 45, 12) + 345;
        assert_eq!(month_start_ms(t), ms(2025, 7, 1, 0, 0, 0));
        assert_eq!(next_month_start_ms(t), ms(2025, 8, 1, 0, 0, 0));
        assert_eq!(hour_bucket_ms(t), ms(2025, 7, 15, 13, 0, 0));
        assert_eq!(
            month_start_ms(ms(2025, 8, 1, 0, 0, 0)),
            ms(2025, 8, 1, 0, 0, 0)
        );
        assert_eq!(month_start_ms(-1), ms(1969, 12, 1, 0, 0, 0));
        assert_eq!(hour_bucket_ms(-1), -MS_PER_HOUR);
        for t in [i64::MIN, i64::MAX, 0] {
            let _ = (month_start_ms(t), next_month_start_ms(t), hour_bucket_ms(t));
            let mut q = MonthlyQuota::new(1, 1, t);
            assert!(q.try_consume(i64::MIN, 1).unwrap_err() >= 1);
        }
    }
}
