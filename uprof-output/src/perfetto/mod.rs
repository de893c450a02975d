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
use uprof_analysis::stream::{
    Consumer, Ctl, CtlOp, Delivery, End, EntryId, EntryKey, EntryRef, Event, FdEnd, FdEnded, Herd,
    Outcome, Ready, ReadySource, ThreadChange, ThreadEvent, Timeout, Wait, Wake,
};

use crate::{Printer, Source};
use encode::PacketWriter;
use names::{Arg, MaskValue, Masks, Name, Text};
use trace_pb::debug_annotation::{NameField, Value};
use trace_pb::track_event::{self, Type};
use trace_pb::{DebugAnnotation, InternedData, TrackEvent};
use tracks::Tracks;

pub(crate) struct PerfettoPrinter<'w> {
    w: PacketWriter<'w>,
    tracks: Tracks,
    masks: Masks,
    source: Source,
    incomplete: Option<String>,
    end: End,
    /// Tracks whose registration slices end now (scratch).
    ended: Vec<u64>,
}

impl<'w> PerfettoPrinter<'w> {
    pub(crate) fn new(source: &Source, out: Box<dyn Write + 'w>) -> Self {
        let realtime = source.start_ts.saturating_add_signed(source.boot_offset_ns);
        let mut w = PacketWriter::new(out, source.start_ts, realtime);
        let mut tracks = Tracks::default();
        tracks.session(&mut w, source.start_ts, session_name(source, None));
        Self {
            w,
            tracks,
            masks: Masks::default(),
            source: source.clone(),
            incomplete: None,
            end: End {
                ts: source.start_ts,
                ..End::default()
            },
            ended: Vec::new(),
        }
    }

    fn wait(&mut self, wait: &Wait) {
        let w = &mut self.w;
        let thread = self.tracks.thread(w, wait.thread, wait.exit_ts);
        let track = thread.uuid;
        if let Some(busy) = wait.busy_before_ns {
            let start = wait.enter_ts.saturating_sub(busy);
            w.event(start, Type::SliceBegin, track, |e, _| {
                name(e, Name::Busy.iid());
                e.terminating_flow_ids.append(&mut thread.unhandled);
            });
            w.event(wait.enter_ts, Type::SliceEnd, track, |_, _| {});
        }
        thread.unhandled.clear();
        w.event(wait.enter_ts, Type::SliceBegin, track, |e, _| {
            name(e, names::wait_name(wait.syscall));
            wait_args(e, wait);
        });
        let counter = match wait.outcome {
            Outcome::Ready { count } => Some((
                self.tracks.wakeup_events(w, wait.thread, wait.exit_ts),
                count,
            )),
            _ => None,
        };
        w.event(wait.exit_ts, Type::SliceEnd, track, |e, _| {
            if let Some((uuid, count)) = counter {
                e.extra_counter_track_uuids.push(uuid);
                e.extra_counter_values.push(count as i64);
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
                self.w.event(ready_ts, Type::SliceBegin, fd, |e, new| {
                    name(e, Name::ReadyToDelivered.iid());
                    arg(e, Arg::Tid, Value::UintValue(tid));
                    mask(e, masks, d.mask, new);
                });
                self.w.event(wait.exit_ts, Type::SliceEnd, fd, |_, _| {});
                let thread = self.tracks.thread(&mut self.w, wait.thread, wait.exit_ts);
                thread.unhandled.push(flow_id(d.entry.id, ready_ts));
            }
            None => self.w.event(wait.exit_ts, Type::Instant, fd, |e, new| {
                name(e, Name::Delivered.iid());
                arg(e, Arg::Tid, Value::UintValue(tid));
                mask(e, masks, d.mask, new);
            }),
        }
    }

    fn ready(&mut self, r: &Ready) {
        self.tracks.epoll(&mut self.w, r.epoll, r.ts);
        let Some(fd) = self.tracks.fd(&mut self.w, r.entry, r.ts) else {
            return;
        };
        let fd = fd.uuid;
        self.w.event(r.ts, Type::Instant, fd, |e, _| {
            name(e, Name::Ready.iid());
            e.flow_ids.push(flow_id(r.entry.id, r.ts));
            let source = match r.source {
                ReadySource::Callback => Text::Callback,
                ReadySource::Socket => Text::Socket,
            };
            arg(e, Arg::Source, text(source));
            arg(e, Arg::WakerTid, Value::UintValue(u64::from(r.waker_tid)));
            arg(e, Arg::Coalesced, Value::BoolValue(r.coalesced));
        });
    }

    fn wake(&mut self, wake: &Wake) {
        let track = self.tracks.thread(&mut self.w, wake.thread, wake.ts).uuid;
        self.w.event(wake.ts, Type::Instant, track, |e, _| {
            name(e, Name::Woken.iid());
            if let Some(cause) = wake.cause {
                e.flow_ids.push(flow_id(cause.entry.id, cause.ready_ts));
            }
            arg(
                e,
                Arg::WakerPid,
                Value::UintValue(u64::from(wake.waker_pid)),
            );
            arg(
                e,
                Arg::WakerTid,
                Value::UintValue(u64::from(wake.waker_tid)),
            );
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
            self.w.event(h.ts, Type::Instant, fd, |e, _| {
                name(e, Name::Herd.iid());
                e.debug_annotations.push(DebugAnnotation {
                    name_field: Some(NameField::NameIid(Arg::Woken.iid())),
                    value: None,
                    array_values: h
                        .woken
                        .iter()
                        .map(|t| DebugAnnotation {
                            value: Some(Value::UintValue(u64::from(t.tid))),
                            ..DebugAnnotation::default()
                        })
                        .collect(),
                });
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
        self.w.event(c.enter_ts, Type::SliceBegin, track, |e, new| {
            name(e, Name::EpollCtl.iid());
            arg(e, Arg::Op, text(op));
            arg(e, Arg::Epfd, Value::IntValue(i64::from(c.epoll.epfd)));
            arg(e, Arg::Fd, Value::IntValue(i64::from(fd)));
            if matches!(c.op, CtlOp::Add | CtlOp::Mod) {
                mask(e, masks, c.events, new);
                arg(e, Arg::Data, Value::UintValue(c.data));
            }
            if let Err(errno) = c.result {
                arg(e, Arg::Errno, Value::IntValue(i64::from(errno)));
            }
        });
        self.w.event(c.ts, Type::SliceEnd, track, |_, _| {});

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
                    self.w.event(c.ts, Type::SliceEnd, uuid, |_, _| {});
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
                    self.w.event(c.ts, Type::SliceEnd, fd.uuid, |_, _| {});
                }
            }
            (CtlOp::Mod, Ok(())) => {
                self.w.event(c.ts, Type::Instant, fd.uuid, |e, new| {
                    name(e, Name::CtlMod.iid());
                    mask(e, masks, c.events, new);
                    arg(e, Arg::Data, Value::UintValue(c.data));
                });
            }
            (_, Err(errno)) => {
                self.w.event(c.ts, Type::Instant, fd.uuid, |e, _| {
                    name(e, Name::CtlFailed.iid());
                    arg(e, Arg::Op, text(op));
                    arg(e, Arg::Errno, Value::IntValue(i64::from(errno)));
                });
            }
            (CtlOp::Other(_), Ok(())) => {}
        }
    }

    fn fd_ended(&mut self, f: &FdEnded) {
        let closed = self
            .tracks
            .fd_ended(f.pid, f.fd, f.generation, &mut self.ended);
        let how = match f.how {
            FdEnd::Closed => Name::Closed,
            FdEnd::Replaced => Name::Replaced,
            FdEnd::ReusedByEpoll => Name::ReusedByEpoll,
        };
        for uuid in std::mem::take(&mut self.ended) {
            self.w.event(f.ts, Type::SliceEnd, uuid, |_, _| {});
            if closed.is_none() {
                self.w
                    .event(f.ts, Type::Instant, uuid, |e, _| name(e, how.iid()));
            }
        }
        if let Some(epoll) = closed {
            self.w
                .event(f.ts, Type::Instant, epoll, |e, _| name(e, how.iid()));
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
                        .event(t.ts, Type::Instant, track, |e, _| name(e, Name::Exit.iid()));
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
            self.w.event(ts, Type::SliceEnd, uuid, |_, _| {});
        }
    }

    /// Says what was recorded, and how the recording ended, on the session track.
    fn describe_session(&mut self, session: &SessionInfo) {
        let source = &self.source;
        let kernel = source.kernel_release.clone();
        self.w
            .event(source.start_ts, Type::Instant, tracks::SESSION, |e, _| {
                name(e, Name::Recording.iid());
                arg(e, Arg::Tier, Value::StringValue(session.tier.clone()));
                arg(e, Arg::Kernel, Value::StringValue(kernel));
                if let Some(command) = &session.command {
                    arg(e, Arg::Command, Value::StringValue(command.join(" ")));
                }
                e.debug_annotations.push(DebugAnnotation {
                    name_field: Some(NameField::NameIid(Arg::Pids.iid())),
                    value: None,
                    array_values: session
                        .pids
                        .iter()
                        .map(|&pid| DebugAnnotation {
                            value: Some(Value::UintValue(u64::from(pid))),
                            ..DebugAnnotation::default()
                        })
                        .collect(),
                });
                arg(e, Arg::DurationNs, Value::UintValue(session.duration_ns));
            });
        let end = self.end;
        self.w
            .event(end.ts, Type::Instant, tracks::SESSION, |e, _| {
                name(e, Name::EndOfRecording.iid());
                arg(e, Arg::LostRecords, Value::UintValue(session.lost_events));
                arg(e, Arg::LateRecords, Value::UintValue(end.late_records));
                arg(
                    e,
                    Arg::UnattributedEvents,
                    Value::UintValue(end.unattributed_events),
                );
                arg(
                    e,
                    Arg::MalformedRecords,
                    Value::UintValue(end.malformed_records),
                );
            });
        if let Some(why) = self.incomplete.clone() {
            self.w
                .event(end.ts, Type::Instant, tracks::SESSION, |e, _| {
                    name(e, Name::Incomplete.iid());
                    arg(e, Arg::Why, Value::StringValue(why.clone()));
                });
            let name = session_name(&self.source, Some(&why));
            self.tracks.session(&mut self.w, end.ts, name);
        }
    }
}

impl Consumer for PerfettoPrinter<'_> {
    fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Wait(w) => self.wait(w),
            Event::Ready(r) => self.ready(r),
            Event::Undelivered(u) => {
                if let Some(fd) = self.tracks.fd(&mut self.w, u.entry, u.ts) {
                    let fd = fd.uuid;
                    self.w.event(u.ready_ts, Type::SliceBegin, fd, |e, _| {
                        name(e, Name::NeverDelivered.iid());
                    });
                    self.w.event(u.ts, Type::SliceEnd, fd, |_, _| {});
                }
            }
            Event::Wake(w) => self.wake(w),
            Event::Herd(h) => self.herd(h),
            Event::Ctl(c) => self.ctl(c),
            Event::EpollCreated(c) => {
                let epoll = self.tracks.epoll(&mut self.w, c.epoll, c.ts);
                let tid = u64::from(c.thread.tid);
                self.w.event(c.ts, Type::Instant, epoll, |e, _| {
                    name(e, Name::EpollCreate.iid());
                    arg(e, Arg::Tid, Value::UintValue(tid));
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
                self.w.event(l.ts, Type::Counter, track, |e, _| {
                    e.counter_value = Some(l.total as i64);
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
    fn recording_incomplete(&mut self, why: &str) {
        self.incomplete = Some(why.to_owned());
    }

    fn finish(mut self: Box<Self>, session: &SessionInfo) -> io::Result<()> {
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
    w.event(ts, Type::SliceBegin, track, |e, new| {
        name(e, Name::Registered.iid());
        mask(e, masks, events, new);
        arg(e, Arg::Data, Value::UintValue(data));
        if let EntryKey::Fd { generation, .. } = entry.key {
            arg(e, Arg::Generation, Value::UintValue(u64::from(generation)));
        }
        arg(e, Arg::Since, text(since));
    });
}

/// The arguments of a wait's slice.
fn wait_args(e: &mut TrackEvent, wait: &Wait) {
    let timeout = match wait.timeout {
        Timeout::Infinite => text(Text::Infinite),
        Timeout::Zero => Value::UintValue(0),
        Timeout::After(ns) => Value::UintValue(ns),
    };
    arg(e, Arg::TimeoutNs, timeout);
    let outcome = match wait.outcome {
        Outcome::Ready { .. } => Text::Ready,
        Outcome::Timeout => Text::Timeout,
        Outcome::Interrupted => Text::Interrupted,
        Outcome::Error { .. } => Text::Error,
        Outcome::Abandoned => Text::Abandoned,
        Outcome::Unfinished => Text::Unfinished,
    };
    arg(e, Arg::Outcome, text(outcome));
    match wait.outcome {
        Outcome::Ready { count } => arg(e, Arg::Events, Value::UintValue(count)),
        Outcome::Error { errno } => arg(e, Arg::Errno, Value::IntValue(errno)),
        _ => {}
    }
    match wait.epoll {
        Some(at) => {
            arg(e, Arg::Epfd, Value::IntValue(i64::from(at.epfd)));
            arg(e, Arg::Maxevents, Value::UintValue(u64::from(wait.nfds)));
        }
        None => arg(e, Arg::Nfds, Value::UintValue(u64::from(wait.nfds))),
    }
    if let Some(delay) = wait.run_delay_ns {
        arg(e, Arg::RunDelayNs, Value::UintValue(delay));
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

fn name(e: &mut TrackEvent, iid: u64) {
    e.name_field = Some(track_event::NameField::NameIid(iid));
}

fn text(t: Text) -> Value {
    Value::StringValueIid(t.iid())
}

fn arg(e: &mut TrackEvent, name: Arg, value: Value) {
    e.debug_annotations.push(DebugAnnotation {
        name_field: Some(NameField::NameIid(name.iid())),
        value: Some(value),
        array_values: Vec::new(),
    });
}

fn mask(e: &mut TrackEvent, masks: &mut Masks, mask: u32, new: &mut InternedData) {
    let value = match masks.value(mask, new) {
        MaskValue::Iid(iid) => Value::StringValueIid(iid),
        MaskValue::Text(text) => Value::StringValue(text),
    };
    arg(e, Arg::Mask, value);
}
