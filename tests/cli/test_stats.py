# SPDX-License-Identifier: Apache-2.0
"""tracesmith stats: text / JSON / CSV, sections, options, consistency with info, errors."""
import csv
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import SRC, CliTest, info_json, main, record, run, scratch  # noqa: E402


def stats_json(path, *args):
    r = run("stats", path, "--format", "json", *args)
    if r.rc != 0:
        raise AssertionError("stats failed: %r" % r)
    return json.loads(r.out)


class TestStats(CliTest):
    def test_threads_same_output(self):
        # TSM_THREADS changes how the work is split, never what comes out
        path = record("st-threads.sbt", "--block-events", "1024", events=30000)
        commands = [("stats", path, "--format", "json", "--critical-path"),
                    ("stats", path, "--format", "csv"), ("stats", path),
                    ("timeline", path, "--width", "120")]
        outs = {}
        for threads in ("1", "3"):
            env = {"TSM_THREADS": threads}
            res = [run(*c, env=env) for c in commands]
            for fmt in ("pftrace", "json"):
                out = scratch("st-threads-%s.%s" % (threads, fmt))
                r = run("export", path, "-o", out, env=env)
                self.assertEqual(r.rc, 0, r)
                with open(out, "rb") as f:
                    res.append(f.read())
            for r in res[:len(commands)]:
                self.assertEqual(r.rc, 0, r)
            outs[threads] = [r.out if hasattr(r, "out") else r for r in res]
        for a, b in zip(outs["1"], outs["3"]):
            self.assertEqual(a, b)

    def test_json_sections_and_consistency(self):
        path = record("st.sbt", events=20000)
        s = stats_json(path, "--critical-path")
        for key in ("summary", "devices", "streams", "kernels", "copies", "apis", "latency",
                    "gaps", "longest_gaps", "top", "ranges", "steps", "critical"):
            self.assertIn(key, s)
        info = info_json(path)
        self.assertEqual(s["summary"]["events"], info["events"])
        self.assertEqual(s["summary"]["kernels"], info["counts"]["kernel"])
        # every GPU op of the simulator has its launching call
        self.assertEqual(s["summary"]["unmatched_ops"], 0)
        self.assertEqual(s["summary"]["unmatched_waits"], 0)
        self.assertGreater(s["summary"]["event_edges"], 0)
        self.assertGreater(s["summary"]["sync_edges"], 0)
        # kernel totals add up and shares sum to 1
        self.assertEqual(sum(k["total_ns"] for k in s["kernels"]), s["summary"]["kernel_ns"])
        self.assertAlmostEqual(sum(k["share"] for k in s["kernels"]), 1.0, places=3)
        for k in s["kernels"]:
            self.assertLessEqual(k["min_ns"], k["p50_ns"])
            self.assertLessEqual(k["p50_ns"], k["p95_ns"])
            self.assertLessEqual(k["p95_ns"], k["max_ns"])
        for d in s["devices"]:
            self.assertLessEqual(d["busy_ns"], d["span_ns"])
            self.assertEqual(sum(d["concurrency_ns"]), d["span_ns"])
            self.assertLessEqual(d["compute_comm_overlap_ns"], d["comm_ns"])
        span = s["summary"]["span_ns"]
        for st in s["streams"]:
            total = sum(st[k] for k in ("running_ns", "waiting_ns", "launching_ns",
                                        "synchronizing_ns", "idle_ns"))
            self.assertEqual(total, span)
        # the simulator's NCCL kernels are communication
        self.assertTrue(any(k["class"] == "comm" and "nccl" in k["name"] for k in s["kernels"]))
        self.assertTrue(s["steps"])
        self.assertEqual(s["summary"]["profiler_steps"], len(s["steps"]))
        self.assertTrue(any(c["what"] == "path" for c in s["critical"]))
        lat = s["latency"]
        self.assertLessEqual(lat["p50_ns"], lat["p99_ns"])
        self.assertEqual(sum(lat["log2_histogram"]), lat["count"])

    def test_text(self):
        path = record("st.sbt", events=20000)
        r = run("stats", path)
        self.assertEqual(r.rc, 0, r)
        for title in ("summary", "devices (", "streams (", "kernels by total time",
                      "memory copies", "API calls", "launch latency", "idle gaps",
                      "longest GPU ops", "NVTX ranges", "ProfilerStep#N"):
            self.assertIn(title, r.out)
        self.assertNotIn("critical path", r.out)
        r = run("stats", path, "--only", "kernels", "--limit", "3")
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(lines[0], "kernels by total time")
        self.assertEqual(len(lines), 6, r.out)  # title, header, 3 rows, "... more rows"
        self.assertIn("more rows", lines[-1])

    def test_csv(self):
        path = record("st.sbt", events=20000)
        r = run("stats", path, "--format", "csv", "--only", "kernels,copies")
        self.assertEqual(r.rc, 0, r)
        parts = r.out.split("\n\n")
        self.assertEqual(len(parts), 2)
        self.assertTrue(parts[0].startswith("# kernels\n"))
        self.assertTrue(parts[1].startswith("# copies\n"))
        rows = list(csv.DictReader(io.StringIO(parts[0].split("\n", 1)[1])))
        js = stats_json(path, "--only", "kernels")
        self.assertEqual(len(rows), len(js["kernels"]))
        self.assertEqual(rows[0]["name"], js["kernels"][0]["name"])
        self.assertEqual(int(rows[0]["total_ns"]), js["kernels"][0]["total_ns"])

    def test_options(self):
        path = record("st.sbt", events=20000)
        a = stats_json(path, "--only", "summary", "--short-kernel", "1s")
        self.assertEqual(a["summary"]["short_kernels"], a["summary"]["kernels"])
        b = stats_json(path, "--only", "top", "--top", "3")
        self.assertEqual(len(b["top"]), 3)
        c = stats_json(path, "--only", "kernels", "--no-demangle")
        self.assertTrue(any(k["name"].startswith("_Z") for k in c["kernels"]))
        d = stats_json(path, "--only", "critical")
        self.assertEqual(list(d), ["critical"])

    def test_stdin_and_empty(self):
        path = record("st-small.sbt", events=500)
        with open(path, "rb") as f:
            data = f.read()
        r = run("stats", "-", "--format", "json", stdin=data)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(json.loads(r.out)["summary"]["events"], 500)

    def test_multigpu(self):
        path = record("st-multi.sbt", "--simulate=multigpu", events=20000)
        s = stats_json(path)
        self.assertGreaterEqual(s["summary"]["devices"], 2)

    def test_errors(self):
        self.assertUsageError(run("stats"), "stats")
        self.assertUsageError(run("stats", "x.sbt", "--format", "xml"), "stats")
        self.assertUsageError(run("stats", "x.sbt", "--only", "bogus"), "stats")
        self.assertUsageError(run("stats", "x.sbt", "--short-kernel", "10"), "stats")
        self.assertUsageError(run("stats", "x.sbt", "--top", "0"), "stats")
        self.assertFileError(run("stats", scratch("missing.sbt")), scratch("missing.sbt"))
        bad = os.path.join(SRC, "tests", "golden", "bad")
        for name in sorted(os.listdir(bad)):
            if name.endswith(".sbt"):
                r = run("stats", os.path.join(bad, name), "--strict")
                self.assertNoCrash(r)
                self.assertIn(r.rc, (0, 1), r)
                if r.rc == 1:
                    self.assertEqual(len(r.err.splitlines()), 1, r)


if __name__ == "__main__":
    main()
