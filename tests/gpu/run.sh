#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run on a machine with an NVIDIA GPU: build everything (with the CUDA test programs) in
# build-gpu, run every GPU test, the Python profile() test and the launch-overhead benchmark, and
# print a short table last.
# Logs and results go to $OUT when set (the device tool), else build-gpu/gpu-results.
#   tests/gpu/run.sh [SOURCE_DIR]      (default: this checkout)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${1:-$(cd "$here/../.." && pwd)}
build=${TSM_GPU_BUILD:-$root/build-gpu}
out=${OUT:-$build/gpu-results}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true; } \
	| tee "$out/device.txt"
echo "python3: $(command -v python3); cmake: $(cmake --version | head -n1); nvcc: $(nvcc --version | tail -n1)"

t0=$(date +%s)
if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTSM_BUILD_GPU_TESTS=ON \
	-DTSM_BUILD_FUZZ=OFF >"$out/cmake.log" 2>&1; then
	tail -n 40 "$out/cmake.log"; exit 1
fi
if ! cmake --build "$build" -j"$(nproc)" >"$out/build.log" 2>&1; then
	grep -E "error|Error" "$out/build.log" | head -n 40; exit 1
fi
echo "built in $(( $(date +%s) - t0 )) s"

export TRACESMITH=$build/bin/tracesmith TSM_GPU_BIN=$build/tests/gpu/bin
export TSM_GPU_SCRATCH=$build/gpu-scratch TSM_SOURCE_DIR=$root
tests=(streams memcpy tiny graph nvtx signal-term signal-kill stacks conflict torch)
: >"$out/results.txt"
: >"$out/tests.log"
for t in "${tests[@]}"; do
	s=$(date +%s.%N)
	line=$(python3 "$here/gpu_test.py" "$t" 2>"$build/test-$t.log")
	rc=$?
	echo "$line" >>"$build/test-$t.log"
	{ echo "=== $t"; cat "$build/test-$t.log"; } >>"$out/tests.log"
	case $rc in 0) r=PASS ;; 77) r=SKIP ;; *) r=FAIL ;; esac
	printf '%-12s %-4s %5.1fs  %.300s\n' "$t" "$r" "$(awk "BEGIN{print $(date +%s.%N) - $s}")" \
		"${line#*: }" >>"$out/results.txt"
	echo "--- $t: $r"; tail -n 12 "$build/test-$t.log" | cut -c1-400
done

# tracesmith.profile(): in-process capture (tsm_agent_start/stop) around a PyTorch workload,
# against torch.profiler's kernel multiset (installs ./python into the scratch directory).
s=$(date +%s.%N)
python3 "$here/test_python_profile.py" >"$out/python-profile.txt" 2>&1
rc=$?
echo "python-profile exit $rc"
case $rc in 0) r=PASS ;; 77) r=SKIP ;; *) r=FAIL ;; esac
line=$(grep -E '^test_python_profile: ' "$out/python-profile.txt" | tail -n1)
printf '%-12s %-4s %5.1fs  %.300s\n' python-prof "$r" "$(awk "BEGIN{print $(date +%s.%N) - $s}")" \
	"${line#*: }" >>"$out/results.txt"
{ echo "=== python-profile"; cat "$out/python-profile.txt"; } >>"$out/tests.log"
echo "--- python-profile: $r"; tail -n 12 "$out/python-profile.txt" | cut -c1-400

# Real traces through the exports: every trace the tests left, to Perfetto (checked by the
# protobuf checker when protoc and the schema are there) and to Chrome JSON (checked by the CLI
# tests' checker: flows, names, stack frames). The outputs are also packed into
# $out/exports.tar.gz, so that a machine with protoc and ../shared can check them
# (tests/cli/pftrace_check.py FILE...) when this one cannot.
s=$(date +%s.%N)
n=0
bad=0
rm -rf "$build/exports"
mkdir -p "$build/exports"
for f in "$TSM_GPU_SCRATCH"/*.sbt; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	x=$build/exports/$(basename "$f" .sbt)
	if ! "$TRACESMITH" export "$f" -o "$x.pftrace" -q 2>>"$out/export.log" ||
		! "$TRACESMITH" export "$f" -o "$x.json" -q 2>>"$out/export.log" ||
		! python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import json_check
json_check.check_chrome(sys.argv[2])' "$root/tests/cli" "$x.json" 2>>"$out/export.log"; then
		bad=$((bad + 1))
		echo "export failed: $f" >>"$out/export.log"
		continue
	fi
	python3 "$root/tests/cli/pftrace_check.py" "$x.pftrace" >>"$out/export.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		bad=$((bad + 1))
		echo "check failed: $f" >>"$out/export.log"
	fi
done
tar czf "$out/exports.tar.gz" -C "$build" exports 2>>"$out/export.log" || true
if [ $n -eq 0 ]; then r=SKIP; elif [ $bad -eq 0 ]; then r=PASS; else r=FAIL; fi
printf '%-12s %-4s %5.1fs  %s\n' exports "$r" "$(awk "BEGIN{print $(date +%s.%N) - $s}")" \
	"$n traces to .pftrace and .json, $bad failed" >>"$out/results.txt"
echo "--- exports: $r"; tail -n 5 "$out/export.log" | cut -c1-300

python3 "$root/bench/launch/run-launch-bench.py" "$build/bin/tracesmith" \
	"$build/bin/bench-launch" "$build/bin/libtsm-launch-floor.so" --rounds 9 \
	--json "$out/bench.json" >"$out/bench.txt" 2>&1
echo "bench exit $?"

# A sample trace for the lead to look at on this machine.
cp "$TSM_GPU_SCRATCH/streams.sbt" "$out/sample-streams.sbt" 2>/dev/null || true

echo
echo "==== GPU: $(head -n1 "$out/device.txt")"
cat "$out/results.txt"
echo "==== launch overhead"
head -n 8 "$out/bench.txt"
