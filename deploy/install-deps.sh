#!/usr/bin/env bash
# Installs the Debian packages spectrad needs to build, test and run, and nothing else.
# Idempotent: packages already installed are left alone and apt is not touched at all
# when nothing is missing. Usage: deploy/install-deps.sh [build|test|all]
set -euo pipefail

profile=${1:-all}

build_pkgs=(build-essential cmake pkg-config
            libuv1-dev libzmq3-dev libopenblas-dev liblapacke-dev libmsgpack-dev
            libinih-dev libsystemd-dev libbiosig-dev libmicrohttpd-dev libnats-dev)
test_pkgs=(libcriterion-dev valgrind python3 python3-zmq python3-msgpack python3-numpy
           python3-matplotlib python3-biosig nats-server
           systemd dpkg-dev man-db groff-base   # systemd-analyze, dpkg-shlibdeps, man -l (deploy/)
           clang libclang-rt-dev)   # libFuzzer for tests/fuzz

case "$profile" in
  build) want=("${build_pkgs[@]}") ;;
  test|all) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
