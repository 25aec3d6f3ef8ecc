//! The exit codes of every `lookout` command, in one table, so a script reads a code the
//! same way whichever command it ran: the verdict commands (`check`, `deploy verify`,
//! `deploy rollback`) give 0 to 2 and 4 their meaning, every other command succeeds with 0
//! or fails with 1, and bad usage is 3 everywhere, distinct from every verdict.

/// Done: `check` up, `deploy verify` passed, `deploy rollback` healthy after the rollback,
/// any other command did what was asked. `--help` and `--version` exit 0 too.
pub const OK: u8 = 0;
/// Failed: `check` degraded, `deploy verify` a check failed or the watch after the deploy
/// judged the release bad, `deploy gate` the new release does worse; any other command
/// could not do its work (the server was not reached or refused, a file could not be
/// written).
pub const FAILED: u8 = 1;
/// `check` down; `deploy verify` a check failed, the rollback ran, and the checks held
/// after it.
pub const DOWN: u8 = 2;
/// Bad usage, for every command: an unknown flag, a bad value or config, nothing to check.
pub const USAGE: u8 = 3;
/// `deploy`: the rollback failed too (a step failed, or the checks still fail after it).
pub const ROLLBACK_FAILED: u8 = 4;
/// `deploy gate`: a release was seen too little to compare.
pub const NO_DATA: u8 = 5;

/// The table as `lookout --help` and the verdict commands' help print it.
pub const TABLE: &str = "\
Exit codes (one table for every lookout command):
  0  passed: check up; deploy verify every check passed (and with --watch the release was
     judged good); deploy rollback rolled back and the checks held after it; deploy gate
     passed; any other command did what was asked
  1  a check failed: check degraded; deploy verify a check failed, or with --watch the
     release was judged bad; deploy gate failed; any other command could not do its work
     (the server was not reached or refused it, a file was not written)
  2  a check failed, the rollback ran, and the checks held after it (deploy verify);
     check down
  3  bad usage, for every command: an unknown flag, a bad value or config, nothing to check
  4  the rollback failed too: a step failed, or the checks still fail after it (deploy)
  5  not enough data to judge: deploy gate saw a release too little to compare
--help and --version exit 0.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_distinct_from_every_verdict_and_the_table_lists_every_code() {
        for verdict in [OK, FAILED, DOWN, ROLLBACK_FAILED, NO_DATA] {
            assert_ne!(verdict, USAGE);
        }
        for code in [OK, FAILED, DOWN, USAGE, ROLLBACK_FAILED, NO_DATA] {
            assert!(TABLE.contains(&format!("\n  {code}  ")), "{code}");
        }
    }
}
