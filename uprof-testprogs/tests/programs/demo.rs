//! `uprof-demo` runs its event loop and accounts for it consistently.

use std::process::Command;

use uprof_testprogs::report::{FdKind, Syscall};

use crate::{DEMO_BIN, assert_consistent, parse_report};

#[test]
fn demo_reports_its_event_loop() {
    let duration_ms = 300;
    let out = Command::new(DEMO_BIN)
        .args(["--duration-ms", &duration_ms.to_string(), "--json"])
        .output()
        .expect("running uprof-demo");
    assert!(
        out.status.success(),
        "uprof-demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = parse_report(&out.stdout);
    assert_consistent(&report);

    let names: Vec<&str> = report.threads.iter().map(|t| t.comm.as_str()).collect();
    assert_eq!(names, ["uprof-demo", "demo-worker"]);
    let (main, worker) = (&report.threads[0], &report.threads[1]);
    assert!(main.timeouts > 0 && main.ready > 0, "{main:?}");
    // The worker is poked every 10 ticks of 10 ms.
    assert!(
        worker.ready >= duration_ms / 100 && worker.timeouts > 0,
        "{worker:?}"
    );

    let main_fds = &report.epolls[0].fds;
    let kinds: Vec<FdKind> = main_fds.iter().map(|f| f.kind).collect();
    use FdKind::*;
    assert_eq!(kinds, [Listener, Socket, Pipe, EventFd, TimerFd]);
    assert_eq!(
        main_fds[0].delivered, 1,
        "the listener reports its one connection"
    );
    assert!(main_fds.iter().all(|f| f.delivered > 0), "{main_fds:?}");

    let summary = String::from_utf8(out.stderr).unwrap();
    assert_eq!(summary.lines().count(), 1, "{summary}");
    let expected = format!(
        "Thread uprof-demo (tid {}) made {} epoll_wait calls",
        main.tid,
        main.calls_of(Syscall::EpollWait)
    );
    assert!(
        summary.contains(&format!("(pid {})", report.pid)) && summary.contains(&expected),
        "{summary}"
    );
}
