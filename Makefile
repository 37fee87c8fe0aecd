# Thin wrapper: the build is CMake, the tests are ctest. `make demo` and `make test` are the
# README's quick start and install whatever Debian packages are missing first.
MAKEFLAGS  += --no-print-directory
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 600

.PHONY: all deps build build-asan test test-fast fuzz demo bench check-unit deb install clean

all: build

deps:
	@deploy/install-deps.sh all

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSPX_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# Every test: the optimised build, the same suite under ASan+UBSan, and the integration path
# under valgrind (see tests/run-all.sh).
test: build build-asan
	@tests/run-all.sh $(BUILD) $(ASAN_BUILD)

# The optimised build's suite only (quick local loop).
test-fast: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -LE fuzz

# The libFuzzer harnesses (tests/fuzz), FUZZ_SECONDS each (default 600; CI runs 60), in parallel.
fuzz: build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -L fuzz -V

demo: build
	@deploy/demo.sh $(BUILD)

# End-to-end throughput through a real daemon vs raw ZeroMQ, in one run (docs/benchmarks.md).
bench: build
	@tests/bench/run-bench.sh $(BUILD)

# systemd-analyze verify and security on deploy/spectrad.service (fails above exposure 2.0).
check-unit: build
	@deploy/check-unit.sh $(BUILD)

# The Debian package in $(BUILD)/package, built from this build tree and checked in a scratch root.
deb: build
	@deploy/check-package.sh $(BUILD) $(BUILD)/package

# Installs to PREFIX (default /usr/local; the config goes to /etc only when PREFIX is /usr).
PREFIX ?= /usr/local
install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
