//! Nanoseconds per record that the interval outputs and `uprof top`'s figures cost on top of
//! the reconstruction, on the records of `cargo xtask bench pipeline`'s generator (each an
//! `epoll_wait` with a zero timeout, from two threads): what `uprof record --interval` and
//! `uprof top` add per record they store.
//!
//! `cargo bench -p uprof-output --bench intervals [-- RECORDS]` (default: 20 million).
use std::hint::black_box;
use std::time::Duration;

use uprof_analysis::stream::{Consumer, Event, Reconstructor};
use uprof_analysis::synth::Task;
use uprof_analysis::{Coverage, SessionInfo};
use uprof_common::Record;
use uprof_output::top::Feed;
use uprof_output::{Format, Intervals, Options, Printer, Source};

/// The generator's pace on two threads: a call every 2 µs in each.
const CALL_NS: u64 = 2_000;
const ROUNDS: usize = 5;

struct Nothing;

impl Consumer for Nothing {
    fn event(&mut self, event: &Event<'_>) {
        black_box(event);
    }
}

fn main() {
    let records: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000_000);
    let threads = [Task::new(100, 100), Task::new(100, 101)];
    let record = |i: u64| -> Record {
        let t = threads[(i % 2) as usize];
        let enter = (i / 2) * CALL_NS + i % 2 * 7;
        t.epoll_wait(enter, enter + 300, 3, 0)
    };
    let options = Options {
        source: Source {
            coverage: Coverage {
                readiness: false,
                wakeups: true,
            },
            ..Source::default()
        },
        intervals: Intervals {
            width: Some(Duration::from_secs(1)),
        },
        ..Options::default()
    };
    let time = |consumer: &mut dyn FnMut(&mut Reconstructor, &Record)| {
        let mut stream = Reconstructor::new();
        let start = thread_cpu();
        for i in 0..records {
            consumer(&mut stream, &record(i));
        }
        (thread_cpu() - start).as_secs_f64() * 1e9 / records as f64
    };
    // The machine is shared: the fastest of a few interleaved rounds, in CPU time.
    let mut best = [f64::MAX; 4];
    for _ in 0..ROUNDS {
        best[0] = best[0].min(time(&mut |s, r| s.push(r, &mut Nothing)));
        for (i, format) in [(1, Format::Table), (2, Format::Hdrlog)] {
            let mut printer = format.live(&options, Box::new(std::io::sink())).unwrap();
            best[i] = best[i].min(time(&mut |s, r| s.push(r, &mut *printer)));
            printer.finish(&SessionInfo::default()).unwrap();
        }
        // The screen's end of the channel stays open, as uprof top keeps it.
        let (mut feed, _screen) = Feed::new(&options.source);
        best[3] = best[3].min(time(&mut |s, r| s.push(r, &mut feed)));
        Box::new(feed).finish(&SessionInfo::default()).unwrap();
    }
    println!(
        "{records} records, best of {ROUNDS} rounds: the reconstruction alone {:.1} ns/record",
        best[0]
    );
    for (label, ns) in [
        ("table rows", best[1]),
        ("hdrlog", best[2]),
        ("top", best[3]),
    ] {
        println!("  + {label:<10} {ns:.1} ns/record: {:+.1} ns", ns - best[0]);
    }
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    // SAFETY: an all-zero timespec is valid; clock_gettime fills it in.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
