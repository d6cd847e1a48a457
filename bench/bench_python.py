# SPDX-License-Identifier: Apache-2.0
"""bench_python: the Python binding's columnar path against the C reader, in one run.

    python3 bench/bench_python.py [--events N] [--dir DIR] [--zstd LEVEL]

Uses the installed ``tracesmith`` package (or, with PYTHONPATH, any build of it).
Simulates N events (default 10M, preset train) into an SBT file, then measures,
best of 3 each:

  c_reader     the plain C loop: tsm_reader_next over every event, summing kernel
               durations (tracesmith._tracesmith._c_scan, no Python per event) - the
               baseline;
  columns      Trace.columns(): every event decoded into all common columns
               (17 arrays), i.e. "iterating 10M events through the columnar view";
               reported as a ratio to c_reader (target: <= 2x);
  kernels_sum  open + kernels(fields=["dur_ns"]) + numpy sum (array.array + sum() when
               numpy is missing), in events of the file per second (target: >= 50M/s);
  py_iter      Python-level iteration over one column's memoryview (for scale only).

Prints a table and one JSON line.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import tracesmith as ts
from tracesmith import _tracesmith as _c

try:
    import numpy as np
except ImportError:
    np = None


def best(fn, rounds=3):
    t = None
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = fn()
        dt = time.perf_counter() - t0
        t = dt if t is None or dt < t else t
    return t, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10000000)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--zstd", type=int, default=0)
    a = ap.parse_args()

    path = os.path.join(a.dir, "bench-python-%d.sbt" % os.getpid())
    t0 = time.perf_counter()
    ts.simulate(path, preset="train", max_events=a.events, zstd_level=a.zstd)
    gen = time.perf_counter() - t0
    try:
        n = a.events
        t_c, (ne, nk, ksum) = best(lambda: _c._c_scan(path))
        assert ne == n, (ne, n)

        def columns():
            with ts.open(path) as t:
                return len(t.columns())

        t_cols, rows = best(columns)
        assert rows == n

        def kernels_sum():
            with ts.open(path) as t:
                d = t.kernels(fields=["dur_ns"]).dur_ns
                return int(np.asarray(d).sum()) if np is not None else sum(d)

        t_ks, s = best(kernels_sum)
        assert s == ksum, (s, ksum)

        def kernels_all_sum():
            with ts.open(path) as t:
                d = t.kernels().dur_ns
                return int(np.asarray(d).sum()) if np is not None else sum(d)

        t_ka, s2 = best(kernels_all_sum)
        assert s2 == ksum

        with ts.open(path) as t:
            col = t.kernels(fields=["dur_ns"]).dur_ns
        m = min(len(col), 2000000)
        t_py, _ = best(lambda: sum(1 for _ in col[:m]), rounds=1)

        print("bench_python: %d events (%d kernels), preset train, zstd %d, generated in %.1f s; "
              "numpy %s" % (n, nk, a.zstd, gen, np.__version__ if np is not None else "absent"))
        print("%-44s %12s %12s" % ("measure", "M events/s", "vs C reader"))
        print("%-44s %12.1f %12s" % ("c_reader: tsm_reader_next loop (baseline)", n / t_c / 1e6,
                                    "1.00x"))
        print("%-44s %12.1f %11.2fx" % ("columns(): all events, 17 columns", n / t_cols / 1e6,
                                        t_cols / t_c))
        print("%-44s %12.1f %11.2fx" % ("open + kernels(dur_ns) + %s sum" %
                                        ("numpy" if np is not None else "python"), n / t_ks / 1e6,
                                        t_ks / t_c))
        print("%-44s %12.1f %11.2fx" % ("open + kernels() all fields + sum", n / t_ka / 1e6,
                                        t_ka / t_c))
        print("%-44s %12.1f %12s" % ("python loop over a dur_ns memoryview", m / t_py / 1e6, ""))
        print(json.dumps({"bench": "python", "events": n, "kernels": nk, "zstd": a.zstd,
                          "numpy": np is not None, "c_reader_meps": n / t_c / 1e6,
                          "columns_meps": n / t_cols / 1e6, "columns_ratio": t_cols / t_c,
                          "kernels_sum_meps": n / t_ks / 1e6, "kernels_sum_ratio": t_ks / t_c,
                          "kernels_all_sum_meps": n / t_ka / 1e6,
                          "py_iter_meps": m / t_py / 1e6}))
    finally:
        os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
