//! Runs the cargo-fuzz target bodies (`fuzz/src/lib.rs`) on the stable toolchain, so they
//! keep compiling against this crate and get exercised even where libFuzzer is unavailable.

#[path = "../../../fuzz/src/lib.rs"]
mod targets;

use proptest::prelude::*;

const SEEDS: &[&[u8]] = &[
    b"{}\n{\"type\":\"event\"}\n{\"exception\":[{\"type\":\"E\",\"stacktrace\":{\"frames\":[{\"lineno\":\"3\"}]}}]}\n",
    b"{}\n{\"type\":\"transaction\",\"length\":45}\n{\"start_timestamp\":1,\"timestamp\":\"1970-01-01\"}\n",
    b"{}\n{\"type\":\"session\"}\n{\"sid\":1,\"attrs\":{\"release\":\"r\"}}\n{\"type\":\"sessions\"}\n{\"aggregates\":[{}]}\n",
    b"{}\n{\"type\":\"client_report\"}\n{\"discarded_events\":[{\"category\":\"error\"}]}\n{\"type\":\"check_in\"}\n{\"monitor_slug\":\"m\",\"status\":\"ok\",\"monitor_config\":{}}\n",
    b"eJyrVspLzE1VslJKzs8rSc0rKSoFAChsBQs=",
];

#[test]
fn fuzz_bodies_accept_seeds() {
    for seed in SEEDS {
        targets::envelope(seed);
        targets::event(seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Mutates the seeds the way a fuzzer would: splice random bytes into a valid envelope.
    #[test]
    fn fuzz_bodies_never_panic(seed in 0..SEEDS.len(), at in any::<prop::sample::Index>(), noise in prop::collection::vec(any::<u8>(), 0..16)) {
        let mut data = SEEDS[seed].to_vec();
        let i = at.index(data.len() + 1);
        data.splice(i..i, noise);
        targets::envelope(&data);
        targets::event(&data);
    }
}
