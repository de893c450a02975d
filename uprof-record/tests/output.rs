//! Where a record file is written: under a temporary name until it is published, never
//! through a symbolic link, readable by its owner only.
mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::Path;

use common::*;
use uprof_record::{FILE_MODE, Output, Writer};

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_recording_that_never_starts_leaves_the_existing_file_and_no_leftover() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.uprof");
    fs::write(&path, "an earlier recording").unwrap();
    let mut writer = Writer::start(Output::create(&path).unwrap(), &session_header()).unwrap();
    one_of_each_kind(1)
        .iter()
        .for_each(|r| writer.push(r).unwrap());
    writer.flush().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "an earlier recording");
    drop(writer);
    assert_eq!(fs::read_to_string(&path).unwrap(), "an earlier recording");
    assert_eq!(names(dir.path()), ["precious.uprof"]);

    // Nor does an output that never got a header.
    drop(Output::create(&path).unwrap());
    assert_eq!(names(dir.path()), ["precious.uprof"]);
}

#[test]
fn publishing_replaces_the_file_with_the_recording_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.uprof");
    fs::write(&path, "an earlier recording").unwrap();
    let records = one_of_each_kind(1);
    let mut writer = Writer::start(Output::create(&path).unwrap(), &session_header()).unwrap();
    records.iter().for_each(|r| writer.push(r).unwrap());
    writer.flush().unwrap();
    writer.publish().unwrap();
    assert_eq!(names(dir.path()), ["f.uprof"]);
    // Written chunk by chunk at its path from now on: a crash keeps what was flushed.
    let (read, summary) = read_all(&path);
    assert_eq!(read, records);
    assert_eq!(summary.end, None);
    writer.finish(&session_end(records.len() as u64)).unwrap();
    assert!(read_all(&path).1.end.is_some());
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, FILE_MODE, "{mode:o}");
}

#[test]
fn a_symlink_at_the_path_is_replaced_and_its_target_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("victim");
    fs::write(&target, "not yours").unwrap();
    let path = dir.path().join("planted.uprof");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let writer = Writer::create(&path, &session_header()).unwrap();
    writer.finish(&session_end(0)).unwrap();
    assert_eq!(fs::read_to_string(&target).unwrap(), "not yours");
    assert!(fs::symlink_metadata(&path).unwrap().is_file());
    assert!(read_all(&path).1.end.is_some());
}

#[test]
fn a_directory_or_a_fifo_is_refused_with_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let err = Output::create(dir.path()).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!("cannot create record file {}", dir.path().display())
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.starts_with("Is a directory"), "{cause}");

    let fifo = dir.path().join("fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let err = Output::create(&fifo).err().unwrap();
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(cause, "it is a FIFO, not a regular file");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn a_missing_directory_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/f.uprof");
    let err = Output::create(&path).err().unwrap();
    assert_eq!(
        err.to_string(),
        format!("cannot create record file {}", path.display())
    );
    assert_eq!(names(dir.path()), Vec::<String>::new());
}

#[test]
fn a_character_device_is_written_in_place_and_finishes() {
    let path = Path::new("/dev/null");
    let mut writer = Writer::start(Output::create(path).unwrap(), &session_header()).unwrap();
    one_of_each_kind(2)
        .iter()
        .for_each(|r| writer.push(r).unwrap());
    writer.publish().unwrap();
    writer.finish(&session_end(2)).unwrap();
    assert!(fs::metadata(path).unwrap().file_type().is_char_device());
}
