#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The training run of a profile-guided build (make pgo): BIN is a build made with
# -DTSM_PGO=generate; each run below adds to the .gcda profiles beside its objects. It runs
# what users run most, on the simulated presets: record, every export format (one and two
# threads, plain and .gz), import, the reading commands. The profile steers code layout and
# branch order; what it does not run is optimised as usual (-fprofile-partial-training).
# Usage: bench/pgo-train.sh BIN_DIR [WORK_DIR]
set -eu -o pipefail
BIN=${1:?usage: pgo-train.sh BIN_DIR [WORK_DIR]}
WORK=${2:-$(mktemp -d)}
TSM=$BIN/tracesmith
mkdir -p "$WORK"
trap 'rm -f "$WORK"/pgo-*' EXIT

"$TSM" record --simulate=train -n 1M -o "$WORK/pgo-train.sbt" 2>/dev/null
"$TSM" record --simulate=train -n 200k --zstd -o "$WORK/pgo-z.sbt" 2>/dev/null
for p in infer multigpu tiny; do
	"$TSM" record --simulate=$p -n 100k -o "$WORK/pgo-$p.sbt" 2>/dev/null
done
for t in 1 2; do
	for f in perfetto chrome kineto; do
		TSM_THREADS=$t "$TSM" export "$WORK/pgo-train.sbt" --format $f -o /dev/null -q
		TSM_THREADS=$t "$TSM" export "$WORK/pgo-z.sbt" --format $f -o /dev/null -q
	done
done
for p in infer multigpu tiny; do
	for f in perfetto chrome kineto; do
		"$TSM" export "$WORK/pgo-$p.sbt" --format $f -o /dev/null -q
	done
done
"$TSM" export "$WORK/pgo-z.sbt" -o "$WORK/pgo-z.pftrace.gz" -q
"$TSM" export "$WORK/pgo-train.sbt" --format kineto -o "$WORK/pgo-k.json" -q
"$TSM" import "$WORK/pgo-k.json" -o "$WORK/pgo-imported.sbt" -q
for cmd in info stats; do
	"$TSM" $cmd "$WORK/pgo-train.sbt" >/dev/null
done
"$TSM" view "$WORK/pgo-z.sbt" >/dev/null
"$TSM" timeline "$WORK/pgo-z.sbt" >/dev/null
"$TSM" report "$WORK/pgo-z.sbt" -o "$WORK/pgo-report.html" >/dev/null
