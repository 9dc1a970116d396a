# Thin wrapper over CMake. `make run` shows the engine at work; `make test`
# builds and runs every test, normally and under ASan+UBSan; `make install`
# / `make uninstall` / `make deb` install or package it (docs/install.md).
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
FUZZ_TIME  ?= 60
FUZZ       ?=
JOBS       ?= $(shell nproc)
SHELL      := /bin/bash
CMAKE_FLAGS ?= $(if $(CI),-DCXLFLASH_WERROR=ON,)
PREFIX     ?= /usr/local
DESTDIR    ?=
# scripts/install-deps.sh installs the build's packages for `make build`
# and also the tests' and packaging's for the targets that need them;
# SKIP_DEPS=1 skips it.
DEPS       := build
# CMake's makefiles run make recursively: no "Entering directory" pairs.
MAKEFLAGS  += --no-print-directory

.PHONY: all deps build build-asan build-tsan build-fuzz run test test-fast test-tsan soak bench \
	bench-smoke bench-kv bench-kv-quick fuzz fuzz-ci install uninstall deb test-deb clean

all: build

deps:
	@scripts/install-deps.sh $(DEPS)

# Everything but a plain build needs the tests' packages too.
run test test-fast test-tsan soak bench bench-smoke bench-kv bench-kv-quick build-fuzz: DEPS := all
deb test-deb: DEPS := package

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug \
		-DCXLFLASH_SANITIZE=address,undefined >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

build-tsan: deps
	@cmake -S . -B $(BUILD_TSAN) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug \
		-DCXLFLASH_SANITIZE=thread >/dev/null
	@cmake --build $(BUILD_TSAN) -j $(JOBS)

# The libFuzzer harnesses (docs/fuzz.md): clang, ASan+UBSan, only the
# libraries and tests/fuzz/fuzz_*.c. CMAKE_FLAGS is not passed: -Werror is
# for the GCC builds' warnings.
build-fuzz: deps
	@CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DCXLFLASH_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzzers

# Each harness in turn for FUZZ_TIME seconds (default 60) over its corpus;
# FUZZ="wire nbd" picks some. fuzz-ci is the short pass `make test` runs
# (about 30 s each; CXLFLASH_FUZZ_CI_TIME in CMake).
fuzz: build-fuzz
	@scripts/run-fuzz.sh --build $(BUILD_FUZZ) --time $(FUZZ_TIME) $(FUZZ)

fuzz-ci: build-fuzz
	@scripts/run-tests.sh "$(BUILD_FUZZ):-L fuzz"

# `make run` fits on a screen or two: the build's progress goes to a log
# (shown only if it fails), each part is headed, and the end says what to
# look at.
run: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@echo "== building (progress in $(BUILD)/build.log)"
	@cmake --build $(BUILD) -j $(JOBS) > $(BUILD)/build.log 2>&1 || \
		{ tail -40 $(BUILD)/build.log; echo "build failed: $(BUILD)/build.log"; exit 1; }
	@echo "== superpipe-demo: the master and the AFU, driven through the raw interface"
	@cd $(BUILD) && ./tools/superpipe-demo --lun "file:./cxlflash-demo.img?size=2G"
	@echo "== blockio (libcflsh_block, 70% reads, QD32, 2 s) on ram:2G and on the file LUN:"
	@cd $(BUILD) && ./tools/blockio -d ram:2G -r 70 -q 32 -s 2 -S 1
	@cd $(BUILD) && ./tools/blockio -d ./cxlflash-demo.img -r 70 -q 32 -s 2 -S 1
	@echo "== cxlflashd: one daemon, two client processes on two vLUNs, and its status:"
	@scripts/demo-daemon.sh $(BUILD)
	@scripts/demo-summary.sh

# Normal build, the ASan+UBSan build, under TSan the unit tests and the
# concurrent integration, block, daemon, NBD and key/value tests (label
# tsan, at CXLFLASH_TEST_SCALE=25: docs/testing.md), and each fuzz harness
# for about 30 s over its corpus (ctest -L fuzz in build-fuzz); the last
# line sums all runs.
test: build build-asan build-tsan build-fuzz
	@scripts/run-tests.sh $(BUILD) $(BUILD_ASAN) "$(BUILD_TSAN):-L unit|tsan" "$(BUILD_FUZZ):-L fuzz"

test-fast: build
	@scripts/run-tests.sh $(BUILD)

test-tsan: build-tsan
	@scripts/run-tests.sh "$(BUILD_TSAN):-L unit|tsan"

# The daemon's isolation and lifecycle tests at soak strength (not part of
# `make test`; tens of minutes): 1,000 kill -9 iterations, 10 M hostile
# commands, 120 s of control operations racing I/O. Counts can be set one
# by one: CXLFLASH_KILL_ITERS, CXLFLASH_HOSTILE_CMDS, CXLFLASH_RACE_SECS.
soak: build
	@cd $(BUILD) && for t in tests/daemon-*; do \
		echo "== $$t (soak)"; \
		CXLFLASH_SOAK=1 CXLFLASH_TEST_DIR=$$PWD/testdata $$t 2>&1 | \
			grep -E '^(-- |[0-9]+ iterations|hostile|victim|[0-9]+ s,)|failed|mismatch|SKIP'; \
		rc=$${PIPESTATUS[0]}; [ $$rc = 0 ] || [ $$rc = 77 ] || exit 1; \
	done
	@cd $(BUILD) && for t in tests/kv-crash tests/kv-crash_daemon; do \
		echo "== $$t (soak: 300 / 100 kill and power-cut rounds)"; \
		CXLFLASH_SOAK=1 CXLFLASH_TEST_DIR=$$PWD/testdata $$t 2>&1 | \
			grep -E 'rounds passed|round [0-9]+:|failed'; \
		[ $${PIPESTATUS[0]} = 0 ] || exit 1; \
	done

# Benchmarks (bench/run-bench.sh --help): the full run takes minutes and
# prints the tables; the smoke takes seconds and checks only that it ran.
bench: build
	@bench/run-bench.sh --build $(BUILD)

bench-smoke: build
	@bench/run-bench.sh --build $(BUILD) --smoke --out $(BUILD)/bench-smoke

# The key/value stores (bench/run-bench-kv.sh --help): libarkdb against
# RocksDB and LMDB; about 10 minutes, or under a minute with bench-kv-quick.
bench-kv: build
	@bench/run-bench-kv.sh --build $(BUILD)

bench-kv-quick: build
	@bench/run-bench-kv.sh --build $(BUILD) --quick --out $(BUILD)/bench-kv-quick

# Install under $(PREFIX) (default /usr/local), staged under $(DESTDIR) if
# set: libraries, headers, pkg-config files, tools, the systemd unit, the
# example configuration, docs and man pages. `make uninstall` removes what
# the last install put there (build/install_manifest.txt).
install: build
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

uninstall:
	@DESTDIR="$(DESTDIR)" cmake --build $(BUILD) --target uninstall

# Debian packages (debian/): built from a copy of the tree in
# $(BUILD)/deb, checked with lintian; the .debs end up in $(BUILD)/deb.
deb: deps
	@scripts/build-deb.sh --out $(BUILD)/deb --jobs $(JOBS)

# Installs the packages on this machine (root), starts cxlflashd from the
# unit's ExecStart line, runs blockio and cxlflash status against it, and
# purges the packages (tests/packaging/deb-roundtrip.sh; about a minute).
test-deb: deb
	@tests/packaging/deb-roundtrip.sh $(BUILD)/deb

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN) $(BUILD_FUZZ)
