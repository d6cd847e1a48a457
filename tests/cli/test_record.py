#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tracesmith record --simulate: output files, summary, options, and failures before recording."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import BIN, CliTest, info_json, main, run, scratch, view_json  # noqa: E402


class TestRecord(CliTest):
    def test_record_and_summary(self):
        path = scratch("basic.sbt")
        r = run("record", "--simulate", "-o", path, "--events", "2000")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, "")
        self.assertTrue(os.path.getsize(path) > 0)
        self.assertRegex(r.err, r"recorded 2,000 events \(sim:\w+")
        self.assertIn("dropped: 0", r.err)
        self.assertIn("bytes/event", r.err)
        self.assertIn("file: %s" % path, r.err)
        self.assertRegex(r.err, r"(?m)^\s+kernel\s+[\d,]+")
        size = os.path.getsize(path)
        m = re.search(r"([\d.]+) bytes/event", r.err)
        self.assertAlmostEqual(float(m.group(1)), size / 2000, delta=0.01)
        info = info_json(path)
        self.assertEqual(info["events"], 2000)
        self.assertEqual(info["clock"], "simulated")
        self.assertRegex(info["producer"], r"^tracesmith \d+\.\d+\.\d+ sim:\w+$")
        self.assertTrue(info["indexed"])
        self.assertFalse(info["recovered"])

    def test_default_output_name(self):
        d = scratch("defdir")
        os.makedirs(d, exist_ok=True)
        p = subprocess.run([BIN, "record", "--simulate", "--events", "500"], cwd=d,
                           capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(d, "trace.sbt")))

    def test_presets(self):
        r = run("record", "--simulate=list")
        self.assertEqual(r.rc, 0, r)
        names = re.findall(r"(?m)^  (\S+)\s+\S", r.out)
        self.assertGreaterEqual(len(names), 1, r)
        for n in names:
            with self.subTest(preset=n):
                path = scratch("preset-%s.sbt" % n)
                rr = run("record", "--simulate=%s" % n, "-o", path, "--events", "300")
                self.assertEqual(rr.rc, 0, rr)
                self.assertEqual(info_json(path)["producer"].split()[-1], "sim:" + n)
        # The first preset is the default.
        path = scratch("preset-default.sbt")
        self.assertEqual(run("record", "--simulate", "-o", path, "--events", "300").rc, 0)
        self.assertEqual(info_json(path)["producer"].split()[-1], "sim:" + names[0])

    def test_unknown_preset(self):
        r = run("record", "--simulate=nope", "-o", scratch("nope.sbt"))
        self.assertUsageError(r, "record")
        self.assertIn("unknown preset 'nope'", r.err)
        self.assertFalse(os.path.exists(scratch("nope.sbt")))

    def test_without_simulate(self):
        # Nothing to record, or a command without '--': usage errors (see test_record_cmd.py
        # for tracing a command).
        for args, msg in (([], "nothing to record"), (["-o", scratch("x.sbt")], "nothing to record"),
                          (["python3", "train.py"], "put '--' before the command")):
            with self.subTest(args=args):
                r = run("record", *args)
                self.assertUsageError(r, "record")
                self.assertIn(msg, r.err)
                self.assertIn("--", r.err)

    def test_seed_is_deterministic(self):
        a, b, c = scratch("seed-a.sbt"), scratch("seed-b.sbt"), scratch("seed-c.sbt")
        for p, seed in ((a, 7), (b, 7), (c, 8)):
            self.assertEqual(run("record", "--simulate", "-o", p, "--events", "1500",
                                 "--seed", seed).rc, 0)
        key = lambda e: (e["start_ns"], e["kind"], e["name"], e["device"], e["stream"],  # noqa
                         e["correlation"], e["tid"])
        ea, eb, ec = (sorted(view_json(p), key=key) for p in (a, b, c))
        self.assertEqual(ea, eb)
        self.assertNotEqual(ea, ec)

    def test_events_suffix(self):
        p = scratch("k.sbt")
        self.assertEqual(run("record", "--simulate", "-o", p, "--events", "2k").rc, 0)
        self.assertEqual(info_json(p)["events"], 2000)

    def test_duration(self):
        full, short = scratch("dur-full.sbt"), scratch("dur-short.sbt")
        self.assertEqual(run("record", "--simulate", "-o", full, "--events", "20000").rc, 0)
        span = info_json(full)["time"]["duration_ns"]
        limit_ns = max(span // 4, 1000)
        r = run("record", "--simulate", "-o", short, "--events", "20000", "--duration",
                "%dns" % limit_ns)
        self.assertEqual(r.rc, 0, r)
        i = info_json(short)
        self.assertGreater(i["events"], 0)
        self.assertLess(i["events"], 20000)

    def test_block_events(self):
        p = scratch("blocks.sbt")
        self.assertEqual(run("record", "--simulate", "-o", p, "--events", "3000",
                             "--block-events", "100").rc, 0)
        i = info_json(p)
        self.assertEqual(i["events"], 3000)
        self.assertGreaterEqual(i["blocks"], 30)

    def test_zstd(self):
        have = "zstd=yes" in run("version").out
        p = scratch("z.sbt")
        r = run("record", "--simulate", "-o", p, "--events", "3000", "--zstd=5")
        if not have:
            self.assertEqual(r.rc, 1, r)
            return
        self.assertEqual(r.rc, 0, r)
        i = info_json(p)
        self.assertEqual(i["events"], 3000)
        self.assertEqual(i["format"]["required_features"] & 1, 1)
        self.assertEqual(run("record", "--simulate", "-o", p, "--events", "300", "--zstd").rc, 0)

    def test_drop(self):
        p = scratch("drop.sbt")
        r = run("record", "--simulate", "-o", p, "--events", "3000", "--drop")
        self.assertEqual(r.rc, 0, r)
        i = info_json(p)
        # Dropped events never reach the trace; what did reach it plus drop records is coherent.
        self.assertEqual(i["counts"]["dropped"] > 0, i["dropped"]["total"] > 0)

    def test_stdout_output(self):
        p = subprocess.run("'%s' record --simulate -o - --events 1000 | '%s' info - --format json"
                           % (BIN, BIN), shell=True, capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        import json
        self.assertEqual(json.loads(p.stdout)["events"], 1000)

    def test_unwritable_output_fails_first(self):
        for path in ("/nonexistent-dir/x.sbt", scratch("no/such/dir/x.sbt"), SCRATCH_DIR()):
            with self.subTest(path=path):
                t0 = time.time()
                # A size that would take long to simulate: failing must come first.
                r = run("record", "--simulate", "-o", path, "--events", "50M")
                self.assertFileError(r, path)
                self.assertNotIn("recorded", r.err)
                self.assertLess(time.time() - t0, 10)

    def test_bad_values(self):
        o = scratch("bad.sbt")
        cases = [["--events", "abc"], ["--events", "0"], ["--events", "-5"], ["--events", "5X"],
                 ["--duration", "5"], ["--duration", "5min"], ["--duration", "ms"],
                 ["--duration", "1.ms"], ["--seed", "x"], ["--zstd=99"], ["--zstd=0"],
                 ["--block-events", "0"], ["--block-events", "99999999"], ["--devices", "0"],
                 ["--simulate=train", "extra-positional"]]
        for c in cases:
            with self.subTest(args=c):
                r = run("record", "--simulate", "-o", o, *c)
                self.assertUsageError(r, "record")
        self.assertFalse(os.path.exists(o))


def SCRATCH_DIR():
    d = scratch("a-directory")
    os.makedirs(d, exist_ok=True)
    return d


if __name__ == "__main__":
    main()
