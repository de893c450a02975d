//! Writing trace packets as they are made: each one is encoded into a buffer written out in
//! large blocks, so memory stays flat however long the trace.
//!
//! Every packet belongs to one sequence (one writer, one `trusted_packet_sequence_id`). Its
//! first packet clears the sequence's incremental state, sets the default clock of its
//! timestamps (`CLOCK_MONOTONIC`, the records' clock) and carries the interned strings known in
//! advance; the events that refer to interned strings say they need that state.
//!
//! The few packets that describe (the sequence's start, the clock, track descriptors) are
//! encoded from the messages generated from trace.proto. Track events, several per record, are
//! written field by field straight into the buffer ([`EventBody`]): building and encoding a
//! generated message for each cost more than reading the recording. The field numbers they use
//! are trace.proto's; a test decodes events written this way with the generated code.
use std::io::{self, Write};

use prost::Message as _;

use super::names::{self, Arg, Text};
use super::trace_pb::trace_packet::{Data, SequenceFlags};
use super::trace_pb::track_event::Type;
use super::trace_pb::{
    BuiltinClock, ClockSnapshot, InternedData, TracePacket, TracePacketDefaults, TrackDescriptor,
    clock_snapshot::Clock,
};

/// The sequence every packet is on.
const SEQUENCE_ID: u64 = 1;

/// Encoded packets are written out once this many bytes are buffered.
const FLUSH_BYTES: usize = 256 << 10;

/// Field keys (`number << 3 | wire type`) of what events are made of, from trace.proto.
mod key {
    const VARINT: u32 = 0;
    const FIXED64: u32 = 1;
    const LEN: u32 = 2;

    const fn key(field: u32, wire: u32) -> u32 {
        (field << 3) | wire
    }

    /// `Trace.packet`.
    pub(super) const PACKET: u32 = key(1, LEN);
    /// `TracePacket` fields.
    pub(super) const TIMESTAMP: u32 = key(8, VARINT);
    pub(super) const SEQUENCE_ID: u32 = key(10, VARINT);
    pub(super) const TRACK_EVENT: u32 = key(11, LEN);
    pub(super) const INTERNED_DATA: u32 = key(12, LEN);
    pub(super) const SEQUENCE_FLAGS: u32 = key(13, VARINT);
    /// `TrackEvent` fields.
    pub(super) const DEBUG_ANNOTATIONS: u32 = key(4, LEN);
    pub(super) const TYPE: u32 = key(9, VARINT);
    pub(super) const NAME_IID: u32 = key(10, VARINT);
    pub(super) const TRACK_UUID: u32 = key(11, VARINT);
    pub(super) const EXTRA_COUNTER_VALUES: u32 = key(12, VARINT);
    pub(super) const COUNTER_VALUE: u32 = key(30, VARINT);
    pub(super) const EXTRA_COUNTER_TRACK_UUIDS: u32 = key(31, VARINT);
    pub(super) const FLOW_IDS: u32 = key(47, FIXED64);
    pub(super) const TERMINATING_FLOW_IDS: u32 = key(48, FIXED64);
    /// `DebugAnnotation` fields.
    pub(super) const ARG_NAME_IID: u32 = key(1, VARINT);
    pub(super) const BOOL_VALUE: u32 = key(2, VARINT);
    pub(super) const UINT_VALUE: u32 = key(3, VARINT);
    pub(super) const INT_VALUE: u32 = key(4, VARINT);
    pub(super) const STRING_VALUE: u32 = key(6, LEN);
    pub(super) const ARRAY_VALUES: u32 = key(12, LEN);
    pub(super) const STRING_VALUE_IID: u32 = key(17, VARINT);
}

/// An argument's value.
pub(super) enum Value<'a> {
    Uint(u64),
    Int(i64),
    Bool(bool),
    /// One of the interned values known in advance.
    Text(Text),
    /// An interned string by its iid.
    Interned(u64),
    Str(&'a str),
}

/// The packet stream of one trace.
pub(super) struct PacketWriter<'w> {
    out: Box<dyn Write + 'w>,
    buf: Vec<u8>,
    /// The first write error; nothing is written after it.
    error: Option<io::Error>,
    /// The event being made, reused.
    body: EventBody,
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
            body: EventBody::default(),
        };
        writer.packet(&TracePacket {
            trusted_packet_sequence_id: Some(SEQUENCE_ID as u32),
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
        writer.packet(&TracePacket {
            timestamp: Some(monotonic_ts),
            trusted_packet_sequence_id: Some(SEQUENCE_ID as u32),
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
        self.packet(&TracePacket {
            timestamp: Some(ts),
            trusted_packet_sequence_id: Some(SEQUENCE_ID as u32),
            data: Some(Data::TrackDescriptor(descriptor)),
            ..TracePacket::default()
        });
    }

    /// Writes one event of type `kind` on `track` at `ts`, its other fields written by `fill`.
    pub(super) fn event(
        &mut self,
        ts: u64,
        kind: Type,
        track: u64,
        fill: impl FnOnce(&mut EventBody),
    ) {
        let body = &mut self.body;
        body.fields.clear();
        field_varint(&mut body.fields, key::TYPE, kind as u64);
        field_varint(&mut body.fields, key::TRACK_UUID, track);
        fill(body);
        if self.error.is_some() {
            return;
        }
        let interned = (!body.interned.debug_annotation_string_values.is_empty())
            .then(|| std::mem::take(&mut body.interned));
        let interned_len = interned.as_ref().map_or(0, |i| i.encoded_len());
        let len = field_varint_len(key::TIMESTAMP, ts)
            + field_varint_len(key::SEQUENCE_ID, SEQUENCE_ID)
            + field_varint_len(key::SEQUENCE_FLAGS, NEEDS_INCREMENTAL_STATE)
            + interned
                .as_ref()
                .map_or(0, |_| field_len_len(key::INTERNED_DATA, interned_len))
            + field_len_len(key::TRACK_EVENT, body.fields.len());
        let buf = &mut self.buf;
        varint(buf, u64::from(key::PACKET));
        varint(buf, len as u64);
        field_varint(buf, key::TIMESTAMP, ts);
        field_varint(buf, key::SEQUENCE_ID, SEQUENCE_ID);
        field_varint(buf, key::SEQUENCE_FLAGS, NEEDS_INCREMENTAL_STATE);
        if let Some(interned) = interned {
            varint(buf, u64::from(key::INTERNED_DATA));
            varint(buf, interned_len as u64);
            interned.encode_raw(buf);
        }
        varint(buf, u64::from(key::TRACK_EVENT));
        varint(buf, body.fields.len() as u64);
        buf.extend_from_slice(&body.fields);
        self.flush_if_full();
    }

    /// Everything is written: flushes, and returns the first write error if there was one.
    pub(super) fn finish(mut self) -> io::Result<()> {
        self.flush_buffer();
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.out.flush()
    }

    /// Writes a packet made from the generated messages.
    fn packet(&mut self, packet: &TracePacket) {
        if self.error.is_some() {
            return;
        }
        varint(&mut self.buf, u64::from(key::PACKET));
        packet
            .encode_length_delimited(&mut self.buf)
            .expect("a Vec grows as needed");
        self.flush_if_full();
    }

    fn flush_if_full(&mut self) {
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

const NEEDS_INCREMENTAL_STATE: u64 = SequenceFlags::SeqNeedsIncrementalState as u64;

/// The fields of the track event being written (its type and track already in).
#[derive(Default)]
pub(super) struct EventBody {
    fields: Vec<u8>,
    /// Argument values interned on the way, sent with the event that first uses them.
    interned: InternedData,
    /// A debug annotation being assembled (its length comes before it).
    scratch: Vec<u8>,
}

impl EventBody {
    pub(super) fn name(&mut self, iid: u64) {
        field_varint(&mut self.fields, key::NAME_IID, iid);
    }

    pub(super) fn arg(&mut self, name: Arg, value: Value) {
        // Written in place, its length computed first: arguments are most of an event.
        let (key, number, text) = match value {
            Value::Uint(v) => (key::UINT_VALUE, v, None),
            Value::Int(v) => (key::INT_VALUE, v as u64, None),
            Value::Bool(v) => (key::BOOL_VALUE, u64::from(v), None),
            Value::Text(t) => (key::STRING_VALUE_IID, t.iid(), None),
            Value::Interned(iid) => (key::STRING_VALUE_IID, iid, None),
            Value::Str(text) => (key::STRING_VALUE, 0, Some(text.as_bytes())),
        };
        let value_len = match text {
            Some(bytes) => field_len_len(key, bytes.len()),
            None => field_varint_len(key, number),
        };
        let f = &mut self.fields;
        varint(f, u64::from(key::DEBUG_ANNOTATIONS));
        varint(
            f,
            (field_varint_len(key::ARG_NAME_IID, name.iid()) + value_len) as u64,
        );
        field_varint(f, key::ARG_NAME_IID, name.iid());
        match text {
            Some(bytes) => field_bytes(f, key, bytes),
            None => field_varint(f, key, number),
        }
    }

    /// An argument whose value is an array of numbers.
    pub(super) fn arg_array(&mut self, name: Arg, values: impl IntoIterator<Item = u64>) {
        let s = &mut self.scratch;
        s.clear();
        field_varint(s, key::ARG_NAME_IID, name.iid());
        for v in values {
            let element = field_varint_len(key::UINT_VALUE, v);
            varint(s, u64::from(key::ARRAY_VALUES));
            varint(s, element as u64);
            field_varint(s, key::UINT_VALUE, v);
        }
        field_bytes(&mut self.fields, key::DEBUG_ANNOTATIONS, &self.scratch);
    }

    /// Strings interned for this event (it may refer to them).
    pub(super) fn interned(&mut self) -> &mut InternedData {
        &mut self.interned
    }

    /// The event is a step of flow `id`.
    pub(super) fn flow(&mut self, id: u64) {
        field_fixed64(&mut self.fields, key::FLOW_IDS, id);
    }

    /// The event is the last step of flow `id`.
    pub(super) fn end_flow(&mut self, id: u64) {
        field_fixed64(&mut self.fields, key::TERMINATING_FLOW_IDS, id);
    }

    /// A counter event's value.
    pub(super) fn counter(&mut self, value: i64) {
        field_varint(&mut self.fields, key::COUNTER_VALUE, value as u64);
    }

    /// A value of counter `track` at the event's time.
    pub(super) fn extra_counter(&mut self, track: u64, value: i64) {
        field_varint(&mut self.fields, key::EXTRA_COUNTER_TRACK_UUIDS, track);
        field_varint(&mut self.fields, key::EXTRA_COUNTER_VALUES, value as u64);
    }
}

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 7 bits a byte; 0 takes one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn field_varint(buf: &mut Vec<u8>, key: u32, v: u64) {
    varint(buf, u64::from(key));
    varint(buf, v);
}

fn field_varint_len(key: u32, v: u64) -> usize {
    varint_len(u64::from(key)) + varint_len(v)
}

fn field_fixed64(buf: &mut Vec<u8>, key: u32, v: u64) {
    varint(buf, u64::from(key));
    buf.extend_from_slice(&v.to_le_bytes());
}

fn field_bytes(buf: &mut Vec<u8>, key: u32, bytes: &[u8]) {
    varint(buf, u64::from(key));
    varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// The length of a length-delimited field of `len` bytes.
fn field_len_len(key: u32, len: usize) -> usize {
    varint_len(u64::from(key)) + varint_len(len as u64) + len
}

#[cfg(test)]
mod tests {
    use super::super::names::Name;
    use super::super::trace_pb::debug_annotation::Value as PbValue;
    use super::super::trace_pb::{DebugAnnotation, Trace, TrackEvent};
    use super::*;

    /// Writes a trace into a buffer with `write`, and decodes it with the generated code.
    fn written(write: impl FnOnce(&mut PacketWriter)) -> Trace {
        let mut out = Vec::new();
        let mut w = PacketWriter::new(Box::new(&mut out), 1_000, 5_000);
        write(&mut w);
        w.finish().unwrap();
        Trace::decode(out.as_slice()).expect("the trace decodes")
    }

    fn annotation(name: Arg, value: PbValue) -> DebugAnnotation {
        DebugAnnotation {
            name_iid: Some(name.iid()),
            value: Some(value),
            array_values: Vec::new(),
        }
    }

    #[test]
    fn varint_lengths_are_exact() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
        }
    }

    /// The hand-written events decode, with trace.proto's generated code, to the fields meant.
    #[test]
    fn events_decode_with_the_generated_schema() {
        let trace = written(|w| {
            w.event(7_000, Type::SliceBegin, 42, |e| {
                e.name(Name::Busy.iid());
                e.arg(Arg::TimeoutNs, Value::Uint(1 << 40));
                e.arg(Arg::Errno, Value::Int(-4));
                e.arg(Arg::Coalesced, Value::Bool(true));
                e.arg(Arg::Outcome, Value::Text(Text::Timeout));
                e.arg(Arg::Why, Value::Str("cut short"));
                e.arg_array(Arg::Woken, [3, 300]);
                e.flow(u64::MAX);
                e.end_flow(5);
                e.extra_counter(9, 2);
            });
            w.event(8_000, Type::Counter, 43, |e| e.counter(-1));
        });
        let [start, clock, begin, counter] = trace.packet.as_slice() else {
            panic!("four packets: {trace:?}");
        };
        assert_eq!(start.sequence_flags, Some(1));
        assert!(start.interned_data.is_some());
        assert!(matches!(clock.data, Some(Data::ClockSnapshot(_))));
        assert_eq!(begin.timestamp, Some(7_000));
        assert_eq!(begin.trusted_packet_sequence_id, Some(1));
        assert_eq!(begin.sequence_flags, Some(2));
        let Some(Data::TrackEvent(event)) = &begin.data else {
            panic!("a track event: {begin:?}");
        };
        let array = DebugAnnotation {
            name_iid: Some(Arg::Woken.iid()),
            value: None,
            array_values: [3, 300]
                .map(|v| DebugAnnotation {
                    value: Some(PbValue::UintValue(v)),
                    ..DebugAnnotation::default()
                })
                .to_vec(),
        };
        let expected = TrackEvent {
            r#type: Some(Type::SliceBegin as i32),
            track_uuid: Some(42),
            name_iid: Some(Name::Busy.iid()),
            debug_annotations: vec![
                annotation(Arg::TimeoutNs, PbValue::UintValue(1 << 40)),
                annotation(Arg::Errno, PbValue::IntValue(-4)),
                annotation(Arg::Coalesced, PbValue::BoolValue(true)),
                annotation(Arg::Outcome, PbValue::StringValueIid(Text::Timeout.iid())),
                annotation(Arg::Why, PbValue::StringValue("cut short".into())),
                array,
            ],
            flow_ids: vec![u64::MAX],
            terminating_flow_ids: vec![5],
            extra_counter_track_uuids: vec![9],
            extra_counter_values: vec![2],
            counter_value: None,
        };
        assert_eq!(event, &expected);
        let Some(Data::TrackEvent(event)) = &counter.data else {
            panic!("a track event: {counter:?}");
        };
        assert_eq!(event.counter_value, Some(-1));
        assert_eq!(event.r#type, Some(Type::Counter as i32));
    }

    #[test]
    fn strings_interned_with_an_event_travel_in_its_packet() {
        let trace = written(|w| {
            w.event(7_000, Type::Instant, 1, |e| {
                e.interned().debug_annotation_string_values.push(
                    super::super::trace_pb::InternedString {
                        iid: Some(99),
                        str: Some(b"IN".to_vec()),
                    },
                );
                e.arg(Arg::Mask, Value::Interned(99));
            });
            w.event(8_000, Type::Instant, 1, |_| {});
        });
        let interned: Vec<_> = trace.packet[2..]
            .iter()
            .map(|p| p.interned_data.clone())
            .collect();
        assert_eq!(
            interned[0].as_ref().unwrap().debug_annotation_string_values[0].str,
            Some(b"IN".to_vec())
        );
        assert_eq!(interned[1], None);
    }

    #[test]
    fn a_write_error_is_returned_at_the_end() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = PacketWriter::new(Box::new(Broken), 0, 0);
        w.event(1, Type::Instant, 1, |_| {});
        let error = w.finish().expect_err("the error comes out");
        assert_eq!(error.to_string(), "disk full");
    }
}
