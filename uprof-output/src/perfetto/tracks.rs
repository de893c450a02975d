//! The trace's tracks: one per traced process, per thread, per epoll instance and per fd number
//! of an instance (every generation of the number shares it), a counter of events per wakeup
//! per thread, and uprof's own (the session, lost records).
//!
//! A track's descriptor is written before its first event, and again when its name changes (a
//! thread renamed, an fd's kind learned). What is kept of a thing ends with it (a thread's exit,
//! an instance's close, a process's exit), so memory follows what is alive.
use rustc_hash::FxHashMap;
use uprof_analysis::stream::{EntryKey, EntryRef, EpollId, EpollRef, ThreadId, ThreadRef};
use uprof_common::FdKind;

use super::encode::PacketWriter;
use super::trace_pb::counter_descriptor::Unit;
use super::trace_pb::track_descriptor::{ChildTracksOrdering, SiblingMergeBehavior};
use super::trace_pb::{CounterDescriptor, ProcessDescriptor, ThreadDescriptor, TrackDescriptor};

/// What a track is: the low four bits of its uuid (the rest is the thing's number, so that
/// uuids of small numbers stay short on the wire).
#[repr(u64)]
enum Kind {
    Session = 1,
    Lost,
    Process,
    Thread,
    WakeupEvents,
    Epoll,
    Fd,
    Unmapped,
}

const fn uuid(kind: Kind, id: u64) -> u64 {
    (id << 4) | kind as u64
}

/// The session's track: what was recorded, and how the recording ended.
pub(super) const SESSION: u64 = uuid(Kind::Session, 0);
const LOST: u64 = uuid(Kind::Lost, 0);

/// A thread and what the timeline keeps of it.
pub(super) struct Thread {
    pub(super) uuid: u64,
    tid: u32,
    /// Known from its own events.
    pid: Option<u32>,
    name: Option<String>,
    written: bool,
    counter_written: bool,
    /// Flows of the events its last wait delivered, which end at its next busy tick.
    pub(super) unhandled: Vec<u64>,
}

/// An fd number of an epoll instance (or the instance's unmapped events).
pub(super) struct FdTrack {
    pub(super) uuid: u64,
    /// The generation of the number seen last.
    generation: u32,
    kind: FdKind,
    /// A registration slice is open (the fd is on the interest list).
    pub(super) registered: bool,
}

struct Epoll {
    at: EpollRef,
    fds: FxHashMap<i32, FdTrack>,
    unmapped: Option<FdTrack>,
}

#[derive(Default)]
struct Process {
    name: Option<String>,
    written: bool,
    /// Its open epoll instances.
    epolls: Vec<EpollId>,
    /// Kinds of its open fds: fd -> (generation, kind).
    kinds: FxHashMap<i32, (u32, FdKind)>,
}

#[derive(Default)]
pub(super) struct Tracks {
    processes: FxHashMap<u32, Process>,
    threads: FxHashMap<ThreadId, Thread>,
    epolls: FxHashMap<EpollId, Epoll>,
    /// Fd tracks are numbered in order of appearance.
    next_fd: u64,
    lost_written: bool,
}

fn named(uuid: u64, parent: u64, name: String) -> TrackDescriptor {
    TrackDescriptor {
        uuid: Some(uuid),
        parent_uuid: Some(parent),
        name: Some(name),
        // Renamed in place, never merged with a sibling of the same name.
        sibling_merge_behavior: Some(SiblingMergeBehavior::None as i32),
        ..TrackDescriptor::default()
    }
}

fn counter(uuid: u64, parent: u64, name: &str) -> TrackDescriptor {
    TrackDescriptor {
        counter: Some(CounterDescriptor {
            unit: Some(Unit::Count as i32),
        }),
        ..named(uuid, parent, name.to_owned())
    }
}

impl Tracks {
    /// Writes the session track, named `name`.
    pub(super) fn session(&mut self, w: &mut PacketWriter, ts: u64, name: String) {
        w.descriptor(
            ts,
            TrackDescriptor {
                parent_uuid: None,
                ..named(SESSION, 0, name)
            },
        );
    }

    /// The counter of lost records.
    pub(super) fn lost(&mut self, w: &mut PacketWriter, ts: u64) -> u64 {
        if !std::mem::replace(&mut self.lost_written, true) {
            w.descriptor(ts, counter(LOST, SESSION, "lost records"));
        }
        LOST
    }

    fn process(&mut self, w: &mut PacketWriter, pid: u32, ts: u64) -> u64 {
        let uuid = uuid(Kind::Process, u64::from(pid));
        let process = self.processes.entry(pid).or_default();
        if !process.written {
            process.written = true;
            write_process(w, ts, pid, process);
        }
        uuid
    }

    /// A thread's name, from its creation or a rename. The main thread names its process.
    pub(super) fn name_thread(&mut self, w: &mut PacketWriter, ts: u64, t: ThreadRef, name: &str) {
        let thread = self
            .threads
            .entry(t.id)
            .or_insert_with(|| new_thread(t.id, t.tid));
        thread.pid = Some(t.pid);
        if thread.name.as_deref() != Some(name) {
            thread.name = Some(name.to_owned());
            if thread.written {
                write_thread(w, ts, thread);
            }
        }
        if t.tid == t.pid {
            self.name_process(w, ts, t.pid, name);
        }
    }

    /// A thread's name at its creation, before its process is known.
    pub(super) fn name_child(&mut self, id: ThreadId, tid: u32, name: &str) {
        let thread = self
            .threads
            .entry(id)
            .or_insert_with(|| new_thread(id, tid));
        thread.name.get_or_insert_with(|| name.to_owned());
    }

    fn name_process(&mut self, w: &mut PacketWriter, ts: u64, pid: u32, name: &str) {
        let process = self.processes.entry(pid).or_default();
        if process.name.as_deref() != Some(name) {
            process.name = Some(name.to_owned());
            if process.written {
                write_process(w, ts, pid, process);
            }
        }
    }

    /// The track of one of a thread's own events.
    pub(super) fn thread(&mut self, w: &mut PacketWriter, t: ThreadRef, ts: u64) -> &mut Thread {
        let thread = self
            .threads
            .entry(t.id)
            .or_insert_with(|| new_thread(t.id, t.tid));
        thread.pid = Some(t.pid);
        if !thread.written {
            let name = thread.name.clone();
            if t.tid == t.pid
                && let Some(name) = &name
            {
                self.name_process(w, ts, t.pid, name);
            }
            self.process(w, t.pid, ts);
            let thread = self.threads.get_mut(&t.id).expect("inserted above");
            thread.written = true;
            write_thread(w, ts, thread);
        }
        self.threads.get_mut(&t.id).expect("inserted above")
    }

    /// The counter of the events each of a thread's wakeups returned.
    pub(super) fn wakeup_events(&mut self, w: &mut PacketWriter, t: ThreadRef, ts: u64) -> u64 {
        let thread = self.thread(w, t, ts);
        let uuid = uuid(Kind::WakeupEvents, u64::from(t.id.0));
        if !std::mem::replace(&mut thread.counter_written, true) {
            let parent = thread.uuid;
            w.descriptor(ts, counter(uuid, parent, "events per wakeup"));
        }
        uuid
    }

    /// The thread exited: what is kept of it goes. Returns its track if it has one.
    pub(super) fn thread_exited(&mut self, id: ThreadId) -> Option<u64> {
        self.threads
            .remove(&id)
            .filter(|t| t.written)
            .map(|t| t.uuid)
    }

    /// The track of an epoll instance.
    pub(super) fn epoll(&mut self, w: &mut PacketWriter, at: EpollRef, ts: u64) -> u64 {
        let uuid = uuid(Kind::Epoll, u64::from(at.id.0));
        if self.epolls.contains_key(&at.id) {
            return uuid;
        }
        let parent = self.process(w, at.pid, ts);
        self.processes.entry(at.pid).or_default().epolls.push(at.id);
        self.epolls.insert(
            at.id,
            Epoll {
                at,
                fds: FxHashMap::default(),
                unmapped: None,
            },
        );
        w.descriptor(
            ts,
            TrackDescriptor {
                child_ordering: Some(ChildTracksOrdering::Explicit as i32),
                ..named(uuid, parent, format!("epoll fd {}", at.epfd))
            },
        );
        uuid
    }

    /// The track of an fd entry of a known instance (created by [`Tracks::epoll`]).
    pub(super) fn fd(
        &mut self,
        w: &mut PacketWriter,
        entry: EntryRef,
        ts: u64,
    ) -> Option<&mut FdTrack> {
        let epoll = self.epolls.get_mut(&entry.epoll)?;
        let parent = uuid(Kind::Epoll, u64::from(entry.epoll.0));
        let (fd, generation) = match entry.key {
            EntryKey::Fd { fd, generation } => (fd, generation),
            EntryKey::Unmapped { .. } => {
                let track = epoll.unmapped.get_or_insert_with(|| {
                    let uuid = uuid(Kind::Unmapped, u64::from(entry.epoll.0));
                    w.descriptor(
                        ts,
                        TrackDescriptor {
                            sibling_order_rank: Some(i32::MAX),
                            ..named(uuid, parent, "unmapped events".to_owned())
                        },
                    );
                    FdTrack {
                        uuid,
                        generation: 0,
                        kind: FdKind::Unknown,
                        registered: false,
                    }
                });
                return Some(track);
            }
        };
        let kind = self
            .processes
            .get(&epoll.at.pid)
            .and_then(|p| p.kinds.get(&fd))
            .filter(|(g, _)| *g == generation)
            .map_or(FdKind::Unknown, |&(_, kind)| kind);
        let track = match epoll.fds.entry(fd) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let track = e.into_mut();
                if track.generation != generation {
                    track.generation = generation;
                    if track.kind != kind {
                        track.kind = kind;
                        write_fd(w, ts, parent, fd, track);
                    }
                }
                track
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                self.next_fd += 1;
                let track = e.insert(FdTrack {
                    uuid: uuid(Kind::Fd, self.next_fd),
                    generation,
                    kind,
                    registered: false,
                });
                write_fd(w, ts, parent, fd, track);
                track
            }
        };
        Some(track)
    }

    /// Generation `generation` of `fd` of `pid` is a `kind`: its tracks say so.
    pub(super) fn learn_kind(
        &mut self,
        w: &mut PacketWriter,
        ts: u64,
        pid: u32,
        fd: i32,
        generation: u32,
        kind: FdKind,
    ) {
        let process = self.processes.entry(pid).or_default();
        process.kinds.insert(fd, (generation, kind));
        for id in &process.epolls {
            let parent = uuid(Kind::Epoll, u64::from(id.0));
            if let Some(track) = self.epolls.get_mut(id).and_then(|e| e.fds.get_mut(&fd))
                && track.generation == generation
                && track.kind != kind
            {
                track.kind = kind;
                write_fd(w, ts, parent, fd, track);
            }
        }
    }

    /// Generation `generation` of `fd` of `pid` ended: the tracks where it was registered
    /// (no longer) go to `registrations`. If the fd was an epoll instance, the instance ends
    /// too, with every registration on it (to `with_instance`); returns its track.
    pub(super) fn fd_ended(
        &mut self,
        pid: u32,
        fd: i32,
        generation: u32,
        registrations: &mut Vec<u64>,
        with_instance: &mut Vec<u64>,
    ) -> Option<u64> {
        let process = self.processes.get_mut(&pid)?;
        if process
            .kinds
            .get(&fd)
            .is_some_and(|(g, _)| *g == generation)
        {
            process.kinds.remove(&fd);
        }
        let mut closed = None;
        let epolls = &mut self.epolls;
        process.epolls.retain(|id| {
            let Some(epoll) = epolls.get_mut(id) else {
                return false;
            };
            if (epoll.at.epfd, epoll.at.generation) == (fd, generation) {
                let epoll = epolls.remove(id).expect("just looked up");
                with_instance.extend(registered(&epoll));
                closed = Some(uuid(Kind::Epoll, u64::from(id.0)));
                return false;
            }
            if let Some(track) = epoll.fds.get_mut(&fd)
                && track.generation == generation
                && std::mem::take(&mut track.registered)
            {
                registrations.push(track.uuid);
            }
            true
        });
        closed
    }

    /// The process exited: its instances end, with every registration on them (pushed to
    /// `ended`).
    pub(super) fn process_exited(&mut self, pid: u32, ended: &mut Vec<u64>) {
        let Some(process) = self.processes.remove(&pid) else {
            return;
        };
        for id in process.epolls {
            if let Some(epoll) = self.epolls.remove(&id) {
                ended.extend(registered(&epoll));
            }
        }
    }

    /// Every fd track with an open registration, now closed.
    pub(super) fn close_registrations(&mut self, ended: &mut Vec<u64>) {
        for epoll in self.epolls.values_mut() {
            for track in epoll.fds.values_mut() {
                if std::mem::take(&mut track.registered) {
                    ended.push(track.uuid);
                }
            }
        }
    }
}

fn registered(epoll: &Epoll) -> impl Iterator<Item = u64> + '_ {
    epoll.fds.values().filter(|t| t.registered).map(|t| t.uuid)
}

fn new_thread(id: ThreadId, tid: u32) -> Thread {
    Thread {
        uuid: uuid(Kind::Thread, u64::from(id.0)),
        tid,
        pid: None,
        name: None,
        written: false,
        counter_written: false,
        unhandled: Vec::new(),
    }
}

fn write_process(w: &mut PacketWriter, ts: u64, pid: u32, process: &Process) {
    w.descriptor(
        ts,
        TrackDescriptor {
            uuid: Some(uuid(Kind::Process, u64::from(pid))),
            process: Some(ProcessDescriptor {
                pid: Some(pid as i32),
                process_name: process.name.clone(),
            }),
            ..TrackDescriptor::default()
        },
    );
}

fn write_thread(w: &mut PacketWriter, ts: u64, thread: &Thread) {
    w.descriptor(
        ts,
        TrackDescriptor {
            uuid: Some(thread.uuid),
            thread: Some(ThreadDescriptor {
                pid: thread.pid.map(|p| p as i32),
                tid: Some(i64::from(thread.tid)),
                thread_name: thread.name.clone(),
            }),
            ..TrackDescriptor::default()
        },
    );
}

fn write_fd(w: &mut PacketWriter, ts: u64, parent: u64, fd: i32, track: &FdTrack) {
    let name = match track.kind {
        FdKind::Unknown => format!("fd {fd}"),
        kind => format!("fd {fd} ({})", kind.name()),
    };
    w.descriptor(
        ts,
        TrackDescriptor {
            sibling_order_rank: Some(fd),
            ..named(track.uuid, parent, name)
        },
    );
}
