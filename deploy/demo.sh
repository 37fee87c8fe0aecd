#!/usr/bin/env bash
# `make demo`: start spectrad on its built-in default configuration, stream a real data sample
# (UCI Spambase, 4,601 rows x 57 features) through it at 2,000 rows/s, and show the live top
# eigenvector estimates as they are published. Stops the daemon cleanly at the end.
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
bin="$build/bin"
data="$here/../../shared/data/matrices/spambase.data"
[ -f "$data" ] || data="$here/demo-data/spambase.data"
names="$here/../../shared/data/matrices/spambase.names"
py=/usr/bin/python3

if "$bin/spectra" ping >/dev/null 2>&1; then
  echo "demo: something already answers on the default control endpoint (tcp://127.0.0.1:5557);" \
       "stop it first." >&2
  exit 1
fi
log=$(mktemp /tmp/spectrad-demo-XXXXXX.log)
"$bin/spectrad" 2>"$log" &
daemon=$!
cleanup() { kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 50); do "$bin/spectra" ping >/dev/null 2>&1 && break; sleep 0.1; done

echo "== spectrad $("$bin/spectrad" --version | cut -d' ' -f2) started (pid $daemon, log $log)"
echo "== streaming $(basename "$data") (4,601 rows x 57 features) at 2,000 rows/s"
"$bin/spectra" create spambase --kind rows --dim 57
"$bin/spectra" attach spambase top topeig method=adaoja --every 460 --interval-ms 0
"$bin/spectra" sub spambase.top --count 10 --timeout 30 | "$py" "$here/demo_view.py" "$data" "$names" &
viewer=$!
sleep 0.3
"$bin/spectra" push spambase "$data" --columns 1-57 --batch 46 --rate 2000
wait "$viewer"
echo "== daemon counters"
"$bin/spectra" stats | "$py" -c 'import json,sys; s=json.load(sys.stdin); i=s["ingest"]; \
p=s["streams"]["spambase"]["pipelines"]["top"]; \
print(f"ingest: {i[\"messages\"]} messages, {i[\"rows\"]} rows, {i[\"rejected\"]} rejected; " \
      f"pipeline top: {p[\"updates\"]} updates, {p[\"published\"]} results published")'
cleanup
trap - EXIT
echo "== spectrad stopped cleanly; its log:"
cat "$log"
rm -f "$log"
