//! Files that cannot be opened give one clear sentence naming the file.
mod common;

use std::fs;
use std::io::ErrorKind;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use uprof_record::format::{CHUNK_HEADER_LEN, MAGIC, PRELUDE_LEN};
use uprof_record::{Error, FORMAT_VERSION, FileKind, Reader};

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
    bytes[MAGIC.len()..PRELUDE_LEN].copy_from_slice(&3u16.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    let err = open_err(&path);
    assert!(matches!(err, Error::UnsupportedVersion { version: 3, .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{} uses record format version 3, but this uprof reads only versions 1 to 2 (it was written by a newer uprof)",
            path.display()
        )
    );
    bytes[MAGIC.len()..PRELUDE_LEN].copy_from_slice(&0u16.to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    assert!(
        open_err(&path)
            .to_string()
            .ends_with("reads only versions 1 to 2"),
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
    prelude.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
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

/// Opens `path` on another thread: a blocking open must fail the test, not hang it.
fn open_err_promptly(path: &Path) -> Error {
    let (tx, rx) = mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::spawn(move || tx.send(Reader::open(&owned).err()));
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("opening {} blocked", path.display()))
        .unwrap_or_else(|| panic!("{} opened", path.display()))
}

#[test]
fn anything_but_a_regular_file_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let socket = dir.path().join("socket");
    let _listener = UnixListener::bind(&socket).unwrap();

    for (path, kind, what) in [
        (fifo, FileKind::Fifo, "a FIFO (named pipe)"),
        (dir.path().to_path_buf(), FileKind::Directory, "a directory"),
        (
            PathBuf::from("/dev/zero"),
            FileKind::CharDevice,
            "a character device",
        ),
        (socket, FileKind::Socket, "a socket"),
    ] {
        let err = open_err_promptly(&path);
        assert!(
            matches!(&err, Error::NotAFile { kind: k, .. } if *k == kind),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{} is {what}, not a record file (uprof reads only regular files)",
                path.display()
            )
        );
    }
}

/// A file of the prelude and a `HEAD` chunk (number 0) holding `json`.
fn file_with_head(json: &[u8]) -> Vec<u8> {
    let len = (json.len() as u32).to_le_bytes();
    let seq = 0u64.to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    [&b"HEAD"[..], &len, &seq, json]
        .iter()
        .for_each(|p| crc.update(p));
    let prelude = [&MAGIC[..], &FORMAT_VERSION.to_le_bytes()].concat();
    [
        &prelude[..],
        b"HEAD",
        &len,
        &seq,
        &crc.finalize().to_le_bytes(),
        json,
    ]
    .concat()
}

#[test]
fn text_quoted_from_a_head_chunk_is_bounded_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.uprof");
    // A HEAD whose format version is a string: the JSON parser's message quotes the string.
    let hostile = format!("\x1b]0;PWN\x07\x1b[2J{}", "A".repeat(100_000));
    let mut head = serde_json::to_value(session_header()).unwrap();
    head["format_version"] = serde_json::json!(hostile);
    fs::write(&path, file_with_head(&serde_json::to_vec(&head).unwrap())).unwrap();

    let message = open_err(&path).to_string();
    assert!(
        message.contains("]0;PWN"),
        "the message quotes the value: {message}"
    );
    assert!(
        message.len() < 600,
        "{} bytes: {}...",
        message.len(),
        &message[..300]
    );
    assert!(!message.chars().any(char::is_control), "{message:?}");
}

#[test]
fn a_head_chunk_over_its_limit_is_a_damaged_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big-head.uprof");
    // A valid header made 2 MiB long by its probe list.
    let mut head = session_header();
    head.probes = vec![head.probes[0].clone(); 2 << 20 >> 6];
    let json = serde_json::to_vec(&head).unwrap();
    assert!(json.len() > 2 << 20);
    fs::write(&path, file_with_head(&json)).unwrap();
    assert_eq!(
        open_err(&path).to_string(),
        format!(
            "record file {} has a damaged session header: chunk \"HEAD\" claims {} bytes, \
             more than its 1048576-byte limit",
            path.display(),
            json.len()
        )
    );
}
