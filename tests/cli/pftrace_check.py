# SPDX-License-Identifier: Apache-2.0
"""Semantic checker for .pftrace files: decodes with protoc against Perfetto's schema, parses
protoc's text output and checks what trace_processor relies on:
  - every track_uuid used by a TrackEvent (its own, or its sequence's default from
    trace_packet_defaults) is described by a TrackDescriptor earlier in the file;
  - every interned id (event name_iid, debug annotation name_iid and string_value_iid,
    callstack_iid and, inside the interned data, a callstack's frame ids and a frame's function
    name, mapping and source path ids, a mapping's path ids) is defined on its sequence, in the
    same or an earlier packet, after the sequence's SEQ_INCREMENTAL_STATE_CLEARED;
  - flows are balanced in time order (sequences interleave in the file; trace_processor
    sorts by time): a terminating_flow_id was started (flow_ids) before and is terminated
    once; started flows that never terminate are allowed only for host API calls (reported);
  - timestamps resolve to BOOTTIME: a packet's clock (its timestamp_clock_id, else its
    sequence's default) is BOOTTIME or a sequence-scoped clock (64-127) that a clock snapshot
    on the sequence ties to BOOTTIME; on an incremental clock each timestamp is the delta from
    the clock's previous one (a delta of 2^63 or more is a negative one: an error);
  - timestamps never go backwards on a sequence;
  - slice BEGIN/END pairs match per track (no END without an open slice).
Usage as a module: check(path) -> (summary dict); raises CheckError. As a script: exit 0/1,
77 when protoc or the schema is missing."""
import os
import shutil
import subprocess
import sys

SHARED = os.environ.get("TSM_SHARED_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared")
PROTO_DIR = os.path.join(SHARED, "third_party", "perfetto")


class CheckError(Exception):
    pass


# interned tables of a sequence that the checker follows
BOOTTIME = 6
INTERNED = ("names", "annots", "strs", "funcs", "mpaths", "srcs", "maps", "frames", "stacks")


def available():
    return shutil.which("protoc") and os.path.exists(os.path.join(PROTO_DIR, "perfetto_trace.proto"))


def decode(path):
    with open(path, "rb") as f:
        p = subprocess.run(["protoc", "--decode=perfetto.protos.Trace", "-I", PROTO_DIR,
                            "perfetto_trace.proto"], stdin=f, capture_output=True)
    if p.returncode != 0:
        raise CheckError("protoc --decode failed: %s" % p.stderr.decode(errors="replace")[:2000])
    return p.stdout.decode("utf-8", errors="replace")


def parse_text(text):
    """protoc text format -> list of packets, each a nested dict of lists."""
    root = {}
    stack = [root]
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.endswith("{"):
            name = s[:-1].strip()
            node = {}
            stack[-1].setdefault(name, []).append(node)
            stack.append(node)
        elif s == "}":
            stack.pop()
        else:
            k, _, v = s.partition(": ")
            if v.startswith('"'):
                v = v[1:-1]
            stack[-1].setdefault(k, []).append(v)
    if len(stack) != 1:
        raise CheckError("unbalanced protoc output")
    return root.get("packet", [])


def one(d, k, default=None):
    v = d.get(k)
    return v[0] if v else default


def check(path):
    packets = parse_text(decode(path))
    if not packets:
        raise CheckError("no packets")
    described = set()
    seqs = {}  # seq id -> state
    started, terminated = set(), set()
    open_slices = {}
    flow_events = []
    n_events = n_flows = n_stacks = 0
    names = set()
    for i, p in enumerate(packets):
        seq = one(p, "trusted_packet_sequence_id")
        if seq is None:
            raise CheckError("packet %d has no trusted_packet_sequence_id" % i)
        st = seqs.setdefault(seq, {"cleared": False, "ts": 0, "track": None, "clock": None,
                                   "clocks": {}, **{k: set() for k in INTERNED}})
        flags = int(one(p, "sequence_flags", 0))
        if flags & 1:
            st["cleared"] = True
            for k in INTERNED:
                st[k].clear()
            st["track"] = None
        for d in p.get("trace_packet_defaults", []):
            if not st["cleared"]:
                raise CheckError("packet %d sets defaults before SEQ_INCREMENTAL_STATE_CLEARED" % i)
            for ted in d.get("track_event_defaults", []):
                st["track"] = one(ted, "track_uuid")
            st["clock"] = one(d, "timestamp_clock_id", st["clock"])
        for cs in p.get("clock_snapshot", []):
            clocks = {int(one(c, "clock_id")): (int(one(c, "timestamp", 0)),
                                                one(c, "is_incremental") == "true")
                      for c in cs.get("clocks", [])}
            if BOOTTIME not in clocks:
                raise CheckError("packet %d: clock snapshot without BOOTTIME" % i)
            boot = clocks[BOOTTIME][0]
            for cid, (cts, incr) in clocks.items():
                if 64 <= cid < 128:
                    # [last value on the clock, offset to BOOTTIME, incremental]
                    st["clocks"][cid] = [cts, boot - cts, incr]
                elif incr:
                    raise CheckError("packet %d: builtin clock %d marked incremental" % (i, cid))
        ts = one(p, "timestamp")
        if ts is not None:
            ts = int(ts)
            cid = int(one(p, "timestamp_clock_id", st["clock"] or BOOTTIME))
            if cid != BOOTTIME:
                if cid not in st["clocks"]:
                    raise CheckError("packet %d: timestamp on clock %d, which no snapshot on "
                                     "sequence %s defines" % (i, cid, seq))
                clk = st["clocks"][cid]
                if clk[2]:
                    if ts >= 1 << 63:
                        raise CheckError("packet %d: negative timestamp delta %d on sequence %s"
                                         % (i, ts - (1 << 64), seq))
                    clk[0] += ts
                else:
                    clk[0] = ts
                ts = clk[0] + clk[1]
            if ts < st["ts"]:
                raise CheckError("packet %d: timestamp %d before %d on sequence %s" %
                                 (i, ts, st["ts"], seq))
            st["ts"] = ts
        for idata in p.get("interned_data", []):
            if not st["cleared"]:
                raise CheckError("packet %d interns before SEQ_INCREMENTAL_STATE_CLEARED" % i)
            for en in idata.get("event_names", []):
                st["names"].add(one(en, "iid"))
                names.add(one(en, "name"))
            for an in idata.get("debug_annotation_names", []):
                st["annots"].add(one(an, "iid"))
            for sv in idata.get("debug_annotation_string_values", []):
                st["strs"].add(one(sv, "iid"))
            # call stacks: entries may refer to others of the same packet, in any order
            for field, key in (("function_names", "funcs"), ("mapping_paths", "mpaths"),
                               ("source_paths", "srcs"), ("mappings", "maps"),
                               ("frames", "frames"), ("callstacks", "stacks")):
                for e in idata.get(field, []):
                    st[key].add(one(e, "iid"))
            for m in idata.get("mappings", []):
                for pid in m.get("path_string_ids", []):
                    if pid not in st["mpaths"]:
                        raise CheckError("packet %d: mapping path %s not interned" % (i, pid))
            for fr in idata.get("frames", []):
                for field, key in (("function_name_id", "funcs"), ("mapping_id", "maps"),
                                   ("source_path_iid", "srcs")):
                    v = one(fr, field)
                    if v is not None and v not in st[key]:
                        raise CheckError("packet %d: frame %s: %s %s not interned"
                                         % (i, one(fr, "iid"), field, v))
            for cs in idata.get("callstacks", []):
                for fid in cs.get("frame_ids", []):
                    if fid not in st["frames"]:
                        raise CheckError("packet %d: callstack %s: frame %s not interned"
                                         % (i, one(cs, "iid"), fid))
        for td in p.get("track_descriptor", []):
            uuid = one(td, "uuid")
            if uuid is None:
                raise CheckError("packet %d: track descriptor without uuid" % i)
            parent = one(td, "parent_uuid")
            if parent is not None and parent not in described:
                raise CheckError("packet %d: parent_uuid %s not described" % (i, parent))
            described.add(uuid)
        for te in p.get("track_event", []):
            n_events += 1
            uuid = one(te, "track_uuid", st["track"])
            if uuid not in described:
                raise CheckError("packet %d: track_uuid %s used before it is described" % (i, uuid))
            typ = one(te, "type")
            iid = one(te, "name_iid")
            if iid is not None and iid not in st["names"]:
                raise CheckError("packet %d: name_iid %s not interned on sequence %s" % (i, iid, seq))
            if typ in ("TYPE_SLICE_BEGIN", "TYPE_INSTANT") and iid is None and one(te, "name") is None:
                raise CheckError("packet %d: slice without a name" % i)
            if flags & 2 == 0 and iid is not None:
                raise CheckError("packet %d uses interned data without SEQ_NEEDS_INCREMENTAL_STATE" % i)
            cs = one(te, "callstack_iid")
            if cs is not None:
                if cs not in st["stacks"]:
                    raise CheckError("packet %d: callstack_iid %s not interned" % (i, cs))
                n_stacks += 1
            for da in te.get("debug_annotations", []):
                a = one(da, "name_iid")
                if a is not None and a not in st["annots"]:
                    raise CheckError("packet %d: annotation name_iid %s not interned" % (i, a))
                sv = one(da, "string_value_iid")
                if sv is not None and sv not in st["strs"]:
                    raise CheckError("packet %d: annotation string_value_iid %s not interned"
                                     % (i, sv))
            # flows are checked in time order once every packet is read
            for fid in te.get("flow_ids", []):
                flow_events.append((ts or 0, len(flow_events), "s", fid, i))
            for fid in te.get("terminating_flow_ids", []):
                flow_events.append((ts or 0, len(flow_events), "t", fid, i))
            if typ == "TYPE_SLICE_BEGIN":
                open_slices[uuid] = open_slices.get(uuid, 0) + 1
            elif typ == "TYPE_SLICE_END":
                if not open_slices.get(uuid):
                    raise CheckError("packet %d: slice end on track %s with no open slice" % (i, uuid))
                open_slices[uuid] -= 1
    # A flow's start and end sit on different sequences; at equal times the start goes first.
    for ts, _, kind, fid, i in sorted(flow_events, key=lambda e: (e[0], e[2] != "s", e[1])):
        if kind == "s":
            if fid in started and fid not in terminated:
                raise CheckError("packet %d: flow %s started twice" % (i, fid))
            started.add(fid)
            terminated.discard(fid)
        else:
            if fid not in started or fid in terminated:
                raise CheckError("packet %d: flow %s terminated without a start" % (i, fid))
            terminated.add(fid)
            n_flows += 1
    dangling = [u for u, n in open_slices.items() if n]
    if dangling:
        raise CheckError("slices never ended on tracks %s" % dangling[:5])
    return {"packets": len(packets), "track_events": n_events, "flows": n_flows,
            "tracks": len(described), "sequences": len(seqs), "unterminated_flows": len(started - terminated),
            "with_callstack": n_stacks,
            "names": names}


if __name__ == "__main__":
    if not available():
        print("SKIP: protoc or %s missing" % PROTO_DIR)
        sys.exit(77)
    try:
        for a in sys.argv[1:]:
            print(a, {k: v for k, v in check(a).items() if k != "names"})
    except CheckError as e:
        print("FAIL:", e)
        sys.exit(1)
