#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tracesmith info: text and JSON summaries agree with the events themselves."""
import collections
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import BIN, CliTest, info_json, main, record, run, view_json  # noqa: E402


class TestInfo(CliTest):
    @classmethod
    def setUpClass(cls):
        cls.path = record("info.sbt", events=5000)
        cls.info = info_json(cls.path)
        cls.events = view_json(cls.path)

    def test_text(self):
        r = run("info", self.path)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.err, "")
        out = r.out
        self.assertTrue(out.startswith(self.path + "\n"))
        for needle in ("SBT 1.", "producer", "tracesmith ", "sim:", "clock", "simulated",
                       "time span", "bytes/event", "devices", "streams", "events by kind",
                       "kernel", "memory copies", "GB/s", "dropped", "distinct names"):
            self.assertIn(needle, out)
        self.assertRegex(out, r"5,000 events")
        for d in self.info["devices"]:
            self.assertIn(d["name"], out)

    def test_json_fields(self):
        i = self.info
        for k in ("file", "format", "producer", "clock", "realtime_offset_ns", "indexed",
                  "recovered", "discarded_bytes", "file_bytes", "chunks", "blocks", "events",
                  "bytes_per_event", "time", "processes", "devices", "streams", "counts",
                  "durations_ns", "memcpy", "memset", "memory", "api", "kernels", "dropped",
                  "metadata"):
            self.assertIn(k, i)
        self.assertEqual(i["format"]["major"], 1)
        self.assertEqual(i["file_bytes"], os.path.getsize(self.path))
        self.assertEqual(i["events"], 5000)
        self.assertEqual(sum(i["counts"].values()), i["events"])
        self.assertAlmostEqual(i["bytes_per_event"], i["file_bytes"] / i["events"], places=6)
        self.assertFalse(i["recovered"])
        self.assertEqual(i["discarded_bytes"], 0)
        self.assertGreaterEqual(len(i["devices"]), 1)
        for d in i["devices"]:
            self.assertTrue(d["name"])
            self.assertGreater(d["sm_count"], 0)
            self.assertGreater(d["global_mem_bytes"], 0)
        self.assertGreaterEqual(len(i["processes"]), 1)

    def test_json_agrees_with_events(self):
        i, ev = self.info, self.events
        self.assertEqual(len(ev), i["events"])
        kinds = collections.Counter(e["kind"] for e in ev)
        for k, n in i["counts"].items():
            self.assertEqual(kinds.get(k, 0), n, k)
        self.assertEqual(i["time"]["first_start_ns"], min(e["start_ns"] for e in ev))
        self.assertEqual(i["time"]["last_end_ns"], max(e["end_ns"] for e in ev))
        self.assertEqual(i["time"]["duration_ns"],
                         i["time"]["last_end_ns"] - i["time"]["first_start_ns"])
        kern = [e for e in ev if e["kind"] == "kernel"]
        self.assertEqual(i["kernels"]["count"], len(kern))
        self.assertEqual(i["kernels"]["total_ns"], sum(e["dur_ns"] for e in kern))
        self.assertEqual(i["kernels"]["distinct_names"], len({e["name"] for e in kern}))
        bydir = collections.defaultdict(lambda: [0, 0, 0])
        for e in ev:
            if e["kind"] == "memcpy":
                b = bydir[e["args"]["copy_kind"]]
                b[0] += 1
                b[1] += e["args"]["bytes"]
                b[2] += e["dur_ns"]
        self.assertEqual({m["direction"]: [m["count"], m["bytes"], m["duration_ns"]]
                          for m in i["memcpy"]}, {k: v for k, v in bydir.items()})
        for m in i["memcpy"]:
            if m["duration_ns"]:
                self.assertAlmostEqual(m["avg_gbps"], m["bytes"] / m["duration_ns"], places=6)
        self.assertEqual(i["dropped"]["total"],
                         sum(e["args"]["count"] for e in ev if e["kind"] == "dropped"))
        # Streams: GPU work per (device, stream).
        per = collections.Counter((e["device"], e["stream"]) for e in ev
                                  if e["device"] is not None and
                                  e["kind"] in ("kernel", "memcpy", "memset"))
        got = {(s["device"], s["stream"]): s for s in i["streams"]}
        for key, n in per.items():
            self.assertIn(key, got)
            s = got[key]
            self.assertGreaterEqual(s["events"], n)
            self.assertEqual(s["kernels"] + s["memcpys"] + s["memsets"], n)

    def test_stdin(self):
        with open(self.path, "rb") as f:
            p = subprocess.run([BIN, "info", "-", "--format", "json"], stdin=f,
                               capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        import json
        j = json.loads(p.stdout)
        self.assertEqual(j["events"], self.info["events"])
        self.assertEqual(j["counts"], self.info["counts"])

    def test_bad_format(self):
        self.assertUsageError(run("info", self.path, "--format", "csv"), "info")
        self.assertUsageError(run("info", self.path, "--format=xml"), "info")


if __name__ == "__main__":
    main()
