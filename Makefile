# SPDX-License-Identifier: Apache-2.0
# Thin wrapper over CMake and ctest for the README's commands; the build itself is CMakeLists.txt.
#
#   make demo          Release build in build/, then record, info and view a simulated trace
#                      (the first 20 events, then the first kernels and copies)
#   make test          three suites, then one closing line "N passed, N failed, N skipped":
#                        build/       normal Release build, whole suite (-Werror when CI=true)
#                        build-asan/  ASan+UBSan (clang when present, so the fuzzers build too)
#                        build-tsan/  ThreadSanitizer, the tests labelled tsan
#   make test-normal | test-asan | test-tsan    one suite
#   make bench         Release build, run every bench program
#   make pgo           profile-guided Release build in build-pgo/ (GCC): build instrumented, run
#                      bench/pgo-train.sh, build again with the profile; make bench-pgo runs the
#                      bench programs of that build
#   make fuzz          run each libFuzzer target FUZZ_SECONDS (needs clang + libclang-rt-14-dev)
#   make format | format-check | clean
#
# BUILD=dir moves all three build directories (DIR, DIR-asan, DIR-tsan); JOBS=n sets parallelism.
# Sanitizer suites run with TSM_TEST_SCALE=small: long tests read it to shrink their workload.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := demo
MAKEFLAGS += --no-print-directory

JOBS ?= 2
CMAKE ?= cmake
CTEST ?= ctest
FUZZ_SECONDS ?= 60
WERROR ?= $(if $(filter true,$(CI)),ON,OFF)
SAN_CC ?= $(if $(shell command -v clang 2>/dev/null),clang,gcc)
CLANG_FORMAT ?= clang-format
BUILD ?= build
TSM := $(BUILD)/bin/tracesmith

SUITES := normal asan tsan
dir_normal := $(BUILD)
dir_asan := $(BUILD)-asan
dir_tsan := $(BUILD)-tsan
cc_normal := $(CC)
cc_asan := $(SAN_CC)
cc_tsan := $(SAN_CC)
# -Werror (WERROR=ON, the default when CI=true) applies to the normal build, the compiler users
# build with; the sanitizer builds show their (clang) warnings without failing on them.
cfg_normal := -DCMAKE_BUILD_TYPE=Release -DTSM_WERROR=$(WERROR)
cfg_asan := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTSM_SANITIZE=address,undefined -DTSM_BUILD_BENCH=OFF \
	-DTSM_WERROR=OFF
cfg_tsan := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTSM_SANITIZE=thread -DTSM_BUILD_BENCH=OFF -DTSM_WERROR=OFF
ctest_normal :=
ctest_asan :=
ctest_tsan := -L tsan
env_normal :=
env_asan := TSM_TEST_SCALE=small ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
env_tsan := TSM_TEST_SCALE=small TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || \
	find include src tools agent bench tests python -name '*.[ch]')

.PHONY: all demo test bench pgo bench-pgo fuzz format format-check clean \
	$(addprefix build-,$(SUITES)) $(addprefix test-,$(SUITES))

all: build-normal

# ---- builds ----------------------------------------------------------------
# Configuring again is cheap and picks up new options; CMake only rebuilds what changed.
$(addprefix build-,$(SUITES)): build-%:
	CC=$(cc_$*) $(CMAKE) -S . -B $(dir_$*) $(cfg_$*)
	$(CMAKE) --build $(dir_$*) -j$(JOBS)

# ---- the two README commands -----------------------------------------------
demo: build-normal
	$(TSM) record --simulate -o demo.sbt
	$(TSM) info demo.sbt
	$(TSM) view demo.sbt --limit 20
	$(TSM) view demo.sbt --kind kernel,memcpy --limit 10

# Each suite leaves its ctest output in DIR/ctest.log; a suite that did not build leaves none.
$(addprefix test-,$(SUITES)): test-%:
	@rm -f $(dir_$*)/ctest.log
	@$(MAKE) --no-print-directory build-$*
	@echo "== suite $*: ctest in $(dir_$*)"
	@cd $(dir_$*) && env $(env_$*) $(CTEST) --output-on-failure -j$(JOBS) $(ctest_$*) \
		2>&1 | tee ctest.log

# Runs every suite even when one fails, checks the formatting (counted as one test: the house style
# is enforced), then sums ctest's "N tests failed out of M" lines and its
# "***Skipped" lines (tests that exit 77: the GPU tests without a GPU, tests without chromium...).
test:
	@failed_suites=""; \
	for s in $(SUITES); do \
		$(MAKE) --no-print-directory test-$$s || failed_suites="$$failed_suites $$s"; \
	done; \
	pass=0; fail=0; skip=0; \
	if $(CLANG_FORMAT) --dry-run --Werror $(SOURCES) >/dev/null 2>&1; then \
		echo "format-check: clean"; pass=$$((pass + 1)); \
	else \
		echo "format-check: sources differ from .clang-format (run 'make format'): counted as 1 failed"; \
		fail=$$((fail + 1)); \
	fi; \
	for s in $(SUITES); do \
		case $$s in normal) d=$(dir_normal);; asan) d=$(dir_asan);; tsan) d=$(dir_tsan);; esac; \
		line=$$(grep -Eo '[0-9]+ tests failed out of [0-9]+' $$d/ctest.log 2>/dev/null | tail -n 1 || true); \
		if [ -z "$$line" ]; then \
			echo "suite $$s: no ctest summary (build failed or no tests): counted as 1 failed"; \
			fail=$$((fail + 1)); continue; \
		fi; \
		f=$${line%% *}; m=$${line##* }; \
		k=$$(grep -c '\*\*\*Skipped' $$d/ctest.log || true); \
		echo "suite $$s: $$((m - f - k)) passed, $$f failed, $$k skipped"; \
		pass=$$((pass + m - f - k)); fail=$$((fail + f)); skip=$$((skip + k)); \
		if [ "$$f" = 0 ] && [[ " $$failed_suites " == *" $$s "* ]]; then \
			echo "suite $$s: ctest exited non-zero: counted as 1 failed"; fail=$$((fail + 1)); \
		fi; \
	done; \
	echo "$$pass passed, $$fail failed, $$skip skipped"; \
	[ "$$fail" = 0 ]

# ---- benchmarks, fuzzing, formatting ---------------------------------------
bench: build-normal
	@set -- $(BUILD)/bin/bench-*; [ -x "$$1" ] || { echo "no bench programs in $(BUILD)/bin"; exit 1; }; \
	for b in "$$@"; do echo "== $$b"; "$$b"; done

# The training profiles (.gcda beside each object) are made afresh by every 'make pgo'.
PGO_DIR := $(BUILD)-pgo
pgo:
	$(CMAKE) -S . -B $(PGO_DIR) -DCMAKE_BUILD_TYPE=Release -DTSM_PGO=generate -DTSM_BUILD_TESTS=OFF \
		-DCMAKE_INTERPROCEDURAL_OPTIMIZATION=ON
	$(CMAKE) --build $(PGO_DIR) -j$(JOBS)
	find $(PGO_DIR) -name '*.gcda' -delete
	bench/pgo-train.sh $(PGO_DIR)/bin $(PGO_DIR)/pgo-work
	$(CMAKE) -S . -B $(PGO_DIR) -DTSM_PGO=use
	$(CMAKE) --build $(PGO_DIR) -j$(JOBS)

bench-pgo: pgo
	@for b in $(PGO_DIR)/bin/bench-*; do echo "== $$b"; "$$b"; done

# New inputs go to build-asan/fuzz-corpus/NAME (the committed seeds in tests/fuzz/corpus/NAME are
# only read); crashes to tests/fuzz/crashes/. Minimise new inputs into the seeds with
#   build-asan/fuzz/fuzz-NAME -merge=1 tests/fuzz/corpus/NAME build-asan/fuzz-corpus/NAME
fuzz:
	@command -v clang >/dev/null || { echo "make fuzz needs clang (apt-get install clang libclang-rt-14-dev)"; exit 1; }
	@$(MAKE) --no-print-directory build-asan SAN_CC=clang
	@mkdir -p tests/fuzz/crashes
	@for c in tests/fuzz/corpus/*/; do \
		n=$$(basename $$c); f=$(dir_asan)/fuzz/fuzz-$$n; \
		[ -x $$f ] || { echo "$$f was not built (is libFuzzer installed?)"; exit 1; }; \
		mkdir -p $(dir_asan)/fuzz-corpus/$$n; \
		echo "== fuzz-$$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=tests/fuzz/crashes/$$n- $(dir_asan)/fuzz-corpus/$$n $$c; \
	done

format:
	$(CLANG_FORMAT) -i $(SOURCES)

format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(SOURCES)

clean:
	rm -rf $(foreach s,$(SUITES),$(dir_$(s))) $(PGO_DIR) demo.sbt
