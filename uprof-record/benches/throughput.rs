//! Writes and reads a record file of N records (default 10 million) and prints records/s.
//! `cargo bench -p uprof-record --bench throughput [-- N]`
use std::time::Instant;

use uprof_common::{Close, EpollCtl, Header, RecordBody, Wait, WaitEvents};
use uprof_record::{Reader, SessionEnd, SessionHeader, Target, Writer};

fn main() {
    let count: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bench.uprof");

    // A loop iteration's worth of records: waits, their returned events, interest changes, a close.
    let mix: Vec<Vec<u8>> = vec![
        Wait {
            header: header::<Wait>(),
            ret: 1,
            captured: 1,
            ..Default::default()
        }
        .as_bytes()
        .to_vec(),
        WaitEvents {
            header: header::<WaitEvents>(),
            count: 1,
            ..Default::default()
        }
        .as_bytes()
        .to_vec(),
        Wait {
            header: header::<Wait>(),
            ret: 0,
            ..Default::default()
        }
        .as_bytes()
        .to_vec(),
        EpollCtl {
            header: header::<EpollCtl>(),
            op: 1,
            fd: 7,
            ..Default::default()
        }
        .as_bytes()
        .to_vec(),
        Close {
            header: header::<Close>(),
            fd: 7,
            ret: 0,
        }
        .as_bytes()
        .to_vec(),
    ];

    let start = Instant::now();
    let mut writer = Writer::create(&path, &session_header()).expect("create");
    let mut bytes = 0u64;
    for i in 0..count {
        let record = &mix[i as usize % mix.len()];
        bytes += record.len() as u64;
        writer.push(record).expect("push");
    }
    writer.flush().expect("flush");
    let pushed = start.elapsed();
    let end = SessionEnd {
        end_ts: 1,
        records: count,
        lost_events: 0,
        reason: "bench".into(),
    };
    writer.finish(&end).expect("finish");
    let written = start.elapsed();
    report("write (push + flush)", count, bytes, pushed.as_secs_f64());
    report("write (incl. fsync)", count, bytes, written.as_secs_f64());

    let start = Instant::now();
    let mut reader = Reader::open(&path).expect("open");
    let mut ts_sum = 0u64;
    let summary = reader
        .for_each_record(|r| ts_sum = ts_sum.wrapping_add(r.header().ts))
        .expect("read");
    let read = start.elapsed();
    assert_eq!(summary.records, count);
    assert!(summary.damage.is_none() && summary.end.is_some());
    report("read", count, bytes, read.as_secs_f64());
    println!(
        "(file: {} MB, checksum {ts_sum})",
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) / 1_000_000
    );
}

fn header<R: RecordBody>() -> Header {
    Header::user::<R>(1_000, 42, 43)
}

fn report(what: &str, count: u64, bytes: u64, secs: f64) {
    println!(
        "{what:>22}: {count} records in {secs:.3} s = {:.1} M records/s, {:.0} MB/s",
        count as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
}

fn session_header() -> SessionHeader {
    SessionHeader {
        format_version: uprof_record::FORMAT_VERSION,
        uprof_version: env!("CARGO_PKG_VERSION").into(),
        kernel_release: "bench".into(),
        hostname: "bench".into(),
        probes: Vec::new(),
        tier: uprof_common::Tier::Syscall,
        wakeups: false,
        clock: "CLOCK_MONOTONIC".into(),
        boot_offset_ns: 0,
        start_ts: 0,
        target: Target {
            command: None,
            pids: vec![42],
        },
    }
}
