# SPDX-License-Identifier: Apache-2.0
"""Checkers for the JSON exports: parse with Python's json module, then check conventions.
check_chrome(path): metadata names every process/thread used, X events have dur >= 0, every "f"
has an earlier "s" with the same cat and id and carries "bp": "e", GPU rows are named by stream
and kind. check_kineto(path): torch.profiler's schema: top-level keys in Kineto's order, known
categories, Kineto's arg names, GPU events with pid = device and tid = stream, ts/dur written as
microseconds with exactly three decimals, "rank": N with a space, ac2g flows paired by id."""
import gzip
import json
import re

KINETO_KEYS = ["schemaVersion", "deviceProperties", "distributedInfo", "displayTimeUnit",
               "baseTimeNanoseconds", "traceEvents", "traceName"]
KINETO_CATS = {"kernel", "gpu_memcpy", "gpu_memset", "cuda_runtime", "cuda_driver", "ac2g",
               "user_annotation", "gpu_user_annotation", "cpu_op", "cuda_sync", "overhead",
               "cpu_instant_event", "dropped", "counter"}
GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset", "cuda_sync", "gpu_user_annotation"}
KERNEL_ARGS = ["External id", "device", "context", "stream", "correlation",
               "registers per thread", "shared memory", "grid", "block"]


class CheckError(Exception):
    pass


def load_text(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        return f.read().decode("utf-8")


def check_chrome(path):
    text = load_text(path)
    d = json.loads(text)
    evs = d["traceEvents"] if isinstance(d, dict) else d
    pnames, tnames = set(), set()
    starts = {}
    nflows = nsf = 0
    frames = d.get("stackFrames", {}) if isinstance(d, dict) else {}
    for fid, fr in frames.items():
        if "parent" in fr and fr["parent"] not in frames:
            raise CheckError("stack frame %s: parent %s missing" % (fid, fr["parent"]))
        if not isinstance(fr.get("name"), str):
            raise CheckError("stack frame %s without a name" % fid)
    for i, e in enumerate(evs):
        ph = e.get("ph")
        if "sf" in e:
            if str(e["sf"]) not in frames:
                raise CheckError("event %d: sf %r not in stackFrames" % (i, e["sf"]))
            nsf += 1
        if ph == "M":
            if e["name"] == "process_name":
                pnames.add(e["pid"])
            elif e["name"] == "thread_name":
                tnames.add((e["pid"], e["tid"]))
            continue
        if ph in ("X", "i", "C"):
            if e["pid"] not in pnames:
                raise CheckError("event %d: pid %r has no process_name" % (i, e["pid"]))
            if ph == "X" and e["dur"] < 0:
                raise CheckError("event %d: negative dur" % i)
            if ph == "X" and e.get("cat") in GPU_CATS and (e["pid"], e["tid"]) not in tnames:
                raise CheckError("event %d: GPU row %r has no thread_name" % (i, (e["pid"], e["tid"])))
        elif ph == "s":
            starts[(e["cat"], e["id"])] = e
        elif ph == "f":
            if e.get("bp") != "e":
                raise CheckError("event %d: flow end without bp e" % i)
            s = starts.pop((e["cat"], e["id"]), None)
            if s is None:
                raise CheckError("event %d: flow end %r without a start" % (i, e["id"]))
            if s["ts"] > e["ts"]:
                raise CheckError("event %d: flow goes back in time" % i)
            nflows += 1
    if starts:
        raise CheckError("%d flow starts without an end" % len(starts))
    return {"events": len(evs), "flows": nflows, "threads": len(tnames), "with_stack": nsf,
            "text": text, "json": d}


def check_kineto(path):
    text = load_text(path)
    d = json.loads(text)
    keys = [k for k in d.keys() if k in KINETO_KEYS]
    want = [k for k in KINETO_KEYS if k in d]
    if keys != want:
        raise CheckError("top-level keys out of Kineto's order: %s" % keys)
    for k in ("schemaVersion", "deviceProperties", "displayTimeUnit", "baseTimeNanoseconds",
              "traceEvents", "traceName"):
        if k not in d:
            raise CheckError("missing top-level key %s" % k)
    if list(d.keys())[-2:] != ["traceEvents", "traceName"]:
        raise CheckError("traceEvents, traceName must come last")
    if "distributedInfo" in d and not re.search(r'"rank": \d', text):
        raise CheckError('distributedInfo without "rank": N')
    # Every ts/dur is written as microseconds with exactly three decimals.
    for m in re.finditer(r'"(ts|dur)": ([-0-9.eE]+)', text):
        if not re.fullmatch(r"\d+\.\d{3}", m.group(2)):
            raise CheckError("%s %s is not microseconds with three decimals" % m.groups())
    starts, ends = {}, {}
    counts = {}
    for i, e in enumerate(d["traceEvents"]):
        ph, cat = e.get("ph"), e.get("cat")
        if ph == "M":
            continue
        if cat not in KINETO_CATS:
            raise CheckError("event %d: unknown category %r" % (i, cat))
        counts[cat] = counts.get(cat, 0) + 1
        args = e.get("args", {})
        if ph == "X" and cat in GPU_CATS:
            if e["pid"] != args.get("device") or e["tid"] != args.get("stream"):
                raise CheckError("event %d: GPU event pid/tid are not device/stream" % i)
        if ph == "X" and cat == "kernel":
            for a in KERNEL_ARGS:
                if a not in args:
                    raise CheckError("event %d: kernel without %r" % (i, a))
        if ph == "X" and cat in ("cuda_runtime", "cuda_driver"):
            if "cbid" not in args or "correlation" not in args:
                raise CheckError("event %d: API call without cbid/correlation" % i)
        if ph == "s":
            starts[e["id"]] = e
        if ph == "f":
            if e.get("bp") != "e":
                raise CheckError("event %d: ac2g end without bp e" % i)
            ends[e["id"]] = e
    # Kineto writes a GPU op's "f" before its API call's "s": pair by id, not by order.
    for fid, e in ends.items():
        s = starts.get(fid)
        if s is None:
            raise CheckError("ac2g end %r without a start" % fid)
        if s["ts"] > e["ts"]:
            raise CheckError("ac2g flow %r goes back in time" % fid)
    return {"counts": counts, "flows": len(ends), "json": d, "text": text}
