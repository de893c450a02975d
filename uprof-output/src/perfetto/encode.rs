//! Writing trace packets as they are made: each one is encoded into a buffer written out in
//! large blocks, so memory stays flat however long the trace.
//!
//! Every packet belongs to one sequence (one writer, one `trusted_packet_sequence_id`). Its
//! first packet clears the sequence's incremental state, sets the default clock of its
//! timestamps (`CLOCK_MONOTONIC`, the records' clock) and carries the interned strings known in
//! advance; the events that refer to interned strings say they need that state.
use std::io::{self, Write};

use prost::Message as _;
use prost::encoding::{WireType, encode_key};

use super::names;
use super::trace_pb::trace_packet::{Data, SequenceFlags};
use super::trace_pb::track_event::Type;
use super::trace_pb::{
    BuiltinClock, ClockSnapshot, InternedData, TracePacket, TracePacketDefaults, TrackDescriptor,
    TrackEvent, clock_snapshot::Clock,
};

/// The sequence every packet is on.
const SEQUENCE_ID: u32 = 1;

/// `Trace.packet`: a trace file is a `Trace` message, the concatenation of its packets.
const TRACE_PACKET_FIELD: u32 = 1;

/// Encoded packets are written out once this many bytes are buffered.
const FLUSH_BYTES: usize = 256 << 10;

/// The packet stream of one trace.
pub(super) struct PacketWriter<'w> {
    out: Box<dyn Write + 'w>,
    buf: Vec<u8>,
    /// The first write error; nothing is written after it.
    error: Option<io::Error>,
    /// Reused for every event, so that its vectors keep their allocations.
    event: TrackEvent,
    /// Strings newly interned for the next event.
    interned: InternedData,
}

impl<'w> PacketWriter<'w> {
    /// Starts the trace: the sequence's first packet, then a clock snapshot that makes
    /// `CLOCK_MONOTONIC` the trace's clock and relates it to wall-clock time (`realtime_ts` at
    /// `monotonic_ts`).
    pub(super) fn new(out: Box<dyn Write + 'w>, monotonic_ts: u64, realtime_ts: u64) -> Self {
        let mut writer = Self {
            out,
            buf: Vec::with_capacity(FLUSH_BYTES + (64 << 10)),
            error: None,
            event: TrackEvent::default(),
            interned: InternedData::default(),
        };
        writer.write(&TracePacket {
            trusted_packet_sequence_id: Some(SEQUENCE_ID),
            first_packet_on_sequence: Some(true),
            sequence_flags: Some(SequenceFlags::SeqIncrementalStateCleared as u32),
            trace_packet_defaults: Some(TracePacketDefaults {
                timestamp_clock_id: Some(BuiltinClock::Monotonic as u32),
            }),
            interned_data: Some(names::interned_data()),
            ..TracePacket::default()
        });
        let clock = |id: BuiltinClock, ts| Clock {
            clock_id: Some(id as u32),
            timestamp: Some(ts),
        };
        writer.write(&TracePacket {
            timestamp: Some(monotonic_ts),
            trusted_packet_sequence_id: Some(SEQUENCE_ID),
            data: Some(Data::ClockSnapshot(ClockSnapshot {
                clocks: vec![
                    clock(BuiltinClock::Monotonic, monotonic_ts),
                    clock(BuiltinClock::Realtime, realtime_ts),
                ],
                primary_trace_clock: Some(BuiltinClock::Monotonic as i32),
            })),
            ..TracePacket::default()
        });
        writer
    }

    /// Writes a track's descriptor (again, when its name changed), timed `ts`.
    pub(super) fn descriptor(&mut self, ts: u64, descriptor: TrackDescriptor) {
        self.write(&TracePacket {
            timestamp: Some(ts),
            trusted_packet_sequence_id: Some(SEQUENCE_ID),
            data: Some(Data::TrackDescriptor(descriptor)),
            ..TracePacket::default()
        });
    }

    /// Writes one event of type `kind` on `track` at `ts`, filled in by `fill` (which starts
    /// from an empty event).
    pub(super) fn event(
        &mut self,
        ts: u64,
        kind: Type,
        track: u64,
        fill: impl FnOnce(&mut TrackEvent, &mut InternedData),
    ) {
        let mut event = std::mem::take(&mut self.event);
        event.r#type = Some(kind as i32);
        event.track_uuid = Some(track);
        fill(&mut event, &mut self.interned);
        // Only argument values are interned on the way (the rest is known in advance).
        let interned = if self.interned.debug_annotation_string_values.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.interned))
        };
        let mut packet = TracePacket {
            timestamp: Some(ts),
            trusted_packet_sequence_id: Some(SEQUENCE_ID),
            sequence_flags: Some(SequenceFlags::SeqNeedsIncrementalState as u32),
            interned_data: interned,
            data: Some(Data::TrackEvent(event)),
            ..TracePacket::default()
        };
        self.write(&packet);
        if let Some(Data::TrackEvent(mut event)) = packet.data.take() {
            clear(&mut event);
            self.event = event;
        }
    }

    /// Everything is written: flushes, and returns the first write error if there was one.
    pub(super) fn finish(mut self) -> io::Result<()> {
        self.flush_buffer();
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.out.flush()
    }

    fn write(&mut self, packet: &TracePacket) {
        if self.error.is_some() {
            return;
        }
        encode_key(TRACE_PACKET_FIELD, WireType::LengthDelimited, &mut self.buf);
        packet
            .encode_length_delimited(&mut self.buf)
            .expect("a Vec grows as needed");
        if self.buf.len() >= FLUSH_BYTES {
            self.flush_buffer();
        }
    }

    fn flush_buffer(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&self.buf)
        {
            self.error = Some(e);
        }
        self.buf.clear();
    }
}

/// Empties an event, keeping the allocations of its vectors.
fn clear(event: &mut TrackEvent) {
    let TrackEvent {
        r#type,
        track_uuid,
        counter_value,
        extra_counter_track_uuids,
        extra_counter_values,
        flow_ids,
        terminating_flow_ids,
        debug_annotations,
        name_field,
    } = event;
    *r#type = None;
    *track_uuid = None;
    *counter_value = None;
    extra_counter_track_uuids.clear();
    extra_counter_values.clear();
    flow_ids.clear();
    terminating_flow_ids.clear();
    debug_annotations.clear();
    *name_field = None;
}
