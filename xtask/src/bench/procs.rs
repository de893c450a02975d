//! Spawning the processes a benchmark is made of, and measuring them: CPU time and memory from
//! `/proc`, and the whole-life CPU time and peak RSS of a child from `wait4`.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running child whose stderr is collected line by line in the background (and echoed when
/// it fails), so that we can wait for a line that says it is ready.
pub struct Spawned {
    child: Child,
    program: String,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    /// Whether `wait4` reaped it (`Child` does not know).
    reaped: bool,
}

impl Drop for Spawned {
    /// A benchmark that fails half-way must not leave its tracer running (and attached): a
    /// child not waited for gets the SIGINT every tracer here stops cleanly on.
    fn drop(&mut self) {
        if !self.reaped && matches!(self.child.try_wait(), Ok(None)) {
            let _ = signal(self.pid(), libc::SIGINT);
            let _ = self.child.wait();
        }
    }
}

/// How a [`Spawned`] child ended.
pub struct Finished {
    /// Its user + system CPU time over its whole life.
    pub cpu: Duration,
    /// Its peak resident set size (`ru_maxrss`), in bytes.
    pub max_rss: u64,
    /// Everything it wrote on stdout, if stdout was piped.
    pub stdout: String,
}

impl Spawned {
    /// Starts `cmd` with its stderr piped to us.
    pub fn start(cmd: &mut Command) -> Result<Spawned> {
        let program = describe(cmd);
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run `{program}`"))?;
        let pipe = child.stderr.take().expect("stderr was piped");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr);
        let reader = thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        Ok(Spawned {
            child,
            program,
            stderr,
            reader: Some(reader),
            reaped: false,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until a line of its stderr contains `needle`.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.lines().iter().any(|line| line.contains(needle)) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "`{}` ended ({status}) before saying `{needle}`: {}",
                    self.program,
                    self.lines().join("\n")
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "`{}` did not say `{needle}` within {timeout:?}",
                    self.program
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT, the Ctrl-C every tracer here stops cleanly on, and waits for the child
    /// to end. Exiting with status 0 or dying of that SIGINT (strace re-raises it) are clean.
    pub fn stop(self) -> Result<Finished> {
        signal(self.pid(), libc::SIGINT)?;
        self.wait()?
            .clean(|status| libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGINT)
    }

    /// [`Spawned::stop`] for a child that may miss a SIGINT (bpftrace ignores one that comes
    /// while it is still setting up or printing): SIGINT again every `interval` until it ends,
    /// at most `tries` times; then SIGKILL, and an error.
    pub fn stop_insisting(self, interval: Duration, tries: u32) -> Result<Finished> {
        for _ in 0..tries {
            signal(self.pid(), libc::SIGINT)?;
            let deadline = Instant::now() + interval;
            while Instant::now() < deadline {
                if self.has_ended()? {
                    return self.wait()?.clean(|status| {
                        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGINT
                    });
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        signal(self.pid(), libc::SIGKILL)?;
        let program = self.program.clone();
        let _ = self.wait();
        bail!("`{program}` did not stop after {tries} SIGINTs {interval:?} apart: killed")
    }

    /// Whether the child has ended (it stays waitable: `WNOWAIT`).
    fn has_ended(&self) -> Result<bool> {
        // SAFETY: an all-zero siginfo is valid; waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: asks about our own child, with a valid pointer to a siginfo.
        if unsafe { libc::waitid(libc::P_PID, self.pid(), &mut info, flags) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("waiting for `{}`", self.program));
        }
        // SAFETY: waitid filled the siginfo in (si_pid stays 0 while the child runs).
        Ok(unsafe { info.si_pid() } != 0)
    }

    /// Waits for the child to end; fails if it did not exit with status 0.
    pub fn finish(self) -> Result<Finished> {
        self.wait()?.clean(|_| false)
    }

    /// Waits for the child with `wait4`, which also gives its resource usage; `std`'s
    /// `Child::wait` would throw that away.
    fn wait(mut self) -> Result<Waited> {
        let mut stdout = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            pipe.read_to_string(&mut stdout)
                .with_context(|| format!("reading the output of `{}`", self.program))?;
        }
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waits for our own child, with valid pointers to a status and a rusage.
        let pid = unsafe { libc::wait4(self.pid() as i32, &mut status, 0, &mut usage) };
        if pid < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("waiting for `{}`", self.program));
        }
        // Reaped: the pid may be another child's from now on.
        self.reaped = true;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let stderr =
            std::mem::take(&mut *self.stderr.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(Waited {
            program: std::mem::take(&mut self.program),
            status,
            usage,
            stdout,
            stderr,
        })
    }

    /// Its stderr so far, line by line.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.lines()
    }

    fn lines(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What `wait4` said about a child, before we judge its exit status.
struct Waited {
    program: String,
    status: i32,
    usage: libc::rusage,
    stdout: String,
    stderr: Vec<String>,
}

impl Waited {
    /// What the child did, if it exited with status 0 or `also_clean` accepts its status.
    fn clean(self, also_clean: impl Fn(i32) -> bool) -> Result<Finished> {
        let exited_0 = libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0;
        if !exited_0 && !also_clean(self.status) {
            bail!(
                "`{}` failed (wait status {:#x}): {}",
                self.program,
                self.status,
                self.stderr.join("\n")
            );
        }
        Ok(Finished {
            cpu: timeval(self.usage.ru_utime) + timeval(self.usage.ru_stime),
            max_rss: self.usage.ru_maxrss as u64 * 1024,
            stdout: self.stdout,
        })
    }
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: i32) -> Result<()> {
    // SAFETY: kill has no memory effects.
    if unsafe { libc::kill(pid as i32, signal) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot send signal {signal} to {pid}"));
    }
    Ok(())
}

/// User + system CPU time process `pid` (all its threads) has used so far.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let ticks = stat_cpu_ticks(&stat).with_context(|| format!("unexpected {path}: {stat}"))?;
    // SAFETY: sysconf has no memory effects.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / per_second))
}

/// The CPU time process `pid`'s live threads have used so far, to the nanosecond: the sum of
/// the first field (time on the CPU, in ns) of each `/proc/PID/task/TID/schedstat`. Unlike
/// [`cpu_time`], it is not rounded to clock ticks (10 ms), but it leaves out threads that have
/// exited; it falls back to [`cpu_time`] on kernels without schedstat.
pub fn thread_cpu_time(pid: u32) -> Result<Duration> {
    let tasks = format!("/proc/{pid}/task");
    let mut total = Duration::ZERO;
    for task in fs::read_dir(&tasks).with_context(|| format!("cannot list {tasks}"))? {
        let path = task?.path().join("schedstat");
        let Ok(text) = fs::read_to_string(&path) else {
            // Without CONFIG_SCHED_INFO; a thread that just exited is gone either way.
            if path.parent().is_some_and(Path::exists) {
                return cpu_time(pid);
            }
            continue;
        };
        let ns: u64 = text
            .split_whitespace()
            .next()
            .and_then(|field| field.parse().ok())
            .with_context(|| format!("unexpected {}: {text}", path.display()))?;
        total += Duration::from_nanos(ns);
    }
    Ok(total)
}

/// utime + stime, in clock ticks, of a `/proc/PID/stat` line.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name, in parentheses, may hold spaces: count fields after its last `)`.
    // There, field 1 is the state (field 3 of proc(5)), so utime and stime are fields 12 and 13.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// User + system CPU time of every child of ours that has ended and been waited for (with
/// their own waited-for descendants): `getrusage(RUSAGE_CHILDREN)`. The difference over a
/// stretch of time in which exactly one child was reaped is that child's CPU time.
pub fn children_cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage; RUSAGE_CHILDREN cannot fail.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

/// A child killed (SIGKILL) and reaped when dropped: a load that runs until we are done.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Starts `cmd`, with its stdout and stderr silenced.
    pub fn spawn(cmd: &mut Command) -> Result<KillOnDrop> {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run `{}`", describe(cmd)))?;
        Ok(KillOnDrop(child))
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Fails if the child has already ended.
    pub fn check_running(&mut self) -> Result<()> {
        match self.0.try_wait()? {
            Some(status) => bail!("a background load ended too early ({status})"),
            None => Ok(()),
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process's memory use, from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now, in bytes.
    pub rss: u64,
    /// Peak resident set size so far, in bytes.
    pub hwm: u64,
}

/// The memory use of `pid`, or `None` once it has exited (a zombie has no memory lines).
pub fn memory(pid: u32) -> Option<Memory> {
    parse_memory(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

fn parse_memory(status: &str) -> Option<Memory> {
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        rss: kib("VmRSS:")? * 1024,
        hwm: kib("VmHWM:")? * 1024,
    })
}

/// The command line of a command, for messages and the commands we print (shared with `vm`).
pub(crate) use crate::vm::tool::describe;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_dropped_while_running_is_interrupted_and_reaped() {
        let child = Spawned::start(Command::new("sleep").arg("30")).unwrap();
        let pid = child.pid();
        drop(child);
        // SAFETY: signal 0 only checks whether the process exists.
        assert_eq!(
            unsafe { libc::kill(pid as i32, 0) },
            -1,
            "pid {pid} is still there"
        );
    }

    #[test]
    fn cpu_ticks_are_utime_plus_stime_even_with_spaces_in_the_name() {
        let stat = "1234 (redis server) S 1 1234 1234 0 -1 4194560 900 0 0 0 317 45 0 0 20 0 5 0";
        assert_eq!(stat_cpu_ticks(stat), Some(317 + 45));
    }

    #[test]
    fn thread_cpu_time_counts_this_process() {
        let pid = std::process::id();
        let before = thread_cpu_time(pid).unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while thread_cpu_time(pid).unwrap() == before && start.elapsed() < Duration::from_secs(5) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu_time(pid).unwrap() > before);
    }

    #[test]
    fn memory_lines_are_read_in_kib() {
        let status = "Name:\tuprof\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t1\n";
        let memory = parse_memory(status).unwrap();
        assert_eq!(
            memory,
            Memory {
                rss: 10240 * 1024,
                hwm: 20480 * 1024
            }
        );
    }

    #[test]
    fn a_zombie_has_no_memory() {
        assert_eq!(parse_memory("Name:\tuprof\nState:\tZ (zombie)\n"), None);
    }
}
