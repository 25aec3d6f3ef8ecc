//! Mergeable latency histograms: request durations kept as counts per bucket, so that a
//! minute's, an hour's and a month's percentiles all come from sums of small records.
//!
//! The buckets are log-linear in base 10 with three significant digits: below 1 ms they
//! are 0.01 ms wide, from 1 ms to 10 ms 0.01 ms, from 10 ms to 100 ms 0.1 ms, from 100 ms
//! to 1 s 1 ms, and so on. Every duration with at most three significant digits at a
//! resolution of 0.01 ms (300 ms, 500 ms, 100 ms, 2.5 s) is exactly a bucket edge, so "the
//! share of requests under 500 ms" is exact, and a percentile is off by at most half a
//! bucket: 0.5 % of the value. Worked on integers (hundredths of a millisecond), so an edge
//! never moves by a floating-point rounding.

/// Hundredths of a millisecond per millisecond.
const SCALE: f64 = 100.0;
/// Indexes below this are the linear buckets of durations under 1 ms.
const LINEAR: u32 = 100;
/// Buckets per decade (three significant digits: 100–999).
const PER_DECADE: u32 = 900;

/// The largest bucket: that of the longest duration a `u64` of hundredths holds.
const MAX_BUCKET: u32 = LINEAR + 17 * PER_DECADE + (PER_DECADE - 1);

/// The bucket of a duration in milliseconds. Negative and non-finite durations count as 0.
pub fn bucket_of(ms: f64) -> u32 {
    let u = if ms.is_finite() && ms > 0.0 {
        // Saturating: durations of more than 5,800 years share the last bucket.
        (ms * SCALE).floor() as u64
    } else {
        0
    };
    if u < u64::from(LINEAR) {
        return u as u32;
    }
    let digits = u.ilog10() + 1;
    let scale = 10u64.pow(digits - 3);
    let top = (u / scale) as u32;
    LINEAR + (digits - 3) * PER_DECADE + (top - 100)
}

/// The lower edge of a bucket, in hundredths of a millisecond.
fn lower_hundredths(bucket: u32) -> u64 {
    if bucket < LINEAR {
        return u64::from(bucket);
    }
    let decade = (bucket - LINEAR) / PER_DECADE;
    let top = u64::from((bucket - LINEAR) % PER_DECADE + 100);
    top.saturating_mul(10u64.saturating_pow(decade))
}

/// The lower edge of a bucket in milliseconds (inclusive).
pub fn lower_edge(bucket: u32) -> f64 {
    lower_hundredths(bucket) as f64 / SCALE
}

/// The upper edge of a bucket in milliseconds (exclusive).
pub fn upper_edge(bucket: u32) -> f64 {
    lower_edge(bucket + 1)
}

/// Counts of durations per bucket, with their count, sum, minimum and maximum.
///
/// The counts are dense, up to the largest bucket used: merging a month of hourly
/// histograms is then an addition per bucket rather than a tree insertion (a request
/// taking 10 s is bucket 3,700, so a histogram holds a few thousand counters at most).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one duration in milliseconds.
    pub fn record(&mut self, ms: f64) {
        self.record_n(ms, 1);
    }

    /// Records `n` durations of `ms` milliseconds.
    pub fn record_n(&mut self, ms: f64, n: u64) {
        if n == 0 {
            return;
        }
        let ms = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
        self.add_to(bucket_of(ms), n);
        widen(
            (&mut self.min_ms, &mut self.max_ms),
            self.count == 0,
            (ms, ms),
        );
        self.count += n;
        self.sum_ms += ms * n as f64;
    }

    fn add_to(&mut self, bucket: u32, n: u64) {
        let b = bucket as usize;
        if b >= self.counts.len() {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += n;
    }

    /// Adds everything `other` counted.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        widen(
            (&mut self.min_ms, &mut self.max_ms),
            self.count == 0,
            (other.min_ms, other.max_ms),
        );
        self.count += other.count;
        self.sum_ms += other.sum_ms;
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Their sum in milliseconds.
    pub fn sum_ms(&self) -> f64 {
        self.sum_ms
    }

    /// The smallest, when any.
    pub fn min_ms(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min_ms)
    }

    /// The largest, when any.
    pub fn max_ms(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max_ms)
    }

    /// The mean, when any.
    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_ms / self.count as f64)
    }

    /// The nearest-rank percentile `p` (0–100), as in [`crate::stats::nearest_rank`]: the
    /// middle of the bucket holding that rank, kept within the observed minimum and
    /// maximum. The middle keeps it on the right side of every bucket edge: a p95 of
    /// 499.6 ms reads as under 500 ms, one of 500.2 ms as over.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let p = (p.clamp(0.0, 100.0) * 10_000.0).round() as u128;
        let rank = (p * u128::from(self.count)).div_ceil(1_000_000).max(1);
        let mut seen: u128 = 0;
        for (b, &n) in self.counts.iter().enumerate() {
            seen += u128::from(n);
            if n > 0 && seen >= rank {
                let b = b as u32;
                let mid = (lower_edge(b) + upper_edge(b)) / 2.0;
                return Some(mid.clamp(self.min_ms, self.max_ms));
            }
        }
        Some(self.max_ms)
    }

    /// How many durations were under `threshold_ms` (strictly). Exact when the threshold
    /// is a bucket edge (three significant digits at 0.01 ms); otherwise the bucket holding
    /// the threshold counts as over it.
    pub fn count_under(&self, threshold_ms: f64) -> u64 {
        let limit = (bucket_of(threshold_ms) as usize).min(self.counts.len());
        self.counts[..limit].iter().sum()
    }

    /// The share (0–1) of durations under `threshold_ms`; `None` when empty.
    pub fn share_under(&self, threshold_ms: f64) -> Option<f64> {
        (self.count > 0).then(|| self.count_under(threshold_ms) as f64 / self.count as f64)
    }

    /// A compact byte form: a version byte, count, sum, min, max, then (bucket delta,
    /// count) pairs as LEB128 varints.
    pub fn encode(&self) -> Vec<u8> {
        let used = self.counts.iter().filter(|n| **n > 0).count();
        let mut out = Vec::with_capacity(HEADER + used * 3);
        put_header(&mut out, self.count, self.sum_ms, self.min_ms, self.max_ms);
        let mut last = 0u32;
        for (b, &n) in self.counts.iter().enumerate().filter(|(_, n)| **n > 0) {
            let b = b as u32;
            put_varint(&mut out, u64::from(b - last));
            put_varint(&mut out, n);
            last = b;
        }
        out
    }

    /// Reads [`Histogram::encode`]'s form; `None` when the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Option<Histogram> {
        let mut h = Histogram::new();
        h.merge_encoded(bytes).then_some(h)
    }

    /// Adds an encoded histogram without building it first (the hot path of range
    /// queries); `false`, with `self` possibly partly added to, when the bytes are bad.
    pub fn merge_encoded(&mut self, bytes: &[u8]) -> bool {
        let mut r = Reader { bytes, at: 0 };
        let Some(1) = r.byte() else { return false };
        let (Some(count), Some(sum), Some(min), Some(max)) =
            (r.varint(), r.f64(), r.f64(), r.f64())
        else {
            return false;
        };
        if count == 0 {
            return true;
        }
        let mut bucket = 0u32;
        let mut total = 0u64;
        while r.at < bytes.len() {
            let (Some(delta), Some(n)) = (r.varint(), r.varint()) else {
                return false;
            };
            // Beyond the bucket of the longest duration there is: not a histogram.
            let Some(b) = u32::try_from(delta)
                .ok()
                .and_then(|d| bucket.checked_add(d))
                .filter(|b| *b <= MAX_BUCKET)
            else {
                return false;
            };
            bucket = b;
            self.add_to(bucket, n);
            total = total.saturating_add(n);
        }
        if total != count {
            return false;
        }
        widen(
            (&mut self.min_ms, &mut self.max_ms),
            self.count == 0,
            (min, max),
        );
        self.count += count;
        self.sum_ms += sum;
        true
    }
}

/// A few durations on their way into the store (one commit's requests of one transaction
/// in one minute): their buckets in a short list rather than the dense counters, which
/// would be a few thousand zeros to allocate and scan for each of the hundreds of series a
/// commit writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseHistogram {
    /// The bucket of each duration, in the order recorded.
    buckets: Vec<u32>,
    count: u64,
    sum_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

impl SparseHistogram {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one duration in milliseconds, as [`Histogram::record`] does.
    pub fn record(&mut self, ms: f64) {
        let ms = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
        self.buckets.push(bucket_of(ms));
        widen(
            (&mut self.min_ms, &mut self.max_ms),
            self.count == 0,
            (ms, ms),
        );
        self.count += 1;
        self.sum_ms += ms;
    }

    /// [`Histogram::encode`]'s form of these durations.
    pub fn encode(mut self) -> Vec<u8> {
        self.buckets.sort_unstable();
        let mut out = Vec::with_capacity(HEADER + self.buckets.len() * 3);
        put_header(&mut out, self.count, self.sum_ms, self.min_ms, self.max_ms);
        let mut last = 0u32;
        for run in self.buckets.chunk_by(|a, b| a == b) {
            put_varint(&mut out, u64::from(run[0] - last));
            put_varint(&mut out, run.len() as u64);
            last = run[0];
        }
        out
    }
}

/// The encoded header's size: version, a count of up to ten varint bytes, three `f64`s.
const HEADER: usize = 1 + 10 + 3 * 8;

fn put_header(out: &mut Vec<u8>, count: u64, sum_ms: f64, min_ms: f64, max_ms: f64) {
    out.push(1);
    put_varint(out, count);
    out.extend_from_slice(&sum_ms.to_le_bytes());
    out.extend_from_slice(&min_ms.to_le_bytes());
    out.extend_from_slice(&max_ms.to_le_bytes());
}

/// Widens a (minimum, maximum) to take in another, or takes it when nothing was counted.
fn widen((min, max): (&mut f64, &mut f64), empty: bool, (lo, hi): (f64, f64)) {
    if empty {
        (*min, *max) = (lo, hi);
    } else {
        (*min, *max) = (min.min(lo), max.max(hi));
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn f64(&mut self) -> Option<f64> {
        let end = self.at.checked_add(8)?;
        let v = f64::from_le_bytes(self.bytes.get(self.at..end)?.try_into().ok()?);
        self.at = end;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_thresholds_are_bucket_edges() {
        for t in [100.0, 300.0, 500.0, 1000.0, 2500.0, 1.0, 0.5] {
            let b = bucket_of(t);
            assert_eq!(lower_edge(b), t, "{t} ms starts a bucket");
            assert_eq!(upper_edge(b - 1), t, "{t} ms ends the bucket before");
        }
        assert_eq!(bucket_of(499.999), bucket_of(500.0) - 1);
        assert_eq!(bucket_of(-3.0), 0);
        assert_eq!(bucket_of(f64::NAN), 0);
    }

    #[test]
    fn buckets_are_three_significant_digits_wide() {
        assert_eq!(
            upper_edge(bucket_of(123.4)) - lower_edge(bucket_of(123.4)),
            1.0
        );
        assert_eq!(lower_edge(bucket_of(123.4)), 123.0);
        assert_eq!(lower_edge(bucket_of(12_345.0)), 12_300.0);
        assert_eq!(lower_edge(bucket_of(0.37)), 0.37);
        assert_eq!(lower_edge(bucket_of(7.777)), 7.77);
        // Consecutive and increasing over the whole range.
        let mut last = -1.0;
        // Up to the bucket of the longest duration there is (u64::MAX hundredths).
        for b in 0..bucket_of(1e17) {
            assert!(lower_edge(b) > last, "bucket {b}");
            assert_eq!(upper_edge(b), lower_edge(b + 1));
            last = lower_edge(b);
        }
    }

    #[test]
    fn share_under_a_threshold_is_exact_on_edges() {
        let mut h = Histogram::new();
        for ms in [100.0, 299.99, 300.0, 450.0, 499.99, 500.0, 500.01, 2000.0] {
            h.record(ms);
        }
        assert_eq!(h.count_under(300.0), 2);
        assert_eq!(h.count_under(500.0), 5);
        assert_eq!(h.share_under(500.0), Some(5.0 / 8.0));
        assert_eq!(Histogram::new().share_under(500.0), None);
    }

    #[test]
    fn quantiles_by_hand() {
        let mut h = Histogram::new();
        for ms in 1..=100 {
            h.record(f64::from(ms) * 10.0);
        }
        // Nearest rank 95 of 10, 20, … 1000 is 950; its bucket is [950, 951).
        assert_eq!(h.quantile(95.0), Some(950.5));
        assert_eq!(h.quantile(50.0), Some(500.5));
        // Kept within what was observed.
        assert_eq!(h.quantile(100.0), Some(1000.0));
        // 10 ms is in the 0.1 ms wide bucket [10, 10.1).
        assert_eq!(h.quantile(0.0), Some(10.05));
        assert_eq!(h.mean_ms(), Some(505.0));
        assert_eq!(Histogram::new().quantile(50.0), None);
    }

    #[test]
    fn encoding_round_trips_and_refuses_garbage() {
        let mut h = Histogram::new();
        h.record_n(0.0, 3);
        h.record(12.5);
        h.record_n(86_400_000.0, 2);
        let bytes = h.encode();
        assert_eq!(Histogram::decode(&bytes), Some(h.clone()));
        assert_eq!(
            Histogram::decode(&Histogram::new().encode()),
            Some(Histogram::new())
        );
        assert_eq!(Histogram::decode(&[]), None);
        assert_eq!(Histogram::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Histogram::decode(&[2]), None);
        // A bucket past the longest duration there is.
        let mut far = vec![1, 1];
        far.extend_from_slice(&[0; 24]);
        far.extend_from_slice(&[0xff, 0xff, 0x03, 1]);
        assert_eq!(Histogram::decode(&far), None);
    }

    /// The dense histogram of the same durations as `sparse`.
    fn dense(ms: &[f64]) -> Histogram {
        let mut h = Histogram::new();
        for m in ms {
            h.record(*m);
        }
        h
    }

    fn sparse(ms: &[f64]) -> SparseHistogram {
        let mut h = SparseHistogram::new();
        for m in ms {
            h.record(*m);
        }
        h
    }

    proptest::proptest! {
        /// A few durations encoded from their bucket list are the very bytes the dense
        /// histogram of the same durations encodes to, and decode back to it.
        #[test]
        fn a_sparse_encoding_equals_the_dense_one(
            add in proptest::collection::vec(
                proptest::prop_oneof![0.0f64..5_000.0, proptest::sample::select(vec![0.0, 300.0, 500.0, 86_400_000.0])],
                0..40,
            ),
        ) {
            let bytes = sparse(&add).encode();
            proptest::prop_assert_eq!(&bytes, &dense(&add).encode());
            proptest::prop_assert_eq!(Histogram::decode(&bytes), Some(dense(&add)));
        }
    }
}
