//! The histograms' buckets: 13 powers of two of nanoseconds from 2^10 ns (1.02 µs) to 2^34 ns
//! (17.2 s), a factor of 4 between bounds, the client having no native histograms in its text
//! format. Powers of two, so that the log2 histograms the kernel keeps (`uprof agent
//! --aggregation kernel`, [`uprof_common::log2_slot`]) convert to them exactly: every bound is
//! the edge of a log2 slot.
use uprof_common::{LOG2_SLOTS, Log2Hist};

/// Upper bounds in nanoseconds: `2^(10 + 2k)`, k = 0..=12.
pub const BOUNDS_NS: [u64; 13] = {
    let mut bounds = [0; 13];
    let mut k = 0;
    while k < bounds.len() {
        bounds[k] = 1 << (10 + 2 * k);
        k += 1;
    }
    bounds
};

/// Counts of durations per bucket (not cumulative), the last one above every bound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hist {
    pub buckets: [u64; BOUNDS_NS.len() + 1],
    pub count: u64,
    pub sum_ns: u64,
}

impl Hist {
    pub fn observe(&mut self, ns: u64) {
        self.buckets[bucket(ns)] += 1;
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    /// Adds durations the kernel counted in log2 slots: each slot lies within one bucket, the
    /// one its upper edge falls in. The count is the slots' sum, not `h.count`: a value read
    /// while the kernel updates it may have one and not yet the other, and the count must
    /// equal the `+Inf` bucket.
    pub fn add_log2(&mut self, h: &Log2Hist) {
        for (slot, &n) in h.slots.iter().enumerate() {
            let edge = if slot + 1 < LOG2_SLOTS {
                1 << slot
            } else {
                u64::MAX
            };
            self.buckets[bucket(edge)] += n;
            self.count += n;
        }
        self.sum_ns = self.sum_ns.saturating_add(h.sum_ns);
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

/// The bucket of a duration of `ns`: the first whose bound it does not exceed.
fn bucket(ns: u64) -> usize {
    BOUNDS_NS.partition_point(|&bound| bound < ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    use uprof_common::log2_slot;

    #[test]
    fn bounds_are_powers_of_four_from_2_to_the_10() {
        assert_eq!(BOUNDS_NS[0], 1_024);
        assert_eq!(BOUNDS_NS[12], 17_179_869_184);
        for pair in BOUNDS_NS.windows(2) {
            assert_eq!(pair[1], pair[0] * 4);
        }
        // The largest bound is a slot edge below the last (open) slot.
        assert_eq!(log2_slot(BOUNDS_NS[12]), LOG2_SLOTS - 2);
    }

    #[test]
    fn a_duration_on_a_bound_counts_in_that_bucket() {
        let mut h = Hist::default();
        for ns in [0, 1_024, 1_025, 1 << 34, (1 << 34) + 1] {
            h.observe(ns);
        }
        assert_eq!(h.buckets[0], 2);
        assert_eq!(h.buckets[1], 1);
        assert_eq!(h.buckets[12], 1);
        assert_eq!(h.buckets[13], 1);
        assert_eq!(h.count, 5);
        assert_eq!(h.buckets_s()[13].0, f64::INFINITY);
        assert_eq!(h.buckets_s()[0], (1.024e-6, 2));
    }

    /// What the kernel would count for `durations`.
    fn log2(durations: &[u64]) -> Log2Hist {
        let mut h = Log2Hist {
            count: 0,
            sum_ns: 0,
            slots: [0; LOG2_SLOTS],
        };
        for &ns in durations {
            h.slots[log2_slot(ns)] += 1;
            h.count += 1;
            h.sum_ns += ns;
        }
        h
    }

    /// Durations counted directly and through the kernel's log2 slots give the same histogram.
    fn assert_converts_exactly(durations: &[u64]) {
        let mut direct = Hist::default();
        for &ns in durations {
            direct.observe(ns);
        }
        let mut converted = Hist::default();
        converted.add_log2(&log2(durations));
        assert_eq!(converted, direct);
    }

    #[test]
    fn log2_slots_convert_exactly_at_every_bound() {
        // Each bound, one below and one above it, and the extremes.
        let mut durations = vec![0, 1, 2, 3, u64::MAX / 2];
        for &bound in &BOUNDS_NS {
            durations.extend([bound - 1, bound, bound + 1]);
        }
        assert_converts_exactly(&durations);
    }

    #[test]
    fn log2_slots_convert_exactly_for_spread_durations() {
        // Powers of 3 and their neighbours reach every slot between bounds.
        let mut durations = Vec::new();
        let mut ns = 1u64;
        while let Some(next) = ns.checked_mul(3) {
            durations.extend([ns - 1, ns, ns + 1]);
            ns = next;
        }
        assert_converts_exactly(&durations);
    }
}
