//! Files that cannot be opened give one clear sentence naming the file.
mod common;

use std::fs;
use std::io::ErrorKind;

use common::*;
use uprof_record::format::{CHUNK_HEADER_LEN, MAGIC, PRELUDE_LEN};
use uprof_record::{Error, Reader};

fn open_err(path: &std::path::Path) -> Error {
    match Reader::open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e,
    }
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.uprof");
    let err = open_err(&path);
    assert!(
        matches!(&err, Error::Io { source, .. } if source.kind() == ErrorKind::NotFound),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("cannot open record file {}", path.display())
    );
}

#[test]
fn another_kind_of_file_is_not_a_record_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    fs::write(&path, "hello, this is text\n").unwrap();
    let err = open_err(&path);
    assert!(matches!(err, Error::NotARecordFile { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a uprof record file (it does not start with \"UPROFREC\")",
            path.display()
        )
    );
    // Shorter than the magic, and not a prefix of it.
    fs::write(&path, "UPX").unwrap();
    assert!(matches!(open_err(&path), Error::NotARecordFile { .. }));
}

#[test]
fn a_newer_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.uprof");
    write_chunks(&path, &[one_of_each_kind(1)], true);
    let mut bytes = fs::read(&path).unwrap();
    bytes[MAGIC.len()..PRELUDE_LEN].copy_from_slice(&2u16.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let err = open_err(&path);
    assert!(matches!(err, Error::UnsupportedVersion { version: 2, .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{} uses record format version 2, but this uprof reads only version 1 (it was written by a newer uprof)",
            path.display()
        )
    );
}

#[test]
fn an_empty_or_headless_file_has_a_damaged_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.uprof");
    fs::write(&path, b"").unwrap();
    assert_eq!(
        open_err(&path).to_string(),
        format!(
            "record file {} has a damaged session header: the file is empty",
            path.display()
        )
    );

    let mut prelude = MAGIC.to_vec();
    prelude.extend_from_slice(&1u16.to_le_bytes());
    fs::write(&path, &prelude).unwrap();
    assert_eq!(
        open_err(&path).to_string(),
        format!(
            "record file {} has a damaged session header: the file ends before the HEAD chunk",
            path.display()
        )
    );
}

#[test]
fn a_corrupt_head_chunk_is_a_damaged_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.uprof");
    write_chunks(&path, &[one_of_each_kind(1)], true);
    let mut bytes = fs::read(&path).unwrap();
    bytes[PRELUDE_LEN + CHUNK_HEADER_LEN + 3] ^= 0x20;
    fs::write(&path, &bytes).unwrap();
    let err = open_err(&path);
    assert_eq!(
        err.to_string(),
        format!(
            "record file {} has a damaged session header: chunk \"HEAD\" fails its CRC check",
            path.display()
        )
    );
}

#[test]
fn a_full_disk_is_a_write_error_naming_the_file() {
    // Every write to /dev/full fails with ENOSPC.
    let err = match uprof_record::Writer::create("/dev/full", &session_header()) {
        Ok(_) => panic!("writing to /dev/full succeeded"),
        Err(e) => e,
    };
    assert!(
        matches!(&err, Error::Io { source, .. } if source.raw_os_error() == Some(28)),
        "{err}"
    );
    assert_eq!(err.to_string(), "cannot write to record file /dev/full");
}
