//! Files cut short or corrupted read up to the damage, never panic, and say what happened.
mod common;

use std::fs;
use std::path::Path;

use common::*;
use uprof_record::{ByteRange, Completeness, DamageKind, Error, PartialReason, Reader, Writer};

/// A small finished file of three `EVTS` chunks, and where each chunk ends.
struct Sample {
    bytes: Vec<u8>,
    /// Records of each `EVTS` chunk, in order.
    chunks: Vec<Vec<Vec<u8>>>,
    /// File length after the `HEAD` chunk, after each `EVTS` chunk, and after `END `.
    boundaries: Vec<u64>,
}

impl Sample {
    fn new(dir: &Path) -> Sample {
        let path = dir.join("sample.uprof");
        let chunks = vec![
            one_of_each_kind(1),
            one_of_each_kind(2)[4..6].to_vec(),
            one_of_each_kind(3),
        ];
        let len = || fs::metadata(&path).unwrap().len();
        let mut writer = Writer::create(&path, &session_header()).unwrap();
        let mut boundaries = vec![len()];
        for chunk in &chunks {
            chunk.iter().for_each(|r| writer.push(r).unwrap());
            writer.flush().unwrap();
            boundaries.push(len());
        }
        let records = writer.records_written();
        writer.finish(&session_end(records)).unwrap();
        boundaries.push(len());
        Sample {
            bytes: fs::read(&path).unwrap(),
            chunks,
            boundaries,
        }
    }

    /// Records of the first `n` `EVTS` chunks.
    fn records_of_chunks(&self, n: usize) -> Vec<Vec<u8>> {
        self.chunks[..n.min(self.chunks.len())].concat()
    }

    /// Index of the chunk (0 = `HEAD`) containing byte `offset`.
    fn chunk_at(&self, offset: u64) -> usize {
        self.boundaries.iter().take_while(|&&b| b <= offset).count()
    }
}

#[test]
fn truncation_at_every_byte_keeps_every_complete_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Sample::new(dir.path());
    let path = dir.path().join("cut.uprof");
    let head_end = sample.boundaries[0];
    let file_end = *sample.boundaries.last().unwrap();
    assert_eq!(sample.bytes.len() as u64, file_end);

    for cut in 0..=file_end {
        fs::write(&path, &sample.bytes[..cut as usize]).unwrap();
        if cut < head_end {
            let err = Reader::open(&path)
                .err()
                .unwrap_or_else(|| panic!("cut at {cut} opened"));
            assert!(
                matches!(err, Error::BadHeader { .. }),
                "cut at {cut}: {err}"
            );
            continue;
        }
        // Chunks after HEAD that are complete, END included.
        let complete = sample.boundaries[1..].iter().filter(|&&b| b <= cut).count();
        let (records, summary) = read_all(&path);
        assert_eq!(records, sample.records_of_chunks(complete), "cut at {cut}");
        assert_eq!(summary.records, records.len() as u64);
        assert_eq!(summary.end.is_some(), cut == file_end, "cut at {cut}");
        match &summary.damage {
            None => assert!(
                sample.boundaries.contains(&cut),
                "cut at {cut} inside a chunk went unnoticed"
            ),
            Some(damage) => {
                assert_eq!(damage.offset, sample.boundaries[complete], "cut at {cut}");
                assert_eq!(damage.chunks_read, 1 + complete as u64, "cut at {cut}");
                assert!(
                    damage.reason.starts_with("the file ends inside"),
                    "cut at {cut}: {}",
                    damage.reason
                );
            }
        }
        assert_eq!(summary.warning().is_none(), cut == file_end, "cut at {cut}");
    }
}

#[test]
fn a_flipped_byte_in_any_chunk_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Sample::new(dir.path());
    let path = dir.path().join("flipped.uprof");
    let head_end = sample.boundaries[0];

    for at in 0..sample.bytes.len() as u64 {
        let mut bytes = sample.bytes.clone();
        bytes[at as usize] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        if at < head_end {
            assert!(
                Reader::open(&path).is_err(),
                "flip at {at} in the prelude or HEAD went unnoticed"
            );
            continue;
        }
        let chunk = sample.chunk_at(at);
        let (records, summary) = read_all(&path);
        let damage = summary
            .damage
            .unwrap_or_else(|| panic!("flip at {at} went unnoticed"));
        assert_eq!(damage.offset, sample.boundaries[chunk - 1], "flip at {at}");
        assert_eq!(damage.chunks_read, chunk as u64, "flip at {at}");
        assert_eq!(records, sample.records_of_chunks(chunk - 1), "flip at {at}");
        assert_eq!(summary.end, None, "flip at {at}");
    }
}

#[test]
fn a_payload_flip_is_reported_as_a_crc_failure() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Sample::new(dir.path());
    let path = dir.path().join("crc.uprof");
    let mut bytes = sample.bytes.clone();
    // The middle of the second EVTS chunk's payload.
    let at = (sample.boundaries[2] + sample.boundaries[3]) / 2;
    bytes[at as usize] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let (records, summary) = read_all(&path);
    let damage = summary.damage.unwrap();
    assert_eq!(damage.reason, "chunk \"EVTS\" fails its CRC check");
    assert_eq!(records, sample.records_of_chunks(2));
    assert_eq!(
        damage.to_string(),
        format!(
            "the record file is damaged at byte {} (chunk \"EVTS\" fails its CRC check), \
             so reading stopped there after 3 intact chunks",
            sample.boundaries[2]
        )
    );
}

#[test]
fn an_unfinished_recording_is_readable_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.uprof");
    let flushed = one_of_each_kind(1);
    let pending = one_of_each_kind(2);
    let mut writer = Writer::create(&path, &session_header()).unwrap();
    flushed.iter().for_each(|r| writer.push(r).unwrap());
    writer.flush().unwrap();
    pending.iter().for_each(|r| writer.push(r).unwrap());
    // A killed process: the pending chunk never reaches the file.
    std::mem::forget(writer);

    let (records, summary) = read_all(&path);
    assert_eq!(records, flushed);
    assert_eq!(summary.end, None);
    assert_eq!(summary.damage, None);
    let warning = summary.warning().unwrap();
    assert!(
        warning.starts_with("the recording did not finish"),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("all {} records", flushed.len())),
        "{warning}"
    );
}

#[test]
fn dropping_an_unfinished_writer_keeps_its_pending_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dropped.uprof");
    let mut writer = Writer::create(&path, &session_header()).unwrap();
    let records = one_of_each_kind(4);
    records.iter().for_each(|r| writer.push(r).unwrap());
    drop(writer);

    let (read, summary) = read_all(&path);
    assert_eq!(read, records);
    assert_eq!((summary.end, summary.damage), (None, None));
}

#[test]
fn data_after_end_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Sample::new(dir.path());
    let path = dir.path().join("trailing.uprof");
    let mut bytes = sample.bytes.clone();
    bytes.extend_from_slice(b"junk");
    fs::write(&path, &bytes).unwrap();
    let (records, summary) = read_all(&path);
    assert_eq!(records, sample.records_of_chunks(3));
    assert!(summary.end.is_some());
    let damage = summary.damage.unwrap();
    assert_eq!(damage.reason, "there is data after the END chunk");
    assert_eq!(damage.offset, sample.boundaries[4]);
    assert_eq!(damage.chunks_read, 5);
}

/// The sample's bytes with its chunks (0 = `HEAD`) in the order `order`.
fn reordered(sample: &Sample, order: &[usize]) -> Vec<u8> {
    let b = &sample.boundaries;
    let chunk = |i: usize| {
        let start = if i == 0 { 0 } else { b[i - 1] as usize };
        &sample.bytes[start..b[i] as usize]
    };
    order.iter().flat_map(|&i| chunk(i).to_vec()).collect()
}

const OUT_OF_ORDER: &str = "a chunk is missing or out of order";

#[test]
fn swapped_chunks_stop_reading_at_the_first_one_out_of_place() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Sample::new(dir.path());
    let path = dir.path().join("swapped.uprof");
    // Each chunk is intact, and the END count still matches.
    fs::write(&path, reordered(&sample, &[0, 1, 3, 2, 4])).unwrap();
    let (records, summary) = read_all(&path);
    assert_eq!(records, sample.records_of_chunks(1));
    let damage = summary.damage.expect("swapped chunks went unnoticed");
    assert_eq!(damage.offset, sample.boundaries[1]);
    assert_eq!(damage.chunks_read, 2);
    assert_eq!(
        damage.reason,
        format!(
            "chunk \"EVTS\" is number 3 of the file where number 2 was expected: {OUT_OF_ORDER}"
        )
    );
}

#[test]
fn a_chunk_removed_from_a_finished_file_stops_reading_there() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Sample::new(dir.path());
    let path = dir.path().join("gap.uprof");
    fs::write(&path, reordered(&sample, &[0, 1, 3, 4])).unwrap();
    let (records, summary) = read_all(&path);
    assert_eq!(records, sample.records_of_chunks(1));
    let damage = summary.damage.unwrap();
    assert_eq!(damage.offset, sample.boundaries[1]);
    assert!(damage.reason.ends_with(OUT_OF_ORDER), "{}", damage.reason);
}

#[test]
fn a_chunk_removed_from_an_unfinished_file_stops_reading_there() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Sample::new(dir.path());
    let path = dir.path().join("gap-unfinished.uprof");
    // No END chunk, so no record count to compare with.
    fs::write(&path, reordered(&sample, &[0, 2, 3])).unwrap();
    let (records, summary) = read_all(&path);
    assert_eq!(records, Vec::<Vec<u8>>::new());
    let damage = summary.damage.expect("a missing chunk went unnoticed");
    assert_eq!(damage.offset, sample.boundaries[0]);
    assert_eq!(
        damage.reason,
        format!(
            "chunk \"EVTS\" is number 2 of the file where number 1 was expected: {OUT_OF_ORDER}"
        )
    );
}

#[test]
fn completeness_says_why_a_file_is_partial_and_which_bytes_gave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Sample::new(dir.path());
    let path = dir.path().join("partial.uprof");
    let b = &sample.boundaries;
    let len = sample.bytes.len() as u64;
    let all = sample.records_of_chunks(3).len() as u64;
    let range = |start, end| Some(ByteRange { start, end });
    let mut crc = sample.bytes.clone();
    crc[(b[1] + b[2]) as usize / 2] ^= 1;
    let cases = [
        (sample.bytes.clone(), None, all, None),
        (
            sample.bytes[..b[3] as usize].to_vec(),
            Some(PartialReason::NoEnd),
            all,
            None,
        ),
        (
            sample.bytes[..b[3] as usize - 1].to_vec(),
            Some(PartialReason::Damaged(DamageKind::TruncatedChunk)),
            sample.records_of_chunks(2).len() as u64,
            range(b[2], b[3] - 1),
        ),
        (
            crc,
            Some(PartialReason::Damaged(DamageKind::DamagedChunk)),
            sample.records_of_chunks(1).len() as u64,
            range(b[1], len),
        ),
        (
            reordered(&sample, &[0, 1, 3, 2, 4]),
            Some(PartialReason::Damaged(DamageKind::OutOfSequence)),
            sample.records_of_chunks(1).len() as u64,
            range(b[1], len),
        ),
        (
            [&sample.bytes[..], b"junk"].concat(),
            Some(PartialReason::Damaged(DamageKind::DataAfterEnd)),
            all,
            range(len, len + 4),
        ),
    ];
    for (bytes, reason, records_read, damaged_bytes) in cases {
        fs::write(&path, &bytes).unwrap();
        let (_, summary) = read_all(&path);
        let expected = Completeness {
            complete: reason.is_none(),
            records_read,
            reason,
            damaged_bytes,
        };
        assert_eq!(summary.completeness(), expected, "{:?}", summary.damage);
    }

    fs::write(&path, reordered(&sample, &[0, 1, 3, 2, 4])).unwrap();
    let (_, summary) = read_all(&path);
    assert_eq!(
        serde_json::to_value(summary.completeness()).unwrap(),
        serde_json::json!({
            "complete": false,
            "records_read": sample.records_of_chunks(1).len(),
            "reason": "out_of_sequence",
            "damaged_bytes": {"start": b[1], "end": len},
        })
    );
    fs::write(&path, &sample.bytes[..b[1] as usize]).unwrap();
    let (_, summary) = read_all(&path);
    assert_eq!(
        serde_json::to_value(summary.completeness()).unwrap(),
        serde_json::json!({
            "complete": false,
            "records_read": sample.records_of_chunks(1).len(),
            "reason": "no_end",
            "damaged_bytes": null,
        })
    );
}
