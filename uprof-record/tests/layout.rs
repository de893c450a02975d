//! The byte layout documented in docs/record-format.md, built here by hand, is what the writer
//! produces and what the reader reads; unknown chunk types and record kinds are skipped, and
//! version 1 files (no sequence numbers) still read.
mod common;

use std::fs;
use std::path::Path;

use common::*;
use uprof_common::{Close, Header, RecordBody};
use uprof_record::{DamageKind, Error, Reader};

/// A version 2 chunk as the document describes it: tag, little-endian payload length,
/// little-endian sequence number (the chunk's index in the file), little-endian CRC-32 of tag +
/// length + sequence number + payload, payload.
fn chunk(tag: &[u8; 4], seq: u64, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let seq = seq.to_le_bytes();
    let crc = crc32(&[tag, &len[..], &seq, payload]);
    [&tag[..], &len, &seq, &crc.to_le_bytes(), payload].concat()
}

/// A version 1 chunk: tag, length, CRC-32 of tag + length + payload, payload.
fn chunk_v1(tag: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32(&[tag, &len[..], payload]);
    [&tag[..], &len, &crc.to_le_bytes(), payload].concat()
}

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    parts.iter().for_each(|p| crc.update(p));
    crc.finalize()
}

fn prelude(version: u16) -> Vec<u8> {
    [&b"UPROFREC"[..], &version.to_le_bytes()].concat()
}

fn head() -> Vec<u8> {
    serde_json::to_vec(&session_header()).unwrap()
}

fn end(records: u64) -> Vec<u8> {
    serde_json::to_vec(&session_end(records)).unwrap()
}

fn close(ts: u64, fd: i32) -> Close {
    Close {
        header: Header::user::<Close>(ts, 1, 1),
        fd,
        ret: 0,
    }
}

#[test]
fn the_writer_produces_the_documented_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.uprof");
    let records = one_of_each_kind(5);
    let more = one_of_each_kind(6);
    write_chunks(&path, &[records.clone(), more.clone()], true);

    let expected = [
        prelude(2),
        chunk(b"HEAD", 0, &head()),
        chunk(b"EVTS", 1, &records.concat()),
        chunk(b"EVTS", 2, &more.concat()),
        chunk(b"END ", 3, &end((records.len() + more.len()) as u64)),
    ]
    .concat();
    assert_eq!(fs::read(&path).unwrap(), expected);
}

#[test]
fn unknown_chunks_and_record_kinds_from_newer_writers_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.uprof");
    let known = close(10, 5);
    let mut unknown = close(11, 6);
    unknown.header.kind = 500;
    // A newer header with a field this build does not know.
    let mut head = serde_json::to_value(session_header()).unwrap();
    head["future_field"] = serde_json::json!([1, 2, 3]);
    let file = [
        prelude(2),
        chunk(b"HEAD", 0, &serde_json::to_vec(&head).unwrap()),
        chunk(
            b"EVTS",
            1,
            &[known.as_bytes(), unknown.as_bytes(), known.as_bytes()].concat(),
        ),
        chunk(b"XTRA", 2, b"something a newer uprof stores"),
        chunk(b"EVTS", 3, known.as_bytes()),
        chunk(b"END ", 4, &end(4)),
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
    let good = close(10, 5);
    let mut bad = good;
    bad.header.len = 8; // shorter than a header: cannot be skipped
    let head = chunk(b"HEAD", 0, &head());
    let file = [
        prelude(2),
        head.clone(),
        chunk(b"EVTS", 1, &[good.as_bytes(), bad.as_bytes()].concat()),
    ]
    .concat();
    fs::write(&path, &file).unwrap();

    let (records, summary) = read_all(&path);
    assert_eq!(records, vec![good.as_bytes().to_vec()]);
    let damage = summary.damage.unwrap();
    assert_eq!(damage.kind, DamageKind::DamagedChunk);
    assert_eq!(damage.offset, (prelude(2).len() + head.len()) as u64);
    assert_eq!(damage.file_len, file.len() as u64);
    assert_eq!(damage.chunks_read, 1);
    assert_eq!(
        damage.reason,
        "record of kind 5 has bad length 8 at byte 32 of an EVTS chunk"
    );
}

#[test]
fn a_head_chunk_that_is_not_number_0_is_a_damaged_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head-seq.uprof");
    fs::write(&path, [prelude(2), chunk(b"HEAD", 1, &head())].concat()).unwrap();
    let err = Reader::open(&path)
        .err()
        .expect("a misnumbered HEAD was accepted");
    assert!(matches!(err, Error::BadHeader { .. }), "{err}");
    assert!(
        err.to_string().ends_with(
            "chunk \"HEAD\" is number 1 of the file where number 0 was expected: \
             a chunk is missing or out of order"
        ),
        "{err}"
    );
}

#[test]
fn an_end_chunk_with_another_record_count_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("count.uprof");
    let file = [
        prelude(2),
        chunk(b"HEAD", 0, &head()),
        chunk(b"EVTS", 1, close(1, 3).as_bytes()),
        chunk(b"END ", 2, &end(2)),
    ]
    .concat();
    fs::write(&path, &file).unwrap();
    let (records, summary) = read_all(&path);
    assert_eq!(records.len(), 1);
    assert_eq!(summary.end, Some(session_end(2)));
    let damage = summary.damage.unwrap();
    assert_eq!(damage.kind, DamageKind::RecordCountMismatch);
    assert_eq!(
        damage.reason,
        "the END chunk says 2 records were written but the file holds 1"
    );
}

/// A version 1 file of two `EVTS` chunks; `keep` selects which of them it holds.
fn write_v1(path: &Path, keep: [bool; 2]) -> Vec<Vec<u8>> {
    let chunks = [one_of_each_kind(1), one_of_each_kind(2)];
    let mut v1_header = session_header();
    v1_header.format_version = 1;
    let mut file = [
        prelude(1),
        chunk_v1(b"HEAD", &serde_json::to_vec(&v1_header).unwrap()),
    ]
    .concat();
    for (records, _) in chunks.iter().zip(keep).filter(|(_, keep)| *keep) {
        file.extend(chunk_v1(b"EVTS", &records.concat()));
    }
    let written = chunks.iter().map(Vec::len).sum::<usize>() as u64;
    file.extend(chunk_v1(b"END ", &end(written)));
    fs::write(path, &file).unwrap();
    chunks
        .iter()
        .zip(keep)
        .filter(|(_, keep)| *keep)
        .flat_map(|(records, _)| records.clone())
        .collect()
}

#[test]
fn a_version_1_file_reads_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.uprof");
    let written = write_v1(&path, [true, true]);

    let reader = Reader::open(&path).unwrap();
    assert_eq!(reader.header().format_version, 1);
    let (records, summary) = read_all(&path);
    assert_eq!(records, written);
    assert_eq!(summary.end, Some(session_end(written.len() as u64)));
    assert_eq!(summary.damage, None);
    assert!(summary.completeness().complete);

    // Without sequence numbers, only the END chunk's count shows that a chunk is missing.
    let written = write_v1(&path, [true, false]);
    let (records, summary) = read_all(&path);
    assert_eq!(records, written);
    let damage = summary.damage.unwrap();
    assert_eq!(damage.kind, DamageKind::RecordCountMismatch);
    assert_eq!(
        damage.reason,
        format!(
            "the END chunk says {} records were written but the file holds {}",
            2 * written.len(),
            written.len()
        )
    );
}
