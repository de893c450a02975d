//! In-kernel aggregation of waits (`uprof agent --aggregation kernel`): a finished wait and
//! the busy time before it are counted in the thread's log2 histograms in `LOOP_HISTS`
//! instead of being streamed (libbpf-tools' `runqlat` style).
use uprof_common::{HistKey, InFlight, LOG2_SLOTS, Log2Hist, LoopFigure, WaitSyscall, log2_slot};

use crate::maps::{LOOP_HIST_DROPS, LOOP_HISTS, offsets};

/// A new entry's value, from read-only data: 304 bytes are too many for the stack the wait
/// exit already uses (as libbpf-tools' `initial_hist`).
static EMPTY: Log2Hist = Log2Hist {
    count: 0,
    sum_ns: 0,
    slots: [0; LOG2_SLOTS],
};

/// `bpf_map_update_elem` flag: only make a new entry.
const BPF_NOEXIST: u64 = 1;

/// Whether wait exits aggregate.
#[inline(always)]
pub fn enabled() -> bool {
    offsets::get(&offsets::AGGREGATE_WAITS) != 0
}

/// Counts the wait `f` of thread `task` that returned `ret` at `exit_ts`, and the busy time
/// since the thread's previous wait returned (`entry` remembers that return).
#[inline(always)]
pub fn wait(
    entry: &mut InFlight,
    f: &InFlight,
    task: (u32, u32),
    syscall: WaitSyscall,
    exit_ts: u64,
    ret: i64,
) {
    let figure = LoopFigure::of_wait(ret, f.timeout_ns);
    observe(
        &HistKey::new(task, syscall as u8, figure),
        exit_ts.saturating_sub(f.ts),
    );
    if entry.last_wait_exit != 0 {
        let busy = f.ts.saturating_sub(entry.last_wait_exit);
        observe(&HistKey::new(task, 0, LoopFigure::Busy), busy);
    }
    entry.last_wait_exit = exit_ts;
}

/// Adds `ns` to the histogram of `key`, made on first use.
#[inline(always)]
fn observe(key: &HistKey, ns: u64) {
    let hist = match LOOP_HISTS.get_ptr_mut(key) {
        Some(hist) => hist,
        None => {
            // BPF_NOEXIST: only this thread makes its keys, but the map may be full.
            if LOOP_HISTS.insert(key, &EMPTY, BPF_NOEXIST).is_err() {
                count_drop();
                return;
            }
            match LOOP_HISTS.get_ptr_mut(key) {
                Some(hist) => hist,
                None => return,
            }
        }
    };
    let hist = unsafe { &mut *hist };
    hist.count += 1;
    hist.sum_ns += ns;
    let slot = log2_slot(ns);
    if let Some(n) = hist.slots.get_mut(slot) {
        *n += 1;
    }
}

fn count_drop() {
    if let Some(n) = LOOP_HIST_DROPS.get_ptr_mut(0) {
        unsafe { *n += 1 };
    }
}
