//! Properties of the SLO arithmetic: the budget adds up over any split of the window.

use lookout_core::slo::{evaluate, Counts, DAY_MS};
use proptest::prelude::*;

fn periods() -> impl Strategy<Value = Vec<Counts>> {
    prop::collection::vec(
        (0u32..2000, 0u32..2000).prop_map(|(a, b)| {
            let (good, total) = (a.min(b), a.max(b));
            Counts::new(f64::from(good), f64::from(total))
        }),
        1..60,
    )
}

proptest! {
    #[test]
    fn budget_adds_up_over_any_split(counts in periods(), cut in any::<prop::sample::Index>(), target in 90.0..99.999f64) {
        let days: Vec<(i64, Counts)> = counts.iter().enumerate().map(|(i, c)| (i as i64 * DAY_MS, *c)).collect();
        let whole = evaluate(target, 30 * DAY_MS, &days, Counts::default());
        let at = cut.index(days.len() + 1);
        let (a, b) = days.split_at(at);
        let a = evaluate(target, 30 * DAY_MS, a, Counts::default());
        let b = evaluate(target, 30 * DAY_MS, b, Counts::default());
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0);
        prop_assert!(close(a.budget_total + b.budget_total, whole.budget_total));
        prop_assert!(close(a.budget_spent + b.budget_spent, whole.budget_spent));
        prop_assert!(close(a.budget_left + b.budget_left, whole.budget_left));
        // The daily history sums to the window, and its last day ends where the window does.
        let spent: f64 = whole.history.iter().map(|d| d.spent).sum();
        let budget: f64 = whole.history.iter().map(|d| d.budget).sum();
        prop_assert!(close(spent, whole.budget_spent));
        prop_assert!(close(budget, whole.budget_total));
        prop_assert!(close(whole.history.last().unwrap().budget_left_percent, whole.budget_left_percent));
    }
}
