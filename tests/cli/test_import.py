# SPDX-License-Identifier: Apache-2.0
"""tracesmith import: the real torch.profiler fixture (../shared/fixtures/kineto) round trip
fixture -> SBT -> Kineto (same kernels, runtime calls and cpu ops: names, counts, ts/dur to the
ns, correlation, External id), SBT -> Kineto -> import (identical events), gzip input, bare
array form, unmapped records counted, generic Chrome flow records (s / t / f, bind_id) bound to
their slices and exported as arrows, unbindable ones counted, host call stacks ("stackFrames"
and "sf") through SBT -> Chrome JSON -> SBT and from generic Chrome JSON, and bad inputs that
must fail cleanly with an offset."""
import collections
import gzip
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import SRC, CliTest, record, run, scratch  # noqa: E402
import json_check  # noqa: E402

SHARED = os.environ.get("TSM_SHARED_DIR") or os.path.join(SRC, "..", "shared")
FIXTURE = os.path.join(SHARED, "fixtures", "kineto", "h200-matmul-relu.json.gz")


def view_events(path):
    r = run("view", path, "--sort", "--format", "json", "--no-demangle")
    if r.rc != 0:
        raise AssertionError(r)
    evs = json.loads(r.out)
    for e in evs:
        e.pop("flags", None)  # the importer adds TSM_EVF_IMPORTED
        e.pop("stack", None)  # call stacks have no place in Kineto JSON
    return sorted(evs, key=lambda e: json.dumps(e, sort_keys=True))


def key_events(d):
    out = collections.Counter()
    for e in d["traceEvents"]:
        if e.get("ph") == "X" and e.get("cat") in ("kernel", "cuda_runtime", "cpu_op"):
            a = e.get("args", {})
            out[(e["cat"], e["name"], e["ts"], e["dur"], a.get("correlation"),
                 a.get("External id"))] += 1
    return out


class TestFixture(CliTest):
    def setUp(self):
        if not os.path.exists(FIXTURE):
            self.skipTest("fixture %s missing (../shared not present)" % FIXTURE)

    def test_round_trip(self):
        sbt = scratch("fix.sbt")
        r = run("import", FIXTURE, "-o", sbt)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("imported 3,003 events", r.err)
        self.assertIn("3 records not mapped", r.err)
        out = scratch("fix.pt.trace.json")
        self.assertEqual(run("export", sbt, "-o", out, "-q").rc, 0)
        with gzip.open(FIXTURE, "rb") as f:
            raw = f.read().decode()
        a = json.loads(raw)
        b = json_check.check_kineto(out)["json"]
        ka, kb = key_events(a), key_events(b)
        self.assertEqual(sum(n for k, n in ka.items() if k[0] == "kernel"), 800)
        self.assertEqual(sum(ka.values()), 3002)
        self.assertEqual(ka, kb)
        # ts/dur strings survive byte for byte (exact ns conversion, three decimals).
        for e in b["traceEvents"][:200]:
            if e.get("cat") == "kernel":
                self.assertIn('"ts": %.3f, "dur": %.3f' % (e["ts"], e["dur"]), raw)
        # Kernel args in Kineto's order, the derived ones kept as metadata.
        k0 = next(e for e in b["traceEvents"] if e.get("cat") == "kernel")
        k0a = next(e for e in a["traceEvents"] if e.get("cat") == "kernel")
        self.assertEqual(list(k0["args"].items()), list(k0a["args"].items()))
        self.assertEqual(b["deviceProperties"][0]["name"], "NVIDIA H200")
        self.assertEqual(b["baseTimeNanoseconds"], a["baseTimeNanoseconds"])
        # ac2g flows: one per kernel whose launch is in the trace.
        fa = sum(1 for e in b["traceEvents"] if e.get("ph") == "f")
        self.assertGreaterEqual(fa, 798)

    def test_info_after_import(self):
        sbt = scratch("fix2.sbt")
        self.assertEqual(run("import", FIXTURE, "-o", sbt, "-q").rc, 0)
        r = run("view", sbt, "--kind", "dropped", "--format", "json")
        self.assertEqual(r.rc, 0, r)
        d = json.loads(r.out)
        self.assertEqual(len(d), 1)
        self.assertEqual(d[0]["args"]["count"], 3)


class TestRoundTrip(CliTest):
    def test_sbt_kineto_sbt_identical_events(self):
        for preset in ("train", "multigpu", "tiny"):
            with self.subTest(preset=preset):
                src = record("rt-%s.sbt" % preset, "--simulate=" + preset, events=8000)
                js = scratch("rt-%s.pt.trace.json" % preset)
                back = scratch("rt-%s-back.sbt" % preset)
                self.assertEqual(run("export", src, "-o", js, "-q").rc, 0)
                json_check.check_kineto(js)
                r = run("import", js, "-o", back, "-q")
                self.assertEqual(r.rc, 0, r)
                a, b = view_events(src), view_events(back)
                self.assertEqual(len(a), len(b))
                for x, y in zip(a, b):
                    self.assertEqual(x, y)

    def test_processes_defined_after_the_events(self):
        # an import writes its processes (names, rank) at the end, after several blocks of
        # events: the exports name them from the first event on
        src = record("rt-big.sbt", events=40000)
        js = scratch("rt-big.pt.trace.json")
        back = scratch("rt-big-back.sbt")
        self.assertEqual(run("export", src, "-o", js, "-q").rc, 0)
        self.assertEqual(run("import", js, "-o", back, "-q").rc, 0)
        for t in ("1", "2"):
            out = scratch("rt-big-back-%s.json" % t)
            self.assertEqual(run("export", back, "-o", out, "-q", env={"TSM_THREADS": t}).rc, 0)
            names = [e["args"]["name"] for e in json_check.check_chrome(out)["json"]["traceEvents"]
                     if e.get("ph") == "M" and e["name"] == "process_name"]
            self.assertIn("python3 (rank 0)", names)
            self.assertNotIn("process", names)
            self.assertNotIn("GPU 0: NVIDIA H100 80GB HBM3", names)  # only "rank 0 GPU 0: ..."

    def test_gzip_and_array_form(self):
        src = record("rt-tiny.sbt", "--simulate=tiny", events=8000)
        gz = scratch("rt.pt.trace.json.gz")
        self.assertEqual(run("export", src, "-o", gz, "-q").rc, 0)
        back = scratch("rt-gz.sbt")
        self.assertEqual(run("import", gz, "-o", back, "-q").rc, 0)
        self.assertEqual(view_events(src), view_events(back))
        arr = scratch("arr.json")
        with open(arr, "w") as f:
            json.dump([{"ph": "X", "cat": "kernel", "name": "k", "pid": 0, "tid": 7,
                        "ts": 1.5, "dur": 2.25, "args": {"correlation": 5, "grid": [2, 1, 1]}},
                       {"ph": "B", "name": "b", "pid": 1, "tid": 1, "ts": 1},
                       {"ph": "X", "name": "span", "pid": "Spans", "tid": 1, "ts": 1, "dur": 1}],
                      f)
        r = run("import", arr, "-o", scratch("arr.sbt"))
        self.assertEqual(r.rc, 0, r)
        self.assertIn("1 records not mapped", r.err)  # the string pid; the open B is kept
        ev = json.loads(run("view", scratch("arr.sbt"), "--format", "json").out)
        k = [e for e in ev if e["kind"] == "kernel"][0]
        self.assertEqual((k["start_ns"], k["dur_ns"], k["correlation"]), (1500, 2250, 5))


class TestDurationEvents(CliTest):
    """Chrome B/E records: paired per thread into complete events."""

    def test_pairs_nesting_args_and_unfinished(self):
        src = scratch("be.json")
        recs = [
            {"ph": "B", "name": "outer", "cat": "app", "pid": 7, "tid": 1, "ts": 10, "args": {"a": 1}},
            {"ph": "B", "name": "inner", "pid": 7, "tid": 1, "ts": 12.5},
            {"ph": "B", "name": "other thread", "pid": 7, "tid": 2, "ts": 13},
            {"ph": "E", "pid": 7, "tid": 1, "ts": 15, "args": {"result": "ok", "a": 2}},
            {"ph": "X", "name": "complete", "pid": 7, "tid": 1, "ts": 16, "dur": 1},
            {"ph": "E", "pid": 7, "tid": 1, "ts": 20},
            {"ph": "E", "pid": 7, "tid": 3, "ts": 21},
            {"ph": "B", "name": "late", "pid": 7, "tid": 1, "ts": 25},
            {"ph": "E", "pid": 7, "tid": 1, "ts": 24},
            {"ph": "B", "name": "never ends", "pid": 7, "tid": 1, "ts": 26},
            {"ph": "X", "name": "last", "pid": 7, "tid": 2, "ts": 30, "dur": 5},
        ]
        with open(src, "w") as f:
            json.dump({"traceEvents": recs}, f)
        out = scratch("be.sbt")
        r = run("import", src, "-o", out)
        self.assertEqual(r.rc, 0, r)
        # the E without a B, and the pair whose E comes before its B (both records)
        self.assertIn("3 records not mapped", r.err)
        ev = json.loads(run("view", out, "--format", "json").out)
        got = {e["name"]: e for e in ev if e["kind"] == "cpu_op"}
        self.assertEqual(sorted(got), ["complete", "inner", "last", "never ends", "other thread",
                                       "outer"])
        span = {n: (e["start_ns"], e["dur_ns"]) for n, e in got.items()}
        self.assertEqual(span["outer"], (10000, 10000))
        self.assertEqual(span["inner"], (12500, 2500))
        # still open at the end: to the latest time seen (35 us), marked unfinished
        self.assertEqual(span["other thread"], (13000, 22000))
        self.assertEqual(span["never ends"], (26000, 9000))
        meta = {n: e.get("meta", {}) for n, e in got.items()}
        self.assertEqual(meta["inner"].get("result"), "ok")  # the E's args join the B's
        self.assertEqual(meta["inner"].get("a"), 2)
        self.assertEqual(meta["outer"].get("a"), 1)
        self.assertEqual(meta["never ends"].get("unfinished"), 1)
        self.assertNotIn("unfinished", meta["outer"])
        # through the Chrome export: nested complete events on thread 1
        js = scratch("be-out.json")
        self.assertEqual(run("export", out, "-o", js, "-q").rc, 0)
        json_check.check_chrome(js)


def import_json(recs, name):
    """Write recs as {"traceEvents": recs}, import it; (result, sbt path)."""
    src = scratch(name + ".json")
    with open(src, "w") as f:
        json.dump({"traceEvents": recs}, f)
    out = scratch(name + ".sbt")
    return run("import", src, "-o", out), out


def chrome_arrows(sbt):
    """Export sbt to Chrome JSON; its explicit flow arrows as (from slice, to slice) names, the
    slices found by the pid, tid and ts of the s and f records."""
    js = sbt[:-4] + "-out.json"
    r = run("export", sbt, "-o", js, "-q")
    if r.rc != 0:
        raise AssertionError(r)
    evs = json_check.check_chrome(js)["json"]["traceEvents"]
    at = {(e["pid"], e["tid"], e["ts"]): e["name"] for e in evs if e.get("ph") == "X"}
    out, start = [], None
    for e in evs:
        if e.get("ph") == "s" and e["cat"] == "sync":
            start = e
        elif e.get("ph") == "f" and e["cat"] == "sync":
            # the exporter writes each pair together: s, then its f
            assert start is not None and start["id"] == e["id"], (start, e)
            out.append((at[(start["pid"], start["tid"], start["ts"])],
                        at[(e["pid"], e["tid"], e["ts"])]))
            start = None
    return sorted(out)


def flows_of(sbt):
    """name -> (flow_type, flow_id) of the events with a flow."""
    ev = json.loads(run("view", sbt, "--format", "json").out)
    return {e["name"]: (e["flow_type"], e["flow_id"]) for e in ev if e.get("flow_type")}


def drop_reasons(sbt):
    r = run("view", sbt, "--kind", "dropped", "--format", "json")
    d = json.loads(r.out)
    return d[0]["meta"] if d else {}


class TestFlows(CliTest):
    """Generic Chrome flow records (s / t / f outside ac2g) bound to slices."""

    def test_our_chrome_export_round_trips_its_flows(self):
        # Our Chrome JSON carries each explicit flow in the event's args ("flow id", "flow
        # type") and as s/f records written once the flow ends (the "s" maybe long after its
        # slice; sync flows join instants): the records repeat the args, nothing is dropped.
        src = record("imp-flows.sbt", events=60000)
        js = scratch("imp-flows.json")
        self.assertEqual(run("export", src, "-o", js, "-q").rc, 0)
        back = scratch("imp-flows-back.sbt")
        r = run("import", js, "-o", back)
        self.assertEqual(r.rc, 0, r)
        self.assertIn(" 0 records not mapped", r.err)

        def explicit(sbt):
            ev = json.loads(run("view", sbt, "--format", "json").out)
            return sorted((e["flow_type"], e["flow_id"], e["start_ns"]) for e in ev
                          if e.get("flow_type"))

        want = explicit(src)
        self.assertGreater(len(want), 10)
        self.assertEqual(explicit(back), want)

    def test_generic_flows_become_arrows(self):
        recs = [
            {"ph": "X", "cat": "app", "name": "send", "pid": 1, "tid": 1, "ts": 10, "dur": 5},
            {"ph": "s", "cat": "net", "name": "msg", "id": 1, "pid": 1, "tid": 1, "ts": 12},
            # an f without bp binds to the next slice of its thread starting at or after its
            # ts: not the instant, not "early" (starts before), but "later"
            {"ph": "f", "cat": "net", "name": "msg2", "id": "0x1a", "pid": 1, "tid": 3, "ts": 40},
            {"ph": "i", "cat": "app", "name": "mark", "pid": 1, "tid": 3, "ts": 41, "s": "t"},
            {"ph": "X", "cat": "app", "name": "early", "pid": 1, "tid": 3, "ts": 39, "dur": 1},
            {"ph": "X", "cat": "app", "name": "send2", "pid": 1, "tid": 1, "ts": 20, "dur": 5},
            {"ph": "s", "cat": "net", "name": "msg2", "id": 26, "pid": 1, "tid": 1, "ts": 21},
            {"ph": "X", "cat": "app", "name": "recv", "pid": 1, "tid": 2, "ts": 30, "dur": 5},
            {"ph": "f", "cat": "net", "name": "msg", "id": 1, "pid": 1, "tid": 2, "ts": 31,
             "bp": "e"},
            {"ph": "X", "cat": "app", "name": "later", "pid": 1, "tid": 3, "ts": 45, "dur": 2},
            # nested: the s comes after a child that ended; it binds to the enclosing parent
            {"ph": "X", "cat": "app", "name": "outer", "pid": 1, "tid": 4, "ts": 50, "dur": 20},
            {"ph": "X", "cat": "app", "name": "inner", "pid": 1, "tid": 4, "ts": 52, "dur": 2},
            {"ph": "s", "cat": "net", "name": "chain", "id": "chain-7", "pid": 1, "tid": 4,
             "ts": 60},
            {"ph": "X", "cat": "app", "name": "middle", "pid": 1, "tid": 6, "ts": 72, "dur": 3},
            {"ph": "t", "cat": "net", "name": "chain", "id": "chain-7", "pid": 1, "tid": 6,
             "ts": 73},
            {"ph": "X", "cat": "app", "name": "last", "pid": 1, "tid": 5, "ts": 80, "dur": 5},
            {"ph": "f", "cat": "net", "name": "chain", "id": "chain-7", "pid": 1, "tid": 5,
             "ts": 80, "bp": "e"},
        ]
        r, sbt = import_json(recs, "flows")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("7 other flows bound", r.err)
        self.assertIn("0 records not mapped", r.err)
        f = flows_of(sbt)
        self.assertEqual(f["send"], (1, 1))  # start
        self.assertEqual(f["recv"], (2, 1))  # end
        self.assertEqual(f["send2"], (1, 26))  # "0x1a" is 26
        self.assertEqual(f["later"], (2, 26))
        self.assertEqual(f["outer"][0], 1)
        self.assertEqual(f["middle"], (3, f["outer"][1]))  # step
        self.assertEqual(f["last"], (2, f["outer"][1]))
        self.assertGreaterEqual(f["outer"][1], 1 << 63)  # a hashed string id
        self.assertEqual(sorted(f), ["last", "later", "middle", "outer", "recv", "send", "send2"])
        self.assertEqual(chrome_arrows(sbt), [("middle", "last"), ("outer", "middle"),
                                              ("send", "recv"), ("send2", "later")])

    def test_torch_fwdbwd(self):
        # torch.profiler: each fwdbwd record right after its op, with the op's ts, pid and tid
        # (the backward op runs on the autograd thread); "f" with "bp": "e"
        recs = [
            {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": 100,
             "tid": 100, "ts": 5.0, "dur": 100.0},
            {"ph": "X", "cat": "cpu_op", "name": "aten::mul", "pid": 100, "tid": 100,
             "ts": 10.0, "dur": 5.0, "args": {"External id": 3, "Sequence number": 7}},
            {"ph": "s", "id": 1, "pid": 100, "tid": 100, "ts": 10.0, "cat": "fwdbwd",
             "name": "fwdbwd"},
            {"ph": "X", "cat": "cpu_op", "name": "aten::empty", "pid": 100, "tid": 100,
             "ts": 10.5, "dur": 1.0},
            {"ph": "X", "cat": "cpu_op", "name": "MulBackward0", "pid": 100, "tid": 200,
             "ts": 50.0, "dur": 3.0, "args": {"Sequence number": 7, "Fwd thread id": 1}},
            {"ph": "f", "id": 1, "pid": 100, "tid": 200, "ts": 50.0, "cat": "fwdbwd",
             "name": "fwdbwd", "bp": "e"},
        ]
        r, sbt = import_json(recs, "fwdbwd")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("2 other flows bound", r.err)
        self.assertIn("0 records not mapped", r.err)
        # the op, not the step that also encloses its ts
        self.assertEqual(flows_of(sbt), {"aten::mul": (1, 1), "MulBackward0": (2, 1)})
        self.assertEqual(chrome_arrows(sbt), [("aten::mul", "MulBackward0")])
        # and through Kineto JSON (as "flow id" / "flow type" args) back to the same events
        kj = scratch("fwdbwd.pt.trace.json")
        self.assertEqual(run("export", sbt, "-o", kj, "-q").rc, 0)
        json_check.check_kineto(kj)
        back = scratch("fwdbwd-back.sbt")
        self.assertEqual(run("import", kj, "-o", back, "-q").rc, 0)
        self.assertEqual(view_events(sbt), view_events(back))

    def test_duration_events_take_flows(self):
        # the s comes while its B is open; the f (no bp) waits for the next B
        recs = [
            {"ph": "B", "name": "task", "pid": 2, "tid": 1, "ts": 10},
            {"ph": "X", "name": "child", "pid": 2, "tid": 1, "ts": 11, "dur": 1},
            {"ph": "s", "cat": "q", "id": 5, "pid": 2, "tid": 1, "ts": 13},
            {"ph": "E", "pid": 2, "tid": 1, "ts": 20},
            {"ph": "f", "cat": "q", "id": 5, "pid": 2, "tid": 2, "ts": 25},
            {"ph": "B", "name": "run", "pid": 2, "tid": 2, "ts": 30},
            {"ph": "X", "name": "run child", "pid": 2, "tid": 2, "ts": 31, "dur": 1},
            {"ph": "E", "pid": 2, "tid": 2, "ts": 40},
        ]
        r, sbt = import_json(recs, "be-flows")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("2 other flows bound", r.err)
        self.assertEqual(flows_of(sbt), {"task": (1, 5), "run": (2, 5)})
        self.assertEqual(chrome_arrows(sbt), [("task", "run")])

    def test_id_forms(self):
        # a string of digits is that number; id2 local/global; Chrome's bind_id with
        # flow_out / flow_in on the slices themselves
        recs = [
            {"ph": "X", "name": "a", "pid": 3, "tid": 1, "ts": 1, "dur": 2},
            {"ph": "s", "cat": "c", "id": "42", "pid": 3, "tid": 1, "ts": 1},
            {"ph": "X", "name": "b", "pid": 3, "tid": 2, "ts": 5, "dur": 2},
            {"ph": "f", "cat": "c", "id": 42, "pid": 3, "tid": 2, "ts": 6, "bp": "e"},
            {"ph": "X", "name": "c", "pid": 3, "tid": 1, "ts": 10, "dur": 2},
            {"ph": "s", "cat": "c", "id2": {"local": "0x2"}, "pid": 3, "tid": 1, "ts": 11},
            {"ph": "X", "name": "d", "pid": 3, "tid": 2, "ts": 15, "dur": 2},
            {"ph": "f", "cat": "c", "id2": {"global": 2}, "pid": 3, "tid": 2, "ts": 15,
             "bp": "e"},
            {"ph": "X", "name": "e", "pid": 3, "tid": 1, "ts": 20, "dur": 2,
             "bind_id": "0xff", "flow_out": True},
            {"ph": "B", "name": "f", "pid": 3, "tid": 2, "ts": 25, "bind_id": "0xff",
             "flow_in": True},
            {"ph": "E", "pid": 3, "tid": 2, "ts": 27},
        ]
        r, sbt = import_json(recs, "flow-ids")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("6 other flows bound", r.err)
        self.assertEqual(flows_of(sbt), {"a": (1, 42), "b": (2, 42), "c": (1, 2), "d": (2, 2),
                                         "e": (1, 255), "f": (2, 255)})
        self.assertEqual(chrome_arrows(sbt), [("a", "b"), ("c", "d"), ("e", "f")])

    def test_unbindable_flows_are_counted(self):
        recs = [
            {"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": 10, "dur": 5},
            {"ph": "s", "cat": "c", "id": 1, "pid": 1, "tid": 1, "ts": 11},
            {"ph": "s", "cat": "c", "id": 2, "pid": 1, "tid": 1, "ts": 12},  # a has a flow
            {"ph": "s", "cat": "c", "id": 3, "pid": 1, "tid": 1, "ts": 16},  # after a ends
            {"ph": "s", "cat": "c", "id": 4, "pid": 1, "tid": 9, "ts": 11},  # no such thread
            {"ph": "t", "cat": "c", "pid": 1, "tid": 1, "ts": 11},  # no id
            {"ph": "s", "cat": "c", "id": 0, "pid": 1, "tid": 1, "ts": 11},  # id 0
            {"ph": "s", "cat": "c", "id": 7, "pid": "p", "tid": 1, "ts": 11},
            {"ph": "f", "cat": "c", "id": 1, "pid": 1, "tid": 2, "ts": 50},  # no later slice
            {"ph": "X", "name": "b", "pid": 1, "tid": 2, "ts": 40, "dur": 5},  # starts before
            {"ph": "X", "name": "slice", "pid": 1, "tid": 3, "ts": 100, "dur": 1},
        ]
        # more events than the importer holds come between this slice and its flow record
        recs += [{"ph": "X", "name": "filler", "pid": 1, "tid": 4, "ts": 100 + i, "dur": 1}
                 for i in range(5000)]
        recs.append({"ph": "s", "cat": "c", "id": 8, "pid": 1, "tid": 3, "ts": 100})
        r, sbt = import_json(recs, "flow-drops")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("1 other flows bound", r.err)
        self.assertIn("8 records not mapped", r.err)
        self.assertEqual(drop_reasons(sbt), {
            "flow record on a slice that has a flow": 1,
            "flow record with no enclosing slice": 3,
            "flow record without an id": 1,
            "flow record with id 0": 1,
            "flow record whose pid is not a number": 1,
            "flow end (no bp) with no later slice": 1,
        })
        self.assertEqual(flows_of(sbt), {"a": (1, 1)})
        self.assertEqual(chrome_arrows(sbt), [])  # a start without its end draws nothing


def stacks_of(sbt):
    """Each event's stack as a tuple of (function, module, file, line, pc) frames, innermost
    first, keyed by (start_ns, name); the pc only where there is no function (the Chrome
    name of a frame holds one or the other)."""
    r = run("view", sbt, "--format", "json", "--no-demangle")
    if r.rc != 0:
        raise AssertionError(r)
    out = collections.Counter()
    for e in json.loads(r.out):
        if e.get("stack"):
            out[(e["start_ns"], e.get("name"), tuple(
                (f["function"], f["module"], f["file"], f["line"],
                 None if f["function"] else f["pc"]) for f in e["stack"]))] += 1
    return out


class TestStacks(CliTest):
    """Host call stacks: "stackFrames" (before "traceEvents") and each event's "sf"."""

    def test_chrome_round_trip_keeps_stacks(self):
        # the simulated API calls carry stacks; the golden file has a frame without a shared
        # object ("[unknown]") and frames without a file
        golden = os.path.join(SRC, "tests", "golden", "all-kinds.sbt")
        for name, src in (("train", record("stk-train.sbt", events=20000)),
                          ("golden", golden)):
            with self.subTest(src=name):
                js = scratch("stk-%s.json" % name)
                back = scratch("stk-%s-back.sbt" % name)
                self.assertEqual(run("export", src, "-o", js, "-q").rc, 0)
                d = json_check.check_chrome(js)["json"]
                keys = list(d.keys())
                self.assertLess(keys.index("stackFrames"), keys.index("traceEvents"))
                r = run("import", js, "-o", back)
                self.assertEqual(r.rc, 0, r)
                self.assertIn(" 0 records not mapped", r.err)
                want = stacks_of(src)
                self.assertGreater(sum(want.values()), 1 if name == "golden" else 1000)
                self.assertEqual(stacks_of(back), want)

    def test_generic_stack_frames(self):
        # stackFrames first, entries in any order (a parent after its child), numeric and
        # string ids, names without "(file:line)", a pc name, an "sf" that names no entry
        doc = {
            "stackFrames": {
                "3": {"parent": 2, "category": "libapp.so", "name": "leaf"},
                "1": {"category": "[unknown]", "name": "main"},
                "2": {"parent": "1", "name": "Foo::run(int) (foo.cc:42)"},
                "4": {"parent": "1", "name": "0x7f00beef"},
                "5": {"parent": "9", "name": "orphan"},
            },
            "traceEvents": [
                {"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": 10, "dur": 5, "sf": "3"},
                {"ph": "X", "name": "b", "pid": 1, "tid": 1, "ts": 20, "dur": 5, "sf": 3},
                {"ph": "i", "name": "c", "pid": 1, "tid": 1, "ts": 30, "s": "t", "sf": "4"},
                {"ph": "B", "name": "d", "pid": 1, "tid": 2, "ts": 40, "sf": 5},
                {"ph": "E", "pid": 1, "tid": 2, "ts": 45},
                {"ph": "X", "name": "e", "pid": 1, "tid": 1, "ts": 50, "dur": 5, "sf": "77"},
            ],
        }
        src = scratch("stk-generic.json")
        with open(src, "w") as f:
            json.dump(doc, f)
        sbt = scratch("stk-generic.sbt")
        r = run("import", src, "-o", sbt)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("1 records not mapped", r.err)
        self.assertEqual(drop_reasons(sbt),
                         {"sf names no stackFrames entry seen before the event": 1})
        three = (("leaf", "libapp.so", "", 0, None), ("Foo::run(int)", "", "foo.cc", 42, None),
                 ("main", "", "", 0, None))
        self.assertEqual(stacks_of(sbt), collections.Counter({
            (10000, "a", three): 1,
            (20000, "b", three): 1,
            (30000, "c", (("", "", "", 0, 0x7f00beef), ("main", "", "", 0, None))): 1,
            (40000, "d", (("orphan", "", "", 0, None),)): 1,  # its parent names no entry
        }))
        ev = json.loads(run("view", sbt, "--format", "json").out)
        self.assertNotIn("stack", [e for e in ev if e.get("name") == "e"][0])

    def test_stack_frames_after_the_events(self):
        # Chrome's order: a file is imported again with the frames known from the start; from
        # standard input they come too late and are not applied
        doc = ('{"traceEvents": [{"ph": "X", "name": "a", "pid": 1, "tid": 1, "ts": 1, '
               '"dur": 1, "sf": "2"}, {"ph": "X", "name": "b", "pid": 1, "tid": 1, "ts": 3, '
               '"dur": 1, "sf": "9"}], "stackFrames": {"2": {"parent": "1", "name": "f (a.c:7)"},'
               ' "1": {"name": "main"}}}')
        src = scratch("stk-late.json")
        with open(src, "w") as f:
            f.write(doc)
        missing = {"sf names no stackFrames entry seen before the event": 1}
        sbt = scratch("stk-late.sbt")
        r = run("import", src, "-o", sbt)
        self.assertEqual(r.rc, 0, r)
        # the second run's summary: b's "9" names no entry
        self.assertIn("imported 2 events from 2 records", r.err)
        self.assertIn(" 1 records not mapped", r.err)
        self.assertEqual(drop_reasons(sbt), missing)  # b's "9"
        self.assertEqual(stacks_of(sbt), collections.Counter({
            (1000, "a", (("f", "", "a.c", 7, None), ("main", "", "", 0, None))): 1}))
        with open(src, "rb") as f:
            r = run("import", "-", "-o", sbt, stdin=f.read())
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(drop_reasons(sbt), {k: 2 for k in missing})
        self.assertEqual(stacks_of(sbt), collections.Counter())

    def test_chrome_from_a_pipe_keeps_stacks(self):
        # export reading a pipe writes stackFrames after traceEvents; the import gets them back
        src = record("stk-train.sbt", events=20000)
        js = scratch("stk-pipe.json")
        back = scratch("stk-pipe-back.sbt")
        with open(src, "rb") as f:
            r = run("export", "-", "--format", "chrome", "-o", js, "-q", stdin=f.read())
        self.assertEqual(r.rc, 0, r)
        keys = list(json_check.check_chrome(js)["json"].keys())
        self.assertGreater(keys.index("stackFrames"), keys.index("traceEvents"))
        r = run("import", js, "-o", back)
        self.assertEqual(r.rc, 0, r)
        self.assertIn(" 0 records not mapped", r.err)
        want = stacks_of(src)
        self.assertGreater(sum(want.values()), 1000)
        self.assertEqual(stacks_of(back), want)


class TestBadInput(CliTest):
    CASES = [
        ("truncated", b'{"traceEvents": [{"ph": "X", "cat": "kernel", "name": "k", "ts": 1'),
        ("not-json", b"\x00\x01 hello"),
        ("wrong-type", b'{"traceEvents": {"ph": "X"}}'),
        ("ts-string", b'{"traceEvents": [{"ph": "X", "pid": 1, "tid": 1, "ts": "soon"}]}'),
        ("huge-number", b'{"traceEvents": [{"ph": "X", "pid": 1, "tid": 1, "ts": 1e400}]}'),
        ("huge-pid", b'{"traceEvents": [{"ph": "X", "pid": 123456789012345678901234567890,'
                     b' "tid": 1, "ts": 1}]}'),
        ("deep", b'{"traceEvents": [{"args": {"a": ' + b"[" * 100000 + b"]" * 100000 + b"}}]}"),
        ("bad-escape", b'{"traceEvents": [{"name": "\\q"}]}'),
        ("trailing", b'{"traceEvents": []} {}'),
        ("empty", b""),
        ("bad-gzip", b"\x1f\x8b\x08\x00garbage-garbage-garbage"),
        ("frames-not-object", b'{"stackFrames": [1], "traceEvents": []}'),
        ("frame-not-object", b'{"stackFrames": {"1": "main"}, "traceEvents": []}'),
        ("frame-parent-type", b'{"stackFrames": {"1": {"name": "f", "parent": [2]}}}'),
        ("frame-cycle", b'{"stackFrames": {"1": {"name": "f", "parent": "2"}, '
                        b'"2": {"name": "g", "parent": 1}}, "traceEvents": []}'),
        ("frame-self", b'{"stackFrames": {"1": {"name": "f", "parent": "1"}}}'),
        ("frames-truncated", b'{"stackFrames": {"1": {"name": "f", "parent": "0"'),
    ]

    def test_bad_inputs_fail_cleanly(self):
        for name, data in self.CASES:
            with self.subTest(case=name):
                path = scratch("bad-%s.json" % name)
                with open(path, "wb") as f:
                    f.write(data)
                r = run("import", path, "-o", scratch("bad.sbt"))
                self.assertEqual(r.rc, 1, r)
                lines = r.err.splitlines()
                self.assertEqual(len(lines), 1, r)
                self.assertTrue(lines[0].startswith("tracesmith: %s: " % path), r)
                if name not in ("empty",):
                    self.assertRegex(lines[0], r"\(offset \d+\)$")

    def test_usage(self):
        self.assertUsageError(run("import"), "import")
        self.assertUsageError(run("import", "-", "--zstd=99"), "import")


if __name__ == "__main__":
    unittest.main(verbosity=2)
