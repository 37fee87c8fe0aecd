#!/usr/bin/env bash
# Runs one libFuzzer harness for a bounded time on a copy of the committed seed corpus, so the tree
# is never written to. Fails on any crash, leak, sanitizer report, timeout or out-of-memory; the
# input that did it is kept under ARTIFACT_DIR and printed in hex, to be added to the corpus.
# Usage: run-fuzzer.sh FUZZER ARTIFACT_DIR SEED_DIR...   (FUZZ_SECONDS, default 60)
set -uo pipefail
fuzzer=$1 artifacts=$2
shift 2
seconds=${FUZZ_SECONDS:-60}
name=$(basename "$fuzzer")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
for dir in "$@"; do
  for f in "$dir"/*; do
    [ -f "$f" ] && cp "$f" "$work/corpus/$(basename "$dir")-$(basename "$f")"
  done
done
echo "$name: $(ls "$work/corpus" | wc -l) seeds, ${seconds} s"

# -max_len bounds what mutations grow to (a control request may be 1 MiB, but no parser branch
# needs more than a few KiB to reach); -timeout catches a hang (generous: a loaded CI machine
# stalls a process for seconds, which is not a finding); -rss_limit_mb an unbounded
# allocation. Leak detection is on by default with ASan.
"$fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=60 -rss_limit_mb=2048 \
          -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$work/corpus" \
          >"$work/log" 2>&1
rc=$?

grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$work/log"
grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -1
if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' "$work/log"; then
  echo "$name: FAILED (exit $rc)"
  grep -B2 -A40 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' "$work/log" | head -80
  for a in "$artifacts/$name"-*; do
    [ -f "$a" ] || continue
    echo "reproducer $a (add it to tests/fuzz/corpus after the fix):"
    od -An -tx1 -v "$a" | head -20
  done
  exit 1
fi
echo "$name: no crash, leak or sanitizer report in ${seconds} s"
