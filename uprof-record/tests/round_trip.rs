//! What is written is read back unchanged.
mod common;

use std::collections::HashSet;

use common::*;
use uprof_common::{Close, Header, Record, RecordBody};
use uprof_record::format::EVTS_TARGET_LEN;
use uprof_record::{Error, FORMAT_VERSION, Reader, RecordProblem, Writer};

#[test]
fn every_record_kind_round_trips_with_header_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.uprof");
    let chunks: Vec<_> = (1..=3).map(one_of_each_kind).collect();
    let written = write_chunks(&path, &chunks, true);

    let mut reader = Reader::open(&path).unwrap();
    assert_eq!(reader.header(), &session_header());
    let mut read = Vec::new();
    let mut kinds = HashSet::new();
    let summary = reader
        .for_each_record(|r| {
            kinds.insert(r.header().kind);
            read.push(bytes_of(r));
        })
        .unwrap();

    assert_eq!(read, written);
    assert_eq!(
        kinds.len(),
        one_of_each_kind(0).len(),
        "every kind came back as itself"
    );
    assert_eq!(summary.records, written.len() as u64);
    assert_eq!(summary.unknown_records, 0);
    assert_eq!(summary.end, Some(session_end(written.len() as u64)));
    assert_eq!(summary.damage, None);
    assert_eq!(summary.warning(), None);
}

#[test]
fn records_fill_several_chunks_without_explicit_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.uprof");
    let mut writer = Writer::create(&path, &session_header()).unwrap();
    let count = 3 * EVTS_TARGET_LEN / size_of::<Close>() + 17;
    for i in 0..count {
        let close = Close {
            header: Header::user::<Close>(i as u64, 1, 2),
            fd: i as i32,
            ret: 0,
        };
        writer.push(close.as_bytes()).unwrap();
    }
    assert_eq!(writer.records_written(), count as u64);
    writer.finish(&session_end(0)).unwrap();

    let mut reader = Reader::open(&path).unwrap();
    let mut fds = Vec::new();
    let summary = reader
        .for_each_record(|r| match r {
            Record::Close(c) => fds.push(c.fd),
            other => panic!("unexpected record {other:?}"),
        })
        .unwrap();
    assert_eq!(fds, (0..count as i32).collect::<Vec<_>>());
    // finish() fills in the record count whatever the caller passed.
    assert_eq!(summary.end.unwrap().records, count as u64);
}

#[test]
fn reading_twice_gives_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.uprof");
    write_chunks(&path, &[one_of_each_kind(1), one_of_each_kind(2)], true);
    let mut reader = Reader::open(&path).unwrap();
    let mut first = Vec::new();
    let s1 = reader.for_each_record(|r| first.push(*r)).unwrap();
    let mut second = Vec::new();
    let s2 = reader.for_each_record(|r| second.push(*r)).unwrap();
    assert_eq!(first, second);
    assert_eq!(s1, s2);
    assert_eq!(s1.records, 2 * one_of_each_kind(1).len() as u64);
}

#[test]
fn the_writer_sets_the_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.uprof");
    let mut header = session_header();
    header.format_version = 77;
    Writer::create(&path, &header)
        .unwrap()
        .finish(&session_end(0))
        .unwrap();
    assert_eq!(
        Reader::open(&path).unwrap().header().format_version,
        FORMAT_VERSION
    );
}

#[test]
fn push_refuses_malformed_records_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.uprof");
    let mut writer = Writer::create(&path, &session_header()).unwrap();
    let close = Close {
        header: Header::user::<Close>(1, 2, 3),
        fd: 4,
        ret: 0,
    };
    let bytes = close.as_bytes();

    let err = writer.push(&bytes[..30]).unwrap_err();
    assert!(matches!(
        err,
        Error::BadRecord {
            reason: RecordProblem::LengthMismatch {
                header_len: 32,
                slice_len: 30
            },
            ..
        }
    ));
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");

    let mut unknown = close;
    unknown.header.kind = 999;
    let err = writer.push(unknown.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("unknown record kind 999"), "{err}");

    assert!(writer.push(&bytes[..10]).is_err());
    assert_eq!(writer.records_written(), 0);

    writer.push(bytes).unwrap();
    writer.finish(&session_end(0)).unwrap();
    let (records, summary) = read_all(&path);
    assert_eq!(records, vec![bytes.to_vec()]);
    assert_eq!(summary.records, 1);
}
