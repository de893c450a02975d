//! Booting one kernel under `qemu-system-x86_64` with software emulation (TCG: KVM dies early in
//! boot on the development machines) and collecting its serial console with timestamps.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{RunOptions, tool};

/// What a VM printed, and how its run ended.
#[derive(Debug)]
pub struct Console {
    /// Each console line (without line ending) with the time since qemu started.
    pub lines: Vec<(Duration, String)>,
    /// Wall time from starting qemu until it exited or was killed.
    pub elapsed: Duration,
    /// qemu's exit status; `None` when it was killed at the timeout.
    pub status: Option<ExitStatus>,
}

impl Console {
    /// Whether qemu was killed because the VM outlived its timeout.
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }
}

/// Boots `vmlinuz` with `initrd` as its root file system (and the `qemu_args` of `options`),
/// copies every console line to `log` as it arrives, and kills the VM when it runs longer than
/// the `timeout` of `options`.
pub fn boot(vmlinuz: &Path, initrd: &Path, options: &RunOptions, log: &Path) -> Result<Console> {
    let timeout = options.timeout;
    let mut cmd = Command::new("qemu-system-x86_64");
    // One vCPU: under TCG, a second one races the kernel's int3-based live patching (seen: an
    // int3 oops at syscall exit in 6.12 while tracepoints were being enabled). 3 GiB: the
    // initramfs unpacks the test executables `vm-test` runs (debug builds, 900 MB for all 17),
    // next to its compressed copy; with too little memory unpacking fails ("write error").
    cmd.args(["-accel", "tcg", "-m", "3072", "-smp", "1"])
        .args(["-nographic", "-no-reboot"])
        // No network card: nothing inside uses one, and its option ROM costs boot time.
        .args(["-nic", "none"])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .args(&options.qemu_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut log_file =
        File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{}`", tool::describe(&cmd)))?;

    // Both streams go through one channel so the deadline below covers a VM that prints nothing.
    let (sender, receiver) = mpsc::channel();
    let readers = [
        forward_lines(
            child.stdout.take().expect("stdout is piped"),
            sender.clone(),
            started,
        ),
        forward_lines(
            child.stderr.take().expect("stderr is piped"),
            sender,
            started,
        ),
    ];
    let deadline = started + timeout;
    let mut lines = Vec::new();
    let timed_out = loop {
        match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((at, line)) => {
                writeln!(log_file, "{line}")
                    .with_context(|| format!("cannot write {}", log.display()))?;
                lines.push((at, line));
            }
            Err(RecvTimeoutError::Disconnected) => break false,
            Err(RecvTimeoutError::Timeout) => break true,
        }
    };
    if timed_out {
        // The VM may already have exited on its own; then killing it fails harmlessly.
        let _ = child.kill();
    }
    let status = child.wait().context("cannot wait for qemu")?;
    let elapsed = started.elapsed();
    for reader in readers {
        let _ = reader.join();
    }
    if timed_out {
        writeln!(log_file, "xtask: killed after {} s", timeout.as_secs())?;
    }
    Ok(Console {
        lines,
        elapsed,
        status: (!timed_out).then_some(status),
    })
}

/// Sends every line of `stream` with its arrival time until the stream closes.
fn forward_lines(
    stream: impl std::io::Read + Send + 'static,
    sender: mpsc::Sender<(Duration, String)>,
    started: Instant,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buffer = Vec::new();
        // Console output is not guaranteed UTF-8 (escape sequences, garbled kernel output).
        while reader.read_until(b'\n', &mut buffer).is_ok_and(|n| n > 0) {
            let line = printable(&String::from_utf8_lossy(&buffer));
            if sender.send((started.elapsed(), line)).is_err() {
                return;
            }
            buffer.clear();
        }
    })
}

/// What a terminal would show of `line`, without escape sequences and control characters (the
/// firmware resets and clears the terminal; replaying that from a log would clear the user's
/// screen). Text before a carriage return counts as overwritten, so a protocol line printed
/// after firmware output on the same terminal line still starts the line.
fn printable(line: &str) -> String {
    let line = line.trim_end_matches(['\n', '\r']);
    let shown = line
        .rsplit('\r')
        .find(|part| !part.trim().is_empty())
        .unwrap_or(line);
    let mut out = String::with_capacity(shown.len());
    let mut chars = shown.chars();
    while let Some(c) = chars.next() {
        match c {
            // CSI sequences (`ESC [ params final`) end at a byte in @..~; others are one letter.
            '\x1b' => {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escape_sequences_and_control_characters() {
        assert_eq!(
            printable("\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16)\r\n"),
            "SeaBIOS (version 1.16)"
        );
        assert_eq!(
            printable("Booting from ROM..\x1bc\x1b[?7l\x1b[2J.\rUPROF-INIT\r\n"),
            "UPROF-INIT"
        );
        assert_eq!(
            printable("Press Ctrl-B to configure iPXE...\r      \r\n"),
            "Press Ctrl-B to configure iPXE..."
        );
        assert_eq!(printable("\tcol\u{7}umn  \n"), "\tcolumn");
    }
}
