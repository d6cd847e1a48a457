# SPDX-License-Identifier: Apache-2.0
"""tracesmith timeline: lanes, width, axis, legend, zoom, device filter, colour, errors."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import CliTest, info_json, main, record, run  # noqa: E402


class TestTimeline(CliTest):
    def test_lanes_and_width(self):
        path = record("tl.sbt", events=20000)
        r = run("timeline", path, "--width", "100")
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn("\033[", r.out)  # not a terminal: no colour
        lines = r.out.splitlines()
        lanes = [l for l in lines if l.startswith("gpu")]
        self.assertEqual(len(lanes), 6, r.out)  # train preset: 2 GPUs x 3 streams
        for l in lanes:
            self.assertLessEqual(len(l), 100)
            self.assertRegex(l, r"\d+\.\d%$")
        self.assertTrue(any("#" in l for l in lanes))
        self.assertTrue(any("=" in l for l in lanes))  # NCCL
        self.assertIn("legend:", r.out)
        self.assertRegex(lines[1], r"^ +0ms +\d+ms +\d+ms")  # axis labels with units
        self.assertTrue(lines[2].strip().startswith("+"))

    def test_zoom_and_device(self):
        path = record("tl.sbt", events=20000)
        r = run("timeline", path, "--width", "120", "--from", "10ms", "--to", "11ms",
                "--device", "1")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("10.000 ms .. 11.000 ms", r.out)
        lanes = [l for l in r.out.splitlines() if l.startswith("gpu")]
        self.assertEqual(len(lanes), 3)
        self.assertTrue(all(l.startswith("gpu1") for l in lanes))
        self.assertRegex(r.out.splitlines()[1], r"^ +10\.0ms +10\.1ms")
        # absolute window
        first = info_json(path)["time"]["first_start_ns"]
        r2 = run("timeline", path, "--width", "120", "--from", "@%d" % (first + 10000000),
                 "--to", "@%d" % (first + 11000000), "--device", "1")
        self.assertEqual(r2.out, r.out)

    def test_color(self):
        path = record("tl.sbt", events=20000)
        r = run("timeline", path, "--width", "80", "--color", "always")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("\033[32m", r.out)

    def test_errors(self):
        path = record("tl.sbt", events=20000)
        self.assertUsageError(run("timeline"), "timeline")
        self.assertUsageError(run("timeline", path, "--width", "5"), "timeline")
        self.assertUsageError(run("timeline", path, "--from", "3"), "timeline")
        self.assertUsageError(run("timeline", path, "--from", "2ms", "--to", "1ms"),
                              "timeline")
        self.assertUsageError(run("timeline", path, "--color", "sometimes"), "timeline")
        self.assertFileError(run("timeline", "/nonexistent.sbt"), "/nonexistent.sbt")


if __name__ == "__main__":
    main()
