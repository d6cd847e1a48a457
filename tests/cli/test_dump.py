#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tracesmith dump: the library's chunk listing, flags mapped, errors reported."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import BIN, CliTest, main, record, run, scratch  # noqa: E402


class TestDump(CliTest):
    @classmethod
    def setUpClass(cls):
        cls.path = record("dump.sbt", "--block-events", "500", events=2000)

    def test_dump(self):
        r = run("dump", self.path)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.err, "")
        self.assertGreater(len(r.out.splitlines()), 5)
        # Offsets appear in the listing.
        self.assertRegex(r.out, r"(?i)(offset|0x[0-9a-f]+|@\s*\d+)")

    def test_flags_add_detail(self):
        plain = run("dump", self.path).out
        ev = run("dump", self.path, "--events")
        col = run("dump", self.path, "--columns")
        both = run("dump", "-e", "-c", self.path)
        for r in (ev, col, both):
            self.assertEqual(r.rc, 0, r)
        self.assertGreater(len(ev.out), len(plain))
        self.assertGreater(len(col.out), len(plain))
        self.assertGreater(len(both.out), max(len(ev.out), len(col.out)))
        # --events lists at least one line per event.
        self.assertGreaterEqual(len(ev.out.splitlines()) - len(plain.splitlines()), 2000)

    def test_closed_pipe(self):
        big = record("dump-big.sbt", events=20000)
        p = subprocess.run("set -o pipefail; '%s' dump --events '%s' | head -1" % (BIN, big),
                           shell=True, executable="/bin/bash", capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, b"")

    def test_missing(self):
        p = scratch("missing.sbt")
        self.assertFileError(run("dump", p), p)

    def test_corrupt(self):
        data = bytearray(open(self.path, "rb").read())
        i = len(data) // 2
        data[i] ^= 0xFF
        data[i + 1] ^= 0x5A
        p = scratch("dump-corrupt.sbt")
        open(p, "wb").write(bytes(data))
        r = run("dump", p)
        self.assertFileError(r, p, offset=True)


if __name__ == "__main__":
    main()
