//! A write that fails part-way (the disk fills up) leaves a file that reads cleanly up to the
//! last complete chunk, and the writer can carry on once there is room again. The "disk" is the
//! process's file size limit (RLIMIT_FSIZE), so this file holds a single test: the limit applies
//! to the whole test process.
mod common;

use std::fs;

use common::*;
use uprof_record::{Error, Writer};

fn set_file_size_limit(bytes: libc::rlim_t) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls with a valid pointer; ignoring SIGXFSZ makes writes past the limit
    // fail with EFBIG instead of killing the process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[test]
fn a_write_cut_short_by_a_full_disk_is_rolled_back_and_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.uprof");
    let first = one_of_each_kind(1);
    let second = one_of_each_kind(2);
    let mut writer = Writer::create(&path, &session_header()).unwrap();
    first.iter().for_each(|r| writer.push(r).unwrap());
    writer.flush().unwrap();
    let complete = fs::metadata(&path).unwrap().len();

    // Room for part of the next chunk only: the write stops half-way.
    set_file_size_limit(complete + 100);
    second.iter().for_each(|r| writer.push(r).unwrap());
    let err = writer.flush().unwrap_err();
    assert!(
        matches!(&err, Error::Io { source, .. } if source.raw_os_error() == Some(libc::EFBIG)),
        "{err}"
    );
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        complete,
        "the partial chunk was cut off"
    );
    let (records, summary) = read_all(&path);
    assert_eq!(records, first);
    assert_eq!((summary.end, summary.damage), (None, None));

    // Room again: the pending records were kept.
    set_file_size_limit(libc::RLIM_INFINITY);
    let written = writer.records_written();
    writer.finish(&session_end(written)).unwrap();
    let (records, summary) = read_all(&path);
    assert_eq!(records, [first, second].concat());
    assert_eq!(summary.end, Some(session_end(written)));
    assert_eq!(summary.damage, None);
}
