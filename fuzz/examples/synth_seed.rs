//! Writes a synthetic recording of the callback tier (ready-list callbacks, wake-ups, socket
//! readiness, `dup2`, a fork, lost records), the record kinds a recording on a host without
//! fentry lacks, as a fuzzing seed:
//! `cargo run -p uprof-fuzz --example synth_seed -- fuzz/seeds/synth-callback`.
use uprof_analysis::synth::Task;
use uprof_common::{EPOLLIN, FdKind, ProbeKind, Record, Tier};
use uprof_record::{ProbeInfo, SessionEnd, SessionHeader, Target, Writer};

fn main() {
    let path = std::env::args().nth(1).expect("usage: synth_seed OUTPUT");
    let (server, waker) = (Task::new(100, 100), Task::new(100, 101));
    let mut records: Vec<Record> = vec![
        server.task_info(1_000, "server"),
        waker.task_info(1_000, "waker"),
        server.epoll_create(2_000, 3),
        server.fd_info(2_100, 3, FdKind::Epoll),
        server.socket(2_200, 4, 77),
        server.fd_info(2_300, 5, FdKind::EventFd),
        server.interest(2_400, 3, 6, 6),
        server.epoll_ctl(2_500, 3, 1, 4, 4, 0),
        server.epoll_ctl(2_600, 3, 1, 5, 5, 0),
        server.epoll_ctl(2_700, 3, 1, 5, 5, -17),
    ];
    for i in 0..20u64 {
        let t = 10_000 + i * 10_000;
        let fd = 4 + (i % 2) as i32;
        records.push(waker.sock_ready(t + 1_000, 77));
        records.push(waker.ready(t + 1_100, server.pid, 3, fd, i as u32));
        records.push(server.wake(t + 1_200, t, 3, waker));
        records.push(server.woken_epoll_wait(t, t + 1_500, 3, 1, 300));
        records.extend(server.events(t + 1_500, &[(EPOLLIN, fd as u64)]));
    }
    records.extend([
        server.poll(300_000, 300_500, 2, 0),
        server.dup2(310_000, 5, 4, 4),
        server.close(320_000, 5, 0),
        server.fork(330_000, 102, "server"),
        Task::new(102, 102).exit(340_000, "server"),
        server.lost(350_000, 2),
        server.epoll_wait(360_000, 370_000, 3, 0),
    ]);

    let header = SessionHeader {
        format_version: uprof_record::FORMAT_VERSION,
        uprof_version: "0.1.0".into(),
        kernel_release: "6.1.0-synthetic".into(),
        hostname: "fuzz".into(),
        probes: [
            ("fentry:ep_poll_callback", ProbeKind::Fentry),
            ("tp_btf:sched_waking", ProbeKind::TpBtf),
        ]
        .map(|(name, kind)| ProbeInfo {
            name: name.into(),
            kind,
            attached: true,
            note: None,
        })
        .into(),
        tier: Tier::Callback,
        wakeups: true,
        clock: "CLOCK_MONOTONIC".into(),
        boot_offset_ns: 1_700_000_000_000_000_000,
        start_ts: 500,
        target: Target {
            command: Some(vec!["server".into()]),
            pids: vec![100],
        },
    };
    let mut writer = Writer::create(&path, &header).expect("output file");
    for (i, record) in records.iter().enumerate() {
        writer.push(record.as_bytes()).expect("valid record");
        if i % 40 == 39 {
            writer.flush().expect("write");
        }
    }
    let end = SessionEnd {
        end_ts: 400_000,
        records: 0, // the writer counts
        lost_events: 2,
        reason: "target exited".into(),
    };
    writer.finish(&end).expect("write");
}
