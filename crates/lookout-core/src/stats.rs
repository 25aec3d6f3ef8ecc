//! Statistics over measured values, one definition for everything lookout reports:
//! check roll-ups, alert rules on latency, the scheduler's own lateness.

/// The nearest-rank percentile of `sorted` (ascending): the smallest value with at least
/// `p` % of the values at or below it, i.e. the value at rank ⌈p·n/100⌉ (at least 1).
/// `p` is clamped to 0–100 and taken to four decimals; `None` when there are no values.
pub fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let n = sorted.len() as u128;
    if n == 0 {
        return None;
    }
    // In millionths, so that ranks are computed exactly: 0.07 · 100 in floating point
    // is 7.000…01, whose ceiling is the wrong rank.
    let p = (p.clamp(0.0, 100.0) * 10_000.0).round() as u128;
    let rank = (p * n).div_ceil(1_000_000).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_of_one_to_hundred() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(nearest_rank(&v, 50.0), Some(50));
        assert_eq!(nearest_rank(&v, 95.0), Some(95));
        assert_eq!(nearest_rank(&v, 99.0), Some(99));
        assert_eq!(nearest_rank(&v, 100.0), Some(100));
        assert_eq!(nearest_rank(&v, 0.0), Some(1));
    }

    #[test]
    fn small_sets_round_ranks_up() {
        // n = 3: ranks ⌈1.5⌉ = 2 and ⌈2.85⌉ = 3.
        assert_eq!(nearest_rank(&[10, 20, 30], 50.0), Some(20));
        assert_eq!(nearest_rank(&[10, 20, 30], 95.0), Some(30));
        assert_eq!(nearest_rank(&[7], 99.0), Some(7));
        assert_eq!(nearest_rank::<u32>(&[], 50.0), None);
    }

    #[test]
    fn exact_where_floating_point_is_not() {
        // 0.07 · 100 is 7.000…01 in f64: computed in floating point, rank 8.
        let v: Vec<u32> = (1..=20).collect();
        assert_eq!(nearest_rank(&v, 95.0), Some(19));
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(nearest_rank(&v, 7.0), Some(7));
        assert_eq!(nearest_rank(&v, 99.9), Some(100));
        assert_eq!(nearest_rank(&[1.5, 2.5], 50.0), Some(1.5));
    }

    #[test]
    fn out_of_range_percentages_are_clamped() {
        assert_eq!(nearest_rank(&[1, 2, 3], 250.0), Some(3));
        assert_eq!(nearest_rank(&[1, 2, 3], -5.0), Some(1));
    }
}
