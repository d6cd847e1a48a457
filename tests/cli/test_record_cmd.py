#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""tracesmith record -- CMD on a machine without a GPU: the agent's environment, exit status
pass-through, failures before CMD starts, usage errors, and the report when CUPTI cannot start.
Real capture is tested on a GPU by tests/gpu (gpu_test.py)."""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import BIN, CliTest, main, run, scratch  # noqa: E402

AGENT = os.path.join(os.path.dirname(os.path.abspath(BIN)), "libtracesmith-agent.so")


def have_gpu():
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


@unittest.skipUnless(os.path.exists(AGENT), "this build has no CUPTI agent")
class TestRecordCommand(CliTest):
    def test_exit_status_and_stdout_pass_through(self):
        out = scratch("cmd-status.sbt")
        r = run("record", "-o", out, "--", "sh", "-c", "echo hello from the app; exit 3")
        self.assertEqual(r.rc, 3, r)
        self.assertEqual(r.out, "hello from the app\n")
        self.assertIn("exited with status 3", r.err)
        self.assertIn("no process of the command initialised CUDA", r.err)
        self.assertFalse(os.path.exists(out))

    def test_signal_status(self):
        r = run("record", "-o", scratch("cmd-sig.sbt"), "--", "sh", "-c", "kill -TERM $$")
        self.assertEqual(r.rc, 143, r)
        self.assertIn("by signal 15", r.err)

    def test_environment_for_the_agent(self):
        out = scratch("cmd-env.sbt")
        r = run("record", "-o", out, "--kinds", "kernel,nvtx", "--stacks", "--flush-interval",
                "250ms", "--buffer-size", "8M", "--delay", "1s", "--duration", "2s", "--zstd=4",
                "--", "env")
        self.assertEqual(r.rc, 0, r)
        env = dict(line.split("=", 1) for line in r.out.splitlines() if "=" in line)
        self.assertEqual(env["CUDA_INJECTION64_PATH"], os.path.realpath(AGENT))
        self.assertEqual(env["NVTX_INJECTION64_PATH"], os.path.realpath(AGENT))
        self.assertEqual(env["TRACESMITH_OUTPUT"], os.path.realpath(out))
        self.assertFalse(os.path.isdir(env["TRACESMITH_STATUS_DIR"]))  # removed afterwards
        self.assertEqual(env["TRACESMITH_KINDS"], "kernel,nvtx")
        self.assertEqual(env["TRACESMITH_STACKS"], "1")
        self.assertEqual(env["TRACESMITH_FLUSH_NS"], "250000000")
        self.assertEqual(env["TRACESMITH_BUFFER_BYTES"], str(8 << 20))
        self.assertEqual(env["TRACESMITH_DELAY_NS"], "1000000000")
        self.assertEqual(env["TRACESMITH_DURATION_NS"], "2000000000")
        self.assertEqual(env["TRACESMITH_ZSTD"], "4")

    def test_unwritable_output_fails_before_the_command(self):
        mark = scratch("cmd-ran-mark")
        if os.path.exists(mark):
            os.unlink(mark)
        for out in ("/nonexistent-dir/x.sbt", scratch("")):
            with self.subTest(out=out):
                r = run("record", "-o", out, "--", "touch", mark)
                self.assertFileError(r, out)
                self.assertFalse(os.path.exists(mark), "the command ran")

    def test_missing_command(self):
        r = run("record", "-o", scratch("cmd-missing.sbt"), "--", "no-such-command-xyz")
        self.assertEqual(r.rc, 127, r)
        self.assertIn("no-such-command-xyz: cannot run", r.err)

    def test_agent_override(self):
        r = subprocess.run([BIN, "record", "-o", scratch("cmd-agent.sbt"), "--", "true"],
                           capture_output=True, text=True,
                           env=dict(os.environ, TRACESMITH_AGENT="/nonexistent/agent.so"))
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("/nonexistent/agent.so: cannot use the agent", r.stderr)

    @unittest.skipIf(have_gpu(), "a GPU is present: CUPTI would start")
    def test_cupti_unavailable_is_reported_and_the_app_runs(self):
        # Load the agent as the CUDA driver would; without a GPU CUPTI cannot start.
        out = scratch("cmd-nocupti.sbt")
        code = ("import ctypes, os; ctypes.CDLL(os.environ['CUDA_INJECTION64_PATH'])"
                ".InitializeInjection(); print('app ran')")
        r = run("record", "-o", out, "--", sys.executable, "-c", code)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, "app ran\n")
        self.assertRegex(r.err, r"pid \d+: not traced: CUPTI could not be initialised")
        self.assertFalse(os.path.exists(out))
        self.assertFalse([f for f in os.listdir(os.path.dirname(out))
                          if f.startswith("cmd-nocupti.")], "files left behind")

    def test_usage_errors(self):
        o = scratch("cmd-usage.sbt")
        cases = [["--kinds", "kernel,bogus", "--", "true"], ["--kinds", "", "--", "true"],
                 ["--kinds", "kernel,", "--", "true"], ["--buffer-size", "1K", "--", "true"],
                 ["--buffer-size", "lots", "--", "true"], ["--flush-interval", "5", "--", "true"],
                 ["--flush-interval", "10us", "--", "true"], ["--delay", "x", "--", "true"],
                 ["--events", "10", "--", "true"], ["--drop", "--", "true"],
                 ["--simulate", "--kinds", "kernel"], ["--simulate", "--stacks"],
                 ["--simulate", "--", "true"]]
        for c in cases:
            with self.subTest(args=c):
                self.assertUsageError(run("record", "-o", o, *c), "record")
        self.assertUsageError(run("record", "-o", "-", "--", "true"), "record")


if __name__ == "__main__":
    main()
