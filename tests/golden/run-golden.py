#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Golden test of the SBT format:
1. gen-golden writes all-kinds.sbt again; it must equal the committed file byte for byte
   (pins the encoder);
2. `tracesmith dump --events --columns all-kinds.sbt` must equal all-kinds.dump (pins the
   decoder and the dump listing that mirrors docs/format/sbt.md);
3. the zstd version of the same trace must hold the same events (check-sbt --same).
Usage: run-golden.py GEN_GOLDEN TRACESMITH CHECK_SBT SCRATCH_DIR [--update]"""
import difflib
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    gen, cli, check, scratch = sys.argv[1:5]
    update = "--update" in sys.argv
    os.makedirs(scratch, exist_ok=True)
    fresh = os.path.join(scratch, "all-kinds.sbt")
    subprocess.run([gen, fresh], check=True)
    committed = os.path.join(HERE, "all-kinds.sbt")
    if update:
        with open(fresh, "rb") as a, open(committed, "wb") as b:
            b.write(a.read())
    if open(fresh, "rb").read() != open(committed, "rb").read():
        print("FAIL: the encoder's output changed: gen-golden no longer reproduces all-kinds.sbt")
        return 1
    dump = subprocess.run([cli, "dump", "--events", "--columns", "all-kinds.sbt"], cwd=HERE,
                          capture_output=True, text=True)
    if dump.returncode != 0:
        print("FAIL: dump exited", dump.returncode, dump.stderr)
        return 1
    expected_path = os.path.join(HERE, "all-kinds.dump")
    if update:
        open(expected_path, "w").write(dump.stdout)
    expected = open(expected_path).read()
    if dump.stdout != expected:
        sys.stdout.writelines(difflib.unified_diff(expected.splitlines(True),
                                                   dump.stdout.splitlines(True),
                                                   "all-kinds.dump", "dump output"))
        print("FAIL: dump output differs from all-kinds.dump")
        return 1
    zst = os.path.join(scratch, "all-kinds.zst.sbt")
    if subprocess.run([gen, zst, "--zstd"]).returncode == 0:
        subprocess.run([check, "--same", committed, zst], check=True)
    print("golden: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
