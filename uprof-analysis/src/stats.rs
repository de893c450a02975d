//! Accumulators for durations and small counts, and their serialisable summaries.
use hdrhistogram::Histogram;
use serde::Serialize;

/// Significant decimal digits kept by duration histograms: percentiles are exact below 2048 ns
/// and within 0.1% above.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Durations in nanoseconds: exact count, total and maximum; percentiles from an HDR histogram.
pub(crate) struct DurationStats {
    hist: Histogram<u64>,
    total: u64,
    max: u64,
}

impl Default for DurationStats {
    fn default() -> Self {
        Self::new()
    }
}

impl DurationStats {
    pub(crate) fn new() -> Self {
        let hist =
            Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is a valid precision");
        Self {
            hist,
            total: 0,
            max: 0,
        }
    }

    pub(crate) fn record(&mut self, ns: u64) {
        // `record` grows the histogram; `saturating_record` would clamp to its current range.
        if self.hist.record(ns).is_err() {
            self.hist.saturating_record(ns);
        }
        self.total = self.total.saturating_add(ns);
        self.max = self.max.max(ns);
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn summary(&self) -> DurationSummary {
        let count = self.hist.len();
        if count == 0 {
            return DurationSummary::default();
        }
        // The histogram reports the top of a value's bucket; never above the exact maximum.
        let quantile = |q: f64| self.hist.value_at_quantile(q).min(self.max);
        DurationSummary {
            count,
            mean: self.total / count,
            total: self.total,
            p50: quantile(0.5),
            p90: quantile(0.9),
            p99: quantile(0.99),
            p999: quantile(0.999),
            max: self.max,
        }
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
    /// Bucket `i` holds values whose bit length is `i`: 0, 1, 2..=3, 4..=7, ...
    buckets: [u64; 65],
    count: u64,
    total: u64,
    max: u64,
}

impl CountHistogram {
    pub(crate) fn new() -> Self {
        Self {
            buckets: [0; 65],
            count: 0,
            total: 0,
            max: 0,
        }
    }

    pub(crate) fn record(&mut self, value: u64) {
        self.buckets[(u64::BITS - value.leading_zeros()) as usize] += 1;
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
