//! In-kernel aggregation (`uprof agent --aggregation kernel`): the key and value of the eBPF
//! `LOOP_HISTS` map, and the log2 slots its histograms count in (as bcc's `runqlat` keeps
//! them), shared so that both sides agree on every edge.
use core::mem::size_of;

use crate::LoopFigure;

/// Slots of a [`Log2Hist`]. Slot 0 holds durations of at most 1 ns, slot `s` (1 ≤ s < 35)
/// those in `(2^(s-1), 2^s]` ns, the last one everything above `2^34` ns (17.2 s), the
/// largest bound user space exposes: every exposed bound `2^k` ns (k ≤ 34) is a slot edge.
pub const LOG2_SLOTS: usize = 36;

/// The slot of a duration of `ns` nanoseconds: `ceil(log2(ns))`, so that a duration equal to
/// a power of two counts under that power (Prometheus's `le` bounds include their value).
#[inline(always)]
pub fn log2_slot(ns: u64) -> usize {
    if ns <= 1 {
        return 0;
    }
    let slot = (u64::BITS - (ns - 1).leading_zeros()) as usize;
    if slot < LOG2_SLOTS - 1 {
        slot
    } else {
        LOG2_SLOTS - 1
    }
}

/// One thread's histogram of one figure: waits of one syscall and outcome, or its busy time.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HistKey {
    /// Process and thread id: a process's entries are removed by user space once the stream
    /// said it exited, so a reused id starts new entries.
    pub pid: u32,
    pub tid: u32,
    /// A [`crate::WaitSyscall`] value; 0 for [`LoopFigure::Busy`].
    pub syscall: u8,
    /// A [`LoopFigure`] value.
    pub figure: u8,
    pub _pad: [u8; 6],
}

const _: () = assert!(size_of::<HistKey>() == 16);

impl HistKey {
    #[inline(always)]
    pub fn new((pid, tid): (u32, u32), syscall: u8, figure: LoopFigure) -> HistKey {
        HistKey {
            pid,
            tid,
            syscall,
            figure: figure as u8,
            _pad: [0; 6],
        }
    }
}

/// Durations counted in the kernel: how many, their sum, and how many fell in each log2 slot
/// ([`log2_slot`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Log2Hist {
    pub count: u64,
    pub sum_ns: u64,
    pub slots: [u64; LOG2_SLOTS],
}

const _: () = assert!(size_of::<Log2Hist>() == 8 * (2 + LOG2_SLOTS));

#[cfg(feature = "user")]
// SAFETY: plain data, no implicit padding (checked above).
unsafe impl aya::Pod for HistKey {}
#[cfg(feature = "user")]
// SAFETY: plain data, no implicit padding (checked above).
unsafe impl aya::Pod for Log2Hist {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_hold_half_open_power_of_two_ranges() {
        assert_eq!(log2_slot(0), 0);
        assert_eq!(log2_slot(1), 0);
        assert_eq!(log2_slot(2), 1);
        assert_eq!(log2_slot(3), 2);
        assert_eq!(log2_slot(4), 2);
        assert_eq!(log2_slot(5), 3);
        for k in 1..LOG2_SLOTS as u32 - 1 {
            let bound = 1u64 << k;
            assert_eq!(log2_slot(bound), k as usize, "2^{k} counts under 2^{k}");
            assert_eq!(log2_slot(bound + 1), k as usize + 1, "2^{k}+1 goes above");
        }
        assert_eq!(log2_slot((1 << 34) + 1), LOG2_SLOTS - 1);
        assert_eq!(log2_slot(u64::MAX), LOG2_SLOTS - 1);
    }
}
