//! Tracing real servers with `uprof record -p` and `perf stat` side by side, and comparing
//! uprof's per-thread wait counts with perf's counts of the same syscall tracepoints.
//!
//! Both tracers attach while every target process is frozen (SIGSTOP) and the targets resume
//! only once both are ready, so both see exactly the same calls: a stopped process makes
//! none, and a call it was inside when it stopped is seen by neither (perf counts entries,
//! uprof calls whose entry it saw).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::{BufReader, ErrorKind, Read as _, Write as _},
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    process::{Child, ChildStderr, Command, ExitStatus, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{WAIT_SYSCALLS, ready::record_pids, report_json};

/// How long any step of a real-server test may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// Kills and reaps a child when the test ends, however it ends.
pub struct Reaped(pub Child);

impl Reaped {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Sends `sig` and waits for the child to exit.
    pub fn end_with(&mut self, sig: i32, what: &str) -> ExitStatus {
        signal(self.pid(), sig);
        wait_exit(&mut self.0, what)
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server's processes, its workers (not our children) included: killed if the test fails,
/// so that no frozen or orphaned server outlives it. In order: list the master first, so that
/// it is gone before it could replace the workers killed after it.
pub struct Strays(pub Vec<u32>);

impl Drop for Strays {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for &pid in &self.0 {
                // SAFETY: kill(2) has no memory effects.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

/// Spawns `cmd`, failing with a message that names the missing program: these tests never
/// skip.
pub fn spawn(cmd: &mut Command, install_hint: &str) -> Reaped {
    Reaped(
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?} ({e}): {install_hint}", cmd.get_program())),
    )
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) has no memory effects; the pids are our children or theirs.
    let ret = unsafe { libc::kill(pid as i32, sig) };
    assert_eq!(
        ret,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

pub fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` to exit.
pub fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    let mut status = None;
    wait_for(&format!("{what} to exit"), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap()
}

/// The processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut children: Vec<u32> = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let child: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // After the parenthesised name (which may hold spaces): state, then ppid.
            let (_, rest) = stat.rsplit_once(") ")?;
            let ppid: u32 = rest.split(' ').nth(1)?.parse().ok()?;
            (ppid == pid).then_some(child)
        })
        .collect();
    children.sort_unstable();
    children
}

/// The state letter of every thread of `pid` (`R`, `S`, `T`, …).
fn thread_states(pid: u32) -> Vec<char> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let stat = fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            stat.rsplit_once(") ")?.1.chars().next()
        })
        .collect()
}

/// When no thread of `pid` runs (each is blocked in a syscall, as
/// `/proc/PID/task/TID/syscall` says): how many are blocked in an epoll wait. `None` while
/// any runs.
pub fn idle_threads_in_epoll(pid: u32) -> Option<usize> {
    let waits = [
        libc::SYS_epoll_wait,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
    ];
    let mut in_epoll = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let syscall = fs::read_to_string(task.ok()?.path().join("syscall")).ok()?;
        // "running", or the number of the syscall the thread is blocked in and its arguments.
        let nr: libc::c_long = syscall.split(' ').next()?.trim().parse().ok()?;
        if waits.contains(&nr) {
            in_epoll += 1;
        }
    }
    Some(in_epoll)
}

/// Stops every process of `pids` and waits until each of their threads is stopped.
pub fn freeze(pids: &[u32]) {
    for &pid in pids {
        signal(pid, libc::SIGSTOP);
    }
    wait_for("the targets to stop", || {
        pids.iter().all(|&pid| {
            let states = thread_states(pid);
            !states.is_empty() && states.iter().all(|&s| s == 'T')
        })
    });
}

pub fn thaw(pids: &[u32]) {
    for &pid in pids {
        signal(pid, libc::SIGCONT);
    }
}

fn pid_list(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Wait calls of one thread by syscall name (`epoll_wait`, …); syscalls it never made are
/// absent or 0.
pub type Counts = BTreeMap<String, u64>;

/// `perf stat --per-thread` counting the wait syscalls' entry tracepoints.
///
/// perf gives exact per-thread counts for the threads that exist when it attaches: `-p`
/// opens one counter per thread of each process and `--per-thread` prints each. A thread
/// created later is *not* listed: perf's counters are inherited, so its calls are added to the
/// count of the thread that created it. The targets here create no waiting thread after
/// attaching; if one did, the comparison would fail on that thread (uprof lists it).
pub struct PerfStat {
    child: Reaped,
    output: PathBuf,
    /// The control fifos, open until perf ends.
    _fifos: [fs::File; 2],
}

impl PerfStat {
    /// Starts perf on the (frozen) `pids` and returns once its counters are counting. perf
    /// starts with its counters disabled (`-D -1`) and enables them when told to on its
    /// control fifo, then acknowledges on the other: the acknowledgement proves the counters
    /// are open and enabled.
    pub fn start(dir: &Path, pids: &[u32]) -> PerfStat {
        let output = dir.join("perf-stat.csv");
        let ctl = dir.join("perf-ctl.fifo");
        let ack = dir.join("perf-ack.fifo");
        for fifo in [&ctl, &ack] {
            let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
        }
        // Opened before perf starts so that neither side's open blocks: a fifo opened for
        // reading and writing, or for reading without blocking, needs no peer.
        let mut ctl_fd = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&ctl)
            .unwrap();
        let mut ack_fd = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&ack)
            .unwrap();
        let events = WAIT_SYSCALLS
            .iter()
            .map(|s| format!("syscalls:sys_enter_{s}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut child = spawn(
            Command::new("perf")
                .args(["stat", "--per-thread", "-x", ",", "-D", "-1", "--control"])
                .arg(format!("fifo:{},{}", ctl.display(), ack.display()))
                .arg("-o")
                .arg(&output)
                .args(["-e", &events, "-p", &pid_list(pids)])
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
            "perf is part of linux-perf, which scripts/setup.sh installs",
        );
        ctl_fd.write_all(b"enable\n").unwrap();
        let mut acked = Vec::new();
        wait_for("perf stat to enable its counters", || {
            let mut buf = [0u8; 64];
            match ack_fd.read(&mut buf) {
                Ok(n) => acked.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("reading perf's acknowledgement: {e}"),
            }
            if let Some(status) = child.0.try_wait().unwrap() {
                let mut err = String::new();
                let _ = child.0.stderr.take().unwrap().read_to_string(&mut err);
                panic!("perf stat exited ({status}) before counting:\n{err}");
            }
            acked.starts_with(b"ack\n")
        });
        PerfStat {
            child,
            output,
            _fifos: [ctl_fd, ack_fd],
        }
    }

    /// Waits for perf to end (it ends when all its targets have exited) and returns its
    /// counts by thread id, and its raw output.
    pub fn finish(mut self) -> (BTreeMap<u32, Counts>, String) {
        let status = wait_exit(&mut self.child.0, "perf stat");
        let mut err = String::new();
        let _ = self.child.0.stderr.take().unwrap().read_to_string(&mut err);
        assert!(status.success(), "perf stat failed ({status}):\n{err}");
        let out = fs::read_to_string(&self.output).unwrap();
        (parse_per_thread(&out), out)
    }
}

/// Parses `perf stat --per-thread -x ,` output: one line per thread and event,
/// `COMM-TID,COUNT,UNIT,EVENT,RUN_TIME,PERCENT,…`. The name may itself hold `-` or `,`, so
/// the line is read from the event field (the one naming a `syscalls:sys_enter_` tracepoint)
/// backwards. A thread that never ran while perf counted has `<not counted>`: no calls.
pub fn parse_per_thread(out: &str) -> BTreeMap<u32, Counts> {
    let mut counts: BTreeMap<u32, Counts> = BTreeMap::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let Some(at) = fields
            .iter()
            .position(|f| f.starts_with("syscalls:sys_enter_"))
        else {
            continue;
        };
        assert!(at >= 3, "unexpected perf stat line: {line:?}");
        let syscall = fields[at].strip_prefix("syscalls:sys_enter_").unwrap();
        let thread = fields[..at - 2].join(",");
        let tid: u32 = thread
            .rsplit_once('-')
            .and_then(|(_, tid)| tid.parse().ok())
            .unwrap_or_else(|| panic!("no thread id in perf stat line {line:?}"));
        let count = match fields[at - 2] {
            "<not counted>" => 0,
            n => n
                .parse()
                .unwrap_or_else(|_| panic!("no count in perf stat line {line:?}")),
        };
        let previous = counts
            .entry(tid)
            .or_default()
            .insert(syscall.to_owned(), count);
        assert!(previous.is_none(), "perf stat printed {line:?} twice");
    }
    assert!(!counts.is_empty(), "perf stat printed no counts:\n{out}");
    counts
}

/// `uprof record -p PIDS -o FILE`.
pub struct Recorder {
    child: Reaped,
    stderr: BufReader<ChildStderr>,
    file: PathBuf,
}

impl Recorder {
    /// Starts uprof on `pids` and returns once it traces them.
    pub fn start(dir: &Path, pids: &[u32]) -> Recorder {
        let file = dir.join("record.uprof");
        let (mut cmd, mut ready) = record_pids(pids, &file);
        cmd.stderr(Stdio::piped());
        let mut child = Reaped(cmd.spawn().unwrap());
        let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
        if !ready.wait() {
            let mut said = String::new();
            let _ = stderr.read_to_string(&mut said);
            panic!("uprof record ended before tracing:\n{said}");
        }
        Recorder {
            child,
            stderr,
            file,
        }
    }

    /// Waits for uprof to end (it ends when all its targets have exited) and returns its
    /// report.
    pub fn finish(mut self) -> Value {
        let status = wait_exit(&mut self.child.0, "uprof record");
        let mut err = String::new();
        let _ = self.stderr.read_to_string(&mut err);
        assert!(status.success(), "uprof record failed ({status}):\n{err}");
        report_json(&self.file)
    }
}

/// uprof and perf attached to the same processes.
pub struct Traced {
    perf: PerfStat,
    recorder: Recorder,
}

/// A thread of uprof's report: its process and its wait calls.
pub struct ThreadWaits {
    pub pid: u32,
    pub tid: u32,
    /// `waits.by_syscall`, every wait syscall present.
    pub by_syscall: Counts,
    /// `waits.unfinished`: calls among those that never returned.
    pub unfinished: u64,
}

impl ThreadWaits {
    pub fn calls(&self) -> u64 {
        self.by_syscall.values().sum()
    }

    fn from_report(report: &Value) -> BTreeMap<u32, ThreadWaits> {
        let mut threads = BTreeMap::new();
        for thread in report["threads"].as_array().unwrap() {
            let waits = &thread["waits"];
            let ours = ThreadWaits {
                pid: thread["pid"].as_u64().unwrap() as u32,
                tid: thread["tid"].as_u64().unwrap() as u32,
                by_syscall: WAIT_SYSCALLS
                    .iter()
                    .map(|&s| (s.to_owned(), waits["by_syscall"][s].as_u64().unwrap_or(0)))
                    .collect(),
                unfinished: waits["unfinished"].as_u64().unwrap(),
            };
            let tid = ours.tid;
            assert!(
                threads.insert(tid, ours).is_none(),
                "thread {tid} is listed twice in uprof's report (a tid reused)"
            );
        }
        threads
    }
}

impl Traced {
    /// Freezes `pids` (all the target's processes), attaches perf and uprof to them, and
    /// resumes them.
    pub fn attach(dir: &Path, pids: &[u32]) -> Traced {
        freeze(pids);
        let perf = PerfStat::start(dir, pids);
        let recorder = Recorder::start(dir, pids);
        thaw(pids);
        Traced { perf, recorder }
    }

    /// The resident set of the `uprof record` process now, in KiB (`VmRSS`).
    pub fn uprof_rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.recorder.child.pid()))
            .expect("uprof record is running");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
            .expect("a VmRSS line in /proc/PID/status")
    }

    /// Once the targets have exited (and been reaped): asserts that uprof's wait calls equal
    /// perf's, thread by thread and syscall by syscall, and returns the threads that waited.
    ///
    /// What is compared: perf counts every entry into a wait syscall. uprof's
    /// `waits.by_syscall` counts every call whose entry it saw, whatever its end: returned
    /// (ready, timeout, error, `EINTR`) or unfinished (`waits.calls` includes `unfinished`,
    /// and so does `by_syscall`). A wait still blocked when its thread died (a target killed
    /// while idle) is reported unfinished by uprof and was counted on entry by perf: the same
    /// call in both. Nothing is in flight when the tracers stop, since they stop only after
    /// all their targets exited.
    ///
    /// A thread is compared when either tracer saw it wait. One listed by a single tracer
    /// fails the test: perf lists every thread that existed when it attached (with 0 when it
    /// made no calls), uprof every thread that waited or called `epoll_ctl`.
    pub fn finish(self) -> Vec<ThreadWaits> {
        self.finish_with_report().0
    }

    /// [`Traced::finish`], and uprof's report.
    pub fn finish_with_report(self) -> (Vec<ThreadWaits>, Value) {
        let report = self.recorder.finish();
        let (perf, perf_out) = self.perf.finish();
        assert_eq!(
            report["lost_events"], 0,
            "uprof lost records: the counts cannot be compared"
        );
        let mut ours = ThreadWaits::from_report(&report);
        let waited = |c: &Counts| c.values().any(|&n| n > 0);
        let tids: BTreeSet<u32> = ours
            .values()
            .filter(|t| waited(&t.by_syscall))
            .map(|t| t.tid)
            .chain(perf.iter().filter(|(_, c)| waited(c)).map(|(&tid, _)| tid))
            .collect();
        let mut differences = Vec::new();
        for &tid in &tids {
            let (Some(mine), Some(theirs)) = (ours.get(&tid), perf.get(&tid)) else {
                differences.push(format!(
                    "thread {tid}: uprof {}, perf stat {}",
                    ours.get(&tid)
                        .map_or("does not list it".into(), |t| show(&t.by_syscall)),
                    perf.get(&tid).map_or(
                        "does not list it (a thread started after perf attached: perf adds \
                         its calls to its creator's)"
                            .into(),
                        show
                    )
                ));
                continue;
            };
            for syscall in WAIT_SYSCALLS {
                let (a, b) = (mine.by_syscall[*syscall], theirs.get(*syscall).copied());
                if Some(a) != b {
                    differences.push(format!(
                        "thread {tid}: {syscall} uprof {a}, perf stat {b:?}"
                    ));
                }
            }
        }
        let tables = format!(
            "uprof (tid: calls):\n{}\n\nperf stat (tid: calls):\n{}",
            ours.values()
                .map(|t| format!(
                    "  {}: {} ({} unfinished)",
                    t.tid,
                    show(&t.by_syscall),
                    t.unfinished
                ))
                .collect::<Vec<_>>()
                .join("\n"),
            perf.iter()
                .map(|(tid, c)| format!("  {tid}: {}", show(c)))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        assert!(
            differences.is_empty(),
            "uprof and perf stat disagree:\n{}\n\n{tables}\n\nperf stat output:\n{perf_out}",
            differences.join("\n"),
        );
        eprintln!("{tables}");
        let threads = tids.iter().filter_map(|tid| ours.remove(tid)).collect();
        (threads, report)
    }
}

/// A healthy server raises no alarm: no finding of `report` is a warn or an error, but those of
/// the kinds `true_of_it` (docs/findings.md shows why they are true of that server).
pub fn assert_no_alarms(report: &Value, what: &str, true_of_it: &[&str]) {
    let alarms: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] != "info")
        .filter(|f| !true_of_it.iter().any(|&kind| f["kind"] == kind))
        .collect();
    assert!(alarms.is_empty(), "{what}: false alarms {alarms:#?}");
}

/// `epoll_wait 12, poll 3`: the nonzero counts.
fn show(counts: &Counts) -> String {
    let shown: Vec<String> = counts
        .iter()
        .filter(|&(_, &n)| n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    if shown.is_empty() {
        "no waits".into()
    } else {
        shown.join(", ")
    }
}
