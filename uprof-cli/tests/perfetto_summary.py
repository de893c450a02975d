"""Reads a Perfetto trace with Perfetto's official schema and prints what it holds, as JSON.

Usage: perfetto_summary.py TRACE

The schema is the compiled `perfetto_trace_pb2` of the PyPI `perfetto` package (the version
scripts/setup.sh pins), not uprof's own subset of it. The trace is read the way Perfetto's trace
processor reads it: interned strings per sequence (cleared by SEQ_INCREMENTAL_STATE_CLEARED),
events sorted by timestamp (ties in file order), and slices paired per track, each end closing
the innermost open slice. The output lists per track its slices and instants by name (with
their arguments, and the instants' times), what did not pair, the flows and the counters;
uprof's tests compare it with `uprof report --format json`.
"""

import json
import sys
from collections import Counter, defaultdict

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

TrackEvent = pb.TrackEvent
SEQ_INCREMENTAL_STATE_CLEARED = 1
SEQ_NEEDS_INCREMENTAL_STATE = 2


class Sequence:
    """The incremental state of one packet sequence."""

    def __init__(self):
        self.valid = False
        self.names = {}
        self.arg_names = {}
        self.strings = {}
        self.clock_id = None


def annotation(ann, seq, problems):
    """(name, value) of a debug annotation, interned strings resolved."""
    if ann.HasField("name_iid"):
        name = seq.arg_names.get(ann.name_iid)
        if name is None:
            problems.append(f"undefined argument name iid {ann.name_iid}")
    else:
        name = ann.name
    kind = ann.WhichOneof("value")
    if kind == "string_value_iid":
        value = seq.strings.get(ann.string_value_iid)
        if value is None:
            problems.append(f"undefined string iid {ann.string_value_iid}")
    elif kind is not None:
        value = getattr(ann, kind)
    elif len(ann.array_values):
        value = [annotation(v, seq, problems)[1] for v in ann.array_values]
    else:
        value = None
    return name, value


def main(path):
    trace = pb.Trace()
    with open(path, "rb") as f:
        trace.ParseFromString(f.read())

    problems = []
    sequences = defaultdict(Sequence)
    descriptors = {}
    clocks = []
    events = []  # (ts, order, track, type, name, args, flow_ids, terminating_flow_ids, extra)
    for order, packet in enumerate(trace.packet):
        seq = sequences[packet.trusted_packet_sequence_id]
        if packet.sequence_flags & SEQ_INCREMENTAL_STATE_CLEARED:
            seq.__init__()
            seq.valid = True
        if packet.HasField("trace_packet_defaults"):
            seq.clock_id = packet.trace_packet_defaults.timestamp_clock_id
        if packet.HasField("interned_data"):
            data = packet.interned_data
            seq.names.update((n.iid, n.name) for n in data.event_names)
            seq.arg_names.update((n.iid, n.name) for n in data.debug_annotation_names)
            seq.strings.update(
                (s.iid, s.str.decode()) for s in data.debug_annotation_string_values
            )
        kind = packet.WhichOneof("data")
        if kind == "clock_snapshot":
            snapshot = packet.clock_snapshot
            clocks.append(
                {
                    "primary": pb.BuiltinClock.Name(snapshot.primary_trace_clock),
                    "clocks": {
                        pb.BuiltinClock.Name(c.clock_id): c.timestamp for c in snapshot.clocks
                    },
                }
            )
        elif kind == "track_descriptor":
            d = packet.track_descriptor
            descriptors[d.uuid] = d  # the latest descriptor names the track
        elif kind == "track_event":
            e = packet.track_event
            if packet.sequence_flags & SEQ_NEEDS_INCREMENTAL_STATE and not seq.valid:
                problems.append(f"packet {order} needs incremental state that was never set")
            if e.HasField("name_iid"):
                name = seq.names.get(e.name_iid)
                if name is None:
                    problems.append(f"undefined event name iid {e.name_iid}")
            else:
                name = e.name
            args = dict(annotation(a, seq, problems) for a in e.debug_annotations)
            clock = packet.timestamp_clock_id or seq.clock_id
            if clock != pb.BUILTIN_CLOCK_MONOTONIC:
                problems.append(f"packet {order} is timed on clock {clock}, not MONOTONIC")
            extra = list(zip(e.extra_counter_track_uuids, e.extra_counter_values))
            events.append(
                (
                    packet.timestamp,
                    order,
                    e.track_uuid,
                    TrackEvent.Type.Name(e.type),
                    name,
                    args,
                    list(e.flow_ids),
                    list(e.terminating_flow_ids),
                    e.counter_value,
                    extra,
                )
            )

    events.sort(key=lambda e: (e[0], e[1]))
    tracks = {}

    def track(uuid):
        if uuid not in tracks:
            if uuid not in descriptors:
                problems.append(f"event on track {uuid:#x}, which has no descriptor")
            tracks[uuid] = {
                "slices": Counter(),
                "instants": Counter(),
                "open": [],
                "unmatched_ends": 0,
                "args": defaultdict(list),
                "instant_times": defaultdict(list),
                "counter": [],
            }
        return tracks[uuid]

    flows = defaultdict(list)  # id -> [(ts, track, name)]
    terminated = set()
    for ts, _, uuid, kind, name, args, flow_ids, terminating, value, extra in events:
        t = track(uuid)
        if kind == "TYPE_SLICE_BEGIN":
            t["open"].append((ts, name))
            t["args"][name].append(args)
        elif kind == "TYPE_SLICE_END":
            if t["open"]:
                start, begun = t["open"].pop()
                t["slices"][begun] += 1
            else:
                t["unmatched_ends"] += 1
        elif kind == "TYPE_INSTANT":
            t["instants"][name] += 1
            t["args"][name].append(args)
            t["instant_times"][name].append(ts)
        elif kind == "TYPE_COUNTER":
            t["counter"].append(value)
        for counter_uuid, counter_value in extra:
            track(counter_uuid)["counter"].append(counter_value)
        for flow in flow_ids + terminating:
            if flow in terminated:
                problems.append(f"flow {flow:#x} continues after it was terminated")
            flows[flow].append((ts, uuid, name))
        terminated.update(terminating)

    def describe(uuid):
        d = descriptors.get(uuid)
        t = tracks.get(uuid) or track(uuid)
        out = {
            "uuid": uuid,
            "name": d.name if d is not None else None,
            "parent": d.parent_uuid if d is not None and d.HasField("parent_uuid") else None,
            "slices": dict(t["slices"]),
            "instants": dict(t["instants"]),
            "unclosed": len(t["open"]),
            "unmatched_ends": t["unmatched_ends"],
            "args": {name: values for name, values in t["args"].items()},
            "instant_times": dict(t["instant_times"]),
            "counter": t["counter"],
        }
        if d is not None and d.HasField("thread"):
            out["pid"] = d.thread.pid
            out["tid"] = d.thread.tid
            out["thread_name"] = d.thread.thread_name
        if d is not None and d.HasField("process"):
            out["pid"] = d.process.pid
            out["process_name"] = d.process.process_name
        if d is not None and d.HasField("counter"):
            out["is_counter"] = True
        return out

    chains = Counter()
    backwards = 0
    for steps in flows.values():
        chains[len(steps)] += 1
        backwards += sum(1 for a, b in zip(steps, steps[1:]) if b[0] < a[0])
    connected = [steps for steps in flows.values() if len(steps) >= 2]
    # A flow ends at the busy tick that handled what it delivered: that step terminates it.
    open_at_busy = sum(
        1 for flow, steps in flows.items() if steps[-1][2] == "busy" and flow not in terminated
    )
    summary = {
        "packets": len(trace.packet),
        "problems": problems,
        "clock_snapshots": clocks,
        "tracks": [describe(uuid) for uuid in sorted(set(descriptors) | set(tracks))],
        "flows": {
            "ids": len(flows),
            "connected": len(connected),
            "terminated": len(terminated),
            "chain_lengths": {str(k): v for k, v in sorted(chains.items())},
            "backwards_steps": backwards,
            "unterminated_at_busy": open_at_busy,
            "paths": Counter(
                " -> ".join(name for _, _, name in steps) for steps in connected
            ).most_common(),
        },
    }
    json.dump(summary, sys.stdout, indent=1, default=str)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
