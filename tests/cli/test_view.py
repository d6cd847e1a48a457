#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tracesmith view: formats, every filter, limit, sort, demangling, and a closed output pipe."""
import csv
import io
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import BIN, CliTest, info_json, main, record, run, view_json  # noqa: E402

CSV_COLUMNS = ("kind,start_ns,end_ns,dur_ns,device,context,stream,pid,tid,correlation,external,"
               "flags,flow_type,flow_id,name,raw_name,grid_x,grid_y,grid_z,block_x,block_y,"
               "block_z,regs_per_thread,static_smem_bytes,dynamic_smem_bytes,bytes,copy_kind,"
               "src_kind,dst_kind,gbps,value,mem_kind,sync_type,event_id,address,cbid,status,"
               "domain,count,source").split(",")


def overlaps(e, lo, hi):
    return e["end_ns"] >= lo and e["start_ns"] <= hi


class TestView(CliTest):
    @classmethod
    def setUpClass(cls):
        cls.path = record("view.sbt", "--block-events", "700", events=6000)
        cls.all = view_json(cls.path)
        cls.info = info_json(cls.path)
        cls.origin = min(e["start_ns"] for e in cls.all)

    def ids(self, events):
        return [(e["start_ns"], e["end_ns"], e["kind"], e["correlation"], e["tid"], e["stream"],
                 e["name"]) for e in events]

    def test_text(self):
        r = run("view", self.path, "--limit", "20")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.err, "")
        lines = r.out.splitlines()
        self.assertEqual(len(lines), 21)
        hdr = lines[0].split()
        for col in ("START", "DUR", "KIND", "DEV", "STREAM", "CORR", "DETAILS", "NAME"):
            self.assertIn(col, hdr)
        # Columns are aligned: KIND starts at the same place on every line.
        pos = lines[0].index("KIND")
        for l, e in zip(lines[1:], self.all[:20]):
            self.assertEqual(l[pos:].split()[0], e["kind"], l)

    def test_text_details(self):
        r = run("view", self.path, "--kind", "kernel", "--limit", "5")
        for l in r.out.splitlines()[1:]:
            self.assertRegex(l, r"grid \d+x\d+x\d+ block \d+x\d+x\d+ regs \d+ smem \d+\+\d+")
        r = run("view", self.path, "--kind", "memcpy", "--limit", "5")
        self.assertGreater(len(r.out.splitlines()), 1, "the sim should produce copies")
        for l in r.out.splitlines()[1:]:
            self.assertRegex(l, r"(HtoD|DtoH|DtoD|HtoH|PtoP) [\d.]+ (B|KiB|MiB|GiB).* GB/s")

    def test_text_relative_start(self):
        r = run("view", self.path, "--sort", "--limit", "1")
        first = r.out.splitlines()[1].split()
        self.assertEqual(first[0], "0.000000")

    def test_json(self):
        ev = self.all
        self.assertEqual(len(ev), self.info["events"])
        for e in ev:
            for k in ("kind", "start_ns", "end_ns", "dur_ns", "device", "context", "stream",
                      "pid", "tid", "correlation", "external", "name", "args"):
                self.assertIn(k, e)
            self.assertEqual(e["dur_ns"], e["end_ns"] - e["start_ns"])
        k = next(e for e in ev if e["kind"] == "kernel")
        for f in ("grid", "block", "regs_per_thread", "static_smem_bytes", "dynamic_smem_bytes"):
            self.assertIn(f, k["args"])
        m = next(e for e in ev if e["kind"] == "memcpy")
        for f in ("bytes", "copy_kind", "src_kind", "dst_kind", "gbps"):
            self.assertIn(f, m["args"])

    def test_csv(self):
        r = run("view", self.path, "--format", "csv")
        self.assertEqual(r.rc, 0, r)
        rows = list(csv.reader(io.StringIO(r.out, newline="")))
        self.assertEqual(rows[0], CSV_COLUMNS)
        body = rows[1:]
        self.assertEqual(len(body), len(self.all))
        for row, e in zip(body, self.all):
            self.assertEqual(len(row), len(CSV_COLUMNS))
            d = dict(zip(CSV_COLUMNS, row))
            self.assertEqual(d["kind"], e["kind"])
            self.assertEqual(int(d["start_ns"]), e["start_ns"])
            self.assertEqual(d["name"], e["name"])
            self.assertEqual(d["device"], "" if e["device"] is None else str(e["device"]))
            if e["kind"] == "kernel":
                self.assertEqual(int(d["grid_x"]), e["args"]["grid"][0])
            if e["kind"] == "memcpy":
                self.assertEqual(int(d["bytes"]), e["args"]["bytes"])

    def test_kind_filter(self):
        ev = view_json(self.path, "--kind", "kernel")
        self.assertEqual(len(ev), self.info["counts"]["kernel"])
        self.assertTrue(ev)
        self.assertTrue(all(e["kind"] == "kernel" for e in ev))
        ev = view_json(self.path, "-k", "memcpy,memset")
        self.assertEqual(len(ev), self.info["counts"]["memcpy"] + self.info["counts"]["memset"])
        self.assertTrue(all(e["kind"] in ("memcpy", "memset") for e in ev))

    def test_name_filter(self):
        k = next(e for e in self.all if e["kind"] == "kernel")
        sub = k["name"][len(k["name"]) // 3: len(k["name"]) // 3 + 6]
        ev = view_json(self.path, "--name", sub)
        expect = [e for e in self.all if sub in e["name"] or sub in e.get("raw_name", "")]
        self.assertEqual(self.ids(ev), self.ids(expect))
        self.assertEqual(view_json(self.path, "--name", "no-such-name-anywhere"), [])

    def test_device_and_stream_filter(self):
        ev = view_json(self.path, "--device", "0")
        self.assertEqual(self.ids(ev), self.ids([e for e in self.all if e["device"] == 0]))
        s = self.info["streams"][-1]
        ev = view_json(self.path, "--stream", s["stream"], "--device", s["device"])
        expect = [e for e in self.all if e["stream"] == s["stream"] and e["device"] == s["device"]]
        self.assertEqual(self.ids(ev), self.ids(expect))
        self.assertGreaterEqual(len(ev), s["events"])

    def test_time_window(self):
        span = self.info["time"]["duration_ns"]
        lo, hi = span // 4, span // 2
        for a, b in (("%dns" % lo, "%dns" % hi), ("%.3fus" % (lo / 1e3), "%.3fus" % (hi / 1e3))):
            ev = view_json(self.path, "--from", a, "--to", b)
            # Parse exactly as the CLI does: ns precision for the us form.
            lo_ns = self.origin + round(float(a[:-2]) * (1 if a.endswith("ns") else 1000))
            hi_ns = self.origin + round(float(b[:-2]) * (1 if b.endswith("ns") else 1000))
            expect = [e for e in self.all if overlaps(e, lo_ns, hi_ns)]
            self.assertTrue(expect)
            self.assertLess(len(expect), len(self.all))
            self.assertEqual(sorted(self.ids(ev)), sorted(self.ids(expect)))
        # Absolute form gives the same selection.
        ev_abs = view_json(self.path, "--from", "@%d" % (self.origin + lo),
                           "--to", "@%d" % (self.origin + hi))
        ev_rel = view_json(self.path, "--from", "%dns" % lo, "--to", "%dns" % hi)
        self.assertEqual(sorted(self.ids(ev_abs)), sorted(self.ids(ev_rel)))
        # Only --from.
        ev = view_json(self.path, "--from", "%dns" % hi)
        self.assertEqual(sorted(self.ids(ev)),
                         sorted(self.ids([e for e in self.all if e["end_ns"] >= self.origin + hi])))
        # Units: ms and s.
        self.assertEqual(view_json(self.path, "--from", "1000s"), [])
        self.assertEqual(len(view_json(self.path, "--to", "1000s")), len(self.all))

    def test_time_window_without_index(self):
        # A torn file has no index: seeking scans block headers; the selection is the same rule.
        with open(self.path, "rb") as f:
            data = f.read()
        torn = os.path.join(os.path.dirname(self.path), "view-torn.sbt")
        with open(torn, "wb") as f:
            f.write(data[: int(len(data) * 0.85)])
        every = view_json(torn)
        self.assertFalse(info_json(torn)["indexed"])
        origin = min(e["start_ns"] for e in every)
        span = max(e["end_ns"] for e in every) - origin
        lo, hi = span // 3, span // 2
        ev = view_json(torn, "--from", "%dns" % lo, "--to", "%dns" % hi)
        expect = [e for e in every if overlaps(e, origin + lo, origin + hi)]
        self.assertTrue(expect)
        self.assertEqual(sorted(self.ids(ev)), sorted(self.ids(expect)))

    def test_limit(self):
        ev = view_json(self.path, "--limit", "7")
        self.assertEqual(self.ids(ev), self.ids(self.all[:7]))
        ev = view_json(self.path, "--kind", "kernel", "-n", "3")
        self.assertEqual(self.ids(ev), self.ids([e for e in self.all if e["kind"] == "kernel"][:3]))

    def test_sort(self):
        ev = view_json(self.path, "--sort")
        self.assertEqual(len(ev), len(self.all))
        starts = [e["start_ns"] for e in ev]
        self.assertEqual(starts, sorted(starts))
        self.assertEqual(sorted(self.ids(ev)), sorted(self.ids(self.all)))
        # Stable: ties keep file order.
        expect = sorted(self.all, key=lambda e: e["start_ns"])  # Python's sort is stable
        self.assertEqual(self.ids(ev), self.ids(expect))
        top = view_json(self.path, "--sort", "--limit", "25")
        self.assertEqual(self.ids(top), self.ids(expect[:25]))
        top = view_json(self.path, "--sort", "--limit", "10", "--kind", "kernel")
        self.assertEqual(self.ids(top), self.ids([e for e in expect if e["kind"] == "kernel"][:10]))

    def test_demangle(self):
        mangled = [e for e in self.all if e.get("raw_name", "").startswith("_Z")]
        demangle = "demangle=yes" in run("version").out
        if not demangle:
            self.skipTest("built without a demangler")
        self.assertTrue(mangled, "the sim should emit mangled kernel names")
        for e in mangled[:20]:
            self.assertNotEqual(e["name"], e["raw_name"])
            self.assertIn("(", e["name"])
        raw = view_json(self.path, "--no-demangle")
        self.assertTrue(any(e["name"].startswith("_Z") for e in raw))
        self.assertTrue(all("raw_name" not in e for e in raw))
        self.assertEqual([e["name"] for e in view_json(self.path, "--no-demangle", "--demangle")],
                         [e["name"] for e in self.all])

    def test_closed_pipe(self):
        big = record("view-big.sbt", events=30000)
        for fmt in ("text", "json", "csv"):
            with self.subTest(fmt=fmt):
                p = subprocess.Popen([BIN, "view", big, "--format", fmt], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
                line = p.stdout.readline()
                self.assertTrue(line)
                p.stdout.close()
                err = p.stderr.read()
                rc = p.wait(timeout=60)
                self.assertEqual(rc, 0)
                self.assertEqual(err, b"")
        # And through a shell pipeline.
        p = subprocess.run("set -o pipefail; '%s' view '%s' | head -1" % (BIN, big), shell=True,
                           executable="/bin/bash", capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, b"")
        self.assertEqual(len(p.stdout.splitlines()), 1)

    def test_stdin(self):
        with open(self.path, "rb") as f:
            p = subprocess.run([BIN, "view", "-", "--format", "json", "--kind", "kernel"], stdin=f,
                               capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(json.loads(p.stdout)), self.info["counts"]["kernel"])

    def test_usage_errors(self):
        cases = [["--kind", "bogus"], ["--kind", "kernel,bogus"], ["--kind", ","],
                 ["--limit", "x"], ["--limit", "0"], ["--limit", "-1"], ["--device", "x"],
                 ["--device", "99999"], ["--stream", "x"], ["--from", "5"], ["--from", "5min"],
                 ["--to", "ms"], ["--from", "@12us"], ["--from", "2ms", "--to", "1ms"],
                 ["--format", "xml"], ["--name"]]
        for c in cases:
            with self.subTest(args=c):
                self.assertUsageError(run("view", self.path, *c), "view")


class TestAllKinds(CliTest):
    """The golden file with one event of every kind: every kind's details in every format."""

    @classmethod
    def setUpClass(cls):
        from clitest import SRC
        cls.path = os.path.join(SRC, "tests", "golden", "all-kinds.sbt")
        if not os.path.exists(cls.path):
            raise unittest.SkipTest("no tests/golden/all-kinds.sbt")

    def test_every_kind(self):
        ev = view_json(self.path)
        kinds = {e["kind"] for e in ev}
        for k in ("kernel", "memcpy", "memset", "sync", "alloc", "free", "runtime", "driver",
                  "range", "marker", "counter", "overhead", "dropped", "cpu_op"):
            self.assertIn(k, kinds)
        by = {e["kind"]: e for e in ev}
        self.assertIn("sync_type", by["sync"]["args"])
        self.assertIn("address", by["alloc"]["args"])
        self.assertIn("cbid", by["runtime"]["args"])
        self.assertIn("value", by["counter"]["args"])
        self.assertIn("count", by["dropped"]["args"])
        self.assertIsNone(by["runtime"]["device"])
        r = run("view", self.path, "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(r.out, newline="")))
        self.assertEqual(len(rows), len(ev))
        for row in rows:
            self.assertEqual(list(row.keys()), CSV_COLUMNS)
            self.assertNotIn(None, row.values())
        text = run("view", self.path).out
        for needle in ("stream_wait_event event ", "cbid ", " ret ", " events lost (",
                       "0x", " value ", " GB/s", "grid ", "T:"):
            self.assertIn(needle, text)

    def test_info_matches(self):
        i = info_json(self.path)
        ev = view_json(self.path)
        self.assertEqual(i["events"], len(ev))
        self.assertEqual(i["dropped"]["total"],
                         sum(e["args"]["count"] for e in ev if e["kind"] == "dropped"))
        self.assertGreater(i["dropped"]["total"], 0)


if __name__ == "__main__":
    main()
