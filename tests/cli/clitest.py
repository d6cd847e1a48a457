# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the CLI tests: run the real binary, record small traces, check messages."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BIN = os.environ.get("TRACESMITH")
SRC = os.environ.get("TSM_SOURCE_DIR",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
SCRATCH = os.environ.get("TSM_CLI_SCRATCH")

if not BIN or not os.access(BIN, os.X_OK):
    sys.stderr.write("TRACESMITH must name the tracesmith binary (got %r)\n" % BIN)
    sys.exit(1)
if not SCRATCH:
    SCRATCH = tempfile.mkdtemp(prefix="tsm-cli-")
shutil.rmtree(SCRATCH, ignore_errors=True)
os.makedirs(SCRATCH)

COMMANDS = ["record", "info", "dump", "view", "help", "version", "stats", "timeline", "report"]


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return "rc=%d\nstdout=%s\nstderr=%s" % (self.rc, self.out[:2000], self.err[:2000])


def run(*args, stdin=None, timeout=120, env=None):
    """Run tracesmith ARGS (env: variables to set on top of ours); stdout/stderr decoded as
    UTF-8 (strictly: the CLI must emit UTF-8)."""
    p = subprocess.run([BIN] + [str(a) for a in args], input=stdin, capture_output=True,
                       timeout=timeout, env=dict(os.environ, **env) if env else None)
    return Result(p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8"))


def run_bytes(*args, stdin=None, timeout=120):
    p = subprocess.run([BIN] + [str(a) for a in args], input=stdin, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def scratch(name):
    return os.path.join(SCRATCH, name)


_recorded = {}


def record(name, *extra, events=3000, seed=1):
    """Record a simulated trace once per (name, options) and return its path."""
    key = (name, extra, events, seed)
    if key not in _recorded:
        path = scratch(name)
        r = run("record", "--simulate", "-o", path, "--events", events, "--seed", seed, *extra)
        if r.rc != 0:
            raise AssertionError("record failed: %r" % r)
        _recorded[key] = path
    return _recorded[key]


class CliTest(unittest.TestCase):
    maxDiff = None

    def assertUsageError(self, r, cmd):
        """Exit 2, 'tracesmith CMD: <what>' then the hint, nothing on stdout."""
        self.assertEqual(r.rc, 2, r)
        lines = r.err.splitlines()
        self.assertEqual(len(lines), 2, r)
        prefix = "tracesmith %s: " % cmd if cmd else "tracesmith: "
        self.assertTrue(lines[0].startswith(prefix), r)
        self.assertEqual(lines[1], "Try 'tracesmith help%s'." % (" " + cmd if cmd else ""), r)
        self.assertEqual(r.out, "", r)

    def assertFileError(self, r, path, offset=None):
        """Exit 1 with exactly one stderr line 'tracesmith: PATH: reason'."""
        self.assertEqual(r.rc, 1, r)
        lines = r.err.splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertTrue(lines[0].startswith("tracesmith: %s: " % path), r)
        if offset:
            self.assertRegex(lines[0], r"\(offset \d+\)$")
        return lines[0]

    def assertNoCrash(self, r):
        self.assertGreaterEqual(r.rc, 0, "killed by signal %d: %r" % (-r.rc, r))
        self.assertNotIn("AddressSanitizer", r.err)
        self.assertNotIn("runtime error", r.err)


def view_json(path, *args):
    import json
    r = run("view", path, "--format", "json", *args)
    if r.rc != 0:
        raise AssertionError("view failed: %r" % r)
    return json.loads(r.out)


def info_json(path, *args):
    import json
    r = run("info", path, "--format", "json", *args)
    if r.rc != 0:
        raise AssertionError("info failed: %r" % r)
    return json.loads(r.out)


RECOVERED_RE = re.compile(r"^tracesmith: (.*): warning: file was not closed cleanly; "
                          r"recovered (\d+) events, discarded (\d+) bytes at the end$")


def main():
    unittest.main(verbosity=2)
