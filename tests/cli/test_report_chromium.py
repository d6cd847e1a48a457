# SPDX-License-Identifier: Apache-2.0
"""tracesmith report in headless Chromium (Debian's package): the page renders (its script sets
the title to "... rendered" after drawing), logs no console error, builds its tables, and a
screenshot is left in the test's scratch directory. Exits 77 (skip) without chromium."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import SCRATCH, CliTest, main, record, run, scratch  # noqa: E402
from test_report import CHROMIUM, chromium, console_errors  # noqa: E402


class TestReportChromium(CliTest):
    def make(self, name, events, *extra):
        path = record(name + ".sbt", events=events)
        out = scratch(name + ".html")
        r = run("report", path, "-o", out, *extra)
        self.assertEqual(r.rc, 0, r)
        return out

    def test_renders_in_chromium(self):
        for name, extra in (("rep", ()), ("rep-dec", ("--exact-max", "10"))):
            with self.subTest(report=name):
                out = self.make(name, 20000, *extra)
                rc, dom, err, secs = chromium(out, "--dump-dom")
                self.assertEqual(rc, 0, err[-2000:])
                self.assertIn("<title>TraceSmith report - rendered</title>", dom, err[-2000:])
                self.assertIn('data-rendered="1"', dom)
                self.assertEqual(console_errors(err), [])
                self.assertIn("<table>", dom)  # the statistics tables were built
                shot = os.path.join(SCRATCH, name + ".png")
                rc, _, err, _ = chromium(out, "--screenshot=" + shot)
                self.assertEqual(rc, 0, err[-2000:])
                self.assertGreater(os.path.getsize(shot), 10000)



if __name__ == "__main__":
    if not CHROMIUM:
        sys.stderr.write("test_report_chromium: chromium not installed; skipped\n")
        sys.exit(77)
    main()
