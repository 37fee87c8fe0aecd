#!/usr/bin/env bash
# Runs the whole suite: (1) every test on the optimised build, (2) every test again under
# AddressSanitizer + UndefinedBehaviorSanitizer, (3) the integration tests with the daemon under
# valgrind (leaks and invalid accesses make the daemon exit 99, which fails the test), (4) the
# libFuzzer harnesses for FUZZ_SECONDS (default 60) each on a copy of the committed corpus.
# Usage: tests/run-all.sh BUILD_DIR ASAN_BUILD_DIR
set -uo pipefail
build=${1:-build}
asan=${2:-build-asan}
jobs=$(nproc)
failed=0
passed=0
skipped=0
summary=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() {   # run NAME COMMAND...  (a ctest run; its pass/fail counts add up into the closing line)
  local name=$1; shift
  echo "==> $name"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line total bad
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -n "$line" ]; then
    bad=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  else
    bad=1; total=1   # ctest did not even get to run tests
  fi
  [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1 && total=$((total + 1))
  # ctest counts a skipped test (no ../shared/data outside CI) among the passed ones; we do not.
  local skip; skip=$(grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)' "$log" || true)
  passed=$((passed + total - bad - skip)); failed=$((failed + bad)); skipped=$((skipped + skip))
  if [ "$rc" -eq 0 ]; then summary+=("ok    $name ($total tests)")
  else summary+=("FAIL  $name ($bad of $total failed)"); fi
}

if [ "${CI:-}" = "true" ] && [ ! -d "$(dirname "$0")/../../shared/data" ]; then
  echo "CI=true but ../shared/data is missing: the data-driven tests will fail" >&2
fi

run "tests (optimised build)" ctest --test-dir "$build" --output-on-failure -j "$jobs" -LE fuzz
# Criterion reports a test whose forked worker leaked as passed, so the sanitizer run keeps every
# test's output (-V) and any sanitizer report in it fails the run.
asan_suite() {
  local out; out=$(mktemp)
  env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir "$asan" -V -j "$jobs" -LE fuzz >"$out" 2>&1
  local rc=$?
  grep -E 'tests passed, [0-9]+ tests? failed out of' "$out"
  # A failed assertion first: it is often why a sanitizer then reports leaks (the test's cleanup
  # never ran), and without it that report alone does not say what went wrong.
  if [ "$rc" -ne 0 ]; then
    grep -E -B12 -A4 '\*\*\*Failed|Failed  |\[FAIL\]' "$out" | head -300
  fi
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: (Address|UndefinedBehavior)Sanitizer|runtime error:' "$out"; then
    echo "sanitizer reports:"; grep -B2 -A30 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$out" | head -200
    rc=1
  fi
  rm -f "$out"
  return $rc
}
run "tests (ASan+UBSan build)" asan_suite
if command -v valgrind >/dev/null; then
  run "integration (daemon under valgrind)" env \
      SPX_DAEMON_WRAPPER="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
      SPX_VALGRIND=1 ctest --test-dir "$build" --output-on-failure -L integration -LE e2e
else
  failed=$((failed + 1)); summary+=("FAIL  valgrind is not installed (deploy/install-deps.sh installs it)")
fi
# The fuzzers carry their own ASan+UBSan; without clang's libFuzzer there are no fuzz tests and
# ctest finds none, which fails this step (deploy/install-deps.sh test installs clang).
run "fuzz (libFuzzer+ASan+UBSan, ${FUZZ_SECONDS:-60} s per harness)" \
    ctest --test-dir "$build" --output-on-failure -j "$jobs" -L fuzz --no-tests=error

echo
printf '%s\n' "${summary[@]}"
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
