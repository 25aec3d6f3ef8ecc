//! Latency: request durations (from transactions and segment spans) and health sub-check
//! durations, kept as mergeable histograms per minute, hour and day rather than as rows
//! per request. Ingest merges each batch's histograms into the rows of its minutes, hours
//! and days; a range query merges the day rows inside the range, the hour rows at its
//! edges and the minute rows at theirs.

use std::collections::BTreeMap;

use lookout_core::histogram::{Histogram, SparseHistogram};
use serde::Serialize;

use crate::sql::{params, push_arg, sql, Conn, Insert, Param, Returns, Sql, Ty};
use crate::{Db, Result, StoreError};

/// `latency_rollups.kind` of request durations, owned by a project.
pub const KIND_REQUEST: &str = "request";
/// `latency_rollups.kind` of health sub-check durations, owned by a monitor.
pub const KIND_HEALTH: &str = "health";

/// A minute, the fine resolution (kept [`MINUTE_RETENTION_MS`]).
pub const MINUTE_MS: i64 = 60_000;
/// An hour (kept as long as day roll-ups of uptime).
pub const HOUR_MS: i64 = 3_600_000;
/// A day (UTC), the coarsest resolution, kept as long as hours: a month's percentiles
/// merge 30 rows per transaction rather than 720.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// How long minute rows are kept: long enough for every burn-rate window.
pub const MINUTE_RETENTION_MS: i64 = 4 * 24 * HOUR_MS;

/// One timed request or sub-check, as ingest hands it to the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySample {
    /// [`KIND_REQUEST`] or [`KIND_HEALTH`].
    pub kind: &'static str,
    /// The project (requests) or monitor (health).
    pub owner_id: i64,
    /// Transaction or segment name; sub-check name.
    pub name: String,
    /// Release, empty when unknown.
    pub release: String,
    /// Environment, empty when unknown.
    pub environment: String,
    /// When it started, Unix ms.
    pub at_ms: i64,
    /// How long it took.
    pub duration_ms: f64,
    /// Whether it failed.
    pub error: bool,
}

/// Which rows a latency query reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyQuery {
    /// [`KIND_REQUEST`] or [`KIND_HEALTH`].
    pub kind: &'static str,
    /// The project or monitor.
    pub owner_id: i64,
    /// Start, inclusive, Unix ms.
    pub from_ms: i64,
    /// End, exclusive, Unix ms.
    pub to_ms: i64,
    /// Only this transaction (or sub-check).
    pub name: Option<String>,
    /// Only this release.
    pub release: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
}

/// Merged durations of a group of requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyStats {
    /// The group's key: a transaction name, or the start of a period (as text), or empty.
    pub key: String,
    /// Start of the period for series, Unix ms.
    pub start_ms: i64,
    /// The durations.
    pub hist: Histogram,
    /// How many failed.
    pub errors: u64,
}

/// Percentiles of a group, as the API shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PercentileSummary {
    /// Requests.
    pub count: u64,
    /// Failed requests.
    pub errors: u64,
    /// Median, ms.
    pub p50_ms: Option<f64>,
    /// 75th percentile, ms.
    pub p75_ms: Option<f64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// Mean, ms.
    pub mean_ms: Option<f64>,
    /// Slowest, ms.
    pub max_ms: Option<f64>,
}

impl LatencyStats {
    /// The percentiles of the group.
    pub fn summary(&self) -> PercentileSummary {
        let h = &self.hist;
        PercentileSummary {
            count: h.count(),
            errors: self.errors,
            p50_ms: h.quantile(50.0),
            p75_ms: h.quantile(75.0),
            p95_ms: h.quantile(95.0),
            p99_ms: h.quantile(99.0),
            mean_ms: h.mean_ms(),
            max_ms: h.max_ms(),
        }
    }
}

/// Latency histograms.
pub trait LatencyStore: Send + Sync + 'static {
    /// Adds samples outside an ingest batch (health sub-checks), in one transaction.
    fn record_latency(&self, samples: &[LatencySample]) -> Result<()>;
    /// All durations matching `q`, merged.
    fn latency_total(&self, q: &LatencyQuery) -> Result<LatencyStats>;
    /// Durations matching `q` per name, slowest p95 first.
    fn latency_by_name(&self, q: &LatencyQuery) -> Result<Vec<LatencyStats>>;
    /// Durations matching `q` per period of `step_ms` (a multiple of a minute; periods
    /// start at multiples of `step_ms` since the epoch), oldest first, empty periods left
    /// out.
    fn latency_series(&self, q: &LatencyQuery, step_ms: i64) -> Result<Vec<LatencyStats>>;
    /// Deletes minute rows older than `before_ms` and hour and day rows older than
    /// `hours_before_ms`; returns how many rows went.
    fn prune_latency(&self, before_ms: i64, hours_before_ms: i64) -> Result<u64>;
    /// Merges the durations written since the last call into the minute, hour and day
    /// rows (the roll-up job, every few seconds); returns how many writes it merged.
    /// Queries read the durations either way.
    fn compact_latency(&self) -> Result<u64>;
}

/// A roll-up row's key: kind, owner, resolution, bucket start, name, release,
/// environment; in this order every writer locks them, so that PostgreSQL instances
/// cannot deadlock.
type Key = (String, i64, i64, i64, String, String, String);

/// How many deltas one compaction step takes: bounds its memory and its transaction.
const COMPACT_STEP: i64 = 5_000;

static DELTAS: Insert = Insert::new(
    "latency_deltas",
    &[
        ("kind", Ty::Text),
        ("owner_id", Ty::Int8),
        ("minute_ms", Ty::Int8),
        ("name", Ty::Text),
        ("release", Ty::Text),
        ("environment", Ty::Text),
        ("errors", Ty::Int8),
        ("hist", Ty::Bytea),
    ],
    "",
    Returns::Nothing,
);

/// Appends the samples, one small histogram per minute and series, inside the caller's
/// transaction: nothing is read, and no large row is rewritten at each commit (the
/// roll-up job merges them into the minute, hour and day rows, [`compact`]).
pub(crate) fn add_samples(c: &mut dyn Conn, samples: &[LatencySample]) -> Result<()> {
    if samples.is_empty() {
        return Ok(());
    }
    type Series<'a> = (&'a str, i64, i64, &'a str, &'a str, &'a str);
    let mut rows: BTreeMap<Series<'_>, (SparseHistogram, i64)> = BTreeMap::new();
    for s in samples {
        let key = (
            s.kind,
            s.owner_id,
            s.at_ms.div_euclid(MINUTE_MS) * MINUTE_MS,
            s.name.as_str(),
            s.release.as_str(),
            s.environment.as_str(),
        );
        let (h, errors) = rows.entry(key).or_default();
        h.record(s.duration_ms);
        *errors += i64::from(s.error);
    }
    let rows: Vec<(Series<'_>, i64, Vec<u8>)> = rows
        .into_iter()
        .map(|(series, (h, errors))| (series, errors, h.encode()))
        .collect();
    let mut args = Vec::with_capacity(rows.len() * DELTAS.columns.len());
    for ((kind, owner, minute, name, release, environment), errors, hist) in &rows {
        args.extend_from_slice(params![
            kind,
            owner,
            minute,
            name,
            release,
            environment,
            errors,
            hist
        ]);
    }
    c.insert_all(&DELTAS, &args)
}

/// Moves every committed delta into the minute, hour and day rows, in steps of
/// [`COMPACT_STEP`] each in its own transaction; returns how many deltas went. A delta
/// is deleted in the very transaction that merges it (`DELETE … RETURNING` hands over
/// exactly the rows it deletes), so none is merged twice or lost, whichever instance
/// compacts and whenever it is killed; two compacting at once (a handover of the jobs
/// duty) take disjoint rows rather than wait on each other's.
fn compact<D: Db>(db: &D) -> Result<u64> {
    let mut total = 0u64;
    loop {
        let n = db.transaction(|c| {
            let mut rows: BTreeMap<Key, (Histogram, i64)> = BTreeMap::new();
            let mut n = 0u64;
            c.each(
                sql!(
                    "DELETE FROM latency_deltas WHERE id IN
                         (SELECT id FROM latency_deltas ORDER BY id LIMIT ?1
                          FOR UPDATE SKIP LOCKED)
                     RETURNING kind, owner_id, minute_ms, name, release, environment, errors, hist"
                ),
                params![COMPACT_STEP],
                |r| {
                    n += 1;
                    let (kind, owner, minute): (String, i64, i64) =
                        (r.get(0)?, r.get(1)?, r.get(2)?);
                    let (name, release, environment): (String, String, String) =
                        (r.get(3)?, r.get(4)?, r.get(5)?);
                    let errors: i64 = r.get(6)?;
                    let hist: Vec<u8> = r.get(7)?;
                    for res in [MINUTE_MS, HOUR_MS, DAY_MS] {
                        let key = (
                            kind.clone(),
                            owner,
                            res,
                            minute.div_euclid(res) * res,
                            name.clone(),
                            release.clone(),
                            environment.clone(),
                        );
                        let (h, e) = rows.entry(key).or_default();
                        if !h.merge_encoded(&hist) {
                            return Err(StoreError::Corrupt(format!(
                                "latency delta of {kind} {owner} {name:?} at {minute} is unreadable"
                            )));
                        }
                        *e += errors;
                    }
                    Ok(())
                },
            )?;
            fold_rows(c, &rows)?;
            Ok(n)
        })?;
        total += n;
        if n < COMPACT_STEP as u64 {
            return Ok(total);
        }
    }
}

/// Merges histograms into their roll-up rows, inside the caller's transaction.
fn fold_rows(c: &mut dyn Conn, rows: &BTreeMap<Key, (Histogram, i64)>) -> Result<()> {
    for ((kind, owner, res, bucket, name, release, environment), (add, errors)) in rows {
        let key = params![kind, owner, res, bucket, name, release, environment];
        let found = c.row(
            sql!(
                "SELECT hist FROM latency_rollups
                 WHERE kind = ?1 AND owner_id = ?2 AND resolution_ms = ?3 AND bucket_ms = ?4
                     AND name = ?5 AND release = ?6 AND environment = ?7
                 FOR UPDATE"
            ),
            key,
            |r| r.get::<Vec<u8>>(0),
        )?;
        if found.is_none() {
            let bytes = add.encode();
            let count = crate::batch::to_i64(add.count());
            let inserted = c.exec(
                sql!(
                    "INSERT INTO latency_rollups (kind, owner_id, resolution_ms, bucket_ms, name,
                         release, environment, count, errors, hist)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT DO NOTHING"
                ),
                params![
                    kind,
                    owner,
                    res,
                    bucket,
                    name,
                    release,
                    environment,
                    count,
                    errors,
                    bytes
                ],
            )?;
            if inserted == 1 {
                continue;
            }
        }
        // The row exists (found, or inserted by another instance meanwhile): merge into it.
        let old = match found {
            Some(b) => b,
            None => c
                .row(
                    sql!(
                        "SELECT hist FROM latency_rollups
                         WHERE kind = ?1 AND owner_id = ?2 AND resolution_ms = ?3
                             AND bucket_ms = ?4 AND name = ?5 AND release = ?6
                             AND environment = ?7
                         FOR UPDATE"
                    ),
                    key,
                    |r| r.get::<Vec<u8>>(0),
                )?
                .ok_or_else(|| StoreError::Corrupt("latency row vanished".into()))?,
        };
        let mut merged = add.clone();
        if !merged.merge_encoded(&old) {
            return Err(StoreError::Corrupt(format!(
                "latency histogram of {kind} {owner} {name:?} at {bucket} is unreadable"
            )));
        }
        let bytes = merged.encode();
        let count = crate::batch::to_i64(merged.count());
        c.exec(
            sql!(
                "UPDATE latency_rollups SET count = ?8, errors = errors + ?9, hist = ?10
                 WHERE kind = ?1 AND owner_id = ?2 AND resolution_ms = ?3 AND bucket_ms = ?4
                     AND name = ?5 AND release = ?6 AND environment = ?7"
            ),
            params![
                kind,
                owner,
                res,
                bucket,
                name,
                release,
                environment,
                count,
                errors,
                bytes
            ],
        )?;
    }
    Ok(())
}

/// One stored row as a range query reads it.
struct Rollup<'r> {
    bucket_ms: i64,
    name: &'r str,
    errors: i64,
    hist: &'r [u8],
}

/// The pieces of `[from, to)` to read: `(resolution, start, end)`, the coarsest rows
/// wholly inside it, finer ones at the edges.
fn pieces(from: i64, to: i64) -> Vec<(i64, i64, i64)> {
    fn split(res: usize, a: i64, b: i64, out: &mut Vec<(i64, i64, i64)>) {
        const LEVELS: [i64; 3] = [MINUTE_MS, HOUR_MS, DAY_MS];
        if a >= b {
            return;
        }
        let size = LEVELS[res];
        if res == 0 {
            out.push((size, a, b));
            return;
        }
        let inner_a = (a + size - 1).div_euclid(size) * size;
        let inner_b = b.div_euclid(size) * size;
        if inner_a < inner_b {
            out.push((size, inner_a, inner_b));
            split(res - 1, a, inner_a, out);
            split(res - 1, inner_b, b, out);
        } else {
            split(res - 1, a, b, out);
        }
    }
    let mut out = Vec::new();
    split(2, from, to, &mut out);
    out
}

/// Streams the rows covering `[from_ms, to_ms)` (from the start of its first minute).
fn each_rollup(
    c: &mut dyn Conn,
    q: &LatencyQuery,
    mut each: impl FnMut(Rollup<'_>) -> Result<()>,
) -> Result<()> {
    let from = q.from_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
    // The rolled-up rows, then the deltas not yet merged into them (minute rows in all
    // but name: each delta belongs to one minute).
    let mut ranges: Vec<(Option<i64>, i64, i64)> = pieces(from, q.to_ms)
        .into_iter()
        .map(|(res, a, b)| (Some(res), a, b))
        .collect();
    ranges.push((None, from, q.to_ms));
    for (res, a, b) in ranges {
        if a >= b {
            continue;
        }
        let mut args: Vec<Param<'_>> = Vec::with_capacity(8);
        let mut text = match res {
            Some(_) => String::from(
                "SELECT bucket_ms, name, errors, hist FROM latency_rollups WHERE kind = ",
            ),
            None => String::from(
                "SELECT minute_ms, name, errors, hist FROM latency_deltas WHERE kind = ",
            ),
        };
        text.push_str(&push_arg(&mut args, Param::Text(q.kind)));
        text.push_str(" AND owner_id = ");
        text.push_str(&push_arg(&mut args, Param::Int(q.owner_id)));
        let at = match res {
            Some(res) => {
                text.push_str(" AND resolution_ms = ");
                text.push_str(&push_arg(&mut args, Param::Int(res)));
                "bucket_ms"
            }
            None => "minute_ms",
        };
        text.push_str(&format!(" AND {at} >= "));
        text.push_str(&push_arg(&mut args, Param::Int(a)));
        text.push_str(&format!(" AND {at} < "));
        text.push_str(&push_arg(&mut args, Param::Int(b)));
        for (col, v) in [
            ("name", &q.name),
            ("release", &q.release),
            ("environment", &q.environment),
        ] {
            if let Some(v) = v {
                text.push_str(&format!(" AND {col} = "));
                text.push_str(&push_arg(&mut args, Param::Text(v)));
            }
        }
        let stmt = Sql::owned(text);
        c.each(&stmt, &args, |r| {
            let name: String = r.get(1)?;
            let hist: Vec<u8> = r.get(3)?;
            each(Rollup {
                bucket_ms: r.get(0)?,
                name: &name,
                errors: r.get(2)?,
                hist: &hist,
            })
        })?;
    }
    Ok(())
}

fn merge_into(s: &mut LatencyStats, r: &Rollup<'_>) -> Result<()> {
    if !s.hist.merge_encoded(r.hist) {
        return Err(StoreError::Corrupt(format!(
            "latency histogram of {:?} at {} is unreadable",
            r.name, r.bucket_ms
        )));
    }
    s.errors += crate::batch::to_u64(r.errors);
    Ok(())
}

impl<D: Db> LatencyStore for D {
    fn record_latency(&self, samples: &[LatencySample]) -> Result<()> {
        self.transaction(|c| add_samples(c, samples))
    }

    fn latency_total(&self, q: &LatencyQuery) -> Result<LatencyStats> {
        self.snapshot(|c| {
            let mut s = LatencyStats {
                start_ms: q.from_ms,
                ..LatencyStats::default()
            };
            each_rollup(c, q, |r| merge_into(&mut s, &r))?;
            Ok(s)
        })
    }

    fn latency_by_name(&self, q: &LatencyQuery) -> Result<Vec<LatencyStats>> {
        self.snapshot(|c| {
            let mut by: BTreeMap<String, LatencyStats> = BTreeMap::new();
            each_rollup(c, q, |r| {
                let s = match by.get_mut(r.name) {
                    Some(s) => s,
                    None => by.entry(r.name.to_string()).or_insert(LatencyStats {
                        key: r.name.to_string(),
                        start_ms: q.from_ms,
                        ..LatencyStats::default()
                    }),
                };
                merge_into(s, &r)
            })?;
            let mut out: Vec<LatencyStats> = by.into_values().collect();
            out.sort_by(|a, b| {
                let p = |s: &LatencyStats| s.hist.quantile(95.0).unwrap_or(0.0);
                p(b).total_cmp(&p(a)).then_with(|| a.key.cmp(&b.key))
            });
            Ok(out)
        })
    }

    fn latency_series(&self, q: &LatencyQuery, step_ms: i64) -> Result<Vec<LatencyStats>> {
        if step_ms < MINUTE_MS || step_ms % MINUTE_MS != 0 {
            return Err(StoreError::Invalid(format!(
                "a latency series step must be a whole number of minutes, not {step_ms} ms"
            )));
        }
        self.snapshot(|c| {
            let mut by: BTreeMap<i64, LatencyStats> = BTreeMap::new();
            each_rollup(c, q, |r| {
                let start = r.bucket_ms.div_euclid(step_ms) * step_ms;
                let s = by.entry(start).or_insert_with(|| LatencyStats {
                    key: String::new(),
                    start_ms: start,
                    ..LatencyStats::default()
                });
                merge_into(s, &r)
            })?;
            Ok(by.into_values().collect())
        })
    }

    fn prune_latency(&self, before_ms: i64, hours_before_ms: i64) -> Result<u64> {
        self.write(|c| {
            let minutes = c.exec(
                sql!("DELETE FROM latency_rollups WHERE resolution_ms = ?1 AND bucket_ms < ?2"),
                params![MINUTE_MS, before_ms],
            )?;
            let hours = c.exec(
                sql!("DELETE FROM latency_rollups WHERE resolution_ms >= ?1 AND bucket_ms < ?2"),
                params![HOUR_MS, hours_before_ms],
            )?;
            Ok(minutes + hours)
        })
    }

    fn compact_latency(&self) -> Result<u64> {
        compact(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_into_the_coarsest_rows_inside_them() {
        let t = 1_000 * DAY_MS;
        let got = pieces(t - 90 * MINUTE_MS, t + DAY_MS + HOUR_MS + 5 * MINUTE_MS);
        let mut want = vec![
            (DAY_MS, t, t + DAY_MS),
            (HOUR_MS, t - HOUR_MS, t),
            (MINUTE_MS, t - 90 * MINUTE_MS, t - HOUR_MS),
            (HOUR_MS, t + DAY_MS, t + DAY_MS + HOUR_MS),
            (
                MINUTE_MS,
                t + DAY_MS + HOUR_MS,
                t + DAY_MS + HOUR_MS + 5 * MINUTE_MS,
            ),
        ];
        let mut got_sorted = got.clone();
        got_sorted.sort();
        want.sort();
        assert_eq!(got_sorted, want);
        // Pieces never overlap and cover the range.
        let covered: i64 = got.iter().map(|(_, a, b)| b - a).sum();
        assert_eq!(covered, DAY_MS + 2 * HOUR_MS + 35 * MINUTE_MS);
        assert_eq!(
            pieces(t, t + 10 * MINUTE_MS),
            vec![(MINUTE_MS, t, t + 10 * MINUTE_MS)]
        );
        assert!(pieces(t, t).is_empty());
    }
}
