//! Whether an optional test suite runs, decided the same way in every crate: the suites
//! include this file with `#[path]`.

/// Whether an optional suite is switched on: returns the value of `var`, or `None` after
/// printing why `what` is skipped. With `LOOKOUT_REQUIRE_ALL_SUITES=1` (as CI sets) a
/// missing switch fails instead, so a suite can never pass by not running.
pub fn suite_switch(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("LOOKOUT_REQUIRE_ALL_SUITES").as_deref() == Ok("1") {
                panic!("{what}: {var} is not set, but LOOKOUT_REQUIRE_ALL_SUITES=1 requires this suite to run");
            }
            eprintln!("skipped: {what} (set {var} to run it)");
            None
        }
    }
}
