#!/usr/bin/env bash
# `make bench`: end-to-end throughput of a real spectrad against raw ZeroMQ for the same bytes,
# measured in one run (docs/benchmarks.md quotes its output). Starts its own daemon on free loopback
# ports and stops it at the end. Extra arguments go to `spectra bench` (e.g. --rows 1000000).
set -euo pipefail
build=${1:-build}
shift || true
bin="$build/bin"
ports=$(/usr/bin/python3 -c 'import socket
ss=[socket.socket() for _ in range(3)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))')
read -r pi pp pc <<<"$ports"
eps=(--ingest "tcp://127.0.0.1:$pi" --publish "tcp://127.0.0.1:$pp" --control "tcp://127.0.0.1:$pc")
log=$(mktemp /tmp/spectrad-bench-XXXXXX.log)
"$bin/spectrad" "${eps[@]}" --log-level warn 2>"$log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do "$bin/spectra" "${eps[@]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for dtype in f64 f32; do
  "$bin/spectra" "${eps[@]}" bench --dim 100,1000 --rows 200000 --batch 1024 --dtype "$dtype" "$@"
done
