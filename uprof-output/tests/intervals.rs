//! The interval outputs on synthetic recordings: table blocks, JSON, and the hdrlog read back
//! with the `hdrhistogram` crate's own parser.
use std::time::Duration;

use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;
use uprof_analysis::stream::Reconstructor;
use uprof_analysis::synth::Task;
use uprof_analysis::{Incomplete, SessionInfo};
use uprof_common::{EPOLLIN, Record};
use uprof_output::{Format, Intervals, Options, Source, TextOptions};
use uprof_record::PartialReason;

const MS: u64 = 1_000_000;
const START: u64 = 1_000 * MS;

fn options(width: Option<Duration>, all: bool) -> Options {
    Options {
        text: TextOptions {
            all,
            ..TextOptions::default()
        },
        source: Source {
            start_ts: START,
            boot_offset_ns: 1_700_000_000_000_000_000,
            ..Source::default()
        },
        intervals: Intervals { width },
        ..Options::default()
    }
}

/// A recording that did not finish, as reading it says.
fn no_end(why: &str) -> Incomplete {
    Incomplete {
        why: why.to_owned(),
        reason: PartialReason::NoEnd,
        records_read: 0,
        damaged_bytes: None,
    }
}

/// What `printer` writes for `records`.
fn print(format: Format, options: &Options, records: &[Record], info: &SessionInfo) -> String {
    let mut out = Vec::new();
    let mut printer = format.printer(options, Box::new(&mut out));
    let mut stream = Reconstructor::new();
    for r in records {
        stream.push(r, &mut *printer);
    }
    stream.finish(&mut *printer);
    printer.finish(info).unwrap();
    String::from_utf8(out).unwrap()
}

/// `threads` threads of process 1 (tids 1..=threads), thread `t` waiting `t` times in each
/// 100 ms from the start, for `intervals` times 100 ms.
fn busy_threads(threads: u32, intervals: u64) -> Vec<Record> {
    let mut records = Vec::new();
    for i in 0..intervals {
        for t in 1..=threads {
            let task = Task::new(1, t);
            for k in 0..u64::from(t) {
                let enter = START + i * 100 * MS + k * MS + u64::from(t) * 1_000;
                records.push(task.epoll_wait(enter, enter + 500, 3, 1));
                records.extend(task.events(enter + 500, &[(EPOLLIN, 7)]));
            }
        }
    }
    records.sort_by_key(|r| r.header().ts);
    records
}

#[test]
fn the_table_shows_the_busiest_threads_of_each_interval_and_counts_the_others() {
    let records = busy_threads(12, 3);
    let table = print(
        Format::Table,
        &options(Some(Duration::from_millis(100)), false),
        &records,
        &SessionInfo::default(),
    );
    let blocks: Vec<&str> = table.split("\n\n").collect();
    // Three interval blocks, then the report.
    assert!(
        blocks[0].contains("+0.000s  12 threads active in 100ms"),
        "{table}"
    );
    assert!(blocks[2].contains("+0.200s  12 threads active"), "{table}");
    let rows: Vec<&str> = blocks[1].lines().skip(2).collect();
    assert_eq!(rows.len(), 11, "{}", blocks[1]);
    // Every thread is busy all the interval but while blocked (500 ns per wait), so the one
    // that waits least comes first.
    let tids: Vec<&str> = rows[..10]
        .iter()
        .map(|r| r.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(tids, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    assert_eq!(rows[10], "  … 2 more threads (--all lists every thread)");
    assert!(
        blocks[3].starts_with("uprof: "),
        "the report follows: {table}"
    );

    let all = print(
        Format::Table,
        &options(Some(Duration::from_millis(100)), true),
        &records,
        &SessionInfo::default(),
    );
    assert_eq!(all.split("\n\n").nth(1).unwrap().lines().count(), 2 + 12);
}

#[test]
fn the_json_report_holds_the_intervals_and_an_incomplete_recordings_reason() {
    let records = busy_threads(2, 4);
    let info = SessionInfo {
        incomplete: Some(no_end("the recording did not finish")),
        ..SessionInfo::default()
    };
    let text = print(
        Format::Json,
        &options(Some(Duration::from_millis(100)), false),
        &records,
        &info,
    );
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(json["schema"], uprof_analysis::SCHEMA);
    assert_eq!(json["interval_ns"], 100 * MS);
    assert_eq!(json["incomplete"]["why"], "the recording did not finish");
    assert_eq!(json["complete"], false);
    let intervals = json["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 4);
    for (i, interval) in intervals.iter().enumerate() {
        assert_eq!(interval["start_ns"], i as u64 * 100 * MS);
        // The JSON has every thread, busiest first: in the first
        // interval only thread 2 has a tick (between its two waits); later thread 1's single
        // tick of 100 ms - 500 ns beats thread 2's two ticks, 1 µs shorter in all.
        let tids: Vec<u64> = interval["threads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tid"].as_u64().unwrap())
            .collect();
        assert_eq!(tids, if i == 0 { [2, 1] } else { [1, 2] }, "interval {i}");
    }
    let calls: u64 = json["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["waits"]["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(calls, 4 * 3);

    // Without intervals, the JSON is the report alone.
    let plain: Value = serde_json::from_str(&print(
        Format::Json,
        &options(None, false),
        &records,
        &SessionInfo::default(),
    ))
    .unwrap();
    assert!(plain.get("intervals").is_none());
}

#[test]
fn live_json_is_one_interval_per_line() {
    let records = busy_threads(1, 3);
    let mut out = Vec::new();
    let opts = options(Some(Duration::from_millis(100)), false);
    let mut printer = Format::Json.live(&opts, Box::new(&mut out)).unwrap();
    let mut stream = Reconstructor::new();
    for r in &records {
        stream.push(r, &mut *printer);
    }
    stream.finish(&mut *printer);
    printer.finish(&SessionInfo::default()).unwrap();
    let text = String::from_utf8(out).unwrap();
    let starts: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["start_ns"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(starts, vec![0, 100 * MS, 200 * MS]);
    assert!(
        Format::Table
            .live(&options(None, false), Box::new(Vec::new()))
            .is_none()
    );
}

#[test]
fn the_hdrlog_reads_back_interval_by_interval_with_tags_and_a_warning_comment() {
    let records = busy_threads(2, 5);
    let info = SessionInfo {
        incomplete: Some(no_end("cut short")),
        ..SessionInfo::default()
    };
    let log = print(
        Format::Hdrlog,
        &options(Some(Duration::from_millis(200)), false),
        &records,
        &info,
    );
    assert!(
        log.contains("#[StartTime: 1700000001.000 (seconds since epoch)]"),
        "{log}"
    );
    assert!(log.contains("#thread tid=2 pid=1 comm=?"), "{log}");
    assert!(
        log.trim_end().ends_with("#uprof: warning: cut short"),
        "{log}"
    );
    let mut deserializer = Deserializer::new();
    let mut seen = Vec::new();
    for entry in IntervalLogIterator::new(log.as_bytes()) {
        let LogEntry::Interval(h) = entry.unwrap() else {
            continue;
        };
        let hist: hdrhistogram::Histogram<u64> = deserializer
            .deserialize(&mut base64_decode(h.encoded_histogram()).as_slice())
            .unwrap();
        seen.push((
            h.start_timestamp().as_millis(),
            h.tag().map(|t| t.as_str().to_owned()).unwrap(),
            hist.len(),
            hist.max(),
        ));
    }
    let blocked_of_2: Vec<(u128, u64)> = seen
        .iter()
        .filter(|(_, tag, ..)| tag == "tid=2:blocked")
        .map(|&(start, _, n, _)| (start, n))
        .collect();
    // 2 waits per 100 ms, in 200 ms intervals; the last ends with the stream.
    assert_eq!(blocked_of_2, vec![(0, 4), (200, 4), (400, 2)]);
    // Each wait blocked 500 ns; thread 1's single wait per 100 ms has no tick inside the
    // interval but its first: busy counts 1 per 100 ms after the first wait.
    assert!(
        seen.iter()
            .all(|(_, tag, _, max)| !tag.ends_with(":blocked") || *max == 500)
    );
    let busy_of_1: u64 = seen
        .iter()
        .filter(|(_, tag, ..)| tag == "tid=1:busy")
        .map(|&(_, _, n, _)| n)
        .sum();
    assert_eq!(busy_of_1, 4);
    assert!(
        !seen
            .iter()
            .any(|(_, tag, ..)| tag.ends_with(":ready_to_delivered"))
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
