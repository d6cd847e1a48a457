# SPDX-License-Identifier: Apache-2.0
"""The tracesmith Python package, through the installed module.

setUpModule installs ./python with pip into $TSM_PY_SCRATCH/site and imports it from
there. Then every public function runs on simulated traces and on the Kineto fixture
(../shared/fixtures/kineto, skipped with a message when absent), bad arguments must
raise clean exceptions, and RSS must stay flat over repeated open/close.
"""
import array
import gc
import gzip
import json
import os
import shutil
import sys
import threading
import unittest
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyenv_util  # noqa: E402

ts = None
np = None
SCR = os.path.join(pyenv_util.SCRATCH, "work")
FIXTURE = os.path.join(pyenv_util.SOURCE, "..", "shared", "fixtures", "kineto",
                       "h200-matmul-relu.json.gz")
NUMPY_SKIP = "numpy is not installed for %s: numpy parts skipped (memoryview/array cover " \
             "the buffer protocol)" % sys.executable


def setUpModule():
    global ts, np
    target = os.path.join(pyenv_util.SCRATCH, "site")
    pyenv_util.pip_install(os.path.join(pyenv_util.SOURCE, "python"), target)
    ts = pyenv_util.import_installed(target)
    try:
        import numpy
        np = numpy
    except ImportError:
        sys.stderr.write("test_binding: " + NUMPY_SKIP + "\n")
    shutil.rmtree(SCR, ignore_errors=True)
    os.makedirs(SCR)


def scratch(name):
    return os.path.join(SCR, name)


def sim(name="train.sbt", preset="train", n=20000, **kw):
    path = scratch(name)
    ts.simulate(path, preset=preset, max_events=n, **kw)
    return path


class Simulated(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = sim()
        cls.t = ts.open(cls.path)
        cls.records = cls.t.to_records()

    @classmethod
    def tearDownClass(cls):
        cls.t.close()

    def test_capture_trace_names_of_the_original_api(self):
        events = ts.capture_trace(duration_ms=None, preset="tiny")
        self.assertIsInstance(events, ts.Trace)
        self.assertEqual(len(events), 96)
        tl = ts.build_timeline(events)
        self.assertGreater(tl.gpu_utilization, 0.0)
        self.assertLessEqual(tl.gpu_utilization, 1.0)
        self.assertGreaterEqual(tl.max_concurrent_ops, 1)
        out = scratch("capture.pftrace")
        st = ts.export_perfetto(events, out)
        self.assertEqual(st["events_written"], 96)
        self.assertGreater(os.path.getsize(out), 1000)
        w = ts.SBTWriter(scratch("capture-copy.sbt"))
        self.assertEqual(w.write_events(events), 96)
        self.assertEqual(w.finalize()["events"], 96)
        tmp = events.path
        events.close()
        self.assertFalse(os.path.exists(tmp), "temporary capture not deleted on close")
        self.assertEqual(len(ts.capture_trace(preset="tiny", max_events=10)), 10)
        short = ts.capture_trace(duration_ms=2, preset="tiny")
        self.assertTrue(0 < len(short) < 96, len(short))

    def test_info_devices_processes_metadata(self):
        info = self.t.info
        self.assertEqual(info["clock"], "simulated")
        self.assertTrue(info["has_index"])
        self.assertEqual(info["indexed_events"], 20000)
        self.assertEqual(len(self.t), 20000)
        self.assertEqual(len(self.records), 20000)
        devs = self.t.devices
        self.assertEqual([d["id"] for d in devs], [0, 1])
        self.assertIn("H100", devs[0]["name"])
        self.assertEqual(self.t.metadata["backend"], "sim")
        self.assertEqual(len(self.t.processes), 2)
        self.assertIn("20000 events", repr(self.t))

    def test_iteration_with_filters_matches_records(self):
        for kw, pred in [
            ({"kind": "kernel"}, lambda r: r["kind"] == "kernel"),
            ({"kind": ["memcpy", "memset"]}, lambda r: r["kind"] in ("memcpy", "memset")),
            ({"device": 1}, lambda r: r["device"] == 1),
            ({"kind": "kernel", "stream": 7}, lambda r: r["kind"] == "kernel" and r["stream"] == 7),
        ]:
            got = [e.to_dict() for e in self.t.events(**kw)]
            want = [r for r in self.records if pred(r)]
            self.assertEqual(got, want, kw)
            self.assertGreater(len(got), 0, kw)
        mid = self.records[len(self.records) // 2]
        lo, hi = mid["start_ns"], mid["start_ns"] + 2000000
        got = Counter((e.start_ns, e.name) for e in self.t.events(start_ns=lo, end_ns=hi))
        want = Counter((r["start_ns"], r["name"]) for r in self.records
                       if r["end_ns"] >= lo and r["start_ns"] <= hi)
        self.assertEqual(got, want)
        self.assertEqual(sum(1 for _ in self.t), 20000)

    def test_event_fields(self):
        k = next(self.t.events(kind="kernel"))
        self.assertEqual(k.kind, "kernel")
        self.assertEqual(len(k.grid), 3)
        self.assertEqual(k.dur_ns, k.end_ns - k.start_ns)
        self.assertIsNone(k.bytes)
        self.assertTrue(k.demangled_name)
        self.assertIn("kernel", repr(k))
        c = next(self.t.events(kind="memcpy"))
        self.assertIn(c.copy_kind, ("HtoD", "DtoH", "DtoD", "PtoP", "HtoH"))
        self.assertGreater(c.bytes, 0)
        api = next(self.t.events(kind="runtime"))
        self.assertIsNone(api.device)
        self.assertGreater(api.cbid, 0)
        self.assertEqual(ts.demangle("_Z3foov"), "foo()")

    def test_columns_zero_copy_and_consistent(self):
        k = self.t.kernels()
        kev = [r for r in self.records if r["kind"] == "kernel"]
        self.assertEqual(len(k), len(kev))
        self.assertEqual(k.event_kind, "kernel")
        self.assertEqual(set(k.kind), {1})
        self.assertIn("grid", k.fields)
        dur = k.dur_ns
        self.assertIsInstance(dur, memoryview)
        self.assertEqual((dur.format, dur.itemsize, dur.readonly), ("Q", 8, True))
        self.assertEqual(sum(dur), sum(r["dur_ns"] for r in kev))
        self.assertEqual(k.names, [r["name"] for r in kev])
        self.assertEqual(list(k.start_ns), [r["start_ns"] for r in kev])
        self.assertEqual(list(k.stream), [r["stream"] for r in kev])
        self.assertEqual(list(k.correlation), [r["correlation"] for r in kev])
        self.assertEqual(k.grid.shape, (len(kev), 3))
        self.assertEqual([tuple(g) for g in k.grid.tolist()], [r["grid"] for r in kev])
        self.assertEqual(list(k.grid_y), [r["grid"][1] for r in kev])
        self.assertEqual(k[0]["name"], kev[0]["name"])
        self.assertEqual(k[-1]["start_ns"], kev[-1]["start_ns"])
        self.assertEqual(k.string(k.name[0]), kev[0]["name"])
        self.assertEqual(len(k.to_records()), len(kev))
        # array.array copies through the buffer protocol: same values
        self.assertEqual(array.array("Q", dur.tobytes()).tolist(), list(dur))
        with self.assertRaises(TypeError):
            dur[0] = 1
        with self.assertRaises(AttributeError):
            k.bytes  # memcpy-only column
        # columns of every kind add up to the trace
        total = sum(len(self.t.columns(kind=kind, fields=["start_ns"])) for kind in ts.event_kinds())
        self.assertEqual(total, 20000)
        allc = self.t.columns(fields=["kind", "dur_ns"])
        self.assertEqual(allc.fields, ("kind", "dur_ns"))
        self.assertEqual(len(allc), 20000)
        m = self.t.memcpys()
        self.assertEqual(sum(m.bytes), sum(r["bytes"] for r in self.records if r["kind"] == "memcpy"))
        # the view outlives its trace and the columns object
        t2 = ts.open(self.path)
        view = t2.kernels().dur_ns
        t2.close()
        gc.collect()
        self.assertEqual(sum(view), sum(dur))

    def test_numpy_zero_copy(self):
        if np is None:
            self.skipTest(NUMPY_SKIP)
        k = self.t.kernels()
        a = np.asarray(k.dur_ns)
        b = np.asarray(k.dur_ns)
        self.assertEqual(a.dtype, np.uint64)
        self.assertFalse(a.flags.owndata)
        self.assertEqual(a.__array_interface__["data"][0], b.__array_interface__["data"][0])
        self.assertEqual(int(a.sum()), sum(k.dur_ns))
        g = np.asarray(k.grid)
        self.assertEqual(g.shape, (len(k), 3))
        self.assertTrue((np.asarray(k.grid_x) == g[:, 0]).all())

    def test_threads_share_a_trace(self):
        results = []

        def work():
            results.append(sum(self.t.kernels(fields=["dur_ns"]).dur_ns))

        th = [threading.Thread(target=work) for _ in range(4)]
        for x in th:
            x.start()
        for x in th:
            x.join()
        self.assertEqual(len(set(results)), 1)
        self.assertEqual(len(results), 4)

    def test_writer_round_trip_of_a_trace(self):
        out = scratch("copy.sbt")
        with ts.SBTWriter(out, zstd_level=3 if "zstd" in ts.build_features() else 0) as w:
            self.assertEqual(w.write_events(self.t), 20000)
        with ts.open(out) as c:
            self.assertEqual(sorted(c.to_records(), key=_key), sorted(self.records, key=_key))
            self.assertEqual(c.devices, self.t.devices)
            self.assertEqual(c.metadata, self.t.metadata)
            self.assertEqual(c.processes, self.t.processes)

    def test_writer_events_from_python_and_iterators(self):
        out = scratch("py.sbt")
        w = ts.SBTWriter(out, clock="monotonic", producer="unit test")
        w.add_device(0, name="Test GPU", compute_capability=(9, 0), sm_count=132)
        w.add_metadata("who", "test")
        w.add_metadata("n", 3)
        w.write(ts.Event("kernel", name="my_kernel", start_ns=100, dur_ns=50, stream=3,
                         grid=(4, 2, 1), block=(256, 1, 1), args={"flops": 12, "tag": "x"}))
        w.write({"kind": "memcpy", "name": "copy", "start_ns": 200, "end_ns": 300,
                 "bytes": 4096, "copy_kind": "HtoD", "device": 0})
        w.write(ts.Event("counter", name="mem", start_ns=400, value=2.5))
        it = self.t.events(kind="kernel")
        self.assertEqual(w.write_events(e for e, _ in zip(it, range(10))), 10)
        st = w.finalize()
        self.assertEqual(st["events"], 13)
        self.assertEqual(w.finalize(), st)
        with self.assertRaises(ts.StateError):
            w.write(ts.Event("kernel", name="late"))
        with ts.open(out) as t:
            recs = t.to_records()
            self.assertEqual(t.info["clock"], "monotonic")
            self.assertEqual(t.info["producer"], "unit test")
            self.assertEqual(t.metadata, {"who": "test", "n": 3})
            self.assertEqual(t.devices[0]["name"], "Test GPU")
        mine = [r for r in recs if r["name"] == "my_kernel"][0]
        self.assertEqual((mine["grid"], mine["block"], mine["dur_ns"], mine["stream"]),
                         ((4, 2, 1), (256, 1, 1), 50, 3))
        self.assertEqual(mine["args"], {"flops": 12, "tag": "x"})
        cp = [r for r in recs if r["kind"] == "memcpy"][0]
        self.assertEqual((cp["bytes"], cp["copy_kind"]), (4096, "HtoD"))
        self.assertEqual([r["value"] for r in recs if r["kind"] == "counter"], [2.5])
        first = [r for r in self.records if r["kind"] == "kernel"][:10]
        self.assertEqual([r["name"] for r in recs if r["kind"] == "kernel" and
                          r["name"] != "my_kernel"], [r["name"] for r in first])

    def test_timeline_and_analysis(self):
        tl = ts.build_timeline(self.t)
        s = tl.summary
        self.assertEqual(s["events"], 20000)
        self.assertEqual(s["devices"], 2)
        self.assertEqual(tl.span_ns, s["last_ns"] - s["first_ns"])
        devs = tl.devices
        util = sum(d["busy_ns"] for d in devs) / (2 * tl.span_ns)
        self.assertAlmostEqual(tl.gpu_utilization, util)
        self.assertEqual(tl.max_concurrent_ops, max(d["max_concurrency"] for d in devs))
        self.assertTrue(any(l["type"] == "gpu" for l in tl.lanes))
        self.assertTrue(any(l["type"] == "host" for l in tl.lanes))
        bins = tl.busy_bins(device=0, bins=50)
        self.assertEqual(len(bins), 50)
        self.assertEqual(sum(bins), devs[0]["busy_ns"])
        cp = tl.critical_path
        self.assertGreater(len(cp["steps"]), 0)
        self.assertEqual(sum(x["end_ns"] - x["start_ns"] for x in cp["steps"]),
                         cp["end_ns"] - cp["start_ns"])
        node = tl.node(cp["steps"][-1]["node"])
        self.assertIn("name", node)
        self.assertIsInstance(tl.in_edges(node["node"]), list)
        a = tl.analyze(top_n=5)
        kev = [r for r in self.records if r["kind"] == "kernel"]
        self.assertEqual(sum(k["count"] for k in a.kernels), len(kev))
        self.assertEqual(sum(k["total_ns"] for k in a.kernels), sum(r["dur_ns"] for r in kev))
        self.assertEqual(a.totals["kernel_count"], len(kev))
        self.assertLessEqual(len(a.top_gaps), 5)
        self.assertGreater(a.launch_latency["count"], 0)
        self.assertTrue(a.apis and a.copies and a.gaps)
        text = a.report()
        self.assertIn("kernels", text)
        rep = json.loads(a.report("json"))
        self.assertIn("kernels", rep)
        only = json.loads(a.report("json", sections="kernels,apis"))
        self.assertTrue({"kernels", "apis"} <= set(only) < set(rep), sorted(only))
        self.assertIn("# kernels", a.report("csv", sections=["kernels"]))
        with self.assertRaises(ValueError):
            a.report("xml")
        with self.assertRaises(ValueError):
            a.report(sections=["nope"])
        a2 = ts.analyze(self.path)
        self.assertEqual(a2.kernels, a.kernels)
        tl2 = ts.build_timeline(list(self.t.events(kind=["kernel", "runtime"])))
        self.assertEqual(tl2.summary["events"],
                         sum(1 for r in self.records if r["kind"] in ("kernel", "runtime")))

    def test_exports(self):
        kev = sum(1 for r in self.records if r["kind"] == "kernel")
        st = ts.export_chrome(self.t, scratch("t.json"))
        with open(scratch("t.json")) as f:
            doc = json.load(f)
        self.assertEqual(st["events_read"], 20000)
        self.assertGreater(len(doc["traceEvents"]), 0)
        ts.export_kineto(self.path, scratch("t.pt.trace.json"))
        with open(scratch("t.pt.trace.json")) as f:
            doc = json.load(f)
        self.assertEqual(sum(1 for e in doc["traceEvents"] if e.get("cat") == "kernel"), kev)
        st = ts.export(self.t, scratch("k.pt.trace.json.gz"), kind="kernel", device=0, rank=0)
        with gzip.open(scratch("k.pt.trace.json.gz"), "rt") as f:
            doc = json.load(f)
        dev0 = sum(1 for r in self.records if r["kind"] == "kernel" and r["device"] == 0)
        self.assertEqual(sum(1 for e in doc["traceEvents"] if e.get("cat") == "kernel"), dev0)
        st = ts.export_perfetto(self.t, scratch("t.pftrace"))
        with open(scratch("t.pftrace"), "rb") as f:
            head = f.read(1)
        self.assertEqual(head, b"\x0a")  # Trace.packet, field 1, length-delimited
        self.assertEqual(st["events_written"], 20000)
        with self.assertRaises(ValueError):
            ts.export(self.t, scratch("t.unknown"))
        with self.assertRaises(ValueError):
            ts.export(self.t, scratch("t.json"), format="svg")


def _key(r):
    return (r["start_ns"], r["end_ns"], r["kind"], r["name"] or "", r["tid"], r["correlation"],
            r["stream"], r["device"] if r["device"] is not None else -1)


class KinetoFixture(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(FIXTURE):
            self.skipTest("%s is absent (../shared not next to the clone): Kineto fixture "
                          "tests skipped" % FIXTURE)

    def test_import_and_every_view(self):
        with gzip.open(FIXTURE, "rt") as f:
            src = json.load(f)
        kernels = [e for e in src["traceEvents"] if e.get("cat") == "kernel" and e.get("ph") == "X"]
        st = ts.import_trace(FIXTURE, scratch("fixture.sbt"))
        self.assertGreater(st["events"], 0)
        t = ts.import_trace(FIXTURE)
        self.assertEqual(t.info["clock"], "imported")
        k = t.kernels()
        self.assertEqual(len(k), len(kernels))
        self.assertEqual(Counter(k.names), Counter(e["name"] for e in kernels))
        self.assertEqual(sum(k.dur_ns),
                         sum(int(round(float(e["dur"]) * 1000)) for e in kernels))
        self.assertTrue(t.devices)
        recs = t.to_records(kind="kernel")
        self.assertTrue(all(r["correlation"] for r in recs))
        tl = ts.build_timeline(t)
        self.assertGreater(tl.summary["launched"], 0)
        a = tl.analyze()
        self.assertEqual(sum(x["count"] for x in a.kernels), len(kernels))
        ts.export_kineto(t, scratch("fixture.pt.trace.json"))
        with open(scratch("fixture.pt.trace.json")) as f:
            back = json.load(f)
        self.assertEqual(Counter(e["name"] for e in back["traceEvents"] if e.get("cat") == "kernel"),
                         Counter(e["name"] for e in kernels))
        tmp = t.path
        t.close()
        self.assertFalse(os.path.exists(tmp))


class Errors(unittest.TestCase):
    def check(self, exc, status, fn, *a, **kw):
        with self.assertRaises(exc) as cm:
            fn(*a, **kw)
        e = cm.exception
        self.assertIsInstance(e, ts.Error)
        self.assertEqual(e.status, status)
        self.assertTrue(str(e))
        return e

    def test_bad_files(self):
        e = self.check(ts.TraceIOError, "IO", ts.open, scratch("missing.sbt"))
        self.assertIsInstance(e, OSError)
        self.assertEqual(e.path, scratch("missing.sbt"))
        self.assertIn("missing.sbt", str(e))
        with open(scratch("text.sbt"), "w") as f:
            f.write("this is not a trace at all, just some text\n" * 4)
        e = self.check(ts.FormatError, "BAD_MAGIC", ts.open, scratch("text.sbt"))
        self.assertIsNotNone(e.offset)
        open(scratch("empty.sbt"), "w").close()
        self.check(ts.FormatError, "EMPTY", ts.open, scratch("empty.sbt"))
        full = sim("torn-src.sbt", n=40000)  # three blocks: cut inside the last
        with open(full, "rb") as f:
            data = f.read()
        with open(scratch("torn.sbt"), "wb") as f:
            f.write(data[: len(data) * 2 // 3])
        t = ts.open(scratch("torn.sbt"))
        n = len(t)
        self.assertTrue(0 < n < 40000, n)
        self.assertTrue(t.info["recovered"])
        with self.assertRaises(ts.FormatError):
            strict = ts.open(scratch("torn.sbt"), strict=True)
            for _ in strict:
                pass
        bad = os.path.join(pyenv_util.SOURCE, "tests", "golden", "bad")
        failed = 0
        for fn in sorted(os.listdir(bad)) if os.path.isdir(bad) else []:
            if not fn.endswith(".sbt"):
                continue
            try:
                with ts.open(os.path.join(bad, fn), strict=True) as t:
                    list(t.kernels())
                    for _ in t:
                        pass
            except ts.Error as e:
                self.assertTrue(e.status and e.detail is not None, fn)
                failed += 1
        if os.path.isdir(bad):
            self.assertGreater(failed, 0)

    def test_bad_arguments(self):
        path = sim("args.sbt", n=500)
        t = ts.open(path)
        with self.assertRaises(ValueError):
            t.events(kind="bogus")
        with self.assertRaises(ValueError):
            t.events(kind=99)
        with self.assertRaises(ValueError):
            t.events(device=-1)
        with self.assertRaises(TypeError):
            t.events(stream="7")
        with self.assertRaises(ValueError):
            t.events(start_ns=10, end_ns=5)
        with self.assertRaises(ValueError):
            t.columns(kind="kernel", fields=["bytes"])
        with self.assertRaises(TypeError):
            t.columns(fields="dur_ns")
        with self.assertRaises(TypeError):
            ts.Event("kernel", bogus=1)
        with self.assertRaises(ValueError):
            ts.Event("kernel", start_ns=10, end_ns=5)
        with self.assertRaises(ValueError):
            ts.Event("memcpy", copy_kind="sideways")
        with self.assertRaises(TypeError):
            ts.open(42)
        with self.assertRaises(ValueError):
            ts.simulate(scratch("x.sbt"), preset="nope")
        with self.assertRaises(ValueError):
            ts.capture_trace(duration_ms=-1)
        with self.assertRaises(TypeError):
            ts.build_timeline(12)
        with self.assertRaises(TypeError):
            ts.SBTWriter(scratch("w.sbt")).write(42)
        with self.assertRaises(ValueError):
            ts.SBTWriter(scratch("w.sbt"), zstd_level=99)
        self.check(ts.TraceIOError, "IO", ts.SBTWriter, "/nonexistent-dir/x.sbt")
        with self.assertRaises(ts.Error):
            ts.import_trace(path, scratch("x2.sbt"))  # SBT is not JSON
        k = t.kernels()
        with self.assertRaises(IndexError):
            k[len(k)]
        with self.assertRaises(KeyError):
            k.column("nope")
        ev = next(t.events(kind="kernel"))
        t.close()
        self.check(ts.StateError, "STATE", t.events)
        self.check(ts.StateError, "STATE", lambda: t.info)
        self.assertTrue(t.closed)
        self.assertIn("closed", repr(t))
        self.assertTrue(ev.name)  # events keep their own reader
        self.assertEqual(len(k), len(k.names))

    def test_profile_without_gpu_or_agent(self):
        env = os.environ.pop("TRACESMITH_AGENT", None)
        try:
            n, why = ts._tracesmith._cuda_devices()
            if n > 0:
                self.skipTest("this machine has a GPU: see tests/gpu/test_python_profile.py")
            e = self.check(ts.UnavailableError, "UNAVAILABLE", ts.profile(scratch("p.sbt")).__enter__)
            self.assertIn("GPU", str(e))
            self.assertFalse(os.path.exists(scratch("p.sbt")))
        finally:
            if env is not None:
                os.environ["TRACESMITH_AGENT"] = env

    def test_profile_through_an_agent(self):
        fake = os.environ.get("TSM_FAKE_AGENT")
        if not fake:
            self.skipTest("TSM_FAKE_AGENT is not set (run through ctest)")
        # A library without the entry points is refused with a clear reason.
        libm = "libm.so.6"
        e = self.check(ts.UnavailableError, "UNAVAILABLE", ts.profile(scratch("m.sbt"), agent=libm).start)
        self.assertIn("tsm_agent_start", str(e))
        e = self.check(ts.UnavailableError, "UNAVAILABLE",
                       ts.profile(scratch("x.sbt"), agent=scratch("no-such-agent.so")).start)
        self.assertIn("cannot load", str(e))
        # The agent's own failure comes through with its detail.
        e = self.check(ts.UnavailableError, "UNAVAILABLE",
                       ts.profile(scratch("fail-start.sbt"), agent=fake).start)
        self.assertIn("CUPTI_ERROR_NO_DEVICE", e.detail)
        out = scratch("profiled.sbt")
        with ts.profile(out, agent=fake) as p:
            self.assertTrue(p.running)
            self.check(ts.StateError, "STATE", p.start)
            self.check(ts.StateError, "STATE", ts.profile(scratch("2.sbt"), agent=fake).start)
        self.assertFalse(p.running)
        self.check(ts.StateError, "STATE", p.stop)
        with p.trace() as t:
            self.assertEqual(Counter(t.kernels().names), Counter(fake_gemm=2, fake_relu=1))
            self.assertEqual(t.info["clock"], "cupti")
        # A second profile in the same process works (the agent is loaded once).
        with ts.profile(scratch("profiled2.sbt"), agent=fake):
            pass
        self.assertEqual(len(ts.open(scratch("profiled2.sbt"))), 3)


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


class Memory(unittest.TestCase):
    def test_rss_flat_over_repeated_open_close(self):
        path = sim("mem.sbt", n=5000)
        out = scratch("mem-copy.sbt")

        def once():
            with ts.open(path) as t:
                k = t.kernels()
                s = sum(k.dur_ns)
                n = sum(1 for _ in t.events(kind="memcpy"))
                recs = t.to_records(kind="runtime")
                tl = ts.build_timeline(t)
                a = tl.analyze()
                a.report("json")
                d = t.devices
            with ts.SBTWriter(out) as w:
                w.write_events(ts.open(path))
            try:
                ts.open(scratch("missing.sbt"))
            except ts.TraceIOError:
                pass
            return s, n, len(recs), len(d)

        for _ in range(20):
            once()
        gc.collect()
        before = rss_kb()
        for _ in range(200):
            once()
        gc.collect()
        grown = rss_kb() - before
        # 200 iterations that each decode 5000 events: a leak of even one event record per
        # iteration stays under this, one Columns or reader per iteration does not.
        self.assertLess(grown, 4096, "RSS grew by %d KiB over 200 open/close cycles" % grown)


if __name__ == "__main__":
    if os.environ.get("TSM_REQUIRE_NUMPY"):
        try:
            import numpy  # noqa: F401
        except ImportError:
            print("test_binding: SKIP: %s has no numpy (Debian: apt-get install python3-numpy)"
                  % sys.executable)
            sys.exit(77)
    unittest.main(verbosity=2)
