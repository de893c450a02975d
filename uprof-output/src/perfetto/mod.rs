//! The Perfetto trace (`--format perfetto`): the reconstructed loop over time, for
//! ui.perfetto.dev. What each track, slice, flow and counter means is in docs/outputs.md.
//!
//! Events become packets as they arrive ([`encode`]); what is kept between events is per live
//! thread, epoll instance and fd ([`tracks`]), never the events. Slices are written whole when
//! their end is known (a wait when it returns, its busy tick when the next wait begins), so
//! packets are not in time order: Perfetto sorts them when it loads the trace.
mod encode;
mod names;
// Generated code: `Trace`, the whole file as one message, is only read back by tests.
#[allow(dead_code, clippy::all)]
mod trace_pb;
mod tracks;

use std::io::{self, Write};

use uprof_analysis::SessionInfo;
use uprof_analysis::findings::{Findings, Thresholds};
use uprof_analysis::stream::{
    Consumer, Ctl, CtlOp, Delivery, End, EntryId, EntryKey, EntryRef, Event, FdEnd, FdEnded, Herd,
    Outcome, Ready, ReadySource, ThreadChange, ThreadEvent, Timeout, Wait, Wake,
};

use crate::{Printer, Source};
use encode::{EventBody, PacketWriter, Value};
use names::{Arg, MaskValue, Masks, Name, Text};
use trace_pb::track_event::Type;
use tracks::Tracks;

pub(crate) struct PerfettoPrinter<'w> {
    w: PacketWriter<'w>,
    tracks: Tracks,
    masks: Masks,
    source: Source,
    end: End,
    /// Tracks whose registration slices end now (scratch).
    ended: Vec<u64>,
    /// The findings, marked on the session track at the end.
    findings: Findings,
}

impl<'w> PerfettoPrinter<'w> {
    pub(crate) fn new(source: &Source, findings: &Thresholds, out: Box<dyn Write + 'w>) -> Self {
        let realtime = source.start_ts.saturating_add_signed(source.boot_offset_ns);
        let mut w = PacketWriter::new(out, source.start_ts, realtime);
        let mut tracks = Tracks::default();
        tracks.session(&mut w, source.start_ts, session_name(source, None));
        Self {
            w,
            tracks,
            masks: Masks::default(),
            source: source.clone(),
            end: End {
                ts: source.start_ts,
                ..End::default()
            },
            ended: Vec::new(),
            findings: Findings::new(findings.clone()),
        }
    }

    /// An instant on the session track for each finding, at each time range of its evidence
    /// (or its first occurrence): `finding` with its kind, severity and sentence.
    fn mark_findings(&mut self, session: &SessionInfo) {
        let findings = std::mem::take(&mut self.findings).finish(session);
        for f in &findings.findings {
            for ts in f.when.marks() {
                self.w.event(ts, Type::Instant, tracks::SESSION, |e| {
                    e.name(Name::Finding.iid());
                    e.arg(Arg::Kind, Value::Str(f.kind.name()));
                    e.arg(Arg::Severity, Value::Str(f.severity.name()));
                    e.arg(Arg::Summary, Value::Str(&f.summary));
                });
            }
        }
    }

    fn wait(&mut self, wait: &Wait) {
        let w = &mut self.w;
        let thread = self.tracks.thread(w, wait.thread, wait.exit_ts);
        let track = thread.uuid;
        if let Some(busy) = wait.busy_before_ns {
            let start = wait.enter_ts.saturating_sub(busy);
            w.event(start, Type::SliceBegin, track, |e| {
                e.name(Name::Busy.iid());
                for id in thread.unhandled.drain(..) {
                    e.end_flow(id);
                }
            });
            w.event(wait.enter_ts, Type::SliceEnd, track, |_| {});
        }
        thread.unhandled.clear();
        w.event(wait.enter_ts, Type::SliceBegin, track, |e| {
            e.name(names::wait_name(wait.syscall));
            wait_args(e, wait);
        });
        let counter = match wait.outcome {
            Outcome::Ready { count } => Some((
                self.tracks.wakeup_events(w, wait.thread, wait.exit_ts),
                count,
            )),
            _ => None,
        };
        w.event(wait.exit_ts, Type::SliceEnd, track, |e| {
            if let Some((uuid, count)) = counter {
                e.extra_counter(uuid, count as i64);
            }
        });
        if let Some(at) = wait.epoll {
            self.tracks.epoll(w, at, wait.exit_ts);
        }
        for d in wait.delivered {
            self.delivery(wait, d);
        }
    }

    /// One event a wait returned, on its fd's track: the time it waited since it became
    /// ready, or the moment it was delivered when that is not known.
    fn delivery(&mut self, wait: &Wait, d: &Delivery) {
        let Some(fd) = self.tracks.fd(&mut self.w, d.entry, wait.exit_ts) else {
            return;
        };
        let fd = fd.uuid;
        let tid = u64::from(wait.thread.tid);
        let masks = &mut self.masks;
        match d.ready_ts {
            Some(ready_ts) => {
                self.w.event(ready_ts, Type::SliceBegin, fd, |e| {
                    e.name(Name::ReadyToDelivered.iid());
                    e.arg(Arg::Tid, Value::Uint(tid));
                    mask(e, masks, d.mask);
                });
                self.w.event(wait.exit_ts, Type::SliceEnd, fd, |_| {});
                let thread = self.tracks.thread(&mut self.w, wait.thread, wait.exit_ts);
                thread.unhandled.push(flow_id(d.entry.id, ready_ts));
            }
            None => self.w.event(wait.exit_ts, Type::Instant, fd, |e| {
                e.name(Name::Delivered.iid());
                e.arg(Arg::Tid, Value::Uint(tid));
                mask(e, masks, d.mask);
            }),
        }
    }

    fn ready(&mut self, r: &Ready) {
        self.tracks.epoll(&mut self.w, r.epoll, r.ts);
        let Some(fd) = self.tracks.fd(&mut self.w, r.entry, r.ts) else {
            return;
        };
        let fd = fd.uuid;
        self.w.event(r.ts, Type::Instant, fd, |e| {
            e.name(Name::Ready.iid());
            e.flow(flow_id(r.entry.id, r.ts));
            let source = match r.source {
                ReadySource::Callback => Text::Callback,
                ReadySource::Socket => Text::Socket,
            };
            e.arg(Arg::Source, Value::Text(source));
            e.arg(Arg::WakerTid, Value::Uint(u64::from(r.waker_tid)));
            e.arg(Arg::Coalesced, Value::Bool(r.coalesced));
        });
    }

    fn wake(&mut self, wake: &Wake) {
        let track = self.tracks.thread(&mut self.w, wake.thread, wake.ts).uuid;
        self.w.event(wake.ts, Type::Instant, track, |e| {
            e.name(Name::Woken.iid());
            if let Some(cause) = wake.cause {
                e.flow(flow_id(cause.entry.id, cause.ready_ts));
            }
            e.arg(Arg::WakerPid, Value::Uint(u64::from(wake.waker_pid)));
            e.arg(Arg::WakerTid, Value::Uint(u64::from(wake.waker_tid)));
        });
    }

    /// A herd, on the track of each fd whose readiness woke several waiters.
    fn herd(&mut self, h: &Herd) {
        let mut seen: Vec<EntryRef> = Vec::new();
        for &entry in &h.entries {
            if seen.contains(&entry) {
                continue;
            }
            seen.push(entry);
            let Some(fd) = self.tracks.fd(&mut self.w, entry, h.ts) else {
                continue;
            };
            let fd = fd.uuid;
            self.w.event(h.ts, Type::Instant, fd, |e| {
                e.name(Name::Herd.iid());
                e.arg_array(Arg::Woken, h.woken.iter().map(|t| u64::from(t.tid)));
            });
        }
    }

    fn ctl(&mut self, c: &Ctl) {
        let track = self.tracks.thread(&mut self.w, c.thread, c.ts).uuid;
        let op = match c.op {
            CtlOp::Add => Text::Add,
            CtlOp::Mod => Text::Mod,
            CtlOp::Del => Text::Del,
            CtlOp::Other(_) => Text::UnknownOp,
        };
        let masks = &mut self.masks;
        let fd = match c.entry.key {
            EntryKey::Fd { fd, .. } => fd,
            EntryKey::Unmapped { .. } => -1,
        };
        self.w.event(c.enter_ts, Type::SliceBegin, track, |e| {
            e.name(Name::EpollCtl.iid());
            e.arg(Arg::Op, Value::Text(op));
            e.arg(Arg::Epfd, Value::Int(i64::from(c.epoll.epfd)));
            e.arg(Arg::Fd, Value::Int(i64::from(fd)));
            if matches!(c.op, CtlOp::Add | CtlOp::Mod) {
                mask(e, masks, c.events);
                e.arg(Arg::Data, Value::Uint(c.data));
            }
            if let Err(errno) = c.result {
                e.arg(Arg::Errno, Value::Int(i64::from(errno)));
            }
        });
        self.w.event(c.ts, Type::SliceEnd, track, |_| {});

        self.tracks.epoll(&mut self.w, c.epoll, c.ts);
        let Some(fd) = self.tracks.fd(&mut self.w, c.entry, c.ts) else {
            return;
        };
        let masks = &mut self.masks;
        match (c.op, c.result) {
            (CtlOp::Add, Ok(())) => {
                let uuid = fd.uuid;
                // The kernel had no registration: one still open ended unseen.
                if std::mem::replace(&mut fd.registered, true) {
                    self.w.event(c.ts, Type::SliceEnd, uuid, |_| {});
                }
                register(
                    &mut self.w,
                    masks,
                    uuid,
                    c.ts,
                    c.entry,
                    c.events,
                    c.data,
                    Text::EpollCtl,
                );
            }
            (CtlOp::Del, Ok(())) => {
                if std::mem::take(&mut fd.registered) {
                    self.w.event(c.ts, Type::SliceEnd, fd.uuid, |_| {});
                }
            }
            (CtlOp::Mod, Ok(())) => {
                self.w.event(c.ts, Type::Instant, fd.uuid, |e| {
                    e.name(Name::CtlMod.iid());
                    mask(e, masks, c.events);
                    e.arg(Arg::Data, Value::Uint(c.data));
                });
            }
            (_, Err(errno)) => {
                self.w.event(c.ts, Type::Instant, fd.uuid, |e| {
                    e.name(Name::CtlFailed.iid());
                    e.arg(Arg::Op, Value::Text(op));
                    e.arg(Arg::Errno, Value::Int(i64::from(errno)));
                });
            }
            (CtlOp::Other(_), Ok(())) => {}
        }
    }

    fn fd_ended(&mut self, f: &FdEnded) {
        let mut registrations = Vec::new();
        let closed = self.tracks.fd_ended(
            f.pid,
            f.fd,
            f.generation,
            &mut registrations,
            &mut self.ended,
        );
        let how = match f.how {
            FdEnd::Closed => Name::Closed,
            FdEnd::Replaced => Name::Replaced,
            FdEnd::ReusedByEpoll => Name::ReusedByEpoll,
        };
        for uuid in registrations {
            self.w.event(f.ts, Type::SliceEnd, uuid, |_| {});
            self.w
                .event(f.ts, Type::Instant, uuid, |e| e.name(how.iid()));
        }
        self.end_registrations(f.ts);
        if let Some(epoll) = closed {
            self.w
                .event(f.ts, Type::Instant, epoll, |e| e.name(how.iid()));
        }
    }

    fn thread_event(&mut self, t: &ThreadEvent) {
        match t.what {
            ThreadChange::Forked {
                child,
                child_tid,
                comm,
                ..
            } => self.tracks.name_child(child, child_tid, comm),
            ThreadChange::Named { thread, comm, .. } => {
                self.tracks.name_thread(&mut self.w, t.ts, thread, comm);
            }
            ThreadChange::Exited { thread, comm } => {
                self.tracks.name_thread(&mut self.w, t.ts, thread, comm);
                if let Some(track) = self.tracks.thread_exited(thread.id) {
                    self.w
                        .event(t.ts, Type::Instant, track, |e| e.name(Name::Exit.iid()));
                }
                if thread.tid == thread.pid {
                    self.tracks.process_exited(thread.pid, &mut self.ended);
                    self.end_registrations(t.ts);
                }
            }
        }
    }

    /// Ends the registration slices of the tracks in `self.ended`.
    fn end_registrations(&mut self, ts: u64) {
        for uuid in std::mem::take(&mut self.ended) {
            self.w.event(ts, Type::SliceEnd, uuid, |_| {});
        }
    }

    /// Says what was recorded, and how the recording ended, on the session track.
    fn describe_session(&mut self, session: &SessionInfo) {
        let source = &self.source;
        self.w
            .event(source.start_ts, Type::Instant, tracks::SESSION, |e| {
                e.name(Name::Recording.iid());
                e.arg(Arg::Tier, Value::Str(&session.tier));
                e.arg(Arg::Kernel, Value::Str(&source.kernel_release));
                if let Some(command) = &session.command {
                    e.arg(Arg::Command, Value::Str(&command.join(" ")));
                }
                e.arg_array(Arg::Pids, session.pids.iter().map(|&pid| u64::from(pid)));
                e.arg(Arg::DurationNs, Value::Uint(session.duration_ns));
            });
        let end = self.end;
        self.w.event(end.ts, Type::Instant, tracks::SESSION, |e| {
            e.name(Name::EndOfRecording.iid());
            e.arg(Arg::LostRecords, Value::Uint(session.lost_events));
            e.arg(Arg::LateRecords, Value::Uint(end.late_records));
            e.arg(
                Arg::UnattributedEvents,
                Value::Uint(end.unattributed_events),
            );
            e.arg(Arg::MalformedRecords, Value::Uint(end.malformed_records));
        });
        if let Some(incomplete) = &session.incomplete {
            let why = &incomplete.why;
            self.w.event(end.ts, Type::Instant, tracks::SESSION, |e| {
                e.name(Name::Incomplete.iid());
                e.arg(Arg::Why, Value::Str(why));
            });
            let name = session_name(&self.source, Some(why));
            self.tracks.session(&mut self.w, end.ts, name);
        }
    }
}

impl Consumer for PerfettoPrinter<'_> {
    fn event(&mut self, event: &Event<'_>) {
        self.findings.event(event);
        match event {
            Event::Wait(w) => self.wait(w),
            Event::Ready(r) => self.ready(r),
            Event::Undelivered(u) => {
                if let Some(fd) = self.tracks.fd(&mut self.w, u.entry, u.ts) {
                    let fd = fd.uuid;
                    self.w.event(u.ready_ts, Type::SliceBegin, fd, |e| {
                        e.name(Name::NeverDelivered.iid());
                    });
                    self.w.event(u.ts, Type::SliceEnd, fd, |_| {});
                }
            }
            Event::Wake(w) => self.wake(w),
            Event::Herd(h) => self.herd(h),
            Event::Ctl(c) => self.ctl(c),
            Event::EpollCreated(c) => {
                let epoll = self.tracks.epoll(&mut self.w, c.epoll, c.ts);
                let tid = u64::from(c.thread.tid);
                self.w.event(c.ts, Type::Instant, epoll, |e| {
                    e.name(Name::EpollCreate.iid());
                    e.arg(Arg::Tid, Value::Uint(tid));
                });
            }
            Event::InterestSnapshot(s) => {
                self.tracks.epoll(&mut self.w, s.epoll, s.ts);
                if let Some(fd) = self.tracks.fd(&mut self.w, s.entry, s.ts)
                    && !std::mem::replace(&mut fd.registered, true)
                {
                    let uuid = fd.uuid;
                    register(
                        &mut self.w,
                        &mut self.masks,
                        uuid,
                        s.ts,
                        s.entry,
                        s.events,
                        s.data,
                        Text::Snapshot,
                    );
                }
            }
            Event::FdKind(k) => {
                self.tracks
                    .learn_kind(&mut self.w, k.ts, k.pid, k.fd, k.generation, k.kind);
            }
            Event::FdEnded(f) => self.fd_ended(f),
            Event::Thread(t) => self.thread_event(t),
            Event::Lost(l) => {
                let track = self.tracks.lost(&mut self.w, l.ts);
                self.w.event(l.ts, Type::Counter, track, |e| {
                    e.counter(l.total as i64);
                });
            }
            Event::End(end) => {
                self.end = **end;
                self.tracks.close_registrations(&mut self.ended);
                self.end_registrations(end.ts);
            }
        }
    }
}

impl Printer for PerfettoPrinter<'_> {
    fn finish(mut self: Box<Self>, session: &SessionInfo) -> io::Result<()> {
        self.mark_findings(session);
        self.describe_session(session);
        self.w.finish()
    }
}

/// The session track's name: the tier and kernel, and whether the recording is incomplete.
fn session_name(source: &Source, incomplete: Option<&str>) -> String {
    let mut name = format!(
        "uprof: {} tier, kernel {}",
        source.tier, source.kernel_release
    );
    if incomplete.is_some() {
        name.push_str(" (recording incomplete)");
    }
    name
}

/// Begins the slice of a registration on `track`.
#[allow(clippy::too_many_arguments)]
fn register(
    w: &mut PacketWriter,
    masks: &mut Masks,
    track: u64,
    ts: u64,
    entry: EntryRef,
    events: u32,
    data: u64,
    since: Text,
) {
    w.event(ts, Type::SliceBegin, track, |e| {
        e.name(Name::Registered.iid());
        mask(e, masks, events);
        e.arg(Arg::Data, Value::Uint(data));
        if let EntryKey::Fd { generation, .. } = entry.key {
            e.arg(Arg::Generation, Value::Uint(u64::from(generation)));
        }
        e.arg(Arg::Since, Value::Text(since));
    });
}

/// The arguments of a wait's slice.
fn wait_args(e: &mut EventBody, wait: &Wait) {
    let timeout = match wait.timeout {
        Timeout::Infinite => Value::Text(Text::Infinite),
        Timeout::Zero => Value::Uint(0),
        Timeout::After(ns) => Value::Uint(ns),
    };
    e.arg(Arg::TimeoutNs, timeout);
    let outcome = match wait.outcome {
        Outcome::Ready { .. } => Text::Ready,
        Outcome::Timeout => Text::Timeout,
        Outcome::Interrupted => Text::Interrupted,
        Outcome::Error { .. } => Text::Error,
        Outcome::Abandoned => Text::Abandoned,
        Outcome::Unfinished => Text::Unfinished,
    };
    e.arg(Arg::Outcome, Value::Text(outcome));
    match wait.outcome {
        Outcome::Ready { count } => e.arg(Arg::Events, Value::Uint(count)),
        Outcome::Error { errno } => e.arg(Arg::Errno, Value::Int(errno)),
        _ => {}
    }
    match wait.epoll {
        Some(at) => {
            e.arg(Arg::Epfd, Value::Int(i64::from(at.epfd)));
            e.arg(Arg::Maxevents, Value::Uint(u64::from(wait.nfds)));
        }
        None => e.arg(Arg::Nfds, Value::Uint(u64::from(wait.nfds))),
    }
    if let Some(delay) = wait.run_delay_ns {
        e.arg(Arg::RunDelayNs, Value::Uint(delay));
    }
}

/// The flow of one readiness of an entry: from the readiness, through the wake-up it caused,
/// to the busy tick after the wait that delivered it. Both ends know the entry and the time it
/// became ready, so they name the flow alike; the mix spreads ids over 64 bits.
fn flow_id(entry: EntryId, ready_ts: u64) -> u64 {
    let mut x = ready_ts ^ u64::from(entry.0).rotate_left(40);
    // splitmix64's finalizer.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn mask(e: &mut EventBody, masks: &mut Masks, mask: u32) {
    match masks.value(mask, e.interned()) {
        MaskValue::Iid(iid) => e.arg(Arg::Mask, Value::Interned(iid)),
        MaskValue::Text(text) => e.arg(Arg::Mask, Value::Str(&text)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use prost::Message as _;
    use uprof_analysis::stream::Reconstructor;
    use uprof_analysis::synth::Task;
    use uprof_common::{EPOLL_CTL_ADD, EPOLLIN};

    use super::trace_pb::trace_packet::Data;
    use super::trace_pb::{Trace, TrackEvent};
    use super::*;

    /// The track events of the trace of `records`, in file order.
    fn events(records: &[uprof_common::Record]) -> Vec<TrackEvent> {
        let mut out = Vec::new();
        let source = Source {
            tier: "callback".into(),
            ..Source::default()
        };
        let mut printer: Box<dyn Printer> = Box::new(PerfettoPrinter::new(
            &source,
            &Thresholds::default(),
            Box::new(&mut out),
        ));
        let mut stream = Reconstructor::new();
        for r in records {
            stream.push(r, &mut *printer);
        }
        stream.finish(&mut *printer);
        printer.finish(&SessionInfo::default()).unwrap();
        Trace::decode(out.as_slice())
            .unwrap()
            .packet
            .into_iter()
            .filter_map(|p| match p.data {
                Some(Data::TrackEvent(e)) => Some(e),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn readiness_flows_through_the_wake_up_to_the_next_busy_tick() {
        let t = Task::new(10, 10);
        let softirq = Task::new(0, 99);
        let mut records = vec![
            t.epoll_create(100, 3),
            t.epoll_ctl(200, 3, EPOLL_CTL_ADD, 7, 7, 0),
            softirq.ready(2_000, 10, 3, 7, 1),
            t.wake(2_100, 1_000, 3, softirq),
            t.woken_epoll_wait(1_000, 3_000, 3, 1, 100),
        ];
        records.extend(t.events(3_000, &[(EPOLLIN, 7)]));
        records.push(t.epoll_wait(5_000, 6_000, 3, 0));
        let events = events(&records);
        let named = |name: u64| events.iter().filter(move |e| e.name_iid == Some(name));
        let ready: Vec<_> = named(Name::Ready.iid()).collect();
        let woken: Vec<_> = named(Name::Woken.iid()).collect();
        let busy: Vec<_> = named(Name::Busy.iid()).collect();
        assert_eq!((ready.len(), woken.len(), busy.len()), (1, 1, 1));
        let flow = ready[0].flow_ids[0];
        assert_eq!(woken[0].flow_ids, [flow]);
        assert_eq!(busy[0].terminating_flow_ids, [flow]);
        assert!(busy[0].flow_ids.is_empty());
        let waits = named(names::wait_name(uprof_common::WaitSyscall::EpollWait)).count();
        assert_eq!(waits, 2);
    }

    #[test]
    fn findings_are_instants_on_the_session_track_at_their_evidence() {
        // fd 7 hangs up on each of 100 waits: a stale-interest finding, first seen at 1.5 µs.
        let hangups = events(&loop_delivering(EPOLLIN | uprof_common::EPOLLHUP));
        let marks: Vec<&TrackEvent> = hangups
            .iter()
            .filter(|e| e.name_iid == Some(Name::Finding.iid()))
            .collect();
        assert_eq!(marks.len(), 1);
        assert_eq!(marks[0].track_uuid, Some(tracks::SESSION));
        assert_eq!(marks[0].r#type, Some(Type::Instant as i32));
        let kind = marks[0]
            .debug_annotations
            .iter()
            .find(|a| a.name_iid == Some(Arg::Kind.iid()))
            .and_then(|a| a.value.clone());
        assert_eq!(
            kind,
            Some(super::trace_pb::debug_annotation::Value::StringValue(
                "stale-interest".into()
            ))
        );
        // Without the anti-pattern, no mark.
        assert!(
            events(&loop_delivering(EPOLLIN))
                .iter()
                .all(|e| e.name_iid != Some(Name::Finding.iid()))
        );
    }

    /// A loop whose 100 waits each deliver `mask` for fd 7.
    fn loop_delivering(mask: u32) -> Vec<uprof_common::Record> {
        let t = Task::new(10, 10);
        let mut records = vec![
            t.epoll_create(100, 3),
            t.epoll_ctl(200, 3, EPOLL_CTL_ADD, 7, 7, 0),
        ];
        for k in 0..100 {
            let enter = 1_000 + k * 1_000;
            records.push(t.epoll_wait(enter, enter + 500, 3, 1));
            records.extend(t.events(enter + 500, &[(mask, 7)]));
        }
        records
    }

    #[test]
    fn every_slice_that_begins_ends_on_its_track() {
        let t = Task::new(10, 10);
        let mut records = vec![
            t.epoll_create(100, 3),
            t.epoll_ctl(200, 3, EPOLL_CTL_ADD, 7, 7, 0),
            t.epoll_ctl(300, 3, EPOLL_CTL_ADD, 8, 8, 0),
            t.close(400, 8, 0),
        ];
        for k in 0..5 {
            let enter = 1_000 + k * 1_000;
            records.push(t.epoll_wait(enter, enter + 500, 3, 1));
            records.extend(t.events(enter + 500, &[(EPOLLIN, 7)]));
        }
        let mut open: HashMap<Option<u64>, i64> = HashMap::new();
        for e in events(&records) {
            let depth = open.entry(e.track_uuid).or_default();
            match e.r#type {
                Some(t) if t == Type::SliceBegin as i32 => *depth += 1,
                Some(t) if t == Type::SliceEnd as i32 => {
                    *depth -= 1;
                    assert!(
                        *depth >= 0,
                        "an end without a beginning on {:?}",
                        e.track_uuid
                    );
                }
                _ => {}
            }
        }
        assert!(open.values().all(|&d| d == 0), "{open:?}");
    }
}
