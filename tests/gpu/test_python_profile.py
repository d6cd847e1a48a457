#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""GPU test of tracesmith.profile(): in-process CUPTI capture around a PyTorch workload,
compared with torch.profiler's own trace of the same workload (kernel name multiset).

    python3 tests/gpu/test_python_profile.py

Exits 77 (skip) without PyTorch, CUDA or a GPU. Installs ./python with pip into a
scratch directory ($TSM_GPU_SCRATCH or /tmp) and imports it from there. The agent is
$TRACESMITH_AGENT, else libtracesmith-agent.so next to $TRACESMITH (the tracesmith
binary of the GPU build, as tests/gpu/run.sh exports it).

The workload is tests/gpu/torch_small.py's work() (5 SGD steps of a small MLP). The
torch.profiler run happens in a child process (`torch_small.py --profile`): CUPTI
allows one subscriber per process, so the two captures must not share one. Both
processes initialise CUDA before capturing, so both see the same kernels.
"""
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "python"))
sys.path.insert(0, HERE)


def main():
    try:
        import torch
    except ImportError:
        print("test_python_profile: SKIP: PyTorch is not installed")
        return 77
    if not torch.cuda.is_available():
        print("test_python_profile: SKIP: no CUDA device")
        return 77
    scratch = os.environ.get("TSM_GPU_SCRATCH") or tempfile.mkdtemp(prefix="tsm-gpu-py-")
    scratch = os.path.join(scratch, "python-profile")
    os.makedirs(scratch, exist_ok=True)
    os.environ["TSM_PY_SCRATCH"] = scratch
    import pyenv_util
    target = os.path.join(scratch, "site")
    pyenv_util.pip_install(os.path.join(SRC, "python"), target)
    ts = pyenv_util.import_installed(target)

    agent = os.environ.get("TRACESMITH_AGENT")
    if not agent and os.environ.get("TRACESMITH"):
        agent = os.path.join(os.path.dirname(os.environ["TRACESMITH"]), "libtracesmith-agent.so")
    if not agent or not os.path.exists(agent):
        print("test_python_profile: FAIL: no agent (set TRACESMITH_AGENT or TRACESMITH); "
              "tried %r" % agent)
        return 1

    # torch.profiler's view of the workload, in its own process.
    ref = os.path.join(scratch, "torch-profiler-kernels.json")
    r = subprocess.run([sys.executable, os.path.join(HERE, "torch_small.py"), "--profile", ref],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        print("test_python_profile: FAIL: torch.profiler run: %s" % r.stdout[-2000:])
        return 1
    # torch.profiler shows demangled names; so does `tracesmith view`, cut to 4095 bytes (a few
    # PyTorch template kernels demangle longer). Compare both sides the same way.
    with open(ref) as f:
        theirs = Counter({k[:4095]: v for k, v in json.load(f).items()})

    import torch_small
    torch.cuda.init()
    torch.cuda.synchronize()
    out = os.path.join(scratch, "profile.sbt")
    try:
        with ts.profile(out, agent=agent):
            torch_small.work()
    except ts.Error as e:
        print("test_python_profile: FAIL: profile(): %s (status %s)" % (e, e.status))
        return 1
    with ts.open(out) as t:
        ours = Counter(ts.demangle(n)[:4095] for n in t.kernels().names)
        info = t.info
        # CUDA was up before profile(): the agent notes the active primary context's device at
        # start, so synchronisation records (they name a context only) have their device
        syncs = list(t.events(kind="sync"))
        no_dev = [e.name for e in syncs if e.device is None]
    if info["recovered"] or not info["has_index"]:
        print("test_python_profile: FAIL: the file was not finalised when the block ended: %r"
              % info)
        return 1
    if no_dev:
        print("test_python_profile: FAIL: %d of %d synchronisation events without a device: %r"
              % (len(no_dev), len(syncs), no_dev[:5]))
        return 1
    if ours != theirs:
        print("test_python_profile: FAIL: kernel multisets differ (ours %d, torch.profiler %d): "
              "only ours %r; only torch.profiler %r"
              % (sum(ours.values()), sum(theirs.values()), dict(ours - theirs),
                 dict(theirs - ours)))
        return 1
    # A second block in the same process: the agent restarts cleanly and sees the same work;
    # a profile() started inside it is refused with STATE and leaves the outer one running.
    out2 = os.path.join(scratch, "profile-2.sbt")
    try:
        with ts.profile(out2, agent=agent):
            try:
                with ts.profile(os.path.join(scratch, "nested.sbt"), agent=agent):
                    pass
                print("test_python_profile: FAIL: a nested profile() was not refused")
                return 1
            except ts.Error as e:
                if e.status != "STATE":
                    print("test_python_profile: FAIL: nested profile(): %s (status %s, want "
                          "STATE)" % (e, e.status))
                    return 1
            torch_small.work()
    except ts.Error as e:
        print("test_python_profile: FAIL: second profile(): %s (status %s)" % (e, e.status))
        return 1
    with ts.open(out2) as t:
        ours2 = Counter(ts.demangle(n)[:4095] for n in t.kernels().names)
        info2 = t.info
    if info2["recovered"] or not info2["has_index"] or ours2 != ours:
        print("test_python_profile: FAIL: second session: finalised %s, %d kernels (first "
              "session %d)" % (info2["has_index"] and not info2["recovered"],
                               sum(ours2.values()), sum(ours.values())))
        return 1
    print("test_python_profile: PASS: %d kernels (%d names) match torch.profiler; a second "
          "session matches; a nested start is refused (STATE)"
          % (sum(ours.values()), len(ours)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
