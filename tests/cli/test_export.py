# SPDX-License-Identifier: Apache-2.0
"""tracesmith export: Perfetto protobuf (decoded by protoc against Perfetto's schema and checked
by pftrace_check), Chrome JSON and Kineto JSON (parsed by Python's json module and checked by
json_check), .gz outputs, format selection, filters, escaping of every name, errors."""
import gzip
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import CliTest, record, run, scratch  # noqa: E402
import json_check  # noqa: E402
import pftrace_check  # noqa: E402

NEED_PROTOC = "protoc or ../shared/third_party/perfetto missing (apt-get install protobuf-compiler)"


class TestPerfetto(CliTest):
    def setUp(self):
        if not pftrace_check.available():
            self.skipTest(NEED_PROTOC)

    def test_train_trace_is_valid(self):
        src = record("exp-train.sbt", events=20000)
        out = scratch("train.pftrace")
        r = run("export", src, "-o", out)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("perfetto", r.err)
        s = pftrace_check.check(out)
        self.assertGreater(s["track_events"], 20000)  # begins, ends, instants, counters
        self.assertGreater(s["flows"], 1000)  # host API -> GPU work, record -> wait
        self.assertGreater(s["tracks"], 6)

    def test_every_preset_is_valid(self):
        for preset in ("infer", "multigpu", "tiny"):
            with self.subTest(preset=preset):
                src = record("exp-%s.sbt" % preset, "--simulate=" + preset, events=5000)
                out = scratch("%s.pftrace" % preset)
                r = run("export", src, "-o", out, "-q")
                self.assertEqual(r.rc, 0, r)
                self.assertEqual(r.err, "")
                pftrace_check.check(out)

    def test_gzip_is_the_same_protobuf(self):
        src = record("exp-train.sbt", events=20000)
        plain, gz = scratch("g.pftrace"), scratch("g.pftrace.gz")
        self.assertEqual(run("export", src, "-o", plain, "-q").rc, 0)
        self.assertEqual(run("export", src, "-o", gz, "-q").rc, 0)
        with open(plain, "rb") as f, gzip.open(gz, "rb") as g:
            self.assertEqual(f.read(), g.read())

    def test_checker_catches_a_broken_file(self):
        # The checker must be able to fail: cut a valid file in the middle of a packet.
        src = record("exp-train.sbt", events=20000)
        out = scratch("cut.pftrace")
        self.assertEqual(run("export", src, "-o", out, "-q").rc, 0)
        with open(out, "rb") as f:
            data = f.read()
        with open(out, "wb") as f:
            f.write(data[: len(data) // 2 + 3])
        with self.assertRaises(pftrace_check.CheckError):
            pftrace_check.check(out)

    def test_lane_timestamps_are_deltas_from_a_clock_snapshot(self):
        # A lane's timestamps are deltas on the incremental clock 64 that its first packet's
        # clock snapshot ties to BOOTTIME; the checker adds them up, and fails a file whose
        # snapshot is gone or whose delta is negative (a wrapped uint64).
        import re
        import subprocess
        src = record("exp-delta.sbt", events=3000)
        out = scratch("delta.pftrace")
        self.assertEqual(run("export", src, "-o", out, "-q").rc, 0)
        text = pftrace_check.decode(out)
        self.assertIn("timestamp_clock_id: 64", text)
        self.assertIn("is_incremental: true", text)

        def encode(t, name):
            path = scratch(name)
            with open(path, "wb") as f:
                subprocess.run(["protoc", "--encode=perfetto.protos.Trace", "-I",
                                pftrace_check.PROTO_DIR, "perfetto_trace.proto"],
                               input=t.encode(), stdout=f, check=True)
            return path

        pftrace_check.check(encode(text, "delta-same.pftrace"))
        no_snapshot = re.sub(r"clock_snapshot \{[^}]*\}[^}]*\}\s*\}", "", text, count=1)
        self.assertNotEqual(no_snapshot, text)
        with self.assertRaisesRegex(pftrace_check.CheckError, "no snapshot"):
            pftrace_check.check(encode(no_snapshot, "delta-nosnap.pftrace"))
        # the last packet with a timestamp is on a lane: make its delta negative
        i = text.rindex("  timestamp: ")
        j = text.index("\n", i)
        negative = text[:i] + "  timestamp: 18446744073709551000" + text[j:]
        with self.assertRaisesRegex(pftrace_check.CheckError, "negative timestamp delta"):
            pftrace_check.check(encode(negative, "delta-neg.pftrace"))

    def test_kernel_names_demangled_and_annotated(self):
        src = record("exp-train.sbt", events=20000)
        out = scratch("names.pftrace")
        self.assertEqual(run("export", src, "-o", out, "-q").rc, 0)
        names = pftrace_check.check(out)["names"]
        self.assertFalse([n for n in names if n.startswith("_Z")], "mangled names left")
        text = pftrace_check.decode(out)
        for a in ("grid", "block", "registers per thread", "bytes", "memory bandwidth (GB/s)",
                  "correlation", "stream"):
            self.assertIn('name: "%s"' % a, text)
        self.assertIn("memory in use", text)
        # mangled names ride along as interned annotation strings, once per sequence
        self.assertIn("debug_annotation_string_values", text)
        self.assertIn("string_value_iid", text)
        # a sequence per lane, whose events take the lane from the sequence's defaults
        self.assertIn("track_event_defaults", text)
        self.assertGreater(pftrace_check.check(out)["sequences"], 3)


    def test_call_stacks(self):
        # the simulated API calls carry host call stacks: interned per sequence, frames with
        # function, shared object, file and line, bottom frame first
        src = record("exp-train.sbt", events=20000)
        out = scratch("stacks.pftrace")
        self.assertEqual(run("export", src, "-o", out, "-q").rc, 0)
        self.assertGreater(pftrace_check.check(out)["with_callstack"], 1000)
        text = pftrace_check.decode(out)
        for field in ("callstacks {", "frames {", "function_names {", "mappings {",
                      "source_paths {", "line_number:", 'str: "cudaLaunchKernel"'):
            self.assertIn(field, text)
        # a frame without a shared object: the "[unknown]" mapping
        golden = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden",
                              "all-kinds.sbt")
        out = scratch("golden.pftrace")
        self.assertEqual(run("export", golden, "-o", out, "-q").rc, 0)
        self.assertGreater(pftrace_check.check(out)["with_callstack"], 0)
        text = pftrace_check.decode(out)
        self.assertIn('str: "[unknown]"', text)
        self.assertIn('str: "at::native::gemm"', text)

    def import_and_export(self, evs, stem):
        # Chrome JSON events -> import -> .pftrace on one thread and on two (STEM-1/2.pftrace);
        # the two must be the same bytes. Returns them.
        src_json = scratch(stem + ".json")
        with open(src_json, "w") as f:
            json.dump({"traceEvents": evs}, f)
        sbt = scratch(stem + ".sbt")
        self.assertEqual(run("import", src_json, "-o", sbt, "-q").rc, 0)
        outs = []
        for t in ("1", "2"):
            out = scratch("%s-%s.pftrace" % (stem, t))
            self.assertEqual(run("export", sbt, "-o", out, "-q", env={"TSM_THREADS": t}).rc, 0)
            with open(out, "rb") as f:
                outs.append(f.read())
        self.assertEqual(outs[0], outs[1])
        return outs

    def test_many_sequences_and_large_events(self):
        # 600 host threads (a sequence each: buffers shrink past 512), slices that overlap
        # without nesting (extra lanes), an event with more metadata than is exported (64) and
        # a name over the 64 KiB cut: valid, and the same bytes on one thread and on two.
        evs = []
        for t in range(600):
            evs.append({"ph": "X", "cat": "cpu_op", "name": "op%d" % (t % 7), "pid": 1 + t % 3,
                        "tid": 100 + t, "ts": 1000.0 + t, "dur": 5.0})
        evs.append({"ph": "X", "cat": "cpu_op", "name": "a", "pid": 1, "tid": 100,
                    "ts": 1002.0, "dur": 10.0})  # overlaps op0 without nesting
        evs.append({"ph": "X", "cat": "cpu_op", "name": "many args", "pid": 1, "tid": 101,
                    "ts": 1003.0, "dur": 0.1, "args": {"k%d" % i: i for i in range(80)}})
        evs.append({"ph": "X", "cat": "cpu_op", "name": "L" * 70000, "pid": 1, "tid": 102,
                    "ts": 1004.0, "dur": 0.1})
        self.import_and_export(evs, "stress")
        if pftrace_check.available():
            summary = pftrace_check.check(scratch("stress-1.pftrace"))
            self.assertGreater(summary["sequences"], 600)
            self.assertEqual(summary["track_events"], 2 * 600 + 2 * 3)
            self.assertIn("L" * 65536, summary["names"])

    def test_long_nvtx_domains(self):
        # NVTX ranges whose domain names (an annotation) are 15000 bytes: each packet's room is
        # sized for it; 6 MB of them cross the output buffer's end many times (the ASan build
        # caught a packet written past it).
        dom = "d" * 15000
        evs = [{"ph": "X", "cat": "user_annotation", "name": "range", "pid": 1, "tid": 1,
                "ts": 10.0 * i, "dur": 5.0, "args": {"domain": dom}} for i in range(400)]
        outs = self.import_and_export(evs, "longdom")
        self.assertEqual(outs[0].count(dom.encode()), 400)
        if pftrace_check.available():
            self.assertEqual(pftrace_check.check(scratch("longdom-1.pftrace"))["track_events"], 800)


class TestJson(CliTest):
    def test_chrome(self):
        src = record("exp-train.sbt", events=20000)
        out = scratch("train.json")
        r = run("export", src, "-o", out)
        self.assertEqual(r.rc, 0, r)
        c = json_check.check_chrome(out)
        self.assertGreater(c["flows"], 1000)
        rows = {e["args"]["name"] for e in c["json"]["traceEvents"]
                if e.get("ph") == "M" and e["name"] == "thread_name"}
        self.assertTrue(any(": compute" in n for n in rows), rows)
        self.assertTrue(any(": copy H2D" in n for n in rows), rows)
        self.assertTrue(any("sync" in e.get("cat", "") for e in c["json"]["traceEvents"]
                            if e.get("ph") == "s"))
        # host call stacks: "sf" names the innermost frame of "stackFrames"
        self.assertGreater(c["with_stack"], 1000)
        frames = c["json"]["stackFrames"]
        self.assertTrue(any(f["name"] == "cudaLaunchKernel" for f in frames.values()))
        self.assertTrue(any("(" in f["name"] and ".cpp:" in f["name"] for f in frames.values()))

    def test_kineto(self):
        src = record("exp-train.sbt", events=20000)
        out = scratch("train.pt.trace.json")
        r = run("export", src, "-o", out)
        self.assertEqual(r.rc, 0, r)
        k = json_check.check_kineto(out)
        for cat in ("kernel", "gpu_memcpy", "gpu_memset", "cuda_runtime", "cpu_op",
                    "user_annotation"):
            self.assertIn(cat, k["counts"])
        self.assertGreater(k["flows"], 1000)
        self.assertIn('"rank": 0', k["text"])
        steps = [e for e in k["json"]["traceEvents"] if e.get("cat") == "user_annotation"
                 and e["name"].startswith("ProfilerStep#")]
        self.assertTrue(steps)

    def test_gzip_json(self):
        src = record("exp-tiny.sbt", "--simulate=tiny", events=5000)
        for name, check in (("t.json.gz", json_check.check_chrome),
                            ("t.pt.trace.json.gz", json_check.check_kineto)):
            out = scratch(name)
            self.assertEqual(run("export", src, "-o", out, "-q").rc, 0)
            with open(out, "rb") as f:
                self.assertEqual(f.read(2), b"\x1f\x8b")
            check(out)

    def test_format_option_and_stdout(self):
        src = record("exp-tiny.sbt", "--simulate=tiny", events=5000)
        r = run("export", src, "-o", "-", "--format", "kineto", "-q")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("traceEvents", json.loads(r.out))
        r = run("export", src, "-o", scratch("x.out"), "--format", "chrome", "-q")
        self.assertEqual(r.rc, 0, r)
        json_check.check_chrome(scratch("x.out"))

    def test_filters(self):
        src = record("exp-multi.sbt", "--simulate=multigpu", events=20000)
        out = scratch("k.pt.trace.json")
        self.assertEqual(run("export", src, "-o", out, "-q", "--kind", "kernel",
                             "--device", "1").rc, 0)
        evs = [e for e in json_check.check_kineto(out)["json"]["traceEvents"] if e["ph"] == "X"]
        self.assertTrue(evs)
        self.assertEqual({e["cat"] for e in evs}, {"kernel"})
        self.assertEqual({e["pid"] for e in evs}, {1})
        full = [e for e in json_check.check_kineto(out)["json"]["traceEvents"]]
        out2 = scratch("w.json")
        self.assertEqual(run("export", src, "-o", out2, "-q", "--from", "1ms", "--to",
                             "2ms").rc, 0)
        win = [e for e in json_check.check_chrome(out2)["json"]["traceEvents"] if e["ph"] == "X"]
        self.assertTrue(win)
        first = json.loads(run("view", src, "--sort", "--limit", "1", "--format", "json").out)
        origin_us = first[0]["start_ns"] / 1000.0
        for e in win:  # every event overlaps [origin + 1 ms, origin + 2 ms]
            self.assertLessEqual(e["ts"], origin_us + 2000 + 0.001)
            self.assertGreaterEqual(e["ts"] + e["dur"], origin_us + 1000 - 0.001)
        self.assertTrue(full)

    def test_rank(self):
        # a Kineto file per rank, as torch.profiler writes them
        src = record("exp-multi.sbt", "--simulate=multigpu", events=20000)
        info = json.loads(run("info", src, "--format", "json").out)
        ranks = {p["pid"]: p["rank"] for p in info["processes"]}
        for rank in (0, 3):
            out = scratch("r%d.pt.trace.json" % rank)
            self.assertEqual(run("export", src, "-o", out, "-q", "--rank", str(rank)).rc, 0)
            d = json_check.check_kineto(out)["json"]
            self.assertEqual(d["distributedInfo"]["rank"], rank)
            host = {e["pid"] for e in d["traceEvents"]
                    if e.get("cat") in ("cuda_runtime", "cpu_op")}
            self.assertEqual({ranks[p] for p in host}, {rank})
        r = run("export", src, "-o", scratch("x.json"), "--rank", "-1")
        self.assertEqual(r.rc, 2, r)
        # all ranks in one Kineto file: said, not silent
        r = run("export", src, "-o", scratch("all.pt.trace.json"), "-q")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("8 ranks in one Kineto file", r.err)

    def test_escaping_of_every_name(self):
        # Names with quotes, backslashes, control characters, non-ASCII and invalid UTF-8
        # come in through the importer and must come out as valid JSON / protobuf.
        weird = ['quote " back \\ slash', "tab\tnl\ncr\r", "bell\x07 nul-ish \x01",
                 "unicode \u00e9\u4e2d\U0001F600", "lone surrogate \ud800 x"]
        evs = []
        for i, n in enumerate(weird):
            evs.append({"ph": "X", "cat": "cpu_op", "name": n, "pid": 1, "tid": 1,
                        "ts": 1000.0 + i, "dur": 0.5, "args": {"k\"ey": n}})
        src_json = scratch("weird.json")
        with open(src_json, "w", encoding="utf-8", errors="surrogatepass") as f:
            f.write(json.dumps({"traceEvents": evs}))
        sbt = scratch("weird.sbt")
        r = run("import", src_json, "-o", sbt, "-q")
        self.assertEqual(r.rc, 0, r)
        for out, check in (("weird-out.json", json_check.check_chrome),
                           ("weird-out.pt.trace.json", json_check.check_kineto)):
            self.assertEqual(run("export", sbt, "-o", scratch(out), "-q").rc, 0)
            got = {e["name"] for e in check(scratch(out))["json"]["traceEvents"]
                   if e.get("cat") == "cpu_op"}
            for n in weird[:4]:
                self.assertIn(n, got)
            self.assertIn("lone surrogate \ufffd x", got)
        if pftrace_check.available():
            self.assertEqual(run("export", sbt, "-o", scratch("weird.pftrace"), "-q").rc, 0)
            pftrace_check.check(scratch("weird.pftrace"))


class TestTornFile(CliTest):
    """A file whose writer died (no footer, torn last chunk): exported in time order."""

    def test_torn_file_in_time_order(self):
        # small blocks: some producer's block starts before the blocks written ahead of it,
        # which reading in file order got wrong
        src = record("exp-torn.sbt", "--block-events", "1024", events=40000)
        torn = scratch("torn.sbt")
        with open(src, "rb") as f:
            data = f.read()
        with open(torn, "wb") as f:
            f.write(data[: int(len(data) * 0.8)])
        outs = []
        for t in ("1", "2"):
            out = scratch("torn-%s.pftrace" % t)
            r = run("export", torn, "-o", out, env={"TSM_THREADS": t})
            self.assertEqual(r.rc, 0, r)
            self.assertIn("not closed cleanly", r.err)
            with open(out, "rb") as f:
                outs.append(f.read())
        self.assertEqual(outs[0], outs[1])
        if pftrace_check.available():
            pftrace_check.check(scratch("torn-1.pftrace"))  # timestamps in order per sequence
        js = scratch("torn.json")
        self.assertEqual(run("export", torn, "-o", js, "-q").rc, 0)
        evs = [e for e in json_check.check_chrome(js)["json"]["traceEvents"]
               if e.get("ph") in ("X", "i")]
        self.assertEqual([e["ts"] for e in evs], sorted(e["ts"] for e in evs))
        r = run("export", torn, "-o", scratch("strict.json"), "--strict")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(len(r.err.splitlines()), 1, r)
        self.assertIn("offset", r.err)


class TestErrors(CliTest):
    def test_unknown_extension(self):
        src = record("exp-tiny.sbt", "--simulate=tiny", events=5000)
        self.assertUsageError(run("export", src, "-o", scratch("x.txt")), "export")
        self.assertUsageError(run("export", src), "export")
        self.assertUsageError(run("export", src, "-o", scratch("a.json"), "--format", "xml"),
                              "export")
        self.assertUsageError(run("export", src, "-o", scratch("a.json"), "--kind", "bogus"),
                              "export")

    def test_bad_input(self):
        bad = scratch("notsbt.sbt")
        with open(bad, "wb") as f:
            f.write(b"this is not an SBT file at all, just text\n" * 4)
        r = run("export", bad, "-o", scratch("y.json"))
        self.assertEqual(r.rc, 1, r)
        self.assertTrue(r.err.startswith("tracesmith: %s: " % bad), r)
        self.assertEqual(len(r.err.splitlines()), 1, r)

    def test_unwritable_output(self):
        src = record("exp-tiny.sbt", "--simulate=tiny", events=5000)
        r = run("export", src, "-o", "/nonexistent-dir/x.json")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("/nonexistent-dir/x.json", r.err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
