//! Memory stays proportional to the input, whatever its values: crafted record streams that
//! used to take gigabytes (huge durations on thousands of threads) are analysed within a small
//! multiple of their own size. (Time running backwards, which used to take minutes, is covered
//! by the reorder buffer's own tests and the `report` benchmark.)
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use uprof_analysis::synth::Task;
use uprof_analysis::{Analyzer, SessionInfo};
use uprof_common::{EPOLL_CTL_ADD, EPOLLIN, Record, Wait, WaitSyscall};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests measure one heap: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Peak heap bytes above the start while analysing `records` (built before measuring), and
/// their size as stored (their bytes in a record file).
fn peak_while_analysing(records: &[Record]) -> (usize, usize) {
    let input: usize = records.iter().map(|r| r.as_bytes().len()).sum();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut analyzer = Analyzer::new();
    for r in records {
        analyzer.push(r);
    }
    let report = analyzer.finish(&SessionInfo::default());
    let mut text = Vec::new();
    report
        .render_text(&mut text, uprof_analysis::View::All)
        .unwrap();
    drop((report, text));
    (PEAK.load(Ordering::Relaxed) - base, input)
}

#[test]
fn huge_durations_on_many_threads_cost_memory_in_proportion_to_the_records() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 16,000 threads with two waits each, blocked and busy for about 2^63 ns: a file of
    // 2 MB. Before, each thread grew its histograms to the full u64 range (4.5 GB in all).
    let records: Vec<Record> = (0..16_000u32)
        .flat_map(|tid| {
            let t = Task::new(1, 100 + tid);
            let wait = |enter, exit| {
                let mut w = t.wait(WaitSyscall::EpollWait, enter, exit, 3, 64, 0);
                w.header = t.header::<Wait>(exit);
                Record::Wait(w)
            };
            [wait(0, u64::MAX / 2), wait(u64::MAX - 1, u64::MAX)]
        })
        .collect();
    let (peak, input) = peak_while_analysing(&records);
    assert!(
        peak < 16 * input,
        "peak heap {peak} bytes for {input} bytes of records"
    );
}

#[test]
fn one_thread_with_many_huge_waits_keeps_a_bounded_histogram() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = Task::new(1, 1);
    let records: Vec<Record> = (0..20_000u64)
        .map(|i| {
            let exit = (i + 1) << 44;
            t.epoll_wait(exit - (1 << 43) - i, exit, 3, 0)
        })
        .collect();
    let (peak, input) = peak_while_analysing(&records);
    assert!(
        peak < 4 * input,
        "peak heap {peak} bytes for {input} bytes of records"
    );
}

#[test]
fn time_running_backwards_is_analysed_in_proportion_to_the_records() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 50,000 records with descending timestamps, all within the reorder window: before, each
    // started a sorted run of its own and every record scanned all of them (42 s).
    let t = Task::new(1, 1);
    let mut records = vec![t.epoll_ctl(0, 3, EPOLL_CTL_ADD, 5, 5, 0)];
    records
        .extend((0..50_000u64).map(|i| t.epoll_wait(40_000_000 - i * 2, 40_000_001 - i * 2, 3, 0)));
    records.extend(t.events(1, &[(EPOLLIN, 5)]));
    let (peak, input) = peak_while_analysing(&records);
    assert!(
        peak < 8 * input,
        "peak heap {peak} bytes for {input} bytes of records"
    );
}
