#!/usr/bin/env bash
# Checks deploy/spectrad.service with systemd-analyze and prints both reports:
#   verify   on a copy whose ExecStart points into a scratch install of BUILD_DIR (verify insists
#            that the binary exists; MANPATH lets it find the spectrad(8) the unit documents)
#   security --offline=yes, failing when the overall exposure is above MAX_EXPOSURE (2.0).
# Without systemd-analyze: fails under CI=true, else prints "skipped: systemd-analyze not installed".
# Usage: deploy/check-unit.sh [BUILD_DIR]   (make check-unit; ctest deploy.systemd_unit)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
max_exposure=${MAX_EXPOSURE:-2.0}
unit=$here/spectrad.service

if ! command -v systemd-analyze >/dev/null; then
  if [ "${CI:-}" = "true" ]; then
    echo "check-unit: systemd-analyze not installed (deploy/install-deps.sh test installs systemd)" >&2
    exit 1
  fi
  echo "skipped: systemd-analyze not installed"
  exit 0
fi

root=$(mktemp -d /tmp/spectrad-unit-XXXXXX)
trap 'rm -rf "$root"' EXIT
DESTDIR=$root cmake --install "$build" --prefix /usr >/dev/null
mkdir -p "$root/unit"
sed "s#^ExecStart=/usr/bin/spectrad#ExecStart=$root/usr/bin/spectrad#" "$unit" >"$root/unit/spectrad.service"
grep -q "^ExecStart=$root/usr/bin/spectrad " "$root/unit/spectrad.service" || {
  echo "check-unit: ExecStart=/usr/bin/spectrad not found in $unit" >&2; exit 1; }

echo "== systemd-analyze verify deploy/spectrad.service (ExecStart in a scratch install)"
if ! MANPATH=$root/usr/share/man systemd-analyze verify "$root/unit/spectrad.service" 2>&1 |
     tee "$root/verify.log"; then
  echo "check-unit: systemd-analyze verify failed" >&2; exit 1
fi
# verify exits 0 on some complaints (e.g. unknown keys): any output at all is a finding.
if [ -s "$root/verify.log" ]; then
  echo "check-unit: systemd-analyze verify reported problems" >&2; exit 1
fi
echo "verify: OK (no findings)"

echo "== systemd-analyze security --offline=yes deploy/spectrad.service"
systemd-analyze security --offline=yes --no-pager "$unit" 2>&1 | tee "$root/security.log" || true
score=$(sed -nE 's/.*Overall exposure level for [^:]*: ([0-9]+(\.[0-9]+)?).*/\1/p' "$root/security.log")
if [ -z "$score" ]; then
  echo "check-unit: no 'Overall exposure level' line in the security report" >&2; exit 1
fi
if awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s > m) }'; then
  echo "check-unit: exposure $score is above $max_exposure" >&2; exit 1
fi
echo "security: exposure $score (limit $max_exposure): OK"
