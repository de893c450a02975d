//! Helpers shared by the integration tests: a session header, records of every kind, and
//! files written from them.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;

use uprof_common::{
    Close, Dup, EpollCreate, EpollCtl, FdInfo, Fork, Header, Interest, Kind, Lost, ProbeKind,
    Ready, Record, RecordBody, SockReady, Socket, TaskComm, Tier, Wait, WaitEvents, Wake,
};
use uprof_record::{ProbeInfo, Reader, SessionEnd, SessionHeader, Target, Writer};

pub fn session_header() -> SessionHeader {
    SessionHeader {
        format_version: uprof_record::FORMAT_VERSION,
        uprof_version: "0.1.0".into(),
        kernel_release: "6.8.0-test".into(),
        hostname: "testhost".into(),
        probes: vec![
            ProbeInfo {
                name: "sys_exit_epoll_wait".into(),
                kind: ProbeKind::Tracepoint,
                attached: true,
                note: None,
            },
            ProbeInfo {
                name: "ep_poll_callback".into(),
                kind: ProbeKind::Fentry,
                attached: false,
                note: Some("BTF missing".into()),
            },
        ],
        tier: Tier::Callback,
        wakeups: false,
        clock: "CLOCK_MONOTONIC".into(),
        boot_offset_ns: 1_700_000_000_000_000_000,
        start_ts: 5_000,
        target: Target {
            command: Some(vec!["sleep".into(), "1".into()]),
            pids: vec![100, 101],
        },
    }
}

pub fn session_end(records: u64) -> SessionEnd {
    SessionEnd {
        end_ts: 9_000,
        records,
        lost_events: 3,
        reason: "target exited".into(),
    }
}

/// The bytes of one record.
pub fn bytes_of(record: &Record) -> Vec<u8> {
    match record {
        Record::EpollCreate(r) => r.as_bytes(),
        Record::EpollCtl(r) => r.as_bytes(),
        Record::Wait(r) => r.as_bytes(),
        Record::WaitEvents(r) => r.as_bytes(),
        Record::Close(r) => r.as_bytes(),
        Record::Dup(r) => r.as_bytes(),
        Record::Fork(r) => r.as_bytes(),
        Record::Exec(r) | Record::Exit(r) | Record::Rename(r) | Record::TaskInfo(r) => r.as_bytes(),
        Record::FdInfo(r) => r.as_bytes(),
        Record::Interest(r) => r.as_bytes(),
        Record::Lost(r) => r.as_bytes(),
        Record::Ready(r) => r.as_bytes(),
        Record::SockReady(r) => r.as_bytes(),
        Record::Socket(r) => r.as_bytes(),
        Record::Wake(r) => r.as_bytes(),
    }
    .to_vec()
}

/// One record of every kind, fields derived from `seed` so that records differ.
pub fn one_of_each_kind(seed: u32) -> Vec<Vec<u8>> {
    let s = seed as i32;
    let h = |kind_of: fn(u64, u32, u32) -> Header| kind_of(u64::from(seed) * 1000, 100, 100 + seed);
    let comm = |kind: Kind| {
        let mut r = TaskComm {
            header: h(Header::user::<TaskComm>),
            comm: [b'a' + (seed % 26) as u8; 16],
        };
        r.header.kind = kind as u16;
        r.comm[15] = 0;
        r.as_bytes().to_vec()
    };
    let mut raw = [0u8; 192];
    raw.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = (i as u32 + seed) as u8);
    vec![
        EpollCreate {
            header: h(Header::user::<EpollCreate>),
            flags: 0x80000,
            ret: s + 3,
        }
        .as_bytes()
        .to_vec(),
        EpollCtl {
            header: h(Header::user::<EpollCtl>),
            enter_ts: 7,
            epfd: 3,
            op: 1,
            fd: s,
            events: 1,
            data: 9,
            ret: 0,
            _pad: 0,
        }
        .as_bytes()
        .to_vec(),
        Wait {
            header: h(Header::user::<Wait>),
            enter_ts: 1,
            timeout_ns: -1,
            ret: 2,
            epfd: 3,
            nfds: 64,
            syscall: 1,
            flags: 0,
            captured: 2,
            run_delay_ns: 0,
        }
        .as_bytes()
        .to_vec(),
        WaitEvents {
            header: h(Header::user::<WaitEvents>),
            chunk: 0,
            count: 2,
            _pad: 0,
            raw,
        }
        .as_bytes()
        .to_vec(),
        Close {
            header: h(Header::user::<Close>),
            fd: s,
            ret: 0,
        }
        .as_bytes()
        .to_vec(),
        Dup {
            header: h(Header::user::<Dup>),
            oldfd: s,
            newfd: s + 1,
            flags: 0,
            ret: s + 1,
        }
        .as_bytes()
        .to_vec(),
        Fork {
            header: h(Header::user::<Fork>),
            child_tid: seed + 1,
            _pad: 0,
            comm: *b"worker\0\0\0\0\0\0\0\0\0\0",
        }
        .as_bytes()
        .to_vec(),
        comm(Kind::Exec),
        comm(Kind::Exit),
        comm(Kind::Rename),
        comm(Kind::TaskInfo),
        FdInfo {
            header: h(Header::user::<FdInfo>),
            fd: s,
            kind: 1,
        }
        .as_bytes()
        .to_vec(),
        Interest {
            header: h(Header::user::<Interest>),
            epfd: 3,
            fd: s,
            events: 5,
            _pad: 0,
            data: 11,
        }
        .as_bytes()
        .to_vec(),
        Lost {
            header: h(Header::user::<Lost>),
            total: u64::from(seed),
        }
        .as_bytes()
        .to_vec(),
        Ready {
            header: h(Header::user::<Ready>),
            epfd: 3,
            fd: s,
            mask: 1,
            origin: seed,
            data: 9,
        }
        .as_bytes()
        .to_vec(),
        SockReady {
            header: h(Header::user::<SockReady>),
            ino: u64::from(seed) + 5000,
        }
        .as_bytes()
        .to_vec(),
        Socket {
            header: h(Header::user::<Socket>),
            fd: s,
            _pad: 0,
            ino: u64::from(seed) + 5000,
        }
        .as_bytes()
        .to_vec(),
        Wake {
            header: h(Header::user::<Wake>),
            enter_ts: 1,
            waker_pid: 7,
            waker_tid: 8 + seed,
            epfd: 3,
            syscall: 1,
            _pad: [0; 3],
        }
        .as_bytes()
        .to_vec(),
    ]
}

/// Writes `chunks` (each a list of records) as one `EVTS` chunk each; finishes the file if
/// `finish`. Returns the records written, in order.
pub fn write_chunks(path: &Path, chunks: &[Vec<Vec<u8>>], finish: bool) -> Vec<Vec<u8>> {
    let mut writer = Writer::create(path, &session_header()).unwrap();
    for chunk in chunks {
        for record in chunk {
            writer.push(record).unwrap();
        }
        writer.flush().unwrap();
    }
    if finish {
        let records = writer.records_written();
        writer.finish(&session_end(records)).unwrap();
    }
    chunks.concat()
}

/// Opens `path` and returns the bytes of every record read, and the summary.
pub fn read_all(path: &Path) -> (Vec<Vec<u8>>, uprof_record::ReadSummary) {
    let mut reader = Reader::open(path).unwrap();
    let mut records = Vec::new();
    let summary = reader
        .for_each_record(|r| records.push(bytes_of(r)))
        .unwrap();
    (records, summary)
}
