#!/usr/bin/env bash
# Runs the Python client's tests (tests/python/test_*.py) with Debian's python3 against
# BUILD_DIR/bin/spectrad, prints unittest's report and a closing "python: N passed, N failed[, N
# skipped]" line, and exits non-zero when a test failed.
# Usage: tests/python/run.sh [BUILD_DIR]   (default: build; SPECTRAD_BIN overrides the binary)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
case "$build" in /*) ;; *) build=$PWD/$build ;; esac
export SPECTRAD_BIN=${SPECTRAD_BIN:-$build/bin/spectrad}
export PYTHONPATH=$root/clients/python${PYTHONPATH:+:$PYTHONPATH}
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 - "$here" <<'PY'
import sys, unittest
suite = unittest.defaultTestLoader.discover(sys.argv[1], pattern="test_*.py")
result = unittest.TextTestRunner(verbosity=2).run(suite)
bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - bad - skipped
line = f"python: {passed} passed, {bad} failed"
print(line + (f", {skipped} skipped" if skipped else ""))
sys.exit(0 if bad == 0 and result.testsRun > 0 else 1)
PY
