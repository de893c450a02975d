//! The histograms' buckets: 12 exponential buckets from 1 µs to 10 s (a factor of 10^(7/11),
//! about 4.33, between bounds), the client having no native histograms in its text format.

/// Upper bounds in nanoseconds: `1 µs × 10^(7k/11)`, k = 0..=11, rounded.
pub const BOUNDS_NS: [u64; 12] = [
    1_000,
    4_329,
    18_738,
    81_113,
    351_119,
    1_519_911,
    6_579_332,
    28_480_359,
    123_284_674,
    533_669_923,
    2_310_129_700,
    10_000_000_000,
];

/// Counts of durations per bucket (not cumulative), the last one above every bound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hist {
    pub buckets: [u64; BOUNDS_NS.len() + 1],
    pub count: u64,
    pub sum_ns: u64,
}

impl Hist {
    pub fn observe(&mut self, ns: u64) {
        let i = BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.buckets[i] += 1;
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    /// `(upper bound in seconds, count)` per bucket, `+Inf` last, as the encoder takes them.
    pub fn buckets_s(&self) -> [(f64, u64); BOUNDS_NS.len() + 1] {
        let mut out = [(f64::INFINITY, 0); BOUNDS_NS.len() + 1];
        for (i, slot) in out.iter_mut().enumerate() {
            let bound = BOUNDS_NS
                .get(i)
                .map_or(f64::INFINITY, |&ns| ns as f64 / 1e9);
            *slot = (bound, self.buckets[i]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_the_exponential_series() {
        for (k, &bound) in BOUNDS_NS.iter().enumerate() {
            let exact = 1e3 * 10f64.powf(7.0 * k as f64 / 11.0);
            assert_eq!(bound, exact.round() as u64, "bound {k}");
        }
    }

    #[test]
    fn a_duration_on_a_bound_counts_in_that_bucket() {
        let mut h = Hist::default();
        for ns in [0, 1_000, 1_001, 10_000_000_000, 10_000_000_001] {
            h.observe(ns);
        }
        assert_eq!(h.buckets[0], 2);
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[11], 1);
        assert_eq!(h.buckets[12], 1);
        assert_eq!(h.count, 5);
        assert_eq!(h.buckets_s()[12].0, f64::INFINITY);
        assert_eq!(h.buckets_s()[0], (1e-6, 2));
    }
}
