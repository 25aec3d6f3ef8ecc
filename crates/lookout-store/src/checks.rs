//! Uptime history, written once for both backends so they cannot drift: how a check result
//! is packed into a row, how raw results become roll-ups (buckets, nearest-rank
//! percentiles), how a latency summary mixes raw results with roll-ups, and in what order
//! `write_checks` writes.

use std::collections::{HashMap, HashSet};

use lookout_core::signal::Signal;
use lookout_core::stats::nearest_rank;

use crate::model::{
    CheckBatch, CheckFigures, CheckOutcome, CheckRecord, LatencySummary, MonitorStatus, NewMonitor,
    OutageChange, Resolution, Rollup,
};
use crate::{Result, StoreError};

/// Every resolution, finest first.
pub(crate) const RESOLUTIONS: [Resolution; 3] =
    [Resolution::Minute, Resolution::Hour, Resolution::Day];

/// Bit of `check_results.code` set for a check that ran inside a maintenance window.
const CODE_MAINTENANCE: i16 = 4;

/// Packs an outcome and the maintenance flag into the small integer stored per result.
/// An ordinary Up check packs to 0, which SQLite stores in zero bytes.
pub(crate) fn pack_code(outcome: CheckOutcome, maintenance: bool) -> i16 {
    let base = match outcome {
        CheckOutcome::Up => 0,
        CheckOutcome::Degraded => 1,
        CheckOutcome::Down => 2,
    };
    if maintenance {
        base | CODE_MAINTENANCE
    } else {
        base
    }
}

/// Reverses [`pack_code`].
pub(crate) fn unpack_code(code: i64) -> Result<(CheckOutcome, bool)> {
    let outcome = match code & !i64::from(CODE_MAINTENANCE) {
        0 => CheckOutcome::Up,
        1 => CheckOutcome::Degraded,
        2 => CheckOutcome::Down,
        _ => return Err(StoreError::Corrupt(format!("check result code {code}"))),
    };
    Ok((outcome, code & i64::from(CODE_MAINTENANCE) != 0))
}

/// A latency as stored: PostgreSQL keeps it in an `integer`, and a check taking more than
/// 24 days is not worth a wider column.
pub(crate) fn latency_to_db(latency: Option<u32>) -> Option<i32> {
    latency.map(|l| i32::try_from(l).unwrap_or(i32::MAX))
}

/// A stored latency or counter back as `u32`.
pub(crate) fn u32_from_db(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v}")))
}

/// [`u32_from_db`] for a nullable column.
pub(crate) fn opt_u32_from_db(v: Option<i64>, what: &str) -> Result<Option<u32>> {
    v.map(|v| u32_from_db(v, what)).transpose()
}

/// A counter for an `integer` column; buckets never hold 2^31 checks.
pub(crate) fn u32_to_db(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// The names of the figure columns (of results and roll-ups alike), in
/// [`CheckFigures::to_array`] order.
pub(crate) const FIGURE_COLUMNS: [&str; 6] = [
    "dns_ms",
    "connect_ms",
    "tls_ms",
    "first_byte_ms",
    "memory_kb",
    "cpu_permille",
];

/// Figures as stored (`integer` columns, like latencies).
pub(crate) fn figures_to_db(f: &CheckFigures) -> [Option<i32>; 6] {
    f.to_array().map(latency_to_db)
}

/// Reads the six figure columns starting at `first`.
pub(crate) fn figures_from_row(row: &dyn crate::sql::Row, first: usize) -> Result<CheckFigures> {
    let mut a = [None; 6];
    for (i, slot) in a.iter_mut().enumerate() {
        *slot = opt_u32_from_db(row.get(first + i)?, FIGURE_COLUMNS[i])?;
    }
    Ok(CheckFigures::from_array(a))
}

/// Builds a result read back from its columns.
pub(crate) fn check_record(
    monitor_id: i64,
    at_ms: i64,
    latency_ms: Option<i64>,
    code: i64,
    error: Option<String>,
    figures: CheckFigures,
) -> Result<CheckRecord> {
    let (outcome, maintenance) = unpack_code(code)?;
    Ok(CheckRecord {
        monitor_id,
        at_ms,
        latency_ms: opt_u32_from_db(latency_ms, "check latency")?,
        outcome,
        maintenance,
        error,
        figures,
    })
}

/// The stored `resolution`: the bucket length in minutes, readable in SQL.
pub(crate) fn resolution_code(r: Resolution) -> i16 {
    match r {
        Resolution::Minute => 1,
        Resolution::Hour => 60,
        Resolution::Day => 1440,
    }
}

/// Reverses [`resolution_code`].
pub(crate) fn resolution_from_code(code: i64) -> Result<Resolution> {
    match code {
        1 => Ok(Resolution::Minute),
        60 => Ok(Resolution::Hour),
        1440 => Ok(Resolution::Day),
        _ => Err(StoreError::Corrupt(format!("roll-up resolution {code}"))),
    }
}

/// Start of the bucket holding `at_ms` (also before 1970: floor, not truncation).
pub(crate) fn bucket_start(at_ms: i64, r: Resolution) -> i64 {
    at_ms.div_euclid(r.bucket_ms()) * r.bucket_ms()
}

/// The buckets `rollup_checks` still owes at one resolution, as `[start, end)`: from the
/// watermark (or, on the first run, the bucket of the oldest raw result) to the last
/// bucket that ended by `now_ms`. `None` when there is nothing to do.
pub(crate) fn rollup_range(
    r: Resolution,
    watermark: Option<i64>,
    oldest_raw: Option<i64>,
    now_ms: i64,
) -> Option<(i64, i64)> {
    let start = match watermark {
        Some(w) => w,
        None => bucket_start(oldest_raw?, r),
    };
    let end = bucket_start(now_ms, r);
    (end > start).then_some((start, end))
}

/// Buckets computed per scan: bounds the roll-ups held in memory (and, on SQLite, the
/// time the writer is held) when catching up on a long backlog.
fn buckets_per_chunk(r: Resolution) -> i64 {
    match r {
        Resolution::Minute => 15,
        Resolution::Hour => 6,
        Resolution::Day => 1,
    }
}

/// The first chunk of `[start, end)` to scan at one resolution: `[start, chunk_end)`.
pub(crate) fn chunk_end(r: Resolution, start: i64, end: i64) -> i64 {
    start
        .saturating_add(buckets_per_chunk(r) * r.bucket_ms())
        .min(end)
}

/// Latency percentiles and maximum over one set of checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Percentiles {
    pub p50: Option<u32>,
    pub p95: Option<u32>,
    pub p99: Option<u32>,
    pub max: Option<u32>,
}

/// Nearest-rank percentiles (see [`nearest_rank`]). Sorts `latencies` in place.
pub(crate) fn percentiles(latencies: &mut [u32]) -> Percentiles {
    latencies.sort_unstable();
    Percentiles {
        p50: nearest_rank(latencies, 50.0),
        p95: nearest_rank(latencies, 95.0),
        p99: nearest_rank(latencies, 99.0),
        max: latencies.last().copied(),
    }
}

/// Counts and latencies of the checks of one bucket (or one summary range).
#[derive(Debug, Default)]
struct Tally {
    count: u32,
    failures: u32,
    degraded: u32,
    maintenance: u32,
    latencies: Vec<u32>,
    /// Per figure: the sum and how many checks measured it.
    figure_sums: [(u64, u32); 6],
}

impl Tally {
    fn add_figures(&mut self, figures: &CheckFigures) {
        for (slot, v) in self.figure_sums.iter_mut().zip(figures.to_array()) {
            if let Some(v) = v {
                slot.0 += u64::from(v);
                slot.1 += 1;
            }
        }
    }

    /// Each figure's mean, rounded to the nearest unit.
    fn figure_means(&self) -> CheckFigures {
        CheckFigures::from_array(self.figure_sums.map(|(sum, n)| {
            (n > 0).then(|| {
                let n = u64::from(n);
                u32::try_from((sum + n / 2) / n).unwrap_or(u32::MAX)
            })
        }))
    }

    fn add(&mut self, latency: Option<u32>, code: i64) -> Result<()> {
        let (outcome, maintenance) = unpack_code(code)?;
        self.count = self.count.saturating_add(1);
        match outcome {
            CheckOutcome::Up => {}
            CheckOutcome::Degraded => self.degraded = self.degraded.saturating_add(1),
            CheckOutcome::Down => self.failures = self.failures.saturating_add(1),
        }
        if maintenance {
            self.maintenance = self.maintenance.saturating_add(1);
        }
        if let Some(l) = latency {
            self.latencies.push(l);
        }
        Ok(())
    }
}

/// Monitors whose results one roll-up scan reads. The scan's latencies are held in memory
/// until it ends: 500 monitors checked every minute make 720,000 for a day, ~3 MB.
pub(crate) const ROLLUP_MONITORS_PER_SCAN: usize = 500;

/// Turns raw results, in any order, into roll-ups of one resolution.
pub(crate) struct RollupBuilder {
    resolution: Resolution,
    buckets: HashMap<(i64, i64), Tally>,
}

impl RollupBuilder {
    /// A builder for buckets of `resolution`.
    pub fn new(resolution: Resolution) -> Self {
        Self {
            resolution,
            buckets: HashMap::new(),
        }
    }

    /// Adds one raw result (`code` as stored).
    pub fn push(
        &mut self,
        monitor_id: i64,
        at_ms: i64,
        latency_ms: Option<i64>,
        code: i64,
        figures: &CheckFigures,
    ) -> Result<()> {
        let latency = opt_u32_from_db(latency_ms, "check latency")?;
        let tally = self
            .buckets
            .entry((monitor_id, bucket_start(at_ms, self.resolution)))
            .or_default();
        tally.add_figures(figures);
        tally.add(latency, code)
    }

    /// The roll-ups of every bucket that received a result, in key order.
    pub fn finish(self) -> Vec<Rollup> {
        let mut done: Vec<Rollup> = self
            .buckets
            .into_iter()
            .map(|((monitor_id, start_ms), mut tally)| {
                let p = percentiles(&mut tally.latencies);
                Rollup {
                    monitor_id,
                    resolution: self.resolution,
                    start_ms,
                    count: tally.count,
                    failures: tally.failures,
                    degraded: tally.degraded,
                    maintenance: tally.maintenance,
                    p50_ms: p.p50,
                    p95_ms: p.p95,
                    p99_ms: p.p99,
                    max_ms: p.max,
                    figures: tally.figure_means(),
                }
            })
            .collect();
        done.sort_unstable_by_key(|r| (r.monitor_id, r.start_ms));
        done
    }
}

/// Where [`crate::Store::latency_summary`] reads from: raw results over `raw`, hour
/// roll-ups starting in `hours`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SummaryPlan {
    pub hours: Option<(i64, i64)>,
    pub raw: Option<(i64, i64)>,
}

/// Splits `[from, to)` between roll-ups and raw results. Raw results are used from the
/// first hour they cover completely; hour roll-ups before that, but only when roll-ups
/// reach further back than the raw results (else raw results hold all there ever was, and
/// the answer is exact).
pub(crate) fn summary_plan(
    from: i64,
    to: i64,
    oldest_raw: Option<i64>,
    oldest_hour: Option<i64>,
) -> SummaryPlan {
    if to <= from {
        return SummaryPlan {
            hours: None,
            raw: None,
        };
    }
    let Some(raw_start) = oldest_raw else {
        return SummaryPlan {
            hours: Some((from, to)),
            raw: None,
        };
    };
    let pruned = oldest_hour.is_some_and(|h| h < bucket_start(raw_start, Resolution::Hour));
    if from >= raw_start || !pruned {
        return SummaryPlan {
            hours: None,
            raw: Some((from, to)),
        };
    }
    let first_full_hour = bucket_start(
        raw_start.saturating_add(Resolution::Hour.bucket_ms() - 1),
        Resolution::Hour,
    );
    let cut = first_full_hour.clamp(from, to);
    SummaryPlan {
        hours: (cut > from).then_some((from, cut)),
        raw: (to > cut).then_some((cut, to)),
    }
}

/// Accumulates raw results for a latency summary.
#[derive(Debug, Default)]
pub(crate) struct RawSummary {
    tally: Tally,
}

impl RawSummary {
    /// Adds one raw result (`code` as stored).
    pub fn push(&mut self, latency_ms: Option<i64>, code: i64) -> Result<()> {
        let latency = opt_u32_from_db(latency_ms, "check latency")?;
        self.tally.add(latency, code)
    }
}

/// Combines the raw part (exact) with hour roll-ups: counts add up, the maximum is the
/// largest maximum, and each percentile is the mean of the parts' percentiles weighted by
/// their check counts — an approximation, since percentiles do not merge.
pub(crate) fn summarize(raw: RawSummary, hours: &[Rollup]) -> LatencySummary {
    let mut tally = raw.tally;
    let exact = percentiles(&mut tally.latencies);
    let mut parts: Vec<(u64, Percentiles)> = Vec::with_capacity(hours.len() + 1);
    if !tally.latencies.is_empty() {
        parts.push((u64::from(tally.count), exact));
    }
    let mut count = u64::from(tally.count);
    let mut failures = u64::from(tally.failures);
    for r in hours {
        count += u64::from(r.count);
        failures += u64::from(r.failures);
        if r.p50_ms.is_some() {
            parts.push((
                u64::from(r.count),
                Percentiles {
                    p50: r.p50_ms,
                    p95: r.p95_ms,
                    p99: r.p99_ms,
                    max: r.max_ms,
                },
            ));
        }
    }
    let weighted = |pick: fn(&Percentiles) -> Option<u32>| -> Option<u32> {
        let (mut sum, mut weight) = (0u128, 0u128);
        for (w, p) in &parts {
            if let Some(v) = pick(p) {
                let w = u128::from((*w).max(1));
                sum += w * u128::from(v);
                weight += w;
            }
        }
        (weight > 0).then(|| u32::try_from((sum + weight / 2) / weight).unwrap_or(u32::MAX))
    };
    let summary = LatencySummary {
        count,
        failures,
        p50_ms: weighted(|p| p.p50),
        p95_ms: weighted(|p| p.p95),
        p99_ms: weighted(|p| p.p99),
        max_ms: parts.iter().filter_map(|(_, p)| p.max).max(),
    };
    if hours.is_empty() {
        // Nothing to merge: the raw percentiles as they are, without rounding through
        // the weighted mean.
        return LatencySummary {
            p50_ms: exact.p50,
            p95_ms: exact.p95,
            p99_ms: exact.p99,
            max_ms: exact.max,
            ..summary
        };
    }
    summary
}

/// The statements a backend provides inside the transaction of `write_checks`.
pub(crate) trait CheckTx {
    /// Inserts results, skipping `(monitor_id, at_ms)` already stored.
    fn insert_results(&mut self, results: &[&CheckRecord]) -> Result<()>;
    /// Writes the status columns of each monitor (at most one entry per monitor).
    fn update_statuses(&mut self, statuses: &[&(i64, MonitorStatus)]) -> Result<()>;
    /// Opens an outage `(monitor_id, start_ms, cause)` for each monitor without an open one.
    fn open_outages(&mut self, opens: &[(i64, i64, &str)]) -> Result<()>;
    /// Ends the open outage `(monitor_id, end_ms)` of each monitor, if it has one.
    fn close_outages(&mut self, closes: &[(i64, i64)]) -> Result<()>;
    /// Records signals, in order, assigning their ids.
    fn record_signals(&mut self, signals: &mut [Signal]) -> Result<()>;
}

/// Runs a check batch against an open transaction; the caller commits.
pub(crate) fn write_checks<T: CheckTx + ?Sized>(
    tx: &mut T,
    batch: &CheckBatch,
) -> Result<Vec<Signal>> {
    // Rows are touched in key order, so that PostgreSQL instances writing at once lock
    // them in the same order and cannot deadlock.
    let mut results: Vec<&CheckRecord> = batch.results.iter().collect();
    results.sort_by_key(|r| (r.monitor_id, r.at_ms));
    if !results.is_empty() {
        tx.insert_results(&results)?;
    }

    // The last status given for a monitor is its state now.
    let mut seen: HashSet<i64> = HashSet::with_capacity(batch.statuses.len());
    let mut statuses: Vec<&(i64, MonitorStatus)> = batch
        .statuses
        .iter()
        .rev()
        .filter(|s| seen.insert(s.0))
        .collect();
    statuses.sort_by_key(|s| s.0);
    if !statuses.is_empty() {
        tx.update_statuses(&statuses)?;
    }

    // Changes to one monitor apply in order (a close, then a new open); changes to
    // different monitors are independent. So each round takes the next change of every
    // monitor, and a round needs one statement per kind of change.
    let mut pending: Vec<&OutageChange> = batch.outages.iter().collect();
    while !pending.is_empty() {
        let mut touched: HashSet<i64> = HashSet::new();
        let mut later: Vec<&OutageChange> = Vec::new();
        let mut opens: Vec<(i64, i64, &str)> = Vec::new();
        let mut closes: Vec<(i64, i64)> = Vec::new();
        for change in pending {
            let monitor_id = match change {
                OutageChange::Open { monitor_id, .. } | OutageChange::Close { monitor_id, .. } => {
                    *monitor_id
                }
            };
            if !touched.insert(monitor_id) {
                later.push(change);
                continue;
            }
            match change {
                OutageChange::Open {
                    monitor_id,
                    start_ms,
                    cause,
                } => opens.push((*monitor_id, *start_ms, cause.as_str())),
                OutageChange::Close { monitor_id, end_ms } => closes.push((*monitor_id, *end_ms)),
            }
        }
        closes.sort_unstable();
        opens.sort_by_key(|o| o.0);
        if !closes.is_empty() {
            tx.close_outages(&closes)?;
        }
        if !opens.is_empty() {
            tx.open_outages(&opens)?;
        }
        pending = later;
    }

    // Last, so that a backend serialising signal writers holds its lock only briefly.
    let mut signals = batch.signals.clone();
    if !signals.is_empty() {
        tx.record_signals(&mut signals)?;
    }
    Ok(signals)
}

/// The `Conflict` message for a monitor write that broke the uniqueness rule named in
/// `violated` (SQLite's message or PostgreSQL's constraint name).
pub(crate) fn monitor_conflict(violated: &str, new: &NewMonitor) -> StoreError {
    let scope = match new.project_id {
        Some(p) => format!("in project {p}"),
        None => "among monitors without a project".to_string(),
    };
    StoreError::Conflict(if violated.contains("token") {
        "this ping token is already used by another monitor".to_string()
    } else if violated.contains("slug") {
        format!(
            "monitor slug {:?} is already used {scope}",
            new.slug.as_deref().unwrap_or_default()
        )
    } else if violated.contains("name") {
        format!("a monitor named {:?} already exists {scope}", new.name)
    } else {
        format!("monitor {:?}: {violated}", new.name)
    })
}

/// The stored spec text.
pub(crate) fn spec_to_db(spec: &serde_json::Value) -> String {
    spec.to_string()
}

/// Parses a stored spec.
pub(crate) fn spec_from_db(text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("monitor spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_reject_garbage() {
        for outcome in [CheckOutcome::Up, CheckOutcome::Degraded, CheckOutcome::Down] {
            for maintenance in [false, true] {
                let code = pack_code(outcome, maintenance);
                assert_eq!(
                    unpack_code(i64::from(code)).unwrap(),
                    (outcome, maintenance)
                );
            }
        }
        assert_eq!(pack_code(CheckOutcome::Up, false), 0);
        for bad in [3, 7, 8, -1] {
            assert!(matches!(unpack_code(bad), Err(StoreError::Corrupt(_))));
        }
    }

    #[test]
    fn nearest_rank() {
        let mut v: Vec<u32> = (1..=100).rev().collect();
        let p = percentiles(&mut v);
        assert_eq!(
            (p.p50, p.p95, p.p99, p.max),
            (Some(50), Some(95), Some(99), Some(100))
        );
        let p = percentiles(&mut [7]);
        assert_eq!((p.p50, p.p99, p.max), (Some(7), Some(7), Some(7)));
        // n = 3: ranks ⌈1.5⌉ = 2, ⌈2.85⌉ = 3.
        let p = percentiles(&mut [30, 10, 20]);
        assert_eq!((p.p50, p.p95), (Some(20), Some(30)));
        assert_eq!(percentiles(&mut []), Percentiles::default());
    }

    #[test]
    fn buckets_floor() {
        assert_eq!(bucket_start(59_999, Resolution::Minute), 0);
        assert_eq!(bucket_start(60_000, Resolution::Minute), 60_000);
        assert_eq!(bucket_start(-1, Resolution::Minute), -60_000);
        assert_eq!(
            rollup_range(Resolution::Hour, None, Some(5_000_000), 7_300_000),
            Some((3_600_000, 7_200_000))
        );
        assert_eq!(
            rollup_range(Resolution::Hour, Some(7_200_000), None, 7_300_000),
            None
        );
        assert_eq!(rollup_range(Resolution::Hour, None, None, 9_000_000), None);
    }

    #[test]
    fn builder_splits_by_monitor_and_bucket() {
        let mut b = RollupBuilder::new(Resolution::Minute);
        let phases = |dns, ttfb| CheckFigures {
            dns_ms: Some(dns),
            first_byte_ms: ttfb,
            ..CheckFigures::default()
        };
        b.push(2, 60_001, Some(40), 1, &phases(9, None)).unwrap();
        b.push(1, 60_000, Some(30), 5, &CheckFigures::default())
            .unwrap();
        b.push(1, 59_999, None, 2, &phases(2, Some(7))).unwrap();
        b.push(1, 0, Some(10), 0, &phases(5, None)).unwrap();
        let r = b.finish();
        let keys: Vec<(i64, i64, u32, u32, u32, u32)> = r
            .iter()
            .map(|r| {
                (
                    r.monitor_id,
                    r.start_ms,
                    r.count,
                    r.failures,
                    r.degraded,
                    r.maintenance,
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                (1, 0, 2, 1, 0, 0),
                (1, 60_000, 1, 0, 1, 1),
                (2, 60_000, 1, 0, 1, 0)
            ]
        );
        assert_eq!(r[0].max_ms, Some(10));
        // Means over the checks that measured each figure: (2 + 5) / 2 rounds up to 4;
        // first byte only once; never measured stays absent.
        assert_eq!(r[0].figures.dns_ms, Some(4));
        assert_eq!(r[0].figures.first_byte_ms, Some(7));
        assert_eq!(r[0].figures.tls_ms, None);
        assert_eq!(r[1].figures, CheckFigures::default());
        assert_eq!(r[2].figures.dns_ms, Some(9));
        let mut bad = RollupBuilder::new(Resolution::Minute);
        assert!(bad
            .push(1, 0, Some(-5), 0, &CheckFigures::default())
            .is_err());
        assert!(bad
            .push(1, 0, Some(5), 9, &CheckFigures::default())
            .is_err());
    }

    #[test]
    fn plan_prefers_raw() {
        let h = Resolution::Hour.bucket_ms();
        // Raw covers the range.
        let p = summary_plan(10 * h, 20 * h, Some(5 * h), Some(0));
        assert_eq!(p.raw, Some((10 * h, 20 * h)));
        assert_eq!(p.hours, None);
        // Raw starts later, but nothing older was rolled up: raw is everything.
        let p = summary_plan(0, 20 * h, Some(5 * h + 7), Some(5 * h));
        assert_eq!(p.raw, Some((0, 20 * h)));
        // Pruned: roll-ups up to the first hour raw covers in full, raw after.
        let p = summary_plan(0, 20 * h, Some(5 * h + 7), Some(0));
        assert_eq!(p.hours, Some((0, 6 * h)));
        assert_eq!(p.raw, Some((6 * h, 20 * h)));
        // No raw at all.
        let p = summary_plan(0, 20 * h, None, Some(0));
        assert_eq!(p.hours, Some((0, 20 * h)));
        assert_eq!(p.raw, None);
    }

    #[test]
    fn summary_weights_by_count() {
        let hour = |count, p| Rollup {
            monitor_id: 1,
            resolution: Resolution::Hour,
            start_ms: 0,
            count,
            failures: 1,
            degraded: 0,
            maintenance: 0,
            p50_ms: Some(p),
            p95_ms: Some(p * 2),
            p99_ms: Some(p * 3),
            max_ms: Some(p * 4),
            figures: CheckFigures::default(),
        };
        let s = summarize(RawSummary::default(), &[hour(3, 100), hour(1, 200)]);
        assert_eq!(s.count, 4);
        assert_eq!(s.failures, 2);
        assert_eq!(s.p50_ms, Some(125));
        assert_eq!(s.p95_ms, Some(250));
        assert_eq!(s.max_ms, Some(800));

        let mut raw = RawSummary::default();
        for l in [10, 20, 30, 40] {
            raw.push(Some(l), 0).unwrap();
        }
        raw.push(None, 2).unwrap();
        let s = summarize(raw, &[]);
        assert_eq!((s.count, s.failures), (5, 1));
        assert_eq!(
            (s.p50_ms, s.p99_ms, s.max_ms),
            (Some(20), Some(40), Some(40))
        );
    }
}
