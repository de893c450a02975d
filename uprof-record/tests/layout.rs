//! The byte layout documented in docs/record-format.md, built here by hand, is what the writer
//! produces and what the reader reads; unknown chunk types and record kinds are skipped.
mod common;

use std::fs;

use common::*;
use uprof_common::{Close, Header, RecordBody};
use uprof_record::Reader;

/// A chunk as the document describes it: tag, little-endian payload length, little-endian
/// CRC-32 of tag + length + payload, payload.
fn chunk(tag: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(tag);
    crc.update(&len);
    crc.update(payload);
    [&tag[..], &len, &crc.finalize().to_le_bytes(), payload].concat()
}

fn prelude() -> Vec<u8> {
    [&b"UPROFREC"[..], &1u16.to_le_bytes()].concat()
}

#[test]
fn the_writer_produces_the_documented_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.uprof");
    let records = one_of_each_kind(5);
    write_chunks(&path, std::slice::from_ref(&records), true);

    let expected = [
        prelude(),
        chunk(b"HEAD", &serde_json::to_vec(&session_header()).unwrap()),
        chunk(b"EVTS", &records.concat()),
        chunk(
            b"END ",
            &serde_json::to_vec(&session_end(records.len() as u64)).unwrap(),
        ),
    ]
    .concat();
    assert_eq!(fs::read(&path).unwrap(), expected);
}

#[test]
fn unknown_chunks_and_record_kinds_from_newer_writers_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.uprof");
    let known = Close {
        header: Header::user::<Close>(10, 1, 1),
        fd: 5,
        ret: 0,
    };
    let mut unknown = Close {
        header: Header::user::<Close>(11, 1, 1),
        fd: 6,
        ret: 0,
    };
    unknown.header.kind = 500;
    // A newer header with a field this build does not know.
    let mut head = serde_json::to_value(session_header()).unwrap();
    head["future_field"] = serde_json::json!([1, 2, 3]);
    let file = [
        prelude(),
        chunk(b"HEAD", &serde_json::to_vec(&head).unwrap()),
        chunk(
            b"EVTS",
            &[known.as_bytes(), unknown.as_bytes(), known.as_bytes()].concat(),
        ),
        chunk(b"XTRA", b"something a newer uprof stores"),
        chunk(b"EVTS", known.as_bytes()),
        chunk(b"END ", &serde_json::to_vec(&session_end(4)).unwrap()),
    ]
    .concat();
    fs::write(&path, &file).unwrap();

    let mut reader = Reader::open(&path).unwrap();
    assert_eq!(reader.header(), &session_header());
    let (records, summary) = read_all(&path);
    assert_eq!(records, vec![known.as_bytes().to_vec(); 3]);
    assert_eq!((summary.records, summary.unknown_records), (3, 1));
    assert_eq!(summary.end, Some(session_end(4)));
    assert_eq!(summary.damage, None);
    assert_eq!(reader.for_each_record(|_| {}).unwrap(), summary);
}

#[test]
fn a_malformed_record_inside_a_sound_chunk_stops_reading_after_the_records_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("malformed.uprof");
    let good = Close {
        header: Header::user::<Close>(10, 1, 1),
        fd: 5,
        ret: 0,
    };
    let mut bad = good;
    bad.header.len = 8; // shorter than a header: cannot be skipped
    let head = chunk(b"HEAD", &serde_json::to_vec(&session_header()).unwrap());
    let file = [
        prelude(),
        head.clone(),
        chunk(b"EVTS", &[good.as_bytes(), bad.as_bytes()].concat()),
    ]
    .concat();
    fs::write(&path, &file).unwrap();

    let (records, summary) = read_all(&path);
    assert_eq!(records, vec![good.as_bytes().to_vec()]);
    let damage = summary.damage.unwrap();
    assert_eq!(damage.offset, (prelude().len() + head.len()) as u64);
    assert_eq!(damage.chunks_read, 1);
    assert_eq!(
        damage.reason,
        "record of kind 5 has bad length 8 at byte 32 of an EVTS chunk"
    );
}
