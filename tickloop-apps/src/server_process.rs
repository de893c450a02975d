//! A server binary run as a child process: started on a free port, sampled with SIGUSR1,
//! stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, bail, ensure};

use crate::report::ServerReport;

/// A running server.
pub struct ServerProcess {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

/// The path of a sibling binary of the running executable (same cargo target directory).
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the running executable")?;
    let path = exe.with_file_name(name);
    ensure!(
        path.exists(),
        "{} not found; build all binaries first: cargo build --release -p tickloop-apps",
        path.display()
    );
    Ok(path)
}

impl ServerProcess {
    /// Starts `binary args… --port 0` and waits for its `listening on ADDR` line.
    pub fn spawn(binary: &Path, args: &[&str]) -> Result<Self> {
        let mut child = Command::new(binary)
            .args(args)
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .context("reading the server's first line")?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{} did not start: first line {line:?}", binary.display());
        };
        let addr = addr
            .parse()
            .with_context(|| format!("parsing address {addr:?}"))?;
        Ok(ServerProcess {
            child,
            stdout,
            addr,
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// Asks for a report (SIGUSR1); read it with [`ServerProcess::read_report`].
    pub fn request_report(pid: libc::pid_t) {
        // SAFETY: sends a signal to our own child.
        unsafe { libc::kill(pid, libc::SIGUSR1) };
    }

    /// The next report line.
    pub fn read_report(&mut self) -> Result<ServerReport> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .context("reading a server report")?;
        serde_json::from_str(line.trim()).with_context(|| format!("parsing report {line:?}"))
    }

    /// Pins the server to one CPU, so it does not compete with the load generator.
    pub fn pin_to_cpu(&self, cpu: usize) -> Result<()> {
        pin_to_cpu(self.pid(), cpu)
    }

    /// Stops the server with SIGTERM; returns its final report after it exited cleanly.
    pub fn shutdown(mut self) -> Result<ServerReport> {
        // SAFETY: sends a signal to our own child.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let report = self.read_report()?;
        let status = self.child.wait().context("waiting for the server")?;
        ensure!(status.success(), "the server exited with {status}");
        Ok(report)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Restricts a process (0: this one) to one CPU.
pub fn pin_to_cpu(pid: libc::pid_t, cpu: usize) -> Result<()> {
    // SAFETY: the set is zeroed and then filled with CPU_SET before use.
    unsafe {
        let mut set = std::mem::zeroed::<libc::cpu_set_t>();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("pinning pid {pid} to CPU {cpu}"));
        }
    }
    Ok(())
}
