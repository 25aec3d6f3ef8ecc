//! Properties of the latency histograms: merging is the same as recording the union, and
//! percentiles stay within half a bucket of the exact nearest rank.

use lookout_core::histogram::{bucket_of, lower_edge, upper_edge, Histogram};
use lookout_core::stats::nearest_rank;
use proptest::prelude::*;

fn durations() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![0.0..5.0f64, 5.0..1_000.0f64, 1_000.0..120_000.0f64],
        0..300,
    )
}

fn of(values: &[f64]) -> Histogram {
    let mut h = Histogram::new();
    for &v in values {
        h.record(v);
    }
    h
}

proptest! {
    #[test]
    fn merging_equals_recording_the_union(a in durations(), b in durations(), c in durations()) {
        let mut merged = of(&a);
        merged.merge(&of(&b));
        // Merged from the stored form too, as range queries do.
        prop_assert!(merged.merge_encoded(&of(&c).encode()));
        let union: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
        let whole = of(&union);
        prop_assert_eq!(merged.count(), whole.count());
        for p in [50.0, 75.0, 95.0, 99.0, 100.0] {
            prop_assert_eq!(merged.quantile(p), whole.quantile(p));
        }
        for t in [100.0, 300.0, 500.0] {
            prop_assert_eq!(merged.count_under(t), whole.count_under(t));
        }
        prop_assert_eq!(merged.min_ms(), whole.min_ms());
        prop_assert_eq!(merged.max_ms(), whole.max_ms());
        prop_assert!((merged.sum_ms() - whole.sum_ms()).abs() <= 1e-6 * whole.sum_ms().max(1.0));
    }

    #[test]
    fn percentiles_are_in_the_bucket_of_the_exact_rank(values in durations(), p in 0.0..100.0f64) {
        let h = of(&values);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        match nearest_rank(&sorted, p) {
            None => prop_assert_eq!(h.quantile(p), None),
            Some(exact) => {
                let got = h.quantile(p).unwrap();
                let b = bucket_of(exact);
                prop_assert!(got >= lower_edge(b).min(exact) && got <= upper_edge(b).max(exact),
                    "p{} = {} for exact {}", p, got, exact);
                // Within 0.5 % (or 0.005 ms under 1 ms).
                prop_assert!((got - exact).abs() <= (exact * 0.005).max(0.005) + 1e-9);
            }
        }
    }

    #[test]
    fn counts_under_edges_are_exact(values in durations(), t in prop::sample::select(vec![1.0, 100.0, 250.0, 300.0, 500.0, 1_000.0])) {
        let h = of(&values);
        let exact = values.iter().filter(|&&v| v < t).count() as u64;
        prop_assert_eq!(h.count_under(t), exact);
    }

    #[test]
    fn encoding_round_trips(values in durations()) {
        let h = of(&values);
        prop_assert_eq!(Histogram::decode(&h.encode()), Some(h));
    }
}
