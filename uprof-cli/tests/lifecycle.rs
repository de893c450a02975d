//! How a recording starts and ends, and what it leaves behind: Ctrl-C, hang-up, duration,
//! signals while loading, failures before tracing starts, damage.
mod support;

use std::{
    fs,
    io::{BufReader, Read as _},
    os::unix::{fs::PermissionsExt as _, process::CommandExt as _},
    path::Path,
    process::{Command, Output, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use support::{
    ebpf_turn, leftovers, may_load_ebpf, privilege,
    ready::{Ready, record_pids},
    report_json, run, testprog, uprof,
};
use uprof_testprogs::attach::READY_FD;

fn calls_of_all_threads(report: &serde_json::Value) -> u64 {
    report["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["waits"]["calls"].as_u64().unwrap())
        .sum()
}

#[test]
fn ctrl_c_leaves_a_complete_file() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("interrupted.uprof");
    let mut demo = Command::new(testprog("uprof-demo"))
        .args(["--duration-ms", "20000"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut cmd, mut ready) = record_pids(&[demo.id()], &file);
    cmd.stderr(Stdio::piped());
    let mut recorder = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(recorder.stderr.take().unwrap());
    assert!(ready.wait(), "uprof record ended before tracing");
    sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own children.
    unsafe { libc::kill(recorder.id() as i32, libc::SIGINT) };
    let status = recorder.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    demo.kill().unwrap();
    demo.wait().unwrap();
    assert!(
        status.success(),
        "uprof record exits 0 after Ctrl-C: {rest}"
    );
    assert!(rest.contains("stopped (interrupted)"), "{rest}");

    let report = run(uprof().arg("report").arg(&file));
    assert!(
        report.stderr.is_empty(),
        "a cleanly ended file reads without warnings: {}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(
        calls_of_all_threads(&report_json(&file)) > 10,
        "the demo waited many times in 1.5 s"
    );
}

#[test]
fn duration_ends_recording_and_a_truncated_copy_still_reads() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.uprof");
    let out = run(uprof()
        .args(["record", "--duration", "700ms", "-o"])
        .arg(&file)
        .arg("--")
        .arg(testprog("uprof-demo"))
        .args(["--duration-ms", "5000"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped (duration reached)"));
    let whole = calls_of_all_threads(&report_json(&file));
    assert!(whole > 0);

    // Cut the file in the middle: the report reads what came before the cut and says so.
    let bytes = fs::read(&file).unwrap();
    let cut = dir.path().join("cut.uprof");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(uprof().arg("report").arg(&cut).args(["--format", "json"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("uprof: warning:"),
        "truncation is reported: {stderr}"
    );
    let partial: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let partial = calls_of_all_threads(&partial);
    assert!(
        partial <= whole,
        "a truncated file cannot hold more than the whole: {partial} > {whole}"
    );
}

#[test]
fn not_a_record_file_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("garbage.uprof");
    fs::write(&file, b"this is not a recording").unwrap();
    let out = uprof().arg("report").arg(&file).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("uprof: error:") && stderr.contains("garbage.uprof"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
}

#[test]
fn a_reader_that_goes_away_ends_the_report_quietly() {
    if !may_load_ebpf() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.uprof");
    support::record_scenario(&file, &["many-fds", "200", "--waits", "200"]);
    // `uprof report FILE --format json | head -c 1`: the pipe closes after the first byte, and
    // the report (200 fds) is larger than the pipe's buffer.
    let mut report = uprof()
        .arg("report")
        .arg(&file)
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    report
        .stdout
        .take()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    // Dropping the read end closes the pipe.
    let out = report.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Whether this test process runs as root (it can then run commands as another user).
fn is_root() -> bool {
    // SAFETY: geteuid has no memory effects.
    unsafe { libc::geteuid() == 0 }
}

/// A command started with its stdout and stderr in files: a process it leaves behind (which
/// inherits them) cannot keep the test waiting, as it would on pipes.
struct ToFiles {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl ToFiles {
    fn spawn(cmd: &mut Command) -> ToFiles {
        let dir = tempfile::tempdir().unwrap();
        let child = cmd
            .stdout(fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        ToFiles { child, dir }
    }

    /// Waits for the command (only for it) to end.
    fn finish(mut self) -> Output {
        Output {
            status: self.child.wait().unwrap(),
            stdout: fs::read(self.dir.path().join("stdout")).unwrap(),
            stderr: fs::read(self.dir.path().join("stderr")).unwrap(),
        }
    }
}

fn run_to_end(cmd: &mut Command) -> Output {
    ToFiles::spawn(cmd).finish()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that `out` failed with exactly `message` on one line, and that no process of the
/// run (marked by `marker` on its command line) is left with eBPF programs.
fn assert_failed_cleanly(out: &Output, message: &str, marker: &Path) {
    let left = leftovers::take_leftovers(marker);
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(out));
    assert_eq!(stderr_of(out), format!("uprof: error: {message}\n"));
}

/// Waits until process `pid` has a handler for `signal` (`SigCgt` in its status).
fn wait_until_caught(pid: u32, signal: i32) {
    let started = Instant::now();
    loop {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap();
        if caught & (1 << (signal - 1)) != 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "uprof never handled signal {signal}"
        );
        sleep(Duration::from_millis(5));
    }
}

/// Asserts that `file` still holds what an earlier test wrote, and `dir` nothing else.
fn assert_untouched(file: &Path, dir: &Path) {
    assert_eq!(
        String::from_utf8_lossy(&fs::read(file).unwrap()),
        "an earlier recording"
    );
    assert_eq!(names_in(dir), ["earlier.uprof"]);
}

#[test]
fn an_unwritable_output_is_one_line_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no/such/dir/f.uprof");
    let mut cmd = uprof();
    cmd.args(["record", "-o"])
        .arg(&file)
        .args(["--", "/bin/true"]);
    // Without privileges, loading would fail first: the output is checked before it.
    if is_root() {
        privilege::as_unprivileged(&mut cmd, &[]);
    }
    let out = run_to_end(&mut cmd);
    assert_failed_cleanly(
        &out,
        &format!(
            "cannot create record file {}: No such file or directory (os error 2)",
            file.display()
        ),
        dir.path(),
    );
}

#[test]
fn a_missing_record_file_names_its_cause_once() {
    let out = uprof()
        .args(["report", "/nonexistent/f.uprof"])
        .output()
        .unwrap();
    assert_eq!(
        stderr_of(&out),
        "uprof: error: cannot open record file /nonexistent/f.uprof: No such file or directory \
         (os error 2)\n"
    );
}

#[test]
fn a_failure_after_the_fork_leaves_no_child_no_program_and_the_old_file() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    leftovers::adopt_orphans();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("earlier.uprof");
    fs::write(&file, "an earlier recording").unwrap();
    // The file size limit lets uprof create its file but not write the header (a few KiB: every
    // probe is listed), and its error message still fits in its stderr file: it fails once the
    // command is forked and held.
    let mut cmd = uprof();
    cmd.args(["record", "-o"])
        .arg(&file)
        .args(["--", "/bin/sleep", "30"]);
    // SAFETY: setrlimit and signal are async-signal-safe; an ignored SIGXFSZ makes the write
    // fail with EFBIG instead of killing uprof.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            match libc::setrlimit(libc::RLIMIT_FSIZE, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let out = run_to_end(&mut cmd);
    assert_failed_cleanly(
        &out,
        &format!(
            "cannot write to record file {}: File too large (os error 27)",
            file.display()
        ),
        dir.path(),
    );
    assert_untouched(&file, dir.path());
}

#[test]
fn a_command_that_cannot_run_leaves_an_existing_file_as_it_was() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    leftovers::adopt_orphans();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("earlier.uprof");
    fs::write(&file, "an earlier recording").unwrap();
    let out = run_to_end(
        uprof()
            .args(["record", "-o"])
            .arg(&file)
            .arg("--")
            .arg(dir.path().join("no-such-command")),
    );
    assert_failed_cleanly(
        &out,
        &format!(
            "cannot run {}: No such file or directory (os error 2)",
            dir.path().join("no-such-command").display()
        ),
        dir.path(),
    );
    assert_untouched(&file, dir.path());
}

#[test]
fn a_symlink_at_the_output_is_replaced_and_its_target_left_alone() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "another user's file").unwrap();
    let file = dir.path().join("planted.uprof");
    std::os::unix::fs::symlink(&victim, &file).unwrap();
    run(uprof()
        .args(["record", "-o"])
        .arg(&file)
        .args(["--", "/bin/true"]));
    assert_eq!(
        String::from_utf8_lossy(&fs::read(&victim).unwrap()),
        "another user's file"
    );
    let meta = fs::symlink_metadata(&file).unwrap();
    assert!(meta.is_file(), "{meta:?}");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let report = run(uprof().arg("report").arg(&file));
    assert!(report.stderr.is_empty(), "{}", stderr_of(&report));
}

#[test]
fn bad_durations_are_usage_errors_that_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("earlier.uprof");
    fs::write(&file, "an earlier recording").unwrap();
    for (duration, says) in [
        ("300000000000y", "is more than a year"),
        ("0", "must be more than 0"),
        ("0ms", "must be more than 0"),
    ] {
        let out = uprof()
            .args(["record", "--duration", duration, "-o"])
            .arg(&file)
            .args(["--", "/bin/true"])
            .output()
            .unwrap();
        let stderr = stderr_of(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--duration {duration}: {stderr}"
        );
        assert!(
            stderr.starts_with(&format!(
                "error: invalid value '{duration}' for '--duration <DURATION>': "
            )) && stderr.contains(says),
            "{stderr}"
        );
    }
    assert_untouched(&file, dir.path());
}

#[test]
fn a_ready_fd_that_is_not_open_is_one_line() {
    let out = uprof()
        .args(["record", "--ready-fd", "1000", "--", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_of(&out),
        "uprof: error: --ready-fd 1000: Bad file descriptor (os error 9)\n"
    );
}

#[test]
fn a_signal_while_the_programs_load_stops_uprof_cleanly() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    leftovers::adopt_orphans();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("earlier.uprof");
    fs::write(&file, "an earlier recording").unwrap();
    for (signal, name) in [
        (libc::SIGINT, "interrupted"),
        (libc::SIGTERM, "terminated"),
        (libc::SIGHUP, "hung up"),
    ] {
        let mut cmd = uprof();
        cmd.args(["record", "--ready-fd", &READY_FD.to_string(), "-o"])
            .arg(&file)
            .args(["--", "/bin/sleep", "30"]);
        let mut ready = Ready::give_to(&mut cmd);
        let recorder = ToFiles::spawn(&mut cmd);
        // Once uprof handles the signal (its first step), while it loads its programs (more
        // than a second; several in a VM).
        wait_until_caught(recorder.child.id(), signal);
        // SAFETY: signalling our own child.
        unsafe { libc::kill(recorder.child.id() as i32, signal) };
        let out = recorder.finish();
        assert!(!ready.wait(), "{name}: tracing started after all");
        assert_failed_cleanly(
            &out,
            &format!("{name} while the eBPF programs were loading: nothing was recorded"),
            dir.path(),
        );
        assert_untouched(&file, dir.path());
    }
}

#[test]
fn a_hang_up_ends_the_recording_with_a_complete_file() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hangup.uprof");
    // A target that outlives the test however slow the machine is.
    let mut target = Command::new("sleep").arg("60").spawn().unwrap();
    // uprof on a terminal of its own, as in an SSH session: it leads the terminal's session.
    let (mut master, slave) = support::pty::open();
    let (mut cmd, mut ready) = record_pids(&[target.id()], &file);
    support::pty::attach(&mut cmd, &slave);
    let started = Instant::now();
    let mut recorder = cmd.spawn().unwrap();
    drop(slave);
    assert!(ready.wait(), "uprof record ended before tracing");
    let loading = started.elapsed();
    sleep(Duration::from_millis(500));
    let screen = master.read_available();
    // The terminal goes away: uprof gets SIGHUP, and every later write to it fails.
    drop(master);
    let status = recorder.wait().unwrap();
    target.kill().unwrap();
    target.wait().unwrap();
    assert!(status.success(), "{status}: {screen}");
    assert!(screen.contains("uprof: tracing pid"), "{screen}");
    if loading > Duration::from_millis(1500) {
        assert!(screen.contains("uprof: loading eBPF programs…"), "{screen}");
    }
    // A complete file (its END chunk read, nothing damaged), ended for the hang-up.
    let report = run(uprof().arg("report").arg(&file));
    assert!(report.stderr.is_empty(), "{}", stderr_of(&report));
    let bytes = fs::read(&file).unwrap();
    let reason = br#""reason":"hung up""#;
    assert!(bytes.windows(reason.len()).any(|w| w == reason));
}

#[test]
fn the_start_line_fits_a_terminal_line_and_verbose_says_why() {
    let Some(_serial) = ebpf_turn() else {
        return;
    };
    for verbose in [false, true] {
        let mut cmd = uprof();
        cmd.args(["record", "--format", "json"]);
        if verbose {
            cmd.arg("--verbose");
        }
        let out = run(cmd.args(["--", "/bin/true"]));
        let stderr = stderr_of(&out);
        let lines: Vec<&str> = stderr.lines().collect();
        let start = lines[0];
        assert!(start.starts_with("uprof: tracing pid "), "{stderr}");
        assert!(start.ends_with("; Ctrl-C to stop"), "{start}");
        assert!(
            start.chars().count() <= 120,
            "{} chars: {start}",
            start.len()
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let tier = report["tier"].as_str().unwrap();
        assert!(
            start.contains(&format!("({tier} tier, syscalls by ")),
            "{start}"
        );
        let reasons: Vec<&str> = lines
            .iter()
            .copied()
            .take_while(|l| !l.starts_with("uprof: stopped"))
            .skip(1)
            .collect();
        if verbose {
            assert!(
                reasons[0].starts_with(&format!("uprof: {tier} tier: ")),
                "{stderr}"
            );
            assert!(
                reasons[1].starts_with("uprof: syscalls hooked by "),
                "{stderr}"
            );
            // `A/T probes`: one line for each probe that did not attach.
            let counts = start
                .split(" probes")
                .next()
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap();
            let (attached, tried) = counts.split_once('/').unwrap();
            let refused: usize =
                tried.parse::<usize>().unwrap() - attached.parse::<usize>().unwrap();
            assert_eq!(reasons.len(), 2 + refused, "{stderr}");
            assert!(
                reasons[2..].iter().all(|l| l.contains(" not attached: ")),
                "{stderr}"
            );
        } else {
            assert!(reasons.is_empty(), "{stderr}");
        }
    }
}
