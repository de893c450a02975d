//! What `cargo xtask fuzz` fuzzes: a record file read from memory, analysed, and rendered both
//! as text and as JSON, as `uprof report` does. docs/fuzzing.md says how to run it.
//!
//! Random mutations rarely keep a chunk's CRC right, so most inputs would stop at the reader's
//! first damaged chunk and never reach the analysis. Each input is therefore run twice: as it
//! is (the reader's damage handling), and with every chunk's CRC recomputed (the records reach
//! the analysis and the renderers).
use std::io::Cursor;

use uprof_analysis::{Analyzer, SessionInfo, View};
use uprof_record::Reader;
use uprof_record::format::{CHUNK_HEADER_LEN, MAGIC, PRELUDE_LEN, V1_CHUNK_HEADER_LEN};

/// Runs one fuzz input: as it is, then with its checksums made right if that changes it.
pub fn fuzz_one(file: &[u8]) {
    read_and_report(file.to_vec());
    let mut fixed = file.to_vec();
    fix_checksums(&mut fixed);
    if fixed != file {
        read_and_report(fixed);
    }
}

/// Reads `file` as `uprof report` does and renders its report both ways. Panics (a finding)
/// only if uprof would: reading from memory has no I/O errors, and rendering into memory none.
pub fn read_and_report(file: Vec<u8>) {
    let Ok(mut reader) = Reader::from_input(Cursor::new(file), "fuzz-input") else {
        return; // an error naming the file: what `uprof report` prints and exits with
    };
    let mut analyzer = Analyzer::new();
    let mut last_ts = reader.header().start_ts;
    let mut passed = 0;
    let summary = reader
        .for_each_record(|record| {
            passed += 1;
            last_ts = last_ts.max(record.header().ts);
            analyzer.push(record);
        })
        .expect("reading from memory has no I/O errors");
    let completeness = summary.completeness();
    assert_eq!(completeness.records_read, passed);
    assert_eq!(completeness.complete, summary.warning().is_none());
    serde_json::to_string(&completeness).expect("completeness serialises");

    let info = SessionInfo::of_recording(reader.header(), &summary, last_ts);
    assert_eq!(info.incomplete.is_none(), completeness.complete);
    let report = analyzer.finish(&info);
    let mut text = Vec::new();
    report
        .render_text(&mut text, View::All)
        .expect("rendering into memory cannot fail");
    serde_json::to_string(&report.to_json()).expect("the JSON report serialises");
}

/// Recomputes the CRC of every chunk frame of `file` (format version 1 or 2, framing as in
/// docs/record-format.md), walking the frames by their length fields. Leaves anything else
/// (a bad prelude, a frame cut short) as it is.
pub fn fix_checksums(file: &mut [u8]) {
    if file.len() < PRELUDE_LEN || file[..MAGIC.len()] != MAGIC {
        return;
    }
    // Version 1 frames have no sequence number; the CRC is the frame's last 4 bytes.
    let header_len = match u16::from_le_bytes([file[8], file[9]]) {
        1 => V1_CHUNK_HEADER_LEN,
        2 => CHUNK_HEADER_LEN,
        _ => return,
    };
    let mut at = PRELUDE_LEN;
    while at + header_len <= file.len() {
        let len = u32::from_le_bytes(file[at + 4..at + 8].try_into().unwrap()) as usize;
        let Some(end) = (at + header_len)
            .checked_add(len)
            .filter(|&end| end <= file.len())
        else {
            return;
        };
        let crc_at = at + header_len - 4;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&file[at..crc_at]);
        crc.update(&file[at + header_len..end]);
        file[crc_at..crc_at + 4].copy_from_slice(&crc.finalize().to_le_bytes());
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn seeds() -> Vec<(String, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
        let seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                (path.display().to_string(), std::fs::read(&path).unwrap())
            })
            .collect();
        assert!(
            seeds.len() >= 10,
            "{} seeds in {}",
            seeds.len(),
            dir.display()
        );
        seeds
    }

    /// The seeds are whole recordings of the formats this build reads: fuzzing starts from
    /// files that reach the analysis, not from files the reader refuses.
    #[test]
    fn every_seed_is_a_complete_recording_and_reports() {
        for (name, bytes) in seeds() {
            let mut reader = Reader::from_input(Cursor::new(bytes.clone()), &name).unwrap();
            let summary = reader.for_each_record(|_| {}).unwrap();
            let completeness = summary.completeness();
            assert!(completeness.complete, "{name}: {completeness:?}");
            assert!(completeness.records_read > 10, "{name}: {completeness:?}");
            fuzz_one(&bytes);
        }
    }

    #[test]
    fn fixing_checksums_keeps_sound_files_and_lets_mutated_records_through() {
        for (name, bytes) in seeds() {
            let mut fixed = bytes.clone();
            fix_checksums(&mut fixed);
            assert!(fixed == bytes, "{name} changed");

            // A byte near the end of the last record: the CRC catches it, the fix undoes that.
            let summary = read(bytes.clone());
            let mut mutated = bytes.clone();
            let end_chunk = bytes
                .windows(4)
                .rposition(|w| w == b"END ")
                .expect("a finished file");
            mutated[end_chunk - 10] ^= 0x40;
            let damaged = read(mutated.clone());
            assert!(damaged.damage.is_some(), "{name}: the flip went unnoticed");
            fix_checksums(&mut mutated);
            let repaired = read(mutated);
            assert_eq!(repaired.damage, None, "{name}");
            assert_eq!(repaired.records, summary.records, "{name}");
        }
    }

    fn read(bytes: Vec<u8>) -> uprof_record::ReadSummary {
        let mut reader = Reader::from_input(Cursor::new(bytes), "test").unwrap();
        reader.for_each_record(|_| {}).unwrap()
    }
}
