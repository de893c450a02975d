//! Accumulators for durations and small counts, and their serialisable summaries.
use hdrhistogram::Histogram;
use serde::Serialize;

/// Significant decimal digits kept by duration histograms: percentiles are exact below 2048 ns
/// and within 0.1% above.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Samples kept as they are before they go into a histogram: up to this many, percentiles are
/// exact, and a thread or fd with few samples costs 8 bytes per sample rather than a histogram
/// (tens of KiB), so memory stays proportional to the recording whatever its values.
const EXACT_SAMPLES: usize = 1024;

/// Durations above this (about 9.8 hours) are counted as this long in percentiles (the total
/// and the maximum stay exact): it bounds a histogram's size, whatever the input.
pub(crate) const LARGEST_TRACKED_NS: u64 = 1 << 45;

/// An empty histogram that holds any [`DurationStats`]'s samples at their precision, with the
/// same bounds whatever they are (so histograms exported side by side add up directly).
pub(crate) fn duration_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LARGEST_TRACKED_NS, SIGNIFICANT_DIGITS)
        .expect("1 ns to LARGEST_TRACKED_NS at 3 digits are valid bounds")
}

/// Durations in nanoseconds: exact count, total and maximum; percentiles exact up to
/// [`EXACT_SAMPLES`] samples, then from an HDR histogram.
pub(crate) struct DurationStats {
    samples: Samples,
    count: u64,
    total: u64,
    max: u64,
}

enum Samples {
    Exact(Vec<u64>),
    Histogram(Box<Histogram<u64>>),
}

impl Default for DurationStats {
    fn default() -> Self {
        Self::new()
    }
}

impl DurationStats {
    pub(crate) fn new() -> Self {
        Self {
            samples: Samples::Exact(Vec::new()),
            count: 0,
            total: 0,
            max: 0,
        }
    }

    pub(crate) fn record(&mut self, ns: u64) {
        self.count += 1;
        self.total = self.total.saturating_add(ns);
        self.max = self.max.max(ns);
        let tracked = ns.min(LARGEST_TRACKED_NS);
        match &mut self.samples {
            Samples::Exact(v) if v.len() < EXACT_SAMPLES => v.push(tracked),
            Samples::Exact(v) => {
                let mut hist = histogram_of(v);
                record(&mut hist, tracked);
                self.samples = Samples::Histogram(Box::new(hist));
            }
            Samples::Histogram(hist) => record(hist, tracked),
        }
    }

    /// Adds `other`'s samples to these.
    pub(crate) fn merge(&mut self, other: &DurationStats) {
        self.count += other.count;
        self.total = self.total.saturating_add(other.total);
        self.max = self.max.max(other.max);
        match (&mut self.samples, &other.samples) {
            (Samples::Exact(mine), Samples::Exact(theirs))
                if mine.len() + theirs.len() <= EXACT_SAMPLES =>
            {
                mine.extend_from_slice(theirs);
            }
            (Samples::Histogram(mine), theirs) => add(mine, theirs),
            (Samples::Exact(mine), theirs) => {
                let mut hist = histogram_of(mine);
                add(&mut hist, theirs);
                self.samples = Samples::Histogram(Box::new(hist));
            }
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Adds the samples to `hist` (made by [`duration_histogram`]).
    pub(crate) fn add_to(&self, hist: &mut Histogram<u64>) {
        match &self.samples {
            Samples::Exact(v) => {
                for &sample in v {
                    hist.record(sample)
                        .expect("samples are tracked values, within the bounds");
                }
            }
            Samples::Histogram(h) => hist
                .add(&**h)
                .expect("samples are tracked values, within the bounds"),
        }
    }

    pub(crate) fn summary(&self) -> DurationSummary {
        if self.count == 0 {
            return DurationSummary::default();
        }
        let quantiles = self.quantiles(&[0.5, 0.9, 0.99, 0.999]);
        DurationSummary {
            count: self.count,
            mean: self.total / self.count,
            total: self.total,
            p50: quantiles[0],
            p90: quantiles[1],
            p99: quantiles[2],
            p999: quantiles[3],
            max: self.max,
        }
    }

    /// The values at quantiles `qs` (0 to 1): the `ceil(q * count)`th smallest sample, as
    /// HdrHistogram ranks them (from a histogram: the top of its bucket, never above the
    /// maximum); 0 when empty.
    pub(crate) fn quantiles(&self, qs: &[f64]) -> Vec<u64> {
        match &self.samples {
            Samples::Exact(v) if v.is_empty() => vec![0; qs.len()],
            Samples::Exact(v) => {
                let mut sorted = v.clone();
                sorted.sort_unstable();
                qs.iter()
                    .map(|q| {
                        let rank =
                            ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
                        sorted[rank - 1].min(self.max)
                    })
                    .collect()
            }
            Samples::Histogram(hist) => qs
                .iter()
                .map(|&q| hist.value_at_quantile(q).min(self.max))
                .collect(),
        }
    }
}

/// A histogram of exact samples.
fn histogram_of(samples: &[u64]) -> Histogram<u64> {
    let mut hist =
        Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is a valid precision");
    samples.iter().for_each(|&v| record(&mut hist, v));
    hist
}

fn record(hist: &mut Histogram<u64>, tracked: u64) {
    hist.record(tracked)
        .expect("an auto-resizing histogram takes any tracked value");
}

fn add(hist: &mut Histogram<u64>, samples: &Samples) {
    match samples {
        Samples::Exact(v) => v.iter().for_each(|&v| record(hist, v)),
        Samples::Histogram(other) => hist
            .add(&**other)
            .expect("auto-resizing histograms of tracked values add up"),
    }
}

/// A distribution of durations, all in nanoseconds. All zero when nothing was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DurationSummary {
    /// Number of samples.
    pub count: u64,
    /// `total / count`, rounded down.
    pub mean: u64,
    pub total: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Power-of-two buckets of small non-negative counts (events returned by one wait).
pub(crate) struct CountHistogram {
    /// Bucket `i` holds values whose bit length is `i`: 0, 1, 2..=3, 4..=7, ...; only up to the
    /// largest value seen.
    buckets: Vec<u64>,
    count: u64,
    total: u64,
    max: u64,
}

impl Default for CountHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl CountHistogram {
    pub(crate) fn new() -> Self {
        Self {
            buckets: Vec::new(),
            count: 0,
            total: 0,
            max: 0,
        }
    }

    pub(crate) fn record(&mut self, value: u64) {
        let bucket = (u64::BITS - value.leading_zeros()) as usize;
        if self.buckets.len() <= bucket {
            self.buckets.resize(bucket + 1, 0);
        }
        self.buckets[bucket] += 1;
        self.count += 1;
        self.total = self.total.saturating_add(value);
        self.max = self.max.max(value);
    }

    pub(crate) fn summary(&self) -> CountSummary {
        let buckets = self
            .buckets
            .iter()
            .enumerate()
            .filter(|&(_, &count)| count > 0)
            .map(|(bits, &count)| {
                let (lo, hi) = match bits {
                    0 => (0, 0),
                    64 => (1 << 63, u64::MAX),
                    _ => (1 << (bits - 1), (1 << bits) - 1),
                };
                Bucket { lo, hi, count }
            })
            .collect();
        let mean = if self.count == 0 {
            0.0
        } else {
            self.total as f64 / self.count as f64
        };
        CountSummary {
            count: self.count,
            mean,
            max: self.max,
            buckets,
        }
    }
}

/// A distribution of counts. Zero count, mean and max and no buckets when nothing was recorded.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CountSummary {
    /// Number of samples.
    pub count: u64,
    pub mean: f64,
    pub max: u64,
    /// The non-empty power-of-two buckets, smallest first.
    pub buckets: Vec<Bucket>,
}

/// Samples with a value in `lo..=hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub lo: u64,
    pub hi: u64,
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_summary_is_exact_for_small_values() {
        let mut d = DurationStats::new();
        for ns in (1..=1000).rev() {
            d.record(ns);
        }
        let s = d.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.total, 500_500);
        assert_eq!(s.mean, 500);
        assert_eq!(
            (s.p50, s.p90, s.p99, s.p999, s.max),
            (500, 900, 990, 999, 1000)
        );
    }

    #[test]
    fn duration_percentiles_follow_growing_values() {
        let mut d = DurationStats::new();
        for ns in [500, 1_500, 7_000_000_000] {
            d.record(ns);
        }
        let s = d.summary();
        assert_eq!((s.p50, s.max), (1_500, 7_000_000_000));
        // Within the histogram's 0.1% precision.
        assert!(s.p90.abs_diff(7_000_000_000) <= 7_000_000, "{}", s.p90);
    }

    #[test]
    fn percentiles_are_exact_until_the_histogram_takes_over() {
        let mut d = DurationStats::new();
        for ns in 1..=EXACT_SAMPLES as u64 {
            d.record(ns * 1_000_003);
        }
        assert_eq!(d.summary().p50, 512 * 1_000_003, "exact");
        for ns in 1..=EXACT_SAMPLES as u64 {
            d.record(ns * 1_000_003);
        }
        let s = d.summary();
        assert_eq!(s.count, 2 * EXACT_SAMPLES as u64);
        assert!(
            s.p50.abs_diff(512 * 1_000_003) <= 512 * 1_000_003 / 1000,
            "{}",
            s.p50
        );
    }

    #[test]
    fn merged_stats_equal_stats_of_all_samples() {
        let sizes = [
            0,
            3,
            EXACT_SAMPLES - 3,
            EXACT_SAMPLES + 5,
            3 * EXACT_SAMPLES,
        ];
        for &a in &sizes {
            for &b in &sizes {
                let (mut left, mut right, mut all) = (
                    DurationStats::new(),
                    DurationStats::new(),
                    DurationStats::new(),
                );
                for i in 0..a as u64 {
                    left.record(i * 7_919);
                    all.record(i * 7_919);
                }
                for i in 0..b as u64 {
                    right.record(i * 104_729 + 3);
                    all.record(i * 104_729 + 3);
                }
                left.merge(&right);
                assert_eq!(left.summary(), all.summary(), "{a} + {b} samples");
            }
        }
    }

    #[test]
    fn huge_durations_keep_the_histogram_small_and_the_maximum_exact() {
        let mut d = DurationStats::new();
        for i in 0..2 * EXACT_SAMPLES as u64 {
            d.record(u64::MAX - i);
        }
        let s = d.summary();
        assert_eq!(s.max, u64::MAX);
        assert_eq!(s.total, u64::MAX, "saturated");
        assert!(s.p50 <= LARGEST_TRACKED_NS + LARGEST_TRACKED_NS / 1000);
        let Samples::Histogram(hist) = &d.samples else {
            panic!("past EXACT_SAMPLES the samples go to a histogram");
        };
        assert!(
            hist.distinct_values() < 40_000,
            "{}",
            hist.distinct_values()
        );
    }

    #[test]
    fn samples_go_into_a_histogram_exactly_or_within_its_precision() {
        for n in [3, 3 * EXACT_SAMPLES as u64] {
            let mut d = DurationStats::new();
            for i in 0..n {
                d.record(i * 1_009 + 1);
            }
            d.record(u64::MAX);
            let mut hist = duration_histogram();
            d.add_to(&mut hist);
            assert_eq!(hist.len(), n + 1);
            let s = d.summary();
            let p50 = hist.value_at_quantile(0.5);
            assert!(
                hist.equivalent(p50, s.p50),
                "{n} samples: {p50} vs {}",
                s.p50
            );
            assert!(hist.max() >= LARGEST_TRACKED_NS, "clamped, not dropped");
        }
    }

    #[test]
    fn empty_summaries_are_zero() {
        assert_eq!(DurationStats::new().summary(), DurationSummary::default());
        assert_eq!(CountHistogram::new().summary(), CountSummary::default());
    }

    #[test]
    fn count_buckets_are_powers_of_two() {
        let mut h = CountHistogram::new();
        for v in [1, 2, 3, 3, 4, 7, 8] {
            h.record(v);
        }
        let s = h.summary();
        let buckets: Vec<_> = s.buckets.iter().map(|b| (b.lo, b.hi, b.count)).collect();
        assert_eq!(buckets, vec![(1, 1, 1), (2, 3, 3), (4, 7, 2), (8, 15, 1)]);
        assert_eq!((s.count, s.max), (7, 8));
        assert_eq!(s.mean, 28.0 / 7.0);
    }
}
