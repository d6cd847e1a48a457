#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Bad inputs: each fails with exit 1 and one line naming the file (and the offset when decoding
failed), never a crash; a torn file is recovered with a warning unless --strict. Outputs that
cannot be written (a full disk) fail the same way."""
import glob
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import (BIN, RECOVERED_RE, SRC, CliTest, Result, info_json, main,  # noqa: E402
                     record, run, scratch, view_json)

READERS = (("info",), ("view",), ("view", "--format", "json"), ("view", "--format", "csv"),
           ("dump",))


def status_messages():
    """NAME -> message, from the one status list in the public header."""
    with open(os.path.join(SRC, "include", "tracesmith", "common.h"), encoding="utf-8") as f:
        text = f.read()
    return dict(re.findall(r'X\((\w+), -?\d+, "([^"]*)"\)', text))


def write(name, data):
    p = scratch(name)
    with open(p, "wb") as f:
        f.write(data)
    return p


class TestBadFiles(CliTest):
    @classmethod
    def setUpClass(cls):
        cls.good = record("good.sbt", "--block-events", "400", events=4000)
        with open(cls.good, "rb") as f:
            cls.data = f.read()

    def check_all(self, path, offset=False, contains=None):
        for args in READERS:
            with self.subTest(cmd=args, path=path):
                r = run(args[0], path, *args[1:])
                self.assertNoCrash(r)
                line = self.assertFileError(r, path, offset=offset)
                if contains:
                    self.assertIn(contains, line)

    def test_missing_file(self):
        self.check_all(scratch("does-not-exist.sbt"))

    def test_directory(self):
        d = scratch("dir.sbt")
        os.makedirs(d, exist_ok=True)
        self.check_all(d)

    def test_empty_file(self):
        self.check_all(write("empty.sbt", b""), contains="empty file")

    def test_not_sbt(self):
        self.check_all(write("text.sbt", b"this is a text file, not a trace\n" * 10),
                       contains="not an SBT file")

    def test_truncated_header(self):
        self.check_all(write("trunc-header.sbt", self.data[:10]))

    def test_corrupt_middle(self):
        data = bytearray(self.data)
        mid = len(data) // 2
        for i in range(mid, mid + 8):
            data[i] ^= 0xA5
        p = write("corrupt.sbt", bytes(data))
        self.check_all(p, offset=True)

    def test_golden_bad(self):
        """Every tests/golden/bad file: as its MANIFEST says, each failing case exits 1 with one
        line naming the file, the status's message and the offset; OK cases read their events."""
        bad = os.path.join(SRC, "tests", "golden", "bad")
        manifest = os.path.join(bad, "MANIFEST")
        if not os.path.exists(manifest):
            self.skipTest("no tests/golden/bad/MANIFEST yet")
        messages = status_messages()
        cases = []
        with open(manifest, encoding="utf-8") as f:
            for line in f:
                parts = line.split("#", 1)[0].split()
                if parts:
                    cases.append(parts)
        self.assertGreater(len(cases), 0)
        listed = {c[0] for c in cases}
        for f in glob.glob(os.path.join(bad, "*.sbt")):
            self.assertIn(os.path.basename(f), listed, "bad file missing from MANIFEST")
        for name, status, mode, *rest in cases:
            path = os.path.join(bad, name)
            strict = ["--strict"] if mode == "strict" else []
            # export reads blocks in time order, decoding them in windows, also on a helper
            # thread: the same one line as reading in file order
            out = scratch("bad-export.pftrace")
            for args, threads in ((("info",), None), (("view",), None),
                                  (("view", "--format", "json"), None),
                                  (("export", "-q", "-o", out), "1"),
                                  (("export", "-q", "-o", out), "2")):
                with self.subTest(file=name, mode=mode, cmd=args, threads=threads):
                    r = run(args[0], path, *args[1:], *strict,
                            env={"TSM_THREADS": threads} if threads else None)
                    self.assertNoCrash(r)
                    if status == "OK":
                        self.assertEqual(r.rc, 0, r)
                        for l in r.err.splitlines():
                            self.assertRegex(l, RECOVERED_RE)
                        if rest and args[0] == "info":
                            self.assertRegex(r.out, r"\b%s events" % rest[0])
                        continue
                    line = self.assertFileError(r, path, offset=True)
                    self.assertIn(": %s" % messages[status], line)
                    if args[0] == "view" and len(args) > 1:
                        self.assertEqual(r.out, "", "no partial JSON before the error")
            with self.subTest(file=name, cmd="dump"):
                r = run("dump", path)
                self.assertNoCrash(r)
                self.assertIn(r.rc, (0, 1), r)
                if r.rc:
                    self.assertFileError(r, path)

    def test_bad_stdin(self):
        for args in (("info", "-"), ("view", "-")):
            with self.subTest(cmd=args):
                r = run(*args, stdin=b"\x00garbage" * 100)
                self.assertNoCrash(r)
                self.assertFileError(r, "-")


@unittest.skipUnless(os.access("/dev/full", os.W_OK), "no writable /dev/full")
class TestFullDisk(CliTest):
    """An output that opens but cannot be written (ENOSPC): exit 1, one line naming the output
    and the reason, whether it is a file (-o) or standard output."""

    @classmethod
    def setUpClass(cls):
        cls.good = record("full.sbt", events=20000)
        cls.json = scratch("full.pt.trace.json")
        r = run("export", cls.good, "-q", "-o", cls.json)
        if r.rc != 0:
            raise AssertionError(r)

    def test_output_file(self):
        cases = [("record", "--simulate", "--events", 20000, "-o", "/dev/full"),
                 ("import", self.json, "-o", "/dev/full"),
                 ("report", self.good, "-o", "/dev/full")]
        for fmt in ("perfetto", "chrome", "kineto"):
            for gz in ((), ("--gzip",)):
                cases.append(("export", self.good, "-q", "--format", fmt, *gz, "-o", "/dev/full"))
        for args in cases:
            for threads in ("1", "2"):
                with self.subTest(cmd=args, threads=threads):
                    r = run(*args, env={"TSM_THREADS": threads})
                    self.assertNoCrash(r)
                    line = self.assertFileError(r, "/dev/full")
                    self.assertIn("No space left on device", line)

    def test_standard_output(self):
        cases = [("info", self.good), ("dump", self.good), ("view", self.good),
                 ("view", self.good, "--format", "json"), ("stats", self.good),
                 ("stats", self.good, "--format", "csv"), ("timeline", self.good),
                 ("export", self.good, "-q", "--format", "chrome", "-o", "-"),
                 ("record", "--simulate", "--events", 20000, "-o", "-")]
        for args in cases:
            with self.subTest(cmd=args):
                with open("/dev/full", "wb") as full:
                    p = subprocess.run([BIN] + [str(a) for a in args], stdout=full,
                                       stderr=subprocess.PIPE, timeout=120)
                r = Result(p.returncode, "", p.stderr.decode("utf-8"))
                self.assertNoCrash(r)
                lines = r.err.splitlines()
                self.assertEqual(r.rc, 1, r)
                self.assertEqual(len(lines), 1, r)
                self.assertRegex(lines[0], r"^tracesmith: (standard output|-): .*"
                                 r"No space left on device", r)


class TestRecovery(CliTest):
    @classmethod
    def setUpClass(cls):
        cls.good = record("rec.sbt", "--block-events", "300", events=6000)
        with open(cls.good, "rb") as f:
            cls.data = f.read()
        cls.full = info_json(cls.good)

    def test_torn_tail(self):
        for frac in (0.5, 0.8, 0.97):
            with self.subTest(frac=frac):
                cut = int(len(self.data) * frac)
                p = write("torn-%d.sbt" % int(frac * 100), self.data[:cut])
                r = run("info", p, "--format", "json")
                self.assertEqual(r.rc, 0, r)
                lines = r.err.splitlines()
                self.assertEqual(len(lines), 1, r)
                m = RECOVERED_RE.match(lines[0])
                self.assertTrue(m, lines[0])
                self.assertEqual(m.group(1), p)
                import json
                j = json.loads(r.out)
                self.assertTrue(j["recovered"])
                self.assertFalse(j["indexed"])
                self.assertEqual(int(m.group(2)), j["events"])
                self.assertEqual(int(m.group(3)), j["discarded_bytes"])
                self.assertGreater(j["events"], 0)
                self.assertLess(j["events"], self.full["events"])
                self.assertGreater(j["discarded_bytes"], 0)
                self.assertLess(j["discarded_bytes"], cut)
                # view prints the same warning and the recovered events.
                rv = run("view", p, "--format", "json")
                self.assertEqual(rv.rc, 0, rv)
                self.assertEqual(rv.err.strip(), lines[0])
                self.assertEqual(len(json.loads(rv.out)), j["events"])
                # --strict turns it into an error.
                for args in (("info", p, "--strict"), ("view", p, "--strict")):
                    rs = run(*args)
                    self.assertFileError(rs, p)
                    self.assertEqual(rs.out, "")

    def test_clean_file_has_no_warning(self):
        r = run("info", self.good)
        self.assertEqual(r.err, "")
        r = run("info", self.good, "--strict")
        self.assertEqual(r.rc, 0, r)


if __name__ == "__main__":
    main()
