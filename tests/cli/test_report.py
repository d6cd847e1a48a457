# SPDX-License-Identifier: Apache-2.0
"""tracesmith report: a self-contained HTML file (no external references), its embedded data,
decimation, errors. test_report_chromium.py renders it in a browser."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import SCRATCH, CliTest, main, record, run, scratch  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(html, *extra, timeout=120):
    """Run headless chromium on a file; returns (rc, stdout, stderr, seconds)."""
    prof = tempfile.mkdtemp(prefix="tsm-chromium-")
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--user-data-dir=" + prof, "--enable-logging=stderr", "--v=0",
            "--window-size=1400,2000"] + list(extra) + ["file://" + os.path.abspath(html)]
    t0 = time.time()
    try:
        p = subprocess.run(args, capture_output=True, timeout=timeout)
    finally:
        shutil.rmtree(prof, ignore_errors=True)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"), time.time() - t0)


def console_errors(stderr):
    return [l for l in stderr.splitlines()
            if "CONSOLE" in l and ("Uncaught" in l or "Error" in l or "ERROR" in l)]


class TestReport(CliTest):
    def make(self, name, events, *extra):
        path = record(name + ".sbt", events=events)
        out = scratch(name + ".html")
        r = run("report", path, "-o", out, *extra)
        self.assertEqual(r.rc, 0, r)
        with open(out, encoding="utf-8") as f:
            return out, f.read()

    def test_self_contained(self):
        out, html = self.make("rep", 20000)
        self.assertTrue(html.startswith("<!DOCTYPE html>"))
        # no network: no external references of any kind
        self.assertIsNone(re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html))
        self.assertNotIn("@import", html)
        self.assertNotIn("url(", html)
        self.assertNotIn("<link", html)
        data = re.search(r'<script type="application/json" id="stats">(.*?)</script>', html, re.S)
        self.assertIsNotNone(data)
        stats = json.loads(data.group(1).replace("<\\/", "</"))
        self.assertIn("critical", stats)
        tl = re.search(r'<script type="application/json" id="tl-data">(.*?)</script>', html, re.S)
        t = json.loads(tl.group(1).replace("<\\/", "</"))
        self.assertFalse(t["decimated"])
        self.assertEqual(len(t["lanes"]), 7)  # 6 streams + the critical path
        self.assertEqual(t["lanes"][-1]["label"], "critical path")

    def test_decimated(self):
        out, html = self.make("rep-dec", 20000, "--exact-max", "10")
        tl = re.search(r'<script type="application/json" id="tl-data">(.*?)</script>', html, re.S)
        t = json.loads(tl.group(1))
        self.assertTrue(t["decimated"])
        self.assertEqual(len(t["lanes"][0]["bins"]), 2 * 4096)

    def test_errors(self):
        path = record("rep.sbt", events=20000)
        self.assertUsageError(run("report", path), "report")
        r = run("report", path, "-o", "/nonexistent-dir/x.html")
        self.assertFileError(r, "/nonexistent-dir/x.html")


if __name__ == "__main__":
    main()
