#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""GPU tests: trace the programs of tests/gpu with `tracesmith record` and check the traces.

usage: gpu_test.py NAME     (NAME: streams memcpy tiny graph nvtx signal-term signal-kill
                             torch stacks conflict)

Environment: TRACESMITH (the tracesmith binary, next to libtracesmith-agent.so), TSM_GPU_BIN
(the built CUDA programs), TSM_GPU_SCRATCH (a scratch directory), TSM_SOURCE_DIR.
Exit 0 pass, 1 fail, 77 skip (no GPU, or the CUDA programs were not built).
"""
import collections
import json
import os
import shutil
import subprocess
import sys

BIN = os.environ.get("TRACESMITH", "")
GPU_BIN = os.environ.get("TSM_GPU_BIN", "")
SCRATCH = os.environ.get("TSM_GPU_SCRATCH", "/tmp/tsm-gpu-tests")
SRC = os.environ.get("TSM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SKIP = 77


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def have_gpu():
    smi = shutil.which("nvidia-smi")
    if smi:
        r = subprocess.run([smi, "-L"], capture_output=True, text=True)
        return r.returncode == 0 and "GPU" in r.stdout
    return os.path.exists("/dev/nvidia0")


def record(name, cmd, *opts, expect_rc=0):
    out = os.path.join(SCRATCH, name + ".sbt")
    for f in os.listdir(SCRATCH):
        if f.startswith(name + "."):
            os.unlink(os.path.join(SCRATCH, f))
    r = subprocess.run([BIN, "record", "-o", out, *opts, "--", *cmd], capture_output=True,
                       text=True, timeout=300)
    sys.stderr.write(r.stderr)
    check(r.returncode == expect_rc, "%s: exit status %d, expected %d" % (name, r.returncode,
                                                                           expect_rc))
    check(os.path.exists(out), "%s: no trace file %s" % (name, out))
    return out, r


def events(path, *extra):
    r = subprocess.run([BIN, "view", path, "--format", "json", *extra], capture_output=True,
                       text=True)
    check(r.returncode == 0, "view %s: %s" % (path, r.stderr))
    return json.loads(r.stdout)


def info(path):
    r = subprocess.run([BIN, "info", path, "--format", "json"], capture_output=True, text=True)
    check(r.returncode == 0, "info %s: %s" % (path, r.stderr))
    return json.loads(r.stdout)


def by_kind(evs, kind):
    return [e for e in evs if e["kind"] == kind]


def common_checks(path, evs):
    """Durations positive, per-stream order, every kernel linked to its launch call,
    devices and process metadata present, nothing dropped."""
    inf = info(path)
    check(inf["clock"] == "cupti", "clock is %s" % inf["clock"])
    check(inf["realtime_offset_ns"] != 0, "no realtime offset")
    check(inf["devices"] and inf["devices"][0]["sm_count"] > 0, "no device properties")
    check(inf["processes"] and inf["processes"][0]["cmdline"], "no process info")
    meta = inf["metadata"]
    for k in ("cmdline", "host", "pid", "cuda.driver_version", "cupti.api_version"):
        check(k in meta, "metadata %s missing: %s" % (k, sorted(meta)))
    check(inf["dropped"]["total"] == 0, "dropped events: %s" % inf["dropped"])
    kernels = by_kind(evs, "kernel")
    launches = {e["correlation"] for e in evs if e["kind"] in ("runtime", "driver")}
    unlinked = [k for k in kernels if k["correlation"] not in launches]
    check(not unlinked, "%d of %d kernels have no launch API call (e.g. %s)" %
          (len(unlinked), len(kernels), unlinked[:1]))
    for k in kernels:
        check(k["end_ns"] > k["start_ns"], "kernel with duration <= 0: %s" % k)
    lanes = collections.defaultdict(list)
    for e in evs:
        if e["kind"] in ("kernel", "memcpy", "memset") and not (e["flags"] & 2):
            lanes[(e["device"], e["stream"])].append(e)
    for lane, es in lanes.items():
        es.sort(key=lambda e: e["start_ns"])
        for a, b in zip(es, es[1:]):
            check(b["start_ns"] >= a["end_ns"], "overlap on stream %s: %s / %s" % (lane, a, b))
    return inf


def names(evs, kind="kernel"):
    return collections.Counter(e["name"] for e in by_kind(evs, kind))


def t_streams():
    path, _ = record("streams", [os.path.join(GPU_BIN, "gpu-streams")])
    evs = events(path)
    common_checks(path, evs)
    n = names(evs)
    check(n == {"void step<1>(float*, int)": 8, "void step<2>(float*, int)": 6,
                "smem_kernel(float*, int)": 1}, "kernel names: %s" % n)
    k = by_kind(evs, "kernel")
    sa = {e["stream"] for e in k if e["name"].startswith("void step<1>")}
    sb = {e["stream"] for e in k if not e["name"].startswith("void step<1>")}
    check(len(sa) == 1 and len(sb) == 1 and sa != sb, "streams %s %s" % (sa, sb))
    sm = [e for e in k if e["name"].startswith("smem_kernel")][0]
    check(sm["args"]["static_smem_bytes"] == 1024 and sm["args"]["dynamic_smem_bytes"] == 1024,
          "shared memory %s" % sm["args"])
    check(sm["args"]["grid"] == [64, 1, 1] and sm["args"]["block"] == [256, 1, 1],
          "grid/block %s" % sm["args"])
    check(sm["args"]["regs_per_thread"] > 0, "registers %s" % sm["args"])
    check(len(by_kind(evs, "memset")) == 3, "memsets: %d" % len(by_kind(evs, "memset")))
    syncs = by_kind(evs, "sync")
    waits = [s for s in syncs if s["args"]["sync_type"] == "stream_wait_event"]
    recs = [s for s in syncs if s["args"]["sync_type"] == "event_record"]
    check(waits, "no stream_wait_event record (syncs: %s)" %
          collections.Counter(s["args"]["sync_type"] for s in syncs))
    w = waits[0]
    check(w["stream"] in sb and w["args"]["event_id"] != 0, "wait %s" % w)
    check(any(r["args"]["event_id"] == w["args"]["event_id"] and r["stream"] in sa
              for r in recs), "no event_record on stream %s for event %d (records %s)" %
          (sa, w["args"]["event_id"], recs))
    rt = names(evs, "runtime")
    check(rt["cudaStreamWaitEvent"] >= 1,
          "no cudaStreamWaitEvent call: %s" % sorted(rt))
    return "15 kernels on 2 streams, 3 memsets, wait on event %d" % w["args"]["event_id"]


def t_memcpy():
    path, r = record("memcpy", [os.path.join(GPU_BIN, "gpu-memcpy")])
    p2p = "p2p=1" in r.stdout
    evs = events(path)
    common_checks(path, evs)
    cp = by_kind(evs, "memcpy")
    got = collections.Counter((e["args"]["copy_kind"], e["args"]["src_kind"],
                               e["args"]["dst_kind"]) for e in cp)
    want = collections.Counter({("HtoD", "pageable", "device"): 1,
                                ("HtoD", "pinned", "device"): 1,
                                ("DtoH", "device", "pageable"): 1,
                                ("DtoH", "device", "pinned"): 1,
                                ("DtoD", "device", "device"): 1})
    if p2p:
        want[("PtoP", "device", "device")] = 1
    check(got == want, "copies %s, expected %s" % (dict(got), dict(want)))
    check(all(e["args"]["bytes"] == 1 << 20 for e in cp), "copy sizes")
    allocs = [e for e in by_kind(evs, "alloc") if e["args"]["bytes"] == 1 << 20]
    frees = [e for e in by_kind(evs, "free") if e["args"]["bytes"] == 1 << 20]
    check(len([a for a in allocs if a["args"]["mem_kind"] == "device"]) >= 2,
          "device allocations: %s" % allocs)
    check(len(frees) >= 2, "frees: %s" % frees)
    addrs = {a["args"]["address"] for a in allocs}
    check(all(f["args"]["address"] in addrs for f in frees), "free of unknown address")
    return "%d copies (%s), %d allocs, %d frees" % (len(cp), "with P2P" if p2p else "no P2P",
                                                   len(allocs), len(frees))


def t_tiny():
    n = 20000
    path, _ = record("tiny", [os.path.join(GPU_BIN, "gpu-tiny"), str(n)])
    evs = events(path)
    common_checks(path, evs)
    k = by_kind(evs, "kernel")
    check(len(k) == n, "kernels %d, expected %d" % (len(k), n))
    check(len({e["stream"] for e in k}) == 2, "streams")
    rt = names(evs, "runtime")
    launch = rt["cudaLaunchKernel"] + rt["__cudaLaunchKernel"]
    check(launch >= n, "launch calls %d (runtime names %s)" % (launch, rt.most_common(5)))
    return "%d kernels, %d launch calls" % (len(k), launch)


def t_graph():
    path, _ = record("graph", [os.path.join(GPU_BIN, "gpu-graph")])
    evs = events(path)
    common_checks(path, evs)
    k = by_kind(evs, "kernel")
    check(len(k) == 12, "kernels %d" % len(k))
    check(all(e["args"]["graph_id"] != 0 and e["flags"] & 2 for e in k), "graph ids %s" % k[:1])
    nodes = {e["args"]["graph_node_id"] for e in k}
    check(len(nodes) >= 3, "graph node ids %s" % nodes)
    ms = by_kind(evs, "memset")
    check(len(ms) == 4 and all(e["args"]["graph_id"] for e in ms), "graph memsets %s" % ms)
    check(names(evs, "runtime")["cudaGraphLaunch"] == 4, "cudaGraphLaunch calls")
    return "12 graph kernels (%d nodes), 4 graph memsets" % len(nodes)


def t_nvtx():
    path, _ = record("nvtx", [os.path.join(GPU_BIN, "gpu-nvtx")])
    evs = events(path)
    common_checks(path, evs)
    rg = {e["name"]: e for e in by_kind(evs, "range")}
    check(set(rg) >= {"outer", "inner", "startend", "domain-range"}, "ranges %s" % sorted(rg))
    o, i = rg["outer"], rg["inner"]
    check(o["start_ns"] <= i["start_ns"] and i["end_ns"] <= o["end_ns"], "nesting")
    check("my-domain" in json.dumps(rg["domain-range"]), "domain %s" % rg["domain-range"])
    check(names(evs, "marker")["mark-one"] == 1, "marker")
    k = by_kind(evs, "kernel")
    inner_k = [e for e in k if e["name"].startswith("in_inner")]
    check(len(inner_k) == 3, "inner kernels")
    linked = [e for e in inner_k if e["external"] == i["external"] and i["external"]]
    api_linked = [e for e in evs if e["kind"] == "runtime" and e["external"] == i["external"]]
    check(api_linked, "no API call linked to range 'inner' (external %d)" % i["external"])
    check(len(linked) == 3, "%d of 3 kernels linked to range 'inner'" % len(linked))
    return "4 ranges + marker; 3/3 kernels in 'inner' linked by external id %d" % i["external"]


def t_signal(how):
    rc = 143 if how == "term" else 137
    path, _ = record("signal-" + how, [os.path.join(GPU_BIN, "gpu-signal"), how],
                     "--flush-interval", "200ms", expect_rc=rc)
    evs = events(path)
    k = by_kind(evs, "kernel")
    check(len(k) == 200, "kernels %d, expected 200" % len(k))
    inf = info(path)
    if how == "term":
        check(inf["indexed"] and not inf["recovered"], "file not finalised: %s" % inf)
        return "SIGTERM: exit 143, finalised file with 200 kernels"
    check(not inf["indexed"], "a SIGKILLed file has an index?")
    return "SIGKILL: exit 137, file readable up to the last flush (200 kernels)"


def t_stacks():
    path, _ = record("stacks", [os.path.join(GPU_BIN, "gpu-streams")], "--stacks")
    evs = events(path)
    rt = by_kind(evs, "runtime")
    with_stack = [e for e in rt if e.get("stack")]
    check(len(with_stack) >= 0.9 * len(rt), "%d of %d API calls have a stack" %
          (len(with_stack), len(rt)))
    launch = [e for e in with_stack if "Launch" in e["name"]]
    check(launch and any("main" == f.get("function") or "gpu-streams" in f.get("module", "")
                         for f in launch[0]["stack"]), "launch stack %s" % launch[:1])
    return "%d/%d runtime calls with stacks" % (len(with_stack), len(rt))


def t_torch():
    py = shutil.which("python3")
    script = os.path.join(SRC, "tests", "gpu", "torch_small.py")
    r = subprocess.run([py, "-c", "import torch; print(torch.cuda.is_available())"],
                       capture_output=True, text=True)
    if r.returncode != 0 or "True" not in r.stdout:
        print("no PyTorch with CUDA: skipping", file=sys.stderr)
        return SKIP
    path, _ = record("torch", [py, script])
    evs = events(path)
    common_checks(path, evs)
    ours = names(evs)
    prof = os.path.join(SCRATCH, "torch-profiler.json")
    r = subprocess.run([py, script, "--profile", prof], capture_output=True, text=True)
    check(r.returncode == 0, "torch.profiler run failed: %s" % r.stderr[-2000:])
    theirs = collections.Counter(json.load(open(prof)))
    check(sum(ours.values()) > 0, "no kernels")
    # tracesmith view shows demangled names cut to 4095 bytes (its display buffer); a few
    # PyTorch template kernels demangle longer than that. Compare at that length.
    cut = lambda c: collections.Counter({k[:4095]: v for k, v in c.items()})  # noqa: E731
    ours, theirs = cut(ours), cut(theirs)
    if ours != theirs:
        diff = (ours - theirs) + (theirs - ours)
        raise Fail("kernel multisets differ (ours %d, torch.profiler %d): %s" %
                   (sum(ours.values()), sum(theirs.values()), dict(diff)))
    return "%d kernels (%d names) match torch.profiler" % (sum(ours.values()), len(ours))


def t_conflict():
    """Another CUPTI subscriber holds the process: the app runs, record says why, no file."""
    out = os.path.join(SCRATCH, "conflict.sbt")
    r = subprocess.run([BIN, "record", "-o", out, "--", os.path.join(GPU_BIN, "gpu-conflict")],
                       capture_output=True, text=True, timeout=300)
    sys.stderr.write(r.stderr)
    if r.returncode == SKIP:
        return SKIP
    check(r.returncode == 0 and "app ran" in r.stdout, "app did not run: rc %d %s" %
          (r.returncode, r.stdout))
    check("another profiler" in r.stderr, "record did not say why: %s" % r.stderr)
    check(not os.path.exists(out), "a trace file was left behind")
    return "app ran; record: CUPTI already in use, not traced"


TESTS = {
    "streams": t_streams, "memcpy": t_memcpy, "tiny": t_tiny, "graph": t_graph,
    "nvtx": t_nvtx, "signal-term": lambda: t_signal("term"),
    "signal-kill": lambda: t_signal("kill"), "stacks": t_stacks, "torch": t_torch,
    "conflict": t_conflict,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in TESTS:
        print(__doc__, file=sys.stderr)
        return 2
    name = sys.argv[1]
    if not have_gpu():
        print("gpu.%s: no NVIDIA GPU here: skipped" % name)
        return SKIP
    if not BIN or not os.path.exists(BIN) or not GPU_BIN or not os.path.isdir(GPU_BIN):
        print("gpu.%s: the CUDA test programs or tracesmith were not built: skipped" % name)
        return SKIP
    os.makedirs(SCRATCH, exist_ok=True)
    try:
        res = TESTS[name]()
    except (Fail, subprocess.TimeoutExpired, KeyError, IndexError) as e:
        print("gpu.%s: FAIL: %s: %s" % (name, type(e).__name__, e))
        return 1
    if res == SKIP:
        return SKIP
    print("gpu.%s: ok: %s" % (name, res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
