//! `uprof report` and `uprof compare` given something that is not a record file: one clear
//! line and a prompt failure, never a hang. No privileges needed.
use std::ffi::CString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `uprof args...`; fails the test if it is still running after 10 s. Returns its exit
/// success and stderr.
fn uprof_promptly(args: &[&Path]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_uprof"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("uprof {args:?} still ran after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mkfifo(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

#[test]
fn report_and_compare_refuse_a_fifo_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.uprof");
    mkfifo(&fifo);
    let expected = format!(
        "uprof: error: {} is a FIFO (named pipe), not a record file (uprof reads only regular files)\n",
        fifo.display()
    );
    for args in [
        vec![Path::new("report"), &fifo],
        vec![Path::new("compare"), &fifo, &fifo],
    ] {
        let (ok, stderr) = uprof_promptly(&args);
        assert!(!ok, "uprof {args:?} succeeded");
        assert_eq!(stderr, expected, "uprof {args:?}");
    }
}

#[test]
fn report_refuses_a_directory_and_a_device() {
    let dir = tempfile::tempdir().unwrap();
    for (path, what) in [
        (dir.path(), "a directory"),
        (Path::new("/dev/zero"), "a character device"),
    ] {
        let (ok, stderr) = uprof_promptly(&[Path::new("report"), path]);
        assert!(!ok);
        assert_eq!(
            stderr,
            format!(
                "uprof: error: {} is {what}, not a record file (uprof reads only regular files)\n",
                path.display()
            )
        );
    }
}
